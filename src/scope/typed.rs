//! Typed guards: each scope or role is declared once as a type, and handlers ask for it in their
//! signature, so a misspelled name is a compile error, not a silent 403. A scope type cannot be
//! used where a role is needed, nor the other way round.

use std::fmt;
use std::marker::PhantomData;

#[cfg(feature = "axum")]
use axum_core::extract::FromRequestParts;
#[cfg(feature = "axum")]
use http::request::Parts;

use crate::error::ScopeMatch;
#[cfg(feature = "axum")]
use crate::response::Refusal;
use crate::scope::layer::{Kind, RequireRoleLayer, RequireScopeLayer, Requirement};
#[cfg(feature = "axum")]
use crate::scope::layer::{log_refusal, refusal};
use crate::scope::set::{Roles, Scopes};
#[cfg(feature = "axum")]
use crate::verified::verified_token;

/// An OAuth scope declared as a type. Use [`scopes!`](crate::scopes) to declare them.
pub trait Scope: Send + Sync + 'static {
    /// The scope's name as it appears in tokens.
    const NAME: &'static str;
}

/// A role declared as a type. Use [`roles!`](crate::roles) to declare them.
pub trait Role: Send + Sync + 'static {
    /// The role's name as it appears in tokens.
    const NAME: &'static str;
}

/// What a route needs of the token's scopes: one scope, all of several, or any of several.
pub trait ScopeRequirement: Send + Sync + 'static {
    /// The scopes involved, in declaration order; never empty.
    const NAMES: &'static [&'static str];
    /// Whether all of [`NAMES`](Self::NAMES) are needed or any one is enough.
    const MATCH: ScopeMatch;

    /// Whether `scopes` meets the requirement.
    fn is_met(scopes: &Scopes) -> bool {
        match Self::MATCH {
            ScopeMatch::All => Self::NAMES.iter().all(|s| scopes.contains(s)),
            ScopeMatch::Any => Self::NAMES.iter().any(|s| scopes.contains(s)),
        }
    }
}

/// What a route needs of the token's roles: one role, all of several, or any of several.
pub trait RoleRequirement: Send + Sync + 'static {
    /// The roles involved, in declaration order; never empty.
    const NAMES: &'static [&'static str];
    /// Whether all of [`NAMES`](Self::NAMES) are needed or any one is enough.
    const MATCH: ScopeMatch;

    /// Whether `roles` meets the requirement.
    fn is_met(roles: &Roles) -> bool {
        match Self::MATCH {
            ScopeMatch::All => Self::NAMES.iter().all(|s| roles.contains(s)),
            ScopeMatch::Any => Self::NAMES.iter().any(|s| roles.contains(s)),
        }
    }
}

impl<S: Scope> ScopeRequirement for S {
    const NAMES: &'static [&'static str] = &[S::NAME];
    const MATCH: ScopeMatch = ScopeMatch::All;
}

impl<R: Role> RoleRequirement for R {
    const NAMES: &'static [&'static str] = &[R::NAME];
    const MATCH: ScopeMatch = ScopeMatch::All;
}

/// All of the scopes (or roles) in the tuple `T` are needed: `RequireScope<AllOf<(A, B)>>`,
/// `RequireRole<AllOf<(A, B)>>`. A bare tuple, `RequireScope<(A, B)>`, means the same.
#[derive(Debug)]
pub struct AllOf<T>(PhantomData<fn() -> T>);

/// Any one of the scopes (or roles) in the tuple `T` is enough: `RequireScope<AnyOf<(A, B)>>`,
/// `RequireRole<AnyOf<(A, B)>>`.
#[derive(Debug)]
pub struct AnyOf<T>(PhantomData<fn() -> T>);

macro_rules! tuple_requirements {
    ($trait:ident, $requirement:ident; $($s:ident),+) => {
        impl<$($s: $trait),+> $requirement for ($($s,)+) {
            const NAMES: &'static [&'static str] = &[$($s::NAME),+];
            const MATCH: ScopeMatch = ScopeMatch::All;
        }
        impl<$($s: $trait),+> $requirement for AllOf<($($s,)+)> {
            const NAMES: &'static [&'static str] = &[$($s::NAME),+];
            const MATCH: ScopeMatch = ScopeMatch::All;
        }
        impl<$($s: $trait),+> $requirement for AnyOf<($($s,)+)> {
            const NAMES: &'static [&'static str] = &[$($s::NAME),+];
            const MATCH: ScopeMatch = ScopeMatch::Any;
        }
    };
}

macro_rules! all_tuples {
    ($trait:ident, $requirement:ident) => {
        tuple_requirements!($trait, $requirement; A);
        tuple_requirements!($trait, $requirement; A, B);
        tuple_requirements!($trait, $requirement; A, B, C);
        tuple_requirements!($trait, $requirement; A, B, C, D);
        tuple_requirements!($trait, $requirement; A, B, C, D, E);
        tuple_requirements!($trait, $requirement; A, B, C, D, E, F);
        tuple_requirements!($trait, $requirement; A, B, C, D, E, F, G);
        tuple_requirements!($trait, $requirement; A, B, C, D, E, F, G, H);
    };
}

all_tuples!(Scope, ScopeRequirement);
all_tuples!(Role, RoleRequirement);

/// Declares OAuth scopes as types, one per line, checked at compile time to be valid RFC 6749
/// scope-tokens.
///
/// ```
/// bearer_guard::scopes! {
///     /// Read notes.
///     pub struct NotesRead = "notes:read";
///     pub struct NotesWrite = "notes:write";
/// }
/// use bearer_guard::Scope;
/// assert_eq!(NotesWrite::NAME, "notes:write");
/// ```
///
/// A scope with a space or a quote does not compile:
///
/// ```compile_fail
/// bearer_guard::scopes! { pub struct Bad = "notes read"; }
/// ```
#[macro_export]
macro_rules! scopes {
    ($($(#[$meta:meta])* $vis:vis struct $name:ident = $value:literal;)+) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, Default)]
            $vis struct $name;
            impl $crate::Scope for $name {
                const NAME: &'static str = $value;
            }
            const _: () = assert!($crate::__private::is_scope_token($value), concat!("not a valid scope token: ", $value));
        )+
    };
}

/// Declares roles as types, one per line, checked at compile time to be role names (not
/// empty, no control characters; spaces are allowed, as identity providers allow them).
///
/// ```
/// bearer_guard::roles! {
///     /// May delete anything.
///     pub struct Admin = "admin";
///     pub struct NotesEditor = "Notes Editor";
/// }
/// use bearer_guard::Role;
/// assert_eq!(NotesEditor::NAME, "Notes Editor");
/// ```
///
/// An empty name, or one with a control character, does not compile:
///
/// ```compile_fail
/// bearer_guard::roles! { pub struct Bad = "admin\t"; }
/// ```
///
/// A role is not a scope: a role type does not fit [`RequireScope`](crate::RequireScope).
///
/// ```compile_fail
/// bearer_guard::roles! { pub struct Admin = "admin"; }
/// async fn purge(_: bearer_guard::RequireScope<Admin>) {}
/// ```
#[macro_export]
macro_rules! roles {
    ($($(#[$meta:meta])* $vis:vis struct $name:ident = $value:literal;)+) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, Default)]
            $vis struct $name;
            impl $crate::Role for $name {
                const NAME: &'static str = $value;
            }
            const _: () = assert!($crate::__private::is_role_name($value), concat!("not a valid role name: ", $value));
        )+
    };
}

/// An extractor that refuses the request with `403 insufficient_scope` unless the token's
/// OAuth scopes meet `R`.
///
/// ```
/// use axum::{Router, routing::post};
/// use bearer_guard::{AnyOf, RequireScope};
///
/// bearer_guard::scopes! {
///     pub struct NotesWrite = "notes:write";
///     pub struct NotesAdmin = "notes:admin";
/// }
///
/// async fn create(_: RequireScope<NotesWrite>) -> &'static str { "created" }
/// async fn purge(_: RequireScope<AnyOf<(NotesAdmin, NotesWrite)>>) -> &'static str { "purged" }
///
/// let app: Router = Router::new().route("/notes", post(create)).route("/purge", post(purge));
/// ```
pub struct RequireScope<R: ScopeRequirement>(PhantomData<fn() -> R>);

/// An extractor that refuses the request with `403 insufficient_scope` (without a `scope`
/// attribute) unless the token's roles meet `R`. Roles are read from the claims named with
/// [`roles_from`](crate::BearerGuardBuilder::roles_from); an OAuth scope of the same name never
/// counts.
///
/// ```
/// use axum::{Router, routing::delete};
/// use bearer_guard::{AnyOf, BearerGuard, RequireRole, RoleSource};
///
/// bearer_guard::roles! {
///     pub struct Admin = "admin";
///     pub struct Moderator = "moderator";
/// }
///
/// async fn purge(_: RequireRole<Admin>) -> &'static str { "purged" }
/// async fn hide(_: RequireRole<AnyOf<(Admin, Moderator)>>) -> &'static str { "hidden" }
///
/// let guard = BearerGuard::builder()
///     .issuer("https://sso.example.com/realms/acme")
///     .audience("notes-api")
///     .roles_from(RoleSource::KeycloakRealmRoles)
///     .build()?;
/// let app: Router = Router::new()
///     .route("/notes", delete(purge))
///     .route("/notes/hide", delete(hide))
///     .route_layer(guard.layer());
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
pub struct RequireRole<R: RoleRequirement>(PhantomData<fn() -> R>);

impl<R: ScopeRequirement> RequireScope<R> {
    /// The same requirement as a route-level layer (no `?` needed: the names were checked at
    /// compile time).
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use bearer_guard::RequireScope;
    ///
    /// bearer_guard::scopes! { pub struct NotesRead = "notes:read"; }
    /// let app: Router = Router::new().route("/notes", get(|| async { "[]" }).route_layer(RequireScope::<NotesRead>::layer()));
    /// ```
    pub fn layer() -> RequireScopeLayer {
        RequireScopeLayer { requirement: Requirement::typed(Kind::Scope, R::NAMES, R::MATCH) }
    }
}

impl<R: ScopeRequirement> RequireScope<R> {
    #[cfg(feature = "tonic")]
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

impl<R: RoleRequirement> RequireRole<R> {
    #[cfg(feature = "tonic")]
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

impl<R: RoleRequirement> RequireRole<R> {
    /// The same requirement as a route-level layer (no `?` needed: the names were checked at
    /// compile time).
    pub fn layer() -> RequireRoleLayer {
        RequireRoleLayer { requirement: Requirement::typed(Kind::Role, R::NAMES, R::MATCH) }
    }
}

impl<R: ScopeRequirement> fmt::Debug for RequireScope<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireScope").field(&R::NAMES).field(&R::MATCH).finish()
    }
}

impl<R: RoleRequirement> fmt::Debug for RequireRole<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireRole").field(&R::NAMES).field(&R::MATCH).finish()
    }
}

impl<R: ScopeRequirement> Clone for RequireScope<R> {
    fn clone(&self) -> Self {
        Self(PhantomData)
    }
}

impl<R: RoleRequirement> Clone for RequireRole<R> {
    fn clone(&self) -> Self {
        Self(PhantomData)
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync, R: ScopeRequirement> FromRequestParts<S> for RequireScope<R> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (token, state) = verified_token(parts)?;
        state.scope_log.note_used(R::NAMES);
        if R::is_met(token.scopes()) {
            Ok(Self(PhantomData))
        } else {
            log_refusal(token, Kind::Scope, R::NAMES, R::MATCH);
            Err(state.refuse(refusal(Kind::Scope, R::NAMES, R::MATCH)))
        }
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync, R: RoleRequirement> FromRequestParts<S> for RequireRole<R> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (token, state) = verified_token(parts)?;
        if R::is_met(token.roles()) {
            Ok(Self(PhantomData))
        } else {
            log_refusal(token, Kind::Role, R::NAMES, R::MATCH);
            Err(state.refuse(refusal(Kind::Role, R::NAMES, R::MATCH)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::scopes! {
        struct Read = "notes:read";
        struct Write = "notes:write";
        struct AdminScope = "admin";
    }

    crate::roles! {
        struct Admin = "admin";
        struct Editor = "Notes Editor";
    }

    fn scopes(names: &[&str]) -> Scopes {
        Scopes::from_vec(names.iter().map(|s| Box::from(*s)).collect())
    }

    fn roles(names: &[&str]) -> Roles {
        Roles::from_vec(names.iter().map(|s| Box::from(*s)).collect())
    }

    #[test]
    fn single_scope() {
        assert!(Read::is_met(&scopes(&["notes:read"])));
        assert!(!Read::is_met(&scopes(&["notes:write"])));
    }

    #[test]
    fn all_of_needs_every_scope() {
        assert!(<AllOf<(Read, Write)>>::is_met(&scopes(&["notes:read", "notes:write"])));
        assert!(!<AllOf<(Read, Write)>>::is_met(&scopes(&["notes:read"])));
        assert!(!<(Read, Write)>::is_met(&scopes(&["notes:write"])));
        assert_eq!(<(Read, Write, AdminScope) as ScopeRequirement>::NAMES, ["notes:read", "notes:write", "admin"]);
    }

    #[test]
    fn any_of_needs_one_scope() {
        assert!(<AnyOf<(AdminScope, Write)>>::is_met(&scopes(&["notes:write"])));
        assert!(!<AnyOf<(AdminScope, Write)>>::is_met(&scopes(&["notes:read"])));
    }

    #[test]
    fn role_requirements() {
        assert!(Admin::is_met(&roles(&["admin"])));
        assert!(!Admin::is_met(&roles(&["Notes Editor"])));
        assert!(<AllOf<(Admin, Editor)>>::is_met(&roles(&["admin", "Notes Editor"])));
        assert!(!<(Admin, Editor)>::is_met(&roles(&["admin"])));
        assert!(<AnyOf<(Admin, Editor)>>::is_met(&roles(&["Notes Editor"])));
        assert!(!<AnyOf<(Admin, Editor)>>::is_met(&roles(&[])));
        assert_eq!(<AnyOf<(Admin, Editor)> as RoleRequirement>::MATCH, ScopeMatch::Any);
    }

    #[test]
    fn scope_tokens() {
        use crate::scope::set::is_scope_token;
        assert!(is_scope_token("notes:read"));
        assert!(is_scope_token("https://api.example.com/read"));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token("a\tb"));
        assert!(!is_scope_token(""));
    }
}
