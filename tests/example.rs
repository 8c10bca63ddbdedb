//! The example microservice (`examples/microservice/`): the curl commands it prints get the
//! answers they promise, `POST /notes` validates its input, the store is capped and paginated,
//! and the service, served with the limits of `serve.rs`, survives slow and flooding clients.
//! Everything runs in-process on 127.0.0.1:0 against the crate's own `TestIssuer`.

#[path = "../examples/microservice/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../examples/microservice/embedded.rs"]
mod embedded;
#[path = "../examples/microservice/serve.rs"]
#[allow(dead_code)]
mod serve;
#[path = "../examples/microservice/tour.rs"]
mod tour;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, to_bytes};
use bearer_guard::BearerGuard;
use bearer_guard::testing::TestIssuer;
use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};
use tower::ServiceExt;

const AUDIENCE: &str = "https://notes.example.test";

/// The guard exactly as `examples/microservice/main.rs` builds it without `ISSUER`.
fn guard(issuer: &TestIssuer) -> BearerGuard {
    embedded::builder(issuer, AUDIENCE).build().unwrap()
}

fn token(issuer: &TestIssuer, scopes: &[&str]) -> String {
    issuer.token().audience(AUDIENCE).subject("alice").scopes(scopes.iter().copied()).sign().unwrap()
}

/// The example served over real HTTP with `limits`; the server stops when the value is dropped.
struct Served {
    base: String,
    address: std::net::SocketAddr,
    slots: Arc<Semaphore>,
    _stop: oneshot::Sender<()>,
}

async fn serve(router: Router, limits: serve::Limits) -> Served {
    let listener = serve::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve::serve_with(listener, router, limits, Arc::clone(&slots), async move {
        let _ = stopped.await;
    }));
    Served { base: format!("http://{address}"), address, slots, _stop: stop }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap()
}

/// An in-process request with an optional bearer token and JSON body (`Content-Type` set).
fn request(method: &str, uri: &str, token: Option<&str>, body: Option<&str>) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(body) => r.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_owned())).unwrap(),
        None => r.body(Body::empty()).unwrap(),
    }
}

/// Status, `Link` header and JSON body of an in-process call.
async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let link = response.headers().get(header::LINK).map(|v| v.to_str().unwrap().to_owned());
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (status, link, body)
}

#[tokio::test]
async fn every_printed_curl_command_gets_the_answer_it_promises() {
    let issuer = TestIssuer::start().await;
    let served = serve(app::router(&guard(&issuer)), serve::Limits::default()).await;
    let steps = tour::tour(&issuer, AUDIENCE).unwrap();
    let http = client();
    // The read-only POST the README promises answers 403 is among them.
    let forbidden_post = steps.iter().find(|s| s.method == "POST" && s.status == 403).expect("a read-only POST step");
    let curl = forbidden_post.curl(&served.base);
    assert!(curl.starts_with(&format!("curl -i {}/notes -H 'Authorization: Bearer ", served.base)), "{curl}");
    assert!(curl.ends_with(r#" -H 'Content-Type: application/json' -d '{"text":"hello"}'"#), "{curl}");
    for step in &steps {
        let mut r = http.request(step.method.parse().unwrap(), format!("{}{}", served.base, step.path));
        if let Some(token) = &step.token {
            r = r.bearer_auth(token);
        }
        if let Some(body) = step.body {
            r = r.header("content-type", "application/json").body(body);
        }
        let response = r.send().await.unwrap();
        assert_eq!(response.status().as_u16(), step.status, "{}: {}", step.what, step.curl(&served.base));
        if step.status == 403 {
            let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
            assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
            assert!(challenge.contains("scope=\"notes:write\""), "{challenge}");
        }
    }
}

#[tokio::test]
async fn a_taken_port_names_the_address_and_listen() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let Err(error) = serve::bind(&address).await else { panic!("bound a port that is taken") };
    assert_eq!(
        error.to_string(),
        format!(
            "cannot listen on {address}: the port is already in use; set LISTEN to another address, \
             e.g. LISTEN=127.0.0.1:3001"
        )
    );
    // The control: a free port binds.
    drop(taken);
    assert!(serve::bind(&address).await.is_ok());
}

#[tokio::test]
async fn post_notes_takes_only_an_object_with_a_string_text() {
    let issuer = TestIssuer::start().await;
    let app = app::router(&guard(&issuer));
    let write = token(&issuer, &["notes:write"]);
    let post = |body: &str| request("POST", "/notes", Some(&write), Some(body));
    let shape = "body must be a JSON object like {\"text\": \"...\"}";
    let cases: [(&str, StatusCode, &str); 7] = [
        (r#"["hello"]"#, StatusCode::UNPROCESSABLE_ENTITY, shape),
        (r#""hello""#, StatusCode::UNPROCESSABLE_ENTITY, shape),
        (r#"{}"#, StatusCode::UNPROCESSABLE_ENTITY, shape),
        (r#"{"text": 7}"#, StatusCode::UNPROCESSABLE_ENTITY, "`text` must be a string"),
        (r#"{"text": "hi", "txt": "x"}"#, StatusCode::UNPROCESSABLE_ENTITY, "unknown member: only `text` is accepted"),
        (r#"{"text": ""}"#, StatusCode::UNPROCESSABLE_ENTITY, "`text` must not be empty"),
        (r#"{"text": "unterminated"#, StatusCode::BAD_REQUEST, "body is not valid JSON"),
    ];
    for (body, status, message) in cases {
        let (got, _, answer) = call(&app, post(body)).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert_eq!(answer["message"], message, "{body} -> {answer}");
        // No parser internals (serde's "expected ... at line 1 column 5").
        assert!(!answer.to_string().contains("line"), "{answer}");
    }
    let too_long = json!({ "text": "é".repeat(app::MAX_TEXT_CHARS + 1) }).to_string();
    let (status, _, answer) = call(&app, post(&too_long)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["message"], format!("`text` is longer than {} characters", app::MAX_TEXT_CHARS));
    // Without a JSON content type: 415, saying which one.
    let plain = Request::post("/notes")
        .header(header::AUTHORIZATION, format!("Bearer {write}"))
        .body(Body::from(r#"{"text":"hi"}"#))
        .unwrap();
    let (status, _, answer) = call(&app, plain).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(answer["message"], "send the body with `Content-Type: application/json`");
    // The controls: the longest allowed text (in characters, not bytes) and a plain note pass.
    let longest = json!({ "text": "é".repeat(app::MAX_TEXT_CHARS) }).to_string();
    assert_eq!(call(&app, post(&longest)).await.0, StatusCode::CREATED);
    let (status, _, note) = call(&app, post(r#"{"text":"hello"}"#)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(note, json!({ "id": 2, "text": "hello", "author": "alice" }));
}

#[tokio::test]
async fn the_store_is_capped_and_frees_room_on_delete() {
    let issuer = TestIssuer::start().await;
    let app = app::router_with_capacity(&guard(&issuer), 3);
    let write = token(&issuer, &["notes:write", "admin"]);
    for n in 1..=3 {
        let (status, _, note) = call(&app, request("POST", "/notes", Some(&write), Some(r#"{"text":"n"}"#))).await;
        assert_eq!((status, note["id"].clone()), (StatusCode::CREATED, json!(n)));
    }
    let (status, _, answer) = call(&app, request("POST", "/notes", Some(&write), Some(r#"{"text":"n"}"#))).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(answer["error"], "store_full");
    assert_eq!(answer["message"], "the store holds 3 notes, its maximum: delete some first");
    assert_eq!(call(&app, request("DELETE", "/notes/2", Some(&write), None)).await.0, StatusCode::NO_CONTENT);
    let (status, _, note) = call(&app, request("POST", "/notes", Some(&write), Some(r#"{"text":"n"}"#))).await;
    assert_eq!((status, note["id"].clone()), (StatusCode::CREATED, json!(4)));
}

#[tokio::test]
async fn get_notes_pages_with_limit_and_after() {
    let issuer = TestIssuer::start().await;
    let app = app::router(&guard(&issuer));
    let token = token(&issuer, &["notes:read", "notes:write"]);
    for n in 1..=(app::DEFAULT_PAGE + 1) {
        let body = json!({ "text": format!("note {n}") }).to_string();
        assert_eq!(call(&app, request("POST", "/notes", Some(&token), Some(&body))).await.0, StatusCode::CREATED);
    }
    let ids = |body: &Value| body.as_array().unwrap().iter().map(|n| n["id"].as_u64().unwrap()).collect::<Vec<_>>();
    // Default page size, then the rest through the Link header.
    let (status, link, body) = call(&app, request("GET", "/notes", Some(&token), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&body), (1..=app::DEFAULT_PAGE as u64).collect::<Vec<_>>());
    assert_eq!(link.as_deref(), Some("</notes?after=50&limit=50>; rel=\"next\""));
    let (_, link, body) = call(&app, request("GET", "/notes?after=50&limit=50", Some(&token), None)).await;
    assert_eq!((ids(&body), link), (vec![51], None));
    // Walking with a small limit visits every note once.
    let mut next = Some("/notes?limit=20".to_owned());
    let mut seen = Vec::new();
    while let Some(uri) = next {
        let (status, link, body) = call(&app, request("GET", &uri, Some(&token), None)).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        seen.extend(ids(&body));
        next = link.map(|l| l.trim_start_matches('<').split('>').next().unwrap().to_owned());
    }
    assert_eq!(seen, (1..=51).collect::<Vec<_>>());
    // Out of range or not numbers: 400 with a fixed message.
    for uri in ["/notes?limit=0", "/notes?limit=101", "/notes?limit=abc", "/notes?after=-1", "/notes?after=x"] {
        let (status, _, answer) = call(&app, request("GET", uri, Some(&token), None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(answer["message"], "`limit` must be a whole number from 1 to 100, `after` a note id", "{uri}");
    }
    let (status, _, body) =
        call(&app, request("GET", "/notes?limit=100&after=18446744073709551615", Some(&token), None)).await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_before_the_handler() {
    let issuer = TestIssuer::start().await;
    let limits = serve::Limits::default();
    let served = serve(app::router(&guard(&issuer)), limits).await;
    let write = token(&issuer, &["notes:write"]);
    let http = client();
    let big = json!({ "text": "x".repeat(limits.max_body_bytes) }).to_string();
    let response = http
        .post(format!("{}/notes", served.base))
        .bearer_auth(&write)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // The control: the same request with a small body is stored.
    let response = http
        .post(format!("{}/notes", served.base))
        .bearer_auth(&write)
        .json(&json!({"text": "small"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// Limits small enough for a test: half-second header-read timeout, 50 connections.
fn tight_limits() -> serve::Limits {
    serve::Limits { header_read_timeout: Duration::from_millis(500), max_connections: 50, ..serve::Limits::default() }
}

/// Opens `count` connections that each send a request line and then one header line every
/// 200 ms, never finishing the head. Counts the connections the server has closed.
async fn slow_loris(address: std::net::SocketAddr, count: usize) -> Arc<AtomicUsize> {
    let closed = Arc::new(AtomicUsize::new(0));
    for _ in 0..count {
        let mut socket = TcpStream::connect(address).await.unwrap();
        let closed = Arc::clone(&closed);
        tokio::spawn(async move {
            if socket.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.is_ok() {
                let mut buf = [0u8; 512];
                loop {
                    tokio::select! {
                        read = socket.read(&mut buf) => match read {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        },
                        () = tokio::time::sleep(Duration::from_millis(200)) => {
                            if socket.write_all(b"X-Slow: 1\r\n").await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            closed.fetch_add(1, Ordering::SeqCst);
        });
    }
    closed
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_a_normal_client_is_served() {
    let issuer = TestIssuer::start().await;
    let limits = tight_limits();
    let served = serve(app::router(&guard(&issuer)), limits).await;
    let closed = slow_loris(served.address, 200).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Every slot is taken by a slow client now; the cap holds.
    assert_eq!(served.slots.available_permits(), 0);
    let started = Instant::now();
    let response = client().get(format!("{}/health", served.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    eprintln!("normal client served after {:?} behind 200 slow clients", started.elapsed());
    // And every slow client was disconnected by the header-read timeout, not served forever.
    let deadline = Instant::now() + Duration::from_secs(20);
    while closed.load(Ordering::SeqCst) < 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(closed.load(Ordering::SeqCst), 200);
}

#[tokio::test]
async fn without_a_header_read_timeout_slow_clients_lock_everyone_out() {
    // The attack the limits defend against, shown on the same server with the timeout lifted:
    // the slow clients keep every slot and a normal client is not served.
    let issuer = TestIssuer::start().await;
    let limits = serve::Limits { header_read_timeout: Duration::from_secs(3600), ..tight_limits() };
    let served = serve(app::router(&guard(&issuer)), limits).await;
    let _closed = slow_loris(served.address, limits.max_connections + 10).await;
    let answer =
        tokio::time::timeout(Duration::from_secs(3), client().get(format!("{}/health", served.base)).send()).await;
    assert!(answer.is_err(), "a normal client got through although every slot was held: {answer:?}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let issuer = TestIssuer::start().await;
    let served = serve(app::router(&guard(&issuer)), tight_limits()).await;
    let mut socket = TcpStream::connect(served.address).await.unwrap();
    socket.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = socket.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"), "{}", String::from_utf8_lossy(&buf[..n]));
    // Kept alive, then idle: closed by the server once the timeout passes.
    let started = Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "idle connection still open: {read:?}");
    assert!(started.elapsed() >= Duration::from_millis(400), "closed before the timeout: {:?}", started.elapsed());
}
