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

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey};
use rand::RngCore;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

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

/// How the JWKS and discovery endpoints misbehave; set with [`TestIssuer::set_failure`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Failure {
    /// Serve normally.
    #[default]
    None,
    /// Close every connection without answering, as a crashed server would: new connections
    /// are closed once accepted, open keep-alive connections on their next request. Requests
    /// refused this way are not counted.
    Down,
    /// Answer with this status code (and a small JSON error body). Codes outside
    /// `100..=999` become `500`.
    Status(u16),
    /// Answer `200` with an HTML page, as a login page or captive portal would.
    Html,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Answer `200` with the normal document padded with whitespace to this many bytes, with a
    /// `Content-Length`.
    OversizedBody(usize),
    /// As [`OversizedBody`](Self::OversizedBody), but chunked: no `Content-Length`, so only
    /// counting the received bytes can catch it.
    OversizedChunkedBody(usize),
    /// Answer `302 Found` with this `Location`.
    Redirect(String),
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
            discovery_requests: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/jwks.json", get(serve_jwks))
            .route("/.well-known/openid-configuration", get(serve_discovery))
            .route("/.well-known/oauth-authorization-server", get(serve_discovery))
            .with_state(Arc::clone(&shared));
        let listener = FaultyListener { inner: listener, shared: Arc::clone(&shared) };
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
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
        let now = now_secs();
        let mut claims = Map::new();
        claims.insert("iss".to_owned(), json!(self.shared.issuer));
        claims.insert("sub".to_owned(), json!(Self::DEFAULT_SUBJECT));
        claims.insert("aud".to_owned(), json!(Self::DEFAULT_AUDIENCE));
        claims.insert("client_id".to_owned(), json!(Self::DEFAULT_CLIENT_ID));
        claims.insert("iat".to_owned(), json!(now));
        claims.insert("exp".to_owned(), json!(now + Self::DEFAULT_LIFETIME_SECS));
        claims.insert("jti".to_owned(), json!(random_id(16)));
        let mut header = Map::new();
        header.insert("typ".to_owned(), json!("at+jwt"));
        TokenBuilder {
            shared: Arc::clone(&self.shared),
            alg: None,
            header,
            removed_header: BTreeSet::new(),
            claims,
            unpublished_key: false,
        }
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

/// A token being minted by a [`TestIssuer`]; finish with [`sign`](Self::sign).
///
/// ```
/// # use bearer_guard::{Algorithm, testing::TestIssuer};
/// # use serde_json::json;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = TestIssuer::start_with(&[Algorithm::ES256, Algorithm::EdDSA]).await;
/// let token = issuer
///     .token()
///     .alg(Algorithm::EdDSA)
///     .subject("alice")
///     .scopes(["notes:read", "notes:write"])
///     .claim("tenant", "t1")
///     .claim("roles", json!(["admin"]))
///     .expires_in(60)
///     .sign()?;
/// assert_eq!(token.split('.').count(), 3);
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct TokenBuilder {
    shared: Arc<Shared>,
    alg: Option<Algorithm>,
    header: Map<String, Value>,
    removed_header: BTreeSet<String>,
    claims: Map<String, Value>,
    unpublished_key: bool,
}

impl TokenBuilder {
    /// Sets `aud` to one audience.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.claim("aud", Value::String(audience.into()))
    }

    /// Sets `aud` to a list of audiences.
    pub fn audiences<I, A>(self, audiences: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        self.claim("aud", Value::Array(audiences.into_iter().map(|a| Value::String(a.into())).collect()))
    }

    /// Sets `sub`.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.claim("sub", Value::String(subject.into()))
    }

    /// Sets `iss` (default: this issuer).
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.claim("iss", Value::String(issuer.into()))
    }

    /// Sets `scope` to these scopes, space-separated (RFC 9068).
    pub fn scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.claim("scope", Value::String(scopes.join(" ")))
    }

    /// Sets any claim, replacing a default.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Leaves a claim out, a default one included (`exp`, `iat`, `jti`, …).
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `exp` to now plus `secs`; negative means already expired.
    pub fn expires_in(self, secs: i64) -> Self {
        self.claim("exp", json!(now_secs().saturating_add(secs)))
    }

    /// Sets `nbf` to now plus `secs`; positive means not valid yet.
    pub fn not_before_in(self, secs: i64) -> Self {
        self.claim("nbf", json!(now_secs().saturating_add(secs)))
    }

    /// Signs with the first published key of this algorithm (default: the first key).
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = Some(alg);
        self
    }

    /// Sets the header `kid` (default: the signing key's); the signing key does not change.
    pub fn kid(self, kid: impl Into<String>) -> Self {
        self.header("kid", Value::String(kid.into()))
    }

    /// Sets any header parameter, `alg` and `kid` included: the token is still signed with the
    /// chosen key's algorithm, whatever the header says.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        self.removed_header.remove(&name);
        self.header.insert(name, value.into());
        self
    }

    /// Leaves a header parameter out, `kid`, `typ` and `alg` included.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self.removed_header.insert(name.to_owned());
        self
    }

    /// Signs with a key of the same algorithm that is never published, keeping the published
    /// key's `kid` in the header: the signature does not verify.
    pub fn unpublished_key(mut self) -> Self {
        self.unpublished_key = true;
        self
    }

    /// The signed compact JWT.
    pub fn sign(self) -> Result<String, TestIssuerError> {
        let published = {
            let state = self.shared.state();
            let key = match self.alg {
                Some(alg) => state.keys.iter().find(|k| k.alg == alg).ok_or(TestIssuerError::NoKey(alg))?,
                None => state.keys.first().ok_or(TestIssuerError::NoKeys)?,
            };
            Arc::clone(key)
        };
        let signing =
            if self.unpublished_key { self.shared.unpublished_key(published.alg)? } else { published.clone() };

        let mut header = Map::new();
        header.insert("alg".to_owned(), json!(alg_name(published.alg)));
        header.insert("kid".to_owned(), json!(published.kid));
        header.extend(self.header);
        header.retain(|name, _| !self.removed_header.contains(name));

        let header = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
        let claims = URL_SAFE_NO_PAD.encode(Value::Object(self.claims).to_string());
        let message = format!("{header}.{claims}");
        install_crypto_provider();
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &signing.encoding, signing.alg)
            .map_err(TestIssuerError::Signing)?;
        Ok(format!("{message}.{signature}"))
    }
}

impl fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("alg", &self.alg)
            .field("header", &self.header)
            .field("removed_header", &self.removed_header)
            .field("claims", &self.claims)
            .field("unpublished_key", &self.unpublished_key)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The never-published key of this algorithm, made on first use.
    fn unpublished_key(&self, alg: Algorithm) -> Result<Arc<TestKey>, TestIssuerError> {
        if let Some(key) = self.state().unpublished.iter().find(|k| k.alg == alg) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(TestKey::generate(alg)?);
        let mut state = self.state();
        if let Some(raced) = state.unpublished.iter().find(|k| k.alg == alg) {
            return Ok(Arc::clone(raced));
        }
        state.unpublished.push(Arc::clone(&key));
        Ok(key)
    }
}

/// With both backend features on, jsonwebtoken can't pick one by itself: use aws-lc-rs, as
/// the guard does.
fn install_crypto_provider() {
    #[cfg(all(feature = "aws-lc-rs", feature = "rust-crypto"))]
    {
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
    }
}

/// One signing key and its public JWK.
struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

impl TestKey {
    fn generate(alg: Algorithm) -> Result<Self, TestIssuerError> {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        use p256::pkcs8::EncodePrivateKey as _;
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::traits::PublicKeyParts as _;

        let failed = |e: &dyn fmt::Display| TestIssuerError::KeyGeneration(e.to_string());
        let mut rng = rand::thread_rng();
        let (encoding, mut jwk) = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| failed(&e))?;
                let der = key.to_pkcs1_der().map_err(|e| failed(&e))?;
                let jwk = json!({
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                    "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
                });
                (EncodingKey::from_rsa_der(der.as_bytes()), jwk)
            }
            Algorithm::ES256 => {
                let key = p256::SecretKey::random(&mut rng);
                let der = key.to_pkcs8_der().map_err(|e| failed(&e))?;
                let point = key.public_key().to_encoded_point(false);
                (
                    EncodingKey::from_ec_der(der.as_bytes()),
                    ec_jwk("P-256", point.x().map(|x| &x[..]), point.y().map(|y| &y[..]))?,
                )
            }
            Algorithm::ES384 => {
                let key = p384::SecretKey::random(&mut rng);
                let der = key.to_pkcs8_der().map_err(|e| failed(&e))?;
                let point = key.public_key().to_encoded_point(false);
                (
                    EncodingKey::from_ec_der(der.as_bytes()),
                    ec_jwk("P-384", point.x().map(|x| &x[..]), point.y().map(|y| &y[..]))?,
                )
            }
            Algorithm::EdDSA => {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                let der = key.to_pkcs8_der().map_err(|e| failed(&e))?;
                let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
                (EncodingKey::from_ed_der(der.as_bytes()), json!({"kty": "OKP", "crv": "Ed25519", "x": x}))
            }
            // HMAC keys never come from a JWKS; anything newer is not made here either.
            _ => return Err(TestIssuerError::UnsupportedAlgorithm(alg)),
        };
        let kid = format!("{}-{}", alg_name(alg).to_ascii_lowercase(), random_id(6));
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(alg_name(alg));
        Ok(Self { kid, alg, encoding, jwk })
    }
}

fn ec_jwk(crv: &str, x: Option<&[u8]>, y: Option<&[u8]>) -> Result<Value, TestIssuerError> {
    let (x, y) = x.zip(y).ok_or_else(|| TestIssuerError::KeyGeneration("EC point is not uncompressed".to_owned()))?;
    Ok(json!({"kty": "EC", "crv": crv, "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)}))
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        // Never reached: keys are only made for the algorithms above.
        _ => "unknown",
    }
}

fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn jwks_document(keys: &[Arc<TestKey>]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

async fn serve_jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::AcqRel);
    let (document, cache_control, failure) = {
        let state = shared.state();
        (jwks_document(&state.keys), state.cache_control.clone(), state.failure.clone())
    };
    answer(document, cache_control, failure).await
}

async fn serve_discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_requests.fetch_add(1, Ordering::AcqRel);
    let (document, failure) = {
        let state = shared.state();
        let document = state.discovery.clone().unwrap_or_else(|| {
            let mut algs: Vec<&str> = Vec::new();
            for key in &state.keys {
                if !algs.contains(&alg_name(key.alg)) {
                    algs.push(alg_name(key.alg));
                }
            }
            json!({
                "issuer": shared.issuer,
                "jwks_uri": shared.jwks_uri(),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": algs,
            })
        });
        (document, state.failure.clone())
    };
    answer(document, None, failure).await
}

/// The answer of an endpoint whose normal body is `document`, under `failure`.
async fn answer(document: Value, cache_control: Option<String>, failure: Failure) -> Response {
    let body = document.to_string();
    let ok = |body: Body| {
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(value) = cache_control.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(header::CACHE_CONTROL, value);
        }
        response
    };
    match failure {
        // `Down` is handled on the connection; a request read just before the switch is served.
        Failure::None | Failure::Down => ok(Body::from(body)),
        Failure::Slow(delay) => {
            tokio::time::sleep(delay).await;
            ok(Body::from(body))
        }
        Failure::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(json!({"error": "test_failure"}))).into_response()
        }
        Failure::Html => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html><head><title>Sign in</title></head><body>Please sign in.</body></html>",
        )
            .into_response(),
        Failure::OversizedBody(bytes) => ok(Body::from(padded(body, bytes))),
        Failure::OversizedChunkedBody(bytes) => {
            let padded = Bytes::from(padded(body, bytes));
            let chunks: Vec<Result<Bytes, Infallible>> = (0..padded.len())
                .step_by(16 * 1024)
                .map(|at| Ok(padded.slice(at..padded.len().min(at + 16 * 1024))))
                .collect();
            ok(Body::from_stream(futures_util::stream::iter(chunks)))
        }
        Failure::Redirect(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
    }
}

/// `body` followed by spaces up to `len` bytes (JSON allows trailing whitespace).
fn padded(body: String, len: usize) -> String {
    let mut body = body;
    let missing = len.saturating_sub(body.len());
    body.extend(std::iter::repeat_n(' ', missing));
    body
}

/// A TCP listener whose connections close while the issuer is [`Failure::Down`] or dropped.
struct FaultyListener {
    inner: TcpListener,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for FaultyListener {
    type Io = FaultyStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, _)) if self.shared.refuses_connections() => drop(stream),
                Ok((stream, address)) => {
                    return (FaultyStream { inner: stream, shared: Arc::clone(&self.shared) }, address);
                }
                // Out of file descriptors and the like: wait a little, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that reads end-of-stream once the issuer is down, so the server closes it.
struct FaultyStream {
    inner: TcpStream,
    shared: Arc<Shared>,
}

impl AsyncRead for FaultyStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.shared.refuses_connections() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultyStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthError, BearerGuard, InvalidToken};

    const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    fn guard(issuer: &TestIssuer) -> BearerGuard {
        BearerGuard::builder()
            .issuer(issuer.issuer())
            .audience(TestIssuer::DEFAULT_AUDIENCE)
            .jwks_uri(issuer.jwks_uri())
            .build()
            .unwrap()
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }

    fn part(token: &str, index: usize) -> Value {
        let part = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    async fn get_json(url: &str) -> Value {
        let response = client().get(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        response.json().await.unwrap()
    }

    #[tokio::test]
    async fn serves_discovery_and_a_public_jwks_of_its_keys() {
        let issuer =
            TestIssuer::start_with(&[Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA]).await;
        assert!(issuer.issuer().starts_with("http://127.0.0.1:"));
        assert_eq!(issuer.jwks_uri(), format!("{}/jwks.json", issuer.issuer()));

        let discovery = get_json(&issuer.discovery_uri()).await;
        assert_eq!(discovery["issuer"], issuer.issuer());
        assert_eq!(discovery["jwks_uri"], issuer.jwks_uri());
        assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["PS256", "ES256", "ES384", "EdDSA"]));
        let rfc8414 = get_json(&format!("{}/.well-known/oauth-authorization-server", issuer.issuer())).await;
        assert_eq!(rfc8414, discovery);
        assert_eq!(issuer.discovery_requests(), 2);

        let jwks = get_json(&issuer.jwks_uri()).await;
        assert_eq!(jwks, issuer.jwks());
        assert_eq!(issuer.jwks_requests(), 1);
        let keys = jwks["keys"].as_array().unwrap();
        let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids, issuer.kids());
        let shape: Vec<(&str, &str, &str)> = keys
            .iter()
            .map(|k| (k["kty"].as_str().unwrap(), k["alg"].as_str().unwrap(), k["use"].as_str().unwrap()))
            .collect();
        assert_eq!(
            shape,
            [("RSA", "PS256", "sig"), ("EC", "ES256", "sig"), ("EC", "ES384", "sig"), ("OKP", "EdDSA", "sig")]
        );
        assert_eq!(
            (keys[1]["crv"].as_str(), keys[2]["crv"].as_str(), keys[3]["crv"].as_str()),
            (Some("P-256"), Some("P-384"), Some("Ed25519"))
        );
        for key in keys {
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.get(private).is_none(), "{key} leaks {private}");
            }
        }
        assert_eq!(URL_SAFE_NO_PAD.decode(keys[0]["n"].as_str().unwrap()).unwrap().len(), 256);
    }

    #[tokio::test]
    async fn tokens_of_every_algorithm_verify_against_the_served_jwks() {
        let issuer = TestIssuer::start_with(&ALL).await;
        let guard = guard(&issuer);
        for (alg, kid) in ALL.into_iter().zip(issuer.kids()) {
            let token = issuer.token().alg(alg).subject(format!("user-{alg:?}")).sign().unwrap();
            assert_eq!(part(&token, 0)["alg"], alg_name(alg));
            let verified = guard.verify(&token).await.unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(verified.subject(), Some(format!("user-{alg:?}").as_str()));
            assert_eq!(verified.key_id(), Some(kid.as_str()));
        }
        assert_eq!(issuer.jwks_requests(), 1);
    }

    #[tokio::test]
    async fn default_token_is_a_valid_rfc9068_access_token() {
        let issuer = TestIssuer::start().await;
        let token = issuer.token().sign().unwrap();
        let header = part(&token, 0);
        assert_eq!(header, json!({"alg": "RS256", "kid": issuer.kids()[0], "typ": "at+jwt"}));
        let claims = part(&token, 1);
        assert_eq!(claims["iss"], issuer.issuer());
        assert_eq!(claims["sub"], TestIssuer::DEFAULT_SUBJECT);
        assert_eq!(claims["aud"], TestIssuer::DEFAULT_AUDIENCE);
        assert_eq!(claims["client_id"], TestIssuer::DEFAULT_CLIENT_ID);
        let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
        assert!((iat - now_secs()).abs() <= 2);
        assert_eq!(exp - iat, TestIssuer::DEFAULT_LIFETIME_SECS);
        assert_ne!(claims["jti"], part(&issuer.token().sign().unwrap(), 1)["jti"], "jti is random");

        let strict = BearerGuard::builder()
            .issuer(issuer.issuer())
            .audience(TestIssuer::DEFAULT_AUDIENCE)
            .strict_rfc9068(true)
            .build()
            .unwrap();
        assert!(strict.verify(&token).await.is_ok(), "found by discovery, accepted in strict mode");
        assert_eq!(issuer.discovery_requests(), 1);
    }

    #[tokio::test]
    async fn builder_sets_and_removes_claims_and_header_parameters() {
        let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
        let token = issuer
            .token()
            .audiences(["a", "b"])
            .scopes(["notes:read", "notes:write"])
            .claim("tenant", json!({"id": 7}))
            .remove_claim("jti")
            .issuer("https://elsewhere.test")
            .not_before_in(60)
            .expires_in(-5)
            .kid("other-kid")
            .header("crit", json!(["exp"]))
            .remove_header("typ")
            .sign()
            .unwrap();
        let header = part(&token, 0);
        assert_eq!(header, json!({"alg": "ES256", "kid": "other-kid", "crit": ["exp"]}));
        let claims = part(&token, 1);
        assert_eq!(claims["aud"], json!(["a", "b"]));
        assert_eq!(claims["scope"], "notes:read notes:write");
        assert_eq!(claims["tenant"], json!({"id": 7}));
        assert_eq!(claims["iss"], "https://elsewhere.test");
        assert!(claims.get("jti").is_none());
        assert!((claims["nbf"].as_i64().unwrap() - now_secs() - 60).abs() <= 2);
        assert!((claims["exp"].as_i64().unwrap() - now_secs() + 5).abs() <= 2);

        // The header `alg` can lie; the signature is still made with the key's algorithm.
        let token = issuer.token().header("alg", json!("HS256")).sign().unwrap();
        assert_eq!(part(&token, 0)["alg"], "HS256");
        let token = issuer.token().remove_header("kid").remove_header("typ").sign().unwrap();
        assert_eq!(part(&token, 0), json!({"alg": "ES256"}));
        assert!(guard(&issuer).verify(&token).await.is_ok(), "the only key is used without a kid");
    }

    #[tokio::test]
    async fn unpublished_key_gives_a_bad_signature_under_the_published_kid() {
        let issuer = TestIssuer::start_with(&[Algorithm::ES384, Algorithm::EdDSA]).await;
        let guard = guard(&issuer);
        for alg in [Algorithm::ES384, Algorithm::EdDSA] {
            let good = issuer.token().alg(alg).sign().unwrap();
            let forged = issuer.token().alg(alg).unpublished_key().sign().unwrap();
            assert_eq!(part(&forged, 0)["kid"], part(&good, 0)["kid"]);
            assert!(guard.verify(&good).await.is_ok());
            assert_eq!(guard.verify(&forged).await.unwrap_err(), AuthError::InvalidToken(InvalidToken::BadSignature));
        }
        assert!(!issuer.jwks().to_string().contains(&issuer.shared.state().unpublished[0].kid));
    }

    #[tokio::test]
    async fn rotate_add_and_remove_change_the_published_keys() {
        let issuer = TestIssuer::start_with(&[Algorithm::EdDSA, Algorithm::ES256]).await;
        let before = issuer.kids();
        let old_token = issuer.token().sign().unwrap();
        let first = issuer.rotate().unwrap();
        let after = issuer.kids();
        assert_eq!(after.len(), 2);
        assert_eq!(after[0], first);
        assert!(after.iter().all(|k| !before.contains(k)), "{before:?} -> {after:?}");
        let jwks = issuer.jwks();
        let algs: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap()).collect();
        assert_eq!(algs, ["EdDSA", "ES256"]);
        let guard = guard(&issuer);
        assert_eq!(guard.verify(&old_token).await.unwrap_err(), AuthError::InvalidToken(InvalidToken::UnknownKey));
        assert!(guard.verify(&issuer.token().sign().unwrap()).await.is_ok());

        let added = issuer.add_key(Algorithm::ES384).unwrap();
        assert_eq!(issuer.kids().last(), Some(&added));
        assert!(issuer.remove_key(&first));
        assert!(!issuer.remove_key(&first));
        assert_eq!(issuer.kids(), [after[1].clone(), added]);
    }

    #[tokio::test]
    async fn unsupported_or_missing_keys_are_errors() {
        assert!(matches!(
            TestIssuer::try_start_with(&[Algorithm::HS256]).await,
            Err(TestIssuerError::UnsupportedAlgorithm(Algorithm::HS256))
        ));
        let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
        assert!(matches!(issuer.add_key(Algorithm::HS512), Err(TestIssuerError::UnsupportedAlgorithm(_))));
        assert!(matches!(issuer.token().alg(Algorithm::ES256).sign(), Err(TestIssuerError::NoKey(Algorithm::ES256))));
        assert!(issuer.remove_key(&issuer.kids()[0]));
        assert!(matches!(issuer.token().sign(), Err(TestIssuerError::NoKeys)));
        assert!(matches!(issuer.rotate(), Err(TestIssuerError::NoKeys)));
        assert_eq!(issuer.jwks(), json!({"keys": []}));
    }

    #[tokio::test]
    async fn cache_control_and_discovery_document_can_be_set() {
        let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
        let response = client().get(issuer.jwks_uri()).send().await.unwrap();
        assert!(response.headers().get(header::CACHE_CONTROL).is_none());
        issuer.set_cache_control(Some("public, max-age=120".to_owned()));
        let response = client().get(issuer.jwks_uri()).send().await.unwrap();
        assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=120");

        issuer.set_discovery_document(Some(
            json!({"issuer": "https://someone-else.test", "jwks_uri": issuer.jwks_uri()}),
        ));
        assert_eq!(get_json(&issuer.discovery_uri()).await["issuer"], "https://someone-else.test");
        issuer.set_discovery_document(None);
        assert_eq!(get_json(&issuer.discovery_uri()).await["issuer"], issuer.issuer());
    }

    #[tokio::test]
    async fn failures_apply_to_jwks_and_discovery() {
        let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
        let client = client();
        for url in [issuer.jwks_uri(), issuer.discovery_uri()] {
            issuer.set_failure(Failure::Status(503));
            assert_eq!(client.get(&url).send().await.unwrap().status(), 503);

            issuer.set_failure(Failure::Status(42));
            assert_eq!(client.get(&url).send().await.unwrap().status(), 500);

            issuer.set_failure(Failure::Html);
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert!(response.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));

            issuer.set_failure(Failure::Redirect("https://login.example.test/".to_owned()));
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 302);
            assert_eq!(response.headers()[header::LOCATION], "https://login.example.test/");

            issuer.set_failure(Failure::OversizedBody(600_000));
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.content_length(), Some(600_000));
            let body = response.bytes().await.unwrap();
            assert_eq!(body.len(), 600_000);
            assert!(serde_json::from_slice::<Value>(&body).is_ok(), "still valid JSON");

            issuer.set_failure(Failure::OversizedChunkedBody(600_000));
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.headers().get(header::CONTENT_LENGTH), None);
            assert_eq!(response.headers()[header::TRANSFER_ENCODING], "chunked");
            assert_eq!(response.bytes().await.unwrap().len(), 600_000);

            issuer.set_failure(Failure::Slow(Duration::from_millis(300)));
            let started = std::time::Instant::now();
            assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
            assert!(started.elapsed() >= Duration::from_millis(300));
            let timeout = client.get(&url).timeout(Duration::from_millis(50)).send().await;
            assert!(timeout.unwrap_err().is_timeout());

            issuer.set_failure(Failure::None);
            assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
        }
        assert_eq!((issuer.jwks_requests(), issuer.discovery_requests()), (9, 9));
    }

    #[tokio::test]
    async fn down_closes_new_and_kept_alive_connections_until_it_is_back() {
        let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
        let pooled = client();
        assert_eq!(pooled.get(issuer.jwks_uri()).send().await.unwrap().status(), 200);

        issuer.set_failure(Failure::Down);
        let error = pooled.get(issuer.jwks_uri()).send().await.unwrap_err();
        assert!(error.is_request() || error.is_connect(), "{error:?}");
        let error = client().get(issuer.discovery_uri()).send().await.unwrap_err();
        assert!(error.is_request() || error.is_connect(), "{error:?}");
        assert_eq!((issuer.jwks_requests(), issuer.discovery_requests()), (1, 0));

        issuer.set_failure(Failure::None);
        assert_eq!(pooled.get(issuer.jwks_uri()).send().await.unwrap().status(), 200);
        assert_eq!(issuer.jwks_requests(), 2);
    }

    #[tokio::test]
    async fn dropping_the_issuer_stops_its_server() {
        let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
        let url = issuer.jwks_uri();
        let pooled = client();
        assert_eq!(pooled.get(&url).send().await.unwrap().status(), 200);
        drop(issuer);
        tokio::task::yield_now().await;
        assert!(pooled.get(&url).send().await.is_err(), "kept-alive connection is closed");
        assert!(client().get(&url).send().await.is_err(), "listener is closed");
    }

    #[tokio::test]
    async fn debug_never_prints_key_material() {
        let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
        let debug = format!("{issuer:?} {:?}", issuer.token());
        assert!(debug.contains(&issuer.kids()[0]));
        assert!(!debug.contains("EncodingKey") && !debug.contains("content"), "{debug}");
    }
}
