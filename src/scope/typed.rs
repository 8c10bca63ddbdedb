//! Typed scope guards: each scope is declared once as a type, and handlers ask for it in their
//! signature, so a misspelled scope is a compile error, not a silent 403.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use axum_core::extract::FromRequestParts;
use http::request::Parts;

use crate::error::AuthError;
use crate::response::Refusal;
use crate::scope::set::Scopes;
use crate::verified::verified_token;

/// A scope declared as a type. Use [`scopes!`](crate::scopes) to declare them.
pub trait Scope: Send + Sync + 'static {
    /// The scope's name as it appears in tokens.
    const NAME: &'static str;
}

/// What a route needs: one scope, all of several, or any of several.
pub trait ScopeRequirement: Send + Sync + 'static {
    /// The scopes involved, in declaration order.
    const NAMES: &'static [&'static str];
    /// `true` when any one of [`NAMES`](Self::NAMES) is enough, `false` when all are needed.
    const ANY_OF: bool;

    /// Whether `scopes` meets the requirement.
    fn is_met(scopes: &Scopes) -> bool {
        if Self::ANY_OF {
            Self::NAMES.iter().any(|s| scopes.contains(s))
        } else {
            Self::NAMES.iter().all(|s| scopes.contains(s))
        }
    }
}

impl<S: Scope> ScopeRequirement for S {
    const NAMES: &'static [&'static str] = &[S::NAME];
    const ANY_OF: bool = false;
}

/// All of the scopes in the tuple `T` are needed: `RequireScope<AllOf<(A, B)>>`.
/// A bare tuple, `RequireScope<(A, B)>`, means the same.
#[derive(Debug)]
pub struct AllOf<T>(PhantomData<fn() -> T>);

/// Any one of the scopes in the tuple `T` is enough: `RequireScope<AnyOf<(A, B)>>`.
#[derive(Debug)]
pub struct AnyOf<T>(PhantomData<fn() -> T>);

macro_rules! tuple_requirements {
    ($($s:ident),+) => {
        impl<$($s: Scope),+> ScopeRequirement for ($($s,)+) {
            const NAMES: &'static [&'static str] = &[$($s::NAME),+];
            const ANY_OF: bool = false;
        }
        impl<$($s: Scope),+> ScopeRequirement for AllOf<($($s,)+)> {
            const NAMES: &'static [&'static str] = &[$($s::NAME),+];
            const ANY_OF: bool = false;
        }
        impl<$($s: Scope),+> ScopeRequirement for AnyOf<($($s,)+)> {
            const NAMES: &'static [&'static str] = &[$($s::NAME),+];
            const ANY_OF: bool = true;
        }
    };
}

tuple_requirements!(A);
tuple_requirements!(A, B);
tuple_requirements!(A, B, C);
tuple_requirements!(A, B, C, D);
tuple_requirements!(A, B, C, D, E);
tuple_requirements!(A, B, C, D, E, F);
tuple_requirements!(A, B, C, D, E, F, G);
tuple_requirements!(A, B, C, D, E, F, G, H);

/// Declares scopes as types, one per line, checked at compile time to be valid RFC 6749
/// scope tokens.
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

/// An extractor that refuses the request unless the token meets `R`.
///
/// ```
/// use axum::{Router, routing::post};
/// use bearer_guard::{AnyOf, RequireScope};
///
/// bearer_guard::scopes! {
///     pub struct NotesWrite = "notes:write";
///     pub struct Admin = "admin";
/// }
///
/// async fn create(_: RequireScope<NotesWrite>) -> &'static str { "created" }
/// async fn purge(_: RequireScope<AnyOf<(Admin, NotesWrite)>>) -> &'static str { "purged" }
///
/// let app: Router = Router::new().route("/notes", post(create)).route("/purge", post(purge));
/// ```
pub struct RequireScope<R: ScopeRequirement>(PhantomData<fn() -> R>);

impl<R: ScopeRequirement> fmt::Debug for RequireScope<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireScope").field(&R::NAMES).finish()
    }
}

impl<R: ScopeRequirement> Clone for RequireScope<R> {
    fn clone(&self) -> Self {
        Self(PhantomData)
    }
}

/// The refusal for a token that lacks the scopes.
pub(crate) fn insufficient(names: &[impl AsRef<str>], any_of: bool) -> AuthError {
    let required: Arc<[Arc<str>]> = names.iter().map(|s| Arc::from(s.as_ref())).collect();
    AuthError::InsufficientScope { required, any_of }
}

impl<S: Send + Sync, R: ScopeRequirement> FromRequestParts<S> for RequireScope<R> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (token, state) = verified_token(parts)?;
        if R::is_met(token.scopes()) {
            Ok(Self(PhantomData))
        } else {
            tracing::info!(issuer = token.issuer(), required = ?R::NAMES, any_of = R::ANY_OF, "insufficient scope");
            Err(state.refuse(insufficient(R::NAMES, R::ANY_OF)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::scopes! {
        struct Read = "notes:read";
        struct Write = "notes:write";
        struct Admin = "admin";
    }

    fn set(names: &[&str]) -> Scopes {
        Scopes::from_vec(names.iter().map(|s| Box::from(*s)).collect())
    }

    #[test]
    fn single_scope() {
        assert!(Read::is_met(&set(&["notes:read"])));
        assert!(!Read::is_met(&set(&["notes:write"])));
    }

    #[test]
    fn all_of_needs_every_scope() {
        assert!(<AllOf<(Read, Write)>>::is_met(&set(&["notes:read", "notes:write"])));
        assert!(!<AllOf<(Read, Write)>>::is_met(&set(&["notes:read"])));
        assert!(!<(Read, Write)>::is_met(&set(&["notes:write"])));
        assert_eq!(<(Read, Write, Admin)>::NAMES, ["notes:read", "notes:write", "admin"]);
    }

    #[test]
    fn any_of_needs_one_scope() {
        assert!(<AnyOf<(Admin, Write)>>::is_met(&set(&["notes:write"])));
        assert!(!<AnyOf<(Admin, Write)>>::is_met(&set(&["notes:read"])));
    }

    #[test]
    fn scope_tokens() {
        use crate::scope::set::is_scope_token;
        assert!(is_scope_token("notes:read"));
        assert!(is_scope_token("https://api.example.com/read"));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token(""));
    }
}
