//! Local verification of JWS access tokens: the header and its parsing ([`header`]), the
//! registered-claim rules ([`rules`]) and the verifier that ties a token to a trusted issuer's
//! key ([`verifier`]).

pub(crate) mod header;
pub(crate) mod rules;
pub(crate) mod verifier;

pub use rules::{DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS};
