//! OpenID Connect Back-Channel Logout 1.0 with logout tokens minted by TestIssuer: the good
//! token is accepted (200) and revokes the subject or session; each malformed variant is
//! refused with 400 `invalid_request` and revokes nothing, next to its good-token control.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use bearer_guard::revocation::{BACKCHANNEL_LOGOUT_EVENT, RevocationConfig};
use bearer_guard::testing::{TestIssuer, TokenBuilder};
use bearer_guard::{AuthError, BearerGuard, InvalidToken, StaticKey};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

const AUDIENCE: &str = "https://notes.example.test";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn guard(issuer: &TestIssuer, config: RevocationConfig) -> BearerGuard {
    BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .revocation(config)
        .build()
        .unwrap()
}

/// A good logout token for `sub`, with a fresh `jti`.
fn logout(issuer: &TestIssuer, sub: &str) -> TokenBuilder {
    issuer
        .token()
        .audience(AUDIENCE)
        .subject(sub)
        .remove_claim("scope")
        .remove_claim("client_id")
        .claim("events", json!({ BACKCHANNEL_LOGOUT_EVENT: {} }))
        .header("typ", "logout+jwt")
}

async fn post(guard: &BearerGuard, content_type: &str, body: String) -> (StatusCode, Option<Value>, Option<String>) {
    let app: Router = Router::new().route("/backchannel-logout", guard.backchannel_logout());
    let request =
        Request::post("/backchannel-logout").header("content-type", content_type).body(Body::from(body)).unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let cache = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, serde_json::from_slice(&bytes).ok(), cache)
}

async fn post_token(guard: &BearerGuard, token: &str) -> (StatusCode, Option<Value>, Option<String>) {
    post(guard, "application/x-www-form-urlencoded", format!("logout_token={token}")).await
}

fn access_token(issuer: &TestIssuer, sub: &str) -> String {
    issuer.token().audience(AUDIENCE).subject(sub).claim("iat", json!(now() - 5)).sign().unwrap()
}

fn is_revoked(r: &Result<bearer_guard::VerifiedToken, AuthError>) -> bool {
    matches!(r, Err(AuthError::InvalidToken(InvalidToken::Revoked)))
}

#[tokio::test]
async fn a_good_logout_token_revokes_the_subject_and_answers_200_no_store() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new());
    let alice = access_token(&issuer, "alice");
    let bob = access_token(&issuer, "bob");
    assert!(g.verify(&alice).await.is_ok());
    let (status, _, cache) = post_token(&g, &logout(&issuer, "alice").sign().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert!(is_revoked(&g.verify(&alice).await), "alice's earlier token is revoked");
    assert!(g.verify(&bob).await.is_ok(), "bob is not");
    let later = issuer.token().audience(AUDIENCE).subject("alice").claim("iat", json!(now() + 2)).sign().unwrap();
    assert!(g.verify(&later).await.is_ok(), "a token issued after the logout passes");
}

#[tokio::test]
async fn a_sid_only_logout_token_revokes_that_session_only() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new());
    let in_session = |sid: &str| {
        issuer
            .token()
            .audience(AUDIENCE)
            .subject("carol")
            .claim("sid", sid)
            .claim("iat", json!(now() - 5))
            .sign()
            .unwrap()
    };
    let (s1, s2) = (in_session("session-1"), in_session("session-2"));
    let token = logout(&issuer, "x").remove_claim("sub").claim("sid", "session-1").sign().unwrap();
    assert_eq!(post_token(&g, &token).await.0, StatusCode::OK);
    assert!(is_revoked(&g.verify(&s1).await));
    assert!(g.verify(&s2).await.is_ok(), "the subject's other session still passes");
}

#[tokio::test]
async fn each_malformed_logout_token_is_refused_with_400_and_revokes_nothing() {
    let issuer = TestIssuer::start().await;
    let other = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new());
    type Variant = fn(TokenBuilder, &TestIssuer) -> TokenBuilder;
    let variants: Vec<(&str, Variant)> = vec![
        ("bad signature", |t, _| t.unpublished_key()),
        ("alg none", |t, _| t.header("alg", "none")),
        ("untrusted issuer", |t, o| t.issuer(o.issuer())),
        ("wrong audience", |t, _| t.audience("https://someone-else.example")),
        ("no iat", |t, _| t.remove_claim("iat")),
        ("iat too old", |t, _| t.claim("iat", json!(now() - 3600))),
        ("iat in the future", |t, _| t.claim("iat", json!(now() + 3600))),
        ("expired", |t, _| t.claim("exp", json!(now() - 3600))),
        ("no jti", |t, _| t.remove_claim("jti")),
        ("no events", |t, _| t.remove_claim("events")),
        ("events without the logout member", |t, _| t.claim("events", json!({ "urn:other": {} }))),
        ("events member not an object", |t, _| t.claim("events", json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" }))),
        ("events as an array", |t, _| t.claim("events", json!([BACKCHANNEL_LOGOUT_EVENT]))),
        ("neither sub nor sid", |t, _| t.remove_claim("sub")),
        ("a nonce", |t, _| t.claim("nonce", "n-0S6_WzA2Mj")),
        ("typ at+jwt (an access token)", |t, _| t.header("typ", "at+jwt")),
        ("typ JWT", |t, _| t.header("typ", "JWT")),
        ("an access token", |t, _| t.remove_claim("events").header("typ", "at+jwt")),
    ];
    for (i, (name, mutate)) in variants.into_iter().enumerate() {
        let sub = format!("user-{i}");
        let access = access_token(&issuer, &sub);
        let bad = mutate(logout(&issuer, &sub), &other).sign().unwrap();
        let (status, body, _) = post_token(&g, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        let body = body.unwrap_or_else(|| panic!("{name}: JSON body"));
        assert_eq!(body["error"], "invalid_request", "{name}: {body}");
        assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{name}: {body}");
        assert!(g.verify(&access).await.is_ok(), "{name}: nothing revoked");
        // Control: the same logout, well-formed, is accepted and revokes.
        let (status, _, _) = post_token(&g, &logout(&issuer, &sub).sign().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{name}: control");
        assert!(is_revoked(&g.verify(&access).await), "{name}: control revokes");
    }
}

#[tokio::test]
async fn a_replayed_logout_token_is_refused() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new());
    let token = logout(&issuer, "dave").claim("jti", "once").sign().unwrap();
    assert_eq!(post_token(&g, &token).await.0, StatusCode::OK);
    let (status, body, _) = post_token(&g, &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body.unwrap()["error_description"], "logout token has already been used");
    let fresh = logout(&issuer, "dave").sign().unwrap();
    assert_eq!(post_token(&g, &fresh).await.0, StatusCode::OK, "control: a fresh jti passes");
}

#[tokio::test]
async fn bad_requests_are_refused_with_400_json() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new());
    let good = logout(&issuer, "erin").sign().unwrap();
    let form = "application/x-www-form-urlencoded";
    for (name, content_type, body) in [
        ("json body", "application/json", format!("{{\"logout_token\":\"{good}\"}}")),
        ("no logout_token", form, "token=abc".to_owned()),
        ("empty logout_token", form, "logout_token=".to_owned()),
        ("repeated logout_token", form, format!("logout_token={good}&logout_token={good}")),
        ("not a JWT", form, "logout_token=not-a-jwt".to_owned()),
        ("too large", form, format!("logout_token={}", "a".repeat(20_000))),
    ] {
        let (status, body, _) = post(&g, content_type, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(body.unwrap()["error"], "invalid_request", "{name}");
    }
    assert_eq!(
        post(&g, "application/x-www-form-urlencoded; charset=utf-8", format!("logout_token={good}")).await.0,
        StatusCode::OK,
        "control"
    );
}

#[tokio::test]
async fn a_logout_token_is_not_an_access_token() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new());
    let token = logout(&issuer, "frank").sign().unwrap();
    assert!(matches!(g.verify(&token).await, Err(AuthError::InvalidToken(InvalidToken::UnacceptableType))));
    assert!(g.verify(&access_token(&issuer, "frank")).await.is_ok(), "control");
}

#[tokio::test]
async fn the_logout_audience_is_the_configured_client_id_when_set() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new().logout_audience("notes-rp"));
    let to_api = logout(&issuer, "grace").sign().unwrap();
    assert_eq!(post_token(&g, &to_api).await.0, StatusCode::BAD_REQUEST, "aud = the API is not the RP client id");
    let to_rp = logout(&issuer, "grace").audience("notes-rp").sign().unwrap();
    assert_eq!(post_token(&g, &to_rp).await.0, StatusCode::OK);
}

#[tokio::test]
async fn without_a_revocation_list_logout_is_refused() {
    let g = BearerGuard::builder()
        .issuer("my-app")
        .audience(AUDIENCE)
        .static_key(StaticKey::hmac_secret([7u8; 32]).unwrap())
        .build()
        .unwrap();
    let (status, body, _) = post_token(&g, "a.b.c").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body.unwrap()["error_description"], "back-channel logout is not enabled");
}
