//! Revocation: a denylist of tokens, subjects and sessions, checked on every request after the
//! token is verified (verified-token cache hits included), and OpenID Connect Back-Channel
//! Logout 1.0 to fill it from the identity provider.
//!
//! - `(iss, jti)`: one token, until its `exp`;
//! - `(iss, sub)` before an instant: every token of a subject issued before it ("log out
//!   everywhere"); `(iss, sid)` the same for an OpenID session.
//!
//! A revoked token gets `401 invalid_token`, `error_description="token has been revoked"`.
//! The check is a lookup in a local copy: no I/O per request. With a [`SharedStore`] (Redis),
//! revocations made on one replica reach the others' copies through the store's feed.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::{BearerGuard, StaticKey, revocation::RevocationConfig};
//! use http::{Request, StatusCode};
//! use std::time::{Duration, SystemTime};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let issuer = bearer_guard::testing::TestIssuer::start().await;
//! let guard = BearerGuard::builder()
//!     .issuer(issuer.issuer())
//!     .audience("my-api")
//!     .jwks_uri(issuer.jwks_uri())
//!     .revocation(RevocationConfig::new())
//!     .build()?;
//! let app = Router::new().route("/", get(|| async { "hi" })).route_layer(guard.layer());
//! let token = issuer.token().audience("my-api").claim("jti", "t-1").sign()?;
//! let call = || Request::get("/").header("authorization", format!("Bearer {token}")).body(Body::empty());
//! assert_eq!(app.clone().oneshot(call()?).await?.status(), StatusCode::OK);
//!
//! let revocations = guard.revocations().expect("configured above");
//! revocations.revoke_token(issuer.issuer(), "t-1", SystemTime::now() + Duration::from_secs(3600)).await?;
//! let refused = app.oneshot(call()?).await?;
//! assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
//! assert!(refused.headers()["www-authenticate"].to_str()?.contains("token has been revoked"));
//! # Ok(())
//! # }
//! ```

mod backchannel;
mod denylist;
pub(crate) mod entry;
mod sync;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::clock::now_secs;
use crate::error::{AuthError, InvalidToken, Unavailable};
use crate::store::{MemoryStore, SharedStore, StoreError};
use crate::verified::VerifiedToken;

pub use backchannel::{BACKCHANNEL_LOGOUT_EVENT, LogoutError};
pub(crate) use backchannel::{logout_token_from_form, ok_response, process as process_logout};
use denylist::{Denylist, Identity, InsertError};
pub use entry::{MAX_ID_BYTES, RevocationEntry, Target};
pub(crate) use sync::SyncState;

/// Default bound of the revocation list (entries).
pub const DEFAULT_MAX_REVOCATIONS: usize = 100_000;
/// Logout-token `jti`s remembered without a store.
const LOCAL_LOGOUT_JTIS: usize = 100_000;
/// Default longest access-token lifetime assumed for subject and session cutoffs (24 h).
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Settings of the revocation list. `RevocationConfig::new()` is a local list; add a
/// [`store`](Self::store) to share it between replicas.
#[derive(Clone)]
#[must_use]
pub struct RevocationConfig {
    pub(crate) max_entries: usize,
    pub(crate) max_token_lifetime: Duration,
    pub(crate) fail_closed_after: Option<Duration>,
    pub(crate) retry_after: Duration,
    pub(crate) store: Option<Arc<dyn SharedStore>>,
    pub(crate) logout_max_age: Duration,
    pub(crate) logout_audiences: Vec<Box<str>>,
}

impl fmt::Debug for RevocationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationConfig")
            .field("max_entries", &self.max_entries)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("fail_closed_after", &self.fail_closed_after)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl RevocationConfig {
    /// A local list of at most 100 000 entries; no store; never fails closed.
    pub fn new() -> Self {
        Self {
            max_entries: DEFAULT_MAX_REVOCATIONS,
            max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            fail_closed_after: None,
            retry_after: Duration::from_secs(5),
            store: None,
            logout_max_age: Duration::from_secs(300),
            logout_audiences: Vec::new(),
        }
    }

    /// Shares the list (and logout-token `jti`s) through this store: every guard using the
    /// same store sees every revocation.
    pub fn store(mut self, store: impl SharedStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// [`store`](Self::store) for a store that is already shared.
    pub fn shared_store(mut self, store: Arc<dyn SharedStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Most entries held (default 100 000). A full list refuses new revocations (an error
    /// for the caller, a log line for a remote one); live entries are never evicted.
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// The longest lifetime of an access token of your issuers (default 24 h): a subject or
    /// session cutoff, and a `jti` revoked without its `exp`, is kept this long.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    /// Answers `503` + `Retry-After` while the local copy has not been synced with the store
    /// for longer than `bound` (or never was). Off by default: the last synced copy is used
    /// and the gap is logged and shown in [`RevocationStats`].
    pub fn fail_closed(mut self, bound: Duration) -> Self {
        self.fail_closed_after = Some(bound);
        self
    }

    /// An accepted `aud` of logout tokens: the client id this service is registered under at
    /// the identity provider. May be given several times; without it, the issuer's access-token
    /// audiences are accepted.
    pub fn logout_audience(mut self, audience: impl Into<String>) -> Self {
        self.logout_audiences.push(Box::from(audience.into()));
        self
    }

    /// How old a logout token's `iat` may be (default 5 min); its `jti` is remembered that long.
    pub fn logout_token_max_age(mut self, max_age: Duration) -> Self {
        self.logout_max_age = max_age;
        self
    }
}

/// Why a revocation was not recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// An identifier is empty or longer than the limit.
    #[error("revocation entry is empty or too large")]
    InvalidEntry,
    /// The list holds its maximum of live entries.
    #[error("revocation list is full")]
    Full,
    /// Recorded on this replica, but the store could not be reached to tell the others.
    #[error("revocation is not shared: the store is unreachable")]
    NotShared(#[source] StoreError),
}

/// A snapshot of the revocation list's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationStats {
    /// Entries held (expired ones not yet swept included).
    pub entries: usize,
    /// Whether the list is shared through a store.
    pub shared: bool,
    /// Whether the local copy is in sync with the store now (always `true` without a store).
    pub synced: bool,
    /// How long it has been out of sync, when it is.
    pub unsynced_for: Option<Duration>,
    /// Whether requests are being refused with `503` (`fail_closed` and out of sync too long).
    pub failing_closed: bool,
    /// Completed syncs from a store snapshot (the first one and each after a reconnect).
    pub resyncs: u64,
    /// Connections to the store lost or refused.
    pub disconnects: u64,
    /// Entries received from the store's feed.
    pub updates_received: u64,
    /// Entries refused because the list was full.
    pub refused_full: u64,
    /// Tokens refused as revoked.
    pub revoked_hits: u64,
}

/// Stage 4 of the request path (`src/pipeline.rs`): the revocation list when one is
/// configured, else nothing to check.
#[derive(Debug, Clone, Default)]
pub(crate) struct Revocation(pub(crate) Option<Revocations>);

impl Revocation {
    pub(crate) fn new(config: Option<RevocationConfig>) -> Result<Self, crate::ConfigError> {
        config.map(Revocations::new).transpose().map(Self)
    }

    /// `Err` when the token has been revoked (or, with `fail_closed`, the list is stale).
    pub(crate) fn check(&self, token: &VerifiedToken) -> Result<(), AuthError> {
        match &self.0 {
            Some(list) => list.check(token),
            None => Ok(()),
        }
    }
}

/// The revocation list of a guard: [`BearerGuard::revocations`](crate::BearerGuard::revocations).
/// Cheap to clone.
#[derive(Clone)]
pub struct Revocations {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    list: Denylist,
    store: Option<Arc<dyn SharedStore>>,
    sync: SyncState,
    config: RevocationConfig,
    refused_full: AtomicU64,
    revoked_hits: AtomicU64,
    /// Logout-token `jti`s when there is no store.
    local_once: MemoryStore,
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocations")
            .field("entries", &self.inner.list.len())
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl Revocations {
    /// Builds the list and, with a store, starts syncing it (needs a Tokio runtime).
    pub(crate) fn new(config: RevocationConfig) -> Result<Self, crate::ConfigError> {
        if config.max_entries == 0 {
            return Err(crate::ConfigError::InvalidSetting { name: "max_entries", reason: "must be positive" });
        }
        let runtime = match &config.store {
            Some(_) => Some(tokio::runtime::Handle::try_current().map_err(|_| crate::ConfigError::InvalidSetting {
                name: "revocation",
                reason: "a shared store needs a Tokio runtime: build the guard inside one",
            })?),
            None => None,
        };
        let inner = Arc::new(Inner {
            list: Denylist::new(config.max_entries),
            store: config.store.clone(),
            sync: SyncState::new(config.store.is_none()),
            config,
            refused_full: AtomicU64::new(0),
            revoked_hits: AtomicU64::new(0),
            local_once: MemoryStore::new(LOCAL_LOGOUT_JTIS),
        });
        if let (Some(runtime), Some(store)) = (runtime, &inner.store) {
            runtime.spawn(sync::run(Arc::downgrade(&inner), Arc::clone(store)));
        }
        Ok(Self { inner })
    }

    /// Revokes the token with this `jti` from `issuer`, until `expires_at` (its `exp`; use
    /// now plus the longest token lifetime when it is not known).
    pub async fn revoke_token(
        &self,
        issuer: impl Into<String>,
        jti: impl Into<String>,
        expires_at: SystemTime,
    ) -> Result<(), RevocationError> {
        let until = secs(expires_at) + crate::jws::rules::MAX_LEEWAY_SECS as f64;
        self.revoke(RevocationEntry { issuer: issuer.into(), target: Target::Token { jti: jti.into() }, until }).await
    }

    /// Revokes every token of `subject` from `issuer` issued before `before` (`iat`).
    pub async fn revoke_subject(
        &self,
        issuer: impl Into<String>,
        subject: impl Into<String>,
        before: SystemTime,
    ) -> Result<(), RevocationError> {
        let before = secs(before);
        let target = Target::Subject { sub: subject.into(), before };
        self.revoke(RevocationEntry { issuer: issuer.into(), target, until: self.cutoff_until(before) }).await
    }

    /// Revokes every token of OpenID session `sid` from `issuer` issued before `before`.
    pub async fn revoke_session(
        &self,
        issuer: impl Into<String>,
        sid: impl Into<String>,
        before: SystemTime,
    ) -> Result<(), RevocationError> {
        let before = secs(before);
        let target = Target::Session { sid: sid.into(), before };
        self.revoke(RevocationEntry { issuer: issuer.into(), target, until: self.cutoff_until(before) }).await
    }

    fn cutoff_until(&self, before: f64) -> f64 {
        before + self.inner.config.max_token_lifetime.as_secs_f64() + crate::jws::rules::MAX_LEEWAY_SECS as f64
    }

    /// Records an entry here, then shares it through the store (if any).
    pub(crate) async fn revoke(&self, entry: RevocationEntry) -> Result<(), RevocationError> {
        if !entry.fits() {
            return Err(RevocationError::InvalidEntry);
        }
        self.inner.apply(&entry).map_err(|InsertError::Full| RevocationError::Full)?;
        tracing::info!(iss = %entry.issuer, kind = entry.target.kind(), "revocation recorded");
        if let Some(store) = &self.inner.store {
            store.publish(&entry).await.map_err(|error| {
                tracing::warn!(%error, "revocation recorded locally but not shared: store unreachable");
                RevocationError::NotShared(error)
            })?;
        }
        Ok(())
    }

    /// The per-request check: `Err` for a revoked token (401) or, with `fail_closed`, for a
    /// list out of sync too long (503). A local lookup, no I/O.
    pub fn check(&self, token: &VerifiedToken) -> Result<(), AuthError> {
        let inner = &self.inner;
        if let Some(bound) = inner.config.fail_closed_after
            && inner.sync.out_of_sync_longer_than(bound)
        {
            tracing::warn!("request refused: revocation list out of sync longer than allowed (fail_closed)");
            return Err(AuthError::Unavailable {
                retry_after: inner.config.retry_after,
                cause: Unavailable::Revocations,
            });
        }
        // Memo: found not revoked at this generation, and nothing was added since.
        let generation = inner.list.generation();
        let memo = token.revocation_checked();
        if memo.load(Ordering::Relaxed) == generation {
            return Ok(());
        }
        let claims = token.claims();
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let id = Identity {
            issuer: token.issuer(),
            jti: text("jti"),
            sub: text("sub"),
            sid: text("sid"),
            iat: claims.get("iat").and_then(Value::as_f64),
        };
        if inner.list.is_revoked(&id, now_secs()) {
            inner.revoked_hits.fetch_add(1, Ordering::Relaxed);
            tracing::info!(iss = id.issuer, "token refused: revoked");
            return Err(AuthError::InvalidToken(InvalidToken::Revoked));
        }
        memo.store(generation, Ordering::Relaxed);
        Ok(())
    }

    /// Whether a token is revoked (the same lookup as the per-request check).
    pub fn is_revoked(&self, token: &VerifiedToken) -> bool {
        matches!(self.check(token), Err(AuthError::InvalidToken(InvalidToken::Revoked)))
    }

    /// The list's state: size, sync, counters.
    pub fn stats(&self) -> RevocationStats {
        let inner = &self.inner;
        let unsynced_for = inner.sync.unsynced_for();
        RevocationStats {
            entries: inner.list.len(),
            shared: inner.store.is_some(),
            synced: unsynced_for.is_none(),
            unsynced_for,
            failing_closed: inner.config.fail_closed_after.is_some_and(|b| inner.sync.out_of_sync_longer_than(b)),
            resyncs: inner.sync.resyncs.load(Ordering::Relaxed),
            disconnects: inner.sync.disconnects.load(Ordering::Relaxed),
            updates_received: inner.sync.updates.load(Ordering::Relaxed),
            refused_full: inner.refused_full.load(Ordering::Relaxed),
            revoked_hits: inner.revoked_hits.load(Ordering::Relaxed),
        }
    }

    /// Records a logout token's `jti` as used: in the store when there is one, else locally.
    pub(crate) async fn use_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        match &self.inner.store {
            Some(store) => store.use_once(key, ttl).await,
            None => self.inner.local_once.use_once(key, ttl).await,
        }
    }

    /// The shared store, when there is one (for other single-use checks, such as DPoP proofs,
    /// to use the same store).
    pub fn store(&self) -> Option<&Arc<dyn SharedStore>> {
        self.inner.store.as_ref()
    }

    pub(crate) fn logout_max_age(&self) -> Duration {
        self.inner.config.logout_max_age
    }
}

impl Inner {
    fn apply(&self, entry: &RevocationEntry) -> Result<(), InsertError> {
        let result = self.list.insert(entry, now_secs());
        if result.is_err() {
            let refused = self.refused_full.fetch_add(1, Ordering::Relaxed);
            if refused.is_multiple_of(1000) {
                tracing::error!(iss = %entry.issuer, refused = refused + 1, "revocation refused: the revocation list is full");
            }
        }
        result
    }
}
