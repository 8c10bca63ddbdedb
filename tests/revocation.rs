//! The revocation list through the layer: revoked tokens get the RFC 6750 answer, verified-token
//! cache hits are checked too, cutoffs, bounds, and two guards sharing a MemoryStore.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::revocation::{RevocationConfig, RevocationError};
use bearer_guard::store::MemoryStore;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{AuthError, BearerGuard, InvalidToken, Issuer};
use http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

const AUDIENCE: &str = "https://notes.example.test";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn in_an_hour() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
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

async fn call(guard: &BearerGuard, token: &str) -> (StatusCode, Option<String>) {
    let app = Router::new().route("/", get(|| async { "ok" })).route_layer(guard.layer());
    let request = Request::get("/").header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), challenge)
}

fn revoked(r: &Result<bearer_guard::VerifiedToken, AuthError>) -> bool {
    matches!(r, Err(AuthError::InvalidToken(InvalidToken::Revoked)))
}

#[tokio::test]
async fn a_revoked_token_is_refused_with_invalid_token_even_from_the_verified_token_cache() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new());
    let doomed = issuer.token().audience(AUDIENCE).claim("jti", "t-1").sign().unwrap();
    let control = issuer.token().audience(AUDIENCE).claim("jti", "t-2").sign().unwrap();
    // Twice: the second request is a verified-token cache hit.
    assert_eq!(call(&g, &doomed).await.0, StatusCode::OK);
    assert_eq!(call(&g, &doomed).await.0, StatusCode::OK);
    g.revocations().unwrap().revoke_token(issuer.issuer(), "t-1", in_an_hour()).await.unwrap();
    let (status, challenge) = call(&g, &doomed).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token has been revoked\"")
    );
    assert_eq!(call(&g, &control).await.0, StatusCode::OK, "control: another token passes");
    assert_eq!(g.revocations().unwrap().stats().revoked_hits, 1);
}

#[tokio::test]
async fn a_subject_cutoff_refuses_tokens_issued_before_it_only() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new());
    let mint = |sub: &str, iat: Option<i64>| {
        let t = issuer.token().audience(AUDIENCE).subject(sub);
        match iat {
            Some(iat) => t.claim("iat", json!(iat)),
            None => t.remove_claim("iat"),
        }
        .sign()
        .unwrap()
    };
    let (before, after, no_iat, other) = (
        mint("alice", Some(now() - 10)),
        mint("alice", Some(now() + 5)),
        mint("alice", None),
        mint("bob", Some(now() - 10)),
    );
    g.revocations().unwrap().revoke_subject(issuer.issuer(), "alice", SystemTime::now()).await.unwrap();
    assert!(revoked(&g.verify(&before).await));
    assert!(revoked(&g.verify(&no_iat).await), "without iat its age is unknown: revoked");
    assert!(g.verify(&after).await.is_ok(), "issued after the cutoff");
    assert!(g.verify(&other).await.is_ok(), "another subject");
}

#[tokio::test]
async fn a_session_cutoff_refuses_that_session_only() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new());
    let mint =
        |sid: &str| issuer.token().audience(AUDIENCE).claim("sid", sid).claim("iat", json!(now() - 10)).sign().unwrap();
    g.revocations().unwrap().revoke_session(issuer.issuer(), "s-1", SystemTime::now()).await.unwrap();
    assert!(revoked(&g.verify(&mint("s-1")).await));
    assert!(g.verify(&mint("s-2")).await.is_ok());
}

#[tokio::test]
async fn a_revocation_applies_to_its_issuer_only() {
    let (a, b) = (TestIssuer::start().await, TestIssuer::start().await);
    let g = BearerGuard::builder()
        .trust(Issuer::new(a.issuer()).audience(AUDIENCE).jwks_uri(a.jwks_uri()))
        .trust(Issuer::new(b.issuer()).audience(AUDIENCE).jwks_uri(b.jwks_uri()))
        .revocation(RevocationConfig::new())
        .build()
        .unwrap();
    g.revocations().unwrap().revoke_token(a.issuer(), "same-jti", in_an_hour()).await.unwrap();
    assert!(revoked(&g.verify(&a.token().audience(AUDIENCE).claim("jti", "same-jti").sign().unwrap()).await));
    assert!(g.verify(&b.token().audience(AUDIENCE).claim("jti", "same-jti").sign().unwrap()).await.is_ok());
}

#[tokio::test]
async fn the_list_is_bounded_in_entries_and_entry_size() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new().max_entries(2));
    let r = g.revocations().unwrap();
    r.revoke_token(issuer.issuer(), "a", in_an_hour()).await.unwrap();
    r.revoke_token(issuer.issuer(), "b", in_an_hour()).await.unwrap();
    assert!(matches!(r.revoke_token(issuer.issuer(), "c", in_an_hour()).await, Err(RevocationError::Full)));
    r.revoke_token(issuer.issuer(), "a", in_an_hour()).await.expect("re-revoking a held entry is not new");
    assert!(
        revoked(&g.verify(&issuer.token().audience(AUDIENCE).claim("jti", "a").sign().unwrap()).await),
        "live entries kept"
    );
    assert!(matches!(
        r.revoke_token(issuer.issuer(), "x".repeat(513), in_an_hour()).await,
        Err(RevocationError::InvalidEntry)
    ));
    assert!(matches!(r.revoke_token(issuer.issuer(), "", in_an_hour()).await, Err(RevocationError::InvalidEntry)));
    let stats = r.stats();
    assert_eq!((stats.entries, stats.refused_full, stats.shared, stats.synced), (2, 1, false, true));
}

#[tokio::test]
async fn a_jti_revocation_ends_with_the_token() {
    let issuer = TestIssuer::start().await;
    let g = guard(&issuer, RevocationConfig::new());
    let r = g.revocations().unwrap();
    // An entry whose token expired (beyond the largest leeway) is not even kept.
    r.revoke_token(issuer.issuer(), "gone", SystemTime::now() - Duration::from_secs(400)).await.unwrap();
    assert_eq!(r.stats().entries, 0);
}

#[tokio::test]
async fn without_a_revocation_list_nothing_is_checked() {
    let issuer = TestIssuer::start().await;
    let g =
        BearerGuard::builder().issuer(issuer.issuer()).audience(AUDIENCE).jwks_uri(issuer.jwks_uri()).build().unwrap();
    assert!(g.revocations().is_none());
    assert!(g.verify(&issuer.token().audience(AUDIENCE).sign().unwrap()).await.is_ok());
}

#[tokio::test]
async fn two_guards_sharing_a_memory_store_share_revocations() {
    let issuer = TestIssuer::start().await;
    let store = MemoryStore::new(1000);
    let a = guard(&issuer, RevocationConfig::new().store(store.clone()));
    let b = guard(&issuer, RevocationConfig::new().store(store));
    let t = issuer.token().audience(AUDIENCE).claim("jti", "shared").sign().unwrap();
    let rb = b.revocations().unwrap();
    while !rb.stats().synced || !a.revocations().unwrap().stats().synced {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(b.verify(&t).await.is_ok());
    a.revocations().unwrap().revoke_token(issuer.issuer(), "shared", in_an_hour()).await.unwrap();
    let start = std::time::Instant::now();
    while !revoked(&b.verify(&t).await) {
        assert!(start.elapsed() < Duration::from_secs(1), "not propagated within 1 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let stats = rb.stats();
    assert!(stats.shared && stats.synced && stats.updates_received >= 1, "{stats:?}");
}

#[tokio::test]
async fn a_guard_with_a_store_needs_a_runtime_to_build() {
    let result = std::thread::spawn(|| {
        BearerGuard::builder()
            .issuer("https://idp.example.com")
            .audience(AUDIENCE)
            .revocation(RevocationConfig::new().store(MemoryStore::new(10)))
            .build()
    })
    .join()
    .unwrap();
    assert!(matches!(result, Err(bearer_guard::ConfigError::InvalidSetting { name: "revocation", .. })));
}
