//! The tower middleware: [`BearerGuardLayer`], [`BearerGuardService`] and its
//! [`ResponseFuture`].

use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::Response;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::error::{AuthError, ConfigError, ScopeMatch};
pub use crate::future::ResponseFuture;
use crate::pipeline::Pipeline;
use crate::response;
use crate::scope::layer::{Kind, Requirement, refusal};

/// RFC 9449 §8: the header carrying a server nonce.
const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");
use crate::verified::{AuthState, VerifiedToken};

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
    scopes: Option<Arc<[Arc<str>]>>,
    enforce: bool,
}

impl BearerGuardLayer {
    /// Made by [`BearerGuard::layer`](crate::BearerGuard::layer).
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> Self {
        Self { pipeline, scopes: None, enforce: false }
    }

    /// Also requires all of `scopes` (`403 insufficient_scope` otherwise), and declares them:
    /// a `401` on these routes carries `scope="…"` (what a token for them needs, RFC 6750 §3,
    /// which MCP clients use to ask for the right token), and they are listed in the metadata's
    /// `scopes_supported`.
    ///
    /// An empty list, or a name that is not an RFC 6749 scope-token, is a [`ConfigError`].
    ///
    /// ```
    /// # use bearer_guard::BearerGuard;
    /// # let guard = BearerGuard::builder().issuer("https://idp.example.com").audience("api").build()?;
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/notes", axum::routing::get(|| async { "[]" }))
    ///     .route_layer(guard.layer().require_scopes(["notes:read"])?);
    /// # Ok::<(), bearer_guard::ConfigError>(())
    /// ```
    pub fn require_scopes<I, S>(self, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        self.route_scopes(scopes, true)
    }

    /// Declares `scopes` without requiring them here: a `401` on these routes carries
    /// `scope="…"` and they are listed in `scopes_supported`, while finer checks (per handler,
    /// per MCP tool with [`mcp_tool_scopes`](crate::BearerGuard::mcp_tool_scopes)) decide.
    /// For an MCP endpoint: the scopes a client should ask for first. Checked like
    /// [`require_scopes`](Self::require_scopes).
    pub fn advertise_scopes<I, S>(self, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        self.route_scopes(scopes, false)
    }

    /// Declares the route's scopes (checked names, listed in `scopes_supported`); `enforce`
    /// also requires them.
    fn route_scopes<I, S>(mut self, scopes: I, enforce: bool) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        let requirement = Requirement::checked(Kind::Scope, scopes, ScopeMatch::All)?;
        self.pipeline.scope_log.declare(requirement.names());
        self.scopes = Some(Arc::clone(requirement.names()));
        self.enforce = enforce;
        Ok(self)
    }
}

impl<S> Layer<S> for BearerGuardLayer {
    type Service = BearerGuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let route = Route { pipeline: Arc::clone(&self.pipeline), scopes: self.scopes.clone(), enforce: self.enforce };
        BearerGuardService { inner, route: Arc::new(route) }
    }
}

/// The service made by [`BearerGuardLayer`].
#[derive(Debug, Clone)]
pub struct BearerGuardService<S> {
    inner: S,
    route: Arc<Route>,
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BearerGuardService<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = http::Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Use the service that was driven to readiness; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (mut parts, body) = request.into_parts();
        // Most requests are decided without waiting (a token the verified-token cache vouches
        // for, or no usable token at all): no future of our own, no allocation.
        if let Some(verdict) = self.route.pipeline.run_now(&parts) {
            return match self.route.admit(verdict, &mut parts) {
                Ok(()) => ResponseFuture::inner(inner.call(Request::from_parts(parts, body))),
                Err(refusal) => ResponseFuture::refused(refusal),
            };
        }
        let this = Arc::clone(&self.route);
        ResponseFuture::verifying(Box::pin(async move {
            let (verdict, nonce) = match this.pipeline.run_with_outcome(&parts).await {
                Ok((token, outcome)) => (Ok(token), outcome.dpop_nonce),
                Err(error) => (Err(error), None),
            };
            let mut parts = parts;
            this.admit(verdict, &mut parts)?;
            let mut answer = inner.call(Request::from_parts(parts, body)).await;
            if let (Ok(response), Some(nonce)) = (&mut answer, nonce.and_then(|n| HeaderValue::from_str(&n).ok())) {
                response.headers_mut().insert(DPOP_NONCE, nonce);
            }
            Ok(answer)
        }))
    }
}

/// What a service of the layer knows: the guard's pipeline, and the scopes of its routes.
#[derive(Debug)]
struct Route {
    pipeline: Arc<Pipeline>,
    scopes: Option<Arc<[Arc<str>]>>,
    enforce: bool,
}

impl Route {
    /// Applies the pipeline's verdict: the route's required scopes, then the verified token goes
    /// in the request's extensions; or the refusal (gRPC for gRPC calls, the
    /// responder's otherwise: RFC 6750 by default).
    #[expect(clippy::result_large_err, reason = "a refusal is built once and moved once")]
    fn admit(&self, verdict: Result<Option<VerifiedToken>, AuthError>, parts: &mut Parts) -> Result<(), Response> {
        let route_scopes = self.scopes.as_deref().unwrap_or_default();
        let refuse = |error: &AuthError, route_scopes: &[Arc<str>], headers: &http::HeaderMap| {
            let p = &self.pipeline;
            response::answer_on_route(error, headers, &*p.responder, &p.rfc6750, route_scopes)
        };
        let token = match verdict {
            Ok(token) => token,
            Err(error) => {
                let mut response = refuse(&error, route_scopes, &parts.headers);
                // A custom responder may not know the nonce; the client needs it.
                if let AuthError::UseDpopNonce { nonce } = &error
                    && !response.headers().contains_key(DPOP_NONCE)
                    && let Ok(value) = HeaderValue::from_str(nonce)
                {
                    response.headers_mut().insert(DPOP_NONCE, value);
                }
                return Err(response);
            }
        };
        if let Some(required) = self.scopes.as_ref().filter(|_| self.enforce) {
            self.pipeline.scope_log.note_used(required);
            match token.as_ref().map(|t| required.iter().all(|s| t.scopes().contains(s))) {
                None => return Err(refuse(&AuthError::MissingToken, route_scopes, &parts.headers)),
                Some(false) => {
                    let error = refusal(Kind::Scope, required, ScopeMatch::All);
                    return Err(refuse(&error, &[], &parts.headers));
                }
                Some(true) => {}
            }
        }
        if let Some(token) = &token {
            // For handlers that read the extensions themselves (tonic's
            // `request.extensions().get::<VerifiedToken>()`).
            parts.extensions.insert(token.clone());
        }
        let p = &self.pipeline;
        let (responder, scope_log, rfc6750) =
            (Arc::clone(&p.responder), Arc::clone(&p.scope_log), Arc::clone(&p.rfc6750));
        parts.extensions.insert(AuthState { token, responder, scope_log, rfc6750 });
        Ok(())
    }
}
