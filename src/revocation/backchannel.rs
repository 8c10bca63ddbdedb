//! OpenID Connect Back-Channel Logout 1.0: the identity provider POSTs a signed
//! `logout_token`; once it verifies, the subject and/or session it names is revoked on every
//! replica. Mount it with [`BearerGuard::backchannel_logout`](crate::BearerGuard::backchannel_logout).
//!
//! Checks (spec §2.6): signature with a trusted issuer's keys; `typ` `logout+jwt` when
//! present; `iss`; `aud` (the configured logout audiences, else the issuer's audiences);
//! `iat` present and not older than the configured max age; `exp` when present; `jti`
//! present and used once; `events` holding the back-channel-logout member (a JSON object);
//! `sub` and/or `sid`; no `nonce`. Answers `200` (with `Cache-Control: no-store`), or `400`
//! `{"error":"invalid_request","error_description":"…"}`; `503` when the revocation could
//! not be recorded or the replay store can't be reached (the provider may retry).

use std::time::{Duration, UNIX_EPOCH};

use axum_core::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{MAX_ID_BYTES, RevocationError, Revocations};
use crate::clock::now_secs;
use crate::error::AuthError;
use crate::jws::header::TypPolicy;
use crate::jws::rules::audience_matches;
use crate::jws::verifier::JwsVerifier;

/// The `events` member a logout token must carry.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Why a back-channel logout request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutError {
    /// Not a form POST with exactly one non-empty `logout_token`.
    #[error("{0}")]
    BadRequest(&'static str),
    /// The logout token failed a check.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// The logout token's `jti` was used before.
    #[error("logout token has already been used")]
    Replayed,
    /// The revocation could not be recorded or shared, or the replay store is out of reach.
    #[error("logout could not be recorded, try again later")]
    Unavailable,
}

impl LogoutError {
    /// `400`, or `503` for [`Unavailable`](Self::Unavailable).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for LogoutError {
    fn into_response(self) -> Response {
        let code = if matches!(self, Self::Unavailable) { "temporarily_unavailable" } else { "invalid_request" };
        let body = serde_json::json!({ "error": code, "error_description": self.to_string() }).to_string();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(self, Self::Unavailable) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The `200` answer of a processed logout.
pub(crate) fn ok_response() -> Response {
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Takes `logout_token` from a form body.
pub(crate) fn logout_token_from_form<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
    max_bytes: usize,
) -> Result<std::borrow::Cow<'b, str>, LogoutError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form {
        return Err(LogoutError::BadRequest("expected an application/x-www-form-urlencoded body"));
    }
    let mut token = None;
    for (name, value) in form_urlencoded::parse(body) {
        if name == "logout_token" {
            if token.is_some() {
                return Err(LogoutError::BadRequest("logout_token is repeated"));
            }
            token = Some(value);
        }
    }
    let token = token.ok_or(LogoutError::BadRequest("logout_token is missing"))?;
    if token.is_empty() {
        return Err(LogoutError::BadRequest("logout_token is missing"));
    }
    if token.len() > max_bytes {
        return Err(LogoutError::BadRequest("logout_token is too large"));
    }
    Ok(token)
}

/// Verifies a logout token and revokes what it names.
pub(crate) async fn process(verifier: &JwsVerifier, revocations: &Revocations, token: &str) -> Result<(), LogoutError> {
    let (claims, issuer) = match verifier.verify_signature_only(token, TypPolicy::Logout).await {
        Ok(verified) => verified,
        Err(AuthError::InvalidToken(reason)) => {
            tracing::info!(reason = reason.description(), "logout token refused");
            return Err(LogoutError::InvalidToken(reason.description()));
        }
        Err(other) => {
            tracing::warn!(reason = %other, "logout token not checked: keys unavailable");
            return Err(LogoutError::Unavailable);
        }
    };
    let logout_audiences = &revocations.inner.config.logout_audiences;
    let audiences = if logout_audiences.is_empty() { &issuer.audiences[..] } else { logout_audiences };
    let checked = check_claims(
        &claims,
        &issuer.issuer,
        audiences,
        verifier.leeway as f64,
        revocations.logout_max_age(),
        now_secs(),
    )
    .inspect_err(|reason| tracing::info!(reason = %reason, iss = %issuer.issuer, "logout token refused"))?;
    let before = UNIX_EPOCH + Duration::from_secs_f64((checked.iat + 1.0).clamp(0.0, 1e12));
    // Revoke first: a replay of a processed token then changes nothing, and a failure leaves
    // the `jti` unused so the provider can retry.
    let recorded = async {
        if let Some(sub) = checked.sub {
            revocations.revoke_subject(&*issuer.issuer, sub, before).await?;
        }
        if let Some(sid) = checked.sid {
            revocations.revoke_session(&*issuer.issuer, sid, before).await?;
        }
        Ok::<(), RevocationError>(())
    };
    if let Err(error) = recorded.await {
        tracing::warn!(%error, iss = %issuer.issuer, "logout not recorded");
        return Err(LogoutError::Unavailable);
    }
    let key = replay_key(&issuer.issuer, checked.jti);
    let ttl = revocations.logout_max_age() + Duration::from_secs(2 * verifier.leeway);
    match revocations.use_once(&key, ttl).await {
        Ok(true) => {
            tracing::info!(iss = %issuer.issuer, sub = checked.sub.is_some(), sid = checked.sid.is_some(), "back-channel logout processed");
            Ok(())
        }
        Ok(false) => {
            tracing::info!(iss = %issuer.issuer, "logout token refused: jti already used");
            Err(LogoutError::Replayed)
        }
        Err(error) => {
            tracing::warn!(%error, "logout token refused: replay store unavailable (fail closed)");
            Err(LogoutError::Unavailable)
        }
    }
}

fn replay_key(issuer: &str, jti: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(issuer.as_bytes());
    hash.update([0]);
    hash.update(jti.as_bytes());
    let digest = hash.finalize();
    let mut key = String::with_capacity(7 + 64);
    key.push_str("logout:");
    for byte in digest {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

#[derive(Debug)]
struct Checked<'c> {
    iat: f64,
    jti: &'c str,
    sub: Option<&'c str>,
    sid: Option<&'c str>,
}

fn text<'c>(claims: &'c Map<String, Value>, name: &str, reason: &'static str) -> Result<Option<&'c str>, LogoutError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_BYTES => Ok(Some(s)),
        Some(_) => Err(LogoutError::InvalidToken(reason)),
    }
}

/// The claim rules of a logout token (Back-Channel Logout 1.0 §2.4, §2.6), at `now`.
fn check_claims<'c>(
    claims: &'c Map<String, Value>,
    issuer: &str,
    audiences: &[Box<str>],
    leeway: f64,
    max_age: Duration,
    now: f64,
) -> Result<Checked<'c>, LogoutError> {
    let bad = LogoutError::InvalidToken;
    if text(claims, "iss", "iss claim is invalid")? != Some(issuer) {
        return Err(bad("issuer is not trusted"));
    }
    if !audience_matches(claims.get("aud"), audiences).map_err(|_| bad("aud claim is invalid"))? {
        return Err(bad("logout token is not meant for this audience"));
    }
    let iat = match claims.get("iat") {
        None => return Err(bad("iat claim is required")),
        Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()).ok_or(bad("iat claim is invalid"))?,
        Some(_) => return Err(bad("iat claim is invalid")),
    };
    if iat > now + leeway {
        return Err(bad("logout token is issued in the future"));
    }
    if iat < now - max_age.as_secs_f64() - leeway {
        return Err(bad("logout token is too old"));
    }
    match claims.get("exp") {
        None => {}
        Some(Value::Number(n)) => {
            let exp = n.as_f64().filter(|v| v.is_finite()).ok_or(bad("exp claim is invalid"))?;
            if now > exp + leeway {
                return Err(bad("logout token has expired"));
            }
        }
        Some(_) => return Err(bad("exp claim is invalid")),
    }
    let jti = text(claims, "jti", "jti claim is invalid")?.ok_or(bad("jti claim is required"))?;
    match claims.get("events") {
        Some(Value::Object(events)) => match events.get(BACKCHANNEL_LOGOUT_EVENT) {
            Some(Value::Object(_)) => {}
            Some(_) => return Err(bad("events claim is invalid")),
            None => return Err(bad("events claim lacks the back-channel logout event")),
        },
        None => return Err(bad("events claim lacks the back-channel logout event")),
        Some(_) => return Err(bad("events claim is invalid")),
    }
    let sub = text(claims, "sub", "sub claim is invalid")?;
    let sid = text(claims, "sid", "sid claim is invalid")?;
    if sub.is_none() && sid.is_none() {
        return Err(bad("logout token names neither sub nor sid"));
    }
    if claims.contains_key("nonce") {
        return Err(bad("logout token must not contain a nonce"));
    }
    Ok(Checked { iat, jti, sub, sid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Map<String, Value> {
        let Value::Object(m) = json!({
            "iss": "https://idp", "aud": "rp", "iat": 1000, "jti": "j1", "sub": "alice",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} }
        }) else {
            unreachable!()
        };
        m
    }

    fn check(claims: &Map<String, Value>) -> Result<Checked<'_>, LogoutError> {
        check_claims(claims, "https://idp", &[Box::from("rp")], 30.0, Duration::from_secs(300), 1010.0)
    }

    #[test]
    fn the_good_claims_pass() {
        let claims = good();
        let checked = check(&claims).unwrap();
        assert_eq!((checked.jti, checked.sub, checked.sid), ("j1", Some("alice"), None));
    }

    #[test]
    fn each_rule_refuses_its_variant() {
        type Mutation = Box<dyn Fn(&mut Map<String, Value>)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("issuer is not trusted", Box::new(|c| drop(c.insert("iss".into(), json!("https://evil"))))),
            ("logout token is not meant for this audience", Box::new(|c| drop(c.insert("aud".into(), json!("x"))))),
            ("iat claim is required", Box::new(|c| drop(c.remove("iat")))),
            ("logout token is too old", Box::new(|c| drop(c.insert("iat".into(), json!(600))))),
            ("logout token is issued in the future", Box::new(|c| drop(c.insert("iat".into(), json!(1100))))),
            ("logout token has expired", Box::new(|c| drop(c.insert("exp".into(), json!(900))))),
            ("jti claim is required", Box::new(|c| drop(c.remove("jti")))),
            ("events claim lacks the back-channel logout event", Box::new(|c| drop(c.remove("events")))),
            (
                "events claim lacks the back-channel logout event",
                Box::new(|c| drop(c.insert("events".into(), json!({})))),
            ),
            (
                "events claim is invalid",
                Box::new(|c| drop(c.insert("events".into(), json!([BACKCHANNEL_LOGOUT_EVENT])))),
            ),
            ("logout token names neither sub nor sid", Box::new(|c| drop(c.remove("sub")))),
            ("logout token must not contain a nonce", Box::new(|c| drop(c.insert("nonce".into(), json!("n"))))),
        ];
        for (expected, mutate) in cases {
            let mut claims = good();
            mutate(&mut claims);
            assert_eq!(check(&claims).err(), Some(LogoutError::InvalidToken(expected)), "{expected}");
        }
    }
}
