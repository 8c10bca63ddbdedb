//! Role guards: the [`Roles`] a verified token carries, read from the claims named with
//! [`roles_from`](crate::BearerGuardBuilder::roles_from) ([`RoleSource`]), typed guards
//! ([`RequireRole`], declared with [`roles!`](crate::roles)) and route-level layers
//! ([`require_roles`], [`require_any_role`], [`RequireRoleLayer`]).
//!
//! Roles are granted to the user by the identity provider; OAuth scopes are what a client asked
//! for. They are kept apart: an OAuth scope named `admin` never passes [`RequireRole`], and a
//! role never passes [`RequireScope`](crate::RequireScope) unless the guard was built with
//! [`dangerous_merge_roles_into_scopes`](crate::BearerGuardBuilder::dangerous_merge_roles_into_scopes).
//! The guards share their matching and response future with [`scope`](crate::scope), where
//! they are implemented.
//!
//! A token without the role gets `403 insufficient_scope` (RFC 6750's code for "needs higher
//! privileges") without a `scope` attribute, since requesting a scope would not help.

pub use crate::error::ScopeMatch;
pub use crate::scope::layer::{RequireRoleLayer, RequireRoleService, ResponseFuture, require_any_role, require_roles};
pub use crate::scope::set::{RoleSource, Roles};
pub use crate::scope::typed::{AllOf, AnyOf, RequireRole, Role, RoleRequirement};
