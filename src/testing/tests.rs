use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::tokens::now_secs;
use super::{Failure, TestIssuer, TestIssuerError};
use crate::keys::{AlgSet, alg_name};
use crate::{AuthError, BearerGuard, InvalidToken};

fn guard(issuer: &TestIssuer) -> BearerGuard {
    BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(TestIssuer::DEFAULT_AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .build()
        .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn get_json(url: &str) -> Value {
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn serves_discovery_and_a_public_jwks_of_its_keys() {
    let issuer =
        TestIssuer::start_with(&[Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA]).await;
    assert!(issuer.issuer().starts_with("http://127.0.0.1:"));
    assert_eq!(issuer.jwks_uri(), format!("{}/jwks.json", issuer.issuer()));

    let discovery = get_json(&issuer.discovery_uri()).await;
    assert_eq!(discovery["issuer"], issuer.issuer());
    assert_eq!(discovery["jwks_uri"], issuer.jwks_uri());
    assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["PS256", "ES256", "ES384", "EdDSA"]));
    let rfc8414 = get_json(&format!("{}/.well-known/oauth-authorization-server", issuer.issuer())).await;
    assert_eq!(rfc8414, discovery);
    assert_eq!(issuer.discovery_requests(), 2);

    let jwks = get_json(&issuer.jwks_uri()).await;
    assert_eq!(jwks, issuer.jwks());
    assert_eq!(issuer.jwks_requests(), 1);
    let keys = jwks["keys"].as_array().unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, issuer.kids());
    let shape: Vec<(&str, &str, &str)> = keys
        .iter()
        .map(|k| (k["kty"].as_str().unwrap(), k["alg"].as_str().unwrap(), k["use"].as_str().unwrap()))
        .collect();
    assert_eq!(
        shape,
        [("RSA", "PS256", "sig"), ("EC", "ES256", "sig"), ("EC", "ES384", "sig"), ("OKP", "EdDSA", "sig")]
    );
    assert_eq!(
        (keys[1]["crv"].as_str(), keys[2]["crv"].as_str(), keys[3]["crv"].as_str()),
        (Some("P-256"), Some("P-384"), Some("Ed25519"))
    );
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{key} leaks {private}");
        }
    }
    assert_eq!(URL_SAFE_NO_PAD.decode(keys[0]["n"].as_str().unwrap()).unwrap().len(), 256);
}

#[tokio::test]
async fn tokens_of_every_algorithm_verify_against_the_served_jwks() {
    let all: Vec<Algorithm> = AlgSet::ASYMMETRIC.iter().collect();
    assert_eq!(all.len(), 9);
    let issuer = TestIssuer::start_with(&all).await;
    let guard = guard(&issuer);
    for (alg, kid) in all.into_iter().zip(issuer.kids()) {
        let token = issuer.token().alg(alg).subject(format!("user-{alg:?}")).sign().unwrap();
        assert_eq!(part(&token, 0)["alg"], alg_name(alg));
        let verified = guard.verify(&token).await.unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(verified.subject(), Some(format!("user-{alg:?}").as_str()));
        assert_eq!(verified.key_id(), Some(kid.as_str()));
    }
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn default_token_is_a_valid_rfc9068_access_token() {
    let issuer = TestIssuer::start().await;
    let token = issuer.token().sign().unwrap();
    let header = part(&token, 0);
    assert_eq!(header, json!({"alg": "RS256", "kid": issuer.kids()[0], "typ": "at+jwt"}));
    let claims = part(&token, 1);
    assert_eq!(claims["iss"], issuer.issuer());
    assert_eq!(claims["sub"], TestIssuer::DEFAULT_SUBJECT);
    assert_eq!(claims["aud"], TestIssuer::DEFAULT_AUDIENCE);
    assert_eq!(claims["client_id"], TestIssuer::DEFAULT_CLIENT_ID);
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!((iat - now_secs()).abs() <= 2);
    assert_eq!(exp - iat, TestIssuer::DEFAULT_LIFETIME_SECS);
    assert_ne!(claims["jti"], part(&issuer.token().sign().unwrap(), 1)["jti"], "jti is random");

    let strict = BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(TestIssuer::DEFAULT_AUDIENCE)
        .strict_rfc9068(true)
        .build()
        .unwrap();
    assert!(strict.verify(&token).await.is_ok(), "found by discovery, accepted in strict mode");
    assert_eq!(issuer.discovery_requests(), 1);
}

#[tokio::test]
async fn builder_sets_and_removes_claims_and_header_parameters() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let token = issuer
        .token()
        .audiences(["a", "b"])
        .scopes(["notes:read", "notes:write"])
        .claim("tenant", json!({"id": 7}))
        .remove_claim("jti")
        .issuer("https://elsewhere.test")
        .not_before_in(60)
        .expires_in(-5)
        .kid("other-kid")
        .header("crit", json!(["exp"]))
        .remove_header("typ")
        .sign()
        .unwrap();
    let header = part(&token, 0);
    assert_eq!(header, json!({"alg": "ES256", "kid": "other-kid", "crit": ["exp"]}));
    let claims = part(&token, 1);
    assert_eq!(claims["aud"], json!(["a", "b"]));
    assert_eq!(claims["scope"], "notes:read notes:write");
    assert_eq!(claims["tenant"], json!({"id": 7}));
    assert_eq!(claims["iss"], "https://elsewhere.test");
    assert!(claims.get("jti").is_none());
    assert!((claims["nbf"].as_i64().unwrap() - now_secs() - 60).abs() <= 2);
    assert!((claims["exp"].as_i64().unwrap() - now_secs() + 5).abs() <= 2);

    // The header `alg` can lie; the signature is still made with the key's algorithm.
    let token = issuer.token().header("alg", json!("HS256")).sign().unwrap();
    assert_eq!(part(&token, 0)["alg"], "HS256");
    let token = issuer.token().remove_header("kid").remove_header("typ").sign().unwrap();
    assert_eq!(part(&token, 0), json!({"alg": "ES256"}));
    assert!(guard(&issuer).verify(&token).await.is_ok(), "the only key is used without a kid");
}

#[tokio::test]
async fn unpublished_key_gives_a_bad_signature_under_the_published_kid() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES384, Algorithm::EdDSA]).await;
    let guard = guard(&issuer);
    for alg in [Algorithm::ES384, Algorithm::EdDSA] {
        let good = issuer.token().alg(alg).sign().unwrap();
        let forged = issuer.token().alg(alg).unpublished_key().sign().unwrap();
        assert_eq!(part(&forged, 0)["kid"], part(&good, 0)["kid"]);
        assert!(guard.verify(&good).await.is_ok());
        assert_eq!(guard.verify(&forged).await.unwrap_err(), AuthError::InvalidToken(InvalidToken::BadSignature));
    }
    assert!(!issuer.jwks().to_string().contains(&issuer.shared.state().unpublished[0].kid));
}

#[tokio::test]
async fn rotate_add_and_remove_change_the_published_keys() {
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA, Algorithm::ES256]).await;
    let before = issuer.kids();
    let old_token = issuer.token().sign().unwrap();
    let first = issuer.rotate().unwrap();
    let after = issuer.kids();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0], first);
    assert!(after.iter().all(|k| !before.contains(k)), "{before:?} -> {after:?}");
    let jwks = issuer.jwks();
    let algs: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["EdDSA", "ES256"]);
    let guard = guard(&issuer);
    assert_eq!(guard.verify(&old_token).await.unwrap_err(), AuthError::InvalidToken(InvalidToken::UnknownKey));
    assert!(guard.verify(&issuer.token().sign().unwrap()).await.is_ok());

    let added = issuer.add_key(Algorithm::ES384).unwrap();
    assert_eq!(issuer.kids().last(), Some(&added));
    assert!(issuer.remove_key(&first));
    assert!(!issuer.remove_key(&first));
    assert_eq!(issuer.kids(), [after[1].clone(), added]);
}

#[tokio::test]
async fn unsupported_or_missing_keys_are_errors() {
    assert!(matches!(
        TestIssuer::try_start_with(&[Algorithm::HS256]).await,
        Err(TestIssuerError::UnsupportedAlgorithm(Algorithm::HS256))
    ));
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
    assert!(matches!(issuer.add_key(Algorithm::HS512), Err(TestIssuerError::UnsupportedAlgorithm(_))));
    assert!(matches!(issuer.token().alg(Algorithm::ES256).sign(), Err(TestIssuerError::NoKey(Algorithm::ES256))));
    assert!(issuer.remove_key(&issuer.kids()[0]));
    assert!(matches!(issuer.token().sign(), Err(TestIssuerError::NoKeys)));
    assert!(matches!(issuer.rotate(), Err(TestIssuerError::NoKeys)));
    assert_eq!(issuer.jwks(), json!({"keys": []}));
}

#[tokio::test]
async fn cache_control_and_discovery_document_can_be_set() {
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
    let response = client().get(issuer.jwks_uri()).send().await.unwrap();
    assert!(response.headers().get(header::CACHE_CONTROL).is_none());
    issuer.set_cache_control(Some("public, max-age=120".to_owned()));
    let response = client().get(issuer.jwks_uri()).send().await.unwrap();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=120");

    issuer.set_discovery_document(Some(json!({"issuer": "https://someone-else.test", "jwks_uri": issuer.jwks_uri()})));
    assert_eq!(get_json(&issuer.discovery_uri()).await["issuer"], "https://someone-else.test");
    issuer.set_discovery_document(None);
    assert_eq!(get_json(&issuer.discovery_uri()).await["issuer"], issuer.issuer());
}

#[tokio::test]
async fn failures_apply_to_jwks_and_discovery() {
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
    let client = client();
    for url in [issuer.jwks_uri(), issuer.discovery_uri()] {
        issuer.set_failure(Failure::Status(503));
        assert_eq!(client.get(&url).send().await.unwrap().status(), 503);

        issuer.set_failure(Failure::Status(42));
        assert_eq!(client.get(&url).send().await.unwrap().status(), 500);

        issuer.set_failure(Failure::Html);
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));

        issuer.set_failure(Failure::Redirect("https://login.example.test/".to_owned()));
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 302);
        assert_eq!(response.headers()[header::LOCATION], "https://login.example.test/");

        issuer.set_failure(Failure::OversizedBody(600_000));
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.content_length(), Some(600_000));
        let body = response.bytes().await.unwrap();
        assert_eq!(body.len(), 600_000);
        assert!(serde_json::from_slice::<Value>(&body).is_ok(), "still valid JSON");

        issuer.set_failure(Failure::OversizedChunkedBody(600_000));
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.headers().get(header::CONTENT_LENGTH), None);
        assert_eq!(response.headers()[header::TRANSFER_ENCODING], "chunked");
        assert_eq!(response.bytes().await.unwrap().len(), 600_000);

        issuer.set_failure(Failure::Slow(Duration::from_millis(300)));
        let started = std::time::Instant::now();
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
        let timeout = client.get(&url).timeout(Duration::from_millis(50)).send().await;
        assert!(timeout.unwrap_err().is_timeout());

        issuer.set_failure(Failure::None);
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    }
    assert_eq!((issuer.jwks_requests(), issuer.discovery_requests()), (9, 9));
}

#[tokio::test]
async fn down_closes_new_and_kept_alive_connections_until_it_is_back() {
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
    let pooled = client();
    assert_eq!(pooled.get(issuer.jwks_uri()).send().await.unwrap().status(), 200);

    issuer.set_failure(Failure::Down);
    let error = pooled.get(issuer.jwks_uri()).send().await.unwrap_err();
    assert!(error.is_request() || error.is_connect(), "{error:?}");
    let error = client().get(issuer.discovery_uri()).send().await.unwrap_err();
    assert!(error.is_request() || error.is_connect(), "{error:?}");
    assert_eq!((issuer.jwks_requests(), issuer.discovery_requests()), (1, 0));

    issuer.set_failure(Failure::None);
    assert_eq!(pooled.get(issuer.jwks_uri()).send().await.unwrap().status(), 200);
    assert_eq!(issuer.jwks_requests(), 2);
}

#[tokio::test]
async fn dropping_the_issuer_stops_its_server() {
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
    let url = issuer.jwks_uri();
    let pooled = client();
    assert_eq!(pooled.get(&url).send().await.unwrap().status(), 200);
    drop(issuer);
    tokio::task::yield_now().await;
    assert!(pooled.get(&url).send().await.is_err(), "kept-alive connection is closed");
    assert!(client().get(&url).send().await.is_err(), "listener is closed");
}

#[tokio::test]
async fn debug_never_prints_key_material() {
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
    let debug = format!("{issuer:?} {:?}", issuer.token());
    assert!(debug.contains(&issuer.kids()[0]));
    assert!(!debug.contains("EncodingKey") && !debug.contains("content"), "{debug}");
}
