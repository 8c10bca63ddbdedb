//! Parsing and verifying one DPoP proof JWT (RFC 9449 §4.2, §4.3 checks 2–7): a compact JWS
//! with `typ` `dpop+jwt`, an asymmetric allowed `alg`, a public `jwk` header that verifies the
//! signature, and the `jti`, `htm`, `htu`, `iat` claims. Request-dependent checks (`htm`,
//! `htu`, `iat` window, `ath`, `jti` replay, key binding) are done by the caller.

use crate::strict_json::StrictObject;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::thumbprint::jwk_thumbprint;
use crate::error::InvalidDpopProof;
use crate::keys::AlgSet;
use crate::keys::jwk;

/// Largest accepted proof (bytes), checked before decoding.
pub(crate) const MAX_PROOF_BYTES: usize = 8 * 1024;
/// Longest accepted `jti` (bytes).
const MAX_JTI_BYTES: usize = 256;

/// JWK members that only private (or symmetric) keys have.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof whose signature verified with its own `jwk`.
#[derive(Debug)]
pub(crate) struct Proof {
    /// RFC 7638 thumbprint of the proof's key.
    pub(crate) jkt: String,
    pub(crate) jti: String,
    pub(crate) htm: String,
    pub(crate) htu: String,
    pub(crate) iat: f64,
    pub(crate) ath: Option<String>,
    pub(crate) nonce: Option<String>,
}

/// Checks the proof's form, header, key and signature, and reads its claims.
pub(crate) fn verify(proof: &str, allowed: AlgSet) -> Result<Proof, InvalidDpopProof> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(InvalidDpopProof::TooLarge);
    }
    let (signing_input, signature) = proof.rsplit_once('.').ok_or(InvalidDpopProof::Malformed)?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(InvalidDpopProof::Malformed)?;
    if payload_b64.contains('.') || signature.is_empty() {
        return Err(InvalidDpopProof::Malformed);
    }
    let header = decode_object(header_b64)?;
    match header.get("typ") {
        // Media types are case-insensitive (RFC 7515 §4.1.9).
        Some(Value::String(t)) if t.eq_ignore_ascii_case("dpop+jwt") => {}
        _ => return Err(InvalidDpopProof::WrongType),
    }
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.parse().map_err(|_| InvalidDpopProof::UnsupportedAlgorithm)?,
        _ => return Err(InvalidDpopProof::UnsupportedAlgorithm),
    };
    // Only asymmetric algorithms: a proof is signed with the client's private key.
    if !allowed.intersect(AlgSet::ASYMMETRIC).contains(alg) {
        return Err(InvalidDpopProof::UnsupportedAlgorithm);
    }
    if header.contains_key("crit") {
        return Err(InvalidDpopProof::UnsupportedCritical);
    }
    let Some(Value::Object(key)) = header.get("jwk") else { return Err(InvalidDpopProof::BadKey) };
    if PRIVATE_MEMBERS.iter().any(|m| key.contains_key(*m)) {
        return Err(InvalidDpopProof::PrivateKey);
    }
    let jwk_value = Value::Object(key.clone());
    let verifying = jwk::import(&jwk_value, AlgSet::of([alg]), false).map_err(|_| InvalidDpopProof::BadKey)?;
    if !verifying.algorithms.contains(alg) {
        return Err(InvalidDpopProof::BadKey);
    }
    match jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), &verifying.key, alg) {
        Ok(true) => {}
        _ => return Err(InvalidDpopProof::BadSignature),
    }
    let jkt = jwk_thumbprint(key).ok_or(InvalidDpopProof::BadKey)?;
    let mut claims = decode_object(payload_b64)?;
    let jti = take_string(&mut claims, "jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(InvalidDpopProof::MissingClaim("jti"));
    }
    let htm = take_string(&mut claims, "htm")?;
    let htu = take_string(&mut claims, "htu")?;
    let iat = match claims.get("iat") {
        Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()).ok_or(InvalidDpopProof::MissingClaim("iat"))?,
        _ => return Err(InvalidDpopProof::MissingClaim("iat")),
    };
    let ath = optional_string(&mut claims, "ath").map_err(|_| InvalidDpopProof::AccessTokenHashMismatch)?;
    let nonce = optional_string(&mut claims, "nonce").map_err(|_| InvalidDpopProof::Malformed)?;
    Ok(Proof { jkt, jti, htm, htu, iat, ath, nonce })
}

fn decode_object(b64: &str) -> Result<Map<String, Value>, InvalidDpopProof> {
    let json = URL_SAFE_NO_PAD.decode(b64).map_err(|_| InvalidDpopProof::Malformed)?;
    serde_json::from_slice::<StrictObject>(&json).map(|o| o.0).map_err(|_| InvalidDpopProof::Malformed)
}

fn take_string(claims: &mut Map<String, Value>, name: &'static str) -> Result<String, InvalidDpopProof> {
    match claims.remove(name) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(InvalidDpopProof::MissingClaim(name)),
    }
}

fn optional_string(claims: &mut Map<String, Value>, name: &str) -> Result<Option<String>, ()> {
    match claims.remove(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(()),
    }
}
