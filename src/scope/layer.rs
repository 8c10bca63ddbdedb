//! Route-level scope guards, for wrapping existing routers without touching handlers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::{IntoResponse, Response};
use http::Request;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::typed::insufficient;
use crate::error::AuthError;
use crate::response::Refusal;
use crate::verified::AuthState;

/// Requires all of `scopes` on the routes it wraps. Goes *inside* the guard's layer: with
/// axum, call `.route_layer(require_scopes(..))` before `.route_layer(guard.layer())`.
///
/// ```
/// use axum::{Router, routing::get};
/// use bearer_guard::{BearerGuard, require_scopes};
///
/// # fn main() -> Result<(), bearer_guard::ConfigError> {
/// # let guard = BearerGuard::builder().issuer("https://idp.example.com").audience("api").build()?;
/// async fn list() -> &'static str { "[]" }
/// async fn create() -> &'static str { "{}" }
///
/// let app: Router = Router::new()
///     .route(
///         "/notes",
///         get(list)
///             .route_layer(require_scopes(["notes:read"]))
///             .merge(axum::routing::post(create).route_layer(require_scopes(["notes:write"]))),
///     )
///     .route_layer(guard.layer());
/// # Ok(())
/// # }
/// ```
pub fn require_scopes<I, S>(scopes: I) -> RequireScopesLayer
where
    I: IntoIterator<Item = S>,
    S: Into<Arc<str>>,
{
    RequireScopesLayer { required: scopes.into_iter().map(Into::into).collect(), any_of: false }
}

/// Requires any one of `scopes` on the routes it wraps. See [`require_scopes`].
pub fn require_any_scope<I, S>(scopes: I) -> RequireScopesLayer
where
    I: IntoIterator<Item = S>,
    S: Into<Arc<str>>,
{
    RequireScopesLayer { required: scopes.into_iter().map(Into::into).collect(), any_of: true }
}

/// The layer made by [`require_scopes`] and [`require_any_scope`].
#[derive(Debug, Clone)]
pub struct RequireScopesLayer {
    required: Arc<[Arc<str>]>,
    any_of: bool,
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes { inner, required: Arc::clone(&self.required), any_of: self.any_of }
    }
}

/// The service made by [`RequireScopesLayer`].
#[derive(Debug, Clone)]
pub struct RequireScopes<S> {
    inner: S,
    required: Arc<[Arc<str>]>,
    any_of: bool,
}

impl<S> RequireScopes<S> {
    fn check(&self, state: Option<&AuthState>) -> Result<(), Refusal> {
        let Some(state) = state else {
            tracing::error!("require_scopes used on a route without BearerGuardLayer (or inside out)");
            return Err(Refusal::from(AuthError::MissingLayer));
        };
        let Some(token) = &state.token else {
            return Err(state.refuse(AuthError::MissingToken));
        };
        let scopes = token.scopes();
        let met = if self.any_of {
            self.required.iter().any(|s| scopes.contains(s))
        } else {
            self.required.iter().all(|s| scopes.contains(s))
        };
        if met {
            Ok(())
        } else {
            tracing::info!(issuer = token.issuer(), required = ?self.required, any_of = self.any_of, "insufficient scope");
            Err(state.refuse(insufficient(&self.required, self.any_of)))
        }
    }
}

impl<S, B> Service<Request<B>> for RequireScopes<S>
where
    S: Service<Request<B>>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RequireScopesResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let kind = match self.check(request.extensions().get::<AuthState>()) {
            Ok(()) => Kind::Inner { future: self.inner.call(request) },
            Err(refusal) => Kind::Refused { response: Some(refusal.into_response()) },
        };
        RequireScopesResponseFuture { kind }
    }
}

pin_project! {
    /// The response future of [`RequireScopes`].
    pub struct RequireScopesResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response> },
    }
}

impl<F, R, E> Future for RequireScopesResponseFuture<F>
where
    F: Future<Output = Result<R, E>>,
    R: IntoResponse,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx).map(|r| r.map(IntoResponse::into_response)),
            KindProj::Refused { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(|| AuthError::MissingLayer.into_response())))
            }
        }
    }
}

impl<F> std::fmt::Debug for RequireScopesResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireScopesResponseFuture").finish_non_exhaustive()
    }
}
