//! The introspection cache: verdicts keyed by a keyed hash of the token (the token itself is
//! never stored), each kept for its own lifetime. The lifetime arithmetic is pure.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::answer::Verdict;

/// A cache key: SHA-256 over a per-process random key and the token.
pub(crate) type Key = [u8; 32];

/// Hashes tokens with a secret random key, so a key is no fingerprint anyone else can compute.
pub(crate) struct TokenHasher {
    secret: [u8; 32],
}

impl TokenHasher {
    pub(crate) fn new() -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret)?;
        Ok(Self { secret })
    }

    pub(crate) fn hash(&self, token: &str) -> Key {
        // Fixed-length secret first: length extension can't forge a key without knowing it,
        // and a cache key is never shown to anyone.
        Sha256::new().chain_update(self.secret).chain_update(token.as_bytes()).finalize().into()
    }
}

/// A cached verdict and how long it may be reused.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) verdict: Verdict,
    pub(crate) lifetime: Duration,
}

pub(crate) struct PerEntry;

impl moka::Expiry<Key, Entry> for PerEntry {
    fn expire_after_create(&self, _key: &Key, entry: &Entry, _created_at: Instant) -> Option<Duration> {
        Some(entry.lifetime)
    }
}

/// How long a verdict is reused: an active one until `min(exp, now + ttl)`, an inactive one
/// for `negative_ttl`.
pub(crate) fn lifetime(verdict: &Verdict, now: f64, ttl: Duration, negative_ttl: Duration) -> Duration {
    match verdict {
        Verdict::Inactive(_) => negative_ttl,
        Verdict::Active { exp: None, .. } => ttl,
        Verdict::Active { exp: Some(exp), .. } => {
            let left = exp - now;
            if left.is_finite() && left > 0.0 {
                ttl.min(Duration::from_secs_f64(left.min(1e9)))
            } else {
                Duration::ZERO
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VerifiedToken;
    use crate::error::InvalidToken;
    use crate::scope::Scopes;
    use std::sync::Arc;

    fn active(exp: Option<f64>) -> Verdict {
        let token = VerifiedToken::new(
            serde_json::json!({}),
            Scopes::default(),
            crate::scope::set::Roles::default(),
            Arc::from("i"),
            None,
            0.0,
        );
        Verdict::Active { token, exp }
    }

    #[test]
    fn active_answers_live_until_the_earlier_of_exp_and_ttl() {
        let ttl = Duration::from_secs(300);
        let neg = Duration::from_secs(30);
        assert_eq!(lifetime(&active(Some(1060.0)), 1000.0, ttl, neg), Duration::from_secs(60));
        assert_eq!(lifetime(&active(Some(9000.0)), 1000.0, ttl, neg), ttl);
        assert_eq!(lifetime(&active(None), 1000.0, ttl, neg), ttl);
        assert_eq!(lifetime(&active(Some(990.0)), 1000.0, ttl, neg), Duration::ZERO);
        assert_eq!(lifetime(&active(Some(9000.0)), 1000.0, Duration::ZERO, neg), Duration::ZERO);
        assert_eq!(lifetime(&Verdict::Inactive(InvalidToken::Inactive), 1000.0, ttl, neg), neg);
    }

    #[test]
    fn keys_depend_on_a_secret_and_never_contain_the_token() {
        let a = TokenHasher::new().unwrap();
        let b = TokenHasher::new().unwrap();
        assert_ne!(a.hash("tok"), b.hash("tok"));
        assert_eq!(a.hash("tok"), a.hash("tok"));
        assert_ne!(a.hash("tok"), a.hash("tok2"));
        let plain: [u8; 32] = Sha256::digest(b"tok").into();
        assert_ne!(a.hash("tok"), plain);
    }
}
