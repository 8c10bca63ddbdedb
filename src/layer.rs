//! The tower middleware: [`BearerGuardLayer`], [`BearerGuardService`] and its
//! [`ResponseFuture`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::{IntoResponse, Response};
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::AuthState;
use crate::guard::BearerGuard;

/// Applies a [`BearerGuard`] to a service: verifies each request's bearer token, puts the
/// verified claims in the request extensions for the extractors, and answers refusals
/// (RFC 6750 by default) without calling the inner service.
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use bearer_guard::{BearerGuard, StaticKey};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = BearerGuard::builder()
///     .issuer("my-app")
///     .audience("my-api")
///     .static_key(StaticKey::hmac_secret(b"an example secret of at least 32 bytes")?)
///     .build()?;
/// let app = Router::new().route("/", get(|| async { "hi" })).route_layer(guard.layer());
///
/// let response = app.oneshot(Request::get("/").body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"api\"");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BearerGuardLayer {
    guard: BearerGuard,
}

impl BearerGuardLayer {
    /// A layer for `guard` (the same as [`BearerGuard::layer`]).
    pub fn new(guard: BearerGuard) -> Self {
        Self { guard }
    }
}

impl<S> Layer<S> for BearerGuardLayer {
    type Service = BearerGuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerGuardService { inner, guard: self.guard.clone() }
    }
}

/// The service made by [`BearerGuardLayer`].
#[derive(Debug, Clone)]
pub struct BearerGuardService<S> {
    inner: S,
    guard: BearerGuard,
}

impl<S, B> Service<Request<B>> for BearerGuardService<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Use the service that was driven to readiness; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        ResponseFuture {
            inner: Box::pin(async move {
                let responder = Arc::clone(&guard.inner.responder);
                match guard.authenticate(request.headers(), request.uri()).await {
                    Ok(token) => {
                        request.extensions_mut().insert(AuthState { token, responder });
                        inner.call(request).await.map(IntoResponse::into_response)
                    }
                    Err(error) => Ok(responder.respond(&error)),
                }
            }),
        }
    }
}

/// The response future of [`BearerGuardService`].
pub struct ResponseFuture<E> {
    inner: Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>,
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<E> std::fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
