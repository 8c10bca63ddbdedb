//! Stage 2 of the request path: authenticating the token. A JWS of a trusted issuer is verified
//! locally ([`crate::jws`]); other tokens go to the configured introspection endpoint, when there
//! is one. Either way the result is the same [`VerifiedToken`], so handlers cannot tell them
//! apart. The verified-token cache sits in front of local verification.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::clock::now_secs;
use crate::error::AuthError;
use crate::jws::verifier::JwsVerifier;
use crate::token::check_syntax;
use crate::verified::VerifiedToken;
use crate::verified_cache::{Entry, VerifiedCache};

/// A boxed future, as the object-safe seams of the pipeline return.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub(crate) use crate::introspection::IntrospectionMode;

/// The seam for RFC 7662 introspection: asks the authorization server about a token.
pub(crate) trait Introspect: Send + Sync + fmt::Debug {
    /// The verdict on `token`, as a [`VerifiedToken`] built from the introspection answer.
    fn introspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedToken, AuthError>>;
    /// Which tokens go to introspection.
    fn mode(&self) -> IntrospectionMode;
}

/// Local verification, the verified-token cache in front of it, and optional introspection.
pub(crate) struct Authenticator {
    pub(crate) jws: JwsVerifier,
    pub(crate) cache: Option<VerifiedCache>,
    pub(crate) introspection: Option<Arc<dyn Introspect>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("jws", &self.jws)
            .field("cache", &self.cache)
            .field("introspection", &self.introspection)
            .finish()
    }
}

impl Authenticator {
    /// Authenticates a token (already within the size limit).
    ///
    /// The verified-token cache is asked first: only tokens that passed local verification are
    /// in it, so a hit needs no routing. On a miss, a JWS of a trusted issuer is verified
    /// locally and anything else goes to introspection (when configured); in
    /// [`IntrospectionMode::All`] every token is introspected and the cache is not used.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let introspection = self.introspection.as_ref();
        if let Some(introspection) = introspection.filter(|i| i.mode() == IntrospectionMode::All) {
            check_syntax(token)?;
            return introspection.introspect(token).await;
        }
        if let Some(cache) = &self.cache
            && let Some(verified) = self.cached(cache, token).await
        {
            return Ok(verified);
        }
        check_syntax(token)?;
        if let Some(introspection) = introspection
            && !self.jws.is_trusted_jws(token)
        {
            return introspection.introspect(token).await;
        }
        let (verified, key_identity) = self.jws.verify(token).await?;
        if let Some(cache) = &self.cache {
            cache.insert(token, verified.clone(), key_identity, now_secs());
        }
        Ok(verified)
    }

    /// A cached verdict for these exact token bytes (which passed every check, the grammar
    /// included), used only while `exp` (with leeway) has not passed and the very key that
    /// verified it is still in its issuer's set.
    async fn cached(&self, cache: &VerifiedCache, token: &str) -> Option<VerifiedToken> {
        let entry = cache.get(token)?;
        if !self.expired(&entry) && self.jws.key_still_trusted(&entry.key).await {
            return Some(entry.token);
        }
        cache.remove(token);
        None
    }

    /// The cached verdict on `token` when it can be given without waiting: a hit whose `exp`
    /// has not passed and whose key is in a key set that needs no fetch. `None` sends the token
    /// down the whole of [`authenticate`](Self::authenticate) (a miss, an expired entry, keys
    /// to fetch, or every token introspected), which also drops an entry that no longer holds.
    pub(crate) fn cached_now(&self, token: &str) -> Option<VerifiedToken> {
        let cache = self.cache.as_ref()?;
        if self.introspection.as_ref().is_some_and(|i| i.mode() == IntrospectionMode::All) {
            return None;
        }
        let entry = cache.get(token)?;
        if self.expired(&entry) {
            return None;
        }
        self.jws.key_still_trusted_now(&entry.key)?.then_some(entry.token)
    }

    /// Whether the entry's token is past `exp` (with leeway).
    fn expired(&self, entry: &Entry) -> bool {
        now_secs() > entry.token.expires_at_secs() + self.jws.leeway as f64
    }
}
