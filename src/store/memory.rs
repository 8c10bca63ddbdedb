//! [`MemoryStore`]: the in-process, bounded [`SharedStore`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{BoxFuture, Feed, MAX_KEY_BYTES, SharedStore, StoreError};
use crate::clock::now_secs;
use crate::revocation::entry::RevocationEntry;

/// How many feed entries may wait for a slow subscriber before it is dropped (and resyncs).
const FEED_BUFFER: usize = 1024;

/// A [`SharedStore`] in this process's memory: for one replica, or for several guards in one
/// process. At most `capacity` single-use values and `capacity` revocations are held; when
/// full, new ones are refused ([`StoreError::Full`]) and nothing live is evicted.
/// Cheap to clone (clones share the same state).
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: usize,
    once: Mutex<HashMap<Box<str>, Instant>>,
    revocations: Mutex<Vec<RevocationEntry>>,
    subscribers: Mutex<Vec<mpsc::Sender<RevocationEntry>>>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore").field("capacity", &self.inner.capacity).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// A store holding at most `capacity` single-use values (and as many revocations).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity,
                once: Mutex::new(HashMap::new()),
                revocations: Mutex::new(Vec::new()),
                subscribers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Single-use values currently remembered (expired ones not yet swept included).
    pub fn single_use_len(&self) -> usize {
        lock(&self.inner.once).len()
    }

    pub(crate) fn use_once_now(&self, key: &str, ttl: Duration, now: Instant) -> Result<bool, StoreError> {
        if key.len() > MAX_KEY_BYTES {
            return Err(StoreError::TooLarge);
        }
        let mut once = lock(&self.inner.once);
        if once.get(key).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        if once.len() >= self.inner.capacity && !once.contains_key(key) {
            once.retain(|_, until| *until > now);
            if once.len() >= self.inner.capacity {
                return Err(StoreError::Full);
            }
        }
        once.insert(Box::from(key), now + ttl);
        Ok(true)
    }
}

impl SharedStore for MemoryStore {
    fn use_once<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { self.use_once_now(key, ttl, Instant::now()) })
    }

    fn publish<'a>(&'a self, entry: &'a RevocationEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            {
                let mut all = lock(&self.inner.revocations);
                let now = now_secs();
                all.retain(|e| e.until > now);
                if all.len() >= self.inner.capacity {
                    return Err(StoreError::Full);
                }
                all.push(entry.clone());
            }
            // A subscriber that is gone or too slow loses its feed; it resubscribes and resyncs.
            lock(&self.inner.subscribers).retain(|tx| tx.try_send(entry.clone()).is_ok());
            Ok(())
        })
    }

    fn subscribe(&self) -> BoxFuture<'_, Result<Feed, StoreError>> {
        Box::pin(async move {
            let (tx, updates) = mpsc::channel(FEED_BUFFER);
            lock(&self.inner.subscribers).push(tx);
            let now = now_secs();
            let snapshot = lock(&self.inner.revocations).iter().filter(|e| e.until > now).cloned().collect();
            Ok(Feed { snapshot, updates })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_single_use_until_its_ttl() {
        let s = MemoryStore::new(10);
        let t0 = Instant::now();
        assert!(s.use_once_now("a", Duration::from_secs(10), t0).unwrap());
        assert!(!s.use_once_now("a", Duration::from_secs(10), t0 + Duration::from_secs(9)).unwrap());
        assert!(s.use_once_now("a", Duration::from_secs(10), t0 + Duration::from_secs(11)).unwrap());
    }

    #[test]
    fn a_full_store_refuses_rather_than_forgets_a_live_value() {
        let s = MemoryStore::new(2);
        let t0 = Instant::now();
        assert!(s.use_once_now("a", Duration::from_secs(10), t0).unwrap());
        assert!(s.use_once_now("b", Duration::from_secs(20), t0).unwrap());
        assert!(matches!(s.use_once_now("c", Duration::from_secs(10), t0), Err(StoreError::Full)));
        assert!(!s.use_once_now("a", Duration::from_secs(10), t0).unwrap(), "a is still remembered");
        assert!(s.use_once_now("c", Duration::from_secs(10), t0 + Duration::from_secs(15)).unwrap(), "a expired");
    }

    #[tokio::test]
    async fn subscribers_get_the_snapshot_then_updates() {
        let s = MemoryStore::new(10);
        let until = now_secs() + 100.0;
        let e = |jti: &str| RevocationEntry {
            issuer: "i".into(),
            target: crate::revocation::entry::Target::Token { jti: jti.into() },
            until,
        };
        s.publish(&e("a")).await.unwrap();
        let mut feed = s.subscribe().await.unwrap();
        assert_eq!(feed.snapshot, vec![e("a")]);
        s.publish(&e("b")).await.unwrap();
        assert_eq!(feed.updates.recv().await, Some(e("b")));
    }
}
