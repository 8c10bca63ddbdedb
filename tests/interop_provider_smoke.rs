//! Smoke test of the real-OpenID-Provider harness (tests/support/oidc_provider.rs):
//! for every supported alg, the provider serves discovery + JWKS and issues
//! RFC 9068 access tokens with the expected header and claims, and a restart
//! rotates the signing key (new kid) while keeping the issuer.
//!
//! Needs Node.js >= 20 and npm on PATH (fails, never skips, without them).

mod support;

#[path = "support/oidc_provider.rs"]
mod oidc_provider;

use oidc_provider::{OidcProvider, ProviderConfig};
use serde_json::Value;
use support::decode_part;

fn jwks_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("jwks.keys is an array")
        .iter()
        .map(|k| k["kid"].as_str().expect("every JWK has a kid").to_owned())
        .collect()
}

async fn smoke(alg: &'static str) {
    let mut op = OidcProvider::start(ProviderConfig::new(alg)).await;
    let issuer = op.issuer().to_owned();
    assert!(issuer.starts_with("http://127.0.0.1:"), "issuer {issuer}");
    assert_eq!(issuer, format!("http://127.0.0.1:{}", op.port()));

    // Discovery.
    let disco = op.discovery().await;
    assert_eq!(disco["issuer"], issuer.as_str());
    assert_eq!(disco["jwks_uri"], op.jwks_uri().as_str());
    assert_eq!(disco["token_endpoint"], op.token_endpoint().as_str());

    // JWKS.
    let jwks = op.jwks().await;
    let kids = jwks_kids(&jwks);
    assert_eq!(kids, vec![op.kid().to_owned()], "jwks: {jwks}");
    assert_eq!(jwks["keys"][0]["alg"], alg);
    assert!(jwks["keys"][0].get("d").is_none(), "JWKS must not leak private key material");

    // Token.
    let token = op.token(&["notes:read"]).await;
    let header = decode_part(&token, 0);
    let claims = decode_part(&token, 1);
    assert_eq!(header["typ"], "at+jwt", "header {header}");
    assert_eq!(header["alg"], alg, "header {header}");
    let kid = header["kid"].as_str().expect("header.kid").to_owned();
    assert!(kids.contains(&kid), "kid {kid} not in {kids:?}");
    assert_eq!(claims["aud"], op.audience(), "claims {claims}");
    assert_eq!(claims["iss"], issuer.as_str(), "claims {claims}");
    assert_eq!(claims["scope"], "notes:read", "claims {claims}");
    assert_eq!(claims["client_id"], oidc_provider::CLIENT_ID);
    let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
    assert_eq!(exp - iat, op.config().access_token_ttl_secs, "claims {claims}");

    // Rotation: same port/issuer, new key, new kid.
    op.restart_with_new_keys().await;
    assert_eq!(op.issuer(), issuer);
    let jwks2 = op.jwks().await;
    let kids2 = jwks_kids(&jwks2);
    let token2 = op.token(&["notes:read"]).await;
    let header2 = decode_part(&token2, 0);
    let kid2 = header2["kid"].as_str().expect("header.kid").to_owned();
    assert_ne!(kid2, kid, "restart_with_new_keys must change the kid");
    assert!(kids2.contains(&kid2), "kid {kid2} not in {kids2:?}");
    assert!(!kids2.contains(&kid), "old kid {kid} still published: {kids2:?}");
    assert_eq!(header2["alg"], alg);
    assert_eq!(decode_part(&token2, 1)["iss"], issuer.as_str());
}

#[tokio::test]
async fn rs256() {
    smoke("RS256").await;
}

#[tokio::test]
async fn ps256() {
    smoke("PS256").await;
}

#[tokio::test]
async fn es256() {
    smoke("ES256").await;
}

#[tokio::test]
async fn eddsa() {
    smoke("EdDSA").await;
}

#[tokio::test]
async fn scope_subsets_and_errors() {
    let op = OidcProvider::start(ProviderConfig {
        alg: "ES256",
        access_token_ttl_secs: 120,
        audience: "https://api.other.test".to_owned(),
    })
    .await;

    let claims = decode_part(&op.token(&["notes:write", "admin"]).await, 1);
    assert_eq!(claims["scope"], "notes:write admin");
    assert_eq!(claims["aud"], "https://api.other.test");
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 120);

    // No scope requested -> no scope claim at all.
    let claims = decode_part(&op.token(&[]).await, 1);
    assert!(claims.get("scope").is_none(), "claims {claims}");

    // Registered scope the client may not use -> invalid_scope.
    let (status, body) = op
        .token_request(&[("grant_type", "client_credentials"), ("resource", op.audience()), ("scope", "openid")])
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");

    // Unknown resource -> invalid_target.
    let (status, body) = op
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("resource", "https://not-registered.test"),
            ("scope", "notes:read"),
        ])
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
}
