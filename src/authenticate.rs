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
    pub(crate) async fn authenticate(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        if let Some(introspection) = &self.introspection
            && (introspection.mode() == IntrospectionMode::All || !self.jws.is_trusted_jws(token))
        {
            check_syntax(token)?;
            return introspection.introspect(token).await;
        }
        self.verify_locally(token).await
    }

    /// Local JWS verification, through the verified-token cache when it is on.
    async fn verify_locally(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let Some(cache) = &self.cache else {
            check_syntax(token)?;
            return self.jws.verify(token).await.map(|(t, _)| t);
        };
        let key = verified_cache::hash(token);
        if let Some(entry) = cache.get(&key) {
            // Same bytes as a token that passed every check, the grammar included. Used only
            // while `exp` (with leeway) has not passed and the very key that verified it is
            // still in its issuer's set.
            let fresh = now_secs() <= entry.token.expires_at_secs() + self.jws.leeway as f64;
            if fresh && self.jws.key_still_trusted(&entry.key).await {
                return Ok(entry.token);
            }
            cache.remove(&key);
        }
        check_syntax(token)?;
        let (verified, key_identity) = self.jws.verify(token).await?;
        cache.insert(key, verified.clone(), key_identity, now_secs());
        Ok(verified)
    }
}
