//! The scopes a guard's routes require, collected so `scopes_supported` needs no repetition.

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock};

/// Scopes declared when layers are built (they go into `scopes_supported`), and scopes seen
/// in scope checks at run time (reported by `undeclared_scopes` when the metadata lacks them).
#[derive(Debug, Default)]
pub(crate) struct ScopeLog {
    declared: RwLock<BTreeSet<Arc<str>>>,
    used: RwLock<BTreeSet<Arc<str>>>,
}

impl ScopeLog {
    /// Scopes of a layer built from the guard: listed in `scopes_supported`.
    pub(crate) fn declare(&self, scopes: &[Arc<str>]) {
        let mut declared = self.declared.write().unwrap_or_else(PoisonError::into_inner);
        declared.extend(scopes.iter().cloned());
    }

    /// Scopes a request was checked against. Takes the write lock only the first time a scope
    /// is seen.
    pub(crate) fn note_used<S: AsRef<str>>(&self, scopes: &[S]) {
        let known = {
            let used = self.used.read().unwrap_or_else(PoisonError::into_inner);
            scopes.iter().all(|s| used.contains(s.as_ref()))
        };
        if !known {
            let mut used = self.used.write().unwrap_or_else(PoisonError::into_inner);
            used.extend(scopes.iter().map(|s| Arc::from(s.as_ref())));
        }
    }

    /// `scopes_supported`: the configured scopes and the declared ones, sorted, no repeats.
    pub(crate) fn supported(&self, configured: &[Arc<str>]) -> Vec<Arc<str>> {
        let declared = self.declared.read().unwrap_or_else(PoisonError::into_inner);
        let all: BTreeSet<Arc<str>> = configured.iter().cloned().chain(declared.iter().cloned()).collect();
        all.into_iter().collect()
    }

    /// Scopes used in checks but missing from `scopes_supported`.
    pub(crate) fn undeclared(&self, configured: &[Arc<str>]) -> Vec<String> {
        let supported = self.supported(configured);
        let used = self.used.read().unwrap_or_else(PoisonError::into_inner);
        used.iter().filter(|s| !supported.contains(s)).map(|s| s.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arcs(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|s| Arc::from(*s)).collect()
    }

    #[test]
    fn supported_is_sorted_without_repeats() {
        let log = ScopeLog::default();
        log.declare(&arcs(&["notes:write", "notes:read"]));
        log.declare(&arcs(&["notes:read"]));
        let supported = log.supported(&arcs(&["admin", "notes:write"]));
        assert_eq!(supported, arcs(&["admin", "notes:read", "notes:write"]));
    }

    #[test]
    fn used_scopes_missing_from_the_metadata_are_reported() {
        let log = ScopeLog::default();
        log.declare(&arcs(&["notes:read"]));
        log.note_used(&["notes:read"]);
        assert!(log.undeclared(&[]).is_empty());
        log.note_used(&["notes:write", "admin"]);
        log.note_used(&["notes:write"]);
        assert_eq!(log.undeclared(&[]), ["admin", "notes:write"]);
        assert_eq!(log.undeclared(&arcs(&["admin"])), ["notes:write"]);
    }
}
