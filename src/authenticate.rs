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
use crate::verified_cache::{self, VerifiedCache};

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
        let hash = match &self.cache {
            Some(cache) => {
                let hash = verified_cache::hash(token);
                if let Some(token) = self.cached(cache, &hash).await {
                    return Ok(token);
                }
                Some(hash)
            }
            None => None,
        };
        check_syntax(token)?;
        if let Some(introspection) = introspection
            && !self.jws.is_trusted_jws(token)
        {
            return introspection.introspect(token).await;
        }
        let (verified, key_identity) = self.jws.verify(token).await?;
        if let (Some(cache), Some(hash)) = (&self.cache, hash) {
            cache.insert(hash, verified.clone(), key_identity, now_secs());
        }
        Ok(verified)
    }

    /// A cached verdict for these exact token bytes (which passed every check, the grammar
    /// included), used only while `exp` (with leeway) has not passed and the very key that
    /// verified it is still in its issuer's set.
    async fn cached(&self, cache: &VerifiedCache, hash: &verified_cache::TokenHash) -> Option<VerifiedToken> {
        let entry = cache.get(hash)?;
        let fresh = now_secs() <= entry.token.expires_at_secs() + self.jws.leeway as f64;
        if fresh && self.jws.key_still_trusted(&entry.key).await {
            return Some(entry.token);
        }
        cache.remove(hash);
        None
    }
}
