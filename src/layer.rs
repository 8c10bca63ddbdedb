//! The tower middleware: [`BearerGuardLayer`], [`BearerGuardService`] and its
//! [`ResponseFuture`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::AuthError;
use crate::pipeline::Pipeline;

/// RFC 9449 §8: the header carrying a server nonce.
const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");
use crate::verified::AuthState;

/// Applies a [`BearerGuard`](crate::BearerGuard) to a service: verifies each request's bearer token, puts the
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
#[must_use]
pub struct BearerGuardLayer {
    pipeline: Arc<Pipeline>,
}

impl BearerGuardLayer {
    /// Made by [`BearerGuard::layer`](crate::BearerGuard::layer).
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> Self {
        Self { pipeline }
    }
}

impl<S> Layer<S> for BearerGuardLayer {
    type Service = BearerGuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerGuardService { inner, pipeline: Arc::clone(&self.pipeline) }
    }
}

/// The service made by [`BearerGuardLayer`].
#[derive(Debug, Clone)]
pub struct BearerGuardService<S> {
    inner: S,
    pipeline: Arc<Pipeline>,
}

impl<S> BearerGuardService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
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

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Use the service that was driven to readiness; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let pipeline = Arc::clone(&self.pipeline);
        ResponseFuture {
            inner: Box::pin(async move {
                let (mut parts, body) = request.into_parts();
                match pipeline.run_with_outcome(&parts).await {
                    Ok((token, outcome)) => {
                        let responder = Arc::clone(&pipeline.responder);
                        parts.extensions.insert(AuthState { token, responder });
                        let request = Request::from_parts(parts, body);
                        let mut response = inner.call(request).await.map(IntoResponse::into_response)?;
                        if let Some(nonce) = outcome.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
                            response.headers_mut().insert(DPOP_NONCE, nonce);
                        }
                        Ok(response)
                    }
                    Err(error) => {
                        let mut response = pipeline.responder.respond(&error);
                        // A custom responder may not know the nonce; the client needs it.
                        if let AuthError::UseDpopNonce { nonce } = &error
                            && !response.headers().contains_key(DPOP_NONCE)
                            && let Ok(value) = HeaderValue::from_str(nonce)
                        {
                            response.headers_mut().insert(DPOP_NONCE, value);
                        }
                        Ok(response)
                    }
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
