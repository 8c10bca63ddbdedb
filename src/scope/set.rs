//! What a verified token grants, read once from its claims: its OAuth [`Scopes`] (`scope`,
//! `scp`) and, kept apart, the [`Roles`] mapped from other claim paths ([`RoleSource`]).

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

/// RFC 6749 §3.3 `scope-token`: `1*( %x21 / %x23-5B / %x5D-7E )`. Usable in constants.
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

/// A role name: not empty, no control characters (C0, DEL, C1). Identity providers allow spaces
/// and any other printable character in role names. Usable in constants.
#[doc(hidden)]
#[allow(clippy::indexing_slicing)] // `i < len` / `i + 1 < len` guard every index; evaluated at compile time.
pub const fn is_role_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x20 || b == 0x7F {
            return false;
        }
        // U+0080..U+009F are encoded as C2 80..C2 9F.
        if b == 0xC2 && i + 1 < bytes.len() && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9F {
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
    /// Claim paths (each a list of object keys) holding roles.
    pub(crate) roles: Vec<Vec<String>>,
    /// Also put the roles (those that are valid scope-tokens) into the [`Scopes`]: the opt-in
    /// `dangerous_merge_roles_into_scopes`.
    pub(crate) merge_roles_into_scopes: bool,
}

impl Default for ScopeSources {
    fn default() -> Self {
        Self { standard: true, roles: Vec::new(), merge_roles_into_scopes: false }
    }
}

/// A claim that carries roles, read into the token's [`Roles`] (never into its [`Scopes`]
/// unless [`dangerous_merge_roles_into_scopes`](crate::BearerGuardBuilder::dangerous_merge_roles_into_scopes)).
///
/// Roles are granted to the user by the identity provider; OAuth scopes are what the client
/// asked for and the user consented to. A client can often ask for any scope it likes, so a
/// scope named `admin` must never pass a check meant for the role `admin`: roles have their own
/// set and their own guards ([`RequireRole`](crate::RequireRole)).
///
/// ```
/// use bearer_guard::{BearerGuard, RoleSource};
///
/// let guard = BearerGuard::builder()
///     .issuer("https://sso.example.com/realms/acme")
///     .audience("notes-api")
///     .roles_from(RoleSource::KeycloakRealmRoles)
///     .roles_from(RoleSource::KeycloakClientRoles("notes-api".into()))
///     .build()?;
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
///
/// A claim holding an array gives one role per string element; a claim holding a string gives
/// that one role. Empty names and names with control characters are ignored (logged at DEBUG).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleSource {
    /// Keycloak realm roles: `realm_access.roles`.
    KeycloakRealmRoles,
    /// Keycloak roles of one client: `resource_access.<client>.roles`. Roles of other clients
    /// are never read.
    KeycloakClientRoles(String),
    /// Auth0 RBAC permissions: `permissions` (with "Add Permissions in the Access Token" on).
    ///
    /// They are read as roles, not scopes: Auth0 lists there every permission an administrator
    /// granted the user through RBAC, whatever the client asked for, and a client cannot
    /// request them. Check them with [`RequireRole`](crate::RequireRole) (declared with
    /// [`roles!`](crate::roles)). With RBAC on, Auth0 also puts the requested *and* granted
    /// permissions in `scope`: [`RequireScope`](crate::RequireScope) on those is the stricter
    /// check (what this client was delegated, not all the user may do).
    Auth0Permissions,
    /// Entra ID app roles: `roles`.
    EntraIdRoles,
    /// Any claim path, as object keys from the top: `["https://example.com/claims", "roles"]`.
    ClaimPath(Vec<String>),
}

impl RoleSource {
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

/// The OAuth scopes of the verified token (`scope` and `scp`), as an extractor.
///
/// `scope` is split on single spaces (RFC 6749 §3.3); `scp` may be a string (split the same
/// way) or an array of strings. An entry that is not an RFC 6749 scope-token (empty, or with
/// a tab, a newline, a quote, a backslash or a non-ASCII character) counts as no scope, and is
/// logged at DEBUG. Roles are not here (see [`Roles`]) unless the guard was built with
/// [`dangerous_merge_roles_into_scopes`](crate::BearerGuardBuilder::dangerous_merge_roles_into_scopes).
///
/// ```
/// use bearer_guard::Scopes;
///
/// async fn handler(scopes: Scopes) -> String {
///     if scopes.contains("notes:write") { "writer".into() } else { "reader".into() }
/// }
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scopes(Names);

/// The roles of the verified token, read from the claims named with
/// [`roles_from`](crate::BearerGuardBuilder::roles_from), as an extractor. Empty unless the
/// guard reads roles.
///
/// ```
/// use bearer_guard::Roles;
///
/// async fn handler(roles: Roles) -> &'static str {
///     if roles.contains("admin") { "admin" } else { "user" }
/// }
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Roles(Names);

/// A sorted, deduplicated set of names.
#[derive(Clone, Default, PartialEq, Eq)]
struct Names(Arc<[Box<str>]>);

impl Names {
    fn from_vec(mut all: Vec<Box<str>>) -> Self {
        all.sort_unstable();
        all.dedup();
        Self(all.into())
    }

    fn contains(&self, name: &str) -> bool {
        self.0.binary_search_by(|s| (**s).cmp(name)).is_ok()
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }
}

macro_rules! set_methods {
    ($what:literal) => {
        #[doc = concat!("Whether the token has this ", $what, ".")]
        pub fn contains(&self, name: &str) -> bool {
            self.0.contains(name)
        }

        #[doc = concat!("The ", $what, "s, sorted.")]
        pub fn iter(&self) -> impl Iterator<Item = &str> {
            self.0.iter()
        }

        #[doc = concat!("How many ", $what, "s there are.")]
        pub fn len(&self) -> usize {
            self.0.0.len()
        }

        /// Whether there are none.
        pub fn is_empty(&self) -> bool {
            self.0.0.is_empty()
        }
    };
}

impl Scopes {
    /// The scopes of `claims`, and the roles too when merging was opted into.
    pub(crate) fn from_claims(claims: &Map<String, Value>, sources: &ScopeSources) -> Self {
        let mut all: Vec<Box<str>> = Vec::new();
        if sources.standard {
            if let Some(value) = claims.get("scope") {
                scope_tokens("scope", value, &mut all);
            }
            if let Some(value) = claims.get("scp") {
                scope_tokens("scp", value, &mut all);
            }
        }
        if sources.merge_roles_into_scopes {
            let roles = Roles::from_claims(claims, sources);
            all.extend(roles.iter().filter(|r| is_scope_token(r)).map(Box::from));
        }
        Self(Names::from_vec(all))
    }

    #[cfg(test)]
    pub(crate) fn from_vec(all: Vec<Box<str>>) -> Self {
        Self(Names::from_vec(all))
    }

    set_methods!("scope");
}

impl Roles {
    /// The roles found at the configured claim paths.
    pub(crate) fn from_claims(claims: &Map<String, Value>, sources: &ScopeSources) -> Self {
        let mut all: Vec<Box<str>> = Vec::new();
        for path in &sources.roles {
            let mut node = claims.get(path.first().map_or("", String::as_str));
            for key in path.iter().skip(1) {
                node = node.and_then(|n| n.get(key));
            }
            match node {
                Some(Value::String(s)) => push_role(s, &mut all),
                Some(Value::Array(items)) => {
                    items.iter().filter_map(Value::as_str).for_each(|s| push_role(s, &mut all))
                }
                Some(_) => tracing::debug!(path = ?path, "role claim is neither a string nor an array: no roles read"),
                None => {}
            }
        }
        Self(Names::from_vec(all))
    }

    #[cfg(test)]
    pub(crate) fn from_vec(all: Vec<Box<str>>) -> Self {
        Self(Names::from_vec(all))
    }

    set_methods!("role");
}

fn push_role(name: &str, out: &mut Vec<Box<str>>) {
    if is_role_name(name) {
        out.push(Box::from(name));
    } else {
        tracing::debug!(role = %shown(name), "not a valid role name: ignored");
    }
}

/// The valid scope-tokens of a `scope`/`scp` claim value, in order; what is not a scope-token
/// is ignored (logged at DEBUG). A string is split on single spaces (%x20) only; an array is
/// taken element by element (an element with a space is not one scope-token). Other types give
/// nothing. The one reading of the claim, for [`Scopes`] and `AccessTokenClaims` alike.
pub(crate) fn scope_tokens<T: for<'a> From<&'a str>>(claim: &str, value: &Value, out: &mut Vec<T>) {
    let mut push = |entry: &str| {
        if is_scope_token(entry) {
            out.push(T::from(entry));
        } else if !entry.is_empty() {
            tracing::debug!(claim, entry = %shown(entry), "not an RFC 6749 scope-token: counts as no scope");
        }
    };
    match value {
        Value::String(s) => s.split(' ').for_each(&mut push),
        Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(&mut push),
        _ => tracing::debug!(claim, "scope claim is neither a string nor an array: no scopes read"),
    }
}

/// An entry for a log line: escaped and cut to 64 characters.
fn shown(entry: &str) -> String {
    let mut out: String = entry.chars().take(64).flat_map(char::escape_debug).collect();
    if entry.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else { unreachable!() };
        m
    }

    fn scopes(v: Value, sources: &ScopeSources) -> Scopes {
        Scopes::from_claims(&obj(v), sources)
    }

    fn roles(v: Value, sources: &ScopeSources) -> Roles {
        Roles::from_claims(&obj(v), sources)
    }

    #[test]
    fn scope_and_scp_are_merged() {
        let s = scopes(json!({"scope": "b a c", "scp": ["d", "a"]}), &ScopeSources::default());
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

    #[test]
    fn scope_is_split_on_single_spaces_only() {
        // A tab, newline, CR or form feed is not a separator: the entry is no scope at all.
        for bad in ["notes:read\tadmin", "notes:read\nadmin", "notes:read\r\nadmin", "notes:read\x0cadmin"] {
            let s = scopes(json!({ "scope": bad }), &ScopeSources::default());
            assert!(s.is_empty(), "{bad:?} gave {s:?}");
            let s = scopes(json!({ "scp": [bad] }), &ScopeSources::default());
            assert!(s.is_empty(), "{bad:?} gave {s:?}");
        }
        // Control: the same scopes separated by a space are both granted.
        let s = scopes(json!({"scope": "notes:read admin"}), &ScopeSources::default());
        assert_eq!(s.iter().collect::<Vec<_>>(), ["admin", "notes:read"]);
        // Doubled spaces leave empty entries, which are nothing; the rest still counts.
        let s = scopes(json!({"scope": " a  b "}), &ScopeSources::default());
        assert_eq!(s.iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn entries_that_are_not_scope_tokens_count_as_no_scope() {
        let s = scopes(json!({"scope": "ok a\"b c\\d é", "scp": ["x y", "", "fine", 7]}), &ScopeSources::default());
        assert_eq!(s.iter().collect::<Vec<_>>(), ["fine", "ok"]);
    }

    fn with(sources: Vec<RoleSource>) -> ScopeSources {
        ScopeSources { roles: sources.into_iter().map(RoleSource::path).collect(), ..ScopeSources::default() }
    }

    #[test]
    fn keycloak_realm_roles_are_roles_not_scopes() {
        let claims = json!({"scope": "profile", "realm_access": {"roles": ["admin"]}});
        let sources = with(vec![RoleSource::KeycloakRealmRoles]);
        assert!(roles(claims.clone(), &sources).contains("admin"));
        assert!(!scopes(claims, &sources).contains("admin"));
    }

    #[test]
    fn merging_roles_into_scopes_is_an_opt_in() {
        let claims = json!({"scope": "profile", "realm_access": {"roles": ["admin", "two words"]}});
        let mut sources = with(vec![RoleSource::KeycloakRealmRoles]);
        sources.merge_roles_into_scopes = true;
        let s = scopes(claims.clone(), &sources);
        assert_eq!(s.iter().collect::<Vec<_>>(), ["admin", "profile"]);
        assert_eq!(roles(claims, &sources).iter().collect::<Vec<_>>(), ["admin", "two words"]);
    }

    #[test]
    fn keycloak_client_roles_are_never_read_across_clients() {
        let claims = json!({"resource_access": {"notes": {"roles": ["editor"]}, "billing": {"roles": ["admin"]}}});
        let r = roles(claims, &with(vec![RoleSource::KeycloakClientRoles("notes".into())]));
        assert!(r.contains("editor"));
        assert!(!r.contains("admin"));
    }

    #[test]
    fn auth0_and_entra_presets() {
        let r = roles(json!({"permissions": ["read:notes"]}), &with(vec![RoleSource::Auth0Permissions]));
        assert!(r.contains("read:notes"));
        let claims = json!({"roles": ["Notes.Admin"], "scp": "Notes.Read"});
        let sources = with(vec![RoleSource::EntraIdRoles]);
        assert!(roles(claims.clone(), &sources).contains("Notes.Admin"));
        let s = scopes(claims, &sources);
        assert!(s.contains("Notes.Read") && !s.contains("Notes.Admin"));
    }

    #[test]
    fn roles_are_not_read_unless_configured() {
        let claims = json!({"roles": ["admin"], "permissions": ["x"], "realm_access": {"roles": ["y"]}});
        assert!(roles(claims.clone(), &ScopeSources::default()).is_empty());
        assert!(scopes(claims, &ScopeSources::default()).is_empty());
    }

    #[test]
    fn role_names_with_control_characters_are_ignored() {
        let claims = json!({"roles": ["admin\tx", "", "ok role", "a\u{85}b", "Notes.Admin"]});
        let r = roles(claims, &with(vec![RoleSource::EntraIdRoles]));
        assert_eq!(r.iter().collect::<Vec<_>>(), ["Notes.Admin", "ok role"]);
        // A string claim is one role, not a list.
        let r = roles(json!({"roles": "admin editor"}), &with(vec![RoleSource::EntraIdRoles]));
        assert_eq!(r.iter().collect::<Vec<_>>(), ["admin editor"]);
    }

    #[test]
    fn role_name_rule() {
        assert!(is_role_name("admin") && is_role_name("Notes Admin") && is_role_name("rôle"));
        assert!(!is_role_name("") && !is_role_name("a\nb") && !is_role_name("a\u{7f}") && !is_role_name("a\u{9f}"));
    }
}
