//! A cached verdict belongs to the key that verified the token, not to its `kid`: when the
//! issuer replaces the key under a `kid` (or replaces a kid-less key), a token signed by the old
//! key is refused at once, even though it was verified and cached before the rotation.
//!
//! The JWKS is served by a small loopback server whose document the test swaps; the keys come
//! from two `TestIssuer`s (the old key and the new one).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerGuard, KeyCachePolicy};
use http::StatusCode;
use serde_json::{Value, json};
use support::{Answer, bearer, protected};
use tower::ServiceExt;

/// Serves whatever JWKS document the test puts in `doc`.
async fn jwks_server(doc: Arc<Mutex<Value>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/jwks", get(move || async move { axum::Json(doc.lock().unwrap().clone()) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/jwks")
}

/// The first key of `issuer`'s JWKS, with its `kid` replaced (or removed for `None`).
fn key_with_kid(issuer: &TestIssuer, kid: Option<&str>) -> Value {
    let mut key = issuer.jwks()["keys"][0].clone();
    match kid {
        Some(kid) => key["kid"] = json!(kid),
        None => {
            key.as_object_mut().unwrap().remove("kid");
        }
    }
    key
}

fn guard_for(old: &TestIssuer, jwks_uri: String) -> BearerGuard {
    let mut policy = KeyCachePolicy::default();
    policy.cooldown = Duration::from_millis(1);
    BearerGuard::builder()
        .issuer(old.issuer())
        .audience(TestIssuer::DEFAULT_AUDIENCE)
        .jwks_uri(jwks_uri)
        .key_cache_policy(policy)
        .build()
        .unwrap()
}

async fn status(app: &Router, token: &str) -> StatusCode {
    Answer::of(app.clone().oneshot(bearer(token)).await.unwrap()).await.status
}

#[tokio::test]
async fn a_key_replaced_under_the_same_kid_ends_its_cached_verdicts() {
    let old = TestIssuer::start().await;
    let new = TestIssuer::start().await;
    let kid = old.kids()[0].clone();
    let doc = Arc::new(Mutex::new(json!({ "keys": [key_with_kid(&old, Some(&kid))] })));
    let app = protected(&guard_for(&old, jwks_server(Arc::clone(&doc)).await));

    let token = old.token().subject("alice").sign().unwrap();
    assert_eq!(status(&app, &token).await, StatusCode::OK, "good token before the rotation");
    assert_eq!(status(&app, &token).await, StatusCode::OK, "and again, from the verified-token cache");

    // The issuer replaces the key under the same kid; a token with an unknown kid makes the
    // guard refetch the set.
    *doc.lock().unwrap() = json!({ "keys": [key_with_kid(&new, Some(&kid)), key_with_kid(&new, Some("other"))] });
    let unknown = old.token().kid("not-yet-known").sign().unwrap();
    assert_eq!(status(&app, &unknown).await, StatusCode::UNAUTHORIZED);

    assert_eq!(status(&app, &token).await, StatusCode::UNAUTHORIZED, "old key's cached token after the rotation");
    let fresh_from_old_key = old.token().subject("mallory").sign().unwrap();
    assert_eq!(status(&app, &fresh_from_old_key).await, StatusCode::UNAUTHORIZED);

    // Control: a token signed by the key now published under that kid passes.
    let good = new.token().issuer(old.issuer()).kid(kid.as_str()).subject("bob").sign().unwrap();
    assert_eq!(status(&app, &good).await, StatusCode::OK);
}

#[tokio::test]
async fn a_replaced_kidless_key_ends_its_cached_verdicts() {
    let old = TestIssuer::start().await;
    let new = TestIssuer::start().await;
    let doc = Arc::new(Mutex::new(json!({ "keys": [key_with_kid(&old, None)] })));
    let app = protected(&guard_for(&old, jwks_server(Arc::clone(&doc)).await));

    let token = old.token().remove_header("kid").sign().unwrap();
    assert_eq!(status(&app, &token).await, StatusCode::OK, "good kid-less token before the rotation");
    assert_eq!(status(&app, &token).await, StatusCode::OK, "and again, from the verified-token cache");

    *doc.lock().unwrap() = json!({ "keys": [key_with_kid(&new, None)] });
    // A token naming a kid the set does not have makes the guard refetch.
    let unknown = old.token().kid("not-yet-known").sign().unwrap();
    assert_eq!(status(&app, &unknown).await, StatusCode::UNAUTHORIZED);

    assert_eq!(status(&app, &token).await, StatusCode::UNAUTHORIZED, "old key's cached token after the rotation");
    let good = new.token().issuer(old.issuer()).remove_header("kid").sign().unwrap();
    assert_eq!(status(&app, &good).await, StatusCode::OK);
}
