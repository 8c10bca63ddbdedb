//! The layer answers a token the verified-token cache vouches for without a future of its own
//! (`Pipeline::run_now`). These tests hold that fast path, through the layer, to the rules of a
//! fresh verification: a cached verdict ends at `exp`, ends when its key leaves the issuer's
//! set at the key TTL, is exact to the byte, and route scopes still apply. Each refusal comes
//! with a control that passes.

mod support;

use std::time::Duration;

use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerGuard, KeyCachePolicy};
use http::StatusCode;
use support::{call, now_f64, protected};

fn guard(issuer: &TestIssuer, policy: KeyCachePolicy) -> BearerGuard {
    BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(TestIssuer::DEFAULT_AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .leeway(Duration::ZERO)
        .key_cache_policy(policy)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_cached_token_is_refused_once_it_expires() {
    let issuer = TestIssuer::start().await;
    let app = protected(&guard(&issuer, KeyCachePolicy::default()));
    let token = issuer.token().subject("alice").expires_in(2).sign().unwrap();
    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::OK, "again, from the cache");

    let exp = support::decode_part(&token, 1)["exp"].as_f64().unwrap();
    tokio::time::sleep(Duration::from_secs_f64((exp + 1.0 - now_f64()).max(0.0))).await;
    let answer = call(&app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "the cached verdict ended at exp");
    assert!(answer.challenge.as_deref().unwrap_or_default().contains("error=\"invalid_token\""), "{answer:?}");

    let fresh = issuer.token().subject("alice").sign().unwrap();
    assert_eq!(call(&app, Some(&fresh)).await.status, StatusCode::OK, "control: a fresh token passes");
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_key_leaves_the_set_at_the_key_ttl() {
    let issuer = TestIssuer::start().await;
    let mut policy = KeyCachePolicy::default();
    policy.default_ttl = Duration::from_secs(1);
    policy.min_ttl = Duration::from_secs(1);
    policy.cooldown = Duration::from_millis(1);
    let app = protected(&guard(&issuer, policy));
    let token = issuer.token().subject("alice").sign().unwrap();
    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::OK, "again, from the cache");

    // The issuer retires the key; nobody tells the guard, whose key set expires after 1 s.
    issuer.rotate().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::UNAUTHORIZED, "the retired key's cached token");
    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::UNAUTHORIZED, "and again");

    let fresh = issuer.token().subject("alice").sign().unwrap();
    assert_eq!(call(&app, Some(&fresh)).await.status, StatusCode::OK, "control: a token of the new key passes");
    assert_eq!(call(&app, Some(&fresh)).await.status, StatusCode::OK, "control, from the cache");
}

#[tokio::test]
async fn a_cache_hit_is_exact_to_the_byte() {
    let issuer = TestIssuer::start().await;
    let app = protected(&guard(&issuer, KeyCachePolicy::default()));
    let token = issuer.token().subject("alice").sign().unwrap();
    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::OK, "cached");

    // The same token with its last character changed, cut short, or lengthened.
    let last = token.chars().last().unwrap();
    let swapped = if last == 'A' { 'B' } else { 'A' };
    let variants =
        [format!("{}{swapped}", &token[..token.len() - 1]), token[..token.len() - 1].to_owned(), format!("{token}A")];
    for variant in &variants {
        assert_eq!(call(&app, Some(variant)).await.status, StatusCode::UNAUTHORIZED, "{} bytes", variant.len());
    }
    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::OK, "control: the cached token itself");
}

#[tokio::test]
async fn route_scopes_apply_to_cached_tokens() {
    let issuer = TestIssuer::start().await;
    let guard = guard(&issuer, KeyCachePolicy::default());
    let app = axum::Router::new()
        .route("/me", axum::routing::get(support::me))
        .route_layer(guard.layer().require_scopes(["notes:write"]).unwrap());
    let reader = issuer.token().scopes(["notes:read"]).sign().unwrap();
    let writer = issuer.token().scopes(["notes:write"]).sign().unwrap();
    for round in ["verified", "cached"] {
        let answer = call(&app, Some(&reader)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{round}");
        assert!(answer.challenge.as_deref().unwrap_or_default().contains("insufficient_scope"), "{answer:?}");
        assert_eq!(call(&app, Some(&writer)).await.status, StatusCode::OK, "control, {round}");
    }
}
