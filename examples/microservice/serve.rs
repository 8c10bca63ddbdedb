//! Serving the notes API on the open internet: limits on connections and requests, so slow or
//! flooding clients cannot lock everyone else out (`axum::serve` has none of them).
//!
//! - **header-read timeout**: a client must send a whole request head within it, or the
//!   connection is closed (slow-loris). hyper also runs it while a kept-alive connection waits
//!   for its next request, so it is the **idle timeout** too.
//! - **connection cap**: at most `max_connections` open connections; further ones wait in the
//!   kernel's accept queue until a slot frees, instead of taking file descriptors.
//! - **request timeout**: a request (a slowly dripped body included) must be answered within it
//!   (`408`).
//! - **body limit**: larger request bodies are refused with `413` before any handler runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// How the service protects itself. The defaults are for a small API behind no proxy.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a whole request head, and the longest idle time of a kept-alive connection.
    pub header_read_timeout: Duration,
    /// Time to answer a request, reading its body included.
    pub request_timeout: Duration,
    /// Open connections at once.
    pub max_connections: usize,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_body_bytes: 16 * 1024,
        }
    }
}

/// The address could not be bound: says which, why, and how to pick another one.
#[derive(Debug)]
pub struct BindError {
    pub address: String,
    pub source: std::io::Error,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.source.kind() {
            std::io::ErrorKind::AddrInUse => "the port is already in use".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied (ports below 1024 need privileges)".to_owned(),
            _ => self.source.to_string(),
        };
        write!(f, "cannot listen on {}: {why}; set LISTEN to another address, e.g. LISTEN=127.0.0.1:3001", self.address)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Binds `address` (`host:port`), naming it and `LISTEN` when that fails.
pub async fn bind(address: &str) -> Result<TcpListener, BindError> {
    TcpListener::bind(address).await.map_err(|source| BindError { address: address.to_owned(), source })
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes, then lets the open
/// connections finish (at most one request timeout).
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    serve_with(listener, router, limits, Arc::new(Semaphore::new(limits.max_connections)), shutdown).await;
}

/// [`serve`] with the connection slots given, so a test can watch how many are taken.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    slots: Arc<Semaphore>,
    shutdown: impl Future<Output = ()>,
) {
    let app = router
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, limits.request_timeout))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: beyond the cap, clients queue in the kernel.
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.request_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the request timeout; closing them");
    }
}
