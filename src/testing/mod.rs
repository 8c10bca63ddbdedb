//!
//! [`TestIssuer`](crate::testing::TestIssuer) generates signing keys, serves a JWKS and a
//! discovery document on `127.0.0.1`, mints tokens, rotates keys, and can be switched into
//! [`Failure`](crate::testing::Failure) modes for fault-injection tests.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::testing::{Failure, TestIssuer};
//! use bearer_guard::{AccessTokenClaims, BearerGuard, Claims};
//! use http::{Request, StatusCode, header};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = TestIssuer::start().await; // one RS256 key
//! let guard = BearerGuard::builder()
//!     .issuer(issuer.issuer()) // keys found by discovery, as in production
//!     .audience(TestIssuer::DEFAULT_AUDIENCE)
//!     .build()?;
//!
//! async fn me(Claims(c): Claims<AccessTokenClaims>) -> String {
//!     c.sub.unwrap_or_default()
//! }
//! let app = Router::new().route("/me", get(me)).route_layer(guard.layer());
//! let call = |token: String| {
//!     let request = Request::get("/me").header(header::AUTHORIZATION, format!("Bearer {token}"));
//!     app.clone().oneshot(request.body(Body::empty()).unwrap())
//! };
//!
//! let response = call(issuer.token().subject("alice").sign()?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(issuer.jwks_requests(), 1);
//!
//! let response = call(issuer.token().expires_in(-60).sign()?).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//!
//! // The issuer goes down: the cached keys keep working.
//! issuer.set_failure(Failure::Down);
//! let response = call(issuer.token().sign()?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

// Test support, not on the request path: JSON indexing here runs in users' tests only.
#![allow(clippy::indexing_slicing)]

mod introspection;
mod keys;
mod server;
#[cfg(test)]
mod tests;
mod tokens;

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jsonwebtoken::Algorithm;
use serde_json::Value;
use tokio::net::TcpListener;

pub use self::introspection::OpaqueTokenBuilder;
use self::keys::{TestKey, jwks_document};
pub use self::server::Failure;
pub use self::tokens::TokenBuilder;

mod dpop;
pub use self::dpop::{DpopKey, ProofBuilder};

/// A test identity provider: signing keys, a JWKS and a discovery document served on
/// `127.0.0.1` with an ephemeral port, and a token minter.
///
/// - JWKS: [`jwks_uri`](Self::jwks_uri) (`<issuer>/jwks.json`).
/// - Discovery: `<issuer>/.well-known/openid-configuration` and (same document)
///   `<issuer>/.well-known/oauth-authorization-server`, with `issuer` and `jwks_uri`.
/// - Tokens: [`token`](Self::token) gives a [`TokenBuilder`] whose defaults make a valid RFC 9068
///   access token for [`DEFAULT_AUDIENCE`](Self::DEFAULT_AUDIENCE).
///
/// Keys: RSA 2048 for RS256/384/512 and PS256/384/512, P-256 for ES256, P-384 for ES384 and
/// Ed25519 for EdDSA; each key's JWK carries its `kid`, `use: sig` and `alg`. HMAC algorithms
/// are not served: HS keys never come from a JWKS.
///
/// The server lives until the `TestIssuer` is dropped; it needs a Tokio runtime (any flavor).
///
/// RSA key generation is slow in unoptimised builds (seconds per key). Add this to your
/// `Cargo.toml` to make it take a fraction of a second in `cargo test`:
///
/// ```toml
/// [profile.dev.package.num-bigint-dig]
/// opt-level = 3
///
/// [profile.dev.package.rsa]
/// opt-level = 3
/// ```
pub struct TestIssuer {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

/// Why a [`TestIssuer`] operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestIssuerError {
    /// The server could not bind a port on `127.0.0.1`.
    #[error("test issuer could not listen on 127.0.0.1")]
    Bind(#[source] io::Error),
    /// The algorithm is not one a JWKS key can have (HS256/384/512).
    #[error("test issuer does not make {0:?} keys")]
    UnsupportedAlgorithm(Algorithm),
    /// No key of this algorithm is published.
    #[error("test issuer has no {0:?} key")]
    NoKey(Algorithm),
    /// No key is published at all.
    #[error("test issuer has no keys")]
    NoKeys,
    /// Generating or encoding a key failed.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    /// jsonwebtoken refused to sign.
    #[error("signing failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// State shared by the [`TestIssuer`], its server and its token builders.
struct Shared {
    issuer: String,
    state: Mutex<IssuerState>,
    down: AtomicBool,
    closed: AtomicBool,
    jwks_requests: AtomicUsize,
    discovery_requests: AtomicUsize,
    introspection: introspection::IntrospectionState,
}

struct IssuerState {
    keys: Vec<Arc<TestKey>>,
    /// Keys of the same algorithms that are never published, for bad-signature tokens.
    unpublished: Vec<Arc<TestKey>>,
    cache_control: Option<String>,
    failure: Failure,
    discovery: Option<Value>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, IssuerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refuses_connections(&self) -> bool {
        self.down.load(Ordering::Acquire) || self.closed.load(Ordering::Acquire)
    }

    fn jwks_uri(&self) -> String {
        format!("{}/jwks.json", self.issuer)
    }
}

impl TestIssuer {
    /// The audience of tokens minted with the defaults.
    pub const DEFAULT_AUDIENCE: &'static str = "https://api.example.test";
    /// The `sub` of tokens minted with the defaults.
    pub const DEFAULT_SUBJECT: &'static str = "test-user";
    /// The `client_id` of tokens minted with the defaults.
    pub const DEFAULT_CLIENT_ID: &'static str = "test-client";
    /// Lifetime in seconds of tokens minted with the defaults (`exp` = `iat` + this).
    pub const DEFAULT_LIFETIME_SECS: i64 = 600;

    /// Starts an issuer with one RS256 key.
    ///
    /// # Panics
    ///
    /// When no port can be bound on `127.0.0.1` or key generation fails; use
    /// [`try_start_with`](Self::try_start_with) to get an error instead.
    pub async fn start() -> Self {
        Self::start_with(&[Algorithm::RS256]).await
    }

    /// Starts an issuer with one key per algorithm, in this order (the first is the default
    /// signing key).
    ///
    /// # Panics
    ///
    /// When no port can be bound on `127.0.0.1`, an algorithm is HS256/384/512 or key
    /// generation fails; use [`try_start_with`](Self::try_start_with) to get an error instead.
    #[allow(clippy::panic)]
    pub async fn start_with(algorithms: &[Algorithm]) -> Self {
        match Self::try_start_with(algorithms).await {
            Ok(issuer) => issuer,
            Err(error) => panic!("TestIssuer failed to start: {error}"),
        }
    }

    /// Starts an issuer with one key per algorithm, in this order; errors instead of panicking.
    pub async fn try_start_with(algorithms: &[Algorithm]) -> Result<Self, TestIssuerError> {
        let keys = algorithms.iter().map(|alg| TestKey::generate(*alg).map(Arc::new)).collect::<Result<_, _>>()?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(TestIssuerError::Bind)?;
        let address = listener.local_addr().map_err(TestIssuerError::Bind)?;
        let shared = Arc::new(Shared {
            issuer: format!("http://{address}"),
            state: Mutex::new(IssuerState {
                keys,
                unpublished: Vec::new(),
                cache_control: None,
                failure: Failure::None,
                discovery: None,
            }),
            down: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            jwks_requests: AtomicUsize::new(0),
            introspection: introspection::IntrospectionState::default(),
            discovery_requests: AtomicUsize::new(0),
        });
        let server = server::spawn(listener, Arc::clone(&shared));
        Ok(Self { shared, server })
    }

    /// The issuer URL, `http://127.0.0.1:<port>` (no trailing slash): the `iss` of minted tokens.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The JWKS URL, `<issuer>/jwks.json`.
    pub fn jwks_uri(&self) -> String {
        self.shared.jwks_uri()
    }

    /// The OpenID Connect discovery URL, `<issuer>/.well-known/openid-configuration`.
    pub fn discovery_uri(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.shared.issuer)
    }

    /// A token with the defaults, to adjust and [`sign`](TokenBuilder::sign): `iss` this
    /// issuer, `sub` [`DEFAULT_SUBJECT`](Self::DEFAULT_SUBJECT), `aud`
    /// [`DEFAULT_AUDIENCE`](Self::DEFAULT_AUDIENCE), `client_id`
    /// [`DEFAULT_CLIENT_ID`](Self::DEFAULT_CLIENT_ID), `iat` now, `exp` now +
    /// [`DEFAULT_LIFETIME_SECS`](Self::DEFAULT_LIFETIME_SECS), a random `jti`; header `typ`
    /// `at+jwt`, and the `alg` and `kid` of the first published key.
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(Arc::clone(&self.shared))
    }

    /// The `kid`s of the published keys, in order (the first is the default signing key).
    pub fn kids(&self) -> Vec<String> {
        self.shared.state().keys.iter().map(|k| k.kid.clone()).collect()
    }

    /// The JWK Set as served (public keys only).
    pub fn jwks(&self) -> Value {
        jwks_document(&self.shared.state().keys)
    }

    /// Replaces every key with a fresh one of the same algorithm (new key material, new `kid`);
    /// returns the new first `kid`.
    pub fn rotate(&self) -> Result<String, TestIssuerError> {
        let algorithms: Vec<Algorithm> = self.shared.state().keys.iter().map(|k| k.alg).collect();
        if algorithms.is_empty() {
            return Err(TestIssuerError::NoKeys);
        }
        // Generated without the lock: RSA takes a while and the server must keep answering.
        let fresh: Vec<Arc<TestKey>> =
            algorithms.into_iter().map(|alg| TestKey::generate(alg).map(Arc::new)).collect::<Result<_, _>>()?;
        let first = fresh.first().map(|k| k.kid.clone()).ok_or(TestIssuerError::NoKeys)?;
        self.shared.state().keys = fresh;
        Ok(first)
    }

    /// Publishes one more key (after the existing ones); returns its `kid`.
    pub fn add_key(&self, alg: Algorithm) -> Result<String, TestIssuerError> {
        let key = Arc::new(TestKey::generate(alg)?);
        let kid = key.kid.clone();
        self.shared.state().keys.push(key);
        Ok(kid)
    }

    /// Stops publishing the key with this `kid`; `false` if there was none.
    pub fn remove_key(&self, kid: &str) -> bool {
        let mut state = self.shared.state();
        let before = state.keys.len();
        state.keys.retain(|k| k.kid != kid);
        state.keys.len() != before
    }

    /// The `Cache-Control` header of successful JWKS answers (`None`, the default, sends none).
    pub fn set_cache_control(&self, value: Option<String>) {
        self.shared.state().cache_control = value;
    }

    /// Makes the JWKS and discovery endpoints misbehave, until set back to [`Failure::None`].
    pub fn set_failure(&self, failure: Failure) {
        let mut state = self.shared.state();
        self.shared.down.store(failure == Failure::Down, Ordering::Release);
        state.failure = failure;
    }

    /// Serves this JSON as the discovery document instead of the generated one (for example
    /// with another `issuer`); `None` goes back to the generated one.
    pub fn set_discovery_document(&self, document: Option<Value>) {
        self.shared.state().discovery = document;
    }

    /// JWKS requests answered so far (including deliberate failures, excluding
    /// [`Failure::Down`]).
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::Acquire)
    }

    /// Discovery requests (either well-known path) answered so far (including deliberate
    /// failures, excluding [`Failure::Down`]).
    pub fn discovery_requests(&self) -> usize {
        self.shared.discovery_requests.load(Ordering::Acquire)
    }
}

impl fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state();
        f.debug_struct("TestIssuer")
            .field("issuer", &self.shared.issuer)
            .field("keys", &state.keys)
            .field("failure", &state.failure)
            .finish_non_exhaustive()
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        // Open connections close on their next read; the listener goes with the server task.
        self.shared.closed.store(true, Ordering::Release);
        self.server.abort();
    }
}
