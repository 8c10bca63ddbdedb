//! gRPC unary calls over loopback (a tonic client and the `grpc_notes` example's tonic server),
//! unprotected vs behind `guard.layer()` + `MethodScopes` (verified-token cache on), in the same
//! run; and what the layer's boxed response future costs.
//!
//! ```text
//! cargo bench --bench grpc
//! ```

#[allow(dead_code)]
#[path = "../examples/grpc_notes/service.rs"]
mod service;

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;

use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerGuard, StaticKey};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use service::pb::ListNotesRequest;
use service::pb::notes_client::NotesClient;
use service::pb::notes_server::NotesServer;
use tower::{ServiceExt, service_fn};

fn grpc_unary(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let issuer = rt.block_on(TestIssuer::start());
    let guard = BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(TestIssuer::DEFAULT_AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .build()
        .expect("guard");
    let token = issuer.token().scopes(["notes:read"]).sign().expect("token");

    let (open, protected) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let open_addr = listener.local_addr().expect("addr");
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(NotesServer::new(service::NotesService::default()))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let protected_addr = listener.local_addr().expect("addr");
        let served = guard.clone();
        tokio::spawn(async move { service::serve(listener, &served, std::future::pending()).await });
        let open = NotesClient::connect(format!("http://{open_addr}")).await.expect("connect");
        let protected = NotesClient::connect(format!("http://{protected_addr}")).await.expect("connect");
        (open, protected)
    });
    let authorization: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().expect("metadata");
    let call = |client: &NotesClient<tonic::transport::Channel>| {
        let mut client = client.clone();
        let mut request = tonic::Request::new(ListNotesRequest {});
        request.metadata_mut().insert("authorization", authorization.clone());
        rt.block_on(async move { client.list(request).await.expect("list") })
    };
    call(&protected); // keys fetched, token cached

    let mut group = c.benchmark_group("grpc unary List over loopback (RS256, verified-token cache on)");
    group.bench_function("unprotected", |b| b.iter(|| call(&open)));
    group.bench_function("guard.layer() + MethodScopes", |b| b.iter(|| call(&protected)));
    group.finish();
}

/// The layer boxes one future per request. Measured three ways: a bare `tower::Service` with
/// and without the layer (HS256 token, cache on), and `Box::pin` + poll of futures of the
/// sizes such a future has, against the same future unboxed.
fn response_future(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let secret = b"benchmark-secret-of-at-least-32-bytes!";
    let guard = BearerGuard::builder()
        .issuer("bench")
        .audience("api")
        .static_key(StaticKey::hmac_secret(secret).expect("secret"))
        .build()
        .expect("guard");
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({"iss": "bench", "aud": "api", "sub": "u", "exp": now + 3600});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("token");
    let authorization = format!("Bearer {token}");
    let inner = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::new())) });
    let guarded = tower::ServiceBuilder::new().layer(guard.layer()).service(inner);
    let request = || Request::get("/").header("authorization", &authorization).body(()).expect("request");

    let mut group = c.benchmark_group("bare tower::Service (HS256, verified-token cache on)");
    group
        .bench_function("inner service alone", |b| b.iter(|| rt.block_on(inner.oneshot(request())).expect("response")));
    group.bench_function("guard.layer() around it", |b| {
        b.iter(|| {
            let response = rt.block_on(guarded.clone().oneshot(request())).expect("response");
            assert!(response.status().is_success());
        })
    });
    group.finish();

    fn sized<const N: usize>() -> impl Future<Output = usize> + Send {
        let payload = [7u8; N];
        async move {
            tokio::task::yield_now().await; // held across an await: part of the future's state
            black_box(&payload).len()
        }
    }
    fn boxed<const N: usize>() -> Pin<Box<dyn Future<Output = usize> + Send>> {
        Box::pin(sized::<N>())
    }
    let mut group = c.benchmark_group("one future per request: unboxed vs Box::pin");
    group.bench_function("512 B unboxed", |b| b.iter(|| rt.block_on(sized::<512>())));
    group.bench_function("512 B boxed", |b| b.iter(|| rt.block_on(boxed::<512>())));
    group.bench_function("2 KiB unboxed", |b| b.iter(|| rt.block_on(sized::<2048>())));
    group.bench_function("2 KiB boxed", |b| b.iter(|| rt.block_on(boxed::<2048>())));
    group.finish();
}

criterion_group!(benches, grpc_unary, response_future);
criterion_main!(benches);
