//! Stateless server nonces (RFC 9449 §8, §9): a nonce is a time step and an HMAC-SHA256 of it
//! under a server secret, so replicas that share the secret agree without shared state.
//! A nonce of the current or the previous step is accepted; a proof with an older one, or
//! none, gets `401 use_dpop_nonce` with a fresh nonce.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Default lifetime of one nonce step (5 minutes); a nonce is accepted for up to two steps.
pub const DEFAULT_DPOP_NONCE_PERIOD: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub(crate) struct Nonces {
    secret: Box<[u8]>,
    period: u64,
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces").field("period", &self.period).finish_non_exhaustive()
    }
}

/// What the nonce check decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// The proof's nonce is current.
    Current,
    /// Accepted, but from the previous step: send this fresh nonce with the answer.
    Rotate(String),
    /// Missing or stale: refuse with this fresh nonce.
    Refuse(String),
}

impl Nonces {
    pub(crate) fn new(secret: &[u8], period: Duration) -> Self {
        Self { secret: secret.into(), period: period.as_secs().max(1) }
    }

    fn step(&self, now_secs: u64) -> u64 {
        now_secs / self.period
    }

    fn keyed(&self, step: u64) -> Option<Hmac<Sha256>> {
        // HMAC accepts keys of any length: this does not fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        mac.update(b"bearer-guard dpop nonce v1");
        mac.update(&step.to_be_bytes());
        Some(mac)
    }

    pub(crate) fn issue(&self, now_secs: u64) -> String {
        let step = self.step(now_secs);
        let mut raw = step.to_be_bytes().to_vec();
        if let Some(mac) = self.keyed(step) {
            raw.extend(mac.finalize().into_bytes().into_iter().take(16));
        }
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub(crate) fn check(&self, nonce: Option<&str>, now_secs: u64) -> NonceCheck {
        let current = self.step(now_secs);
        let Some(step) = nonce.and_then(|n| self.verify(n)) else { return NonceCheck::Refuse(self.issue(now_secs)) };
        if step == current {
            NonceCheck::Current
        } else if step.checked_add(1) == Some(current) {
            NonceCheck::Rotate(self.issue(now_secs))
        } else {
            NonceCheck::Refuse(self.issue(now_secs))
        }
    }

    /// The step of a genuine nonce (tag compared in constant time).
    fn verify(&self, nonce: &str) -> Option<u64> {
        if nonce.len() > 64 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        let (step, tag) = (raw.get(..8)?, raw.get(8..)?);
        let step = u64::from_be_bytes(step.try_into().ok()?);
        (tag.len() == 16 && self.keyed(step)?.verify_truncated_left(tag).is_ok()).then_some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_and_previous_steps_are_accepted() {
        let n = Nonces::new(&[7; 32], Duration::from_secs(300));
        let t0 = 1_700_000_100;
        let nonce = n.issue(t0);
        assert_eq!(n.check(Some(&nonce), t0 + 10), NonceCheck::Current);
        assert!(matches!(n.check(Some(&nonce), t0 + 300), NonceCheck::Rotate(fresh) if fresh != nonce));
        assert!(matches!(n.check(Some(&nonce), t0 + 900), NonceCheck::Refuse(_)));
        assert!(matches!(n.check(None, t0), NonceCheck::Refuse(_)));
    }

    #[test]
    fn forged_or_foreign_nonces_are_refused() {
        let a = Nonces::new(&[7; 32], Duration::from_secs(300));
        let b = Nonces::new(&[8; 32], Duration::from_secs(300));
        let t = 1_700_000_100;
        assert!(matches!(a.check(Some(&b.issue(t)), t), NonceCheck::Refuse(_)));
        assert!(matches!(a.check(Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), t), NonceCheck::Refuse(_)));
        assert!(matches!(a.check(Some("not base64!"), t), NonceCheck::Refuse(_)));
        // Replicas sharing the secret agree.
        let a2 = Nonces::new(&[7; 32], Duration::from_secs(300));
        assert_eq!(a2.check(Some(&a.issue(t)), t), NonceCheck::Current);
    }
}
