//! The key set: JWKs imported once into `DecodingKey`s, tied to the algorithms they may verify,
//! and where they come from (static configuration or a cached remote JWKS).

pub(crate) mod cache;
pub(crate) mod discovery;
mod error;
pub(crate) mod fetch;
pub(crate) mod jwk;
mod static_key;
mod strength;

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

pub use cache::{KeyCachePolicy, KeySetStats};
pub use error::{FetchAttempts, KeyError, PrefetchError};
pub use static_key::StaticKey;

/// Every algorithm this crate knows, with its JOSE name (RFC 7518 §3.1, RFC 8037 §3.1): the one
/// list that [`AlgSet`]'s bits, [`alg_name`] and the test issuer's key types derive from.
const ALGORITHMS: [(Algorithm, &str); 12] = [
    (Algorithm::HS256, "HS256"),
    (Algorithm::HS384, "HS384"),
    (Algorithm::HS512, "HS512"),
    (Algorithm::ES256, "ES256"),
    (Algorithm::ES384, "ES384"),
    (Algorithm::RS256, "RS256"),
    (Algorithm::RS384, "RS384"),
    (Algorithm::RS512, "RS512"),
    (Algorithm::PS256, "PS256"),
    (Algorithm::PS384, "PS384"),
    (Algorithm::PS512, "PS512"),
    (Algorithm::EdDSA, "EdDSA"),
];

/// The JOSE `alg` name of `alg` (`"unknown"` for an algorithm newer than this crate).
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    ALGORITHMS.iter().find(|(a, _)| *a == alg).map_or("unknown", |(_, name)| name)
}

/// A set of algorithms, as a bit set over jsonwebtoken's [`Algorithm`] (bit *i* is
/// `ALGORITHMS[i]`).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AlgSet(u16);

impl AlgSet {
    pub(crate) const HMAC: Self = Self(0b111);
    pub(crate) const ES256: Self = Self(1 << 3);
    pub(crate) const ES384: Self = Self(1 << 4);
    /// RS256/384/512 and PS256/384/512: the algorithms of an RSA key.
    pub(crate) const RSA: Self = Self(0b111111 << 5);
    pub(crate) const EDDSA: Self = Self(1 << 11);
    pub(crate) const ASYMMETRIC: Self = Self(Self::ES256.0 | Self::ES384.0 | Self::RSA.0 | Self::EDDSA.0);

    fn bit(alg: Algorithm) -> u16 {
        let index = ALGORITHMS.iter().position(|(a, _)| *a == alg).unwrap_or(15);
        1 << index
    }

    pub(crate) fn of(algs: impl IntoIterator<Item = Algorithm>) -> Self {
        Self(algs.into_iter().fold(0, |acc, a| acc | Self::bit(a)))
    }

    pub(crate) fn contains(self, alg: Algorithm) -> bool {
        self.0 & Self::bit(alg) != 0
    }

    pub(crate) fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub(crate) fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The algorithms in the set, in `ALGORITHMS` order.
    pub(crate) fn iter(self) -> impl Iterator<Item = Algorithm> {
        ALGORITHMS.into_iter().map(|(a, _)| a).filter(move |a| self.contains(*a))
    }
}

impl fmt::Debug for AlgSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// One imported key and the algorithms it may verify.
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<Arc<str>>,
    pub(crate) algorithms: AlgSet,
    pub(crate) key: DecodingKey,
    /// Identifies the key material itself (not its `kid`): a digest of the JWK's public
    /// members. A verdict cached for one key is never reused for another key under the same
    /// `kid` (a rotation that reuses kids, or kid-less keys).
    pub(crate) fingerprint: KeyFingerprint,
}

/// A digest of a key's public material.
pub(crate) type KeyFingerprint = [u8; 16];

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The outcome of looking a token's key up in a set.
#[derive(Debug)]
pub(crate) enum Selection<'a> {
    /// The keys to try, in set order: every key with the token's `kid` that may verify `alg`
    /// (a set can hold several during a rotation), or, without `kid`, the only key fit for `alg`.
    Found(Candidates<'a>),
    /// No key with that `kid` (or, without `kid`, no key for the algorithm): a refetch may help.
    Unknown,
    /// A key with that `kid` exists but may not verify this algorithm.
    AlgorithmMismatch,
    /// No `kid` and several keys fit.
    Ambiguous,
}

/// The keys a token may be verified with; never more than [`cache::MAX_KEYS_LIMIT`], so a
/// set full of duplicate `kid`s bounds the signature checks one token costs.
#[derive(Debug, Clone)]
pub(crate) struct Candidates<'a> {
    keys: std::slice::Iter<'a, VerifyingKey>,
    kid: Option<&'a str>,
    alg: Algorithm,
    left: usize,
}

impl<'a> Iterator for Candidates<'a> {
    type Item = &'a VerifyingKey;

    fn next(&mut self) -> Option<Self::Item> {
        while self.left > 0 {
            let key = self.keys.next()?;
            let named = self.kid.is_none_or(|kid| key.kid.as_deref() == Some(kid));
            if named && key.algorithms.contains(self.alg) {
                self.left -= 1;
                return Some(key);
            }
        }
        None
    }
}

/// The keys of one issuer, as of one fetch (or the static configuration).
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    pub(crate) fn new(keys: Vec<VerifyingKey>) -> Self {
        Self { keys }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Picks the keys for a token: those with its `kid`, or the only key fit for `alg` when
    /// there is no `kid`.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        let candidates = |kid| Candidates { keys: self.keys.iter(), kid, alg, left: cache::MAX_KEYS_LIMIT };
        match kid {
            Some(kid) => {
                // The `kid` as the set holds it, so the candidates borrow only the set.
                let Some(named) = self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) else {
                    return Selection::Unknown;
                };
                let candidates = candidates(named.kid.as_deref());
                if candidates.clone().next().is_none() {
                    return Selection::AlgorithmMismatch;
                }
                Selection::Found(candidates)
            }
            None => {
                let mut fit = candidates(None);
                match (fit.next(), fit.next()) {
                    (Some(_), None) => Selection::Found(candidates(None)),
                    (Some(_), Some(_)) => Selection::Ambiguous,
                    (None, _) => Selection::Unknown,
                }
            }
        }
    }

    /// Whether the key with this material is still in the set.
    pub(crate) fn contains_key(&self, fingerprint: &KeyFingerprint) -> bool {
        self.keys.iter().any(|k| k.fingerprint == *fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: Option<&str>, algs: AlgSet) -> VerifyingKey {
        VerifyingKey {
            kid: kid.map(Arc::from),
            algorithms: algs,
            key: DecodingKey::from_secret(b"x"),
            fingerprint: [0; 16],
        }
    }

    #[test]
    fn algset_membership() {
        let s = AlgSet::of([Algorithm::RS256, Algorithm::EdDSA]);
        assert!(s.contains(Algorithm::RS256) && s.contains(Algorithm::EdDSA));
        assert!(!s.contains(Algorithm::HS256));
        assert!(AlgSet::RSA.contains(Algorithm::PS512));
        assert!(!AlgSet::ASYMMETRIC.contains(Algorithm::HS512));
        assert_eq!(AlgSet::of(ALGORITHMS.map(|(a, _)| a)), AlgSet::HMAC.union(AlgSet::ASYMMETRIC));
        assert_eq!(
            AlgSet::RSA.iter().map(alg_name).collect::<Vec<_>>(),
            ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
        );
    }

    #[test]
    fn algorithm_names_are_the_jose_names_jsonwebtoken_writes() {
        for (alg, name) in ALGORITHMS {
            assert_eq!(alg_name(alg), name);
            assert_eq!(serde_json::to_value(alg).unwrap(), name, "{alg:?}");
            assert_eq!(name.parse::<Algorithm>().unwrap(), alg);
        }
        assert_eq!(AlgSet::of(ALGORITHMS.map(|(a, _)| a)).iter().count(), ALGORITHMS.len());
    }

    fn found(selection: Selection<'_>) -> Vec<(Option<&str>, AlgSet)> {
        match selection {
            Selection::Found(keys) => keys.map(|k| (k.kid.as_deref(), k.algorithms)).collect(),
            other => panic!("expected keys, got {other:?}"),
        }
    }

    #[test]
    fn selects_by_kid_and_checks_the_algorithm() {
        let set = KeySet::new(vec![key(Some("a"), AlgSet::RSA), key(Some("b"), AlgSet::ES256)]);
        assert_eq!(found(set.select(Some("a"), Algorithm::RS256)), [(Some("a"), AlgSet::RSA)]);
        assert!(matches!(set.select(Some("a"), Algorithm::ES256), Selection::AlgorithmMismatch));
        assert!(matches!(set.select(Some("c"), Algorithm::RS256), Selection::Unknown));
    }

    #[test]
    fn without_kid_only_a_single_fitting_key_is_used() {
        let set = KeySet::new(vec![key(Some("a"), AlgSet::RSA), key(Some("b"), AlgSet::ES256)]);
        assert_eq!(found(set.select(None, Algorithm::ES256)), [(Some("b"), AlgSet::ES256)]);
        let two = KeySet::new(vec![key(Some("a"), AlgSet::RSA), key(Some("b"), AlgSet::RSA)]);
        assert!(matches!(two.select(None, Algorithm::RS256), Selection::Ambiguous));
        assert!(matches!(two.select(None, Algorithm::EdDSA), Selection::Unknown));
    }

    /// Issue 11 item 6: every key under a duplicated `kid` that fits the algorithm is a
    /// candidate (before, only the first key with the `kid` was).
    #[test]
    fn duplicate_kids_yield_every_fitting_key() {
        let set = KeySet::new(vec![
            key(Some("d"), AlgSet::ES256),
            key(Some("d"), AlgSet::RSA),
            key(Some("d"), AlgSet::RSA),
            key(Some("e"), AlgSet::RSA),
        ]);
        assert_eq!(
            found(set.select(Some("d"), Algorithm::RS256)),
            [(Some("d"), AlgSet::RSA), (Some("d"), AlgSet::RSA)]
        );
        assert_eq!(found(set.select(Some("d"), Algorithm::ES256)), [(Some("d"), AlgSet::ES256)]);
        assert!(matches!(set.select(Some("d"), Algorithm::EdDSA), Selection::AlgorithmMismatch));
    }

    #[test]
    fn candidates_are_capped() {
        let set = KeySet::new((0..100).map(|_| key(Some("d"), AlgSet::RSA)).collect());
        match set.select(Some("d"), Algorithm::RS256) {
            Selection::Found(keys) => assert_eq!(keys.count(), cache::MAX_KEYS_LIMIT),
            other => panic!("{other:?}"),
        }
    }
}
