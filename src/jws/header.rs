//! The JWS compact serialization: splitting a token, decoding and checking its header, parsing
//! its claims as a strict JSON object (RFC 7515, RFC 7519, RFC 8725). No key is involved yet.
//!
//! `none` never parses; `jwk`/`jku`/`x5u`/`x5c` header parameters are ignored; unknown `crit`
//! is refused.

use crate::strict_json::StrictObject;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::error::InvalidToken;
use crate::keys::AlgSet;

/// Which `typ` header values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub(crate) enum TypPolicy {
    /// Absent, `JWT`, `at+jwt` or `application/at+jwt` (the default).
    #[default]
    Lenient,
    /// RFC 9068: `typ` must be `at+jwt` (or `application/at+jwt`), and `sub`, `client_id`,
    /// `iat` and `jti` must be present.
    StrictRfc9068,
    /// OpenID Connect Back-Channel Logout: `typ` absent or `logout+jwt`.
    Logout,
}

/// A token split and decoded, not yet verified.
pub(crate) struct Parsed<'t> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) typ_is_at_jwt: bool,
    pub(crate) claims: Map<String, Value>,
    pub(crate) signing_input: &'t str,
    pub(crate) signature: &'t str,
}

/// Splits, decodes and checks the header; parses the claims. No key is involved yet.
pub(crate) fn parse(token: &str, allowed: AlgSet, typ_policy: TypPolicy) -> Result<Parsed<'_>, InvalidToken> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(InvalidToken::Malformed)?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(InvalidToken::Malformed)?;
    if payload_b64.contains('.') {
        return Err(if token.split('.').count() == 5 { InvalidToken::Encrypted } else { InvalidToken::Malformed });
    }
    if signature.is_empty() {
        return Err(InvalidToken::BadSignature);
    }
    let header_json = URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| InvalidToken::Malformed)?;
    // A JSON object with unique member names (RFC 7515 §4), like the claims.
    let header = serde_json::from_slice::<StrictObject>(&header_json).map_err(|_| InvalidToken::Malformed)?.0;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        None | Some(Value::Null) => return Err(InvalidToken::UnsupportedAlgorithm),
        Some(_) => return Err(InvalidToken::Malformed),
    };
    // `none` in any spelling fails here too: it is not a jsonwebtoken algorithm name.
    let alg: Algorithm = alg.parse().map_err(|_| InvalidToken::UnsupportedAlgorithm)?;
    if !allowed.contains(alg) {
        return Err(InvalidToken::UnsupportedAlgorithm);
    }
    if header.contains_key("crit") {
        // No JWS extension is understood, so any `crit` lists something unknown (RFC 7515 §4.1.11).
        return Err(InvalidToken::UnsupportedCritical);
    }
    let kid = optional_string(&header, "kid")?;
    let typ = optional_string(&header, "typ")?;
    let typ = typ.map(str::to_ascii_lowercase);
    let typ_is_at_jwt = match (typ_policy, typ.as_deref()) {
        (TypPolicy::Logout, None | Some("logout+jwt" | "application/logout+jwt")) => false,
        (TypPolicy::Logout, _) => return Err(InvalidToken::UnacceptableType),
        (_, Some("at+jwt" | "application/at+jwt")) => true,
        (TypPolicy::Lenient, None | Some("jwt" | "application/jwt")) => false,
        _ => return Err(InvalidToken::UnacceptableType),
    };
    let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| InvalidToken::Malformed)?;
    let claims = serde_json::from_slice::<StrictObject>(&payload).map_err(|_| InvalidToken::Malformed)?.0;
    Ok(Parsed { alg, kid: kid.map(str::to_owned), typ_is_at_jwt, claims, signing_input, signature })
}

/// A header member that must be a string when present.
fn optional_string<'h>(header: &'h Map<String, Value>, name: &str) -> Result<Option<&'h str>, InvalidToken> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(InvalidToken::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn token(header: Value, claims: Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&claims))
    }

    #[test]
    fn none_is_refused_in_every_spelling() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let t = token(json!({"alg": alg}), json!({}));
            assert_eq!(
                parse(&t, AlgSet::ASYMMETRIC.union(AlgSet::HMAC), TypPolicy::Lenient).err(),
                Some(InvalidToken::UnsupportedAlgorithm)
            );
        }
    }

    #[test]
    fn alg_outside_the_allow_list_is_refused() {
        let t = token(json!({"alg": "HS256"}), json!({}));
        assert_eq!(parse(&t, AlgSet::ASYMMETRIC, TypPolicy::Lenient).err(), Some(InvalidToken::UnsupportedAlgorithm));
        let t = token(json!({}), json!({}));
        assert_eq!(parse(&t, AlgSet::ASYMMETRIC, TypPolicy::Lenient).err(), Some(InvalidToken::UnsupportedAlgorithm));
    }

    #[test]
    fn header_must_be_an_object_without_crit() {
        let h = URL_SAFE_NO_PAD.encode(r#"["RS256","k",null,null]"#);
        let p = b64(&json!({}));
        assert_eq!(
            parse(&format!("{h}.{p}.c2ln"), AlgSet::ASYMMETRIC, TypPolicy::Lenient).err(),
            Some(InvalidToken::Malformed)
        );
        let t = token(json!({"alg": "RS256", "crit": null}), json!({}));
        assert_eq!(parse(&t, AlgSet::ASYMMETRIC, TypPolicy::Lenient).err(), Some(InvalidToken::UnsupportedCritical));
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","alg":"ES256"}"#);
        assert_eq!(
            parse(&format!("{h}.{p}.c2ln"), AlgSet::ASYMMETRIC, TypPolicy::Lenient).err(),
            Some(InvalidToken::Malformed)
        );
    }

    #[test]
    fn crit_is_refused() {
        let t = token(json!({"alg": "RS256", "crit": ["exp"], "exp": 1}), json!({}));
        assert_eq!(parse(&t, AlgSet::ASYMMETRIC, TypPolicy::Lenient).err(), Some(InvalidToken::UnsupportedCritical));
    }

    #[test]
    fn typ_rules() {
        for (typ, lenient, strict) in [
            (None, true, false),
            (Some("JWT"), true, false),
            (Some("at+jwt"), true, true),
            (Some("application/at+jwt"), true, true),
            (Some("AT+JWT"), true, true),
            (Some("dpop+jwt"), false, false),
            (Some("JOSE"), false, false),
        ] {
            let mut h = json!({"alg": "RS256"});
            if let Some(t) = typ {
                h["typ"] = json!(t);
            }
            let t = token(h, json!({}));
            assert_eq!(parse(&t, AlgSet::ASYMMETRIC, TypPolicy::Lenient).is_ok(), lenient, "{typ:?}");
            assert_eq!(parse(&t, AlgSet::ASYMMETRIC, TypPolicy::StrictRfc9068).is_ok(), strict, "{typ:?}");
        }
    }

    #[test]
    fn segments_are_counted() {
        assert_eq!(parse("a.b", AlgSet::ASYMMETRIC, TypPolicy::Lenient).err(), Some(InvalidToken::Malformed));
        assert_eq!(parse("a.b.c.d", AlgSet::ASYMMETRIC, TypPolicy::Lenient).err(), Some(InvalidToken::Malformed));
        assert_eq!(parse("a.b.c.d.e", AlgSet::ASYMMETRIC, TypPolicy::Lenient).err(), Some(InvalidToken::Encrypted));
    }

    #[test]
    fn duplicate_claims_are_refused() {
        let h = b64(&json!({"alg": "RS256"}));
        let p = URL_SAFE_NO_PAD.encode(r#"{"sub":"a","sub":"b"}"#);
        assert_eq!(
            parse(&format!("{h}.{p}.c2ln"), AlgSet::ASYMMETRIC, TypPolicy::Lenient).err(),
            Some(InvalidToken::Malformed)
        );
    }

    #[test]
    fn header_with_jwk_or_jku_is_parsed_but_ignored() {
        let t = token(
            json!({"alg": "RS256", "jku": "https://evil", "jwk": {"kty": "RSA"}, "x5u": "https://evil", "x5c": ["AAAA"]}),
            json!({"iss": "x"}),
        );
        assert!(parse(&t, AlgSet::ASYMMETRIC, TypPolicy::Lenient).is_ok());
    }
}
