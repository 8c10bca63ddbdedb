//! Micro-benchmarks: our full verify path against the floor (a bare `jsonwebtoken::decode`
//! with a pre-built `DecodingKey` and the same iss/aud/exp checks), per algorithm, and the
//! per-request cost of the layer and of a scope check; the verified-token-cache hit path on its
//! own (header to extensions, around a bare service); and the cost of a `Claims<T>` extractor.
//!
//! ```text
//! cargo bench --bench verify                                              # aws-lc-rs
//! cargo bench --bench verify --no-default-features --features rust-crypto # RustCrypto
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{Algorithm, BearerGuard, Claims, StaticKey, require_scopes};
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode, jwk::JwkSet};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn verify(c: &mut Criterion) {
    let rt = runtime();
    for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA] {
        let issuer = rt.block_on(TestIssuer::start_with(&[alg]));
        let token = issuer.token().scopes(["notes:read"]).sign().expect("token");
        let jwks: JwkSet = serde_json::from_value(issuer.jwks()).expect("jwks");
        let floor_key = DecodingKey::from_jwk(&jwks.keys[0]).expect("key");
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[issuer.issuer()]);
        validation.set_audience(&[TestIssuer::DEFAULT_AUDIENCE]);
        let (uncached, cached) = (guard_for(&issuer, false), guard_for(&issuer, true));
        rt.block_on(async {
            uncached.verify(&token).await.expect("verifies");
            cached.verify(&token).await.expect("verifies");
        });

        let mut group = c.benchmark_group(format!("verify/{alg:?}"));
        group.bench_function("floor: jsonwebtoken::decode", |b| {
            b.iter(|| decode::<Value>(black_box(&token), &floor_key, &validation).expect("floor"))
        });
        group.bench_function("bearer-guard, cache off", |b| {
            b.iter(|| rt.block_on(uncached.verify(black_box(&token))).expect("ours"))
        });
        group.bench_function("bearer-guard, cache on", |b| {
            b.iter(|| rt.block_on(cached.verify(black_box(&token))).expect("ours"))
        });
        // A new token's whole request: (layer, cache off) - (bare service) - floor is what
        // bearer-guard adds to the signature check (issue 17, target 2: at most 2 µs).
        let bare = bare_service();
        let layered = uncached.layer().layer(bare);
        let header = format!("Bearer {token}");
        let request = || Request::get("/").header("authorization", &header).body(Body::empty()).expect("request");
        assert!(rt.block_on(layered.clone().oneshot(request())).expect("response").status().is_success());
        group.bench_function("bare service", |b| {
            b.iter(|| assert!(rt.block_on(bare.oneshot(request())).expect("response").status().is_success()))
        });
        group.bench_function("bearer-guard layer, cache off", |b| {
            b.iter(|| assert!(rt.block_on(layered.clone().oneshot(request())).expect("response").status().is_success()))
        });
        group.finish();
    }

    let secret = b"benchmark-secret-of-at-least-32-bytes!";
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({"iss": "bench", "aud": "api", "sub": "u", "exp": now + 3600, "scope": "notes:read"});
    let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret)).expect("token");
    let floor_key = DecodingKey::from_secret(secret);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["bench"]);
    validation.set_audience(&["api"]);
    let guard = BearerGuard::builder()
        .issuer("bench")
        .audience("api")
        .static_key(StaticKey::hmac_secret(secret).expect("secret"))
        .verified_token_cache(false)
        .build()
        .expect("guard");
    let mut group = c.benchmark_group("verify/HS256");
    group.bench_function("floor: jsonwebtoken::decode", |b| {
        b.iter(|| decode::<Value>(black_box(&token), &floor_key, &validation).expect("floor"))
    });
    group.bench_function("bearer-guard, cache off", |b| {
        b.iter(|| rt.block_on(guard.verify(black_box(&token))).expect("ours"))
    });
    group.finish();
}

fn request(c: &mut Criterion) {
    let rt = runtime();
    let issuer = rt.block_on(TestIssuer::start_with(&[Algorithm::ES256]));
    let token = format!("Bearer {}", issuer.token().scopes(["notes:read"]).sign().expect("token"));
    let guard = guard_for(&issuer, true);
    let open = Router::new().route("/", get(|| async { "ok" }));
    let guarded = Router::new().route("/", get(|| async { "ok" })).route_layer(guard.layer());
    let scoped = Router::new()
        .route("/", get(|| async { "ok" }).route_layer(require_scopes(["notes:read"]).unwrap()))
        .route_layer(guard.layer());
    let send = |app: &Router| {
        let request = Request::get("/").header("authorization", &token).body(Body::empty()).expect("request");
        let response = rt.block_on(app.clone().oneshot(request)).expect("response");
        assert!(response.status().is_success());
    };
    send(&guarded);
    let mut group = c.benchmark_group("request (ES256, verified-token cache on)");
    group.bench_function("unprotected", |b| b.iter(|| send(&open)));
    group.bench_function("bearer-guard layer", |b| b.iter(|| send(&guarded)));
    group.bench_function("bearer-guard layer + require_scopes", |b| b.iter(|| send(&scoped)));
    group.finish();
}

/// The guard of every benchmark with a `TestIssuer`: its issuer, audience and JWKS.
fn guard_for(issuer: &TestIssuer, cache: bool) -> BearerGuard {
    BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(TestIssuer::DEFAULT_AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .verified_token_cache(cache)
        .build()
        .expect("guard")
}

/// A `tower` service that answers `200` with an empty body: what the layer wraps in the
/// request benchmarks, so their difference is the layer alone.
fn bare_service() -> impl tower::Service<
    Request<Body>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send,
> + Copy
+ Send
+ 'static {
    tower::service_fn(|_: Request<Body>| async { Ok::<_, Infallible>(axum::response::Response::new(Body::empty())) })
}

/// The cache-hit path alone: a bare `tower` service, and the same service behind the guard's
/// layer; the difference is everything bearer-guard does for a known token (finding the header,
/// the cache lookup, the expiry and key checks, the extensions).
fn hit_path(c: &mut Criterion) {
    let rt = runtime();
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let issuer = rt.block_on(TestIssuer::start_with(&[alg]));
        let token = format!("Bearer {}", issuer.token().scopes(["notes:read"]).sign().expect("token"));
        let guard = guard_for(&issuer, true);
        let bare = bare_service();
        let guarded = guard.layer().layer(bare);
        let request = || Request::get("/").header("authorization", &token).body(Body::empty()).expect("request");
        fn ok<B>(response: http::Response<B>) {
            assert!(response.status().is_success());
        }
        ok(rt.block_on(guarded.clone().oneshot(request())).expect("response"));
        let mut group = c.benchmark_group(format!("cache hit, header to extensions ({alg:?})"));
        group
            .bench_function("bare service", |b| b.iter(|| ok(rt.block_on(bare.oneshot(request())).expect("response"))));
        group.bench_function("bearer-guard layer", |b| {
            b.iter(|| ok(rt.block_on(guarded.clone().oneshot(request())).expect("response")))
        });
        group.finish();
    }
}

/// The claims a typical handler reads.
#[derive(Deserialize)]
struct SmallClaims {
    sub: String,
    scope: Option<String>,
    exp: i64,
}

/// A handler taking `Claims<SmallClaims>` against one taking nothing, both behind the guard.
fn claims_extractor(c: &mut Criterion) {
    let rt = runtime();
    let issuer = rt.block_on(TestIssuer::start_with(&[Algorithm::ES256]));
    let token = format!("Bearer {}", issuer.token().subject("alice").scopes(["notes:read"]).sign().expect("token"));
    let guard = guard_for(&issuer, true);
    let plain = Router::new().route("/", get(|| async { "ok" })).route_layer(guard.layer());
    let typed = Router::new()
        .route(
            "/",
            get(|Claims(c): Claims<SmallClaims>| async move {
                black_box((c.sub, c.scope, c.exp));
                "ok"
            }),
        )
        .route_layer(guard.layer());
    let send = |app: &Router| {
        let request = Request::get("/").header("authorization", &token).body(Body::empty()).expect("request");
        let response = rt.block_on(app.clone().oneshot(request)).expect("response");
        assert!(response.status().is_success());
    };
    send(&typed);
    let mut group = c.benchmark_group("handler (ES256, verified-token cache on)");
    group.bench_function("takes nothing", |b| b.iter(|| send(&plain)));
    group.bench_function("takes Claims<{sub, scope, exp}>", |b| b.iter(|| send(&typed)));
    group.finish();
}

criterion_group!(benches, verify, request, hit_path, claims_extractor);
criterion_main!(benches);
