//! Interop, issue 12: OPAQUE access tokens from a REAL OpenID Provider (panva's
//! `oidc-provider`, tests/support/oidc_provider.rs) introspected (RFC 7662) by the example
//! microservice's guard, built as `examples/microservice/main.rs` builds it from `ISSUER`,
//! `INTROSPECTION_CLIENT_ID`, `INTROSPECTION_CLIENT_SECRET` and `INTROSPECTION_AUTH` (the
//! endpoint comes from the provider's discovery document). Revocation is RFC 7009 at the
//! provider. Introspection calls are counted by a forwarding proxy on 127.0.0.1.
//!
//! Needs Node.js >= 20 and npm on PATH (the harness panics, never skips, without them).

#[path = "support/oidc_provider.rs"]
mod oidc_provider;

#[path = "../examples/microservice/app.rs"]
#[allow(dead_code)]
mod app;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use bearer_guard::{Algorithm, BearerGuard, BearerGuardBuilder, ClientAuth, Introspection};
use oidc_provider::{CLIENT_ID, CLIENT_SECRET, OidcProvider, ProviderConfig};
use reqwest::Method;
use serde_json::{Value, json};

const AUDIENCE: &str = "https://notes.example.test";
const RS_CLIENT_ID: &str = "notes-api";
const RS_CLIENT_SECRET: &str = "notes-api-secret";
const RS_JWT_CLIENT_ID: &str = "notes-api-jwt";
const RS_JWT_KID: &str = "notes-api-jwt-1";

/// The guard exactly as `examples/microservice/main.rs` builds it with `ISSUER` and the
/// introspection variables set.
fn example_builder(provider: &OidcProvider, auth: &str, secret: &str) -> BearerGuardBuilder {
    let auth = match auth {
        "client_secret_basic" => ClientAuth::client_secret_basic(secret),
        "client_secret_post" => ClientAuth::client_secret_post(secret),
        other => panic!("INTROSPECTION_AUTH={other}"),
    };
    BearerGuard::builder()
        .issuer(provider.issuer())
        .audience(AUDIENCE)
        .introspection(Introspection::new(RS_CLIENT_ID, auth))
}

/// RFC 7009 revocation at the provider, as the client the token was issued to.
async fn revoke(provider: &OidcProvider, token: &str) {
    let response = reqwest::Client::new()
        .post(format!("{}/token/revocation", provider.issuer()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

struct Service {
    base: String,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Service {
    async fn start(guard: &BearerGuard) -> Service {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = app::router(guard);
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap();
        Service { base, http, server }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Option<String>, String) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        (status, challenge, response.text().await.unwrap())
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Option<String>, String) {
        self.call(Method::GET, path, token, None).await
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A forwarding proxy in front of the provider's introspection endpoint that counts calls.
struct CountingProxy {
    url: String,
    calls: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    async fn start(target: String) -> CountingProxy {
        let calls = Arc::new(AtomicUsize::new(0));
        async fn forward(
            State((target, calls)): State<(String, Arc<AtomicUsize>)>,
            headers: http::HeaderMap,
            body: Bytes,
        ) -> axum::response::Response {
            calls.fetch_add(1, Ordering::SeqCst);
            let mut request = reqwest::Client::new().post(&target).body(body);
            for name in ["authorization", "content-type", "accept"] {
                if let Some(value) = headers.get(name) {
                    request = request.header(name, value.to_str().unwrap());
                }
            }
            let response = request.send().await.unwrap();
            let status = http::StatusCode::from_u16(response.status().as_u16()).unwrap();
            let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
            (status, [("content-type", content_type)], response.bytes().await.unwrap()).into_response()
        }
        let router = axum::Router::new()
            .route("/introspect", axum::routing::post(forward))
            .with_state((target, Arc::clone(&calls)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/introspect", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        CountingProxy { url, calls, server }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Every log line of this test process (one global subscriber, installed once).
fn logs() -> &'static Mutex<String> {
    static LOGS: OnceLock<&'static Mutex<String>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static Mutex<String> = Box::leak(Box::new(Mutex::new(String::new())));
        struct Writer(&'static Mutex<String>);
        impl std::io::Write for Writer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().push_str(&String::from_utf8_lossy(buf));
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || Writer(logs)).finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_token_reaches_every_route_with_the_right_scope_answers() {
    let provider = OidcProvider::start(ProviderConfig::default()).await;
    let guard = example_builder(&provider, "client_secret_basic", RS_CLIENT_SECRET).build().unwrap();
    let service = Service::start(&guard).await;
    let read = provider.opaque_token(&["notes:read"]).await;
    let write = provider.opaque_token(&["notes:read", "notes:write"]).await;
    let admin = provider.opaque_token(&["admin"]).await;

    let (status, _, body) = service.get("/me", &read).await;
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["client_id"], CLIENT_ID);
    assert_eq!(me["scopes"], json!(["notes:read"]));

    assert_eq!(service.get("/notes", &read).await.0, 200);
    let (status, challenge, _) = service.get("/notes", &admin).await;
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains("scope=\"notes:read\""));

    let (status, challenge, _) = service.call(Method::POST, "/notes", &read, Some(json!({"text": "x"}))).await;
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains("scope=\"notes:write\""));
    let (status, _, body) = service.call(Method::POST, "/notes", &write, Some(json!({"text": "hello"}))).await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_u64().unwrap();

    let (status, challenge, _) = service.call(Method::DELETE, &format!("/notes/{id}"), &write, None).await;
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains("scope=\"admin\""));
    assert_eq!(service.call(Method::DELETE, &format!("/notes/{id}"), &admin, None).await.0, 204);
    assert_eq!(service.call(Method::DELETE, &format!("/notes/{id}"), &admin, None).await.0, 404);

    // A made-up opaque token: 401 invalid_token (the provider says inactive).
    let (status, challenge, _) = service.get("/me", "bm90LWEtdG9rZW4tb2YtdGhpcy1wcm92aWRlcg").await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("token is not active"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_at_the_provider_is_refused_once_its_cache_entry_ends() {
    let provider = OidcProvider::start(ProviderConfig::default()).await;
    let introspection = Introspection::new(RS_CLIENT_ID, ClientAuth::client_secret_basic(RS_CLIENT_SECRET))
        .cache_ttl(Duration::from_secs(1));
    let guard = BearerGuard::builder().issuer(provider.issuer()).audience(AUDIENCE).introspection(introspection);
    let service = Service::start(&guard.build().unwrap()).await;
    let token = provider.opaque_token(&["notes:read"]).await;
    let other = provider.opaque_token(&["notes:read"]).await;
    assert_eq!(service.get("/notes", &token).await.0, 200);
    revoke(&provider, &token).await;
    // Still in the cache: served until the entry ends.
    assert_eq!(service.get("/notes", &token).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, challenge, _) = service.get("/notes", &token).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    // Control: a token that was not revoked still passes.
    assert_eq!(service.get("/notes", &other).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_opaque_token_is_refused() {
    let provider = OidcProvider::start(ProviderConfig { access_token_ttl_secs: 2, ..ProviderConfig::default() }).await;
    let guard = example_builder(&provider, "client_secret_basic", RS_CLIENT_SECRET).build().unwrap();
    let service = Service::start(&guard).await;
    let token = provider.opaque_token(&["notes:read"]).await;
    // Not asked before it expires: the provider's answer is the only source of truth.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (status, challenge, _) = service.get("/notes", &token).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    // Control: a fresh token of the same provider passes.
    assert_eq!(service.get("/notes", &provider.opaque_token(&["notes:read"]).await).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_client_credentials_are_503_with_a_log_line_saying_why() {
    let logs = logs();
    let provider = OidcProvider::start(ProviderConfig::default()).await;
    let wrong = example_builder(&provider, "client_secret_basic", "not-the-secret").build().unwrap();
    let service = Service::start(&wrong).await;
    let token = provider.opaque_token(&["notes:read"]).await;
    let response = service.http.get(format!("{}/notes", service.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    assert!(response.headers().get("www-authenticate").is_none());
    let logged = logs.lock().unwrap().clone();
    assert!(logged.contains("refused this API's client credentials (HTTP 401)"), "{logged}");
    assert!(!logged.contains(&token), "the token must never be logged");
    // Control: the right secret, same token.
    let right =
        Service::start(&example_builder(&provider, "client_secret_basic", RS_CLIENT_SECRET).build().unwrap()).await;
    assert_eq!(right.get("/notes", &token).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_basic_post_and_private_key_jwt_all_authenticate() {
    let provider = OidcProvider::start(ProviderConfig::default()).await;
    let token = provider.opaque_token(&["notes:read"]).await;
    for method in ["client_secret_basic", "client_secret_post"] {
        let service = Service::start(&example_builder(&provider, method, RS_CLIENT_SECRET).build().unwrap()).await;
        assert_eq!(service.get("/notes", &token).await.0, 200, "{method}");
    }
    let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc-provider/introspection-client.key.pem"))
        .unwrap();
    let auth = ClientAuth::private_key_jwt(Algorithm::RS256, &pem).unwrap().key_id(RS_JWT_KID);
    let guard = BearerGuard::builder()
        .issuer(provider.issuer())
        .audience(AUDIENCE)
        .introspection(Introspection::new(RS_JWT_CLIENT_ID, auth))
        .build()
        .unwrap();
    assert_eq!(Service::start(&guard).await.get("/notes", &token).await.0, 200, "private_key_jwt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_of_the_same_provider_verifies_locally_with_zero_introspection_calls() {
    let provider = OidcProvider::start(ProviderConfig::default()).await;
    let proxy = CountingProxy::start(format!("{}/token/introspection", provider.issuer())).await;
    let introspection =
        Introspection::new(RS_CLIENT_ID, ClientAuth::client_secret_basic(RS_CLIENT_SECRET)).endpoint(&proxy.url);
    let guard = BearerGuard::builder().issuer(provider.issuer()).audience(AUDIENCE).introspection(introspection);
    let service = Service::start(&guard.build().unwrap()).await;
    let jwt = provider.token(&["notes:read"]).await;
    assert_eq!(jwt.split('.').count(), 3);
    for _ in 0..5 {
        assert_eq!(service.get("/notes", &jwt).await.0, 200);
    }
    assert_eq!(proxy.calls(), 0, "a JWT of a trusted issuer is never introspected in opaque-only mode");
    // Control: the proxy does count, one call per distinct opaque token.
    let opaque = provider.opaque_token(&["notes:read"]).await;
    for _ in 0..5 {
        assert_eq!(service.get("/notes", &opaque).await.0, 200);
    }
    assert_eq!(proxy.calls(), 1);
}
