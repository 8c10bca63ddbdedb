//! RFC 8705 certificate-bound access tokens: a token with `cnf["x5t#S256"]` is accepted only
//! from a client that presented the certificate with that SHA-256 thumbprint.
//!
//! The certificate comes from the TLS acceptor, as a [`ClientCertificate`] request extension,
//! or, when configured explicitly, from a header set by a TLS-terminating proxy you trust
//! (the proxy must overwrite any copy the client sent).

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Extensions, HeaderMap, HeaderName};
use sha2::{Digest, Sha256};

use crate::error::{AuthError, InvalidToken};

/// The client's TLS certificate (DER), put in the request extensions by the TLS acceptor.
///
/// ```
/// use bearer_guard::ClientCertificate;
///
/// // In a rustls accept loop: `conn.peer_certificates()` gives the chain; the first is the client's.
/// let der: Vec<u8> = vec![0x30, 0x03, 0x02, 0x01, 0x01];
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(ClientCertificate::from_der(der));
/// assert_eq!(request.extensions().get::<ClientCertificate>().unwrap().thumbprint().len(), 43);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate(Arc<[u8]>);

impl ClientCertificate {
    /// Wraps a DER-encoded X.509 certificate.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Self {
        Self(Arc::from(der.into()))
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.0
    }

    /// base64url(SHA-256(DER)), as in `cnf["x5t#S256"]`.
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.0))
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientCertificate").field(&self.thumbprint()).finish()
    }
}

/// How a trusted proxy encodes the client certificate in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateHeaderEncoding {
    /// URL-encoded PEM (nginx `$ssl_client_escaped_cert`, AWS ALB `X-Amzn-Mtls-Clientcert`).
    UrlEncodedPem,
    /// Standard base64 of the DER bytes, optionally with PEM markers stripped.
    Base64Der,
}

/// Where the guard finds the client certificate.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum ClientCertificateSource {
    /// A [`ClientCertificate`] request extension from the TLS acceptor (the default).
    #[default]
    Extension,
    /// A header set by a TLS-terminating proxy you trust. Only safe when the proxy overwrites
    /// this header on every request: otherwise clients choose their own "certificate".
    TrustedProxyHeader {
        /// The header's name.
        name: HeaderName,
        /// How the proxy encodes the certificate.
        encoding: CertificateHeaderEncoding,
    },
}

impl ClientCertificateSource {
    fn find(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<ClientCertificate> {
        match self {
            Self::Extension => extensions.get::<ClientCertificate>().cloned(),
            Self::TrustedProxyHeader { name, encoding } => {
                let mut values = headers.get_all(name).iter();
                let value = values.next()?;
                if values.next().is_some() {
                    return None;
                }
                decode_header(value.as_bytes(), *encoding).map(ClientCertificate::from_der)
            }
        }
    }

    /// Checks the request's certificate against the token's `cnf["x5t#S256"]`.
    pub(crate) fn check(&self, expected: &str, headers: &HeaderMap, extensions: &Extensions) -> Result<(), AuthError> {
        let certificate =
            self.find(headers, extensions).ok_or(AuthError::InvalidToken(InvalidToken::CertificateRequired))?;
        if certificate.thumbprint() == expected {
            Ok(())
        } else {
            Err(AuthError::InvalidToken(InvalidToken::CertificateMismatch))
        }
    }
}

fn decode_header(value: &[u8], encoding: CertificateHeaderEncoding) -> Option<Vec<u8>> {
    let text = match encoding {
        CertificateHeaderEncoding::UrlEncodedPem => percent_decode(value)?,
        CertificateHeaderEncoding::Base64Der => String::from_utf8(value.to_vec()).ok()?,
    };
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(body).ok().filter(|der| !der.is_empty())
}

fn percent_decode(value: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(value.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DER: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x01];

    fn pem() -> String {
        format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", STANDARD.encode(DER))
    }

    #[test]
    fn extension_source_matches_and_mismatches() {
        let cert = ClientCertificate::from_der(DER);
        let mut ext = Extensions::new();
        let src = ClientCertificateSource::Extension;
        let h = HeaderMap::new();
        assert_eq!(
            src.check(&cert.thumbprint(), &h, &ext),
            Err(AuthError::InvalidToken(InvalidToken::CertificateRequired))
        );
        ext.insert(cert.clone());
        assert_eq!(src.check(&cert.thumbprint(), &h, &ext), Ok(()));
        assert_eq!(src.check("other", &h, &ext), Err(AuthError::InvalidToken(InvalidToken::CertificateMismatch)));
    }

    #[test]
    fn proxy_header_is_read_only_when_named() {
        let cert = ClientCertificate::from_der(DER);
        let escaped: String = pem().replace('\n', "%0A").replace('+', "%2B").replace('=', "%3D").replace(' ', "%20");
        let mut h = HeaderMap::new();
        h.insert("x-client-cert", escaped.parse().unwrap());
        let ext = Extensions::new();
        // Not configured: the header is ignored.
        assert!(ClientCertificateSource::Extension.check(&cert.thumbprint(), &h, &ext).is_err());
        let src = ClientCertificateSource::TrustedProxyHeader {
            name: HeaderName::from_static("x-client-cert"),
            encoding: CertificateHeaderEncoding::UrlEncodedPem,
        };
        assert_eq!(src.check(&cert.thumbprint(), &h, &ext), Ok(()));
        let b64 = ClientCertificateSource::TrustedProxyHeader {
            name: HeaderName::from_static("x-client-der"),
            encoding: CertificateHeaderEncoding::Base64Der,
        };
        h.insert("x-client-der", STANDARD.encode(DER).parse().unwrap());
        assert_eq!(b64.check(&cert.thumbprint(), &h, &ext), Ok(()));
        h.append("x-client-der", STANDARD.encode(DER).parse().unwrap());
        assert!(b64.check(&cert.thumbprint(), &h, &ext).is_err(), "two headers are refused");
    }
}
