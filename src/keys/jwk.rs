//! Importing JWKs (RFC 7517/7518) into verifying keys, and JWK Sets into key sets.
//!
//! The algorithms a key may verify come from its `kty`/`crv` (and `alg`, when present), never
//! from a token. Keys for encryption (`use` other than `sig`, `key_ops` without `verify`) are
//! not used. A key that fails to import is skipped and logged; it never breaks the whole set.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use sha2::{Digest, Sha256};

use super::fetch::FetchError;
use super::strength::check_rsa;
use super::{AlgSet, KeyFingerprint, KeySet, VerifyingKey};

#[derive(Deserialize)]
struct JwkFields {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
}

/// Imports one JWK. `allowed` is the guard's algorithm allow-list; symmetric (`oct`) keys are
/// only imported when `allow_symmetric` (static configuration, never a fetched JWKS).
pub(crate) fn import(value: &Value, allowed: AlgSet, allow_symmetric: bool) -> Result<VerifyingKey, &'static str> {
    let jwk = JwkFields::deserialize(value).map_err(|_| "not a JWK object")?;
    if jwk.usage.as_deref().is_some_and(|u| u != "sig") {
        return Err("use is not sig");
    }
    if jwk.key_ops.as_ref().is_some_and(|ops| !ops.iter().any(|op| op == "verify")) {
        return Err("key_ops does not allow verify");
    }
    let (family, key) = match jwk.kty.as_str() {
        "RSA" => {
            let (n, e) = jwk.n.as_deref().zip(jwk.e.as_deref()).ok_or("RSA key without n or e")?;
            let (modulus, exponent) = (b64(n)?, b64(e)?);
            check_rsa(&modulus, &exponent)?;
            (AlgSet::RSA, DecodingKey::from_rsa_raw_components(&modulus, &exponent))
        }
        "EC" => {
            let (family, len) = match jwk.crv.as_deref() {
                Some("P-256") => (AlgSet::ES256, 32),
                Some("P-384") => (AlgSet::ES384, 48),
                _ => return Err("unsupported EC curve"),
            };
            let (x, y) = jwk.x.as_deref().zip(jwk.y.as_deref()).ok_or("EC key without x or y")?;
            if b64(x)?.len() != len || b64(y)?.len() != len {
                return Err("EC coordinates have the wrong length");
            }
            (family, DecodingKey::from_ec_components(x, y).map_err(|_| "bad EC key")?)
        }
        "OKP" => {
            if jwk.crv.as_deref() != Some("Ed25519") {
                return Err("unsupported OKP curve");
            }
            let x = jwk.x.as_deref().ok_or("OKP key without x")?;
            if b64(x)?.len() != 32 {
                return Err("Ed25519 key has the wrong length");
            }
            (AlgSet::EDDSA, DecodingKey::from_ed_components(x).map_err(|_| "bad OKP key")?)
        }
        "oct" if allow_symmetric => {
            let secret = b64(jwk.k.as_deref().ok_or("oct key without k")?)?;
            if secret.len() < 32 {
                return Err("HMAC secret shorter than 32 bytes");
            }
            (AlgSet::HMAC, DecodingKey::from_secret(&secret))
        }
        "oct" => return Err("symmetric keys are never taken from a JWKS"),
        _ => return Err("unsupported kty"),
    };
    let mut algorithms = family.intersect(allowed);
    if let Some(alg) = &jwk.alg {
        let alg: Algorithm = alg.parse().map_err(|_| "unsupported alg")?;
        if !family.contains(alg) {
            return Err("alg does not fit kty");
        }
        algorithms = algorithms.intersect(AlgSet::of([alg]));
    }
    if algorithms.is_empty() {
        return Err("no allowed algorithm for this key");
    }
    let fingerprint = fingerprint(&jwk);
    Ok(VerifyingKey { kid: jwk.kid.map(Arc::from), algorithms, key, fingerprint })
}

/// A digest of the members that make up the key material (RFC 7638 members, plus `k`).
fn fingerprint(jwk: &JwkFields) -> KeyFingerprint {
    let mut digest = Sha256::new();
    for member in [
        Some(&jwk.kty),
        jwk.crv.as_ref(),
        jwk.n.as_ref(),
        jwk.e.as_ref(),
        jwk.x.as_ref(),
        jwk.y.as_ref(),
        jwk.k.as_ref(),
    ] {
        let member = member.map_or("", String::as_str);
        digest.update((member.len() as u64).to_be_bytes());
        digest.update(member.as_bytes());
    }
    let hash: [u8; 32] = digest.finalize().into();
    let mut out = [0u8; 16];
    out.iter_mut().zip(hash).for_each(|(o, h)| *o = h);
    out
}

fn b64(s: &str) -> Result<Vec<u8>, &'static str> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| "key parameter is not base64url")
}

#[derive(Deserialize)]
struct JwkSetDoc {
    keys: Vec<Value>,
}

/// Parses a JWK Set document. Keys beyond `max_keys` are ignored; keys that can't be imported
/// (weak RSA keys included) are skipped with a warning. Fails only when the document is not a
/// JWK Set or has no key usable with the allowed algorithms.
pub(crate) fn import_set(body: &[u8], allowed: AlgSet, max_keys: usize, issuer: &str) -> Result<KeySet, FetchError> {
    let doc: JwkSetDoc =
        serde_json::from_slice(body).map_err(|_| FetchError::Invalid("body is not a JWK Set".to_owned()))?;
    if doc.keys.len() > max_keys {
        tracing::warn!(issuer, keys = doc.keys.len(), max_keys, "JWKS has more keys than allowed; extra keys ignored");
    }
    let mut keys = Vec::with_capacity(doc.keys.len().min(max_keys));
    for (index, value) in doc.keys.iter().take(max_keys).enumerate() {
        match import(value, allowed, false) {
            Ok(key) => keys.push(key),
            Err(reason) => {
                let kid = value.get("kid").and_then(Value::as_str);
                tracing::warn!(issuer, index, kid, reason, "skipping JWK");
            }
        }
    }
    if keys.is_empty() {
        return Err(FetchError::NoUsableKey { published: doc.keys.len(), allowed: format!("{allowed:?}") });
    }
    Ok(KeySet::new(keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_n() -> String {
        URL_SAFE_NO_PAD.encode([0xC5u8; 256])
    }

    #[test]
    fn rsa_key_gets_the_rsa_family() {
        let k = import(&json!({"kty":"RSA","kid":"r","n":rsa_n(),"e":"AQAB"}), AlgSet::ASYMMETRIC, false).unwrap();
        assert_eq!(k.algorithms, AlgSet::RSA);
        assert_eq!(k.kid.as_deref(), Some("r"));
    }

    #[test]
    fn jwk_alg_narrows_the_family() {
        let k = import(&json!({"kty":"RSA","alg":"PS256","n":rsa_n(),"e":"AQAB"}), AlgSet::ASYMMETRIC, false).unwrap();
        assert_eq!(k.algorithms, AlgSet::of([Algorithm::PS256]));
        let e = import(&json!({"kty":"RSA","alg":"ES256","n":rsa_n(),"e":"AQAB"}), AlgSet::ASYMMETRIC, false);
        assert_eq!(e.unwrap_err(), "alg does not fit kty");
    }

    #[test]
    fn short_rsa_modulus_is_refused() {
        let n = URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        assert!(import(&json!({"kty":"RSA","n":n,"e":"AQAB"}), AlgSet::ASYMMETRIC, false).is_err());
    }

    #[test]
    fn encryption_keys_are_not_used() {
        let enc = json!({"kty":"RSA","use":"enc","n":rsa_n(),"e":"AQAB"});
        assert_eq!(import(&enc, AlgSet::ASYMMETRIC, false).unwrap_err(), "use is not sig");
        let ops = json!({"kty":"RSA","key_ops":["encrypt"],"n":rsa_n(),"e":"AQAB"});
        assert!(import(&ops, AlgSet::ASYMMETRIC, false).is_err());
    }

    #[test]
    fn ec_curve_decides_the_algorithm() {
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let k = import(&json!({"kty":"EC","crv":"P-256","x":x,"y":x}), AlgSet::ASYMMETRIC, false).unwrap();
        assert_eq!(k.algorithms, AlgSet::ES256);
        assert!(import(&json!({"kty":"EC","crv":"P-384","x":x,"y":x}), AlgSet::ASYMMETRIC, false).is_err());
        assert!(import(&json!({"kty":"EC","crv":"secp256k1","x":x,"y":x}), AlgSet::ASYMMETRIC, false).is_err());
    }

    #[test]
    fn oct_keys_never_come_from_a_jwks() {
        let k = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let jwk = json!({"kty":"oct","k":k});
        assert!(import(&jwk, AlgSet::HMAC, false).is_err());
        assert_eq!(import(&jwk, AlgSet::HMAC, true).unwrap().algorithms, AlgSet::HMAC);
    }

    #[test]
    fn allow_list_applies() {
        let only_es = AlgSet::of([Algorithm::ES256]);
        assert_eq!(
            import(&json!({"kty":"RSA","n":rsa_n(),"e":"AQAB"}), only_es, false).unwrap_err(),
            "no allowed algorithm for this key"
        );
    }

    #[test]
    fn a_bad_jwk_is_skipped_not_fatal() {
        let body = json!({"keys":[
            {"kty":"RSA","kid":"bad","n":"!!!","e":"AQAB"},
            {"kty":"weird"},
            "not an object",
            {"kty":"RSA","kid":"good","n":rsa_n(),"e":"AQAB"}
        ]});
        let set = import_set(body.to_string().as_bytes(), AlgSet::ASYMMETRIC, 64, "iss").unwrap();
        assert_eq!(set.len(), 1);
        assert!(matches!(set.select(Some("good"), jsonwebtoken::Algorithm::RS256), crate::keys::Selection::Found(_)));
    }

    #[test]
    fn key_count_is_capped() {
        let keys: Vec<Value> =
            (0..10).map(|i| json!({"kty":"RSA","kid":i.to_string(),"n":rsa_n(),"e":"AQAB"})).collect();
        let body = json!({ "keys": keys }).to_string();
        assert_eq!(import_set(body.as_bytes(), AlgSet::ASYMMETRIC, 3, "iss").unwrap().len(), 3);
    }

    #[test]
    fn non_jwks_bodies_fail() {
        assert!(import_set(b"<html></html>", AlgSet::ASYMMETRIC, 64, "iss").is_err());
        assert!(import_set(b"{\"keys\":[]}", AlgSet::ASYMMETRIC, 64, "iss").is_err());
    }

    #[test]
    fn a_set_with_no_key_for_the_allowed_algorithms_says_so() {
        let body = json!({"keys":[{"kty":"RSA","kid":"r","n":rsa_n(),"e":"AQAB"}]}).to_string();
        let e = import_set(body.as_bytes(), AlgSet::of([Algorithm::ES256]), 64, "iss").unwrap_err();
        assert_eq!(e.to_string(), "the JWK Set has no key usable with the allowed algorithms {ES256} (1 published)");
        assert!(e.is_permanent());
    }

    /// Weak RSA JWKs are skipped (with a log line), the good key next to them is kept.
    #[test]
    fn weak_rsa_jwks_are_skipped() {
        let mut n_2047 = vec![0xC5u8; 256];
        n_2047[0] = 0x45;
        let mut zero_led = vec![0u8];
        zero_led.extend([0xC5u8; 256]);
        let body = json!({"keys":[
            {"kty":"RSA","kid":"short","n":URL_SAFE_NO_PAD.encode(&n_2047),"e":"AQAB"},
            {"kty":"RSA","kid":"e1","n":rsa_n(),"e":"AQ"},
            {"kty":"RSA","kid":"e3","n":rsa_n(),"e":"Aw"},
            {"kty":"RSA","kid":"even-e","n":rsa_n(),"e":"AQAA"},
            {"kty":"RSA","kid":"zero","n":URL_SAFE_NO_PAD.encode(&zero_led),"e":"AQAB"},
            {"kty":"RSA","kid":"good","n":rsa_n(),"e":"AQAB"}
        ]});
        let set = import_set(body.to_string().as_bytes(), AlgSet::ASYMMETRIC, 64, "iss").unwrap();
        assert_eq!(set.len(), 1);
        assert!(matches!(set.select(Some("good"), Algorithm::RS256), crate::keys::Selection::Found(_)));
    }
}
