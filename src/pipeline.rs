//! The request path, one stage after another:
//!
//! 1. take the token ([`crate::token`]: scheme and source, size limit);
//! 2. authenticate it ([`crate::authenticate`]: local JWS verification behind the
//!    verified-token cache, or introspection);
//! 3. check its binding ([`crate::binding`]: DPoP, mTLS);
//! 4. check revocation ([`crate::revocation`]);
//! 5. hand the [`VerifiedToken`] to handlers (the layer puts it in the request extensions).
//!
//! A refusal at any stage is an [`AuthError`]; it is turned into an HTTP answer once, at the edge
//! ([`crate::response`]).

use std::fmt;
use std::sync::Arc;

use http::request::Parts;

use crate::authenticate::Authenticator;
use crate::binding::{self, Binding};
use crate::error::AuthError;
use crate::response::RefusalResponder;
use crate::revocation::Revocation;
use crate::token::{Presented, TokenSources};
use crate::verified::VerifiedToken;

/// Every stage of a guard, shared by all requests.
pub(crate) struct Pipeline {
    pub(crate) sources: TokenSources,
    pub(crate) authenticator: Authenticator,
    pub(crate) binding: Binding,
    pub(crate) revocation: Revocation,
    pub(crate) allow_anonymous: bool,
    pub(crate) responder: Arc<dyn RefusalResponder>,
    /// Realm and metadata URL of the challenges (also sent with gRPC answers).
    pub(crate) rfc6750: Arc<crate::response::Rfc6750>,
    /// RFC 9728: the resource identifier and its metadata, when configured.
    pub(crate) resource: Option<crate::metadata::config::ResourceState>,
    /// Scopes required by the guard's layers and seen in scope checks.
    pub(crate) scope_log: Arc<crate::metadata::scopes::ScopeLog>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("sources", &self.sources)
            .field("authenticator", &self.authenticator)
            .field("binding", &self.binding)
            .field("revocation", &self.revocation)
            .field("allow_anonymous", &self.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Runs every stage on a request. `Ok(None)` is an anonymous request the guard lets through.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) async fn run(&self, request: &Parts) -> Result<Option<VerifiedToken>, AuthError> {
        self.run_with_outcome(request).await.map(|(token, _)| token)
    }

    /// [`run`](Self::run), with what the binding stage adds to a successful answer (a fresh
    /// `DPoP-Nonce`).
    pub(crate) async fn run_with_outcome(
        &self,
        request: &Parts,
    ) -> Result<(Option<VerifiedToken>, binding::Outcome), AuthError> {
        let Some(presented) = self.take(request)? else {
            return Ok((None, binding::Outcome::default()));
        };
        let token = self.authenticator.authenticate(presented.token).await?;
        let outcome = self.binding.check(&token, &presented, request).await.inspect_err(log_refusal)?;
        self.revocation.check(&token)?;
        Ok((Some(token), outcome))
    }

    /// The same verdict as [`run_with_outcome`](Self::run_with_outcome) when no stage has to
    /// wait: a request without a usable token, or a token the verified-token cache vouches for
    /// (with the Bearer scheme: a DPoP proof is new on every request). `None` when a stage
    /// must wait (a signature to check, keys or an introspection answer to fetch, a proof's
    /// `jti` to record): then the whole pipeline runs. The layer answers most requests from
    /// here, with no future of its own.
    pub(crate) fn run_now(&self, request: &Parts) -> Option<Result<Option<VerifiedToken>, AuthError>> {
        let presented = match self.take(request) {
            Ok(Some(presented)) => presented,
            other => return Some(other.map(|_| None)),
        };
        let token = self.authenticator.cached_now(presented.token)?;
        let bound = self.binding.check_now(&token, &presented, request)?.inspect_err(log_refusal);
        Some(bound.and_then(|()| self.revocation.check(&token)).map(|()| Some(token)))
    }

    /// Stage 1: the request's token, `None` for an anonymous request the guard lets through.
    fn take<'r>(&self, request: &'r Parts) -> Result<Option<Presented<'r>>, AuthError> {
        match self.sources.extract(&request.headers, &request.uri) {
            Ok(Some(presented)) => Ok(Some(presented)),
            Ok(None) if self.allow_anonymous => Ok(None),
            Ok(None) => Err(AuthError::MissingToken),
            Err(error) => {
                log_refusal(&error);
                Err(error)
            }
        }
    }

    /// Stages 2 and 4 for a token that did not come from a request (no scheme, no binding).
    pub(crate) async fn run_detached(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let token = self.sources.check(token)?;
        let verified = self.authenticator.authenticate(token).await?;
        self.revocation.check(&verified)?;
        Ok(verified)
    }
}

/// Refusals of the token and binding stages are logged at DEBUG (the token never is).
fn log_refusal(error: &AuthError) {
    tracing::debug!(target: "bearer_guard::refusal", reason = %error, "request refused");
}
