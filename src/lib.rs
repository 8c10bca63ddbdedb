#![doc = include_str!("docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub, rust_2018_idioms, clippy::all)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

// The request path, in the order a token goes through it (see `pipeline`).
mod authenticate;
mod binding;
mod body;
mod claims;
mod future;
mod jws;
mod layer;
mod pipeline;
mod response;
pub mod revocation;
pub mod role;
pub mod scope;
pub mod store;
mod strict_json;
mod token;
mod verified;
mod verified_cache;
// Configuration and what the stages stand on.
mod backend;
mod clock;
mod error;
mod guard;
mod introspection;
mod issuer;
mod keys;
// RFC 9728 metadata and the MCP server profile.
pub mod mcp;
mod metadata;

pub mod grpc;

/// A test identity provider for your own tests (feature `test-util`): [`TestIssuer`](testing::TestIssuer).
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;

pub use binding::SenderConstraint;
pub use binding::dpop::nonce::DEFAULT_DPOP_NONCE_PERIOD;
pub use binding::dpop::{DEFAULT_DPOP_IAT_AHEAD, DEFAULT_DPOP_IAT_BACK, DpopMode};
pub use binding::mtls::{CertificateHeaderEncoding, ClientCertificate, ClientCertificateSource};
pub use binding::replay::{BoxFuture, DEFAULT_REPLAY_STORE_CAPACITY, MemoryReplayStore, ReplayStore, ReplayStoreError};
pub use body::{BoxError, ResponseBody};
pub use claims::{AccessTokenClaims, Claims};
pub use error::{AuthError, ConfigError, InvalidDpopProof, InvalidRequest, InvalidToken, ScopeMatch, Unavailable};
pub use guard::{BearerGuard, BearerGuardBuilder};
pub use introspection::{
    AssertionAudience, ClientAuth, DEFAULT_INTROSPECTION_CACHE_TTL, DEFAULT_INTROSPECTION_MAX_IN_FLIGHT,
    DEFAULT_INTROSPECTION_NEGATIVE_TTL, Introspection, IntrospectionMode,
};
pub use issuer::Issuer;
pub use jsonwebtoken::Algorithm;
pub use jws::{DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS};
pub use keys::{FetchAttempts, KeyCachePolicy, KeyError, KeySetStats, PrefetchError, StaticKey};
pub use layer::{BearerGuardLayer, BearerGuardService, ResponseFuture};
pub use metadata::{DEFAULT_METADATA_MAX_AGE, ResourceMetadata};
pub use response::{Refusal, RefusalResponder};
pub use role::{RequireRole, Role, RoleSource, Roles, require_any_role, require_roles};
pub use scope::{AllOf, AnyOf, RequireScope, Scope, ScopeRequirement, Scopes, require_any_scope, require_scopes};
#[allow(deprecated)]
pub use scope::{RequireScopes, RequireScopesLayer, RequireScopesResponseFuture};
/// The old name of [`RoleSource`]: what it names are roles, read into [`Roles`].
#[deprecated(since = "0.2.0", note = "roles are not scopes: use `RoleSource` with `roles_from`")]
pub type ScopeSource = RoleSource;
pub use token::DEFAULT_MAX_TOKEN_BYTES;
pub use verified::VerifiedToken;
pub use verified_cache::DEFAULT_VERIFIED_CACHE_CAPACITY;

#[doc(hidden)]
pub mod __private {
    pub use crate::scope::set::{is_role_name, is_scope_token};
}

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!("bearer-guard needs a crypto backend: enable the `aws-lc-rs` (default) or `rust-crypto` feature");

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
