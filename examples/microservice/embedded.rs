//! The guard of the embedded default (no `ISSUER`): the in-process test issuer's keys, and its
//! RFC 7662 endpoint for opaque tokens. Shared with the example's tests, so they check exactly
//! what `cargo run --example microservice` serves.

use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerGuard, BearerGuardBuilder, ClientAuth, Introspection};

/// Trusts `issuer` for `audience`: JWTs verified with its JWKS, opaque tokens introspected.
pub fn builder(issuer: &TestIssuer, audience: &str) -> BearerGuardBuilder {
    BearerGuard::builder().issuer(issuer.issuer()).audience(audience).jwks_uri(issuer.jwks_uri()).introspection(
        Introspection::new(
            TestIssuer::INTROSPECTION_CLIENT_ID,
            ClientAuth::client_secret_basic(TestIssuer::INTROSPECTION_CLIENT_SECRET),
        )
        .endpoint(issuer.introspection_endpoint()),
    )
}
