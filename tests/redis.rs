//! Two guards in one process over one REAL Redis (Debian's `redis-server`, started here on a
//! free loopback port) act as two replicas: revocations and single-use values are shared,
//! Redis failures follow the documented policy, and everything recovers on its own.

#[path = "support/redis.rs"]
mod redis_support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use bearer_guard::revocation::{BACKCHANNEL_LOGOUT_EVENT, RevocationConfig};
use bearer_guard::store::{RedisStore, RedisStoreConfig, SharedStore, StoreError};
use bearer_guard::testing::TestIssuer;
use bearer_guard::{AuthError, BearerGuard, InvalidToken, Unavailable};
use http::{Request, StatusCode};
use redis_support::{Proxy, RedisServer};
use serde_json::json;
use tower::ServiceExt;

const AUDIENCE: &str = "https://notes.example.test";

fn prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("test-{}-{}:", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::open(url, RedisStoreConfig::default().key_prefix(prefix)).unwrap()
}

fn replica(issuer: &TestIssuer, store: RedisStore, config: RevocationConfig) -> BearerGuard {
    BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .revocation(config.store(store))
        .build()
        .unwrap()
}

async fn eventually(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

async fn synced(guard: &BearerGuard) {
    let r = guard.revocations().unwrap();
    eventually("first sync", Duration::from_secs(5), async || r.stats().synced).await;
}

fn token(issuer: &TestIssuer, sub: &str, jti: &str) -> String {
    issuer.token().audience(AUDIENCE).subject(sub).claim("jti", jti).sign().unwrap()
}

fn revoked(result: &Result<bearer_guard::VerifiedToken, AuthError>) -> bool {
    matches!(result, Err(AuthError::InvalidToken(InvalidToken::Revoked)))
}

fn logout_token(issuer: &TestIssuer, sub: &str, jti: &str) -> String {
    issuer
        .token()
        .audience(AUDIENCE)
        .subject(sub)
        .claim("jti", jti)
        .claim("events", json!({ BACKCHANNEL_LOGOUT_EVENT: {} }))
        .header("typ", "logout+jwt")
        .sign()
        .unwrap()
}

async fn post_logout(guard: &BearerGuard, logout_token: &str) -> StatusCode {
    let app: axum::Router = axum::Router::new().route("/backchannel-logout", guard.backchannel_logout());
    let request = Request::post("/backchannel-logout")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("logout_token={logout_token}")))
        .unwrap();
    app.oneshot(request).await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_replica_is_refused_on_the_other_within_one_second() {
    let redis = RedisServer::start();
    let issuer = TestIssuer::start().await;
    let prefix = prefix();
    let a = replica(&issuer, store(&redis.url(), &prefix), RevocationConfig::new());
    let b = replica(&issuer, store(&redis.url(), &prefix), RevocationConfig::new());
    synced(&a).await;
    synced(&b).await;

    let doomed = token(&issuer, "alice", "jti-doomed");
    let control = token(&issuer, "alice", "jti-control");
    assert!(b.verify(&doomed).await.is_ok(), "accepted (and cached) before the revocation");
    let exp = SystemTime::now() + Duration::from_secs(3600);
    a.revocations().unwrap().revoke_token(issuer.issuer(), "jti-doomed", exp).await.unwrap();
    let took =
        eventually("token revoked on replica b", Duration::from_secs(1), async || revoked(&b.verify(&doomed).await))
            .await;
    eprintln!("token revocation reached the other replica in {took:?}");
    assert!(b.verify(&control).await.is_ok(), "another token of the same subject still passes");

    // "Log out everywhere" from b reaches a: tokens of bob issued before now are refused.
    let old = issuer.token().audience(AUDIENCE).subject("bob").claim("iat", json!(now() - 10)).sign().unwrap();
    assert!(a.verify(&old).await.is_ok());
    b.revocations().unwrap().revoke_subject(issuer.issuer(), "bob", SystemTime::now()).await.unwrap();
    eventually("subject revoked on replica a", Duration::from_secs(1), async || revoked(&a.verify(&old).await)).await;
    let fresh = issuer.token().audience(AUDIENCE).subject("bob").claim("iat", json!(now() + 2)).sign().unwrap();
    assert!(a.verify(&fresh).await.is_ok(), "a token issued after the cutoff passes");
}

fn now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_use_value_used_on_one_replica_is_refused_on_the_other() {
    let redis = RedisServer::start();
    let issuer = TestIssuer::start().await;
    let prefix = prefix();
    let (store_a, store_b) = (store(&redis.url(), &prefix), store(&redis.url(), &prefix));
    let ttl = Duration::from_secs(60);
    assert!(store_a.use_once("dpop:proof-1", ttl).await.unwrap());
    assert!(!store_b.use_once("dpop:proof-1", ttl).await.unwrap(), "replayed on the other replica");
    assert!(!store_a.use_once("dpop:proof-1", ttl).await.unwrap(), "replayed on the same replica");
    assert!(store_b.use_once("dpop:proof-2", ttl).await.unwrap(), "another value passes");
    // The TTL is Redis' PX: the value is forgotten after it.
    assert!(store_a.use_once("short", Duration::from_millis(100)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(store_b.use_once("short", Duration::from_millis(100)).await.unwrap());

    // A logout token is single-use across replicas too, and its logout reaches both.
    let a = replica(&issuer, store_a, RevocationConfig::new());
    let b = replica(&issuer, store_b, RevocationConfig::new());
    synced(&a).await;
    synced(&b).await;
    let carol = issuer.token().audience(AUDIENCE).subject("carol").claim("iat", json!(now() - 5)).sign().unwrap();
    assert!(b.verify(&carol).await.is_ok());
    let logout = logout_token(&issuer, "carol", "logout-1");
    assert_eq!(post_logout(&a, &logout).await, StatusCode::OK);
    assert_eq!(post_logout(&b, &logout).await, StatusCode::BAD_REQUEST, "replayed on the other replica");
    eventually("logout reaches replica b", Duration::from_secs(1), async || revoked(&b.verify(&carol).await)).await;
    assert_eq!(
        post_logout(&b, &logout_token(&issuer, "carol", "logout-2")).await,
        StatusCode::OK,
        "a fresh jti passes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_follows_the_failure_policy_and_recovers_by_itself() {
    let mut redis = RedisServer::start();
    let issuer = TestIssuer::start().await;
    let prefix = prefix();
    let single_use = store(&redis.url(), &prefix);
    let open = replica(&issuer, store(&redis.url(), &prefix), RevocationConfig::new());
    let closed =
        replica(&issuer, store(&redis.url(), &prefix), RevocationConfig::new().fail_closed(Duration::from_secs(1)));
    synced(&open).await;
    synced(&closed).await;
    let good = token(&issuer, "dave", "jti-good");
    let bad = token(&issuer, "dave", "jti-bad");
    let exp = SystemTime::now() + Duration::from_secs(3600);
    open.revocations().unwrap().revoke_token(issuer.issuer(), "jti-bad", exp).await.unwrap();
    eventually("revocation synced", Duration::from_secs(1), async || revoked(&closed.verify(&bad).await)).await;
    assert!(single_use.use_once("before-kill", Duration::from_secs(60)).await.unwrap());

    redis.kill();

    // Replay checks fail closed.
    assert!(matches!(single_use.use_once("during", Duration::from_secs(60)).await, Err(StoreError::Unreachable(_))));
    assert_eq!(
        post_logout(&open, &logout_token(&issuer, "erin", "logout-down")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // The denylist keeps its last synced copy, and says it is out of sync.
    let r = open.revocations().unwrap();
    eventually("out of sync noticed", Duration::from_secs(3), async || !r.stats().synced).await;
    assert!(revoked(&open.verify(&bad).await), "the last synced copy still refuses revoked tokens");
    assert!(open.verify(&good).await.is_ok(), "default policy: good tokens still pass");
    let stats = r.stats();
    assert!(stats.disconnects >= 1 && !stats.failing_closed, "{stats:?}");
    // fail_closed: once out of sync for longer than its bound, 503.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refused = closed.verify(&good).await;
    assert!(matches!(refused, Err(AuthError::Unavailable { cause: Unavailable::Revocations, .. })), "{refused:?}");
    assert!(closed.revocations().unwrap().stats().failing_closed);
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" })).route_layer(closed.layer());
    let response = app
        .oneshot(Request::get("/").header("authorization", format!("Bearer {good}")).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));

    redis.restart();

    let c = closed.revocations().unwrap();
    let took =
        eventually("resynced after restart", Duration::from_secs(5), async || r.stats().synced && c.stats().synced)
            .await;
    eprintln!("both replicas resynced {took:?} after redis came back");
    assert!(closed.verify(&good).await.is_ok(), "fail_closed replica serves again");
    assert!(revoked(&closed.verify(&bad).await), "still revoked");
    eventually("replay store back", Duration::from_secs(5), async || {
        single_use.use_once("after", Duration::from_secs(60)).await.is_ok()
    })
    .await;
    assert!(
        !single_use.use_once("before-kill", Duration::from_secs(60)).await.unwrap(),
        "remembered across the restart"
    );
    assert_eq!(post_logout(&open, &logout_token(&issuer, "erin", "logout-up")).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_after_reconnect_picks_up_revocations_made_while_away() {
    let redis = RedisServer::start();
    let proxy = Proxy::start(redis.addr()).await;
    let issuer = TestIssuer::start().await;
    let prefix = prefix();
    let here = replica(&issuer, store(&redis.url(), &prefix), RevocationConfig::new());
    let away = replica(&issuer, store(&proxy.url(), &prefix), RevocationConfig::new());
    synced(&here).await;
    synced(&away).await;
    let t = token(&issuer, "frank", "jti-while-away");
    let old = issuer.token().audience(AUDIENCE).subject("grace").claim("iat", json!(now() - 10)).sign().unwrap();
    assert!(away.verify(&t).await.is_ok());
    assert!(away.verify(&old).await.is_ok());

    proxy.cut();
    let r = away.revocations().unwrap();
    eventually("cut noticed", Duration::from_secs(3), async || !r.stats().synced).await;
    let exp = SystemTime::now() + Duration::from_secs(3600);
    here.revocations().unwrap().revoke_token(issuer.issuer(), "jti-while-away", exp).await.unwrap();
    here.revocations().unwrap().revoke_subject(issuer.issuer(), "grace", SystemTime::now()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(away.verify(&t).await.is_ok(), "while cut off, the replica can't know");
    let resyncs = r.stats().resyncs;

    proxy.restore();
    let took = eventually("revocations picked up by the resync", Duration::from_secs(5), async || {
        revoked(&away.verify(&t).await) && revoked(&away.verify(&old).await)
    })
    .await;
    eprintln!("resync after reconnect took {took:?}");
    assert!(r.stats().synced && r.stats().resyncs > resyncs, "{:?}", r.stats());
}

/// The DPoP replay store in Redis (`RedisStore` is a `ReplayStore`): a proof used on one replica
/// is refused on the other; with Redis down, proofs are refused with 503 (fail closed); back up,
/// fresh proofs pass again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_proof_used_on_one_replica_is_refused_on_the_other_and_fails_closed_without_redis() {
    use bearer_guard::testing::DpopKey;
    const BASE: &str = "https://api.example.test";
    let mut redis = RedisServer::start();
    let issuer = TestIssuer::start_with(&[bearer_guard::Algorithm::ES256]).await;
    let prefix = prefix();
    let replica = || {
        let guard = BearerGuard::builder()
            .issuer(issuer.issuer())
            .audience(TestIssuer::DEFAULT_AUDIENCE)
            .jwks_uri(issuer.jwks_uri())
            .public_url(BASE)
            .unwrap()
            .dpop_replay_store(store(&redis.url(), &prefix))
            .build()
            .unwrap();
        axum::Router::new().route("/notes", axum::routing::get(|| async { "ok" })).route_layer(guard.layer())
    };
    let (a, b) = (replica(), replica());
    let key = DpopKey::generate(bearer_guard::Algorithm::ES256).unwrap();
    let token = issuer.token().dpop_bound(&key).sign().unwrap();
    let proof = || key.proof("GET", &format!("{BASE}/notes")).access_token(&token).sign().unwrap();
    let call = |app: &axum::Router, proof: &str| {
        let request = Request::get("/notes")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(request)
    };
    let used = proof();
    assert_eq!(call(&a, &used).await.unwrap().status(), StatusCode::OK);
    let replayed = call(&b, &used).await.unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED, "replayed on the other replica");
    let challenge = replayed.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    assert_eq!(call(&b, &proof()).await.unwrap().status(), StatusCode::OK, "control: a fresh proof passes");

    redis.kill();
    let down = call(&a, &proof()).await.unwrap();
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE, "replay check can't run: fail closed");
    assert!(down.headers().contains_key("retry-after"));

    redis.restart();
    let app = a.clone();
    let back = eventually("DPoP accepted again", Duration::from_secs(5), async || {
        call(&app, &proof()).await.unwrap().status() == StatusCode::OK
    })
    .await;
    eprintln!("DPoP through Redis recovered {back:?} after the restart");
    // Replica b reconnects on its own too, and the used proof is still remembered (append-only file).
    let app = b.clone();
    eventually("the used proof refused as a replay on b", Duration::from_secs(5), async || {
        call(&app, &used).await.unwrap().status() == StatusCode::UNAUTHORIZED
    })
    .await;
}
