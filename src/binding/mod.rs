//! Stage 3 of the request path: checking that a sender-constrained token is presented by the
//! sender it is bound to (RFC 9449 DPoP `cnf.jkt`, RFC 8705 `cnf.x5t#S256`).
//!
//! A token without a binding passes; each binding mechanism plugs in here.

use http::request::Parts;

use crate::error::AuthError;
use crate::token::Presented;
use crate::verified::VerifiedToken;

/// The binding checks a guard runs, in order. Empty by default.
#[derive(Debug, Clone, Default)]
pub(crate) struct Binding {}

impl Binding {
    /// Whether the token's binding (if any) holds for this request.
    pub(crate) async fn check(
        &self,
        _token: &VerifiedToken,
        _presented: &Presented<'_>,
        _request: &Parts,
    ) -> Result<(), AuthError> {
        Ok(())
    }

    /// Whether there is nothing to check, so the pipeline can skip the stage.
    pub(crate) fn is_empty(&self) -> bool {
        true
    }
}
