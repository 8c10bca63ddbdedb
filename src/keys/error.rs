//! Why an issuer's signing keys could not be obtained: [`KeyError`], and [`PrefetchError`] for
//! [`BearerGuard::prefetch`](crate::BearerGuard::prefetch).
//!
//! These are for logs and operators, so they name every URL tried and the cause of each
//! failure. A request refused for lack of keys is answered `503` + `Retry-After` without any of
//! this text (`impl From<KeyError> for AuthError`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::fetch::FetchError;
use crate::error::{AuthError, Unavailable};

/// Why the signing keys of an issuer could not be obtained.
///
/// [`Misconfigured`](Self::Misconfigured) is a contradiction between the configuration and the
/// issuer's answer (its discovery document names another issuer, its JWK Set has no key for
/// the allowed algorithms): retrying will not help. [`Unavailable`](Self::Unavailable) is an
/// outage (refused connection, timeout, error status): it may pass.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The issuer or its key endpoint failed; a new attempt is made after `retry_after`.
    #[error("signing keys of `{issuer}` are unavailable: {attempts}")]
    #[non_exhaustive]
    Unavailable {
        /// The configured issuer.
        issuer: String,
        /// Each URL tried and why it failed.
        attempts: FetchAttempts,
        /// When the next attempt may be made.
        retry_after: Duration,
    },
    /// The issuer's answer contradicts the configuration; fix one of them.
    #[error("issuer `{issuer}` is misconfigured: {attempts}")]
    #[non_exhaustive]
    Misconfigured {
        /// The configured issuer.
        issuer: String,
        /// Each URL tried and why it failed.
        attempts: FetchAttempts,
        /// When the next attempt may be made.
        retry_after: Duration,
    },
}

impl KeyError {
    pub(crate) fn new(issuer: &str, attempts: Vec<(Url, FetchError)>, retry_after: Duration) -> Self {
        let permanent = attempts.iter().any(|(_, e)| e.is_permanent());
        let issuer = issuer.to_owned();
        let attempts = FetchAttempts(Arc::from(attempts));
        if permanent {
            Self::Misconfigured { issuer, attempts, retry_after }
        } else {
            Self::Unavailable { issuer, attempts, retry_after }
        }
    }

    /// The configured issuer whose keys are missing.
    pub fn issuer(&self) -> &str {
        match self {
            Self::Unavailable { issuer, .. } | Self::Misconfigured { issuer, .. } => issuer,
        }
    }

    /// Each URL tried and why it failed.
    pub fn attempts(&self) -> &FetchAttempts {
        match self {
            Self::Unavailable { attempts, .. } | Self::Misconfigured { attempts, .. } => attempts,
        }
    }

    /// How long until the next fetch may be attempted (the `Retry-After` of a `503`).
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::Unavailable { retry_after, .. } | Self::Misconfigured { retry_after, .. } => *retry_after,
        }
    }

    /// Whether retrying cannot help until the configuration or the issuer changes.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(self, Self::Misconfigured { .. })
    }

    /// The same failure, with a new `retry_after` (a later caller in the same back-off).
    pub(crate) fn with_retry_after(mut self, wait: Duration) -> Self {
        match &mut self {
            Self::Unavailable { retry_after, .. } | Self::Misconfigured { retry_after, .. } => *retry_after = wait,
        }
        self
    }
}

/// The URLs a fetch tried, in order, each with why it failed.
///
/// Displayed as `GET <url>: <cause>; GET <url>: <cause>`.
#[derive(Clone)]
pub struct FetchAttempts(Arc<[(Url, FetchError)]>);

impl FetchAttempts {
    /// The URLs tried, in order.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(url, _)| url.as_str())
    }

    /// `(url, cause)` for each URL tried, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, String)> {
        self.0.iter().map(|(url, e)| (url.as_str(), e.to_string()))
    }
}

impl fmt::Display for FetchAttempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no URL to fetch");
        }
        for (i, (url, error)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "GET {url}: {error}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for FetchAttempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Cannot get keys: `503` + `Retry-After`. The client did nothing wrong; nothing of the cause
/// reaches it.
impl From<KeyError> for AuthError {
    fn from(error: KeyError) -> Self {
        AuthError::unavailable(Unavailable::Keys, error.retry_after())
    }
}

/// [`BearerGuard::prefetch`](crate::BearerGuard::prefetch) could not load the keys of every
/// issuer. Holds one [`KeyError`] per failing issuer.
#[derive(Debug, Clone)]
pub struct PrefetchError {
    pub(crate) errors: Vec<KeyError>,
}

impl PrefetchError {
    /// One error per issuer whose keys could not be loaded, in configuration order.
    pub fn errors(&self) -> &[KeyError] {
        &self.errors
    }
}

impl fmt::Display for PrefetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signing keys could not be loaded for {} issuer(s)", self.errors.len())?;
        for error in &self.errors {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PrefetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.errors.first().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn names_every_url_and_cause() {
        let e = KeyError::new(
            "https://idp.example.com",
            vec![
                (url("https://idp.example.com/.well-known/openid-configuration"), FetchError::Status(404)),
                (url("https://idp.example.com/.well-known/oauth-authorization-server"), FetchError::ConnectionRefused),
            ],
            Duration::from_secs(5),
        );
        assert!(!e.is_misconfiguration());
        assert_eq!(
            e.to_string(),
            "signing keys of `https://idp.example.com` are unavailable: \
             GET https://idp.example.com/.well-known/openid-configuration: unexpected status 404; \
             GET https://idp.example.com/.well-known/oauth-authorization-server: connection refused"
        );
        assert_eq!(AuthError::from(e), AuthError::unavailable(Unavailable::Keys, Duration::from_secs(5)));
    }

    #[test]
    fn issuer_mismatch_is_a_misconfiguration() {
        let e = KeyError::new(
            "https://a.example.com",
            vec![(
                url("https://a.example.com/.well-known/openid-configuration"),
                FetchError::IssuerMismatch {
                    document: "https://b.example.com".into(),
                    configured: "https://a.example.com".into(),
                },
            )],
            Duration::from_secs(5),
        );
        assert!(e.is_misconfiguration());
        assert!(
            e.to_string()
                .contains("issuer mismatch: document says `https://b.example.com`, configured `https://a.example.com`"),
            "{e}"
        );
    }
}
