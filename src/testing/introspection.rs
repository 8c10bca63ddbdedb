//! The [`TestIssuer`]'s RFC 7662 introspection endpoint and its opaque tokens.
//!
//! `POST <issuer>/introspect` (also the discovery document's `introspection_endpoint`) answers
//! for the opaque tokens minted with [`TestIssuer::opaque_token`]: their stored answer while
//! active, `{"active":false}` once revoked, expired or unknown. Callers authenticate as
//! [`TestIssuer::INTROSPECTION_CLIENT_ID`] with `client_secret_basic`, `client_secret_post` or
//! a `private_key_jwt` assertion (whose signature is not checked: inspect it with
//! [`TestIssuer::last_introspection_form`]); anything else gets `401 invalid_client`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value, json};

use super::keys::random_id;
use super::server::answer;
use super::tokens::now_secs;
use super::{Failure, Shared, TestIssuer, TestIssuerError, TokenBuilder};

/// The introspection side of a [`TestIssuer`].
pub(super) struct IntrospectionState {
    inner: Mutex<Inner>,
    requests: AtomicUsize,
}

struct Inner {
    tokens: HashMap<String, Record>,
    failure: Failure,
    client_id: String,
    client_secret: String,
    last_form: Option<Vec<(String, String)>>,
}

struct Record {
    answer: Map<String, Value>,
    revoked: bool,
}

impl Default for IntrospectionState {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                tokens: HashMap::new(),
                failure: Failure::None,
                client_id: TestIssuer::INTROSPECTION_CLIENT_ID.to_owned(),
                client_secret: TestIssuer::INTROSPECTION_CLIENT_SECRET.to_owned(),
                last_form: None,
            }),
            requests: AtomicUsize::new(0),
        }
    }
}

impl IntrospectionState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TestIssuer {
    /// The client id the introspection endpoint accepts by default.
    pub const INTROSPECTION_CLIENT_ID: &'static str = "test-resource-server";
    /// The client secret the introspection endpoint accepts by default.
    pub const INTROSPECTION_CLIENT_SECRET: &'static str = "test-introspection-secret";

    /// The RFC 7662 endpoint, `<issuer>/introspect` (also in the discovery document).
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/introspect", self.shared.issuer)
    }

    /// An opaque token with the defaults, to adjust and [`issue`](OpaqueTokenBuilder::issue):
    /// its introspection answer is `active: true`, `iss` this issuer, `sub`
    /// [`DEFAULT_SUBJECT`](Self::DEFAULT_SUBJECT), `aud` [`DEFAULT_AUDIENCE`](Self::DEFAULT_AUDIENCE),
    /// `client_id` [`DEFAULT_CLIENT_ID`](Self::DEFAULT_CLIENT_ID), `token_type` `Bearer`, `iat`
    /// now, `exp` now + [`DEFAULT_LIFETIME_SECS`](Self::DEFAULT_LIFETIME_SECS).
    pub fn opaque_token(&self) -> OpaqueTokenBuilder {
        let now = now_secs();
        let mut answer = Map::new();
        answer.insert("active".to_owned(), json!(true));
        answer.insert("iss".to_owned(), json!(self.shared.issuer));
        answer.insert("sub".to_owned(), json!(Self::DEFAULT_SUBJECT));
        answer.insert("aud".to_owned(), json!(Self::DEFAULT_AUDIENCE));
        answer.insert("client_id".to_owned(), json!(Self::DEFAULT_CLIENT_ID));
        answer.insert("token_type".to_owned(), json!("Bearer"));
        answer.insert("iat".to_owned(), json!(now));
        answer.insert("exp".to_owned(), json!(now + Self::DEFAULT_LIFETIME_SECS));
        OpaqueTokenBuilder { shared: Arc::clone(&self.shared), answer }
    }

    /// Revokes an opaque token: from now on it introspects as `{"active":false}`. `false` if
    /// this issuer never minted it.
    pub fn revoke(&self, token: &str) -> bool {
        self.set_revoked(token, true)
    }

    /// Revokes or reinstates an opaque token; `false` if this issuer never minted it.
    pub fn set_revoked(&self, token: &str, revoked: bool) -> bool {
        match self.shared.introspection.lock().tokens.get_mut(token) {
            Some(record) => {
                record.revoked = revoked;
                true
            }
            None => false,
        }
    }

    /// Makes the introspection endpoint misbehave (the JWKS and discovery endpoints are not
    /// affected), until set back to [`Failure::None`]. For a server that is down altogether
    /// use [`set_failure`](Self::set_failure)`(Failure::Down)`.
    pub fn set_introspection_failure(&self, failure: Failure) {
        self.shared.introspection.lock().failure = failure;
    }

    /// The client credentials the introspection endpoint accepts (default
    /// [`INTROSPECTION_CLIENT_ID`](Self::INTROSPECTION_CLIENT_ID) /
    /// [`INTROSPECTION_CLIENT_SECRET`](Self::INTROSPECTION_CLIENT_SECRET)).
    pub fn set_introspection_client(&self, client_id: impl Into<String>, client_secret: impl Into<String>) {
        let mut inner = self.shared.introspection.lock();
        inner.client_id = client_id.into();
        inner.client_secret = client_secret.into();
    }

    /// Introspection requests received so far (including refused and deliberately failed
    /// ones, excluding [`Failure::Down`]).
    pub fn introspection_requests(&self) -> usize {
        self.shared.introspection.requests.load(Ordering::Acquire)
    }

    /// The form parameters of the last introspection request (the token included: this is a
    /// test server), to inspect client assertions and hints.
    pub fn last_introspection_form(&self) -> Option<Vec<(String, String)>> {
        self.shared.introspection.lock().last_form.clone()
    }
}

/// An opaque token being minted by a [`TestIssuer`]; finish with [`issue`](Self::issue).
///
/// ```
/// # use bearer_guard::testing::TestIssuer;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let issuer = TestIssuer::start().await;
/// let token = issuer.opaque_token().subject("alice").scopes(["notes:read"]).expires_in(60).issue();
/// assert!(!token.contains('.')); // opaque: nothing to decode
/// # }
/// ```
#[must_use]
pub struct OpaqueTokenBuilder {
    shared: Arc<Shared>,
    answer: Map<String, Value>,
}

impl std::fmt::Debug for OpaqueTokenBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpaqueTokenBuilder").field("answer", &self.answer).finish_non_exhaustive()
    }
}

impl OpaqueTokenBuilder {
    /// `sub`.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.claim("sub", subject.into())
    }

    /// `aud`, a single string.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.claim("aud", audience.into())
    }

    /// `iss` of the answer (default this issuer).
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.claim("iss", issuer.into())
    }

    /// `scope`, space-separated.
    pub fn scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = scopes.into_iter().map(|s| s.as_ref().to_owned()).collect::<Vec<_>>().join(" ");
        self.claim("scope", joined)
    }

    /// `exp` = now + `secs` (negative: already expired, so it introspects as inactive).
    pub fn expires_in(self, secs: i64) -> Self {
        self.claim("exp", now_secs() + secs)
    }

    /// Sets any member of the answer, `active` included (`"true"` as a string, for example).
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.answer.insert(name.into(), value.into());
        self
    }

    /// Leaves a member out of the answer (`active` included).
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.answer.remove(name);
        self
    }

    /// Mints the token: 32 random bytes, base64url, no dots.
    pub fn issue(self) -> String {
        let token = random_id(32);
        self.shared.introspection.lock().tokens.insert(token.clone(), Record { answer: self.answer, revoked: false });
        token
    }
}

/// `POST /introspect`.
pub(super) async fn serve(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let state = &shared.introspection;
    state.requests.fetch_add(1, Ordering::AcqRel);
    let form: Vec<(String, String)> =
        form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (document, failure, authenticated) = {
        let mut inner = state.lock();
        inner.last_form = Some(form.clone());
        let authenticated = client_authenticated(&inner, &headers, &param);
        let now = now_secs();
        let document = param("token")
            .and_then(|t| inner.tokens.get(&t))
            .filter(|r| !r.revoked)
            .filter(|r| r.answer.get("exp").and_then(Value::as_i64).is_none_or(|exp| exp > now))
            .map_or_else(|| json!({"active": false}), |r| Value::Object(r.answer.clone()));
        (document, inner.failure.clone(), authenticated)
    };
    if !authenticated {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    let wants_jwt = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/token-introspection+jwt"));
    if wants_jwt && failure == Failure::None {
        return match jwt_answer(&shared, document, param("client_id")) {
            Ok(jwt) => ([(header::CONTENT_TYPE, "application/token-introspection+jwt")], jwt).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        };
    }
    answer(document, None, failure).await
}

fn client_authenticated(inner: &Inner, headers: &HeaderMap, param: &dyn Fn(&str) -> Option<String>) -> bool {
    if let Some(basic) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "))
    {
        let Some(pair) = STANDARD.decode(basic.trim()).ok().and_then(|b| String::from_utf8(b).ok()) else {
            return false;
        };
        let Some((id, secret)) = pair.split_once(':') else { return false };
        let decode = |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        return decode(id).as_deref() == Some(&inner.client_id)
            && decode(secret).as_deref() == Some(&inner.client_secret);
    }
    if param("client_assertion_type").as_deref() == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        return param("client_assertion").is_some() && param("client_id").as_deref() == Some(&inner.client_id);
    }
    param("client_id").as_deref() == Some(&inner.client_id)
        && param("client_secret").as_deref() == Some(&inner.client_secret)
}

/// An RFC 9701 answer signed with the issuer's first key.
fn jwt_answer(shared: &Arc<Shared>, document: Value, client_id: Option<String>) -> Result<String, TestIssuerError> {
    let audience = client_id.unwrap_or_else(|| shared.introspection.lock().client_id.clone());
    TokenBuilder::new(Arc::clone(shared))
        .remove_claim("sub")
        .remove_claim("client_id")
        .remove_claim("exp")
        .remove_claim("jti")
        .claim("aud", audience)
        .claim("token_introspection", document)
        .header("typ", "token-introspection+jwt")
        .sign()
}
