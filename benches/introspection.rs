//! Introspection (issue 12): the per-request cost of an opaque token on an introspection-cache
//! hit, as a ratio of the unprotected route in the same run (with a cached JWT beside it), then
//! two counts: introspection calls per distinct token, and calls/s reaching the authorization
//! server under a flood of distinct random tokens (the in-flight cap at its default, 32).
//!
//! ```text
//! cargo bench --bench introspection
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::testing::{Failure, TestIssuer};
use bearer_guard::{Algorithm, BearerGuard, ClientAuth, Introspection};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use tower::ServiceExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn guard(issuer: &TestIssuer) -> BearerGuard {
    BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(TestIssuer::DEFAULT_AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .introspection(
            Introspection::new(
                TestIssuer::INTROSPECTION_CLIENT_ID,
                ClientAuth::client_secret_basic(TestIssuer::INTROSPECTION_CLIENT_SECRET),
            )
            .endpoint(issuer.introspection_endpoint()),
        )
        .build()
        .expect("guard")
}

async fn status(app: &Router, authorization: &str) -> StatusCode {
    let request = Request::get("/").header("authorization", authorization).body(Body::empty()).expect("request");
    app.clone().oneshot(request).await.expect("response").status()
}

fn cache_hit(c: &mut Criterion) {
    let rt = runtime();
    let issuer = rt.block_on(TestIssuer::start_with(&[Algorithm::ES256]));
    let guard = guard(&issuer);
    let opaque = format!("Bearer {}", issuer.opaque_token().scopes(["notes:read"]).issue());
    let jwt = format!("Bearer {}", issuer.token().scopes(["notes:read"]).sign().expect("token"));
    let open = Router::new().route("/", get(|| async { "ok" }));
    let guarded = Router::new().route("/", get(|| async { "ok" })).route_layer(guard.layer());
    let send = |app: &Router, auth: &str| assert!(rt.block_on(status(app, auth)).is_success());
    send(&guarded, &opaque);
    send(&guarded, &jwt);
    let calls_before = issuer.introspection_requests();
    let mut group = c.benchmark_group("request (introspection cache hit)");
    group.bench_function("unprotected", |b| b.iter(|| send(&open, &opaque)));
    group.bench_function("opaque token, introspected (cache hit)", |b| b.iter(|| send(&guarded, &opaque)));
    group.bench_function("JWT ES256 (verified-token cache hit)", |b| b.iter(|| send(&guarded, &jwt)));
    group.finish();
    assert_eq!(issuer.introspection_requests(), calls_before, "cache hits must make no call");
}

/// Not timed by criterion: counts printed on stdout.
fn counts(_: &mut Criterion) {
    let rt = runtime();
    rt.block_on(async {
        let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
        let app = Router::new().route("/", get(|| async { "ok" })).route_layer(guard(&issuer).layer());
        let tokens: Vec<String> = (0..1000).map(|_| format!("Bearer {}", issuer.opaque_token().issue())).collect();
        for _ in 0..10 {
            for t in &tokens {
                assert_eq!(status(&app, t).await, StatusCode::OK);
            }
        }
        let calls = issuer.introspection_requests();
        println!(
            "introspection calls per distinct token: {calls} calls / {} tokens = {:.3} (10 requests each)",
            tokens.len(),
            calls as f64 / tokens.len() as f64
        );

        // Flood: 256 concurrent clients sending distinct random tokens for 5 s, against an
        // authorization server that takes 20 ms per answer.
        let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
        issuer.set_introspection_failure(Failure::Slow(Duration::from_millis(20)));
        let app = Router::new().route("/", get(|| async { "ok" })).route_layer(guard(&issuer).layer());
        let (refused, unavailable) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let deadline = Instant::now() + Duration::from_secs(5);
        let start = Instant::now();
        let clients: Vec<_> = (0..256)
            .map(|i| {
                let (app, refused, unavailable) = (app.clone(), refused.clone(), unavailable.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        n += 1;
                        match status(&app, &format!("Bearer flood-{i}-{n}")).await {
                            StatusCode::UNAUTHORIZED => refused.fetch_add(1, Ordering::Relaxed),
                            StatusCode::SERVICE_UNAVAILABLE => unavailable.fetch_add(1, Ordering::Relaxed),
                            other => panic!("unexpected {other}"),
                        };
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.expect("client");
        }
        let secs = start.elapsed().as_secs_f64();
        let calls = issuer.introspection_requests();
        println!(
            "flood of distinct random tokens ({secs:.1} s, 256 clients, AS answers in 20 ms, cap 32): \
             {calls} calls = {:.0} calls/s reaching the AS (ceiling 32 / 20 ms = 1600/s); \
             {} refused 401, {} got 503 + Retry-After",
            calls as f64 / secs,
            refused.load(Ordering::Relaxed),
            unavailable.load(Ordering::Relaxed)
        );
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = cache_hit, counts
}
criterion_main!(benches);
