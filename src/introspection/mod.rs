//! Opaque access tokens through RFC 7662 token introspection: the configuration a user writes
//! ([`Introspection`], [`ClientAuth`], [`IntrospectionMode`]) and the runtime that asks the
//! authorization server, checks its answer and caches the verdict.
//!
//! A token goes to introspection when it is not a JWS of a trusted issuer (the default,
//! [`IntrospectionMode::OpaqueOnly`]), or always ([`IntrospectionMode::All`]). The answer
//! becomes the same [`VerifiedToken`](crate::VerifiedToken) a JWT gives: its claims are the
//! whole answer, its [`Scopes`](crate::Scopes) come from `scope` (and the configured role
//! claims), so `Claims<T>`, `Scopes` and `RequireScope<S>` work unchanged.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::testing::TestIssuer;
//! use bearer_guard::{BearerGuard, ClientAuth, Introspection, Scopes};
//! use http::{Request, StatusCode, header};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = TestIssuer::start().await;
//! let guard = BearerGuard::builder()
//!     .issuer(issuer.issuer()) // introspection endpoint found by discovery
//!     .audience(TestIssuer::DEFAULT_AUDIENCE)
//!     .introspection(Introspection::new(
//!         TestIssuer::INTROSPECTION_CLIENT_ID,
//!         ClientAuth::client_secret_basic(TestIssuer::INTROSPECTION_CLIENT_SECRET),
//!     ))
//!     .build()?;
//! let app = Router::new()
//!     .route("/", get(|s: Scopes| async move { s.iter().collect::<Vec<_>>().join(" ") }))
//!     .route_layer(guard.layer());
//! let call = |token: String| {
//!     let request = Request::get("/").header(header::AUTHORIZATION, format!("Bearer {token}"));
//!     app.clone().oneshot(request.body(Body::empty()).unwrap())
//! };
//!
//! let opaque = issuer.opaque_token().scopes(["notes:read"]).issue();
//! assert_eq!(call(opaque.clone()).await?.status(), StatusCode::OK);
//! assert_eq!(call(opaque).await?.status(), StatusCode::OK);
//! assert_eq!(issuer.introspection_requests(), 1); // the second answer came from the cache
//!
//! let revoked = issuer.opaque_token().issue();
//! issuer.revoke(&revoked);
//! assert_eq!(call(revoked).await?.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```

mod answer;
mod cache;
mod client_auth;
mod introspector;
mod request;

use std::time::Duration;

pub use client_auth::{AssertionAudience, ClientAuth};
pub(crate) use introspector::Introspector;

/// Default lifetime of a cached active answer (it never outlives the token's `exp`): 5 min.
pub const DEFAULT_INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(300);
/// Default lifetime of a cached inactive answer: 30 s.
pub const DEFAULT_INTROSPECTION_NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// Default number of introspection calls in flight at once: 32.
pub const DEFAULT_INTROSPECTION_MAX_IN_FLIGHT: usize = 32;

/// Which tokens are introspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IntrospectionMode {
    /// Only tokens that are not a JWS of a trusted issuer (the default). JWTs are verified
    /// locally, with no call to the authorization server.
    #[default]
    OpaqueOnly,
    /// Every token that is not a JWS of *another* trusted issuer, JWTs of this issuer
    /// included: for APIs that must see a revocation at once (within the cache ttl).
    All,
}

/// RFC 7662 introspection for one trusted issuer: how this API authenticates to the
/// introspection endpoint, where that endpoint is, and how answers are cached.
///
/// ```
/// use std::time::Duration;
/// use bearer_guard::{BearerGuard, ClientAuth, Introspection, IntrospectionMode, Issuer};
///
/// let guard = BearerGuard::builder()
///     .trust(
///         Issuer::new("https://sso.example.com/realms/acme").audience("notes-api").introspection(
///             Introspection::new("notes-api", ClientAuth::client_secret_post("s3cret"))
///                 .mode(IntrospectionMode::All)
///                 .cache_ttl(Duration::from_secs(30)),
///         ),
///     )
///     .build()?;
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Introspection {
    pub(crate) client_id: String,
    pub(crate) auth: ClientAuth,
    pub(crate) endpoint: Option<String>,
    pub(crate) mode: IntrospectionMode,
    pub(crate) ttl: Duration,
    pub(crate) negative_ttl: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) max_wait: Duration,
    pub(crate) capacity: u64,
    pub(crate) require_audience: bool,
    pub(crate) jwt_answers: bool,
    pub(crate) max_answer_bytes: usize,
    pub(crate) retry_after: Duration,
}

impl Introspection {
    /// Introspection as client `client_id`, authenticated with `auth`. The endpoint is the
    /// discovery document's `introspection_endpoint` unless [`endpoint`](Self::endpoint) is set.
    pub fn new(client_id: impl Into<String>, auth: ClientAuth) -> Self {
        Self {
            client_id: client_id.into(),
            auth,
            endpoint: None,
            mode: IntrospectionMode::default(),
            ttl: DEFAULT_INTROSPECTION_CACHE_TTL,
            negative_ttl: DEFAULT_INTROSPECTION_NEGATIVE_TTL,
            max_in_flight: DEFAULT_INTROSPECTION_MAX_IN_FLIGHT,
            max_wait: Duration::from_millis(250),
            capacity: 100_000,
            require_audience: false,
            jwt_answers: false,
            max_answer_bytes: 64 * 1024,
            retry_after: Duration::from_secs(5),
        }
    }

    /// The introspection endpoint, instead of discovering it. HTTPS, or HTTP on loopback.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Which tokens are introspected (default [`IntrospectionMode::OpaqueOnly`]).
    pub fn mode(mut self, mode: IntrospectionMode) -> Self {
        self.mode = mode;
        self
    }

    /// How long an active answer is reused (default 5 min; never past the token's `exp`).
    /// `Duration::ZERO` asks the authorization server on every request.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long an inactive answer is reused (default 30 s), so a flood of one bad token
    /// costs the authorization server one call.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Most introspection calls in flight at once (default 32). A request beyond it waits
    /// up to [`max_wait`](Self::max_wait), then gets `503` + `Retry-After`.
    pub fn max_in_flight(mut self, calls: usize) -> Self {
        self.max_in_flight = calls;
        self
    }

    /// How long a request waits for a free introspection slot (default 250 ms).
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Most cached answers (default 100 000).
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.capacity = entries;
        self
    }

    /// Refuses active answers without `aud` (by default they are accepted; an `aud` that is
    /// present must always contain a configured audience).
    pub fn require_audience(mut self, required: bool) -> Self {
        self.require_audience = required;
        self
    }

    /// Asks for RFC 9701 JWT answers (`Accept: application/token-introspection+jwt`) and
    /// accepts only those, verified with the issuer's keys.
    pub fn jwt_answers(mut self, enabled: bool) -> Self {
        self.jwt_answers = enabled;
        self
    }

    /// Largest accepted answer body in bytes (default 64 KiB); a larger one is a `503`.
    pub fn max_answer_bytes(mut self, bytes: usize) -> Self {
        self.max_answer_bytes = bytes;
        self
    }

    /// The `Retry-After` of a `503` when the endpoint can't answer (default 5 s).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }
}
