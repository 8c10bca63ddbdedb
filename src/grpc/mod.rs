//! gRPC: the guard's layer on tonic (or any gRPC server on tower), gRPC-native refusals and
//! per-method scopes.
//!
//! [`BearerGuard::layer`](crate::BearerGuard::layer) works on
//! `tonic::transport::Server::builder().layer(…)` as it is: the request and response bodies
//! stay generic. For a request with `content-type: application/grpc*` a refusal is a
//! trailers-only gRPC response (HTTP 200 with `grpc-status` and `grpc-message`):
//!
//! | refusal | HTTP answer | gRPC status |
//! |---|---|---|
//! | no token, rejected token | 401 | `UNAUTHENTICATED` (16) |
//! | missing scope | 403 | `PERMISSION_DENIED` (7) |
//! | keys or introspection unavailable | 503 | `UNAVAILABLE` (14), with `retry-after` |
//! | malformed request | 400 | `INVALID_ARGUMENT` (3) |
//!
//! `grpc-message` is the refusal's description, and the RFC 6750 challenge (with `scope="…"`
//! for a missing scope) is sent as `www-authenticate` metadata. Other requests get the
//! configured answer ([`on_refusal`](crate::BearerGuardBuilder::on_refusal), RFC 6750 by
//! default); gRPC calls always get the gRPC form, the only one gRPC clients can read.
//!
//! [`MethodScopes`] maps method paths to scopes for a whole server in one place. With the
//! `tonic` feature, handlers read the token with `verified_token` and check scopes with
//! `RequireScope::check`.

pub(crate) mod answer;
mod scopes;
#[cfg(feature = "tonic")]
mod tonic;

pub use scopes::{MethodScopes, MethodScopesLayer, MethodScopesService};
#[cfg(feature = "tonic")]
pub use tonic::{claims, verified_token};
