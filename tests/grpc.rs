//! A real tonic client against the example's real tonic server on 127.0.0.1:0, behind
//! `guard.layer()` and the example's `MethodScopes` table; and HTTP/1 JSON routes on the same
//! guard, answered as before.

#[allow(dead_code)]
#[path = "../examples/grpc_notes/service.rs"]
mod service;

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use bearer_guard::testing::{Failure, TestIssuer};
use bearer_guard::{AccessTokenClaims, BearerGuard, Claims, KeyCachePolicy, require_scopes};
use service::pb::notes_client::NotesClient;
use service::pb::{AddNoteRequest, DeleteNoteRequest, ListNotesRequest, WatchNotesRequest};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

const AUDIENCE: &str = TestIssuer::DEFAULT_AUDIENCE;

struct Server {
    issuer: TestIssuer,
    addr: SocketAddr,
    guard: BearerGuard,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

fn guard_for(issuer: &TestIssuer) -> BearerGuard {
    let mut policy = KeyCachePolicy::default();
    policy.retry_after = Duration::from_millis(300);
    policy.fetch_timeout = Duration::from_millis(500);
    BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .key_cache_policy(policy)
        .build()
        .unwrap()
}

async fn start_with(issuer: TestIssuer) -> Server {
    let guard = guard_for(&issuer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = guard.clone();
    tokio::spawn(async move {
        service::serve(listener, &served, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server { issuer, addr, guard, _shutdown: tx }
}

async fn start() -> Server {
    start_with(TestIssuer::start().await).await
}

impl Server {
    async fn client(&self) -> NotesClient<Channel> {
        NotesClient::connect(format!("http://{}", self.addr)).await.unwrap()
    }

    fn token(&self, scopes: &[&str]) -> String {
        self.issuer.token().subject("alice").scopes(scopes.iter().copied()).sign().unwrap()
    }
}

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

fn challenge(status: &Status) -> &str {
    status.metadata().get("www-authenticate").expect("www-authenticate metadata").to_str().unwrap()
}

#[tokio::test]
async fn good_token_is_ok_and_the_handler_sees_its_subject() {
    let server = start().await;
    let mut client = server.client().await;
    let write = server.token(&["notes:read", "notes:write"]);
    let note =
        client.add(with_token(AddNoteRequest { text: "hello".into() }, Some(&write))).await.unwrap().into_inner();
    assert_eq!((note.id, note.text.as_str(), note.author.as_str()), (1, "hello", "alice"));
    let list = client.list(with_token(ListNotesRequest {}, Some(&write))).await.unwrap().into_inner();
    assert_eq!(list.notes, vec![note]);
}

#[tokio::test]
async fn no_token_is_unauthenticated_with_a_bare_challenge() {
    let server = start().await;
    let mut client = server.client().await;
    let status = client.list(with_token(ListNotesRequest {}, None)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "no bearer token");
    assert_eq!(challenge(&status), "Bearer realm=\"api\"");
    // The same call with a good token passes.
    let read = server.token(&["notes:read"]);
    client.list(with_token(ListNotesRequest {}, Some(&read))).await.unwrap();
}

#[tokio::test]
async fn expired_and_wrong_audience_tokens_are_unauthenticated_with_their_reason() {
    let server = start().await;
    let mut client = server.client().await;
    let expired = server.issuer.token().scopes(["notes:read"]).expires_in(-3600).sign().unwrap();
    let status = client.list(with_token(ListNotesRequest {}, Some(&expired))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "token has expired");
    assert_eq!(
        challenge(&status),
        "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token has expired\""
    );

    let other_aud = server.issuer.token().audience("https://other.example").scopes(["notes:read"]).sign().unwrap();
    let status = client.list(with_token(ListNotesRequest {}, Some(&other_aud))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "token is not meant for this audience");

    let forged = server.issuer.token().scopes(["notes:read"]).unpublished_key().sign().unwrap();
    let status = client.list(with_token(ListNotesRequest {}, Some(&forged))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let good = server.token(&["notes:read"]);
    client.list(with_token(ListNotesRequest {}, Some(&good))).await.unwrap();
}

#[tokio::test]
async fn read_only_token_on_add_is_permission_denied_naming_the_scope() {
    let server = start().await;
    let mut client = server.client().await;
    let read = server.token(&["notes:read"]);
    let status = client.add(with_token(AddNoteRequest { text: "x".into() }, Some(&read))).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "token lacks a required scope");
    assert_eq!(
        challenge(&status),
        "Bearer realm=\"api\", error=\"insufficient_scope\", \
         error_description=\"token lacks a required scope\", scope=\"notes:write\""
    );
    // Nothing was added; a write token can.
    assert!(client.list(with_token(ListNotesRequest {}, Some(&read))).await.unwrap().into_inner().notes.is_empty());
    let write = server.token(&["notes:write"]);
    client.add(with_token(AddNoteRequest { text: "x".into() }, Some(&write))).await.unwrap();
}

#[tokio::test]
async fn typed_scope_check_in_a_handler_is_permission_denied_without_admin() {
    let server = start().await;
    let mut client = server.client().await;
    let write = server.token(&["notes:read", "notes:write"]);
    let note = client.add(with_token(AddNoteRequest { text: "x".into() }, Some(&write))).await.unwrap().into_inner();
    let status = client.delete(with_token(DeleteNoteRequest { id: note.id }, Some(&write))).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(challenge(&status).ends_with("scope=\"admin\""), "{}", challenge(&status));
    let admin = server.token(&["admin"]);
    client.delete(with_token(DeleteNoteRequest { id: note.id }, Some(&admin))).await.unwrap();
    let status = client.delete(with_token(DeleteNoteRequest { id: note.id }, Some(&admin))).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn two_authorization_entries_are_invalid_argument() {
    let server = start().await;
    let mut client = server.client().await;
    let read = server.token(&["notes:read"]);
    let mut request = with_token(ListNotesRequest {}, Some(&read));
    request.metadata_mut().append("authorization", format!("Bearer {read}").parse().unwrap());
    let status = client.list(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "more than one Authorization header");
}

#[tokio::test]
async fn jwks_down_on_a_cold_cache_is_unavailable_then_recovers() {
    let issuer = TestIssuer::start().await;
    issuer.set_failure(Failure::Down);
    let server = start_with(issuer).await;
    let mut client = server.client().await;
    let read = server.token(&["notes:read"]);
    let status = client.list(with_token(ListNotesRequest {}, Some(&read))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "signing keys are temporarily unavailable");
    assert!(status.metadata().get("retry-after").is_some());
    assert!(status.metadata().get("www-authenticate").is_none());

    // The issuer comes back: the same token passes once the retry-after has passed.
    server.issuer.set_failure(Failure::None);
    let mut last = None;
    for _ in 0..40 {
        match client.list(with_token(ListNotesRequest {}, Some(&read))).await {
            Ok(_) => return,
            Err(status) => last = Some(status),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("still refused after the issuer recovered: {last:?}");
}

#[tokio::test]
async fn server_streaming_watch_is_protected_the_same_way() {
    let server = start().await;
    let mut client = server.client().await;

    let status = client.watch(with_token(WatchNotesRequest {}, None)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let expired = server.issuer.token().scopes(["notes:read"]).expires_in(-3600).sign().unwrap();
    let status = client.watch(with_token(WatchNotesRequest {}, Some(&expired))).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "token has expired"));
    let no_read = server.token(&["notes:write"]);
    let status = client.watch(with_token(WatchNotesRequest {}, Some(&no_read))).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(challenge(&status).ends_with("scope=\"notes:read\""));

    // With notes:read the stream delivers the notes added while it is open.
    let read = server.token(&["notes:read"]);
    let mut stream = client.watch(with_token(WatchNotesRequest {}, Some(&read))).await.unwrap().into_inner();
    let mut writer = server.client().await;
    let write = server.token(&["notes:write"]);
    for text in ["one", "two"] {
        writer.add(with_token(AddNoteRequest { text: text.into() }, Some(&write))).await.unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let note = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap();
        seen.push(note.text);
    }
    assert_eq!(seen, ["one", "two"]);
}

#[tokio::test]
async fn http1_json_routes_on_the_same_guard_keep_their_answers() {
    let server = start().await;
    async fn me(Claims(c): Claims<AccessTokenClaims>) -> Json<serde_json::Value> {
        Json(serde_json::json!({ "sub": c.sub }))
    }
    async fn create() -> &'static str {
        "created"
    }
    let app = Router::new()
        .route("/me", get(me))
        .route("/notes", post(create).route_layer(require_scopes(["notes:write"]).unwrap()))
        .route_layer(server.guard.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();

    let read = server.token(&["notes:read"]);
    let r = http.get(format!("{base}/me")).bearer_auth(&read).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), serde_json::json!({ "sub": "alice" }));

    let r = http.get(format!("{base}/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"api\"");
    assert_eq!(r.text().await.unwrap(), "no bearer token");

    let r = http.post(format!("{base}/notes")).bearer_auth(&read).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().ends_with("scope=\"notes:write\""));
    let write = server.token(&["notes:write"]);
    let r = http.post(format!("{base}/notes")).bearer_auth(&write).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
