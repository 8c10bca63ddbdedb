//! The key store under faults: stale keys only after a failed fetch, duplicate `kid`s, an
//! unknown `kid` while the issuer is down, policy and allow-list checks at build, dropped
//! futures, one fetch budget for discovery + JWKS, and diagnostics (every URL tried, the cause,
//! misconfiguration told apart from an outage, one warning per burst of failures).
//!
//! Each test has a good-token (or good-configuration) control. `TestIssuer` on loopback, real
//! short timings; guards are built with `.verified_token_cache(false)` so each verify reaches
//! the key set.

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::{Failure, TestIssuer};
use bearer_guard::{
    Algorithm, AuthError, BearerGuard, ConfigError, InvalidToken, KeyCachePolicy, Unavailable, VerifiedToken,
};
use serde_json::{Value, json};

const AUDIENCE: &str = TestIssuer::DEFAULT_AUDIENCE;

async fn start() -> TestIssuer {
    TestIssuer::start_with(&[Algorithm::ES256]).await
}

/// Small timings so each test takes a second or two.
fn policy() -> KeyCachePolicy {
    let mut p = KeyCachePolicy::default();
    p.cooldown = Duration::from_millis(500);
    p.retry_after = Duration::from_millis(300);
    p.fetch_timeout = Duration::from_millis(400);
    p.min_ttl = Duration::from_millis(1);
    p
}

fn builder(issuer: &str, policy: KeyCachePolicy) -> bearer_guard::BearerGuardBuilder {
    BearerGuard::builder().issuer(issuer).audience(AUDIENCE).key_cache_policy(policy).verified_token_cache(false)
}

fn jwks_guard(issuer: &TestIssuer, policy: KeyCachePolicy) -> BearerGuard {
    builder(issuer.issuer(), policy).jwks_uri(issuer.jwks_uri()).build().unwrap()
}

fn unavailable(result: &Result<VerifiedToken, AuthError>) -> bool {
    matches!(result, Err(AuthError::Unavailable { cause: Unavailable::Keys, .. }))
}

/// Serves `router` on 127.0.0.1:0; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

/// A JSON document at `path`, with `application/json`.
fn json_route(router: Router, path: &str, body: Value) -> Router {
    router.route(path, get(move || std::future::ready(axum::Json(body.clone()))))
}

/// Log lines written while the returned guard lives (current-thread runtimes only: the
/// subscriber is the thread's default).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn lines(&self, level: &str, containing: &str) -> Vec<String> {
        self.text().lines().filter(|l| l.contains(level) && l.contains(containing)).map(str::to_owned).collect()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 11 item 4: stale keys only after a failed fetch.

/// Past the TTL with a healthy issuer, the request waits for the fetch: a key the issuer has
/// removed no longer verifies. Before the fix the stale set answered and the removed key's
/// token got through (`Ok`) while the refresh ran in the background.
#[tokio::test]
async fn past_the_ttl_a_healthy_issuer_is_asked_before_verifying() {
    let issuer = start().await;
    let mut p = policy();
    p.default_ttl = Duration::from_millis(300);
    p.refresh_ahead = 1.0;
    let guard = jwks_guard(&issuer, p);
    let old_token = issuer.token().sign().unwrap();
    guard.verify(&old_token).await.expect("control: the published key verifies");

    // The issuer drops the (compromised) key while the guard is idle.
    issuer.rotate().unwrap();
    let new_token = issuer.token().sign().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;

    let refused = guard.verify(&old_token).await;
    assert!(matches!(refused, Err(AuthError::InvalidToken(InvalidToken::UnknownKey))), "{refused:?}");
    guard.verify(&new_token).await.expect("control: the new key verifies");
    assert_eq!(guard.key_stats().await[0].stale_serves, 0);
}

/// The stale set is still the fallback when that fetch fails (control for the above).
#[tokio::test]
async fn past_the_ttl_a_failing_issuer_falls_back_to_the_stale_set() {
    let issuer = start().await;
    let mut p = policy();
    p.default_ttl = Duration::from_millis(300);
    let guard = jwks_guard(&issuer, p);
    let token = issuer.token().sign().unwrap();
    guard.verify(&token).await.unwrap();
    issuer.set_failure(Failure::Status(500));
    tokio::time::sleep(Duration::from_millis(400)).await;
    guard.verify(&token).await.expect("stale-if-error");
    let stats = &guard.key_stats().await[0];
    assert_eq!((stats.failures, stats.stale_serves, stats.stale), (1, 1, true), "{stats:?}");
}

// ---------------------------------------------------------------------------------------------
// Issue 11 item 6: duplicate kids.

/// Two keys under one `kid` (as during a rotation): tokens of either verify. Before the fix,
/// only the first key was tried and the second key's token got 401 `BadSignature`.
#[tokio::test]
async fn every_key_under_a_duplicated_kid_is_tried() {
    let first = start().await;
    let second = start().await;
    let mut keys = Vec::new();
    for issuer in [&first, &second] {
        let mut key = issuer.jwks()["keys"][0].clone();
        key["kid"] = json!("dup");
        keys.push(key);
    }
    let url = serve(json_route(Router::new(), "/jwks", json!({ "keys": keys }))).await;
    let guard = builder(first.issuer(), policy()).jwks_uri(format!("{url}/jwks")).build().unwrap();

    let from_first = first.token().kid("dup").sign().unwrap();
    guard.verify(&from_first).await.expect("control: the first key under the kid");
    let from_second = second.token().issuer(first.issuer()).kid("dup").sign().unwrap();
    guard.verify(&from_second).await.expect("the second key under the kid");
    let forged = first.token().kid("dup").unpublished_key().sign().unwrap();
    let refused = guard.verify(&forged).await;
    assert!(matches!(refused, Err(AuthError::InvalidToken(InvalidToken::BadSignature))), "{refused:?}");
}

// ---------------------------------------------------------------------------------------------
// Issue 11 item 7: unknown kid while the issuer is down.

/// The client probably holds a token signed with a new key; whether that key exists is
/// unknown while the issuer is down: 503 + Retry-After, also for later kids in the cooldown.
/// Before the fix: 401 `UnknownKey`.
#[tokio::test]
async fn an_unknown_kid_while_the_issuer_is_down_is_503() {
    let issuer = start().await;
    let guard = jwks_guard(&issuer, policy());
    let token = issuer.token().sign().unwrap();
    guard.verify(&token).await.unwrap();
    issuer.set_failure(Failure::Down);

    let new_key = issuer.token().kid("rotated-in").sign().unwrap();
    let first = guard.verify(&new_key).await;
    assert!(unavailable(&first), "{first:?}");
    assert_eq!(first.unwrap_err().to_response(None, None).status(), 503);
    let in_cooldown = issuer.token().kid("another-new-one").sign().unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await; // past retry_after, within the cooldown
    let second = guard.verify(&in_cooldown).await;
    assert!(unavailable(&second), "{second:?}");
    guard.verify(&token).await.expect("control: known kid still verifies");

    // Issuer back, cooldown over: an unknown kid is an unknown kid again.
    issuer.set_failure(Failure::None);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let unknown = guard.verify(&new_key).await;
    assert!(matches!(unknown, Err(AuthError::InvalidToken(InvalidToken::UnknownKey))), "{unknown:?}");
}

// ---------------------------------------------------------------------------------------------
// Issue 11 item 8: policy values are checked in build().

fn setting(result: Result<BearerGuard, ConfigError>) -> &'static str {
    match result {
        Err(ConfigError::InvalidSetting { name, .. }) => name,
        other => panic!("expected InvalidSetting, got {other:?}"),
    }
}

/// Before the fix each of these built: `min_ttl > max_ttl` then panicked in `Duration::clamp`
/// on the request path, NaN `refresh_ahead` on every request, an overflowing `max_stale` in
/// `build()` itself.
#[test]
fn bad_policies_are_config_errors() {
    let build = |p: KeyCachePolicy| builder("https://idp.example.com", p).build();
    build(KeyCachePolicy::default()).expect("control: the defaults build");

    let mut p = KeyCachePolicy::default();
    p.min_ttl = Duration::from_secs(3600);
    p.max_ttl = Duration::from_secs(60);
    assert_eq!(setting(build(p)), "key_cache_policy.min_ttl");

    for bad in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
        let mut p = KeyCachePolicy::default();
        p.refresh_ahead = bad;
        assert_eq!(setting(build(p)), "key_cache_policy.refresh_ahead", "{bad}");
    }

    let mut p = KeyCachePolicy::default();
    p.max_stale = Duration::MAX;
    assert_eq!(setting(build(p)), "key_cache_policy.max_stale");
    let mut p = KeyCachePolicy::default();
    p.max_stale = Duration::from_secs(2000 * 365 * 86400); // over moka's 1000-year limit
    assert_eq!(setting(build(p)), "key_cache_policy.max_stale");

    let mut p = KeyCachePolicy::default();
    p.default_ttl = Duration::from_secs(7 * 86400);
    assert_eq!(setting(build(p)), "key_cache_policy.default_ttl");
    let mut p = KeyCachePolicy::default();
    p.fetch_timeout = Duration::ZERO;
    assert_eq!(setting(build(p)), "key_cache_policy.fetch_timeout");
    let mut p = KeyCachePolicy::default();
    p.max_keys = 0;
    assert_eq!(setting(build(p)), "key_cache_policy.max_keys");
}

/// A `max-age` beyond both clamps with a legal policy: no panic, the TTL is clamped.
#[tokio::test]
async fn max_age_is_clamped_without_panicking() {
    let issuer = start().await;
    issuer.set_cache_control(Some("max-age=999999999".to_owned()));
    let guard = jwks_guard(&issuer, policy());
    guard.verify(&issuer.token().sign().unwrap()).await.unwrap();
    assert!(!guard.key_stats().await[0].stale);
}

// ---------------------------------------------------------------------------------------------
// Issue 11 item 9: allow-lists without a usable algorithm.

/// A JWKS never yields HMAC keys, so `algorithms([HS256])` on a JWKS issuer answered 503
/// forever. Now a build error.
#[test]
fn hmac_only_allow_list_on_a_jwks_issuer_is_a_config_error() {
    let e = builder("https://idp.example.com", KeyCachePolicy::default()).algorithms([Algorithm::HS256]).build();
    assert!(matches!(&e, Err(ConfigError::InvalidSetting { name: "algorithms", .. })), "{e:?}");
    assert!(e.unwrap_err().to_string().contains("asymmetric algorithm"));
    builder("https://idp.example.com", KeyCachePolicy::default())
        .algorithms([Algorithm::HS256, Algorithm::ES256])
        .build()
        .expect("control: one asymmetric algorithm is enough");
}

/// A JWKS with only ES256 keys under an RS256-only allow-list says so, in the error and the log.
#[tokio::test]
async fn a_jwks_without_a_key_for_the_allowed_algorithms_says_so() {
    let (logs, _subscriber) = Logs::capture();
    let issuer = start().await;
    let guard =
        builder(issuer.issuer(), policy()).jwks_uri(issuer.jwks_uri()).algorithms([Algorithm::RS256]).build().unwrap();
    let error = guard.prefetch().await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("the JWK Set has no key usable with the allowed algorithms {RS256} (1 published)"), "{text}");
    assert!(error.errors()[0].is_misconfiguration());
    let logged = logs.lines("ERROR", "no key usable with the allowed algorithms");
    assert_eq!(logged.len(), 1, "{}", logs.text());

    let control = jwks_guard(&issuer, policy());
    control.prefetch().await.expect("control: ES256 allowed");
}

// ---------------------------------------------------------------------------------------------
// Issue 11 item 10: dropped futures.

/// A background refresh aborted mid-fetch (its runtime shut down) used to leave the
/// `background` flag set, so no refresh-ahead ever ran again. Now a drop guard clears it and
/// the next request in the refresh window starts a new refresh.
#[test]
fn an_aborted_background_refresh_does_not_stop_later_ones() {
    let server = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let issuer = server.block_on(start());
    let mut p = policy();
    p.default_ttl = Duration::from_secs(6);
    p.refresh_ahead = 0.2; // refresh from 1.2 s on
    p.fetch_timeout = Duration::from_secs(4);
    // No pooled connections: the first runtime's connections die with it.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let guard = builder(issuer.issuer(), p).jwks_uri(issuer.jwks_uri()).http_client(client).build().unwrap();
    let token = issuer.token().sign().unwrap();

    let first = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    first.block_on(guard.verify(&token)).unwrap();
    assert_eq!(issuer.jwks_requests(), 1);
    let initial = first.block_on(guard.key_stats())[0].last_success;
    std::thread::sleep(Duration::from_millis(1300));
    issuer.set_failure(Failure::Slow(Duration::from_secs(3)));
    first.block_on(async {
        guard.verify(&token).await.unwrap();
        // Let the refresh task send its request; it then waits on the slow issuer.
        let deadline = Instant::now() + Duration::from_secs(2);
        while issuer.jwks_requests() < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert_eq!(issuer.jwks_requests(), 2, "the background refresh started");
    drop(first); // aborts the refresh mid-fetch
    issuer.set_failure(Failure::None);

    let second = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let refreshed = second.block_on(async {
        guard.verify(&token).await.expect("control: still fresh enough to verify");
        let deadline = Instant::now() + Duration::from_secs(2);
        while guard.key_stats().await[0].last_success == initial {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The refresh landed: a new fetch counted, no failure.
        let stats = &guard.key_stats().await[0];
        stats.fetches == 3 && stats.failures == 0
    });
    assert!(refreshed, "no refresh-ahead after the aborted one: {:?}", second.block_on(guard.key_stats()));
}

/// A request dropped during a cold fetch (client gone, a timeout layer) leaves nothing held:
/// the next request fetches and verifies. (This one also passed before the fix, which only
/// lost the cooldown's lock-free fast path; it guards the single-flight against a stuck lock.)
#[tokio::test]
async fn a_request_dropped_mid_fetch_leaves_nothing_stuck() {
    let issuer = start().await;
    let mut p = policy();
    p.fetch_timeout = Duration::from_secs(2);
    let guard = jwks_guard(&issuer, p);
    let token = issuer.token().sign().unwrap();
    issuer.set_failure(Failure::Slow(Duration::from_millis(500)));
    let dropped = tokio::time::timeout(Duration::from_millis(100), guard.verify(&token)).await;
    assert!(dropped.is_err(), "the verify was cut off mid-fetch");
    issuer.set_failure(Failure::None);
    guard.verify(&token).await.expect("the next request fetches and verifies");
    let stats = &guard.key_stats().await[0];
    assert_eq!((stats.fetches, stats.failures, stats.key_count), (2, 0, 1), "{stats:?}");
}

// ---------------------------------------------------------------------------------------------
// Issue 11 item 12: one fetch budget; RFC 8414 only when the OIDC document is not there.

/// Discovery and JWKS each 60 % of the budget: together over it, so the cold fetch fails.
/// Before the fix each request had its own full timeout and this succeeded in 120 % of it.
#[tokio::test]
async fn discovery_and_jwks_share_one_budget() {
    let issuer = start().await;
    let mut p = policy();
    p.fetch_timeout = Duration::from_millis(500);
    let guard = builder(issuer.issuer(), p.clone()).build().unwrap();
    issuer.set_failure(Failure::Slow(Duration::from_millis(300)));
    let error = guard.prefetch().await.unwrap_err();
    assert!(error.to_string().contains("/jwks.json: timed out after 500 ms"), "{error}");

    // Control: within the budget.
    issuer.set_failure(Failure::Slow(Duration::from_millis(100)));
    let control = builder(issuer.issuer(), p).build().unwrap();
    control.prefetch().await.expect("both requests fit the budget");
}

/// A timed-out OIDC document is not a missing one: RFC 8414 is not asked (before the fix it
/// was, and the cold fetch took two timeouts).
#[tokio::test]
async fn no_rfc8414_fallback_after_a_timeout() {
    let issuer = start().await;
    issuer.set_failure(Failure::Slow(Duration::from_secs(2)));
    let guard = builder(issuer.issuer(), policy()).build().unwrap();
    let error = guard.prefetch().await.unwrap_err();
    assert_eq!(issuer.discovery_requests(), 1, "{error}");
    let urls: Vec<String> = error.errors()[0].attempts().urls().map(str::to_owned).collect();
    assert_eq!(urls, [format!("{}/.well-known/openid-configuration", issuer.issuer())]);
}

/// A 404 for the OIDC document falls back to RFC 8414 (the control of the above).
#[tokio::test]
async fn rfc8414_is_asked_after_a_404() {
    let issuer = start().await;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = json_route(
        Router::new(),
        "/.well-known/oauth-authorization-server",
        json!({ "issuer": base, "jwks_uri": issuer.jwks_uri() }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let guard = builder(&base, policy()).build().unwrap();
    let token = issuer.token().issuer(base.as_str()).sign().unwrap();
    guard.verify(&token).await.expect("keys found through RFC 8414");
}

// ---------------------------------------------------------------------------------------------
// Issue 10 item 11: diagnostics that lead to the fix.

/// Nothing listens: "connection refused", with the URL.
#[tokio::test]
async fn connection_refused_is_named() {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let guard = builder(&base, policy()).build().unwrap();
    let error = guard.prefetch().await.unwrap_err();
    let expected = format!("GET {base}/.well-known/openid-configuration: connection refused");
    assert!(error.to_string().contains(&expected), "{error}");
    assert!(!error.errors()[0].is_misconfiguration());
    // And a request meanwhile is 503, not 401.
    let issuer = start().await;
    let token = issuer.token().issuer(base.as_str()).sign().unwrap();
    assert!(unavailable(&guard.verify(&token).await));
}

/// A slow JWKS: "timed out after 400 ms", with the URL.
#[tokio::test]
async fn timeout_is_named_with_the_budget() {
    let issuer = start().await;
    issuer.set_failure(Failure::Slow(Duration::from_secs(2)));
    let guard = jwks_guard(&issuer, policy());
    let error = guard.prefetch().await.unwrap_err();
    let expected = format!("GET {}: timed out after 400 ms", issuer.jwks_uri());
    assert!(error.to_string().contains(&expected), "{error}");
}

/// Both discovery URLs 404: both are named.
#[tokio::test]
async fn every_url_tried_is_named() {
    let issuer = start().await;
    issuer.set_failure(Failure::Status(404));
    let guard = builder(issuer.issuer(), policy()).build().unwrap();
    let error = guard.prefetch().await.unwrap_err().to_string();
    let base = issuer.issuer();
    assert!(
        error.contains(&format!(
            "GET {base}/.well-known/openid-configuration: unexpected status 404; \
             GET {base}/.well-known/oauth-authorization-server: unexpected status 404"
        )),
        "{error}"
    );
}

/// The discovery document names another issuer: a misconfiguration, logged at ERROR with
/// `permanent=true` and both values; an outage is a WARN with `permanent=false`.
#[tokio::test]
async fn issuer_mismatch_is_a_misconfiguration_not_an_outage() {
    let (logs, _subscriber) = Logs::capture();
    let issuer = start().await;
    issuer.set_discovery_document(Some(json!({
        "issuer": "https://other.example.com",
        "jwks_uri": issuer.jwks_uri(),
    })));
    let guard = builder(issuer.issuer(), policy()).build().unwrap();
    let error = guard.prefetch().await.unwrap_err();
    let expected =
        format!("issuer mismatch: document says `https://other.example.com`, configured `{}`", issuer.issuer());
    assert!(error.to_string().contains(&expected), "{error}");
    assert!(error.errors()[0].is_misconfiguration());
    let logged = logs.lines("ERROR", &expected);
    assert_eq!(logged.len(), 1, "{}", logs.text());
    assert!(logged[0].contains("permanent=true"), "{}", logged[0]);

    // An outage, for contrast.
    let down = start().await;
    down.set_failure(Failure::Status(503));
    let outage = jwks_guard(&down, policy());
    let error = outage.prefetch().await.unwrap_err();
    assert!(!error.errors()[0].is_misconfiguration());
    let warned = logs.lines("WARN", "fetching signing keys failed");
    assert_eq!(warned.len(), 1, "{}", logs.text());
    assert!(warned[0].contains("permanent=false") && warned[0].contains("unexpected status 503"), "{}", warned[0]);

    // Control: the right document.
    issuer.set_discovery_document(None);
    tokio::time::sleep(Duration::from_millis(350)).await; // past retry_after
    guard.prefetch().await.expect("control: matching issuer");
}

// ---------------------------------------------------------------------------------------------
// Issue 11 item 14 (keys half): one warning per burst of fetch failures.

/// Three failed fetches in a row: one WARN, the others at DEBUG; the recovery is logged with
/// the number of failures before it. Before the fix: three WARN lines.
#[tokio::test]
async fn one_warning_per_burst_of_failures() {
    let (logs, _subscriber) = Logs::capture();
    let issuer = start().await;
    issuer.set_failure(Failure::Status(500));
    let guard = jwks_guard(&issuer, policy());
    let token = issuer.token().sign().unwrap();
    for _ in 0..3 {
        assert!(unavailable(&guard.verify(&token).await));
        tokio::time::sleep(Duration::from_millis(350)).await; // past retry_after
    }
    assert_eq!(guard.key_stats().await[0].failures, 3);
    assert_eq!(logs.lines("WARN", "fetching signing keys failed").len(), 1, "{}", logs.text());
    assert_eq!(logs.lines("DEBUG", "fetching signing keys failed again").len(), 2, "{}", logs.text());

    issuer.set_failure(Failure::None);
    guard.verify(&token).await.expect("control: recovers");
    assert_eq!(logs.lines("INFO", "failures_before=3").len(), 1, "{}", logs.text());
}

// ---------------------------------------------------------------------------------------------
// Issue 10 item 10: prefetch.

/// Several issuers: prefetch loads each, and reports only the failing ones.
#[tokio::test]
async fn prefetch_loads_every_issuer_and_names_the_failing_ones() {
    let good = start().await;
    let bad = start().await;
    bad.set_failure(Failure::Status(500));
    let guard = builder(good.issuer(), policy())
        .jwks_uri(good.jwks_uri())
        .trust(bearer_guard::Issuer::new(bad.issuer()).audience(AUDIENCE).jwks_uri(bad.jwks_uri()))
        .build()
        .unwrap();
    let error = guard.prefetch().await.unwrap_err();
    assert_eq!(error.errors().len(), 1);
    assert_eq!(error.errors()[0].issuer(), bad.issuer());
    assert!(error.to_string().starts_with("signing keys could not be loaded for 1 issuer(s)"), "{error}");
    let stats = guard.key_stats().await;
    assert_eq!((stats[0].key_count, stats[1].key_count), (1, 0));

    // Control: once the issuer answers, prefetch succeeds and no request waits.
    bad.set_failure(Failure::None);
    tokio::time::sleep(Duration::from_millis(350)).await;
    guard.prefetch().await.expect("both load");
    let before = (good.jwks_requests(), bad.jwks_requests());
    guard.verify(&good.token().sign().unwrap()).await.unwrap();
    guard.verify(&bad.token().sign().unwrap()).await.unwrap();
    assert_eq!((good.jwks_requests(), bad.jwks_requests()), before);
}
