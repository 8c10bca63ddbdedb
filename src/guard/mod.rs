//! [`BearerGuard`]: a configured guard, and its [`builder`](BearerGuardBuilder), the
//! configuration a user writes.

mod builder;

pub use builder::BearerGuardBuilder;

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, Request, Uri};

use crate::error::AuthError;
use crate::issuer::KeySource;
use crate::keys::KeySetStats;
use crate::layer::BearerGuardLayer;
use crate::pipeline::Pipeline;
use crate::revocation::{LogoutError, Revocations};
use crate::verified::VerifiedToken;

/// A configured resource-server guard. Cheap to clone; build it once, use its
/// [`layer`](Self::layer) on as many routers as you like.
///
/// ```
/// use axum::{Router, routing::get};
/// use bearer_guard::{BearerGuard, Claims, AccessTokenClaims};
///
/// let guard = BearerGuard::builder()
///     .issuer("https://idp.example.com")      // discovery + exact `iss` check
///     .audience("https://api.example.com")
///     .build()?;                              // no network I/O here; keys load lazily
///
/// async fn me(Claims(c): Claims<AccessTokenClaims>) -> String {
///     c.sub.unwrap_or_default()
/// }
///
/// let app: Router = Router::new().route("/me", get(me)).route_layer(guard.layer());
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct BearerGuard {
    pub(crate) pipeline: Arc<Pipeline>,
}

impl fmt::Debug for BearerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerGuard").field("pipeline", &self.pipeline).finish()
    }
}

impl BearerGuard {
    /// Starts a configuration.
    pub fn builder() -> BearerGuardBuilder {
        BearerGuardBuilder::default()
    }

    /// The tower layer that verifies each request's token. Put it on
    /// [`Router::route_layer`](axum::Router::route_layer) so unknown paths stay 404.
    pub fn layer(&self) -> BearerGuardLayer {
        BearerGuardLayer::new(Arc::clone(&self.pipeline))
    }

    /// Verifies a token taken from somewhere else (a WebSocket message, a gRPC metadata
    /// entry). The size limit, token68 grammar and revocation apply as for requests.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        self.pipeline.run_detached(token).await
    }

    /// Runs the guard's whole request path on a request's head (headers, URI, method,
    /// extensions). `Ok(None)` is an anonymous request the guard lets through.
    pub async fn authenticate_request(
        &self,
        request: &http::request::Parts,
    ) -> Result<Option<VerifiedToken>, AuthError> {
        self.pipeline.run(request).await
    }

    /// Takes the token from a request's headers (and query/cookie if enabled) and verifies it.
    /// `Ok(None)` is an anonymous request the guard lets through. Prefer
    /// [`authenticate_request`](Self::authenticate_request), which also sees the method and
    /// extensions that sender-constrained tokens need.
    pub async fn authenticate(&self, headers: &HeaderMap, uri: &Uri) -> Result<Option<VerifiedToken>, AuthError> {
        let mut request = Request::new(());
        *request.headers_mut() = headers.clone();
        *request.uri_mut() = uri.clone();
        let (parts, ()) = request.into_parts();
        self.pipeline.run(&parts).await
    }

    /// The revocation list, when one is configured with
    /// [`BearerGuardBuilder::revocation`].
    pub fn revocations(&self) -> Option<&Revocations> {
        self.pipeline.revocation.0.as_ref()
    }

    /// An axum route for OpenID Connect Back-Channel Logout 1.0 (`POST`, form body
    /// `logout_token=…`): see [`revocation`](crate::revocation). Mount it outside the guard's
    /// layer (the identity provider sends no access token). Needs
    /// [`BearerGuardBuilder::revocation`]; without it every logout is refused with `400`.
    ///
    /// ```
    /// use axum::Router;
    /// use bearer_guard::{BearerGuard, revocation::RevocationConfig};
    ///
    /// let guard = BearerGuard::builder()
    ///     .issuer("https://idp.example.com")
    ///     .audience("https://api.example.com")
    ///     .revocation(RevocationConfig::new().logout_audience("my-client-id"))
    ///     .build()?;
    /// let app: Router = Router::new().route("/backchannel-logout", guard.backchannel_logout());
    /// # Ok::<(), bearer_guard::ConfigError>(())
    /// ```
    pub fn backchannel_logout<S: Clone + Send + Sync + 'static>(&self) -> axum::routing::MethodRouter<S> {
        let guard = self.clone();
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| async move {
            use axum_core::response::IntoResponse;
            let max = guard.pipeline.sources.max_bytes;
            let result = match crate::revocation::logout_token_from_form(&headers, &body, max) {
                Ok(token) => guard.process_logout_token(&token).await,
                Err(error) => Err(error),
            };
            match result {
                Ok(()) => crate::revocation::ok_response(),
                Err(error) => error.into_response(),
            }
        })
    }

    /// Verifies a back-channel `logout_token` and revokes the subject and/or session it
    /// names (what [`backchannel_logout`](Self::backchannel_logout) does with a request).
    pub async fn process_logout_token(&self, logout_token: &str) -> Result<(), LogoutError> {
        let Some(revocations) = self.revocations() else {
            return Err(LogoutError::BadRequest("back-channel logout is not enabled"));
        };
        if logout_token.len() > self.pipeline.sources.max_bytes {
            return Err(LogoutError::BadRequest("logout_token is too large"));
        }
        crate::revocation::process_logout(&self.pipeline.authenticator.jws, revocations, logout_token).await
    }

    /// The state of each issuer's remote key set (issuers with static keys are left out).
    ///
    /// This is the readiness signal: a guard can verify tokens of an issuer while its
    /// `key_count` is above zero; `stale` says it does so with the last good set because the
    /// issuer fails, and `failures`/`last_success` say for how long. It does no I/O; use
    /// [`prefetch`](Self::prefetch) to load the keys.
    pub async fn key_stats(&self) -> Vec<KeySetStats> {
        let mut all = Vec::new();
        for issuer in &*self.pipeline.authenticator.jws.issuers {
            if let KeySource::Remote(remote) = &issuer.keys {
                all.push(remote.stats().await);
            }
        }
        all
    }

    /// Loads the keys of every issuer that fetches them (discovery and JWKS), unless a usable
    /// set is cached, and says which issuers failed and why: for start-up (fail fast on a
    /// wrong issuer URL instead of answering `503` under live traffic) and readiness probes.
    ///
    /// Issuers are fetched one after another, each within the policy's `fetch_timeout`. A
    /// failed fetch starts the `retry_after` back-off as a request's would; calls during it
    /// return the same error without a new fetch.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use bearer_guard::BearerGuard;
    ///
    /// let guard = BearerGuard::builder().issuer("https://idp.example.com").audience("api").build()?;
    /// if let Err(error) = guard.prefetch().await {
    ///     // Names each issuer, each URL tried and the cause ("connection refused", ...).
    ///     eprintln!("{error}");
    ///     return Err(error.into());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn prefetch(&self) -> Result<(), crate::keys::PrefetchError> {
        let mut errors = Vec::new();
        for issuer in &*self.pipeline.authenticator.jws.issuers {
            if let KeySource::Remote(remote) = &issuer.keys
                && let Err(error) = remote.prefetch().await
            {
                errors.push(error);
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(crate::keys::PrefetchError { errors }) }
    }
}
