//! Signing keys: generation and their public JWKs.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use rand::RngCore;
use serde_json::{Value, json};

use super::{Shared, TestIssuerError};
use crate::keys::{AlgSet, alg_name};

/// One signing key and its public JWK.
pub(super) struct TestKey {
    pub(super) kid: String,
    pub(super) alg: Algorithm,
    pub(super) encoding: EncodingKey,
    pub(super) jwk: Value,
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

impl TestKey {
    pub(super) fn generate(alg: Algorithm) -> Result<Self, TestIssuerError> {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        use p256::pkcs8::EncodePrivateKey as _;
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::traits::PublicKeyParts as _;

        let failed = |e: &dyn fmt::Display| TestIssuerError::KeyGeneration(e.to_string());
        let mut rng = rand::thread_rng();
        let (encoding, mut jwk) = match alg {
            _ if AlgSet::RSA.contains(alg) => {
                let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| failed(&e))?;
                let der = key.to_pkcs1_der().map_err(|e| failed(&e))?;
                let jwk = json!({
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                    "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
                });
                (EncodingKey::from_rsa_der(der.as_bytes()), jwk)
            }
            Algorithm::ES256 => {
                let key = p256::SecretKey::random(&mut rng);
                let der = key.to_pkcs8_der().map_err(|e| failed(&e))?;
                let point = key.public_key().to_encoded_point(false);
                (
                    EncodingKey::from_ec_der(der.as_bytes()),
                    ec_jwk("P-256", point.x().map(|x| &x[..]), point.y().map(|y| &y[..]))?,
                )
            }
            Algorithm::ES384 => {
                let key = p384::SecretKey::random(&mut rng);
                let der = key.to_pkcs8_der().map_err(|e| failed(&e))?;
                let point = key.public_key().to_encoded_point(false);
                (
                    EncodingKey::from_ec_der(der.as_bytes()),
                    ec_jwk("P-384", point.x().map(|x| &x[..]), point.y().map(|y| &y[..]))?,
                )
            }
            Algorithm::EdDSA => {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                let der = key.to_pkcs8_der().map_err(|e| failed(&e))?;
                let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
                (EncodingKey::from_ed_der(der.as_bytes()), json!({"kty": "OKP", "crv": "Ed25519", "x": x}))
            }
            // HMAC keys never come from a JWKS; anything newer is not made here either.
            _ => return Err(TestIssuerError::UnsupportedAlgorithm(alg)),
        };
        let kid = format!("{}-{}", alg_name(alg).to_ascii_lowercase(), random_id(6));
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(alg_name(alg));
        Ok(Self { kid, alg, encoding, jwk })
    }
}

fn ec_jwk(crv: &str, x: Option<&[u8]>, y: Option<&[u8]>) -> Result<Value, TestIssuerError> {
    let (x, y) = x.zip(y).ok_or_else(|| TestIssuerError::KeyGeneration("EC point is not uncompressed".to_owned()))?;
    Ok(json!({"kty": "EC", "crv": crv, "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)}))
}

pub(super) fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub(super) fn jwks_document(keys: &[Arc<TestKey>]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

impl Shared {
    /// The never-published key of this algorithm, made on first use.
    pub(super) fn unpublished_key(&self, alg: Algorithm) -> Result<Arc<TestKey>, TestIssuerError> {
        if let Some(key) = self.state().unpublished.iter().find(|k| k.alg == alg) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(TestKey::generate(alg)?);
        let mut state = self.state();
        if let Some(raced) = state.unpublished.iter().find(|k| k.alg == alg) {
            return Ok(Arc::clone(raced));
        }
        state.unpublished.push(Arc::clone(&key));
        Ok(key)
    }
}
