//! The local copy of the revocation list: what every request is checked against, in memory,
//! with no I/O. Entries expire by themselves; the entry count is bounded and a full list
//! refuses new entries rather than forgetting live ones.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};

use super::entry::{RevocationEntry, Target};

/// A subject or session cutoff: tokens issued before `before` are revoked, until `until`.
#[derive(Debug, Clone, Copy)]
struct Cutoff {
    before: f64,
    until: f64,
}

#[derive(Debug, Default)]
struct IssuerEntries {
    jti: HashMap<Box<str>, f64>,
    sub: HashMap<Box<str>, Cutoff>,
    sid: HashMap<Box<str>, Cutoff>,
}

impl IssuerEntries {
    fn len(&self) -> usize {
        self.jti.len() + self.sub.len() + self.sid.len()
    }

    fn sweep(&mut self, now: f64) {
        self.jti.retain(|_, until| *until > now);
        self.sub.retain(|_, c| c.until > now);
        self.sid.retain(|_, c| c.until > now);
    }
}

/// What a check looks at in a token.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Identity<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) jti: Option<&'a str>,
    pub(crate) sub: Option<&'a str>,
    pub(crate) sid: Option<&'a str>,
    pub(crate) iat: Option<f64>,
}

/// Why an entry was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsertError {
    Full,
}

/// Generations are unique across every list in the process, so a token's memo (the
/// generation it was last found not revoked at) can't match another list's.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug)]
pub(crate) struct Denylist {
    table: RwLock<HashMap<Box<str>, IssuerEntries>>,
    /// Changes after every insert (never on expiry: that only un-revokes). A token found not
    /// revoked at generation `g` stays not revoked while the generation is `g`.
    generation: AtomicU64,
    /// Entries held, expired ones not yet swept included; zero lets checks skip the lock.
    entries: AtomicUsize,
    max_entries: usize,
}

impl Denylist {
    pub(crate) fn new(max_entries: usize) -> Self {
        Self {
            table: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(next_generation()),
            entries: AtomicUsize::new(0),
            max_entries,
        }
    }

    /// The current generation. Read it *before* a lookup whose "not revoked" verdict is to be
    /// memoised under it: an insert bumps it only after the entry is visible.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Adds or widens an entry. An entry already past its `until` is ignored.
    pub(crate) fn insert(&self, entry: &RevocationEntry, now: f64) -> Result<(), InsertError> {
        if entry.until <= now || !entry.until.is_finite() {
            return Ok(());
        }
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let exists = table.get(entry.issuer.as_str()).is_some_and(|e| match &entry.target {
            Target::Token { jti } => e.jti.contains_key(jti.as_str()),
            Target::Subject { sub, .. } => e.sub.contains_key(sub.as_str()),
            Target::Session { sid, .. } => e.sid.contains_key(sid.as_str()),
        });
        if !exists && self.entries.load(Ordering::Relaxed) >= self.max_entries {
            let total = sweep(&mut table, now);
            self.entries.store(total, Ordering::Relaxed);
            if total >= self.max_entries {
                return Err(InsertError::Full);
            }
        }
        let scoped = table.entry(Box::from(entry.issuer.as_str())).or_default();
        let merge = |old: Option<&Cutoff>, before: f64| Cutoff {
            before: old.map_or(before, |o| o.before.max(before)),
            until: old.map_or(entry.until, |o| o.until.max(entry.until)),
        };
        match &entry.target {
            Target::Token { jti } => {
                let until = scoped.jti.get(jti.as_str()).map_or(entry.until, |u| u.max(entry.until));
                scoped.jti.insert(Box::from(jti.as_str()), until);
            }
            Target::Subject { sub, before } => {
                let cutoff = merge(scoped.sub.get(sub.as_str()), *before);
                scoped.sub.insert(Box::from(sub.as_str()), cutoff);
            }
            Target::Session { sid, before } => {
                let cutoff = merge(scoped.sid.get(sid.as_str()), *before);
                scoped.sid.insert(Box::from(sid.as_str()), cutoff);
            }
        }
        if !exists {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
        drop(table);
        self.generation.store(next_generation(), Ordering::Release);
        Ok(())
    }

    /// Drops expired entries; returns how many are left.
    pub(crate) fn sweep(&self, now: f64) -> usize {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let total = sweep(&mut table, now);
        self.entries.store(total, Ordering::Relaxed);
        total
    }

    /// Whether a token with this identity is revoked at `now`. A token without `iat` counts
    /// as issued before any subject or session cutoff (its age can't be told).
    pub(crate) fn is_revoked(&self, id: &Identity<'_>, now: f64) -> bool {
        if self.entries.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        let Some(scoped) = table.get(id.issuer) else { return false };
        let cut = |c: Option<&Cutoff>| c.is_some_and(|c| c.until > now && id.iat.is_none_or(|iat| iat < c.before));
        id.jti.is_some_and(|jti| scoped.jti.get(jti).is_some_and(|until| *until > now))
            || id.sub.is_some_and(|sub| cut(scoped.sub.get(sub)))
            || id.sid.is_some_and(|sid| cut(scoped.sid.get(sid)))
    }
}

fn sweep(table: &mut HashMap<Box<str>, IssuerEntries>, now: f64) -> usize {
    table.values_mut().for_each(|e| e.sweep(now));
    table.retain(|_, e| e.len() > 0);
    table.values().map(IssuerEntries::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jti(iss: &str, jti: &str, until: f64) -> RevocationEntry {
        RevocationEntry { issuer: iss.into(), target: Target::Token { jti: jti.into() }, until }
    }

    fn sub(iss: &str, sub: &str, before: f64, until: f64) -> RevocationEntry {
        RevocationEntry { issuer: iss.into(), target: Target::Subject { sub: sub.into(), before }, until }
    }

    fn id<'a>(jti: Option<&'a str>, sub: Option<&'a str>, iat: Option<f64>) -> Identity<'a> {
        Identity { issuer: "i", jti, sub, sid: None, iat }
    }

    #[test]
    fn a_jti_is_revoked_until_its_expiry_and_only_for_its_issuer() {
        let d = Denylist::new(10);
        d.insert(&jti("i", "a", 200.0), 100.0).unwrap();
        assert!(d.is_revoked(&id(Some("a"), None, None), 150.0));
        assert!(!d.is_revoked(&id(Some("b"), None, None), 150.0));
        assert!(!d.is_revoked(&Identity { issuer: "other", jti: Some("a"), ..Identity::default() }, 150.0));
        assert!(!d.is_revoked(&id(Some("a"), None, None), 200.0));
    }

    #[test]
    fn a_subject_cutoff_revokes_tokens_issued_before_it_only() {
        let d = Denylist::new(10);
        d.insert(&sub("i", "alice", 100.0, 1000.0), 100.0).unwrap();
        assert!(d.is_revoked(&id(None, Some("alice"), Some(99.0)), 150.0));
        assert!(!d.is_revoked(&id(None, Some("alice"), Some(100.0)), 150.0));
        assert!(!d.is_revoked(&id(None, Some("bob"), Some(99.0)), 150.0));
        assert!(d.is_revoked(&id(None, Some("alice"), None), 150.0), "no iat: revoked");
    }

    #[test]
    fn a_later_cutoff_widens_the_entry() {
        let d = Denylist::new(10);
        d.insert(&sub("i", "alice", 100.0, 1000.0), 0.0).unwrap();
        d.insert(&sub("i", "alice", 50.0, 500.0), 0.0).unwrap();
        assert!(d.is_revoked(&id(None, Some("alice"), Some(99.0)), 900.0));
        d.insert(&sub("i", "alice", 200.0, 1000.0), 0.0).unwrap();
        assert!(d.is_revoked(&id(None, Some("alice"), Some(150.0)), 900.0));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn a_full_list_refuses_new_entries_but_not_updates_and_frees_expired_ones() {
        let d = Denylist::new(2);
        d.insert(&jti("i", "a", 200.0), 0.0).unwrap();
        d.insert(&jti("i", "b", 300.0), 0.0).unwrap();
        assert_eq!(d.insert(&jti("i", "c", 300.0), 0.0), Err(InsertError::Full));
        d.insert(&jti("i", "a", 400.0), 0.0).unwrap();
        assert!(d.is_revoked(&id(Some("a"), None, None), 350.0));
        assert_eq!(d.insert(&jti("i", "c", 500.0), 450.0), Ok(()), "a and b have expired");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn every_insert_changes_the_generation_and_lists_never_share_one() {
        let (d, e) = (Denylist::new(10), Denylist::new(10));
        let g0 = d.generation();
        assert_ne!(g0, e.generation());
        d.insert(&jti("i", "a", 200.0), 0.0).unwrap();
        let g1 = d.generation();
        assert_ne!(g0, g1);
        d.insert(&jti("i", "a", 300.0), 0.0).unwrap();
        assert_ne!(g1, d.generation(), "a widened entry too");
        let g2 = d.generation();
        d.sweep(1000.0);
        assert_eq!(g2, d.generation(), "expiry only un-revokes: memos stay valid");
    }

    #[test]
    fn expired_entries_are_swept() {
        let d = Denylist::new(10);
        d.insert(&jti("i", "a", 200.0), 0.0).unwrap();
        d.insert(&sub("i", "s", 10.0, 300.0), 0.0).unwrap();
        assert_eq!(d.sweep(250.0), 1);
        assert_eq!(d.sweep(300.0), 0);
        d.insert(&jti("i", "b", 100.0), 150.0).unwrap();
        assert_eq!(d.len(), 0, "an entry already expired is not kept");
    }
}
