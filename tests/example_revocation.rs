//! The example microservice's revocation routes (issue 18's contract): two copies of its router,
//! each with its own guard over one REAL Redis (as `REDIS_URL` makes them), served over HTTP on
//! 127.0.0.1 — two replicas. `POST /admin/revoke` on one is honoured by the other;
//! `POST /backchannel-logout` answers 200 / 400 JSON.

#[path = "support/redis.rs"]
mod redis_support;

#[path = "../examples/microservice/app.rs"]
#[allow(dead_code)]
mod app;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bearer_guard::BearerGuard;
use bearer_guard::revocation::{BACKCHANNEL_LOGOUT_EVENT, RevocationConfig};
use bearer_guard::store::{RedisStore, RedisStoreConfig};
use bearer_guard::testing::TestIssuer;
use redis_support::RedisServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

const AUDIENCE: &str = "https://notes.example.test";

async fn serve(issuer: &TestIssuer, redis_url: &str) -> String {
    // As main.rs builds it with REDIS_URL set.
    let store = RedisStore::open(redis_url, RedisStoreConfig::default()).unwrap();
    let guard = BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .revocation(RevocationConfig::new().store(store))
        .build()
        .unwrap();
    let r = guard.revocations().unwrap().clone();
    let start = Instant::now();
    while !r.stats().synced {
        assert!(start.elapsed() < Duration::from_secs(5), "replica did not sync");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app::router(&guard);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn get_me(http: &reqwest::Client, base: &str, token: &str) -> StatusCode {
    http.get(format!("{base}/me")).bearer_auth(token).send().await.unwrap().status()
}

async fn until_refused(http: &reqwest::Client, base: &str, token: &str) -> Duration {
    let start = Instant::now();
    while get_me(http, base, token).await != StatusCode::UNAUTHORIZED {
        assert!(start.elapsed() < Duration::from_secs(1), "not refused on the other replica within 1 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_revoke_and_backchannel_logout_reach_the_other_replica() {
    let redis = RedisServer::start();
    let issuer = TestIssuer::start().await;
    let (a, b) = (serve(&issuer, &redis.url()).await, serve(&issuer, &redis.url()).await);
    let http = reqwest::Client::new();
    let token = |sub: &str, scopes: &[&str]| {
        issuer
            .token()
            .audience(AUDIENCE)
            .subject(sub)
            .scopes(scopes.iter().copied())
            .claim("iat", json!(now() - 5))
            .sign()
            .unwrap()
    };
    let admin = token("root", &["admin"]);
    let reader = token("alice", &["notes:read"]);
    let alice_other = token("alice", &["notes:read"]);
    let bob = token("bob", &["notes:read"]);
    let revoke =
        |who: &str, body: Value| http.post(format!("{a}/admin/revoke")).bearer_auth(who.to_owned()).json(&body);

    // Scope admin is required; bad bodies are 400 JSON.
    assert_eq!(revoke(&reader, json!({"sub": "bob"})).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    for body in
        [json!({}), json!({"jti": "x", "sub": "y"}), json!({"jti": 7}), json!({"user": "bob"}), json!({"jti": ""})]
    {
        let response = revoke(&admin, body.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{body}");
    }
    assert_eq!(get_me(&http, &b, &bob).await, StatusCode::OK, "nothing was revoked");

    // Revoke one token by jti on replica a: refused on replica b; the same subject's other token passes.
    let claims: Value = http.get(format!("{b}/me")).bearer_auth(&reader).send().await.unwrap().json().await.unwrap();
    assert_eq!(claims["sub"], "alice");
    let jti = jti_of(&reader);
    assert_eq!(revoke(&admin, json!({ "jti": jti })).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let took = until_refused(&http, &b, &reader).await;
    eprintln!("admin revoke on a refused on b after {took:?}");
    assert_eq!(get_me(&http, &b, &alice_other).await, StatusCode::OK);

    // Revoke a subject.
    assert_eq!(revoke(&admin, json!({ "sub": "bob" })).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    until_refused(&http, &b, &bob).await;

    // Back-channel logout on b logs alice out on a.
    let logout = issuer
        .token()
        .audience(AUDIENCE)
        .subject("alice")
        .claim("events", json!({ BACKCHANNEL_LOGOUT_EVENT: {} }))
        .header("typ", "logout+jwt")
        .sign()
        .unwrap();
    let post = |form: &str| {
        http.post(format!("{b}/backchannel-logout"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
    };
    let refused = post("logout_token=not.a.jwt").await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_request");
    assert_eq!(get_me(&http, &a, &alice_other).await, StatusCode::OK);
    assert_eq!(post(&format!("logout_token={logout}")).await.unwrap().status(), StatusCode::OK);
    until_refused(&http, &a, &alice_other).await;
}

fn jti_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}
