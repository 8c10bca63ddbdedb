//! Keeping a guard's local revocation list in step with a [`SharedStore`]: subscribe, load
//! the snapshot, apply each update; when the feed closes, keep the last copy, mark it out of
//! sync, and subscribe again (which resyncs from a fresh snapshot).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::Inner;
use super::entry::RevocationEntry;
use crate::clock::now_secs;
use crate::store::SharedStore;

const SYNCED: u64 = u64::MAX;
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_secs(1);
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Whether the local copy is in step with the store, and since when it is not.
#[derive(Debug)]
pub(crate) struct SyncState {
    epoch: Instant,
    /// Milliseconds after `epoch` the copy went out of sync; `SYNCED` while in sync.
    unsynced_since: AtomicU64,
    ever_synced: AtomicBool,
    pub(crate) resyncs: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) updates: AtomicU64,
}

impl SyncState {
    /// `local`: no store, so always in sync.
    pub(crate) fn new(local: bool) -> Self {
        Self {
            epoch: Instant::now(),
            unsynced_since: AtomicU64::new(if local { SYNCED } else { 0 }),
            ever_synced: AtomicBool::new(local),
            resyncs: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            updates: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(SYNCED - 1)
    }

    pub(crate) fn unsynced_for(&self) -> Option<Duration> {
        let since = self.unsynced_since.load(Ordering::Relaxed);
        (since != SYNCED).then(|| Duration::from_millis(self.now_ms().saturating_sub(since)))
    }

    /// A list never synced counts as out of sync for longer than any bound.
    pub(crate) fn out_of_sync_longer_than(&self, bound: Duration) -> bool {
        if self.unsynced_since.load(Ordering::Relaxed) == SYNCED {
            return false;
        }
        !self.ever_synced.load(Ordering::Relaxed) || self.unsynced_for().is_some_and(|gap| gap > bound)
    }

    fn mark_synced(&self) {
        self.ever_synced.store(true, Ordering::Relaxed);
        self.unsynced_since.store(SYNCED, Ordering::Relaxed);
        self.resyncs.fetch_add(1, Ordering::Relaxed);
    }

    /// Returns whether it was in sync until now (so the loss is logged once).
    fn mark_lost(&self) -> bool {
        let now = self.now_ms();
        let was_synced =
            self.unsynced_since.compare_exchange(SYNCED, now, Ordering::Relaxed, Ordering::Relaxed).is_ok();
        if was_synced {
            self.disconnects.fetch_add(1, Ordering::Relaxed);
        }
        was_synced
    }
}

impl Inner {
    fn apply_remote(&self, entry: &RevocationEntry) {
        if !entry.fits() {
            tracing::warn!("revocation from the store ignored: empty or oversized identifier");
            return;
        }
        // A full list is logged and counted by `apply`.
        let _ = self.apply(entry);
    }
}

/// Up to half of `backoff`, different per replica and per attempt, so a fleet that lost Redis
/// together does not reconnect and reload in one burst.
fn jitter(backoff: Duration) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let seed = u64::from(nanos ^ std::process::id().rotate_left(16)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let half = u64::try_from(backoff.as_micros() / 2).unwrap_or(0).max(1);
    Duration::from_micros((seed >> 32) % half)
}

/// The sync task of one guard's list; ends when the guard is dropped.
pub(super) async fn run(list: Weak<Inner>, store: Arc<dyn SharedStore>) {
    let mut backoff = MIN_BACKOFF;
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    loop {
        let subscribed = tokio::time::timeout(SUBSCRIBE_TIMEOUT, store.subscribe()).await;
        let Some(inner) = list.upgrade() else { return };
        let mut feed = match subscribed {
            Ok(Ok(feed)) => feed,
            Ok(Err(error)) => {
                if inner.sync.mark_lost() || !inner.sync.ever_synced.load(Ordering::Relaxed) {
                    tracing::warn!(%error, "revocation list out of sync: store unreachable; serving the last synced copy");
                }
                drop(inner);
                tokio::time::sleep(backoff + jitter(backoff)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(_) => {
                if inner.sync.mark_lost() {
                    tracing::warn!("revocation list out of sync: store timed out; serving the last synced copy");
                }
                drop(inner);
                continue;
            }
        };
        for entry in &feed.snapshot {
            inner.apply_remote(entry);
        }
        let gap = inner.sync.unsynced_for();
        inner.sync.mark_synced();
        tracing::info!(
            entries = feed.snapshot.len(),
            out_of_sync_ms = gap.map(|g| g.as_millis() as u64),
            "revocation list synced"
        );
        drop(inner);
        backoff = MIN_BACKOFF;
        loop {
            tokio::select! {
                update = feed.updates.recv() => {
                    let Some(inner) = list.upgrade() else { return };
                    let Some(entry) = update else { break };
                    inner.sync.updates.fetch_add(1, Ordering::Relaxed);
                    inner.apply_remote(&entry);
                }
                () = tokio::time::sleep(TICK) => {
                    let Some(inner) = list.upgrade() else { return };
                    if Instant::now() >= next_sweep {
                        inner.list.sweep(now_secs());
                        next_sweep = Instant::now() + SWEEP_EVERY;
                    }
                }
            }
        }
        let Some(inner) = list.upgrade() else { return };
        if inner.sync.mark_lost() {
            tracing::warn!("revocation feed lost; serving the last synced copy and resubscribing");
        }
    }
}
