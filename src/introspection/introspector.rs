//! The introspection runtime: which tokens go to the authorization server, the cached single
//! flight per token, the cap on calls in flight, fail-closed errors and burst-limited warnings.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::Url;
use serde_json::{Map, Value};
use tokio::sync::{OnceCell, Semaphore};

use super::answer::{self, Rules, Verdict};
use super::cache::{Entry, Key, PerEntry, TokenHasher, lifetime};
use super::request::{self, CallError, Expect};
use super::{ClientAuth, Introspection, IntrospectionMode};
use crate::authenticate::{BoxFuture, Introspect};
use crate::clock::now_secs;
use crate::error::{AuthError, ConfigError, InvalidToken, Unavailable};
use crate::issuer::{KeySource, TrustedIssuer};
use crate::keys::KeyCachePolicy;
use crate::keys::fetch::{Fetcher, fetchable_url};
use crate::scope::set::ScopeSources;
use crate::verified::VerifiedToken;

/// Where the endpoint comes from.
enum Endpoint {
    Fixed(Url),
    Discovered(OnceCell<Url>),
}

/// One issuer's introspection, shared by all requests.
pub(crate) struct Introspector {
    mode: IntrospectionMode,
    rules: Rules,
    client_id: String,
    auth: ClientAuth,
    endpoint: Endpoint,
    keys: Option<KeySource>,
    client: reqwest::Client,
    fetch_timeout: Duration,
    max_answer_bytes: usize,
    ttl: Duration,
    negative_ttl: Duration,
    retry_after: Duration,
    jwt_answers: bool,
    cache: moka::future::Cache<Key, Entry>,
    hasher: TokenHasher,
    permits: Semaphore,
    max_wait: Duration,
    warnings: BurstWarning,
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("issuer", &self.rules.issuer)
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .field("mode", &self.mode)
            .field("entries", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl Introspector {
    pub(crate) fn new(
        config: Introspection,
        issuer: &TrustedIssuer,
        leeway: u64,
        scopes: ScopeSources,
        client: &reqwest::Client,
        policy: &KeyCachePolicy,
    ) -> Result<Self, ConfigError> {
        let endpoint = match &config.endpoint {
            Some(url) => Endpoint::Fixed(
                fetchable_url(url).map_err(|reason| ConfigError::InvalidUrl { url: url.clone(), reason })?,
            ),
            None => {
                crate::keys::discovery::metadata_urls(&issuer.issuer)
                    .map_err(|reason| ConfigError::InvalidUrl { url: issuer.issuer.to_string(), reason })?;
                Endpoint::Discovered(OnceCell::new())
            }
        };
        if config.max_in_flight == 0 {
            return Err(ConfigError::InvalidSetting {
                name: "introspection.max_in_flight",
                reason: "must be positive",
            });
        }
        if config.client_id.is_empty() {
            return Err(ConfigError::InvalidSetting { name: "introspection", reason: "client id is empty" });
        }
        let keys = match &issuer.keys {
            KeySource::Static(s) => Some(KeySource::Static(Arc::clone(s))),
            KeySource::Remote(r) => Some(KeySource::Remote(Arc::clone(r))),
        };
        let hasher = TokenHasher::new()
            .map_err(|_| ConfigError::InvalidSetting { name: "introspection", reason: "no randomness available" })?;
        Ok(Self {
            mode: config.mode,
            rules: Rules {
                issuer: Arc::clone(&issuer.issuer),
                audiences: issuer.audiences.clone(),
                any_audience: issuer.any_audience,
                require_audience: config.require_audience,
                leeway,
                scopes,
            },
            client_id: config.client_id,
            auth: config.auth,
            endpoint,
            keys,
            client: client.clone(),
            fetch_timeout: policy.fetch_timeout,
            max_answer_bytes: config.max_answer_bytes,
            ttl: config.ttl,
            negative_ttl: config.negative_ttl,
            retry_after: config.retry_after,
            jwt_answers: config.jwt_answers,
            cache: moka::future::Cache::builder().max_capacity(config.capacity).expire_after(PerEntry).build(),
            hasher,
            permits: Semaphore::new(config.max_in_flight),
            max_wait: config.max_wait,
            warnings: BurstWarning::default(),
        })
    }

    /// Introspects a token (cached; one call per token however many requests want it).
    pub(crate) async fn introspect(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let key = self.hasher.hash(token);
        let entry = self.cache.try_get_with(key, self.lookup(token)).await.map_err(|e| (*e).clone())?;
        let refused = match entry.verdict {
            Verdict::Active { token, exp } => {
                // A cached answer never outlives `exp`; this covers the leeway boundary.
                if exp.is_none_or(|exp| now_secs() <= exp + self.rules.leeway as f64) {
                    return Ok(token);
                }
                InvalidToken::Expired
            }
            Verdict::Inactive(reason) => reason,
        };
        tracing::debug!(target: "bearer_guard::refusal", reason = refused.description(), iss = &*self.rules.issuer, "token refused by introspection");
        Err(AuthError::InvalidToken(refused))
    }

    async fn lookup(&self, token: &str) -> Result<Entry, AuthError> {
        let Ok(Ok(permit)) = tokio::time::timeout(self.max_wait, self.permits.acquire()).await else {
            self.warnings.failed(&self.rules.issuer, &CallError::Busy);
            return Err(AuthError::unavailable(Unavailable::Introspection, Duration::from_secs(1)));
        };
        let result = self.call(token).await;
        drop(permit);
        match result {
            Ok(verdict) => {
                self.warnings.succeeded(&self.rules.issuer);
                let lifetime = lifetime(&verdict, now_secs(), self.ttl, self.negative_ttl);
                Ok(Entry { verdict, lifetime })
            }
            Err(error) => {
                self.warnings.failed(&self.rules.issuer, &error);
                Err(AuthError::unavailable(Unavailable::Introspection, self.retry_after))
            }
        }
    }

    async fn call(&self, token: &str) -> Result<Verdict, CallError> {
        let endpoint = self.endpoint().await?;
        let credentials = self
            .auth
            .credentials(&self.client_id, endpoint.as_str(), &self.rules.issuer)
            .map_err(CallError::Credentials)?;
        let expect = if self.jwt_answers { Expect::Jwt } else { Expect::Json };
        let body = request::call(
            &self.client,
            endpoint,
            token,
            credentials,
            expect,
            self.fetch_timeout,
            self.max_answer_bytes,
        )
        .await?;
        let now = now_secs();
        let answer: Option<Map<String, Value>> = match (&self.keys, self.jwt_answers) {
            (Some(keys), true) => {
                answer::verify_jwt_answer(&body, keys, &self.rules.issuer, &self.client_id, self.rules.leeway, now)
                    .await?
            }
            _ => answer::parse_json(&body)?,
        };
        Ok(answer::check(answer, &self.rules, now, now + self.ttl.as_secs_f64()))
    }

    async fn endpoint(&self) -> Result<&Url, CallError> {
        match &self.endpoint {
            Endpoint::Fixed(url) => Ok(url),
            Endpoint::Discovered(cell) => {
                cell.get_or_try_init(|| async {
                    let fetcher =
                        Fetcher { client: self.client.clone(), timeout: self.fetch_timeout, max_body: 512 * 1024 };
                    let deadline = tokio::time::Instant::now() + self.fetch_timeout;
                    crate::keys::discovery::discover_introspection_endpoint(&fetcher, &self.rules.issuer, deadline)
                        .await
                        .map_err(CallError::Endpoint)
                })
                .await
            }
        }
    }
}

impl Introspect for Introspector {
    fn introspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedToken, AuthError>> {
        Box::pin(Introspector::introspect(self, token))
    }

    fn mode(&self) -> IntrospectionMode {
        self.mode
    }
}

/// One warning per burst of failures (then at most one every 30 s while it lasts), and one
/// line when the endpoint answers again.
#[derive(Default)]
struct BurstWarning {
    failing: AtomicBool,
    state: Mutex<BurstState>,
}

#[derive(Default)]
struct BurstState {
    last_warned: Option<Instant>,
    suppressed: u64,
}

const WARN_EVERY: Duration = Duration::from_secs(30);

impl BurstWarning {
    fn failed(&self, issuer: &str, error: &CallError) {
        self.failing.store(true, Ordering::Release);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.last_warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            tracing::warn!(
                issuer,
                error = %error,
                suppressed = state.suppressed,
                "token introspection failed: requests that need it get 503 + Retry-After until it recovers"
            );
            state.last_warned = Some(Instant::now());
            state.suppressed = 0;
        } else {
            state.suppressed += 1;
            tracing::debug!(issuer, error = %error, "token introspection failed again");
        }
    }

    fn succeeded(&self, issuer: &str) {
        if self.failing.swap(false, Ordering::AcqRel) {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            tracing::info!(issuer, suppressed = state.suppressed, "token introspection answers again");
            *state = BurstState::default();
        }
    }
}
