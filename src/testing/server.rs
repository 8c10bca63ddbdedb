//! The JWKS and discovery server, and its failure modes.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::Shared;
use super::keys::jwks_document;
use crate::keys::alg_name;

/// How the JWKS and discovery endpoints misbehave; set with
/// [`TestIssuer::set_failure`](super::TestIssuer::set_failure).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Failure {
    /// Serve normally.
    #[default]
    None,
    /// Close every connection without answering, as a crashed server would: new connections
    /// are closed once accepted, open keep-alive connections on their next request. Requests
    /// refused this way are not counted.
    Down,
    /// Answer with this status code (and a small JSON error body). Codes outside
    /// `100..=999` become `500`.
    Status(u16),
    /// Answer `200` with an HTML page, as a login page or captive portal would.
    Html,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Answer `200` with the normal document padded with whitespace to this many bytes, with a
    /// `Content-Length`.
    OversizedBody(usize),
    /// As [`OversizedBody`](Self::OversizedBody), but chunked: no `Content-Length`, so only
    /// counting the received bytes can catch it.
    OversizedChunkedBody(usize),
    /// Answer `302 Found` with this `Location`.
    Redirect(String),
}

/// Serves the JWKS and discovery endpoints on `listener` until the task is aborted.
pub(super) fn spawn(listener: TcpListener, shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    let router = Router::new()
        .route("/jwks.json", get(serve_jwks))
        .route("/.well-known/openid-configuration", get(serve_discovery))
        .route("/.well-known/oauth-authorization-server", get(serve_discovery))
        .route("/introspect", axum::routing::post(super::introspection::serve))
        .with_state(Arc::clone(&shared));
    let listener = FaultyListener { inner: listener, shared };
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    })
}

async fn serve_jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::AcqRel);
    let (document, cache_control, failure) = {
        let state = shared.state();
        (jwks_document(&state.keys), state.cache_control.clone(), state.failure.clone())
    };
    answer(document, cache_control, failure).await
}

async fn serve_discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_requests.fetch_add(1, Ordering::AcqRel);
    let (document, failure) = {
        let state = shared.state();
        let document = state.discovery.clone().unwrap_or_else(|| {
            let mut algs: Vec<&str> = Vec::new();
            for key in &state.keys {
                if !algs.contains(&alg_name(key.alg)) {
                    algs.push(alg_name(key.alg));
                }
            }
            json!({
                "issuer": shared.issuer,
                "jwks_uri": shared.jwks_uri(),
                "introspection_endpoint": format!("{}/introspect", shared.issuer),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": algs,
            })
        });
        (document, state.failure.clone())
    };
    answer(document, None, failure).await
}

/// The answer of an endpoint whose normal body is `document`, under `failure`.
pub(super) async fn answer(document: Value, cache_control: Option<String>, failure: Failure) -> Response {
    let body = document.to_string();
    let ok = |body: Body| {
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(value) = cache_control.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(header::CACHE_CONTROL, value);
        }
        response
    };
    match failure {
        // `Down` is handled on the connection; a request read just before the switch is served.
        Failure::None | Failure::Down => ok(Body::from(body)),
        Failure::Slow(delay) => {
            tokio::time::sleep(delay).await;
            ok(Body::from(body))
        }
        Failure::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(json!({"error": "test_failure"}))).into_response()
        }
        Failure::Html => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html><head><title>Sign in</title></head><body>Please sign in.</body></html>",
        )
            .into_response(),
        Failure::OversizedBody(bytes) => ok(Body::from(padded(body, bytes))),
        Failure::OversizedChunkedBody(bytes) => {
            let padded = Bytes::from(padded(body, bytes));
            let chunks: Vec<Result<Bytes, Infallible>> = (0..padded.len())
                .step_by(16 * 1024)
                .map(|at| Ok(padded.slice(at..padded.len().min(at + 16 * 1024))))
                .collect();
            ok(Body::from_stream(futures_util::stream::iter(chunks)))
        }
        Failure::Redirect(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
    }
}

/// `body` followed by spaces up to `len` bytes (JSON allows trailing whitespace).
fn padded(body: String, len: usize) -> String {
    let mut body = body;
    let missing = len.saturating_sub(body.len());
    body.extend(std::iter::repeat_n(' ', missing));
    body
}

/// A TCP listener whose connections close while the issuer is [`Failure::Down`] or dropped.
struct FaultyListener {
    inner: TcpListener,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for FaultyListener {
    type Io = FaultyStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, _)) if self.shared.refuses_connections() => drop(stream),
                Ok((stream, address)) => {
                    return (FaultyStream { inner: stream, shared: Arc::clone(&self.shared) }, address);
                }
                // Out of file descriptors and the like: wait a little, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that reads end-of-stream once the issuer is down, so the server closes it.
struct FaultyStream {
    inner: TcpStream,
    shared: Arc<Shared>,
}

impl AsyncRead for FaultyStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.shared.refuses_connections() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultyStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
