//! The set of scopes a verified token carries (`scope`, `scp`, and roles mapped from other
//! claim paths), and where in the claims they are read from.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

/// RFC 6749 `scope-token`, usable in constants.
#[doc(hidden)]
#[allow(clippy::indexing_slicing)] // `i < len` is the loop condition; evaluated at compile time.
pub const fn is_scope_token(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b == 0x21 || (b >= 0x23 && b <= 0x5B) || (b >= 0x5D && b <= 0x7E)) {
            return false;
        }
        i += 1;
    }
    true
}

/// Where scopes and roles are read from in the claims.
#[derive(Debug, Clone)]
pub(crate) struct ScopeSources {
    /// Read `scope` and `scp`.
    pub(crate) standard: bool,
    /// Further claim paths (each a list of object keys) holding a string array or a
    /// space-separated string.
    pub(crate) paths: Vec<Vec<String>>,
}

/// A further claim that carries permissions, merged into the token's [`Scopes`].
///
/// `scope` and `scp` are always read. Presets cover the common identity providers:
///
/// ```
/// use bearer_guard::{BearerGuard, ScopeSource};
///
/// let guard = BearerGuard::builder()
///     .issuer("https://sso.example.com/realms/acme")
///     .audience("notes-api")
///     .scopes_from(ScopeSource::KeycloakClientRoles("notes-api".into()))
///     .build()?;
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeSource {
    /// Keycloak realm roles: `realm_access.roles`.
    KeycloakRealmRoles,
    /// Keycloak roles of one client: `resource_access.<client>.roles`. Roles of other clients
    /// are never merged in.
    KeycloakClientRoles(String),
    /// Auth0 RBAC permissions: `permissions`.
    Auth0Permissions,
    /// Entra ID app roles: `roles`.
    EntraIdRoles,
    /// Any claim path, as object keys from the top: `["https://example.com/claims", "perms"]`.
    ClaimPath(Vec<String>),
}

impl ScopeSource {
    pub(crate) fn path(self) -> Vec<String> {
        match self {
            Self::KeycloakRealmRoles => vec!["realm_access".into(), "roles".into()],
            Self::KeycloakClientRoles(client) => vec!["resource_access".into(), client, "roles".into()],
            Self::Auth0Permissions => vec!["permissions".into()],
            Self::EntraIdRoles => vec!["roles".into()],
            Self::ClaimPath(path) => path,
        }
    }
}

impl Default for ScopeSources {
    fn default() -> Self {
        Self { standard: true, paths: Vec::new() }
    }
}

/// The scopes (and mapped roles) of the verified token, as an extractor.
///
/// ```
/// use bearer_guard::Scopes;
///
/// async fn handler(scopes: Scopes) -> String {
///     if scopes.contains("notes:write") { "writer".into() } else { "reader".into() }
/// }
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scopes(Arc<[Box<str>]>);

impl Scopes {
    pub(crate) fn from_claims(claims: &Map<String, Value>, sources: &ScopeSources) -> Self {
        let mut all: Vec<Box<str>> = Vec::new();
        if sources.standard {
            collect(claims.get("scope"), &mut all);
            collect(claims.get("scp"), &mut all);
        }
        for path in &sources.paths {
            let mut node = claims.get(path.first().map_or("", String::as_str));
            for key in path.iter().skip(1) {
                node = node.and_then(|n| n.get(key));
            }
            collect(node, &mut all);
        }
        Self::from_vec(all)
    }

    pub(crate) fn from_vec(mut all: Vec<Box<str>>) -> Self {
        all.sort_unstable();
        all.dedup();
        Self(all.into())
    }

    /// Whether the token has this scope.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| (**s).cmp(scope)).is_ok()
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }

    /// How many scopes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn collect(value: Option<&Value>, out: &mut Vec<Box<str>>) {
    match value {
        Some(Value::String(s)) => out.extend(s.split_ascii_whitespace().map(Box::from)),
        Some(Value::Array(items)) => out.extend(items.iter().filter_map(Value::as_str).map(Box::from)),
        _ => {}
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scopes(v: Value, sources: &ScopeSources) -> Scopes {
        let Value::Object(m) = v else { unreachable!() };
        Scopes::from_claims(&m, sources)
    }

    #[test]
    fn scope_and_scp_are_merged() {
        let s = scopes(json!({"scope": "b a  c", "scp": ["d", "a"]}), &ScopeSources::default());
        assert_eq!(s.iter().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert!(s.contains("c") && !s.contains("e"));
    }

    #[test]
    fn scp_as_string() {
        let s = scopes(json!({"scp": "x y"}), &ScopeSources::default());
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn wrong_types_give_no_scopes() {
        let s = scopes(json!({"scope": 5, "scp": {"a": 1}}), &ScopeSources::default());
        assert!(s.is_empty());
    }

    fn with(sources: Vec<ScopeSource>) -> ScopeSources {
        ScopeSources { standard: true, paths: sources.into_iter().map(ScopeSource::path).collect() }
    }

    #[test]
    fn keycloak_realm_roles_are_read() {
        let s = scopes(json!({"realm_access": {"roles": ["admin"]}}), &with(vec![ScopeSource::KeycloakRealmRoles]));
        assert!(s.contains("admin"));
    }

    #[test]
    fn keycloak_client_roles_are_never_merged_across_clients() {
        let claims = json!({"resource_access": {"notes": {"roles": ["editor"]}, "billing": {"roles": ["admin"]}}});
        let s = scopes(claims, &with(vec![ScopeSource::KeycloakClientRoles("notes".into())]));
        assert!(s.contains("editor"));
        assert!(!s.contains("admin"));
    }

    #[test]
    fn auth0_and_entra_presets() {
        let s = scopes(json!({"permissions": ["read:notes"]}), &with(vec![ScopeSource::Auth0Permissions]));
        assert!(s.contains("read:notes"));
        let s = scopes(json!({"roles": ["Notes.Admin"], "scp": "Notes.Read"}), &with(vec![ScopeSource::EntraIdRoles]));
        assert!(s.contains("Notes.Admin") && s.contains("Notes.Read"));
    }

    #[test]
    fn roles_are_not_read_unless_configured() {
        let s = scopes(json!({"roles": ["admin"], "permissions": ["x"]}), &ScopeSources::default());
        assert!(s.is_empty());
    }
}
