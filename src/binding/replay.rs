//! The DPoP replay store: remembers each proof's `jti` for as long as the proof could be
//! accepted (the `iat` window), so a proof is used once.
//!
//! [`ReplayStore`] is object-safe (its method returns a boxed future), so a store shared by
//! several replicas (Redis, a database) plugs in next to the in-memory default,
//! [`MemoryReplayStore`]. The memory store is bounded and, when full, **refuses** new proofs
//! (the guard answers `503`) instead of evicting: evicting would let a flood of fresh proofs
//! push a used `jti` out and make its proof replayable.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A boxed, `Send` future, as [`ReplayStore`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Default capacity of [`MemoryReplayStore`]: 200 000 proofs (about 3 000 proofs per second
/// sustained with the default 65 s window; roughly 15 MiB when full).
pub const DEFAULT_REPLAY_STORE_CAPACITY: usize = 200_000;

/// Remembers single-use values (DPoP proof `jti`s) for a while.
///
/// ```
/// use std::time::Duration;
/// use bearer_guard::{MemoryReplayStore, ReplayStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryReplayStore::new(1000);
/// assert_eq!(store.first_use("k1", Duration::from_secs(60)).await, Ok(true));
/// assert_eq!(store.first_use("k1", Duration::from_secs(60)).await, Ok(false)); // replay
/// # }
/// ```
pub trait ReplayStore: Send + Sync + fmt::Debug + 'static {
    /// Records `key` for `ttl`. `Ok(true)` the first time the key is seen within its `ttl`,
    /// `Ok(false)` for a replay. A store that cannot record the key (full, unreachable) returns
    /// an error and the guard refuses the request (fails closed). The key is already a digest
    /// (at most 64 visible ASCII characters), never a token.
    ///
    /// A shared store implements this as an atomic "set if absent with expiry"
    /// (Redis `SET key 1 NX PX ttl`).
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, ReplayStoreError>>;
}

/// Why a [`ReplayStore`] could not record a proof. The guard answers `503` + `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayStoreError {
    /// The store holds as many live entries as it may.
    #[error("replay store is full")]
    Full,
    /// The store could not be reached or answered wrongly.
    #[error("replay store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl PartialEq for ReplayStoreError {
    fn eq(&self, other: &Self) -> bool {
        matches!((self, other), (Self::Full, Self::Full) | (Self::Unavailable(_), Self::Unavailable(_)))
    }
}

/// The in-memory [`ReplayStore`]: bounded, fails closed when full, forgets entries when their
/// `ttl` has passed. Keys are kept as 128-bit digests.
pub struct MemoryReplayStore {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    live: HashMap<[u8; 16], Instant>,
    /// Keys in insertion order with their expiry; the guard uses one `ttl`, so this is also
    /// expiry order.
    order: VecDeque<(Instant, [u8; 16])>,
}

impl MemoryReplayStore {
    /// A store for at most `capacity` live entries.
    pub fn new(capacity: usize) -> Self {
        Self { capacity, state: Mutex::new(State::default()) }
    }

    /// The number of live entries (expired ones are dropped first).
    pub fn len(&self) -> usize {
        let mut state = self.lock();
        state.purge(Instant::now());
        state.live.len()
    }

    /// Whether the store holds no live entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most live entries the store keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock can't leave the maps inconsistent in a way that
        // matters for safety: take the data anyway.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn record(&self, key: &str, ttl: Duration, now: Instant) -> Result<bool, ReplayStoreError> {
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut short = [0u8; 16];
        short.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
        let mut state = self.lock();
        state.purge(now);
        if let Some(expires) = state.live.get(&short)
            && *expires > now
        {
            return Ok(false);
        }
        if state.live.len() >= self.capacity {
            return Err(ReplayStoreError::Full);
        }
        let expires = now + ttl;
        state.live.insert(short, expires);
        state.order.push_back((expires, short));
        Ok(true)
    }
}

impl State {
    fn purge(&mut self, now: Instant) {
        while let Some((expires, key)) = self.order.front().copied() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            if self.live.get(&key).is_some_and(|e| *e <= now) {
                self.live.remove(&key);
            }
        }
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_STORE_CAPACITY)
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, ReplayStoreError>> {
        let result = self.record(key, ttl, Instant::now());
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_new_once() {
        let s = MemoryReplayStore::new(10);
        let now = Instant::now();
        assert_eq!(s.record("a", Duration::from_secs(60), now), Ok(true));
        assert_eq!(s.record("a", Duration::from_secs(60), now), Ok(false));
        assert_eq!(s.record("b", Duration::from_secs(60), now), Ok(true));
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let s = MemoryReplayStore::new(10);
        let now = Instant::now();
        assert_eq!(s.record("a", Duration::from_secs(60), now), Ok(true));
        let later = now + Duration::from_secs(61);
        assert_eq!(s.record("a", Duration::from_secs(60), later), Ok(true));
    }

    #[test]
    fn a_full_store_refuses_and_never_evicts() {
        let s = MemoryReplayStore::new(3);
        let now = Instant::now();
        for k in ["a", "b", "c"] {
            assert_eq!(s.record(k, Duration::from_secs(60), now), Ok(true));
        }
        assert_eq!(s.record("d", Duration::from_secs(60), now), Err(ReplayStoreError::Full));
        // The used keys are still known: a replay is still a replay.
        assert_eq!(s.record("a", Duration::from_secs(60), now), Ok(false));
        // Room comes back only when entries expire.
        assert_eq!(s.record("d", Duration::from_secs(60), now + Duration::from_secs(61)), Ok(true));
    }

    #[test]
    fn a_flood_stays_bounded() {
        let s = MemoryReplayStore::new(1000);
        let now = Instant::now();
        let mut refused = 0;
        for i in 0..10_000 {
            if s.record(&i.to_string(), Duration::from_secs(60), now).is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 9_000);
        assert_eq!(s.lock().live.len(), 1000);
        assert_eq!(s.lock().order.len(), 1000);
    }
}
