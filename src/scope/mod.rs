//! Scopes: the set a verified token carries (`scope`, `scp`, and roles mapped from other claim
//! paths), typed guards that handlers declare in their signatures, and route-level layers.
//!
//! Refusals: a verified token without the scope gets `403 insufficient_scope` with the
//! `scope` attribute listing what the route needs; a request without a verified token gets
//! the core layer's `401`, never a `403`.

mod layer;
pub(crate) mod set;
mod typed;

pub use layer::{RequireScopes, RequireScopesLayer, RequireScopesResponseFuture, require_any_scope, require_scopes};
pub use set::{ScopeSource, Scopes};
pub use typed::{AllOf, AnyOf, RequireScope, Scope, ScopeRequirement};

use axum_core::extract::FromRequestParts;
use http::request::Parts;

use crate::response::Refusal;
use crate::verified::verified_token;

impl<S: Send + Sync> FromRequestParts<S> for Scopes {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        verified_token(parts).map(|(t, _)| t.scopes().clone())
    }
}
