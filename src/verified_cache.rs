//! The verified-token cache: a client presents the same token on every request for its
//! lifetime, so its signature is checked once and the verdict kept, keyed by the SHA-256 of
//! the whole token. Entries never outlive the token's `exp`; a hit re-checks `exp` against the
//! clock and that the very key that verified it (its material, not only its `kid`) is still in
//! its issuer's set.

use std::fmt;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::jws::verifier::KeyIdentity;
use crate::verified::VerifiedToken;

/// Default capacity of the verified-token cache (entries).
pub const DEFAULT_VERIFIED_CACHE_CAPACITY: u64 = 10_000;

/// The cache key: SHA-256 of the whole token, so the token itself is never stored.
pub(crate) type TokenHash = [u8; 32];

pub(crate) fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) token: VerifiedToken,
    /// The issuer and the key that verified it.
    pub(crate) key: KeyIdentity,
    /// How long the entry may live: until `exp`.
    lifetime: Duration,
}

struct UntilExpiry;

impl moka::Expiry<TokenHash, Entry> for UntilExpiry {
    fn expire_after_create(&self, _key: &TokenHash, entry: &Entry, _created_at: Instant) -> Option<Duration> {
        Some(entry.lifetime)
    }
}

/// A memory-bounded map from token hash to verified token.
#[derive(Clone)]
pub(crate) struct VerifiedCache {
    cache: moka::sync::Cache<TokenHash, Entry>,
}

impl fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedCache").field("entries", &self.cache.entry_count()).finish()
    }
}

impl VerifiedCache {
    pub(crate) fn new(capacity: u64) -> Self {
        Self { cache: moka::sync::Cache::builder().max_capacity(capacity).expire_after(UntilExpiry).build() }
    }

    pub(crate) fn get(&self, key: &TokenHash) -> Option<Entry> {
        self.cache.get(key)
    }

    /// Keeps a verified token until its `exp` (as of `now`, seconds since the epoch).
    pub(crate) fn insert(&self, hash: TokenHash, token: VerifiedToken, key: KeyIdentity, now: f64) {
        let remaining = token.expires_at_secs() - now;
        if remaining.is_finite() && remaining > 0.0 {
            let lifetime = Duration::from_secs_f64(remaining.min(86_400.0 * 365.0));
            self.cache.insert(hash, Entry { token, key, lifetime });
        }
    }

    pub(crate) fn remove(&self, key: &TokenHash) {
        self.cache.invalidate(key);
    }

    #[cfg(test)]
    pub(crate) fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::set::{Roles, Scopes};
    use std::sync::Arc;

    const KEY: KeyIdentity = KeyIdentity { issuer: 0, fingerprint: [0; 16], is_static: true };

    fn token(exp: f64) -> VerifiedToken {
        VerifiedToken::new(serde_json::json!({}), Scopes::default(), Roles::default(), Arc::from("iss"), None, exp)
    }

    #[test]
    fn expired_tokens_are_not_kept() {
        let c = VerifiedCache::new(10);
        c.insert(hash("a"), token(100.0), KEY, 200.0);
        assert!(c.get(&hash("a")).is_none());
        c.insert(hash("b"), token(300.0), KEY, 200.0);
        assert!(c.get(&hash("b")).is_some());
    }

    #[test]
    fn capacity_bounds_the_cache() {
        let c = VerifiedCache::new(100);
        for i in 0..1000 {
            c.insert(hash(&i.to_string()), token(1e10), KEY, 0.0);
        }
        assert!(c.entry_count() <= 100, "{}", c.entry_count());
    }

    #[test]
    fn the_key_is_a_hash_not_the_token() {
        assert_eq!(hash("abc").len(), 32);
        assert_ne!(hash("abc"), hash("abd"));
    }
}
