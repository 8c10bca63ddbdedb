//! RFC 9728 protected-resource metadata: the document a client reads to learn which
//! authorization server to ask for a token, for which resource, with which scopes.
//!
//! Configure the resource identifier with
//! [`BearerGuardBuilder::resource`](crate::BearerGuardBuilder::resource), optionally describe it
//! with a [`ResourceMetadata`], and serve [`BearerGuard::metadata_router`] next to the API. Every
//! challenge then carries `resource_metadata="…"`, so a client that got a 401 can find its way.
//!
//! ```
//! use axum::{Router, body::Body, routing::post};
//! use bearer_guard::{BearerGuard, ResourceMetadata, StaticKey};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = BearerGuard::builder()
//!     .issuer("https://idp.example.com")
//!     .resource("https://api.example.com/mcp") // the required `aud` and the metadata's `resource`
//!     .metadata(ResourceMetadata::new().resource_name("Notes"))
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/mcp", post(|| async { "ok" }))
//!     .route_layer(guard.layer().require_scopes(["notes:read"])?)
//!     .merge(guard.metadata_router());
//!
//! let response = app.clone().oneshot(Request::post("/mcp").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     "Bearer realm=\"api\", scope=\"notes:read\", \
//!      resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\""
//! );
//!
//! let metadata = Request::get("/.well-known/oauth-protected-resource/mcp").body(Body::empty())?;
//! let response = app.oneshot(metadata).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let body = axum::body::to_bytes(response.into_body(), 1 << 16).await?;
//! let doc: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(doc["resource"], "https://api.example.com/mcp");
//! assert_eq!(doc["authorization_servers"][0], "https://idp.example.com");
//! assert_eq!(doc["scopes_supported"][0], "notes:read");
//! # Ok(())
//! # }
//! ```

pub(crate) mod config;
pub(crate) mod resource;
mod router;
pub(crate) mod scopes;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::guard::BearerGuard;
use crate::pipeline::Pipeline;
use crate::scope::{RequireScopeLayer, require_any_scope, require_scopes};

pub use config::{DEFAULT_METADATA_MAX_AGE, ResourceMetadata};
pub(crate) use resource::WELL_KNOWN;

impl Pipeline {
    /// The RFC 9728 document, if the guard has a resource identifier.
    pub(crate) fn metadata_document(&self) -> Option<Map<String, Value>> {
        let state = self.resource.as_ref()?;
        let meta = &state.metadata;
        let mut doc = Map::new();
        doc.insert("resource".into(), state.id.uri.clone().into());
        let servers: Vec<Value> = match &meta.authorization_servers {
            Some(servers) => servers.iter().map(|s| Value::from(s.as_str())).collect(),
            None => self.authenticator.jws.issuers.iter().map(|i| Value::from(&*i.issuer)).collect(),
        };
        doc.insert("authorization_servers".into(), servers.into());
        let scopes = self.scope_log.supported(&meta.scopes);
        if !scopes.is_empty() {
            doc.insert("scopes_supported".into(), scopes.iter().map(|s| Value::from(&**s)).collect());
        }
        let mut methods = vec![Value::from("header")];
        if self.sources.query {
            methods.push("query".into());
        }
        doc.insert("bearer_methods_supported".into(), methods.into());
        if let Some(algs) = &meta.signing_algs {
            doc.insert(
                "resource_signing_alg_values_supported".into(),
                algs.iter().filter_map(|a| serde_json::to_value(a).ok()).collect(),
            );
        }
        for (name, value) in [
            ("resource_name", &meta.resource_name),
            ("resource_documentation", &meta.resource_documentation),
            ("resource_policy_uri", &meta.resource_policy_uri),
            ("resource_tos_uri", &meta.resource_tos_uri),
        ] {
            if let Some(value) = value {
                doc.insert(name.into(), value.as_str().into());
            }
        }
        self.binding_metadata(&mut doc);
        for (name, value) in &meta.extra {
            doc.insert(name.clone(), value.clone());
        }
        Some(doc)
    }

    /// The token-binding members: DPoP (RFC 9449 §5.1) and mTLS (RFC 8705 §3.4), from the
    /// guard's binding configuration.
    fn binding_metadata(&self, doc: &mut Map<String, Value>) {
        for (name, value) in self.binding.metadata_members() {
            doc.insert(name.to_owned(), value);
        }
    }
}

impl BearerGuard {
    /// The RFC 9728 document as JSON, or `None` when no
    /// [`resource`](crate::BearerGuardBuilder::resource) is configured.
    pub fn metadata_document(&self) -> Option<Value> {
        self.pipeline.metadata_document().map(Value::Object)
    }

    /// The URL challenges carry as `resource_metadata` (the path-inserted form of RFC 9728
    /// §3.1 for a resource with a path), or `None` when no resource is configured.
    pub fn resource_metadata_url(&self) -> Option<&str> {
        self.pipeline.resource.as_ref().map(|r| r.id.metadata_url.as_str())
    }

    /// Requires all of `scopes` on the routes it wraps, like [`require_scopes`](crate::require_scopes),
    /// and lists them in the metadata's `scopes_supported`.
    pub fn require_scopes<I, S>(&self, scopes: I) -> Result<RequireScopeLayer, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        let layer = require_scopes(scopes)?;
        self.pipeline.scope_log.declare(layer.requirement.names());
        Ok(layer)
    }

    /// Requires any one of `scopes`, like [`require_any_scope`](crate::require_any_scope), and
    /// lists them in the metadata's `scopes_supported`.
    pub fn require_any_scope<I, S>(&self, scopes: I) -> Result<RequireScopeLayer, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        let layer = require_any_scope(scopes)?;
        self.pipeline.scope_log.declare(layer.requirement.names());
        Ok(layer)
    }

    /// Scopes that requests were checked against (by any scope guard: `RequireScope<_>`,
    /// `require_scopes`, the guard's layers) but that the metadata's `scopes_supported` does
    /// not list. A test that exercises the routes and asserts this is empty catches a scope
    /// forgotten in the metadata.
    ///
    /// ```
    /// # use bearer_guard::{BearerGuard, ResourceMetadata};
    /// # let guard = BearerGuard::builder().issuer("https://idp.example.com")
    /// #     .resource("https://api.example.com").build()?;
    /// // … drive every route once (with tokens that pass and that fail) …
    /// assert!(guard.undeclared_scopes().is_empty(), "add to ResourceMetadata::scopes: {:?}", guard.undeclared_scopes());
    /// # Ok::<(), bearer_guard::ConfigError>(())
    /// ```
    pub fn undeclared_scopes(&self) -> Vec<String> {
        let declared = self.pipeline.resource.as_ref().map(|r| r.metadata.scopes.as_slice()).unwrap_or_default();
        self.pipeline.scope_log.undeclared(declared)
    }
}
