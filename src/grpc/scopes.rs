//! Per-method scopes for gRPC services: one table maps method paths
//! (`/notes.v1.Notes/Add`) to the scopes they need.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::error::{ConfigError, ScopeMatch};
use crate::scope::ResponseFuture;
use crate::scope::layer::{Kind, Requirement};
use crate::verified::AuthState;

/// Which scopes each gRPC method needs, checked on the token the guard verified. Goes inside
/// the guard's layer; methods not listed need only a valid token.
///
/// ```
/// use bearer_guard::grpc::MethodScopes;
///
/// let scopes = MethodScopes::new()
///     .method("/notes.v1.Notes/List", ["notes:read"])
///     .method("/notes.v1.Notes/Watch", ["notes:read"])
///     .method("/notes.v1.Notes/Add", ["notes:write"])
///     .method_any("/notes.v1.Notes/Delete", ["admin", "notes:owner"])
///     .layer()?; // refuses empty lists and names that are not RFC 6749 scope tokens
/// // tonic::transport::Server::builder().layer(guard.layer()).layer(scopes)…
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct MethodScopes {
    methods: HashMap<Box<str>, Requirement>,
    error: Option<ConfigError>,
}

impl MethodScopes {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The method at `path` (`/package.Service/Method`) needs all of `scopes`.
    pub fn method<I, S>(self, path: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        self.add(path.into(), Requirement::checked(Kind::Scope, scopes, ScopeMatch::All))
    }

    /// The method at `path` needs any one of `scopes`.
    pub fn method_any<I, S>(self, path: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        self.add(path.into(), Requirement::checked(Kind::Scope, scopes, ScopeMatch::Any))
    }

    fn add(mut self, path: String, requirement: Result<Requirement, ConfigError>) -> Self {
        match requirement {
            Ok(requirement) => {
                self.methods.insert(path.into_boxed_str(), requirement);
            }
            Err(error) => {
                self.error.get_or_insert(error);
            }
        }
        self
    }

    /// The tower layer that enforces the table, or the first invalid entry.
    pub fn layer(self) -> Result<MethodScopesLayer, ConfigError> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(MethodScopesLayer { methods: Arc::new(self.methods) }),
        }
    }
}

/// The layer made by [`MethodScopes::layer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MethodScopesLayer {
    methods: Arc<HashMap<Box<str>, Requirement>>,
}

impl<S> Layer<S> for MethodScopesLayer {
    type Service = MethodScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MethodScopesService { inner, methods: Arc::clone(&self.methods) }
    }
}

/// The service made by [`MethodScopesLayer`]. A refusal is answered in gRPC form
/// (`PERMISSION_DENIED` with the needed scopes in `www-authenticate`) for gRPC calls.
#[derive(Debug, Clone)]
pub struct MethodScopesService<S> {
    inner: S,
    methods: Arc<HashMap<Box<str>, Requirement>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MethodScopesService<S>
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
        let refusal = self
            .methods
            .get(request.uri().path())
            .and_then(|needs| needs.refused(request.extensions().get::<AuthState>(), request.headers()));
        match refusal {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_entries_are_refused_when_the_layer_is_built() {
        assert!(MethodScopes::new().method("/a.B/C", Vec::<String>::new()).layer().is_err());
        assert!(MethodScopes::new().method("/a.B/C", ["two words"]).layer().is_err());
        assert!(MethodScopes::new().method("/a.B/C", ["notes:read"]).layer().is_ok());
    }
}
