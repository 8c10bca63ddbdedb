//! Keys given in configuration, for users without an identity provider.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::DecodingKey;

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
pub struct StaticKey {
    pub(crate) kid: Option<Arc<str>>,
    pub(crate) family: AlgSet,
    pub(crate) key: DecodingKey,
}

impl StaticKey {
    /// An RSA public key in PEM (RS256/384/512, PS256/384/512).
    pub fn rsa_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_rsa_pem(pem.as_ref()).map_err(|_| invalid("not an RSA public key PEM"))?;
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

    #[test]
    fn garbage_pem_is_a_config_error() {
        assert!(StaticKey::rsa_pem("nope").is_err());
        assert!(StaticKey::ec_pem("nope").is_err());
        assert!(StaticKey::ed_pem("nope").is_err());
        assert!(StaticKey::jwk("{}").is_err());
    }
}
