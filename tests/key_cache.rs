//! The remote key set's behaviour, against a `TestIssuer` on loopback with real (short)
//! timings. One test per behaviour: single-flight cold fetch, no fetches in steady state, TTL from
//! `Cache-Control` with refresh ahead, rotation, the unknown-`kid` cooldown, stale-if-error for
//! each failure mode, cold cache with the issuer down (503 + `Retry-After`), several issuers.
//! Every guard is built with `.verified_token_cache(false)` so each verify reaches the key set.

mod support;

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use bearer_guard::testing::{Failure, TestIssuer};
use bearer_guard::{Algorithm, AuthError, BearerGuard, InvalidToken, Issuer, KeyCachePolicy, Unavailable};
use http::{StatusCode, header};
use support::{bearer, protected};
use tower::ServiceExt;

const AUDIENCE: &str = TestIssuer::DEFAULT_AUDIENCE;

async fn start() -> TestIssuer {
    TestIssuer::start_with(&[Algorithm::ES256]).await
}

/// Small timings so each test takes a second or two.
fn policy() -> KeyCachePolicy {
    let mut p = KeyCachePolicy::default();
    p.cooldown = Duration::from_millis(500);
    p.retry_after = Duration::from_millis(300);
    p.fetch_timeout = Duration::from_millis(300);
    p.min_ttl = Duration::from_millis(1);
    p
}

/// A guard fetching `issuer`'s JWKS directly (no discovery).
fn jwks_guard(issuer: &TestIssuer, policy: KeyCachePolicy) -> BearerGuard {
    BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .key_cache_policy(policy)
        .verified_token_cache(false)
        .build()
        .unwrap()
}

fn random_kid() -> String {
    format!("unknown-{:016x}", RandomState::new().hash_one(Instant::now()))
}

/// Polls `check` every 10 ms for up to 3 s.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check().await
}

fn unknown_key(result: &Result<bearer_guard::VerifiedToken, AuthError>) -> bool {
    matches!(result, Err(AuthError::InvalidToken(InvalidToken::UnknownKey)))
}

/// Cold cache, 50 concurrent verifies, discovery mode: one discovery and one JWKS request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_cache_concurrent_verifies_fetch_once() {
    let issuer = start().await;
    let guard = BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .key_cache_policy(policy())
        .verified_token_cache(false)
        .build()
        .unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let guard = guard.clone();
            let token = issuer.token().sign().unwrap();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                guard.verify(&token).await
            })
        })
        .collect();
    for task in tasks {
        let verified = task.await.unwrap().expect("every concurrent verify succeeds");
        assert_eq!(verified.issuer(), issuer.issuer());
    }
    assert_eq!(issuer.discovery_requests(), 1);
    assert_eq!(issuer.jwks_requests(), 1);
    let stats = guard.key_stats().await;
    assert_eq!(stats[0].fetches, 1);
    assert_eq!(stats[0].failures, 0);
    assert_eq!(stats[0].key_count, 1);
}

/// Steady state: after the first fetch, 1000 verifies fetch nothing more.
#[tokio::test]
async fn steady_state_makes_no_requests() {
    let issuer = start().await;
    let guard =
        BearerGuard::builder().issuer(issuer.issuer()).audience(AUDIENCE).verified_token_cache(false).build().unwrap();
    let token = issuer.token().sign().unwrap();
    guard.verify(&token).await.unwrap();
    assert_eq!((issuer.discovery_requests(), issuer.jwks_requests()), (1, 1));
    for _ in 0..1000 {
        guard.verify(&token).await.unwrap();
    }
    assert_eq!((issuer.discovery_requests(), issuer.jwks_requests()), (1, 1));
    let stats = guard.key_stats().await;
    assert_eq!((stats[0].fetches, stats[0].stale_serves, stats[0].stale), (1, 0, false));
}

/// TTL from `Cache-Control: max-age`, refreshed in the background once `refresh_ahead` of it
/// has passed; the request that triggers the refresh doesn't wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_drives_background_refresh_ahead() {
    let issuer = start().await;
    issuer.set_cache_control(Some("max-age=1".to_owned()));
    let mut p = policy();
    p.refresh_ahead = 0.5;
    p.fetch_timeout = Duration::from_secs(2);
    let guard = jwks_guard(&issuer, p);
    let token = issuer.token().sign().unwrap();

    guard.verify(&token).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 1);
    // Well within the first half of the TTL: no refresh.
    tokio::time::sleep(Duration::from_millis(200)).await;
    guard.verify(&token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(issuer.jwks_requests(), 1, "no refresh before refresh_ahead * max-age");

    // Past half the TTL: the next verify answers at once and refreshes in the background.
    tokio::time::sleep(Duration::from_millis(400)).await;
    issuer.set_failure(Failure::Slow(Duration::from_millis(500)));
    let started = Instant::now();
    guard.verify(&token).await.expect("served from the cached set");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "the verify waited for the refresh: {:?}",
        started.elapsed()
    );
    // More requests while the refresh is in flight: still one refresh.
    for _ in 0..20 {
        guard.verify(&token).await.unwrap();
    }
    assert!(eventually(|| async { issuer.jwks_requests() == 2 }).await, "background refresh started");
    assert!(
        eventually(|| async {
            let s = &guard.key_stats().await[0];
            s.fetches == 2 && s.failures == 0
        })
        .await,
        "background refresh completed: {:?}",
        guard.key_stats().await
    );
    issuer.set_failure(Failure::None);
    // The refreshed set is fresh again.
    guard.verify(&token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(issuer.jwks_requests(), 2);
    assert!(!guard.key_stats().await[0].stale);
}

/// Rotation: a token of the new key is accepted after exactly one extra fetch (even right
/// after the scheduled fetch: the cooldown runs from the last kid-triggered refetch); the
/// removed old key stops being accepted.
#[tokio::test]
async fn rotation_fetches_once_and_drops_the_old_key() {
    let issuer = start().await;
    let guard = jwks_guard(&issuer, policy());
    let old_token = issuer.token().sign().unwrap();
    let old_kid = issuer.kids()[0].clone();
    guard.verify(&old_token).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 1);

    let new_kid = issuer.rotate().unwrap();
    assert_ne!(new_kid, old_kid);
    let new_token = issuer.token().sign().unwrap();
    let verified = guard.verify(&new_token).await.expect("new key found by one refetch");
    assert_eq!(verified.key_id(), Some(new_kid.as_str()));
    assert_eq!(issuer.jwks_requests(), 2);

    let refused = guard.verify(&old_token).await;
    assert!(unknown_key(&refused), "old key still accepted: {refused:?}");
    assert_eq!(issuer.jwks_requests(), 2, "no further fetch within the cooldown");
    // Still refused once the cooldown has passed and the set was fetched again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let refused = guard.verify(&old_token).await;
    assert!(unknown_key(&refused), "old key still accepted: {refused:?}");
    assert_eq!(issuer.jwks_requests(), 3);
    guard.verify(&new_token).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 3);
    let stats = guard.key_stats().await.remove(0);
    assert_eq!((stats.fetches, stats.failures, stats.key_count), (3, 0, 1));
}

/// Unknown `kid`s refetch at most once per cooldown, sequentially and concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_refetch_at_most_once_per_cooldown() {
    let issuer = start().await;
    let guard = jwks_guard(&issuer, policy());
    let good = issuer.token().sign().unwrap();
    guard.verify(&good).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 1);

    // 200 unknown kids in a row: the first refetches, the other 199 are refused by the cooldown.
    // Tokens are signed beforehand: RSA signing with the rust-crypto backend in a debug build
    // is slow enough that signing inside the loop could outlast the cooldown.
    let tokens: Vec<String> =
        (0..200).map(|i| issuer.token().kid(format!("{}-{i}", random_kid())).sign().unwrap()).collect();
    for (i, token) in tokens.iter().enumerate() {
        let result = guard.verify(token).await;
        assert!(unknown_key(&result), "token {i}: {result:?}");
    }
    assert_eq!(issuer.jwks_requests(), 2);
    assert_eq!(guard.key_stats().await[0].cooldown_refusals, 199);
    guard.verify(&good).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 2);

    // Once the cooldown has passed, one more refetch is allowed.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let refused = guard.verify(&issuer.token().kid(random_kid()).sign().unwrap()).await;
    assert!(unknown_key(&refused), "{refused:?}");
    assert_eq!(issuer.jwks_requests(), 3);
    assert_eq!(guard.key_stats().await[0].cooldown_refusals, 199);

    // Past it again: 200 concurrent unknown kids, still one refetch.
    let tokens: Vec<String> =
        (0..200).map(|i| issuer.token().kid(format!("{}-c{i}", random_kid())).sign().unwrap()).collect();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let guard = guard.clone();
            tokio::spawn(async move { guard.verify(&token).await })
        })
        .collect();
    for task in tasks {
        let result = task.await.unwrap();
        assert!(unknown_key(&result), "{result:?}");
    }
    assert_eq!(issuer.jwks_requests(), 4);
    let stats = &guard.key_stats().await[0];
    assert!(stats.cooldown_refusals >= 199, "{stats:?}");
    assert_eq!((stats.fetches, stats.failures), (4, 0));
}

/// Stale-if-error: with a warm cache, when the set expires and the issuer fails, known keys
/// keep working, the set is reported stale, and it recovers once the issuer does.
async fn stale_if_error(failure: Failure, counted: bool) {
    let issuer = start().await;
    let mut p = policy();
    p.default_ttl = Duration::from_millis(300);
    p.retry_after = Duration::from_millis(200);
    p.max_body_bytes = 4096;
    let guard = jwks_guard(&issuer, p);
    let token = issuer.token().sign().unwrap();
    guard.verify(&token).await.unwrap();
    let first = guard.key_stats().await.remove(0);
    assert_eq!((first.fetches, first.failures, first.stale), (1, 0, false));
    assert_eq!(issuer.jwks_requests(), 1);

    issuer.set_failure(failure.clone());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(guard.key_stats().await[0].stale, "the set is past its TTL");
    // Past the TTL the request waits for the fetch, and uses the stale set because it failed.
    guard.verify(&token).await.expect("stale set still serves known keys");
    assert!(
        eventually(|| async { guard.key_stats().await[0].failures == 1 }).await,
        "{failure:?}: the refresh failed: {:?}",
        guard.key_stats().await
    );
    assert_eq!(issuer.jwks_requests(), if counted { 2 } else { 1 }, "{failure:?}");
    for _ in 0..10 {
        guard.verify(&token).await.expect("stale set still serves known keys");
    }
    let failing = guard.key_stats().await.remove(0);
    assert!(failing.stale, "{failure:?}: {failing:?}");
    assert_eq!((failing.fetches, failing.failures), (2, 1), "{failure:?}: no refetch within retry_after");
    assert!(failing.stale_serves >= 11, "{failing:?}");
    assert_eq!(failing.key_count, 1);
    assert_eq!(failing.last_success, first.last_success);

    issuer.set_failure(Failure::None);
    tokio::time::sleep(Duration::from_millis(250)).await; // past retry_after
    guard.verify(&token).await.unwrap();
    assert!(
        eventually(|| async {
            let s = &guard.key_stats().await[0];
            s.fetches == 3 && !s.stale
        })
        .await,
        "{failure:?}: recovered: {:?}",
        guard.key_stats().await
    );
    let recovered = guard.key_stats().await.remove(0);
    assert_eq!(recovered.failures, 1);
    assert!(recovered.last_success > first.last_success);
    assert_eq!(issuer.jwks_requests(), if counted { 3 } else { 2 });
    guard.verify(&token).await.unwrap();
}

#[tokio::test]
async fn stale_if_error_issuer_down() {
    stale_if_error(Failure::Down, false).await;
}

#[tokio::test]
async fn stale_if_error_status_500() {
    stale_if_error(Failure::Status(500), true).await;
}

#[tokio::test]
async fn stale_if_error_html() {
    stale_if_error(Failure::Html, true).await;
}

#[tokio::test]
async fn stale_if_error_slower_than_fetch_timeout() {
    stale_if_error(Failure::Slow(Duration::from_secs(1)), true).await;
}

#[tokio::test]
async fn stale_if_error_oversized_body() {
    stale_if_error(Failure::OversizedBody(8192), true).await;
}

#[tokio::test]
async fn stale_if_error_redirect() {
    // Redirected to a healthy JWKS: it must not be followed.
    let elsewhere = start().await;
    stale_if_error(Failure::Redirect(elsewhere.jwks_uri()), true).await;
    assert_eq!(elsewhere.jwks_requests(), 0, "the redirect was followed");
}

/// Cold cache and the issuer down: 503 with `Retry-After`, no refetch storm within
/// `retry_after`, and recovery by itself once the issuer is back.
#[tokio::test]
async fn cold_cache_with_issuer_down_answers_503_then_recovers() {
    let issuer = start().await;
    issuer.set_failure(Failure::Down);
    let guard = jwks_guard(&issuer, policy());
    let token = issuer.token().sign().unwrap();

    let result = guard.verify(&token).await;
    assert_eq!(result.unwrap_err(), AuthError::unavailable(Unavailable::Keys, Duration::from_millis(300)));

    let app = protected(&guard);
    let call = || app.clone().oneshot(bearer(&token));
    let response = call().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get(header::RETRY_AFTER).expect("Retry-After"), "1");
    // Within retry_after: refused without another fetch.
    match guard.verify(&token).await {
        Err(AuthError::Unavailable { retry_after, cause: Unavailable::Keys, .. }) => {
            assert!(!retry_after.is_zero() && retry_after <= Duration::from_millis(300), "{retry_after:?}")
        }
        other => panic!("expected KeysUnavailable, got {other:?}"),
    }
    let stats = guard.key_stats().await.remove(0);
    assert_eq!((stats.fetches, stats.failures, stats.key_count), (1, 1, 0));

    issuer.set_failure(Failure::None);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let response = call().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    guard.verify(&token).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 1);
    let stats = guard.key_stats().await.remove(0);
    assert_eq!((stats.fetches, stats.failures, stats.key_count, stats.stale), (2, 1, 1, false));
}

/// Several issuers: each trusted issuer's tokens verify with its own keys; an untrusted
/// issuer's token is refused without any request to it.
#[tokio::test]
async fn several_issuers_each_use_their_own_keys() {
    let a = start().await;
    let b = start().await;
    let untrusted = start().await;
    let guard = BearerGuard::builder()
        .issuer(a.issuer()) // discovery
        .audience(AUDIENCE)
        .trust(Issuer::new(b.issuer()).audience(AUDIENCE).jwks_uri(b.jwks_uri()))
        .key_cache_policy(policy())
        .verified_token_cache(false)
        .build()
        .unwrap();

    let from_a = guard.verify(&a.token().sign().unwrap()).await.unwrap();
    assert_eq!(from_a.issuer(), a.issuer());
    let from_b = guard.verify(&b.token().sign().unwrap()).await.unwrap();
    assert_eq!(from_b.issuer(), b.issuer());

    let refused = guard.verify(&untrusted.token().sign().unwrap()).await;
    assert_eq!(refused.unwrap_err(), AuthError::InvalidToken(InvalidToken::UntrustedIssuer));
    assert_eq!((untrusted.jwks_requests(), untrusted.discovery_requests()), (0, 0));
    assert_eq!((a.discovery_requests(), a.jwks_requests()), (1, 1));
    assert_eq!((b.discovery_requests(), b.jwks_requests()), (0, 1));

    // A token naming trusted issuer a but signed with the untrusted issuer's key: its kid is
    // unknown to a (one kid-triggered refetch of a's set, nothing asked of the other issuer).
    let forged = untrusted.token().issuer(a.issuer()).sign().unwrap();
    assert!(unknown_key(&guard.verify(&forged).await));
    // b's key doesn't verify tokens naming a either (refused by a's cooldown, no request).
    let crossed = b.token().issuer(a.issuer()).sign().unwrap();
    assert!(unknown_key(&guard.verify(&crossed).await));

    assert_eq!((untrusted.jwks_requests(), untrusted.discovery_requests()), (0, 0));
    assert_eq!((a.discovery_requests(), a.jwks_requests()), (1, 2));
    assert_eq!((b.discovery_requests(), b.jwks_requests()), (0, 1));
    let stats = guard.key_stats().await;
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[0].issuer, a.issuer());
    assert_eq!(stats[1].issuer, b.issuer());
    assert_eq!((stats[0].fetches, stats[0].cooldown_refusals, stats[0].key_count), (2, 1, 1));
    assert_eq!((stats[1].fetches, stats[1].cooldown_refusals, stats[1].key_count), (1, 0, 1));
    assert!(stats.iter().all(|s| s.failures == 0));
}
