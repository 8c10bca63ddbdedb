//! State shared across replicas: single-use values (DPoP proof `jti`s, logout-token `jti`s)
//! and the revocation list, behind one trait, [`SharedStore`].
//!
//! Backends: [`MemoryStore`] (the default, bounded, one process) and, with the `redis`
//! feature, `RedisStore` (Redis or Valkey, shared by every replica that points at it).
//!
//! ```
//! use std::time::Duration;
//! use bearer_guard::store::{MemoryStore, SharedStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), bearer_guard::store::StoreError> {
//! let store = MemoryStore::new(10_000);
//! assert!(store.use_once("dpop:proof-1", Duration::from_secs(60)).await?);   // first use
//! assert!(!store.use_once("dpop:proof-1", Duration::from_secs(60)).await?);  // a replay
//! # Ok(())
//! # }
//! ```

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::fmt;
use std::time::Duration;

use tokio::sync::mpsc;

pub use crate::revocation::entry::RevocationEntry;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{RedisStore, RedisStoreConfig};

/// A boxed `Send` future, so [`SharedStore`] can be used as `dyn SharedStore` (the same type
/// as the DPoP [`ReplayStore`]'s).
pub use crate::binding::replay::BoxFuture;
use crate::binding::replay::{ReplayStore, ReplayStoreError};

/// Shared state for a guard: single-use values and the revocation feed.
///
/// The revocation list is never read from the store per request: each guard keeps a local
/// copy fed by [`subscribe`](Self::subscribe). Single-use values are checked in the store
/// each time (one round trip), and a store that can't answer makes the check fail closed.
pub trait SharedStore: Send + Sync + fmt::Debug + 'static {
    /// Records `key` as used for `ttl`. `Ok(true)` the first time, `Ok(false)` while an
    /// earlier use is remembered. Never forgets a live key to make room: a full or
    /// unreachable store is an error.
    fn use_once<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Keeps `entry` until its [`until`](RevocationEntry::until) and tells every subscriber.
    fn publish<'a>(&'a self, entry: &'a RevocationEntry) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Opens a feed: a snapshot of every live entry, then each entry published from now on.
    /// The feed's channel closes when the connection to the store is lost; the caller then
    /// subscribes again (and so resyncs from a fresh snapshot).
    fn subscribe(&self) -> BoxFuture<'_, Result<Feed, StoreError>>;
}

/// Every shared store is also a DPoP replay store: `first_use` is [`SharedStore::use_once`]
/// (for Redis, `SET key 1 NX PX ttl`), and a store that can't answer fails the proof closed.
/// So one `RedisStore` serves the revocation list, logout tokens and DPoP proofs:
/// `builder.dpop_replay_store(store.clone()).revocation(RevocationConfig::new().store(store))`.
impl<T: SharedStore> ReplayStore for T {
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, ReplayStoreError>> {
        Box::pin(async move {
            self.use_once(key, ttl).await.map_err(|error| match error {
                StoreError::Full => ReplayStoreError::Full,
                other => ReplayStoreError::Unavailable(Box::new(other)),
            })
        })
    }
}

/// What [`SharedStore::subscribe`] hands back.
#[derive(Debug)]
pub struct Feed {
    /// Every live entry when the feed opened (taken after the subscription, so nothing
    /// published in between is missed; an entry may come twice, which is harmless).
    pub snapshot: Vec<RevocationEntry>,
    /// Entries published after the feed opened. Closes when the connection is lost.
    pub updates: mpsc::Receiver<RevocationEntry>,
}

/// A store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store is out of reach (connection refused or lost, timeout).
    #[error("shared store is unreachable")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store holds as many live values as it may; nothing live is evicted to make room.
    #[error("shared store is full")]
    Full,
    /// A value is larger than the store accepts.
    #[error("value is too large for the shared store")]
    TooLarge,
    /// The store can't be set up as configured (a bad URL, no Tokio runtime).
    #[error("invalid shared store configuration: {0}")]
    Config(String),
    /// The store answered something this crate does not understand.
    #[error("shared store answered unexpectedly")]
    Protocol(String),
}

/// Longest single-use key the stores accept (bytes).
pub const MAX_KEY_BYTES: usize = 1024;
