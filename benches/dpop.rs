//! DPoP cost per request: a request with a DPoP-bound token and a fresh ES256 proof against the
//! same request with a bearer token, both through the layer with the verified-token cache on
//! (so the token's own signature is not re-checked), and the floor: one ES256 signature
//! verification with a pre-built key. Proof signing happens in the untimed setup.
//!
//! ```text
//! cargo bench --bench dpop
//! ```

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::testing::{DpopKey, TestIssuer};
use bearer_guard::{Algorithm, BearerGuard, MemoryReplayStore};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use jsonwebtoken::DecodingKey;
use tower::ServiceExt;

const BASE: &str = "https://api.example.com";

fn dpop(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let issuer = rt.block_on(TestIssuer::start_with(&[Algorithm::ES256]));
    let guard = BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(TestIssuer::DEFAULT_AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .public_url(BASE)
        .expect("url")
        // Room for every proof of the run: the default store would fill up and answer 503.
        .dpop_replay_store(MemoryReplayStore::new(20_000_000))
        .build()
        .expect("guard");
    let app = Router::new().route("/notes", get(|| async { "notes" })).route_layer(guard.layer());
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let bearer = issuer.token().scopes(["notes:read"]).sign().expect("token");
    let bound = issuer.token().scopes(["notes:read"]).dpop_bound(&key).sign().expect("token");
    let bearer_request =
        || Request::get("/notes").header("authorization", format!("Bearer {bearer}")).body(Body::empty()).expect("req");
    let dpop_request = || {
        let proof = key.proof("GET", &format!("{BASE}/notes")).access_token(&bound).sign().expect("proof");
        Request::get("/notes")
            .header("authorization", format!("DPoP {bound}"))
            .header("dpop", proof)
            .body(Body::empty())
            .expect("req")
    };
    // Warm the verified-token cache and check both paths answer 200.
    rt.block_on(async {
        assert_eq!(app.clone().oneshot(bearer_request()).await.expect("ok").status(), StatusCode::OK);
        assert_eq!(app.clone().oneshot(dpop_request()).await.expect("ok").status(), StatusCode::OK);
    });

    // The floor: one ES256 verification of a proof with a key built beforehand.
    let proof = key.proof("GET", &format!("{BASE}/notes")).access_token(&bound).sign().expect("proof");
    let (message, signature) = proof.rsplit_once('.').expect("jws");
    let jwk = key.public_jwk();
    let floor_key =
        DecodingKey::from_ec_components(jwk["x"].as_str().expect("x"), jwk["y"].as_str().expect("y")).expect("key");
    assert!(jsonwebtoken::crypto::verify(signature, message.as_bytes(), &floor_key, Algorithm::ES256).expect("ok"));

    let mut group = c.benchmark_group("dpop");
    group.bench_function("floor: one ES256 verify", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(
                black_box(signature),
                black_box(message.as_bytes()),
                &floor_key,
                Algorithm::ES256,
            )
            .expect("verify")
        })
    });
    group.bench_function("request: Bearer, cache on", |b| {
        b.iter_batched(
            bearer_request,
            |request| {
                let response = rt.block_on(app.clone().oneshot(request)).expect("ok");
                assert_eq!(response.status(), StatusCode::OK);
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("request: DPoP ES256 proof, cache on", |b| {
        b.iter_batched(
            dpop_request,
            |request| {
                let response = rt.block_on(app.clone().oneshot(request)).expect("ok");
                assert_eq!(response.status(), StatusCode::OK);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, dpop);
criterion_main!(benches);
