//! [`RevocationEntry`]: one revocation, as kept locally and exchanged through a store.

use serde::{Deserialize, Serialize};

/// Longest issuer, `jti`, `sub` or `sid` a revocation entry accepts (bytes).
pub const MAX_ID_BYTES: usize = 512;

/// One revocation: what is revoked, by which issuer, and until when the entry is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RevocationEntry {
    /// The issuer (`iss`) of the revoked tokens.
    #[serde(rename = "iss")]
    pub issuer: String,
    /// The token, subject or session.
    #[serde(flatten)]
    pub target: Target,
    /// When the entry may be forgotten (seconds since the Unix epoch): no token it revokes
    /// is still valid by then.
    pub until: f64,
}

/// What a [`RevocationEntry`] revokes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Target {
    /// The token with this `jti`.
    Token {
        /// Its `jti`.
        jti: String,
    },
    /// Every token of this `sub` with `iat` before `before` (seconds since the Unix epoch).
    Subject {
        /// The subject.
        sub: String,
        /// The cutoff.
        before: f64,
    },
    /// Every token of this OpenID session `sid` with `iat` before `before`.
    Session {
        /// The session id.
        sid: String,
        /// The cutoff.
        before: f64,
    },
}

impl RevocationEntry {
    /// Identifiers non-empty and at most [`MAX_ID_BYTES`], instants finite.
    pub(crate) fn fits(&self) -> bool {
        let id = match &self.target {
            Target::Token { jti } => jti,
            Target::Subject { sub: id, before } | Target::Session { sid: id, before } => {
                if !before.is_finite() {
                    return false;
                }
                id
            }
        };
        !self.issuer.is_empty()
            && !id.is_empty()
            && self.issuer.len() <= MAX_ID_BYTES
            && id.len() <= MAX_ID_BYTES
            && self.until.is_finite()
    }
}

impl Target {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Token { .. } => "token",
            Self::Subject { .. } => "subject",
            Self::Session { .. } => "session",
        }
    }
}
