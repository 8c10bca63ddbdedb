//! Revocation propagation through a REAL Redis (Debian's `redis-server`, started here on a
//! free loopback port): two guards in one process act as two replicas; for each of 1000
//! revocations, the time from `revoke_token` on replica A until replica B refuses the token
//! (B polls its local copy). Also the single-use check's cost: MemoryStore vs RedisStore,
//! sequential and 64 at once.
//!
//! ```text
//! cargo bench --bench propagation
//! ```

#[path = "../tests/support/redis.rs"]
mod redis_support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bearer_guard::revocation::RevocationConfig;
use bearer_guard::store::{MemoryStore, RedisStore, RedisStoreConfig, SharedStore};
use bearer_guard::testing::TestIssuer;
use bearer_guard::{Algorithm, AuthError, BearerGuard, InvalidToken};

const REVOCATIONS: usize = 1000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name}: n={} p50={:?} p99={:?} max={:?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default()
    );
}

async fn single_use(name: &str, store: Arc<dyn SharedStore>) {
    let n = 5000;
    let start = Instant::now();
    for i in 0..n {
        assert!(store.use_once(&format!("{name}-seq-{i}"), Duration::from_secs(60)).await.expect("store"));
    }
    let sequential = start.elapsed();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..64 {
        let store = Arc::clone(&store);
        let name = name.to_owned();
        tasks.spawn(async move {
            for i in 0..n / 64 {
                assert!(store.use_once(&format!("{name}-par-{t}-{i}"), Duration::from_secs(60)).await.expect("store"));
            }
        });
    }
    tasks.join_all().await;
    let parallel = start.elapsed();
    println!(
        "single-use check, {name}: sequential {:.1} µs/op ({:.0} ops/s); 64 concurrent {:.0} ops/s",
        sequential.as_secs_f64() * 1e6 / n as f64,
        n as f64 / sequential.as_secs_f64(),
        (n / 64 * 64) as f64 / parallel.as_secs_f64()
    );
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let redis = redis_support::RedisServer::start();
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let replica = || {
        let store = RedisStore::open(&redis.url(), RedisStoreConfig::default().key_prefix("bench:")).expect("store");
        BearerGuard::builder()
            .issuer(issuer.issuer())
            .audience(TestIssuer::DEFAULT_AUDIENCE)
            .jwks_uri(issuer.jwks_uri())
            .revocation(RevocationConfig::new().store(store))
            .build()
            .expect("guard")
    };
    let (a, b) = (replica(), replica());
    for g in [&a, &b] {
        while !g.revocations().expect("on").stats().synced {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let tokens: Vec<String> =
        (0..REVOCATIONS).map(|i| issuer.token().claim("jti", format!("p-{i}")).sign().expect("token")).collect();
    for t in &tokens {
        b.verify(t).await.expect("valid before");
    }
    let exp = SystemTime::now() + Duration::from_secs(3600);
    let mut delays = Vec::with_capacity(REVOCATIONS);
    for (i, t) in tokens.iter().enumerate() {
        let start = Instant::now();
        a.revocations().expect("on").revoke_token(issuer.issuer(), format!("p-{i}"), exp).await.expect("revoke");
        loop {
            if matches!(b.verify(t).await, Err(AuthError::InvalidToken(InvalidToken::Revoked))) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "revocation {i} did not propagate");
            tokio::task::yield_now().await;
        }
        delays.push(start.elapsed());
    }
    summary("revocation propagation A -> B through Redis (revoke call to refusal on B)", delays);
    println!("stats of B: {:?}", b.revocations().expect("on").stats());

    // Memory of the local copy: resident set growth for 100 000 entries (50k jti + 50k sub).
    let before = rss_kib();
    let local = BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(TestIssuer::DEFAULT_AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .revocation(RevocationConfig::new())
        .build()
        .expect("guard");
    let r = local.revocations().expect("on");
    for i in 0..50_000 {
        r.revoke_token(issuer.issuer(), format!("jti-{i:016}-abcdefghij"), exp).await.expect("revoke");
        r.revoke_subject(issuer.issuer(), format!("user-{i:016}"), SystemTime::now()).await.expect("revoke");
    }
    let after = rss_kib();
    println!(
        "local revocation list: 100000 entries, resident set +{} KiB ({} bytes/entry)",
        after.saturating_sub(before),
        after.saturating_sub(before) * 1024 / 100_000
    );

    single_use("MemoryStore", Arc::new(MemoryStore::new(1_000_000))).await;
    let redis_store =
        RedisStore::open(&redis.url(), RedisStoreConfig::default().key_prefix("bench-once:")).expect("store");
    single_use("RedisStore", Arc::new(redis_store)).await;
}
