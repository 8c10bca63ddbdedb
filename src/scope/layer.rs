//! Route-level scope and role guards, for wrapping existing routers without touching handlers:
//! [`RequireScopeLayer`] / [`RequireScopeService`], [`RequireRoleLayer`] / [`RequireRoleService`],
//! and their shared [`ResponseFuture`].

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::Response;
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::error::{AuthError, ConfigError, ScopeMatch};
pub use crate::future::ResponseFuture;
use crate::scope::set::{is_role_name, is_scope_token};
use crate::verified::{AuthState, VerifiedToken};

/// Whether a requirement is on the token's scopes or on its roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Scope,
    Role,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Scope => "scope",
            Self::Role => "role",
        }
    }

    /// Whether `token` has `name` in the set this kind reads.
    fn has(self, token: &VerifiedToken, name: &str) -> bool {
        match self {
            Self::Scope => token.scopes().contains(name),
            Self::Role => token.roles().contains(name),
        }
    }
}

/// A checked, non-empty list of names and how they are matched.
#[derive(Clone)]
pub(crate) struct Requirement {
    kind: Kind,
    names: Arc<[Arc<str>]>,
    matching: ScopeMatch,
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.names.iter().map(|s| &**s).collect();
        f.debug_struct("Requirement")
            .field("kind", &self.kind)
            .field("names", &names)
            .field("matching", &self.matching)
            .finish()
    }
}

impl Requirement {
    /// Refuses an empty list (all-of would let every token in, any-of none) and names no token
    /// can carry (they would make the route unreachable without saying why).
    pub(crate) fn checked<I, S>(kind: Kind, names: I, matching: ScopeMatch) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        let names: Arc<[Arc<str>]> = names.into_iter().map(Into::into).collect();
        let error = |reason: String| ConfigError::InvalidRequirement { kind: kind.name(), reason };
        if names.is_empty() {
            return Err(error(format!(
                "no {}s given: an empty all-of list would let every token in, an empty any-of list none",
                kind.name()
            )));
        }
        for name in names.iter() {
            let valid = match kind {
                Kind::Scope => is_scope_token(name),
                Kind::Role => is_role_name(name),
            };
            if !valid {
                let rule = match kind {
                    Kind::Scope => "an RFC 6749 scope-token (printable ASCII, no space, `\"` or `\\`)",
                    Kind::Role => "a role name (not empty, no control characters)",
                };
                return Err(error(format!("\"{}\" is not {rule}", name.escape_debug())));
            }
        }
        Ok(Self { kind, names, matching })
    }

    /// From a typed requirement, whose names the `scopes!`/`roles!` macros checked and whose
    /// tuples are never empty.
    pub(crate) fn typed(kind: Kind, names: &'static [&'static str], matching: ScopeMatch) -> Self {
        Self { kind, names: names.iter().map(|s| Arc::from(*s)).collect(), matching }
    }

    /// The names, in declaration order.
    pub(crate) fn names(&self) -> &Arc<[Arc<str>]> {
        &self.names
    }

    /// The names when they are scopes (what RFC 9728 `scopes_supported` lists).
    pub(crate) fn scope_names(&self) -> &[Arc<str>] {
        if self.kind == Kind::Scope { &self.names } else { &[] }
    }

    fn is_met(&self, token: &VerifiedToken) -> bool {
        match self.matching {
            ScopeMatch::All => self.names.iter().all(|s| self.kind.has(token, s)),
            ScopeMatch::Any => self.names.iter().any(|s| self.kind.has(token, s)),
        }
    }

    /// `None` when the requirement is met; otherwise the answer to send (gRPC or HTTP, by the
    /// request's `content-type`).
    pub(crate) fn refused(&self, state: Option<&AuthState>, headers: &http::HeaderMap) -> Option<Response> {
        let Some(state) = state else {
            tracing::error!("a scope or role layer is used on a route without BearerGuardLayer (or inside out)");
            return Some(crate::response::answer_without_layer(headers));
        };
        let Some(token) = &state.token else {
            return Some(state.answer(&AuthError::MissingToken, headers));
        };
        state.scope_log.note_used(self.scope_names());
        if self.is_met(token) {
            None
        } else {
            log_refusal(token, self.kind, &self.names, self.matching);
            Some(state.answer(&refusal(self.kind, &self.names, self.matching), headers))
        }
    }
}

/// The refusal for a token that lacks the scopes or roles.
pub(crate) fn refusal(kind: Kind, names: &[impl AsRef<str>], matching: ScopeMatch) -> AuthError {
    let required: Arc<[Arc<str>]> = names.iter().map(|s| Arc::from(s.as_ref())).collect();
    match kind {
        Kind::Scope => AuthError::InsufficientScope { required, matching },
        Kind::Role => AuthError::InsufficientRole { required, matching },
    }
}

pub(crate) fn log_refusal(token: &VerifiedToken, kind: Kind, names: &[impl AsRef<str>], matching: ScopeMatch) {
    let required: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    match kind {
        Kind::Scope => tracing::info!(issuer = token.issuer(), ?required, ?matching, "insufficient scope"),
        Kind::Role => tracing::info!(issuer = token.issuer(), ?required, ?matching, "missing role"),
    }
}

/// Requires all of `scopes` on the routes it wraps. Goes *inside* the guard's layer: with
/// axum, call `.route_layer(require_scopes(..)?)` before `.route_layer(guard.layer())`.
///
/// An empty list, or a name that is not an RFC 6749 scope-token, is a [`ConfigError`]: an
/// empty all-of list would let every token in. For scopes declared with
/// [`scopes!`](crate::scopes), [`RequireScope::layer`](crate::RequireScope::layer) needs no
/// `?`.
///
/// ```
/// use axum::{Router, routing::{get, post}};
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
///             .route_layer(require_scopes(["notes:read"])?)
///             .merge(post(create).route_layer(require_scopes(["notes:write"])?)),
///     )
///     .route_layer(guard.layer());
///
/// assert!(require_scopes(Vec::<String>::new()).is_err());
/// # Ok(())
/// # }
/// ```
pub fn require_scopes<I, S>(scopes: I) -> Result<RequireScopeLayer, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<Arc<str>>,
{
    Requirement::checked(Kind::Scope, scopes, ScopeMatch::All).map(|requirement| RequireScopeLayer { requirement })
}

/// Requires any one of `scopes` on the routes it wraps. An empty list (which would let no one
/// in) is a [`ConfigError`]. See [`require_scopes`].
pub fn require_any_scope<I, S>(scopes: I) -> Result<RequireScopeLayer, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<Arc<str>>,
{
    Requirement::checked(Kind::Scope, scopes, ScopeMatch::Any).map(|requirement| RequireScopeLayer { requirement })
}

/// Requires all of `roles` on the routes it wraps (roles are read with
/// [`roles_from`](crate::BearerGuardBuilder::roles_from)). Goes inside the guard's layer, like
/// [`require_scopes`]. An empty list, or an empty name or one with control characters, is a
/// [`ConfigError`].
///
/// ```
/// use axum::{Router, routing::delete};
/// use bearer_guard::{BearerGuard, RoleSource, require_roles};
///
/// # fn main() -> Result<(), bearer_guard::ConfigError> {
/// let guard = BearerGuard::builder()
///     .issuer("https://sso.example.com/realms/acme")
///     .audience("notes-api")
///     .roles_from(RoleSource::KeycloakRealmRoles)
///     .build()?;
/// async fn purge() -> &'static str { "purged" }
///
/// let app: Router = Router::new()
///     .route("/notes", delete(purge).route_layer(require_roles(["admin"])?))
///     .route_layer(guard.layer());
/// # Ok(())
/// # }
/// ```
pub fn require_roles<I, S>(roles: I) -> Result<RequireRoleLayer, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<Arc<str>>,
{
    Requirement::checked(Kind::Role, roles, ScopeMatch::All).map(|requirement| RequireRoleLayer { requirement })
}

/// Requires any one of `roles` on the routes it wraps. An empty list is a [`ConfigError`].
/// See [`require_roles`].
pub fn require_any_role<I, S>(roles: I) -> Result<RequireRoleLayer, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<Arc<str>>,
{
    Requirement::checked(Kind::Role, roles, ScopeMatch::Any).map(|requirement| RequireRoleLayer { requirement })
}

macro_rules! guard_layer {
    ($(#[$layer_doc:meta])* $layer:ident, $(#[$service_doc:meta])* $service:ident) => {
        $(#[$layer_doc])*
        #[derive(Debug, Clone)]
        #[must_use]
        pub struct $layer {
            pub(crate) requirement: Requirement,
        }

        impl<S> Layer<S> for $layer {
            type Service = $service<S>;

            fn layer(&self, inner: S) -> Self::Service {
                $service { inner, requirement: self.requirement.clone() }
            }
        }

        $(#[$service_doc])*
        #[derive(Debug, Clone)]
        pub struct $service<S> {
            inner: S,
            requirement: Requirement,
        }

        impl<S> $service<S> {
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

        impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for $service<S>
        where
            S: Service<Request<ReqBody>, Response = http::Response<ResBody>> + Clone,
        {
            type Response = http::Response<ResponseBody<ResBody>>;
            type Error = S::Error;
            type Future = ResponseFuture<S::Future>;

            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                self.inner.poll_ready(cx)
            }

            fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
                match self.requirement.refused(request.extensions().get::<AuthState>(), request.headers()) {
                    None => {
                        // Call the service that was driven to readiness; leave a clone in its place.
                        let clone = self.inner.clone();
                        let mut inner = std::mem::replace(&mut self.inner, clone);
                        ResponseFuture::inner(inner.call(request))
                    }
                    Some(response) => ResponseFuture::refused(response),
                }
            }
        }
    };
}

guard_layer!(
    /// Requires scopes on the routes it wraps: made by [`require_scopes`],
    /// [`require_any_scope`] or [`RequireScope::layer`](crate::RequireScope::layer).
    RequireScopeLayer,
    /// The service made by [`RequireScopeLayer`]: answers `403 insufficient_scope` with the
    /// `scope` attribute when the token lacks the scopes, the guard's `401` when there is no
    /// token.
    RequireScopeService
);

guard_layer!(
    /// Requires roles on the routes it wraps: made by [`require_roles`], [`require_any_role`]
    /// or [`RequireRole::layer`](crate::RequireRole::layer).
    RequireRoleLayer,
    /// The service made by [`RequireRoleLayer`]: answers `403 insufficient_scope` (without a
    /// `scope` attribute) when the token lacks the roles, the guard's `401` when there is no
    /// token.
    RequireRoleService
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_are_refused_where_they_are_built() {
        for built in [
            require_scopes(Vec::<String>::new()).map(drop),
            require_any_scope(Vec::<String>::new()).map(drop),
            require_roles(Vec::<String>::new()).map(drop),
            require_any_role(Vec::<String>::new()).map(drop),
        ] {
            assert!(matches!(built, Err(ConfigError::InvalidRequirement { .. })), "{built:?}");
        }
        // Control: one name is enough.
        assert!(require_scopes(["notes:read"]).is_ok() && require_any_scope(["a", "b"]).is_ok());
        assert!(require_roles(["admin"]).is_ok() && require_any_role(["Notes Admin"]).is_ok());
    }

    #[test]
    fn names_no_token_can_carry_are_refused() {
        for bad in ["notes read", "notes:read\tadmin", "", "a\"b"] {
            let e = require_scopes([bad]).map(drop);
            assert!(matches!(e, Err(ConfigError::InvalidRequirement { kind: "scope", .. })), "{bad:?}: {e:?}");
        }
        for bad in ["", "admin\n", "a\u{7f}"] {
            let e = require_any_role([bad]).map(drop);
            assert!(matches!(e, Err(ConfigError::InvalidRequirement { kind: "role", .. })), "{bad:?}: {e:?}");
        }
        let message = require_scopes(["notes\tread"]).map(drop).unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid scope requirement: \"notes\\tread\" is not an RFC 6749 scope-token (printable ASCII, no space, `\"` or `\\`)"
        );
    }
}
