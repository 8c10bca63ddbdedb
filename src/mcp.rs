//! Per-tool scopes for a Model Context Protocol server: a `tools/call` whose token lacks the
//! tool's scopes is refused with HTTP `403 insufficient_scope` and `scope="…"` (the MCP step-up
//! answer), before the MCP server sees it.
//!
//! MCP's streamable HTTP transport sends every JSON-RPC message as a `POST` to one endpoint, so
//! a route-level scope cannot tell `list_notes` from `add_note`. [`ToolScopesLayer`] reads the
//! JSON-RPC body (a message or a batch), finds the `tools/call` requests and checks each named
//! tool's scopes against the verified token. Other messages, and tools not listed, pass.
//!
//! ```
//! use axum::{Router, body::Body, routing::post};
//! use bearer_guard::BearerGuard;
//! use bearer_guard::testing::TestIssuer;
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = TestIssuer::start().await;
//! let guard = BearerGuard::builder()
//!     .issuer(issuer.issuer())
//!     .jwks_uri(issuer.jwks_uri())
//!     .resource("https://api.example.com/mcp")
//!     .build()?;
//! let app = Router::new()
//!     .route("/mcp", post(|| async { "the MCP server" }))
//!     .route_layer(guard.mcp_tool_scopes().tool("list_notes", ["notes:read"])?.tool("add_note", ["notes:write"])?)
//!     .route_layer(guard.layer().advertise_scopes(["notes:read"])?);
//!
//! let read_only = issuer.token().audience("https://api.example.com/mcp").scopes(["notes:read"]).sign()?;
//! let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add_note","arguments":{"text":"hi"}}}"#;
//! let request = Request::post("/mcp").header("authorization", format!("Bearer {read_only}")).body(Body::from(call))?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"token lacks a required scope\", \
//!      scope=\"notes:write\", resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\""
//! );
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::{Method, Request, StatusCode};
use serde_json::Value;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::AuthError;
use crate::error::{ConfigError, ScopeMatch};
use crate::guard::BearerGuard;
use crate::scope::layer::{Kind, Requirement, refusal};
use crate::verified::AuthState;

/// Default limit on the JSON-RPC body the layer reads (4 MiB, as rmcp's default).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

impl BearerGuard {
    /// A [`ToolScopesLayer`] for an MCP endpoint: add tools with
    /// [`tool`](ToolScopesLayer::tool). Goes *inside* the guard's layer.
    pub fn mcp_tool_scopes(&self) -> ToolScopesLayer {
        ToolScopesLayer { guard: self.clone(), tools: Arc::default(), max_bytes: DEFAULT_MAX_MESSAGE_BYTES }
    }
}

/// Requires scopes per MCP tool; made by [`BearerGuard::mcp_tool_scopes`]. See the
/// [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct ToolScopesLayer {
    guard: BearerGuard,
    tools: Arc<HashMap<String, Arc<[Arc<str>]>>>,
    max_bytes: usize,
}

impl ToolScopesLayer {
    /// A call of the tool `name` needs all of `scopes`. The scopes are listed in the metadata's
    /// `scopes_supported`. An empty list, or a name that is not an RFC 6749 scope-token, is a
    /// [`ConfigError`].
    pub fn tool<I, S>(mut self, name: impl Into<String>, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        let requirement = Requirement::checked(Kind::Scope, scopes, ScopeMatch::All)?;
        self.guard.pipeline.scope_log.declare(requirement.names());
        Arc::make_mut(&mut self.tools).insert(name.into(), Arc::clone(requirement.names()));
        Ok(self)
    }

    /// Largest JSON-RPC body read (default 4 MiB); a larger one is `413`.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }
}

impl<S> Layer<S> for ToolScopesLayer {
    type Service = ToolScopes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ToolScopes { inner, config: self.clone() }
    }
}

/// The service made by [`ToolScopesLayer`].
#[derive(Debug, Clone)]
pub struct ToolScopes<S> {
    inner: S,
    config: ToolScopesLayer,
}

impl<S> Service<Request<Body>> for ToolScopes<S>
where
    S: Service<Request<Body>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ToolScopesFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        ToolScopesFuture {
            inner: Box::pin(async move {
                if request.method() != Method::POST || config.tools.is_empty() {
                    return inner.call(request).await.map(IntoResponse::into_response);
                }
                let (parts, body) = request.into_parts();
                let Ok(bytes) = axum::body::to_bytes(body, config.max_bytes).await else {
                    return Ok((StatusCode::PAYLOAD_TOO_LARGE, "message is too large").into_response());
                };
                if let Some(refusal) = config.refusal(parts.extensions.get::<AuthState>(), &bytes) {
                    return Ok(refusal);
                }
                inner.call(Request::from_parts(parts, Body::from(bytes))).await.map(IntoResponse::into_response)
            }),
        }
    }
}

impl ToolScopesLayer {
    /// The refusal for the tool calls in `body` whose scopes the token lacks, if any. A body
    /// that is not JSON passes: the MCP server answers it with its own parse error.
    fn refusal(&self, state: Option<&AuthState>, body: &[u8]) -> Option<Response> {
        let Ok(message) = serde_json::from_slice::<Value>(body) else { return None };
        let messages = match &message {
            Value::Array(batch) => batch.as_slice(),
            single => std::slice::from_ref(single),
        };
        let called = messages
            .iter()
            .filter(|m| m.get("method").and_then(Value::as_str) == Some("tools/call"))
            .filter_map(|m| m.get("params")?.get("name")?.as_str())
            .filter_map(|name| self.tools.get(name));
        let mut missing: Vec<Arc<str>> = Vec::new();
        for required in called {
            let Some(state) = state else {
                tracing::error!("mcp_tool_scopes used on a route without BearerGuardLayer (or inside out)");
                return Some(AuthError::MissingLayer.into_response());
            };
            self.guard.pipeline.scope_log.note_used(required);
            let Some(token) = &state.token else {
                return Some(state.responder.respond_on_route(&AuthError::MissingToken, required));
            };
            for scope in required.iter().filter(|s| !token.scopes().contains(s)) {
                if !missing.contains(scope) {
                    missing.push(Arc::clone(scope));
                }
            }
        }
        if missing.is_empty() {
            return None;
        }
        tracing::info!(required = ?missing, "insufficient scope for an MCP tool call");
        let error = refusal(Kind::Scope, &missing, ScopeMatch::All);
        Some(state.map_or_else(|| error.clone().into_response(), |s| s.responder.respond(&error)))
    }
}

/// The response future of [`ToolScopes`].
pub struct ToolScopesFuture<E> {
    inner: Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>,
}

impl<E> Future for ToolScopesFuture<E> {
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<E> std::fmt::Debug for ToolScopesFuture<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolScopesFuture").finish_non_exhaustive()
    }
}
