//! Helpers shared by the integration tests: a protected `/me` route, one way to call a router and
//! read its answer, and JWT segment helpers. Each test file uses a subset, hence `dead_code`.
//!
//! The OpenID Provider harness lives next door in `oidc_provider.rs`; the files that need it
//! include it with `#[path]`.

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::{AccessTokenClaims, BearerGuard, Claims};
use http::{Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

/// The protected handler: answers the token's `sub`.
pub async fn me(Claims(claims): Claims<AccessTokenClaims>) -> String {
    claims.sub.unwrap_or_default()
}

/// `GET /me` behind `guard`, on `route_layer`.
pub fn protected(guard: &BearerGuard) -> Router {
    Router::new().route("/me", get(me)).route_layer(guard.layer())
}

/// What came back: status, `WWW-Authenticate`, body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub challenge: Option<String>,
    pub body: String,
}

impl Answer {
    /// Reads an in-process response.
    pub async fn of(response: Response) -> Self {
        let status = response.status();
        let challenge = response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
        let body = String::from_utf8(to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
        Answer { status, challenge, body }
    }

    /// Reads a response that came over the network.
    pub async fn of_reqwest(response: reqwest::Response) -> Self {
        let status = response.status();
        let challenge = response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.expect("read body");
        Answer { status, challenge, body }
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// Sends `request` to `app` in-process.
pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    Answer::of(app.clone().oneshot(request).await.unwrap()).await
}

/// `GET /me` with `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> Request<Body> {
    Request::get("/me").header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap()
}

/// `GET /me`, with the token as a Bearer header or without any.
pub async fn call(app: &Router, token: Option<&str>) -> Answer {
    let request = match token {
        Some(token) => bearer(token),
        None => Request::get("/me").body(Body::empty()).unwrap(),
    };
    send(app, request).await
}

/// Unpadded base64url (RFC 7515 §2).
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Now, in whole seconds since the epoch (a NumericDate).
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Now, in fractional seconds since the epoch (NumericDates may be fractional).
pub fn now_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The three segments of a compact JWS.
pub fn split3(token: &str) -> (&str, &str, &str) {
    let mut parts = token.splitn(3, '.');
    (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap())
}

/// One base64url segment decoded as JSON.
pub fn decode_json(segment: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(segment).unwrap_or_else(|e| panic!("segment is not base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("segment is not JSON: {e}"))
}

/// Segment `index` of a compact JWT decoded as JSON: 0 the header, 1 the claims.
pub fn decode_part(token: &str, index: usize) -> Value {
    decode_json(token.split('.').nth(index).unwrap_or_else(|| panic!("token has no part {index}: {token}")))
}
