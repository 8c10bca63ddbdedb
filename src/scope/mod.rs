//! OAuth scope guards: the [`Scopes`] a verified token carries (`scope`, `scp`), typed guards
//! that handlers declare in their signatures ([`RequireScope`]), and route-level layers
//! ([`require_scopes`], [`require_any_scope`], [`RequireScopeLayer`]).
//!
//! Roles (Keycloak, Entra ID, Auth0 RBAC) are not scopes: they have their own set and guards in
//! `bearer_guard::role` (`RequireRole`, `Roles`, `roles!`).
//!
//! Refusals: a verified token without the scope gets `403 insufficient_scope` with the
//! `scope` attribute listing what the route needs; a request without a verified token gets
//! the core layer's `401`, never a `403`.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::scope::RequireScope;
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! bearer_guard::scopes! { pub struct NotesRead = "notes:read"; }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = bearer_guard::BearerGuard::builder().issuer("https://idp.example.com").audience("api").build()?;
//! let app: Router = Router::new()
//!     .route("/notes", get(|_: RequireScope<NotesRead>| async { "[]" }))
//!     .route_layer(guard.layer());
//!
//! // No token: the guard's 401, never a 403.
//! let response = app.oneshot(Request::get("/notes").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```

pub(crate) mod layer;
pub(crate) mod set;
pub(crate) mod typed;

pub use crate::error::ScopeMatch;
pub use layer::{RequireScopeLayer, RequireScopeService, ResponseFuture, require_any_scope, require_scopes};
pub use set::Scopes;
pub use typed::{AllOf, AnyOf, RequireScope, Scope, ScopeRequirement};

/// The old name of [`RequireScopeService`].
#[deprecated(since = "0.2.0", note = "renamed `scope::RequireScopeService`")]
pub type RequireScopes<S> = RequireScopeService<S>;

/// The old name of [`RequireScopeLayer`].
#[deprecated(since = "0.2.0", note = "renamed `scope::RequireScopeLayer`")]
pub type RequireScopesLayer = RequireScopeLayer;

/// The old name of [`ResponseFuture`].
#[deprecated(since = "0.2.0", note = "renamed `scope::ResponseFuture`")]
pub type RequireScopesResponseFuture<F> = ResponseFuture<F>;

#[cfg(feature = "axum")]
use axum_core::extract::FromRequestParts;
#[cfg(feature = "axum")]
use http::request::Parts;

#[cfg(feature = "axum")]
use crate::response::Refusal;
#[cfg(feature = "axum")]
use crate::scope::set::Roles;
#[cfg(feature = "axum")]
use crate::verified::verified_token;

#[cfg(feature = "axum")]
impl<S: Send + Sync> FromRequestParts<S> for Scopes {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        verified_token(parts).map(|(t, _)| t.scopes().clone())
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> FromRequestParts<S> for Roles {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        verified_token(parts).map(|(t, _)| t.roles().clone())
    }
}
