//! The registered claims of a verified JWT: `iss`, `exp`, `nbf`, `iat`, `aud`, and the strict
//! RFC 9068 profile (RFC 7519 §4.1, RFC 9068 §4).

use serde_json::{Map, Value};

use crate::error::InvalidToken;
use crate::issuer::TrustedIssuer;
use crate::jws::header::TypPolicy;

/// Default clock leeway for `exp`, `nbf` and `iat` (30 s).
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Largest leeway a guard accepts (5 min).
pub const MAX_LEEWAY_SECS: u64 = 300;

fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, InvalidToken> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            n.as_f64().filter(|v| v.is_finite()).map(Some).ok_or(InvalidToken::InvalidClaim(name))
        }
        Some(_) => Err(InvalidToken::InvalidClaim(name)),
    }
}

fn string_claim<'c>(claims: &'c Map<String, Value>, name: &'static str) -> Result<Option<&'c str>, InvalidToken> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(InvalidToken::InvalidClaim(name)),
    }
}

/// Checks the registered claims at time `now` (seconds since the epoch); returns `exp`.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    issuer: &TrustedIssuer,
    leeway: u64,
    now: f64,
    typ_policy: TypPolicy,
    typ_is_at_jwt: bool,
) -> Result<f64, InvalidToken> {
    let leeway = leeway as f64;
    if string_claim(claims, "iss")? != Some(&*issuer.issuer) {
        return Err(InvalidToken::UntrustedIssuer);
    }
    let exp = numeric_date(claims, "exp")?.ok_or(InvalidToken::MissingExpiry)?;
    if now > exp + leeway {
        return Err(InvalidToken::Expired);
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(InvalidToken::NotYetValid);
    }
    let iat = numeric_date(claims, "iat")?;
    if iat.is_some_and(|iat| now + leeway < iat) {
        return Err(InvalidToken::IssuedInFuture);
    }
    if !issuer.any_audience && !audience_matches(claims.get("aud"), &issuer.audiences)? {
        return Err(InvalidToken::WrongAudience);
    }
    let sub = string_claim(claims, "sub")?;
    if typ_policy == TypPolicy::StrictRfc9068 {
        if !typ_is_at_jwt {
            return Err(InvalidToken::UnacceptableType);
        }
        sub.ok_or(InvalidToken::MissingClaim("sub"))?;
        string_claim(claims, "client_id")?.ok_or(InvalidToken::MissingClaim("client_id"))?;
        string_claim(claims, "jti")?.ok_or(InvalidToken::MissingClaim("jti"))?;
        iat.ok_or(InvalidToken::MissingClaim("iat"))?;
    }
    Ok(exp)
}

pub(crate) fn audience_matches(aud: Option<&Value>, accepted: &[Box<str>]) -> Result<bool, InvalidToken> {
    match aud {
        None => Ok(false),
        Some(Value::String(a)) => Ok(accepted.iter().any(|x| **x == **a)),
        Some(Value::Array(list)) => {
            let mut found = false;
            for item in list {
                let Value::String(a) = item else { return Err(InvalidToken::InvalidClaim("aud")) };
                found |= accepted.iter().any(|x| **x == **a);
            }
            Ok(found)
        }
        Some(_) => Err(InvalidToken::InvalidClaim("aud")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuer::KeySource;
    use serde_json::json;
    use std::sync::Arc;

    fn issuer(aud: &[&str]) -> TrustedIssuer {
        TrustedIssuer {
            issuer: Arc::from("https://iss"),
            audiences: aud.iter().map(|a| Box::from(*a)).collect(),
            any_audience: false,
            keys: KeySource::Static(Arc::new(crate::keys::cache::Snapshot {
                keys: crate::keys::KeySet::default(),
                fetched_at: tokio::time::Instant::now(),
                ttl: std::time::Duration::MAX,
                generation: 0,
            })),
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    const NOW: f64 = 1_700_000_000.0;

    fn check(c: Value) -> Result<f64, InvalidToken> {
        check_claims(&claims(c), &issuer(&["api"]), 30, NOW, TypPolicy::Lenient, false)
    }

    #[test]
    fn exp_is_required_and_checked_with_leeway() {
        assert_eq!(check(json!({"iss": "https://iss", "aud": "api"})), Err(InvalidToken::MissingExpiry));
        assert_eq!(check(json!({"iss": "https://iss", "aud": "api", "exp": NOW - 31.0})), Err(InvalidToken::Expired));
        assert!(check(json!({"iss": "https://iss", "aud": "api", "exp": NOW - 29.0})).is_ok());
        assert_eq!(
            check(json!({"iss": "https://iss", "aud": "api", "exp": "9999999999"})),
            Err(InvalidToken::InvalidClaim("exp"))
        );
        assert!(check(json!({"iss": "https://iss", "aud": "api", "exp": NOW + 10.5})).is_ok());
    }

    #[test]
    fn nbf_and_iat_in_the_future_are_refused() {
        let base = json!({"iss": "https://iss", "aud": "api", "exp": NOW + 600.0});
        let mut c = base.clone();
        c["nbf"] = json!(NOW + 31.0);
        assert_eq!(check(c), Err(InvalidToken::NotYetValid));
        let mut c = base.clone();
        c["nbf"] = json!(NOW + 29.0);
        assert!(check(c).is_ok());
        let mut c = base;
        c["iat"] = json!(NOW + 3600.0);
        assert_eq!(check(c), Err(InvalidToken::IssuedInFuture));
    }

    #[test]
    fn audience_rules() {
        let ok = |aud: Value| check(json!({"iss": "https://iss", "exp": NOW + 60.0, "aud": aud}));
        assert!(ok(json!("api")).is_ok());
        assert!(ok(json!(["other", "api"])).is_ok());
        assert_eq!(ok(json!("other")), Err(InvalidToken::WrongAudience));
        assert_eq!(ok(json!([])), Err(InvalidToken::WrongAudience));
        assert_eq!(ok(json!(["api", 1])), Err(InvalidToken::InvalidClaim("aud")));
        assert_eq!(ok(json!({"api": true})), Err(InvalidToken::InvalidClaim("aud")));
        assert_eq!(check(json!({"iss": "https://iss", "exp": NOW + 60.0})), Err(InvalidToken::WrongAudience));
    }

    #[test]
    fn issuer_must_match_exactly() {
        for iss in [json!("https://iss/"), json!("https://is"), json!(["https://iss"])] {
            assert!(check(json!({"iss": iss, "aud": "api", "exp": NOW + 60.0})).is_err());
        }
    }

    #[test]
    fn strict_mode_requires_rfc9068_claims() {
        let c = claims(
            json!({"iss": "https://iss", "aud": "api", "exp": NOW + 60.0, "sub": "s", "client_id": "c", "iat": NOW, "jti": "j"}),
        );
        let i = issuer(&["api"]);
        assert!(check_claims(&c, &i, 30, NOW, TypPolicy::StrictRfc9068, true).is_ok());
        assert_eq!(check_claims(&c, &i, 30, NOW, TypPolicy::StrictRfc9068, false), Err(InvalidToken::UnacceptableType));
        for missing in ["sub", "client_id", "iat", "jti"] {
            let mut c = c.clone();
            c.remove(missing);
            assert_eq!(
                check_claims(&c, &i, 30, NOW, TypPolicy::StrictRfc9068, true),
                Err(InvalidToken::MissingClaim(missing))
            );
        }
    }
}
