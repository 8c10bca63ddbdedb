//! The remote key set of one issuer: fetched lazily, stored in a moka cache for lock-free reads,
//! refreshed ahead of expiry in the background, refetched (at most once per cooldown) for
//! unknown `kid`s, and served stale when the issuer fails.
//!
//! Timing rules are pure functions of a [`KeyCachePolicy`], a fetch time and "now", so they are
//! tested without a clock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::Url;
use tokio::time::Instant;

use super::fetch::{FetchError, Fetcher};
use super::{AlgSet, KeySet, discovery, jwk};
use crate::error::{AuthError, Unavailable};

/// Timing and size rules of a remote key set. The defaults are those of STANDARDS.md.
///
/// ```
/// use std::time::Duration;
/// use bearer_guard::KeyCachePolicy;
///
/// let mut policy = KeyCachePolicy::default();
/// policy.cooldown = Duration::from_secs(60);
/// assert_eq!(policy.default_ttl, Duration::from_secs(600));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeyCachePolicy {
    /// TTL when the response has no `Cache-Control: max-age` (10 min).
    pub default_ttl: Duration,
    /// Lower clamp of `max-age` (1 min).
    pub min_ttl: Duration,
    /// Upper clamp of `max-age` (24 h).
    pub max_ttl: Duration,
    /// Fraction of the TTL after which a background refresh starts (0.8).
    pub refresh_ahead: f64,
    /// Unknown `kid`s trigger at most one refetch per cooldown (30 s).
    pub cooldown: Duration,
    /// How long past its expiry the last good set is still used while the issuer fails (24 h).
    pub max_stale: Duration,
    /// After a failed fetch, no new fetch for this long; also the `Retry-After` of a 503 (5 s).
    pub retry_after: Duration,
    /// Timeout of one HTTP fetch (5 s).
    pub fetch_timeout: Duration,
    /// Largest accepted discovery or JWKS body (512 KiB).
    pub max_body_bytes: usize,
    /// Most keys taken from one JWKS (64).
    pub max_keys: usize,
}

impl Default for KeyCachePolicy {
    fn default() -> Self {
        Self {
            default_ttl: Duration::from_secs(600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            refresh_ahead: 0.8,
            cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(24 * 3600),
            retry_after: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(5),
            max_body_bytes: 512 * 1024,
            max_keys: 64,
        }
    }
}

impl KeyCachePolicy {
    /// The TTL of a fetched set: `max-age` clamped to `[min_ttl, max_ttl]`, or the default.
    pub(crate) fn ttl(&self, max_age: Option<Duration>) -> Duration {
        max_age.map_or(self.default_ttl, |age| age.clamp(self.min_ttl, self.max_ttl))
    }
}

/// How usable a fetched set is at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Use it.
    Fresh,
    /// Use it, and refresh in the background.
    RefreshDue,
    /// Past its TTL but within `max_stale`: use it, refresh in the background, say it is stale.
    Stale,
    /// Too old to use.
    Unusable,
}

/// One fetched key set.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) keys: KeySet,
    pub(crate) fetched_at: Instant,
    pub(crate) ttl: Duration,
    pub(crate) generation: u64,
}

impl Snapshot {
    pub(crate) fn freshness(&self, now: Instant, policy: &KeyCachePolicy) -> Freshness {
        let age = now.saturating_duration_since(self.fetched_at);
        if age < self.ttl.mul_f64(policy.refresh_ahead.clamp(0.0, 1.0)) {
            Freshness::Fresh
        } else if age < self.ttl {
            Freshness::RefreshDue
        } else if age < self.ttl + policy.max_stale {
            Freshness::Stale
        } else {
            Freshness::Unusable
        }
    }
}

/// A snapshot of a key source's state, to read or export as metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySetStats {
    /// The issuer these keys belong to.
    pub issuer: String,
    /// JWKS fetches attempted.
    pub fetches: u64,
    /// Of those, failed ones (including failed discovery).
    pub failures: u64,
    /// Unknown-`kid` refetches refused because of the cooldown.
    pub cooldown_refusals: u64,
    /// Requests served from a set past its TTL.
    pub stale_serves: u64,
    /// When the last fetch succeeded.
    pub last_success: Option<SystemTime>,
    /// Keys in the current set.
    pub key_count: usize,
    /// Whether the current set is past its TTL.
    pub stale: bool,
}

#[derive(Debug)]
pub(crate) enum Location {
    Discovery,
    Jwks(Url),
}

#[derive(Debug, Default)]
struct Counters {
    fetches: AtomicU64,
    failures: AtomicU64,
    cooldown_refusals: AtomicU64,
    stale_serves: AtomicU64,
}

#[derive(Debug, Default)]
struct Attempts {
    /// The cooldown runs from the last refetch an unknown `kid` caused, so a rotation right
    /// after a scheduled fetch is still picked up at once.
    last_kid_refetch: Option<Instant>,
    last_failure: Option<Instant>,
    last_success: Option<SystemTime>,
}

/// The keys of one issuer, fetched over HTTP.
#[derive(Debug)]
pub(crate) struct RemoteKeys {
    issuer: Arc<str>,
    location: Location,
    fetcher: Fetcher,
    policy: KeyCachePolicy,
    allowed: AlgSet,
    /// Lock-free reads on the hot path; one entry, keyed by the issuer.
    store: moka::future::Cache<Arc<str>, Arc<Snapshot>>,
    /// Held while fetching; never touched by a request whose key is known.
    fetch_lock: tokio::sync::Mutex<Option<Url>>,
    in_flight: AtomicBool,
    background: AtomicBool,
    generation: AtomicU64,
    attempts: Mutex<Attempts>,
    counters: Counters,
}

impl RemoteKeys {
    pub(crate) fn new(
        issuer: Arc<str>,
        location: Location,
        fetcher: Fetcher,
        policy: KeyCachePolicy,
        allowed: AlgSet,
    ) -> Self {
        let lifetime = policy.max_ttl + policy.max_stale;
        Self {
            issuer,
            location,
            fetcher,
            policy,
            allowed,
            store: moka::future::Cache::builder().time_to_live(lifetime).build(),
            fetch_lock: tokio::sync::Mutex::new(None),
            in_flight: AtomicBool::new(false),
            background: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            attempts: Mutex::new(Attempts::default()),
            counters: Counters::default(),
        }
    }

    /// The set to verify a request with. Waits for a fetch only when there is no usable set.
    pub(crate) async fn current(self: &Arc<Self>) -> Result<Arc<Snapshot>, AuthError> {
        if let Some(snapshot) = self.store.get(&self.issuer).await {
            match snapshot.freshness(Instant::now(), &self.policy) {
                Freshness::Fresh => return Ok(snapshot),
                Freshness::RefreshDue => {
                    self.refresh_in_background();
                    return Ok(snapshot);
                }
                Freshness::Stale => {
                    self.counters.stale_serves.fetch_add(1, Ordering::Relaxed);
                    self.refresh_in_background();
                    return Ok(snapshot);
                }
                Freshness::Unusable => {}
            }
        }
        self.fetch_when_cold().await
    }

    async fn fetch_when_cold(&self) -> Result<Arc<Snapshot>, AuthError> {
        let mut discovered = self.fetch_lock.lock().await;
        let now = Instant::now();
        if let Some(snapshot) = self.store.get(&self.issuer).await
            && snapshot.freshness(now, &self.policy) != Freshness::Unusable
        {
            return Ok(snapshot);
        }
        if let Some(wait) = self.backoff_remaining(now) {
            return Err(AuthError::unavailable(Unavailable::Keys, wait));
        }
        self.fetch_and_store(&mut discovered)
            .await
            .map_err(|_| AuthError::unavailable(Unavailable::Keys, self.policy.retry_after))
    }

    /// A token named a key the set does not have: refetch, at most once per cooldown.
    /// Requests arriving while a fetch is in flight wait for that one fetch.
    pub(crate) async fn refetch_for_unknown_key(&self, seen: &Snapshot) -> Option<Arc<Snapshot>> {
        if !self.in_flight.load(Ordering::Acquire) && self.within_cooldown(Instant::now()) {
            return self.refuse_in_cooldown();
        }
        let mut discovered = self.fetch_lock.lock().await;
        if let Some(snapshot) = self.store.get(&self.issuer).await
            && snapshot.generation != seen.generation
        {
            return Some(snapshot);
        }
        if self.within_cooldown(Instant::now()) {
            return self.refuse_in_cooldown();
        }
        self.attempts().last_kid_refetch = Some(Instant::now());
        self.fetch_and_store(&mut discovered).await.ok()
    }

    fn refuse_in_cooldown(&self) -> Option<Arc<Snapshot>> {
        self.counters.cooldown_refusals.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(issuer = %self.issuer, "unknown kid refused: refetch cooldown active");
        None
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.backoff_remaining(Instant::now()).is_some() || self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.background.store(false, Ordering::Release);
            return;
        };
        let this = Arc::clone(self);
        runtime.spawn(async move {
            let mut discovered = this.fetch_lock.lock().await;
            let due = match this.store.get(&this.issuer).await {
                Some(s) => s.freshness(Instant::now(), &this.policy) != Freshness::Fresh,
                None => true,
            };
            if due {
                tracing::debug!(issuer = %this.issuer, "refreshing keys ahead of expiry");
                let _ = this.fetch_and_store(&mut discovered).await;
            }
            this.background.store(false, Ordering::Release);
        });
    }

    async fn fetch_and_store(&self, discovered: &mut Option<Url>) -> Result<Arc<Snapshot>, FetchError> {
        self.in_flight.store(true, Ordering::Release);
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch(discovered).await;
        let outcome = match result {
            Ok((keys, max_age)) => {
                let ttl = self.policy.ttl(max_age);
                let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
                let snapshot = Arc::new(Snapshot { keys, fetched_at: Instant::now(), ttl, generation });
                self.store.insert(Arc::clone(&self.issuer), Arc::clone(&snapshot)).await;
                let mut attempts = self.attempts();
                attempts.last_failure = None;
                attempts.last_success = Some(SystemTime::now());
                tracing::info!(issuer = %self.issuer, keys = snapshot.keys.len(), ttl_secs = ttl.as_secs(), "fetched signing keys");
                Ok(snapshot)
            }
            Err(error) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                self.attempts().last_failure = Some(Instant::now());
                let serving_stale = self.store.get(&self.issuer).await.is_some();
                tracing::warn!(issuer = %self.issuer, %error, serving_stale, "fetching signing keys failed");
                Err(error)
            }
        };
        self.in_flight.store(false, Ordering::Release);
        outcome
    }

    async fn fetch(&self, discovered: &mut Option<Url>) -> Result<(KeySet, Option<Duration>), FetchError> {
        let jwks_uri = match (&self.location, discovered.as_ref()) {
            (Location::Jwks(url), _) => url.clone(),
            (Location::Discovery, Some(url)) => url.clone(),
            (Location::Discovery, None) => {
                let url = discovery::discover_jwks_uri(&self.fetcher, &self.issuer).await?;
                *discovered = Some(url.clone());
                url
            }
        };
        let fetched = match self.fetcher.get_json(&jwks_uri).await {
            Ok(fetched) => fetched,
            Err(e) => {
                // The issuer may have moved its keys: discover again next time.
                *discovered = None;
                return Err(e);
            }
        };
        let keys = jwk::import_set(&fetched.body, self.allowed, self.policy.max_keys, &self.issuer)
            .map_err(FetchError::Invalid)?;
        Ok((keys, fetched.max_age))
    }

    fn within_cooldown(&self, now: Instant) -> bool {
        self.attempts().last_kid_refetch.is_some_and(|t| now.saturating_duration_since(t) < self.policy.cooldown)
    }

    fn backoff_remaining(&self, now: Instant) -> Option<Duration> {
        let failed = self.attempts().last_failure?;
        self.policy.retry_after.checked_sub(now.saturating_duration_since(failed)).filter(|d| !d.is_zero())
    }

    fn attempts(&self) -> std::sync::MutexGuard<'_, Attempts> {
        self.attempts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn stats(&self) -> KeySetStats {
        let snapshot = self.store.get(&self.issuer).await;
        let now = Instant::now();
        KeySetStats {
            issuer: self.issuer.to_string(),
            fetches: self.counters.fetches.load(Ordering::Relaxed),
            failures: self.counters.failures.load(Ordering::Relaxed),
            cooldown_refusals: self.counters.cooldown_refusals.load(Ordering::Relaxed),
            stale_serves: self.counters.stale_serves.load(Ordering::Relaxed),
            last_success: self.attempts().last_success,
            key_count: snapshot.as_ref().map_or(0, |s| s.keys.len()),
            stale: snapshot
                .as_ref()
                .is_some_and(|s| matches!(s.freshness(now, &self.policy), Freshness::Stale | Freshness::Unusable)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(fetched_at: Instant, ttl: Duration) -> Snapshot {
        Snapshot { keys: KeySet::default(), fetched_at, ttl, generation: 1 }
    }

    #[test]
    fn ttl_comes_from_max_age_clamped() {
        let p = KeyCachePolicy::default();
        assert_eq!(p.ttl(None), Duration::from_secs(600));
        assert_eq!(p.ttl(Some(Duration::from_secs(300))), Duration::from_secs(300));
        assert_eq!(p.ttl(Some(Duration::ZERO)), Duration::from_secs(60));
        assert_eq!(p.ttl(Some(Duration::from_secs(10 * 86400))), Duration::from_secs(86400));
    }

    #[test]
    fn freshness_moves_through_its_stages() {
        let p = KeyCachePolicy::default();
        let t0 = Instant::now();
        let s = snapshot(t0, Duration::from_secs(100));
        assert_eq!(s.freshness(t0, &p), Freshness::Fresh);
        assert_eq!(s.freshness(t0 + Duration::from_secs(79), &p), Freshness::Fresh);
        assert_eq!(s.freshness(t0 + Duration::from_secs(80), &p), Freshness::RefreshDue);
        assert_eq!(s.freshness(t0 + Duration::from_secs(100), &p), Freshness::Stale);
        assert_eq!(s.freshness(t0 + Duration::from_secs(100 + 86399), &p), Freshness::Stale);
        assert_eq!(s.freshness(t0 + Duration::from_secs(100 + 86400), &p), Freshness::Unusable);
    }
}
