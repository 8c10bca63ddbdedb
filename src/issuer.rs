//! Trusted issuers: each with its exact `iss`, its audiences and its key source.

use std::fmt;
use std::sync::Arc;

use crate::error::ConfigError;
use crate::keys::cache::{Location, RemoteKeys, Snapshot};
use crate::keys::fetch::{Fetcher, fetchable_url};
use crate::keys::{AlgSet, KeyCachePolicy, KeySet, StaticKey};

/// One trusted issuer, for guards that accept tokens from several.
///
/// ```
/// use bearer_guard::{BearerGuard, Issuer};
///
/// let guard = BearerGuard::builder()
///     .trust(Issuer::new("https://a.example.com").audience("https://api.example.com"))
///     .trust(
///         Issuer::new("https://b.example.com")
///             .audience("api://notes")
///             .jwks_uri("https://b.example.com/keys"),
///     )
///     .build()?;
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Issuer {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) static_keys: Vec<StaticKey>,
    pub(crate) any_audience: bool,
    pub(crate) introspection: Option<crate::introspection::Introspection>,
}

impl Issuer {
    /// An issuer identified by its exact `iss` value. Without [`jwks_uri`](Self::jwks_uri) or
    /// static keys, its keys are found by discovery from this URL.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            jwks_uri: None,
            static_keys: Vec::new(),
            any_audience: false,
            introspection: None,
        }
    }

    /// Adds an accepted audience: `aud` must contain one of them.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Fetches keys from this JWKS URL instead of discovering it.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// Verifies with this key instead of fetching a JWKS. May be given several times.
    pub fn static_key(mut self, key: StaticKey) -> Self {
        self.static_keys.push(key);
        self
    }

    /// `true` accepts tokens whatever their `aud` (default `false`). Only for issuers that
    /// mint tokens for this API alone.
    pub fn dangerous_accept_any_audience(mut self, enabled: bool) -> Self {
        self.any_audience = enabled;
        self
    }

    /// Introspects this issuer's opaque tokens (RFC 7662). At most one trusted issuer may:
    /// an opaque token carries no `iss` to choose by.
    pub fn introspection(mut self, introspection: crate::introspection::Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// Checks the issuer (and the key cache policy its keys would use) and makes it ready.
    pub(crate) fn build(
        self,
        allowed: AlgSet,
        policy: &KeyCachePolicy,
        client: &reqwest::Client,
    ) -> Result<TrustedIssuer, ConfigError> {
        if self.audiences.is_empty() && !self.any_audience {
            return Err(ConfigError::MissingAudience(self.issuer));
        }
        policy.validate()?;
        let issuer: Arc<str> = Arc::from(self.issuer.as_str());
        let keys = if !self.static_keys.is_empty() {
            if self.jwks_uri.is_some() {
                return Err(ConfigError::InvalidSetting {
                    name: "static_key",
                    reason: "an issuer takes either static keys or a JWKS, not both: drop `.jwks_uri(..)` or the static keys",
                });
            }
            let keys =
                self.static_keys.into_iter().map(|k| k.into_verifying_key(allowed)).collect::<Result<Vec<_>, _>>()?;
            let snapshot = Snapshot {
                keys: KeySet::new(keys),
                fetched_at: tokio::time::Instant::now(),
                ttl: std::time::Duration::MAX,
                generation: 0,
            };
            KeySource::Static(Arc::new(snapshot))
        } else {
            let location = match self.jwks_uri {
                Some(url) => Location::Jwks(
                    fetchable_url(&url).map_err(|reason| ConfigError::InvalidUrl { url: url.clone(), reason })?,
                ),
                None => {
                    crate::keys::discovery::metadata_urls(&self.issuer)
                        .map_err(|reason| ConfigError::InvalidUrl { url: self.issuer.clone(), reason })?;
                    Location::Discovery
                }
            };
            let fetcher =
                Fetcher { client: client.clone(), timeout: policy.fetch_timeout, max_body: policy.max_body_bytes };
            let asymmetric = allowed.intersect(AlgSet::ASYMMETRIC);
            if asymmetric.is_empty() {
                // A JWKS never yields HMAC keys: this issuer would answer 503 forever.
                return Err(ConfigError::InvalidSetting {
                    name: "algorithms",
                    reason: "an issuer with a JWKS needs an asymmetric algorithm (RS256, PS256, ES256, EdDSA, ...) \
                             in the allow-list; HS* keys are never taken from a JWKS",
                });
            }
            KeySource::Remote(Arc::new(RemoteKeys::new(
                Arc::clone(&issuer),
                location,
                fetcher,
                policy.clone(),
                asymmetric,
            )))
        };
        Ok(TrustedIssuer {
            issuer,
            audiences: self.audiences.into_iter().map(Box::from).collect(),
            any_audience: self.any_audience,
            keys,
        })
    }
}

/// Where an issuer's keys come from.
pub(crate) enum KeySource {
    Static(Arc<Snapshot>),
    Remote(Arc<RemoteKeys>),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(s) => f.debug_tuple("Static").field(&s.keys).finish(),
            Self::Remote(_) => f.write_str("Remote"),
        }
    }
}

/// A configured issuer, ready to verify with.
#[derive(Debug)]
pub(crate) struct TrustedIssuer {
    pub(crate) issuer: Arc<str>,
    pub(crate) audiences: Box<[Box<str>]>,
    pub(crate) any_audience: bool,
    pub(crate) keys: KeySource,
}
