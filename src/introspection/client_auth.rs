//! How this API authenticates to the introspection endpoint (RFC 7662 §2.1): a client secret
//! in HTTP Basic (RFC 6749 §2.3.1) or in the form, or a signed client assertion (RFC 7523).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::error::ConfigError;
use crate::keys::AlgSet;

/// Client authentication at the introspection endpoint. `Debug` never prints the secret or key.
///
/// ```
/// use bearer_guard::{Algorithm, AssertionAudience, ClientAuth};
///
/// let basic = ClientAuth::client_secret_basic("s3cret"); // the default of most servers
/// let post = ClientAuth::client_secret_post("s3cret");
/// # let pem = include_bytes!("../../benches/load/fixtures/bench-rs256.key.pem");
/// let jwt = ClientAuth::private_key_jwt(Algorithm::RS256, pem)?
///     .key_id("client-key-1")
///     .assertion_audience(AssertionAudience::Issuer);
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ClientAuth(pub(crate) Method);

#[derive(Clone)]
pub(crate) enum Method {
    Basic(String),
    Post(String),
    PrivateKeyJwt { key: EncodingKey, alg: Algorithm, kid: Option<String>, audience: AssertionAudience },
}

/// The `aud` of a `private_key_jwt` client assertion: what the authorization server asks for
/// (RFC 7523 §3 allows either).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAudience {
    /// The introspection endpoint's URL (the default; Okta and Auth0 want it).
    #[default]
    Endpoint,
    /// The issuer identifier (Keycloak and oidc-provider accept it too).
    Issuer,
}

impl ClientAuth {
    /// `client_secret_basic`: the client id and secret, form-encoded, in `Authorization: Basic`.
    pub fn client_secret_basic(secret: impl Into<String>) -> Self {
        Self(Method::Basic(secret.into()))
    }

    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    pub fn client_secret_post(secret: impl Into<String>) -> Self {
        Self(Method::Post(secret.into()))
    }

    /// `private_key_jwt` (RFC 7523): a client assertion signed with this PEM private key
    /// (PKCS#8 or PKCS#1 RSA for RS*/PS*, PKCS#8 EC for ES256/ES384, PKCS#8 Ed25519 for
    /// EdDSA), with a fresh `jti` and a lifetime of 60 s.
    pub fn private_key_jwt(alg: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        let key = match alg {
            _ if AlgSet::RSA.contains(alg) => EncodingKey::from_rsa_pem(pem),
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
            _ => {
                return Err(ConfigError::InvalidSetting {
                    name: "ClientAuth::private_key_jwt",
                    reason: "an asymmetric algorithm is required",
                });
            }
        }
        .map_err(|e| ConfigError::InvalidKey(format!("client assertion key: {e}")))?;
        Ok(Self(Method::PrivateKeyJwt { key, alg, kid: None, audience: AssertionAudience::default() }))
    }

    /// The `kid` header of `private_key_jwt` assertions (ignored by the secret methods).
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        if let Method::PrivateKeyJwt { kid: k, .. } = &mut self.0 {
            *k = Some(kid.into());
        }
        self
    }

    /// The `aud` of `private_key_jwt` assertions (default [`AssertionAudience::Endpoint`]).
    pub fn assertion_audience(mut self, audience: AssertionAudience) -> Self {
        if let Method::PrivateKeyJwt { audience: a, .. } = &mut self.0 {
            *a = audience;
        }
        self
    }

    /// The RFC 8414 name of the method.
    pub fn method_name(&self) -> &'static str {
        match self.0 {
            Method::Basic(_) => "client_secret_basic",
            Method::Post(_) => "client_secret_post",
            Method::PrivateKeyJwt { .. } => "private_key_jwt",
        }
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientAuth").field(&self.method_name()).finish()
    }
}

/// What a request carries to authenticate the client.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    /// An `Authorization` header value.
    pub(crate) authorization: Option<String>,
    /// Form parameters to add.
    pub(crate) form: Vec<(&'static str, String)>,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: u64,
    exp: u64,
}

/// Lifetime of a client assertion (STANDARDS.md: at most 60 s).
pub(crate) const ASSERTION_LIFETIME_SECS: u64 = 60;

impl ClientAuth {
    /// The credentials for one call to `endpoint` of `issuer`.
    pub(crate) fn credentials(&self, client_id: &str, endpoint: &str, issuer: &str) -> Result<Credentials, String> {
        match &self.0 {
            Method::Basic(secret) => {
                // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
                let pair = format!("{}:{}", form_encode(client_id), form_encode(secret));
                Ok(Credentials { authorization: Some(format!("Basic {}", STANDARD.encode(pair))), form: Vec::new() })
            }
            Method::Post(secret) => Ok(Credentials {
                authorization: None,
                form: vec![("client_id", client_id.to_owned()), ("client_secret", secret.clone())],
            }),
            Method::PrivateKeyJwt { key, alg, kid, audience } => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let aud = match audience {
                    AssertionAudience::Endpoint => endpoint,
                    AssertionAudience::Issuer => issuer,
                };
                let claims = Assertion {
                    iss: client_id,
                    sub: client_id,
                    aud,
                    jti: random_id()?,
                    iat: now,
                    exp: now + ASSERTION_LIFETIME_SECS,
                };
                let mut header = Header::new(*alg);
                header.kid.clone_from(kid);
                let assertion = jsonwebtoken::encode(&header, &claims, key)
                    .map_err(|e| format!("client assertion could not be signed: {e}"))?;
                Ok(Credentials {
                    authorization: None,
                    form: vec![
                        ("client_id", client_id.to_owned()),
                        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
                        ("client_assertion", assertion),
                    ],
                })
            }
        }
    }
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// 128 random bits, base64url.
pub(crate) fn random_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_form_encodes_both_parts() {
        let c =
            ClientAuth::client_secret_basic("p@ss:w rd").credentials("my client", "https://e", "https://i").unwrap();
        let value = c.authorization.unwrap();
        let decoded = String::from_utf8(STANDARD.decode(value.strip_prefix("Basic ").unwrap()).unwrap()).unwrap();
        assert_eq!(decoded, "my+client:p%40ss%3Aw+rd");
        assert!(c.form.is_empty());
    }

    #[test]
    fn post_puts_the_secret_in_the_form() {
        let c = ClientAuth::client_secret_post("s").credentials("id", "https://e", "https://i").unwrap();
        assert!(c.authorization.is_none());
        assert_eq!(c.form, vec![("client_id", "id".to_owned()), ("client_secret", "s".to_owned())]);
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let d = format!("{:?}", ClientAuth::client_secret_basic("hunter2-secret"));
        assert!(!d.contains("hunter2"), "{d}");
    }

    #[test]
    fn private_key_jwt_signs_a_short_lived_assertion_with_a_fresh_jti() {
        let pem = include_bytes!("../../benches/load/fixtures/bench-rs256.key.pem");
        let auth = ClientAuth::private_key_jwt(Algorithm::RS256, pem).unwrap().key_id("k1");
        let claims_of = |c: &Credentials| {
            let assertion = &c.form.iter().find(|(k, _)| *k == "client_assertion").unwrap().1;
            let header: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(assertion.split('.').next().unwrap()).unwrap()).unwrap();
            assert_eq!(header["kid"], "k1");
            assert_eq!(header["alg"], "RS256");
            let claims: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(assertion.split('.').nth(1).unwrap()).unwrap()).unwrap();
            claims
        };
        let a = auth.credentials("rs", "https://as/introspect", "https://as").unwrap();
        let b = auth.credentials("rs", "https://as/introspect", "https://as").unwrap();
        let (ca, cb) = (claims_of(&a), claims_of(&b));
        assert_eq!(ca["iss"], "rs");
        assert_eq!(ca["sub"], "rs");
        assert_eq!(ca["aud"], "https://as/introspect");
        assert_ne!(ca["jti"], cb["jti"]);
        assert!(ca["exp"].as_u64().unwrap() - ca["iat"].as_u64().unwrap() <= 60);
        let issuer_aud =
            auth.assertion_audience(AssertionAudience::Issuer).credentials("rs", "https://as/i", "https://as");
        assert_eq!(claims_of(&issuer_aud.unwrap())["aud"], "https://as");
    }

    #[test]
    fn private_key_jwt_needs_an_asymmetric_key() {
        assert!(ClientAuth::private_key_jwt(Algorithm::HS256, b"x").is_err());
        assert!(ClientAuth::private_key_jwt(Algorithm::RS256, b"not a pem").is_err());
    }
}
