//! Stage 4 of the request path: refusing tokens revoked before their `exp`.
//!
//! Runs after authentication, on verified-token-cache hits too. Without a revocation source
//! configured, nothing is revoked.

use crate::error::AuthError;
use crate::verified::VerifiedToken;

/// The revocation checks a guard runs. Empty by default.
#[derive(Debug, Clone, Default)]
pub(crate) struct Revocation {}

impl Revocation {
    /// `Err` when the token has been revoked.
    pub(crate) fn check(&self, _token: &VerifiedToken) -> Result<(), AuthError> {
        Ok(())
    }

    /// Whether there is nothing to check, so the pipeline can skip the stage.
    pub(crate) fn is_empty(&self) -> bool {
        true
    }
}
