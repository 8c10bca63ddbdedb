//! [`RedisStore`]: Redis or Valkey as the [`SharedStore`] of every replica (feature `redis`).
//!
//! Client: the `redis` crate (redis-rs), with its `ConnectionManager`: one multiplexed
//! connection per store that pipelines every command and reconnects by itself, with
//! connection and response timeouts. Chosen over `fred` because it is the most used and
//! most widely reviewed Rust client, is maintained under the redis-rs organisation with
//! Redis' support, builds with a small feature set (`tokio-comp`, `connection-manager`),
//! and its explicit `PubSub` connection lets this crate own resubscription and resync.
//!
//! Layout, under the key prefix (default `bearer-guard:`):
//! - `once:<key>`: a single-use value, `SET key 1 NX PX ttl`;
//! - `revocations`: a sorted set of entries (JSON) scored by their `until` in milliseconds;
//!   expired members are trimmed on each publish;
//! - channel `revocations`: each new entry, published in the same `MULTI` as the `ZADD`.

use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;

use super::{BoxFuture, Feed, MAX_KEY_BYTES, SharedStore, StoreError};
use crate::clock::now_secs;
use crate::revocation::entry::RevocationEntry;

/// Entries a feed may buffer before the subscriber is considered too slow and resyncs.
const FEED_BUFFER: usize = 4096;
/// Largest snapshot loaded on a resync (entries).
const MAX_SNAPSHOT: usize = 1_000_000;

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisStoreConfig {
    key_prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    heartbeat: Duration,
}

impl Default for RedisStoreConfig {
    fn default() -> Self {
        Self {
            key_prefix: "bearer-guard:".to_owned(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_millis(500),
            heartbeat: Duration::from_millis(500),
        }
    }
}

impl RedisStoreConfig {
    /// Prefix of every key and channel (default `bearer-guard:`); give each deployment its own.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Timeout of one connection attempt (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout of one command (default 500 ms); past it a replay check fails closed.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How often the revocation feed's connection is pinged (default 500 ms); a missed pong
    /// closes the feed, so a silent network failure is noticed within about twice this.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval;
        self
    }
}

/// Redis or Valkey as a [`SharedStore`]. Cheap to clone (clones share the connection).
///
/// ```no_run
/// use bearer_guard::store::{RedisStore, RedisStoreConfig};
/// use bearer_guard::{BearerGuard, revocation::RevocationConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::open("redis://127.0.0.1:6379/0", RedisStoreConfig::default())?;
/// let guard = BearerGuard::builder()
///     .issuer("https://idp.example.com")
///     .audience("https://api.example.com")
///     .revocation(RevocationConfig::new().store(store))
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    commands: ConnectionManager,
    config: RedisStoreConfig,
    zset: String,
    channel: String,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL is left out: it may hold a password.
        f.debug_struct("RedisStore").field("key_prefix", &self.config.key_prefix).finish_non_exhaustive()
    }
}

fn unreachable(error: redis::RedisError) -> StoreError {
    StoreError::Unreachable(Box::new(error))
}

impl RedisStore {
    /// A store for `url` (`redis://[user:password@]host:port/db`, `rediss://` for TLS is not
    /// built in). Connects lazily: no I/O here, so a guard starts while Redis is down. Call it
    /// inside a Tokio runtime.
    pub fn open(url: &str, config: RedisStoreConfig) -> Result<Self, StoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::Config("RedisStore::open needs a Tokio runtime".to_owned()));
        }
        // The error text may quote the URL (and so a password): keep only its kind.
        let client =
            redis::Client::open(url).map_err(|e| StoreError::Config(format!("invalid redis URL ({:?})", e.kind())))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), manager_config).map_err(unreachable)?;
        let zset = format!("{}revocations", config.key_prefix);
        let channel = format!("{}revocations", config.key_prefix);
        Ok(Self { client, commands, config, zset, channel })
    }

    async fn with_timeout<T>(&self, op: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.config.response_timeout + self.config.connect_timeout, op).await {
            Ok(result) => result.map_err(unreachable),
            Err(elapsed) => Err(StoreError::Unreachable(Box::new(elapsed))),
        }
    }

    async fn open_feed(&self) -> Result<Feed, StoreError> {
        let connect = tokio::time::timeout(self.config.connect_timeout, self.client.get_async_pubsub());
        let mut pubsub = match connect.await {
            Ok(result) => result.map_err(unreachable)?,
            Err(elapsed) => return Err(StoreError::Unreachable(Box::new(elapsed))),
        };
        self.with_timeout(pubsub.subscribe(&self.channel)).await?;
        // Subscribed first, snapshot second: nothing published in between is missed.
        let now_ms = (now_secs() * 1000.0) as i64;
        let mut commands = self.commands.clone();
        let members: Vec<String> = self
            .with_timeout(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&self.zset)
                    .arg(format!("({now_ms}"))
                    .arg("+inf")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(MAX_SNAPSHOT)
                    .query_async(&mut commands),
            )
            .await?;
        let snapshot = members.iter().filter_map(|m| decode(m.as_bytes())).collect();
        let (tx, updates) = mpsc::channel(FEED_BUFFER);
        let (mut sink, mut stream) = pubsub.split();
        let heartbeat = self.config.heartbeat;
        let timeout = self.config.response_timeout.max(heartbeat);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    message = stream.next() => {
                        let Some(message) = message else { return };
                        if let Some(entry) = decode(message.get_payload_bytes())
                            && tx.send(entry).await.is_err()
                        {
                            return;
                        }
                    }
                    _ = tick.tick() => {
                        if tx.is_closed() {
                            return;
                        }
                        let pong = tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await;
                        if !matches!(pong, Ok(Ok(_))) {
                            tracing::warn!("redis revocation feed: heartbeat failed, closing the feed");
                            return;
                        }
                    }
                }
            }
        });
        Ok(Feed { snapshot, updates })
    }
}

fn decode(bytes: &[u8]) -> Option<RevocationEntry> {
    match serde_json::from_slice(bytes) {
        Ok(entry) => Some(entry),
        Err(_) => {
            tracing::warn!("redis revocation feed: an entry did not parse and was ignored");
            None
        }
    }
}

impl SharedStore for RedisStore {
    fn use_once<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            if key.len() > MAX_KEY_BYTES {
                return Err(StoreError::TooLarge);
            }
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let mut commands = self.commands.clone();
            let set: Option<String> = self
                .with_timeout(
                    redis::cmd("SET")
                        .arg(format!("{}once:{key}", self.config.key_prefix))
                        .arg(1)
                        .arg("NX")
                        .arg("PX")
                        .arg(ttl_ms)
                        .query_async(&mut commands),
                )
                .await?;
            Ok(set.is_some())
        })
    }

    fn publish<'a>(&'a self, entry: &'a RevocationEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(entry).map_err(|e| StoreError::Protocol(e.to_string()))?;
            let until_ms = (entry.until * 1000.0) as i64;
            let now_ms = (now_secs() * 1000.0) as i64;
            let mut commands = self.commands.clone();
            self.with_timeout(
                redis::pipe()
                    .atomic()
                    .cmd("ZADD")
                    .arg(&self.zset)
                    .arg(until_ms)
                    .arg(&json)
                    .ignore()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&self.zset)
                    .arg("-inf")
                    .arg(now_ms)
                    .ignore()
                    .cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(&json)
                    .ignore()
                    .query_async::<()>(&mut commands),
            )
            .await
        })
    }

    fn subscribe(&self) -> BoxFuture<'_, Result<Feed, StoreError>> {
        Box::pin(self.open_feed())
    }
}
