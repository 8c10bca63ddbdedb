//! Interop, DPoP (RFC 9449): a REAL oidc-provider (`features.dPoP` on) issues a DPoP-bound JWT
//! access token to a client whose key and proofs come from panva's npm `dpop` package
//! (tests/oidc-provider/dpop-client.mjs, run with Node); the client calls the example notes API
//! (examples/microservice/app.rs) served in-process over real HTTP behind a guard in
//! `DpopMode::Allowed`.
//!
//! Needs Node.js >= 20 and npm on PATH (the harness installs the npm packages, and fails with a
//! clear message without them, never skips).

#[path = "support/oidc_provider.rs"]
mod oidc_provider;

#[path = "../examples/microservice/app.rs"]
#[allow(dead_code)]
mod app;

use std::path::Path;

use bearer_guard::{BearerGuard, DpopMode};
use oidc_provider::{OidcProvider, ProviderConfig};
use serde_json::Value;

fn status(out: &Value, case: &str) -> u64 {
    out[case]["status"].as_u64().unwrap_or_else(|| panic!("no {case} in {out}"))
}

fn challenge(out: &Value, case: &str) -> String {
    out[case]["www_authenticate"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_real_dpop_client_gets_in_and_stolen_or_replayed_proofs_do_not() {
    let provider = OidcProvider::start(ProviderConfig::new("ES256")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let guard = BearerGuard::builder()
        .issuer(provider.issuer())
        .audience(provider.audience())
        .public_url(&base)
        .unwrap()
        .dpop(DpopMode::Allowed)
        .build()
        .unwrap();
    let router = app::router(&guard);
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("oidc-provider");
    let output = tokio::process::Command::new("node")
        .arg("dpop-client.mjs")
        .current_dir(&dir)
        .env("ISSUER", provider.issuer())
        .env("AUDIENCE", provider.audience())
        .env("API", &base)
        .output()
        .await
        .expect("node runs tests/oidc-provider/dpop-client.mjs (install Node.js >= 20)");
    assert!(
        output.status.success(),
        "dpop-client.mjs failed: {}\nprovider: {}",
        String::from_utf8_lossy(&output.stderr),
        provider.stderr()
    );
    let out: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");

    // The provider issued a DPoP-bound token for the client's key.
    assert_eq!(out["token_type"], "DPoP", "{out}");
    assert_eq!(out["cnf_jkt"], out["thumbprint"], "{out}");

    // Every route works with a fresh proof.
    assert_eq!(status(&out, "me"), 200, "{out}");
    assert_eq!(status(&out, "notes"), 200, "{out}");
    assert_eq!(status(&out, "add"), 201, "{out}");
    assert_eq!(status(&out, "first_use"), 200, "{out}");

    // The same proof again: refused.
    assert_eq!(status(&out, "replay"), 401, "{out}");
    assert!(challenge(&out, "replay").contains("error=\"invalid_dpop_proof\""), "{out}");
    assert!(challenge(&out, "replay").contains("already been used"), "{out}");
    // A proof for another URL, or another method: refused.
    assert_eq!(status(&out, "other_url"), 401, "{out}");
    assert!(challenge(&out, "other_url").contains("htu does not match"), "{out}");
    assert_eq!(status(&out, "other_method"), 401, "{out}");
    assert!(challenge(&out, "other_method").contains("htm does not match"), "{out}");
    // The DPoP-bound token as a bearer token: refused (RFC 9449 §7.2).
    assert_eq!(status(&out, "as_bearer"), 401, "{out}");
    assert!(challenge(&out, "as_bearer").contains("must be sent with the DPoP scheme"), "{out}");
    // No proof: the DPoP challenge.
    assert_eq!(status(&out, "no_proof"), 401, "{out}");
    assert!(challenge(&out, "no_proof").starts_with("DPoP algs=\""), "{out}");
    assert!(challenge(&out, "no_proof").contains("DPoP proof is missing"), "{out}");
    // No token at all: both challenges (fetch joins the two header values with ", ").
    assert_eq!(status(&out, "no_token"), 401, "{out}");
    let both = challenge(&out, "no_token");
    assert!(both.starts_with("Bearer realm=\"api\"") && both.contains("DPoP algs=\"ES256"), "{both}");

    server.abort();
}
