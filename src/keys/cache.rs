//! The remote key set of one issuer: fetched lazily, stored in a moka cache for lock-free reads,
//! refreshed ahead of expiry in the background, refetched (at most once per cooldown) for
//! unknown `kid`s, and served stale when the issuer fails.
//!
//! Timing rules are pure functions of a [`KeyCachePolicy`], a fetch time and "now", so they are
//! tested without a clock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use reqwest::Url;
use tokio::time::Instant;

use super::error::KeyError;
use super::fetch::{FetchError, Fetcher};
use super::{AlgSet, KeySet, discovery, jwk};
use crate::error::ConfigError;

/// Timing and size rules of a remote key set. The defaults are those of STANDARDS.md.
///
/// [`build`](crate::BearerGuardBuilder::build) checks the values (`min_ttl ≤ default_ttl ≤
/// max_ttl`, `refresh_ahead` in `0.0..=1.0`, `max_ttl + max_stale` at most 365 days, a
/// positive `fetch_timeout` of at most 10 min, `max_keys` from 1 to 64) and answers
/// [`ConfigError::InvalidSetting`] otherwise.
///
/// Past a set's TTL, requests wait for a fetch; the stale set is used (for up to
/// `max_stale`) only when that fetch fails.
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
    /// Time budget of one whole fetch (5 s): discovery and the JWKS together, not each.
    pub fetch_timeout: Duration,
    /// Largest accepted discovery or JWKS body (512 KiB).
    pub max_body_bytes: usize,
    /// Most keys taken from one JWKS (64, also the largest accepted value).
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
        // Not `clamp`: it panics when `min_ttl > max_ttl` (refused by `validate`, but this runs
        // on the request path).
        max_age.map_or(self.default_ttl, |age| age.max(self.min_ttl).min(self.max_ttl))
    }
}

/// Longest `max_ttl + max_stale` accepted (a year is
/// already far past any sensible setting).
const MAX_CACHE_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// Longest `fetch_timeout` accepted.
const MAX_FETCH_TIMEOUT: Duration = Duration::from_secs(600);
/// Most keys a policy may take from one JWKS. Every key sharing a token's `kid` may be tried,
/// so this also bounds the signature checks one token can cost.
pub(crate) const MAX_KEYS_LIMIT: usize = 64;

impl KeyCachePolicy {
    /// Checks the values against each other and their ranges; `build()` calls it, so nothing
    /// on the request path can panic on a bad policy.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let refuse = |name, reason| Err(ConfigError::InvalidSetting { name, reason });
        if self.min_ttl.is_zero() {
            return refuse("key_cache_policy.min_ttl", "must be positive (a zero TTL would fetch on every request)");
        }
        if self.min_ttl > self.max_ttl {
            return refuse("key_cache_policy.min_ttl", "must not exceed max_ttl");
        }
        if self.default_ttl < self.min_ttl || self.default_ttl > self.max_ttl {
            return refuse("key_cache_policy.default_ttl", "must lie between min_ttl and max_ttl");
        }
        if !(self.refresh_ahead.is_finite() && (0.0..=1.0).contains(&self.refresh_ahead)) {
            return refuse("key_cache_policy.refresh_ahead", "must be a fraction from 0.0 to 1.0 (default 0.8)");
        }
        if self.max_ttl.checked_add(self.max_stale).is_none_or(|d| d > MAX_CACHE_LIFETIME) {
            return refuse("key_cache_policy.max_stale", "max_ttl + max_stale must be at most 365 days");
        }
        if self.fetch_timeout.is_zero() || self.fetch_timeout > MAX_FETCH_TIMEOUT {
            return refuse("key_cache_policy.fetch_timeout", "must be positive and at most 10 minutes");
        }
        if self.max_body_bytes == 0 {
            return refuse("key_cache_policy.max_body_bytes", "must be positive");
        }
        if self.max_keys == 0 || self.max_keys > MAX_KEYS_LIMIT {
            return refuse("key_cache_policy.max_keys", "must be from 1 to 64");
        }
        Ok(())
    }
}

/// How usable a fetched set is at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Use it.
    Fresh,
    /// Use it, and refresh in the background.
    RefreshDue,
    /// Past its TTL but within `max_stale`: fetch, and use it only if that fetch fails.
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
        // `mul_f64` panics on NaN or overflow; `validate` refuses such values, and this stays
        // panic-free whatever the policy says.
        let ratio = if policy.refresh_ahead.is_finite() { policy.refresh_ahead.clamp(0.0, 1.0) } else { 1.0 };
        let refresh_at = Duration::try_from_secs_f64(self.ttl.as_secs_f64() * ratio).unwrap_or(self.ttl);
        if age < refresh_at {
            Freshness::Fresh
        } else if age < self.ttl {
            Freshness::RefreshDue
        } else if age < self.ttl.saturating_add(policy.max_stale) {
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
    /// The last fetch, when it failed (cleared by a success): when, and why.
    last_failure: Option<(Instant, KeyError)>,
    last_success: Option<SystemTime>,
    /// Failed fetches since the last success (a burst), and when one was last logged at WARN.
    failures_in_burst: u64,
    last_warning: Option<Instant>,
}

/// During a burst of failures, at most one WARN (or ERROR) line per this interval; the
/// others go to DEBUG.
const WARN_INTERVAL: Duration = Duration::from_secs(300);

/// Clears a flag when dropped, so an aborted task cannot leave it set.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The keys of one issuer, fetched over HTTP.
///
/// One fetch at a time, through `fetch_lock` (a tokio mutex: a request dropped while it holds
/// or waits for it releases it, so nothing can get stuck); requests whose set is fresh never
/// touch it.
#[derive(Debug)]
pub(crate) struct RemoteKeys {
    issuer: Arc<str>,
    location: Location,
    fetcher: Fetcher,
    policy: KeyCachePolicy,
    allowed: AlgSet,
    /// The current set: a lock-free atomic load on the hot path, swapped whole by a fetch.
    store: ArcSwapOption<Snapshot>,
    /// Held while fetching; never touched by a request whose key is known. Holds the
    /// discovered `jwks_uri`.
    fetch_lock: tokio::sync::Mutex<Option<Url>>,
    /// A refresh-ahead task is queued or running (cleared by a drop guard).
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
        Self {
            issuer,
            location,
            fetcher,
            policy,
            allowed,
            store: ArcSwapOption::empty(),
            fetch_lock: tokio::sync::Mutex::new(None),
            background: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            attempts: Mutex::new(Attempts::default()),
            counters: Counters::default(),
        }
    }

    /// The set to verify a request with. Before the TTL: the cached set (refreshed in the
    /// background from `refresh_ahead` on). Past the TTL or cold: waits for the one fetch in
    /// flight, and falls back to the stale set only when that fetch fails.
    pub(crate) async fn current(self: &Arc<Self>) -> Result<Arc<Snapshot>, KeyError> {
        if let Some(snapshot) = self.with_usable(Arc::clone) {
            return Ok(snapshot);
        }
        self.fetch_when_expired().await
    }

    /// `f` of the cached set when it can be used without waiting: before the TTL (from
    /// `refresh_ahead` on, a refresh is started in the background). `None` when
    /// [`current`](Self::current) would have to wait for a fetch. Reads the set without taking a
    /// reference to it: the cache-hit path of every request comes here.
    pub(crate) fn with_usable<R>(self: &Arc<Self>, f: impl FnOnce(&Arc<Snapshot>) -> R) -> Option<R> {
        let guard = self.store.load();
        let snapshot = guard.as_ref()?;
        match snapshot.freshness(Instant::now(), &self.policy) {
            Freshness::Fresh => Some(f(snapshot)),
            Freshness::RefreshDue => {
                self.refresh_in_background();
                Some(f(snapshot))
            }
            Freshness::Stale | Freshness::Unusable => None,
        }
    }

    /// Loads the keys unless a usable set is cached: [`current`](Self::current) for start-up
    /// and readiness checks.
    pub(crate) async fn prefetch(self: &Arc<Self>) -> Result<(), KeyError> {
        self.current().await.map(|_| ())
    }

    async fn fetch_when_expired(&self) -> Result<Arc<Snapshot>, KeyError> {
        if let Some(error) = self.backing_off(Instant::now()) {
            return self.stale_or(error).await;
        }
        let mut discovered = self.fetch_lock.lock().await;
        // Whoever held the lock before may have fetched (or failed) already.
        if let Some(snapshot) = self.store.load_full()
            && matches!(snapshot.freshness(Instant::now(), &self.policy), Freshness::Fresh | Freshness::RefreshDue)
        {
            return Ok(snapshot);
        }
        let result = match self.backing_off(Instant::now()) {
            Some(error) => Err(error),
            None => self.fetch_and_store(&mut discovered).await,
        };
        drop(discovered);
        match result {
            Ok(snapshot) => Ok(snapshot),
            Err(error) => self.stale_or(error).await,
        }
    }

    /// After a failed fetch: the last good set while it is within `max_stale`, else the error.
    async fn stale_or(&self, error: KeyError) -> Result<Arc<Snapshot>, KeyError> {
        match self.store.load_full() {
            Some(snapshot) => match snapshot.freshness(Instant::now(), &self.policy) {
                Freshness::Fresh | Freshness::RefreshDue => Ok(snapshot),
                Freshness::Stale => {
                    self.counters.stale_serves.fetch_add(1, Ordering::Relaxed);
                    Ok(snapshot)
                }
                Freshness::Unusable => Err(error),
            },
            None => Err(error),
        }
    }

    /// A token named a key the set does not have: refetch, at most once per cooldown.
    /// Requests arriving while a fetch is in flight wait for that one fetch.
    ///
    /// `Ok(Some(set))`: a newer set to look in. `Ok(None)`: no newer set and the cooldown
    /// forbids a refetch (the key is unknown: `401`). `Err`: the issuer cannot be reached, so
    /// whether the key exists is unknown (`503`).
    pub(crate) async fn refetch_for_unknown_key(&self, seen: &Snapshot) -> Result<Option<Arc<Snapshot>>, KeyError> {
        let mut discovered = self.fetch_lock.lock().await;
        if let Some(snapshot) = self.store.load_full()
            && snapshot.generation != seen.generation
        {
            return Ok(Some(snapshot));
        }
        let now = Instant::now();
        if let Some(error) = self.backing_off(now) {
            return Err(error);
        }
        if self.within_cooldown(now) {
            // The last fetch failed and none succeeded since: the issuer is still down as far
            // as we know, and the key may well exist.
            if let Some((_, error)) = &self.attempts().last_failure {
                return Err(error.clone().with_retry_after(self.policy.retry_after));
            }
            self.counters.cooldown_refusals.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(issuer = %self.issuer, "unknown kid refused: refetch cooldown active");
            return Ok(None);
        }
        self.attempts().last_kid_refetch = Some(now);
        self.fetch_and_store(&mut discovered).await.map(Some)
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.backing_off(Instant::now()).is_some() || self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.background.store(false, Ordering::Release);
            return;
        };
        let this = Arc::clone(self);
        runtime.spawn(async move {
            // Cleared however the task ends, aborted (runtime shut down) included.
            let _clear = ClearOnDrop(&this.background);
            let mut discovered = this.fetch_lock.lock().await;
            let due = match this.store.load_full() {
                Some(s) => s.freshness(Instant::now(), &this.policy) != Freshness::Fresh,
                None => true,
            };
            if due {
                tracing::debug!(issuer = %this.issuer, "refreshing keys ahead of expiry");
                let _ = this.fetch_and_store(&mut discovered).await;
            }
        });
    }

    async fn fetch_and_store(&self, discovered: &mut Option<Url>) -> Result<Arc<Snapshot>, KeyError> {
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch(discovered).await {
            Ok((keys, max_age)) => {
                let ttl = self.policy.ttl(max_age);
                let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
                let snapshot = Arc::new(Snapshot { keys, fetched_at: Instant::now(), ttl, generation });
                self.store.store(Some(Arc::clone(&snapshot)));
                let failures = {
                    let mut attempts = self.attempts();
                    attempts.last_failure = None;
                    attempts.last_success = Some(SystemTime::now());
                    std::mem::take(&mut attempts.failures_in_burst)
                };
                tracing::info!(
                    issuer = %self.issuer,
                    keys = snapshot.keys.len(),
                    ttl_secs = ttl.as_secs(),
                    failures_before = failures,
                    "fetched signing keys"
                );
                Ok(snapshot)
            }
            Err(tried) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                let error = KeyError::new(&self.issuer, tried, self.policy.retry_after);
                let now = Instant::now();
                let (loud, burst) = {
                    let mut attempts = self.attempts();
                    attempts.last_failure = Some((now, error.clone()));
                    attempts.failures_in_burst += 1;
                    let loud = attempts.failures_in_burst == 1
                        || attempts.last_warning.is_none_or(|t| now.saturating_duration_since(t) >= WARN_INTERVAL);
                    if loud {
                        attempts.last_warning = Some(now);
                    }
                    (loud, attempts.failures_in_burst)
                };
                let serving_stale =
                    self.store.load_full().is_some_and(|s| s.freshness(now, &self.policy) != Freshness::Unusable);
                self.log_failure(&error, loud, burst, serving_stale);
                Err(error)
            }
        }
    }

    /// A misconfiguration is an ERROR with `permanent = true`; an outage a WARN. Either is
    /// logged loudly once per burst of failures (and every [`WARN_INTERVAL`] while it lasts),
    /// at DEBUG otherwise.
    fn log_failure(&self, error: &KeyError, loud: bool, failures_in_burst: u64, serving_stale: bool) {
        let issuer = &*self.issuer;
        let permanent = error.is_misconfiguration();
        match (loud, permanent) {
            (true, true) => tracing::error!(
                issuer,
                %error,
                permanent,
                failures_in_burst,
                "signing keys cannot be fetched: the issuer's answer contradicts the configuration"
            ),
            (true, false) => {
                tracing::warn!(issuer, %error, permanent, failures_in_burst, serving_stale, "fetching signing keys failed")
            }
            (false, _) => tracing::debug!(
                issuer,
                %error,
                permanent,
                failures_in_burst,
                serving_stale,
                "fetching signing keys failed again"
            ),
        }
    }

    /// One cold fetch: discovery (when needed) and the JWKS, within one `fetch_timeout` budget.
    async fn fetch(&self, discovered: &mut Option<Url>) -> Result<(KeySet, Option<Duration>), Vec<(Url, FetchError)>> {
        let now = Instant::now();
        let deadline = now.checked_add(self.fetcher.timeout).unwrap_or(now);
        let mut tried = Vec::new();
        let jwks_uri = match (&self.location, discovered.as_ref()) {
            (Location::Jwks(url), _) => url.clone(),
            (Location::Discovery, Some(url)) => url.clone(),
            (Location::Discovery, None) => {
                match discovery::discover_jwks_uri(&self.fetcher, &self.issuer, deadline, &mut tried).await {
                    Some(url) => {
                        *discovered = Some(url.clone());
                        url
                    }
                    None => return Err(tried),
                }
            }
        };
        let fetched = match self.fetcher.get_json(&jwks_uri, deadline).await {
            Ok(fetched) => fetched,
            Err(e) => {
                // The issuer may have moved its keys: discover again next time.
                *discovered = None;
                tried.push((jwks_uri, e));
                return Err(tried);
            }
        };
        match jwk::import_set(&fetched.body, self.allowed, self.policy.max_keys, &self.issuer) {
            Ok(keys) => Ok((keys, fetched.max_age)),
            Err(e) => {
                tried.push((jwks_uri, e));
                Err(tried)
            }
        }
    }

    fn within_cooldown(&self, now: Instant) -> bool {
        self.attempts().last_kid_refetch.is_some_and(|t| now.saturating_duration_since(t) < self.policy.cooldown)
    }

    /// The last fetch failed less than `retry_after` ago: its error, with the time left.
    fn backing_off(&self, now: Instant) -> Option<KeyError> {
        let attempts = self.attempts();
        let (failed, error) = attempts.last_failure.as_ref()?;
        let wait = self.policy.retry_after.checked_sub(now.saturating_duration_since(*failed))?;
        (!wait.is_zero()).then(|| error.clone().with_retry_after(wait))
    }

    fn attempts(&self) -> std::sync::MutexGuard<'_, Attempts> {
        self.attempts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn stats(&self) -> KeySetStats {
        let snapshot = self.store.load_full();
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
