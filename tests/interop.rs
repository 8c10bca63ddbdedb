//! Interop: the example microservice (`examples/microservice/app.rs`), served in-process over
//! real HTTP, protected by a `BearerGuard` that finds its keys by DISCOVERY from a REAL
//! OpenID Provider (panva's `oidc-provider`, see tests/support/oidc_provider.rs), called with
//! tokens that provider issued.
//!
//! Needs Node.js >= 20 and npm on PATH (the harness panics, never skips, without them).

mod support;

#[path = "support/oidc_provider.rs"]
mod oidc_provider;

#[path = "../examples/microservice/app.rs"]
#[allow(dead_code)]
mod app;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bearer_guard::{BearerGuard, BearerGuardBuilder};
use oidc_provider::{OidcProvider, ProviderConfig};
use reqwest::Method;
use serde_json::{Value, json};
use support::{Answer, decode_part};

const AUDIENCE: &str = "https://notes.example.test";
const INSUFFICIENT_WRITE: &str = "Bearer realm=\"api\", error=\"insufficient_scope\", \
    error_description=\"token lacks a required scope\", scope=\"notes:write\"";
const INSUFFICIENT_ADMIN: &str = "Bearer realm=\"api\", error=\"insufficient_scope\", \
    error_description=\"token lacks a required scope\", scope=\"admin\"";

/// The guard exactly as `examples/microservice/main.rs` builds it when `ISSUER` is set
/// (keys by discovery from the issuer).
fn example_builder(provider: &OidcProvider) -> BearerGuardBuilder {
    BearerGuard::builder().issuer(provider.issuer()).audience(AUDIENCE)
}

/// The notes API served in-process on 127.0.0.1:0 with `axum::serve`.
struct Service {
    base: String,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Service {
    async fn start(guard: &BearerGuard) -> Service {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = app::router(guard);
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("axum::serve");
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build reqwest client");
        Service { base, http, server }
    }

    async fn call(&self, method: Method, path: &str, authorization: Option<&str>, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(auth) = authorization {
            req = req.header("authorization", auth);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        Answer::of_reqwest(resp).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let auth = token.map(|t| format!("Bearer {t}"));
        self.call(Method::GET, path, auth.as_deref(), None).await
    }

    async fn post_note(&self, token: &str, text: &str) -> Answer {
        self.call(Method::POST, "/notes", Some(&format!("Bearer {token}")), Some(json!({ "text": text }))).await
    }

    async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, Some(&format!("Bearer {token}")), None).await
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The same token with one character in the middle of its signature changed.
fn tamper_signature(token: &str) -> String {
    let (signed, sig) = token.rsplit_once('.').expect("three segments");
    let mut sig = sig.as_bytes().to_vec();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == b'A' { b'B' } else { b'A' };
    format!("{signed}.{}", String::from_utf8(sig).unwrap())
}

fn assert_invalid_token(answer: &Answer, description: Option<&str>, what: &str) {
    assert_eq!(answer.status, 401, "{what}: body {}", answer.body);
    let challenge = answer.challenge.as_deref().unwrap_or_else(|| panic!("{what}: 401 without WWW-Authenticate"));
    assert!(challenge.starts_with("Bearer realm=\"api\", error=\"invalid_token\""), "{what}: challenge {challenge}");
    if let Some(description) = description {
        assert!(
            challenge.contains(&format!("error_description=\"{description}\"")),
            "{what}: expected description {description:?} in {challenge}"
        );
    }
}

// ---------------------------------------------------------------------------
// 1. RS256: every route of the example.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_every_route() {
    let provider = OidcProvider::start(ProviderConfig::new("RS256")).await;
    let guard = example_builder(&provider).build().expect("guard");
    let svc = Service::start(&guard).await;

    let read = provider.token(&["notes:read"]).await;
    let write = provider.token(&["notes:write"]).await;
    let admin = provider.token(&["admin"]).await;
    let all = provider.token(&["notes:read", "notes:write", "admin"]).await;
    assert_eq!(decode_part(&read, 0)["alg"], "RS256");

    // GET /health: open.
    let a = svc.get("/health", None).await;
    assert_eq!((a.status.as_u16(), a.body.as_str()), (200, "ok"));

    // GET /notes with notes:read.
    let a = svc.get("/notes", Some(&read)).await;
    assert_eq!(a.status, 200, "body {}", a.body);
    assert_eq!(a.json(), json!([]));

    // POST /notes with notes:write: author is the token's sub.
    let sub = decode_part(&write, 1)["sub"].as_str().expect("sub").to_owned();
    assert_eq!(sub, oidc_provider::CLIENT_ID);
    let a = svc.post_note(&write, "hello from oidc-provider").await;
    assert_eq!(a.status, 201, "body {}", a.body);
    let note = a.json();
    assert_eq!(note["id"], 1, "{note}");
    assert_eq!(note["text"], "hello from oidc-provider", "{note}");
    assert_eq!(note["author"], sub.as_str(), "{note}");

    // The note is listed.
    let a = svc.get("/notes", Some(&all)).await;
    assert_eq!(a.status, 200, "body {}", a.body);
    assert_eq!(a.json(), json!([note]));

    // DELETE with admin: 204, then 404.
    let a = svc.delete("/notes/1", &admin).await;
    assert_eq!(a.status, 204, "body {}", a.body);
    let a = svc.delete("/notes/1", &admin).await;
    assert_eq!(a.status, 404, "body {}", a.body);

    // POST with only notes:read: 403 insufficient_scope, scope="notes:write".
    let a = svc.post_note(&read, "nope").await;
    assert_eq!(a.status, 403, "body {}", a.body);
    assert_eq!(a.challenge.as_deref(), Some(INSUFFICIENT_WRITE));

    // DELETE without admin: 403, scope="admin".
    let a = svc.delete("/notes/1", &write).await;
    assert_eq!(a.status, 403, "body {}", a.body);
    assert_eq!(a.challenge.as_deref(), Some(INSUFFICIENT_ADMIN));

    // No token: 401 with a bare challenge.
    for (method, path) in [(Method::GET, "/notes"), (Method::GET, "/me"), (Method::POST, "/notes")] {
        let a = svc.call(method.clone(), path, None, None).await;
        assert_eq!(a.status, 401, "{method} {path}: body {}", a.body);
        assert_eq!(a.challenge.as_deref(), Some("Bearer realm=\"api\""), "{method} {path}");
    }

    // Garbage token: 401 invalid_token.
    let a = svc.call(Method::GET, "/notes", Some("Bearer abc.def.ghi"), None).await;
    assert_invalid_token(&a, None, "garbage token");

    // GET /me: sub and scopes.
    let a = svc.get("/me", Some(&all)).await;
    assert_eq!(a.status, 200, "body {}", a.body);
    let me = a.json();
    assert_eq!(me["sub"], oidc_provider::CLIENT_ID, "{me}");
    let mut scopes: Vec<&str> =
        me["scopes"].as_array().expect("scopes is an array").iter().map(|s| s.as_str().unwrap()).collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["admin", "notes:read", "notes:write"], "{me}");
    let a = svc.get("/me", Some(&read)).await;
    assert_eq!(a.status, 200, "body {}", a.body);
    assert_eq!(a.json()["scopes"], json!(["notes:read"]));
}

// ---------------------------------------------------------------------------
// 2. The other algorithms, compact: one 200, one 403, one 401.

async fn compact(alg: &'static str) {
    let provider = OidcProvider::start(ProviderConfig::new(alg)).await;
    let guard = example_builder(&provider).build().expect("guard");
    let svc = Service::start(&guard).await;

    let read = provider.token(&["notes:read"]).await;
    assert_eq!(decode_part(&read, 0)["alg"], alg);

    let a = svc.get("/notes", Some(&read)).await;
    assert_eq!(a.status, 200, "{alg}: body {}", a.body);

    let a = svc.post_note(&read, "nope").await;
    assert_eq!(a.status, 403, "{alg}: body {}", a.body);
    assert_eq!(a.challenge.as_deref(), Some(INSUFFICIENT_WRITE), "{alg}");

    let a = svc.get("/notes", Some(&tamper_signature(&read))).await;
    assert_invalid_token(&a, Some("signature is invalid"), &format!("{alg} tampered signature"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ps256_compact() {
    compact("PS256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_compact() {
    compact("ES256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eddsa_compact() {
    compact("EdDSA").await;
}

// ---------------------------------------------------------------------------
// 3. Key rotation at the provider while the service keeps running.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_new_kid_is_fetched_without_restarting_the_service() {
    let mut provider = OidcProvider::start(ProviderConfig::new("RS256")).await;
    // The example's configuration, defaults included: the unknown-kid cooldown runs from the
    // last kid-triggered refetch, so a rotation right after the first fetch is picked up at once.
    let guard = example_builder(&provider).build().expect("guard");
    let svc = Service::start(&guard).await;

    let old_kid = provider.kid().to_owned();
    let old = provider.token(&["notes:read"]).await;
    assert_eq!(decode_part(&old, 0)["kid"], old_kid.as_str());
    let a = svc.get("/notes", Some(&old)).await;
    assert_eq!(a.status, 200, "old key, before rotation: body {}", a.body);

    provider.restart_with_new_keys().await;
    let new_kid = provider.kid().to_owned();
    assert_ne!(new_kid, old_kid);

    let new = provider.token(&["notes:read"]).await;
    assert_eq!(decode_part(&new, 0)["kid"], new_kid.as_str());
    let a = svc.get("/notes", Some(&new)).await;
    assert_eq!(a.status, 200, "new kid after rotation: body {}, challenge {:?}", a.body, a.challenge);
    let stats = guard.key_stats().await;
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!(stats[0].fetches, 2, "one initial fetch + one unknown-kid refetch: {stats:?}");

    // The old key is gone from the provider's JWKS: a token signed with it (and already in the
    // verified-token cache) must be refused now.
    let a = svc.get("/notes", Some(&old)).await;
    eprintln!("old-kid token after rotation: HTTP {} challenge {:?}", a.status, a.challenge);
    assert_invalid_token(&a, None, "old kid after rotation");

    // And the new token keeps working.
    let a = svc.get("/notes", Some(&new)).await;
    assert_eq!(a.status, 200, "new kid, again: body {}", a.body);
}

// ---------------------------------------------------------------------------
// 4. Expiry, with the verified-token cache on (the default) on purpose: cached tokens still
//    expire.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_refused_even_when_cached() {
    let provider =
        OidcProvider::start(ProviderConfig { alg: "ES256", access_token_ttl_secs: 2, audience: AUDIENCE.to_owned() })
            .await;
    // Leeway 0 (default 30 s) only to keep this test short: with a 2 s token lifetime the
    // refusal comes right after `exp` instead of 30 s later.
    let guard = example_builder(&provider).leeway(Duration::ZERO).verified_token_cache(true).build().expect("guard");
    let svc = Service::start(&guard).await;

    // Warm the key cache (discovery + JWKS) so the real token below is used at once.
    let _ = svc.get("/me", Some(&provider.token(&["notes:read"]).await)).await;

    let token = provider.token(&["notes:read"]).await;
    let exp = decode_part(&token, 1)["exp"].as_u64().expect("exp");
    let a = svc.get("/notes", Some(&token)).await;
    assert_eq!(a.status, 200, "fresh token: body {}, challenge {:?}", a.body, a.challenge);
    let a = svc.get("/notes", Some(&token)).await; // served from the verified-token cache
    assert_eq!(a.status, 200, "fresh token, again: body {}", a.body);

    // Sleep until 1 s past exp (about 3 s after issue).
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let until = Duration::from_secs(exp + 1);
    tokio::time::sleep(until.saturating_sub(now)).await;

    let a = svc.get("/notes", Some(&token)).await;
    assert_invalid_token(&a, Some("token has expired"), "after exp");
    let a = svc.get("/me", Some(&token)).await;
    assert_invalid_token(&a, Some("token has expired"), "after exp, /me");
}
