//! Verifying a token: header checks, key choice, signature, claims
//! (RFC 7515, RFC 7519, RFC 8725, RFC 9068).
//!
//! The algorithm is tied to the key and the allow-list, never chosen by the token; `none` never
//! verifies; `jwk`/`jku`/`x5u`/`x5c` header parameters are ignored; unknown `crit` is refused.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::claims::VerifiedToken;
use crate::error::{AuthError, InvalidToken};
use crate::issuer::{KeySource, TrustedIssuer};
use crate::keys::{AlgSet, Selection, VerifyingKey};
use crate::scope::{ScopeSources, Scopes};
use crate::token::check_syntax;
use crate::verified_cache::{self, VerifiedCache};

/// Default clock leeway for `exp`, `nbf` and `iat` (30 s).
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Largest leeway a guard accepts (5 min).
pub const MAX_LEEWAY_SECS: u64 = 300;

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
}

/// Everything needed to verify a token, shared by all requests.
pub(crate) struct Verifier {
    pub(crate) issuers: Box<[TrustedIssuer]>,
    pub(crate) allowed: AlgSet,
    pub(crate) leeway: u64,
    pub(crate) typ: TypPolicy,
    pub(crate) scopes: ScopeSources,
    pub(crate) cache: Option<VerifiedCache>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuers", &self.issuers.iter().map(|i| &*i.issuer).collect::<Vec<_>>())
            .field("allowed", &self.allowed)
            .field("leeway", &self.leeway)
            .field("typ", &self.typ)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
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
    let typ_is_at_jwt = match typ.map(str::to_ascii_lowercase).as_deref() {
        Some("at+jwt" | "application/at+jwt") => true,
        None | Some("jwt" | "application/jwt") if typ_policy == TypPolicy::Lenient => false,
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

impl Verifier {
    /// Verifies a token and returns its claims and scopes. Logs one event per refusal with
    /// the reason, the (unverified) issuer and the kid; never the token.
    pub(crate) async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let Some(cache) = &self.cache else {
            check_syntax(token)?;
            return self.verify_uncached(token).await.map(|(t, _)| t);
        };
        let key = verified_cache::hash(token);
        if let Some(entry) = cache.get(&key) {
            // Same bytes as a token that passed every check, the grammar included.
            if self.still_valid(&entry).await {
                return Ok(entry.token);
            }
            cache.remove(&key);
        }
        check_syntax(token)?;
        let (verified, issuer) = self.verify_uncached(token).await?;
        cache.insert(key, verified.clone(), issuer, now_secs());
        Ok(verified)
    }

    /// A cache hit is used only while `exp` (with leeway) has not passed and the key that
    /// verified it is still in its issuer's set.
    async fn still_valid(&self, entry: &verified_cache::Entry) -> bool {
        if now_secs() > entry.token.expires_at_secs() + self.leeway as f64 {
            return false;
        }
        match self.issuers.get(entry.issuer).map(|i| &i.keys) {
            Some(KeySource::Static(_)) => true,
            Some(KeySource::Remote(remote)) => {
                remote.current().await.is_ok_and(|snapshot| snapshot.keys.contains_kid(entry.token.key_id()))
            }
            None => false,
        }
    }

    async fn verify_uncached(&self, token: &str) -> Result<(VerifiedToken, usize), AuthError> {
        let mut parsed = match parse(token, self.allowed, self.typ) {
            Ok(parsed) => parsed,
            Err(reason) => {
                tracing::info!(reason = reason.description(), "token refused");
                return Err(AuthError::InvalidToken(reason));
            }
        };
        let result = self.verify_parsed(&mut parsed).await;
        if let Err(error) = &result {
            let iss = parsed.claims.get("iss").and_then(Value::as_str);
            tracing::info!(reason = %error, iss, kid = parsed.kid.as_deref(), "token refused");
        }
        result
    }

    async fn verify_parsed(&self, parsed: &mut Parsed<'_>) -> Result<(VerifiedToken, usize), AuthError> {
        let iss = match parsed.claims.get("iss") {
            Some(Value::String(iss)) => iss.as_str(),
            Some(_) => return Err(AuthError::InvalidToken(InvalidToken::InvalidClaim("iss"))),
            None => return Err(AuthError::InvalidToken(InvalidToken::UntrustedIssuer)),
        };
        // The unverified `iss` only picks which trusted issuer's keys to try.
        let (index, issuer) = self
            .issuers
            .iter()
            .enumerate()
            .find(|(_, i)| &*i.issuer == iss)
            .ok_or(AuthError::InvalidToken(InvalidToken::UntrustedIssuer))?;
        let kid = parsed.kid.as_deref();
        match &issuer.keys {
            KeySource::Static(snapshot) => {
                let key = selected(snapshot.keys.select(kid, parsed.alg))?;
                self.finish(issuer, key, parsed).map(|t| (t, index))
            }
            KeySource::Remote(remote) => {
                let snapshot = remote.current().await?;
                match snapshot.keys.select(kid, parsed.alg) {
                    Selection::Unknown => {
                        let fresh = remote
                            .refetch_for_unknown_key(&snapshot)
                            .await
                            .ok_or(AuthError::InvalidToken(InvalidToken::UnknownKey))?;
                        let key = selected(fresh.keys.select(kid, parsed.alg))?;
                        self.finish(issuer, key, parsed).map(|t| (t, index))
                    }
                    other => self.finish(issuer, selected(other)?, parsed).map(|t| (t, index)),
                }
            }
        }
    }

    fn finish(
        &self,
        issuer: &TrustedIssuer,
        key: &VerifyingKey,
        parsed: &mut Parsed<'_>,
    ) -> Result<VerifiedToken, AuthError> {
        check_signature(key, parsed).map_err(AuthError::InvalidToken)?;
        let expires_at = check_claims(&parsed.claims, issuer, self.leeway, now_secs(), self.typ, parsed.typ_is_at_jwt)
            .map_err(AuthError::InvalidToken)?;
        let scopes = Scopes::from_claims(&parsed.claims, &self.scopes);
        Ok(VerifiedToken::new(
            Value::Object(std::mem::take(&mut parsed.claims)),
            scopes,
            Arc::clone(&issuer.issuer),
            key.kid.clone(),
            expires_at,
        ))
    }
}

fn selected(selection: Selection<'_>) -> Result<&VerifyingKey, AuthError> {
    match selection {
        Selection::Found(key) => Ok(key),
        Selection::Unknown => Err(AuthError::InvalidToken(InvalidToken::UnknownKey)),
        Selection::AlgorithmMismatch => Err(AuthError::InvalidToken(InvalidToken::AlgorithmKeyMismatch)),
        Selection::Ambiguous => Err(AuthError::InvalidToken(InvalidToken::AmbiguousKey)),
    }
}

pub(crate) fn check_signature(key: &VerifyingKey, parsed: &Parsed<'_>) -> Result<(), InvalidToken> {
    if !key.algorithms.contains(parsed.alg) {
        return Err(InvalidToken::AlgorithmKeyMismatch);
    }
    match jsonwebtoken::crypto::verify(parsed.signature, parsed.signing_input.as_bytes(), &key.key, parsed.alg) {
        Ok(true) => Ok(()),
        _ => Err(InvalidToken::BadSignature),
    }
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

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

fn audience_matches(aud: Option<&Value>, accepted: &[Box<str>]) -> Result<bool, InvalidToken> {
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

/// A JSON object whose top-level member names must be unique (RFC 7519 §4 lets parsers
/// reject duplicates; accepting "last wins" lets two parsers disagree on a claim).
struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with unique member names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&key) {
                        return Err(de::Error::custom("duplicate claim"));
                    }
                    map.insert(key, value);
                }
                Ok(StrictObject(map))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
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
