//! The microservice example's outside contract, checked against the process a user runs
//! (`cargo run --example microservice`): the environment variables it takes (`LISTEN`,
//! `ISSUER`, `AUDIENCE`, `INTROSPECTION_CLIENT_ID`/`_SECRET`/`_AUTH`, `DPOP`, `PUBLIC_URL`) and one
//! call per route, trusting a REAL authorization server (npm `oidc-provider`, JWT and opaque
//! access tokens).
//!
//! Needs `node` (>= 20) and `npm`; without them the test fails saying what to install.

#[path = "support/example_process.rs"]
mod example_process;
#[path = "support/oidc_provider.rs"]
mod oidc_provider;

use example_process::{Example, free_port};
use oidc_provider::{OidcProvider, ProviderConfig};
use reqwest::header::WWW_AUTHENTICATE;
use serde_json::{Value, json};

#[tokio::test]
async fn the_microservice_process_honours_its_environment_and_routes() {
    let provider = OidcProvider::start(ProviderConfig::new("ES256")).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let env = [
        ("LISTEN", listen.as_str()),
        ("ISSUER", provider.issuer()),
        ("AUDIENCE", provider.audience()),
        ("INTROSPECTION_CLIENT_ID", "notes-api"),
        ("INTROSPECTION_CLIENT_SECRET", "notes-api-secret"),
        ("INTROSPECTION_AUTH", "client_secret_post"),
        ("DPOP", "allowed"),
    ];
    let _example = Example::start("microservice", &env, &format!("{base}/health")).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // RFC 9728 metadata: resource = PUBLIC_URL (default http:// + LISTEN), the ISSUER as server.
    let meta: Value =
        http.get(format!("{base}/.well-known/oauth-protected-resource")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["resource"], json!(base));
    assert_eq!(meta["authorization_servers"], json!([provider.issuer()]));
    assert_eq!(meta["dpop_bound_access_tokens_required"], json!(false), "{meta}");

    // No token: a Bearer and a DPoP challenge (DPOP=allowed), pointing at the metadata.
    let response = http.get(format!("{base}/me")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenges: Vec<&str> =
        response.headers().get_all(WWW_AUTHENTICATE).iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(challenges[0].starts_with("Bearer ") && challenges[1].starts_with("DPoP algs="), "{challenges:?}");
    assert!(challenges[0].contains(&format!("resource_metadata=\"{base}/.well-known/oauth-protected-resource\"")));

    // JWT access tokens of the ISSUER, one call per route.
    let read = provider.token(&["notes:read"]).await;
    let write = provider.token(&["notes:read", "notes:write"]).await;
    let admin = provider.token(&["admin"]).await;
    let me = http.get(format!("{base}/me")).bearer_auth(&read).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(http.get(format!("{base}/notes")).bearer_auth(&read).send().await.unwrap().status(), 200);
    let note = json!({ "text": "hello" });
    let refused = http.post(format!("{base}/notes")).bearer_auth(&read).json(&note).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.headers()[WWW_AUTHENTICATE].to_str().unwrap().contains("scope=\"notes:write\""));
    let created = http.post(format!("{base}/notes")).bearer_auth(&write).json(&note).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let deleted = http.delete(format!("{base}/notes/{id}")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(deleted.status(), 204);

    // An opaque token: introspected at the ISSUER's discovered endpoint with client_secret_post.
    let opaque = provider.opaque_token(&["notes:read"]).await;
    assert_eq!(http.get(format!("{base}/notes")).bearer_auth(&opaque).send().await.unwrap().status(), 200);
    let opaque_read_only = http.post(format!("{base}/notes")).bearer_auth(&opaque).json(&note).send().await.unwrap();
    assert_eq!(opaque_read_only.status(), 403);

    // POST /admin/revoke (scope admin): {"jti"} revokes that token at once; anything else is 400.
    let jti = jwt_claim(&read, "jti");
    let revoke =
        |body: Value, token: &str| http.post(format!("{base}/admin/revoke")).bearer_auth(token).json(&body).send();
    assert_eq!(revoke(json!({ "jti": jti }), &read).await.unwrap().status(), 403, "needs admin");
    assert_eq!(revoke(json!({ "nothing": 1 }), &admin).await.unwrap().status(), 400);
    assert_eq!(revoke(json!({ "jti": jti }), &admin).await.unwrap().status(), 204);
    let revoked = http.get(format!("{base}/notes")).bearer_auth(&read).send().await.unwrap();
    assert_eq!(revoked.status(), 401);
    assert!(revoked.headers()[WWW_AUTHENTICATE].to_str().unwrap().contains("token has been revoked"));
    assert_eq!(http.get(format!("{base}/notes")).bearer_auth(&write).send().await.unwrap().status(), 200, "control");

    // POST /backchannel-logout: a logout_token that is not one of the issuer's is 400 invalid_request.
    let logout =
        http.post(format!("{base}/backchannel-logout")).form(&[("logout_token", "not.a.token")]).send().await.unwrap();
    assert_eq!(logout.status(), 400);
    assert_eq!(logout.json::<Value>().await.unwrap()["error"], "invalid_request");
}

/// One claim of a JWT's payload (no verification: the test reads its own token).
fn jwt_claim(token: &str, name: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims[name].as_str().expect("string claim").to_owned()
}
