//! Keys given in configuration, for users without an identity provider.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{DecodingKey, DecodingKeyKind};

use super::strength::{check_rsa, pkcs1_components};
use super::{AlgSet, VerifyingKey};
use crate::error::ConfigError;

/// A verification key given in configuration: a PEM public key, a JWK, or an HMAC secret.
///
/// ```
/// use bearer_guard::StaticKey;
///
/// let key = StaticKey::hmac_secret(b"an example secret of at least 32 bytes")?.with_kid("k1");
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct StaticKey {
    pub(crate) kid: Option<Arc<str>>,
    pub(crate) family: AlgSet,
    pub(crate) key: DecodingKey,
}

impl StaticKey {
    /// An RSA public key in PEM (RS256/384/512, PS256/384/512), `RSA PUBLIC KEY` (PKCS#1) or
    /// `PUBLIC KEY` (SPKI).
    ///
    /// Weak keys are refused, whichever crypto backend is used: a modulus under 2048 bits, an
    /// exponent that is even or under 65 537.
    pub fn rsa_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_rsa_pem(pem.as_ref()).map_err(|_| invalid("not an RSA public key PEM"))?;
        // jsonwebtoken keeps the PKCS#1 `RSAPublicKey` DER of a PEM key.
        let DecodingKeyKind::SecretOrDer(der) = key.kind() else {
            return Err(invalid("not an RSA public key PEM"));
        };
        let (n, e) = pkcs1_components(der).ok_or_else(|| invalid("not an RSA public key PEM"))?;
        check_rsa(n, e).map_err(invalid)?;
        Ok(Self { kid: None, family: AlgSet::RSA, key })
    }

    /// An EC public key (P-256 or P-384) in PEM (ES256, ES384).
    pub fn ec_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ec_pem(pem.as_ref()).map_err(|_| invalid("not an EC public key PEM"))?;
        Ok(Self { kid: None, family: AlgSet::ES256.union(AlgSet::ES384), key })
    }

    /// An Ed25519 public key in PEM (EdDSA).
    pub fn ed_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ed_pem(pem.as_ref()).map_err(|_| invalid("not an Ed25519 public key PEM"))?;
        Ok(Self { kid: None, family: AlgSet::EDDSA, key })
    }

    /// A public JWK (RSA, EC P-256/P-384, Ed25519) or an `oct` JWK with an HMAC secret.
    /// Its `kid`, `alg`, `use` and `key_ops` apply.
    pub fn jwk(json: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|_| invalid("not JSON"))?;
        let VerifyingKey { kid, algorithms, key, .. } =
            super::jwk::import(&value, AlgSet::ASYMMETRIC.union(AlgSet::HMAC), true).map_err(invalid)?;
        Ok(Self { kid, family: algorithms, key })
    }

    /// An HMAC shared secret (HS256/384/512), at least 32 bytes long (RFC 7518 §3.2).
    pub fn hmac_secret(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        if secret.len() < 32 {
            return Err(invalid("HMAC secret shorter than 32 bytes"));
        }
        Ok(Self { kid: None, family: AlgSet::HMAC, key: DecodingKey::from_secret(secret) })
    }

    /// Sets the `kid` that tokens name this key by.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(Arc::from(kid.into()));
        self
    }

    pub(crate) fn into_verifying_key(self, allowed: AlgSet) -> Result<VerifyingKey, ConfigError> {
        let algorithms = self.family.intersect(allowed);
        if algorithms.is_empty() {
            return Err(invalid("none of the key's algorithms is allowed"));
        }
        // A static set never changes, so its keys need no identity beyond their place in it.
        Ok(VerifyingKey { kid: self.kid, algorithms, key: self.key, fingerprint: [0; 16] })
    }
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKey").field("kid", &self.kid).field("algorithms", &self.family).finish_non_exhaustive()
    }
}

fn invalid(reason: &str) -> ConfigError {
    ConfigError::InvalidKey(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hmac_secret_is_refused() {
        assert!(StaticKey::hmac_secret(b"short").is_err());
        assert!(StaticKey::hmac_secret([1u8; 32]).is_ok());
    }

    #[test]
    fn debug_never_prints_key_material() {
        let k = StaticKey::hmac_secret(b"super-secret-super-secret-super-secret").unwrap();
        assert!(!format!("{k:?}").contains("super-secret"));
    }

    fn pem(label: &str, der: &[u8]) -> String {
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    /// PKCS#1 `RSAPublicKey` DER for a modulus of `bits` bits (all ones) and `e`.
    fn pkcs1(bits: usize, e: &[u8]) -> Vec<u8> {
        let mut n = vec![0xffu8; bits.div_ceil(8)];
        n[0] = 0xff >> (n.len() * 8 - bits);
        // DER: a sign octet only before a set top bit.
        let mut n_int = if n[0] >= 0x80 { vec![0u8] } else { Vec::new() };
        n_int.extend(&n);
        let der_len = |len: usize| -> Vec<u8> {
            if len < 0x80 { vec![len as u8] } else { vec![0x82, (len >> 8) as u8, len as u8] }
        };
        let mut body = vec![0x02];
        body.extend(der_len(n_int.len()));
        body.extend(&n_int);
        body.push(0x02);
        body.extend(der_len(e.len()));
        body.extend(e);
        let mut der = vec![0x30];
        der.extend(der_len(body.len()));
        der.extend(body);
        der
    }

    /// Issue 11 item 11: the check is ours, so it holds with either backend (this test runs
    /// under both in CI). The 2048-bit key is the control.
    #[test]
    fn weak_rsa_pem_keys_are_refused() {
        assert!(StaticKey::rsa_pem(pem("RSA PUBLIC KEY", &pkcs1(2048, &[1, 0, 1]))).is_ok());
        let short = StaticKey::rsa_pem(pem("RSA PUBLIC KEY", &pkcs1(1024, &[1, 0, 1]))).unwrap_err();
        assert_eq!(short.to_string(), "invalid key: RSA modulus shorter than 2048 bits");
        let short = StaticKey::rsa_pem(pem("RSA PUBLIC KEY", &pkcs1(2047, &[1, 0, 1]))).unwrap_err();
        assert_eq!(short.to_string(), "invalid key: RSA modulus shorter than 2048 bits");
        let e1 = StaticKey::rsa_pem(pem("RSA PUBLIC KEY", &pkcs1(2048, &[1]))).unwrap_err();
        assert_eq!(e1.to_string(), "invalid key: RSA exponent is smaller than 65537");
        let even = StaticKey::rsa_pem(pem("RSA PUBLIC KEY", &pkcs1(2048, &[1, 0, 0]))).unwrap_err();
        assert_eq!(even.to_string(), "invalid key: RSA exponent is even");
    }

    #[test]
    fn weak_rsa_jwk_static_keys_are_refused() {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk = |n: &[u8]| format!(r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#, b64(n));
        assert!(StaticKey::jwk(&jwk(&[0xC5; 256])).is_ok());
        let e = StaticKey::jwk(&jwk(&[0xC5; 128])).unwrap_err();
        assert_eq!(e.to_string(), "invalid key: RSA modulus shorter than 2048 bits");
    }

    #[test]
    fn garbage_pem_is_a_config_error() {
        assert!(StaticKey::rsa_pem("nope").is_err());
        assert!(StaticKey::ec_pem("nope").is_err());
        assert!(StaticKey::ed_pem("nope").is_err());
        assert!(StaticKey::jwk("{}").is_err());
    }
}
