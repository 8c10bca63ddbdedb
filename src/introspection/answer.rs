//! Checking an introspection answer (RFC 7662 §2.2), and RFC 9701 JWT answers.
//!
//! Only `active` equal to the JSON boolean `true` passes. When present: `iss` must equal the
//! issuer, `aud` must contain a configured audience, `exp`/`nbf` are checked with the leeway,
//! `token_type` must name an access token. Anything else refuses the token (`invalid_token`);
//! an answer that is not JSON at all is the server's failure (`503`), handled by the caller.

use crate::strict_json::StrictObject;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::error::InvalidToken;
use crate::issuer::KeySource;
use crate::keys::AlgSet;
use crate::keys::{Selection, VerifyingKey};
use crate::scope::set::{Roles, ScopeSources, Scopes};
use crate::verified::VerifiedToken;

use super::request::CallError;

/// What an answer is checked against.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) issuer: Arc<str>,
    pub(crate) audiences: Box<[Box<str>]>,
    pub(crate) any_audience: bool,
    pub(crate) require_audience: bool,
    pub(crate) leeway: u64,
    pub(crate) scopes: ScopeSources,
}

/// The verdict on one token.
#[derive(Clone, Debug)]
pub(crate) enum Verdict {
    /// Active: the token as handlers see it, and its `exp` when the answer has one.
    Active { token: VerifiedToken, exp: Option<f64> },
    /// Refused, with the reason sent to the client.
    Inactive(InvalidToken),
}

/// Parses a JSON answer body. Not JSON at all: the server failed (`Err`). JSON that is not an
/// object with unique member names: the token is refused.
pub(crate) fn parse_json(body: &[u8]) -> Result<Option<Map<String, Value>>, CallError> {
    match serde_json::from_slice::<StrictObject>(body) {
        Ok(object) => Ok(Some(object.0)),
        Err(e) if e.is_syntax() || e.is_eof() || e.is_io() => Err(CallError::Invalid("answer is not JSON")),
        Err(_) => Ok(None),
    }
}

/// Checks a parsed answer at time `now` (seconds since the epoch).
pub(crate) fn check(answer: Option<Map<String, Value>>, rules: &Rules, now: f64, fallback_exp: f64) -> Verdict {
    let Some(mut answer) = answer else { return Verdict::Inactive(InvalidToken::Inactive) };
    match check_claims(&answer, rules, now) {
        Ok(exp) => {
            if !answer.contains_key("iss") {
                // The answer came from this issuer's endpoint: handlers see the same `iss` a
                // JWT of this issuer carries.
                answer.insert("iss".to_owned(), Value::String(rules.issuer.to_string()));
            }
            let scopes = Scopes::from_claims(&answer, &rules.scopes);
            let roles = Roles::from_claims(&answer, &rules.scopes);
            let token = VerifiedToken::new(
                Value::Object(answer),
                scopes,
                roles,
                Arc::clone(&rules.issuer),
                None,
                exp.unwrap_or(fallback_exp),
            );
            Verdict::Active { token, exp }
        }
        Err(reason) => Verdict::Inactive(reason),
    }
}

fn check_claims(answer: &Map<String, Value>, rules: &Rules, now: f64) -> Result<Option<f64>, InvalidToken> {
    // RFC 7662 §2.2: `active` is REQUIRED and a boolean; only `true` passes.
    if answer.get("active") != Some(&Value::Bool(true)) {
        return Err(InvalidToken::Inactive);
    }
    match answer.get("iss") {
        None => {}
        Some(Value::String(iss)) if **iss == *rules.issuer => {}
        Some(Value::String(_)) => return Err(InvalidToken::UntrustedIssuer),
        Some(_) => return Err(InvalidToken::InvalidClaim("iss")),
    }
    match answer.get("token_type") {
        None => {}
        Some(Value::String(t)) if is_access_token_type(t) => {}
        Some(_) => return Err(InvalidToken::UnacceptableType),
    }
    let leeway = rules.leeway as f64;
    let exp = numeric(answer, "exp")?;
    if exp.is_some_and(|exp| now > exp + leeway) {
        return Err(InvalidToken::Expired);
    }
    if numeric(answer, "nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(InvalidToken::NotYetValid);
    }
    match answer.get("aud") {
        None if rules.require_audience && !rules.any_audience => return Err(InvalidToken::WrongAudience),
        None => {}
        Some(aud) if !audience_ok(aud, &rules.audiences)? && !rules.any_audience => {
            return Err(InvalidToken::WrongAudience);
        }
        Some(_) => {}
    }
    Ok(exp)
}

/// `token_type` values that name an access token: RFC 6749 types (`Bearer`, `DPoP`, `N_A` is
/// not one) and RFC 8693's URI.
fn is_access_token_type(t: &str) -> bool {
    ["bearer", "dpop", "access_token", "urn:ietf:params:oauth:token-type:access_token"]
        .iter()
        .any(|ok| t.eq_ignore_ascii_case(ok))
}

fn numeric(answer: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, InvalidToken> {
    match answer.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            n.as_f64().filter(|v| v.is_finite()).map(Some).ok_or(InvalidToken::InvalidClaim(name))
        }
        Some(_) => Err(InvalidToken::InvalidClaim(name)),
    }
}

fn audience_ok(aud: &Value, accepted: &[Box<str>]) -> Result<bool, InvalidToken> {
    match aud {
        Value::String(a) => Ok(accepted.iter().any(|x| **x == **a)),
        Value::Array(list) => {
            let mut found = false;
            for item in list {
                let Value::String(a) = item else { return Err(InvalidToken::InvalidClaim("aud")) };
                found |= accepted.iter().any(|x| **x == **a);
            }
            Ok(found)
        }
        _ => Err(InvalidToken::InvalidClaim("aud")),
    }
}

/// Verifies an RFC 9701 JWT answer with the issuer's keys and returns its
/// `token_introspection` member. Any failure is the server's (or an attacker's) fault: `Err`.
pub(crate) async fn verify_jwt_answer(
    body: &[u8],
    keys: &KeySource,
    issuer: &str,
    client_id: &str,
    leeway: u64,
    now: f64,
) -> Result<Option<Map<String, Value>>, CallError> {
    let invalid = CallError::Invalid;
    let text = std::str::from_utf8(body).map_err(|_| invalid("JWT answer is not text"))?.trim();
    let (signing_input, signature) = text.rsplit_once('.').ok_or(invalid("JWT answer is not a JWS"))?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(invalid("JWT answer is not a JWS"))?;
    let decode = |part: &str| -> Result<Map<String, Value>, CallError> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| invalid("JWT answer is not base64url"))?;
        serde_json::from_slice::<StrictObject>(&bytes).map(|o| o.0).map_err(|_| invalid("JWT answer is not JSON"))
    };
    let header = decode(header_b64)?;
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    if typ != "token-introspection+jwt" && typ != "application/token-introspection+jwt" {
        return Err(invalid("JWT answer typ is not token-introspection+jwt"));
    }
    if header.contains_key("crit") {
        return Err(invalid("JWT answer has crit header parameters"));
    }
    let alg: Algorithm = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|a| a.parse().ok())
        .filter(|a| AlgSet::ASYMMETRIC.contains(*a))
        .ok_or(invalid("JWT answer alg is not accepted"))?;
    let kid = header.get("kid").and_then(Value::as_str);
    let claims = decode(payload_b64)?;
    let check = |key: &VerifyingKey| {
        key.algorithms.contains(alg)
            && jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), &key.key, alg).unwrap_or(false)
    };
    let verified = match keys {
        KeySource::Static(snapshot) => match snapshot.keys.select(kid, alg) {
            Selection::Found(mut candidates) => candidates.any(check),
            _ => false,
        },
        KeySource::Remote(remote) => {
            let snapshot = remote.current().await.map_err(|_| invalid("the issuer's keys are unavailable"))?;
            match snapshot.keys.select(kid, alg) {
                Selection::Found(mut candidates) => candidates.any(check),
                Selection::Unknown => match remote.refetch_for_unknown_key(&snapshot).await {
                    Ok(Some(fresh)) => match fresh.keys.select(kid, alg) {
                        Selection::Found(mut candidates) => candidates.any(check),
                        _ => false,
                    },
                    Ok(None) => false,
                    Err(_) => return Err(invalid("the issuer's keys are unavailable")),
                },
                _ => return Err(invalid("JWT answer key does not fit")),
            }
        }
    };
    if !verified {
        return Err(invalid("JWT answer signature does not verify"));
    }
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(invalid("JWT answer iss is not the issuer"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid("JWT answer aud is not this client"));
    }
    if let Some(Value::Number(iat)) = claims.get("iat")
        && iat.as_f64().is_some_and(|iat| iat > now + leeway as f64)
    {
        return Err(invalid("JWT answer is issued in the future"));
    }
    match claims.get("token_introspection") {
        Some(Value::Object(answer)) => Ok(Some(answer.clone())),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: f64 = 1_700_000_000.0;

    fn rules() -> Rules {
        Rules {
            issuer: Arc::from("https://as"),
            audiences: vec![Box::from("api")].into(),
            any_audience: false,
            require_audience: false,
            leeway: 30,
            scopes: ScopeSources::default(),
        }
    }

    fn verdict(v: Value) -> Result<VerifiedToken, InvalidToken> {
        let body = v.to_string();
        match check(parse_json(body.as_bytes()).unwrap(), &rules(), NOW, NOW + 300.0) {
            Verdict::Active { token, .. } => Ok(token),
            Verdict::Inactive(r) => Err(r),
        }
    }

    #[test]
    fn only_the_boolean_true_is_active() {
        assert!(verdict(json!({"active": true})).is_ok());
        for bad in [json!({"active": false}), json!({"active": "true"}), json!({"active": 1}), json!({}), json!([true])]
        {
            assert_eq!(verdict(bad.clone()).err(), Some(InvalidToken::Inactive), "{bad}");
        }
        assert_eq!(verdict(json!("active")).err(), Some(InvalidToken::Inactive));
        let dup = br#"{"active":false,"active":true}"#;
        assert!(matches!(check(parse_json(dup).unwrap(), &rules(), NOW, NOW), Verdict::Inactive(_)));
    }

    #[test]
    fn not_json_is_the_servers_failure() {
        assert!(parse_json(b"<html>login</html>").is_err());
        assert!(parse_json(b"").is_err());
        assert!(parse_json(b"{\"active\": tr").is_err());
    }

    #[test]
    fn iss_aud_exp_nbf_and_token_type_are_checked_when_present() {
        let ok = |extra: Value| {
            let mut v = json!({"active": true});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            verdict(v)
        };
        assert!(ok(json!({"iss": "https://as", "aud": ["x", "api"], "exp": NOW + 10.0})).is_ok());
        assert_eq!(ok(json!({"iss": "https://evil"})).err(), Some(InvalidToken::UntrustedIssuer));
        assert_eq!(ok(json!({"iss": 5})).err(), Some(InvalidToken::InvalidClaim("iss")));
        assert_eq!(ok(json!({"aud": "other"})).err(), Some(InvalidToken::WrongAudience));
        assert_eq!(ok(json!({"aud": ["api", 3]})).err(), Some(InvalidToken::InvalidClaim("aud")));
        assert_eq!(ok(json!({"exp": NOW - 31.0})).err(), Some(InvalidToken::Expired));
        assert!(ok(json!({"exp": NOW - 29.0})).is_ok());
        assert_eq!(ok(json!({"exp": "soon"})).err(), Some(InvalidToken::InvalidClaim("exp")));
        assert_eq!(ok(json!({"nbf": NOW + 31.0})).err(), Some(InvalidToken::NotYetValid));
        assert_eq!(ok(json!({"token_type": "refresh_token"})).err(), Some(InvalidToken::UnacceptableType));
        assert!(ok(json!({"token_type": "Bearer"})).is_ok());
        assert!(ok(json!({"token_type": "urn:ietf:params:oauth:token-type:access_token"})).is_ok());
    }

    #[test]
    fn missing_aud_is_refused_only_when_required() {
        let mut r = rules();
        r.require_audience = true;
        let answer = parse_json(br#"{"active":true}"#).unwrap();
        assert!(matches!(check(answer, &r, NOW, NOW), Verdict::Inactive(InvalidToken::WrongAudience)));
    }

    #[test]
    fn the_whole_answer_becomes_the_claims_and_scope_the_scopes() {
        let token =
            verdict(json!({"active": true, "sub": "alice", "scope": "notes:read admin", "exp": NOW + 60.0})).unwrap();
        assert_eq!(token.subject(), Some("alice"));
        assert!(token.scopes().contains("notes:read") && token.scopes().contains("admin"));
        assert_eq!(token.claims()["iss"], "https://as"); // filled in from the configuration
        assert_eq!(token.claims()["active"], true);
        assert_eq!(token.expires_at_secs(), NOW + 60.0);
        assert_eq!(token.issuer(), "https://as");
    }
}
