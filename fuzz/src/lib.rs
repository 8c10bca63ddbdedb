//! Shared set-up for the fuzz targets: one current-thread runtime, guards built once.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{Algorithm, BearerGuard, Issuer, StaticKey};

/// The HMAC secret of the `fz` issuer.
pub const SECRET: &[u8; 32] = b"fuzzing-secret-of-32-bytes-long!";
/// `iss` of HMAC tokens.
pub const HMAC_ISSUER: &str = "fz";
/// `iss` of tokens signed with the TestIssuer's asymmetric keys.
pub const ASYM_ISSUER: &str = "ti";
/// The audience of both issuers.
pub const AUDIENCE: &str = "api";

pub static RT: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"));

fn hmac_key() -> StaticKey {
    StaticKey::hmac_secret(SECRET).expect("secret")
}

/// Header parser target: HMAC key, query and cookie sources on.
pub static HEADER_GUARD: LazyLock<BearerGuard> = LazyLock::new(|| {
    BearerGuard::builder()
        .issuer(HMAC_ISSUER)
        .audience(AUDIENCE)
        .static_key(hmac_key())
        .insecure_token_from_query(true)
        .token_from_cookie("at")
        .build()
        .expect("guard")
});

/// Guard A: one HMAC issuer, lenient, verified-token cache on (the default).
pub static HMAC_GUARD: LazyLock<BearerGuard> = LazyLock::new(|| {
    BearerGuard::builder().issuer(HMAC_ISSUER).audience(AUDIENCE).static_key(hmac_key()).build().expect("guard")
});

/// The TestIssuer whose keys guard B trusts as static JWKs (kept alive, never dropped).
pub static TEST_ISSUER: LazyLock<TestIssuer> = LazyLock::new(|| {
    RT.block_on(TestIssuer::try_start_with(&[
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ]))
    .expect("test issuer")
});

/// Guard B: issuer `ti` with the TestIssuer's RSA/EC/Ed JWKs as static keys, plus the HMAC
/// issuer `fz` (with kid `h1`); strict RFC 9068; no verified-token cache.
pub static ASYM_GUARD: LazyLock<BearerGuard> = LazyLock::new(|| {
    let mut builder = BearerGuard::builder().issuer(ASYM_ISSUER).audience(AUDIENCE);
    for jwk in TEST_ISSUER.jwks()["keys"].as_array().expect("keys") {
        builder = builder.static_key(StaticKey::jwk(&jwk.to_string()).expect("jwk"));
    }
    builder
        .trust(Issuer::new(HMAC_ISSUER).audience(AUDIENCE).audience("other").static_key(hmac_key().with_kid("h1")))
        .strict_rfc9068(true)
        .verified_token_cache(false)
        .build()
        .expect("guard")
});

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `b64(header).b64(payload)` signed with [`SECRET`].
pub fn hmac_sign(header: &[u8], payload: &[u8], alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).expect("hmac sign");
    format!("{message}.{signature}")
}

/// Splits `data` at the first `n - 1` newlines (missing parts are empty).
pub fn split_parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(n, |b| *b == b'\n').collect();
    parts.resize(n, &[]);
    parts
}
