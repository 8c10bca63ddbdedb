//! Issue 12: opaque tokens through RFC 7662 introspection, against the `TestIssuer`'s
//! introspection endpoint on loopback. Every fault (down, slow, 500, HTML, oversized, redirect,
//! `active:"true"`, `active` missing, wrong `iss`, wrong `aud`) comes with its good-token
//! control; single flight, the negative cache and the in-flight cap are counted at the server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::testing::{Failure, TestIssuer};
use bearer_guard::{
    AccessTokenClaims, BearerGuard, BearerGuardBuilder, Claims, ClientAuth, ConfigError, Introspection,
    IntrospectionMode, Issuer, KeyCachePolicy, RequireScope, Scopes,
};
use http::{Request, StatusCode, header};
use tower::ServiceExt;

const AUDIENCE: &str = TestIssuer::DEFAULT_AUDIENCE;

bearer_guard::scopes! {
    /// Read notes.
    pub struct NotesRead = "notes:read";
}

fn introspection() -> Introspection {
    Introspection::new(
        TestIssuer::INTROSPECTION_CLIENT_ID,
        ClientAuth::client_secret_basic(TestIssuer::INTROSPECTION_CLIENT_SECRET),
    )
}

fn policy() -> KeyCachePolicy {
    let mut p = KeyCachePolicy::default();
    p.fetch_timeout = Duration::from_millis(500);
    p
}

fn builder(issuer: &TestIssuer, introspection: Introspection) -> BearerGuardBuilder {
    BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .key_cache_policy(policy())
        .introspection(introspection)
}

fn guard(issuer: &TestIssuer) -> BearerGuard {
    builder(issuer, introspection()).build().unwrap()
}

fn app(guard: &BearerGuard) -> Router {
    async fn me(Claims(c): Claims<AccessTokenClaims>, scopes: Scopes) -> String {
        format!("{} {}", c.sub.unwrap_or_default(), scopes.iter().collect::<Vec<_>>().join(","))
    }
    Router::new()
        .route("/me", get(me))
        .route("/notes", get(|_: RequireScope<NotesRead>| async { "notes" }))
        .route_layer(guard.layer())
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    retry_after: Option<String>,
    body: String,
}

async fn call(app: &Router, path: &str, token: &str) -> Answer {
    let request = Request::get(path).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty());
    let response = app.clone().oneshot(request.unwrap()).await.unwrap();
    let (challenge, retry_after) = {
        let headers = response.headers();
        let get = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        (get(header::WWW_AUTHENTICATE), get(header::RETRY_AFTER))
    };
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    Answer { status, challenge, retry_after, body: String::from_utf8(bytes.to_vec()).unwrap() }
}

fn assert_refused(a: &Answer, description: &str) {
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    let c = a.challenge.as_deref().unwrap();
    assert!(c.contains("error=\"invalid_token\"") && c.contains(description), "{c}");
}

fn assert_unavailable(a: &Answer) {
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert!(a.retry_after.is_some(), "503 without Retry-After");
    assert!(a.challenge.is_none(), "a 503 carries no challenge: the client did nothing wrong");
}

#[tokio::test]
async fn opaque_token_reaches_handlers_as_claims_and_scopes() {
    let issuer = TestIssuer::start().await;
    let app = app(&guard(&issuer));
    let token = issuer.opaque_token().subject("alice").scopes(["notes:read", "admin"]).issue();
    let a = call(&app, "/me", &token).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, "alice admin,notes:read");
    assert_eq!(call(&app, "/notes", &token).await.status, StatusCode::OK);
    let reader_less = issuer.opaque_token().scopes(["admin"]).issue();
    let a = call(&app, "/notes", &reader_less).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.challenge.unwrap().contains("scope=\"notes:read\""));
    // Two distinct tokens, each asked once, whatever the number of requests.
    assert_eq!(issuer.introspection_requests(), 2);
    let form = issuer.last_introspection_form().unwrap();
    assert!(form.contains(&("token_type_hint".to_owned(), "access_token".to_owned())));
}

#[tokio::test]
async fn jwt_of_the_same_issuer_is_verified_locally_in_opaque_only_mode() {
    let issuer = TestIssuer::start().await;
    let app = app(&guard(&issuer));
    let jwt = issuer.token().scopes(["notes:read"]).sign().unwrap();
    assert_eq!(call(&app, "/notes", &jwt).await.status, StatusCode::OK);
    let forged = issuer.token().unpublished_key().sign().unwrap();
    assert_refused(&call(&app, "/me", &forged).await, "signature is invalid");
    assert_eq!(issuer.introspection_requests(), 0);
}

#[tokio::test]
async fn all_mode_introspects_jwts_too_and_sees_their_revocation() {
    let issuer = TestIssuer::start().await;
    let g = builder(&issuer, introspection().mode(IntrospectionMode::All)).build().unwrap();
    let app = app(&g);
    // The JWT itself is valid, but the authorization server does not know it: inactive.
    let jwt = issuer.token().scopes(["notes:read"]).sign().unwrap();
    assert_refused(&call(&app, "/notes", &jwt).await, "token is not active");
    assert_eq!(issuer.introspection_requests(), 1);
    let opaque = issuer.opaque_token().scopes(["notes:read"]).issue();
    assert_eq!(call(&app, "/notes", &opaque).await.status, StatusCode::OK);
}

#[tokio::test]
async fn revoked_token_is_refused_once_its_cache_entry_ends() {
    let issuer = TestIssuer::start().await;
    let g = builder(&issuer, introspection().cache_ttl(Duration::from_millis(300))).build().unwrap();
    let app = app(&g);
    let token = issuer.opaque_token().issue();
    assert_eq!(call(&app, "/me", &token).await.status, StatusCode::OK);
    assert!(issuer.revoke(&token));
    // Still cached: served without asking.
    assert_eq!(call(&app, "/me", &token).await.status, StatusCode::OK);
    assert_eq!(issuer.introspection_requests(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_refused(&call(&app, "/me", &token).await, "token is not active");
    assert_eq!(issuer.introspection_requests(), 2);
    // Control: another token of the same issuer passes.
    assert_eq!(call(&app, "/me", &issuer.opaque_token().issue()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn expired_and_unknown_tokens_are_refused() {
    let issuer = TestIssuer::start().await;
    let app = app(&guard(&issuer));
    assert_refused(&call(&app, "/me", &issuer.opaque_token().expires_in(-10).issue()).await, "token is not active");
    assert_refused(&call(&app, "/me", "bm90LWEtcmVhbC10b2tlbg").await, "token is not active");
    assert_eq!(call(&app, "/me", &issuer.opaque_token().issue()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn answers_that_are_not_a_clean_active_true_are_refused_each_with_its_control() {
    let issuer = TestIssuer::start().await;
    let app = app(&guard(&issuer));
    let cases = [
        ("active:\"true\" (a string)", issuer.opaque_token().claim("active", "true").issue(), "token is not active"),
        ("active missing", issuer.opaque_token().remove_claim("active").issue(), "token is not active"),
        ("wrong iss", issuer.opaque_token().issuer("https://evil.example").issue(), "issuer is not trusted"),
        ("wrong aud", issuer.opaque_token().audience("https://other.example").issue(), "not meant for this audience"),
        ("refresh token", issuer.opaque_token().claim("token_type", "refresh_token").issue(), "token type"),
    ];
    for (name, bad, description) in cases {
        let a = call(&app, "/me", &bad).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(a.challenge.as_deref().unwrap().contains(description), "{name}: {:?}", a.challenge);
        let good = issuer.opaque_token().issue();
        assert_eq!(call(&app, "/me", &good).await.status, StatusCode::OK, "control of {name}");
    }
}

#[tokio::test]
async fn endpoint_failures_are_503_with_retry_after_each_with_its_control() {
    let issuer = TestIssuer::start().await;
    let app = app(&guard(&issuer));
    let cached = issuer.opaque_token().issue();
    assert_eq!(call(&app, "/me", &cached).await.status, StatusCode::OK);
    let failures = [
        Failure::Status(500),
        Failure::Status(502),
        Failure::Html,
        Failure::OversizedBody(200 * 1024),
        Failure::OversizedChunkedBody(200 * 1024),
        Failure::Redirect(format!("{}/elsewhere", issuer.issuer())),
        Failure::Slow(Duration::from_secs(2)),
    ];
    for failure in failures {
        issuer.set_introspection_failure(failure.clone());
        let token = issuer.opaque_token().issue();
        assert_unavailable(&call(&app, "/me", &token).await);
        // A cached active answer keeps serving.
        assert_eq!(call(&app, "/me", &cached).await.status, StatusCode::OK, "cached token under {failure:?}");
        issuer.set_introspection_failure(Failure::None);
        // Control: the same token once the endpoint answers again (errors are not cached).
        assert_eq!(call(&app, "/me", &token).await.status, StatusCode::OK, "control of {failure:?}");
    }
}

#[tokio::test]
async fn authorization_server_down_is_503_and_recovers() {
    let issuer = TestIssuer::start().await;
    let app = app(&guard(&issuer));
    assert_eq!(call(&app, "/me", &issuer.opaque_token().issue()).await.status, StatusCode::OK);
    let token = issuer.opaque_token().issue();
    issuer.set_failure(Failure::Down);
    assert_unavailable(&call(&app, "/me", &token).await);
    issuer.set_failure(Failure::None);
    assert_eq!(call(&app, "/me", &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_client_credentials_are_503_not_invalid_token() {
    let issuer = TestIssuer::start().await;
    let wrong = Introspection::new(TestIssuer::INTROSPECTION_CLIENT_ID, ClientAuth::client_secret_basic("wrong"));
    let app_wrong = app(&builder(&issuer, wrong).build().unwrap());
    let token = issuer.opaque_token().issue();
    let logs = capture_logs();
    assert_unavailable(&call(&app_wrong, "/me", &token).await);
    let logged = logs.lock().unwrap().clone();
    assert!(logged.contains("refused this API's client credentials (HTTP 401)"), "{logged}");
    assert!(!logged.contains(&token), "the token must never be logged");
    // Control: the right secret.
    assert_eq!(call(&app(&guard(&issuer)), "/me", &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn client_secret_post_and_private_key_jwt_authenticate() {
    let issuer = TestIssuer::start().await;
    let post = Introspection::new(
        TestIssuer::INTROSPECTION_CLIENT_ID,
        ClientAuth::client_secret_post(TestIssuer::INTROSPECTION_CLIENT_SECRET),
    );
    let app_post = app(&builder(&issuer, post).build().unwrap());
    assert_eq!(call(&app_post, "/me", &issuer.opaque_token().issue()).await.status, StatusCode::OK);
    let form = issuer.last_introspection_form().unwrap();
    assert!(form.contains(&("client_secret".to_owned(), TestIssuer::INTROSPECTION_CLIENT_SECRET.to_owned())));

    let pem = include_bytes!("../benches/load/fixtures/bench-rs256.key.pem");
    let auth = ClientAuth::private_key_jwt(bearer_guard::Algorithm::RS256, pem).unwrap().key_id("rs-key");
    let pkjwt = Introspection::new(TestIssuer::INTROSPECTION_CLIENT_ID, auth);
    let app_jwt = app(&builder(&issuer, pkjwt).build().unwrap());
    assert_eq!(call(&app_jwt, "/me", &issuer.opaque_token().issue()).await.status, StatusCode::OK);
    let form = issuer.last_introspection_form().unwrap();
    let assertion = &form.iter().find(|(k, _)| k == "client_assertion").unwrap().1;
    let payload = assertion.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["aud"], issuer.introspection_endpoint());
    assert_eq!(claims["iss"], TestIssuer::INTROSPECTION_CLIENT_ID);
    assert!(claims["exp"].as_u64().unwrap() <= claims["iat"].as_u64().unwrap() + 60);
}

#[tokio::test]
async fn rfc9701_jwt_answers_are_verified_with_the_issuers_keys() {
    let issuer = TestIssuer::start().await;
    let app = app(&builder(&issuer, introspection().jwt_answers(true)).build().unwrap());
    let token = issuer.opaque_token().subject("bob").issue();
    let a = call(&app, "/me", &token).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.starts_with("bob"));
    let revoked = issuer.opaque_token().issue();
    issuer.revoke(&revoked);
    assert_refused(&call(&app, "/me", &revoked).await, "token is not active");
    // A plain JSON answer (a downgrade) is not accepted when JWT answers are required (under
    // any failure mode, even a zero delay, the TestIssuer answers plain JSON).
    issuer.set_introspection_failure(Failure::Slow(Duration::ZERO));
    assert_unavailable(&call(&app, "/me", &issuer.opaque_token().issue()).await);
}

#[tokio::test]
async fn hundred_concurrent_requests_with_one_new_token_make_one_call() {
    let issuer = TestIssuer::start().await;
    issuer.set_introspection_failure(Failure::Slow(Duration::from_millis(200)));
    let app = app(&guard(&issuer));
    let token = issuer.opaque_token().issue();
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move { call(&app, "/me", &token).await.status })
        })
        .collect();
    for handle in calls {
        assert_eq!(handle.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(issuer.introspection_requests(), 1);
}

#[tokio::test]
async fn a_flood_of_one_bad_token_costs_one_call() {
    let issuer = TestIssuer::start().await;
    let app = app(&guard(&issuer));
    for _ in 0..50 {
        assert_refused(&call(&app, "/me", "cmFuZG9tLWJhZC10b2tlbg").await, "token is not active");
    }
    assert_eq!(issuer.introspection_requests(), 1);
}

#[tokio::test]
async fn the_in_flight_cap_holds_and_the_rest_get_503_quickly() {
    let issuer = TestIssuer::start().await;
    // Discovery first, so the slow endpoint is the only thing that takes time.
    let g = builder(&issuer, introspection().max_in_flight(2).max_wait(Duration::from_millis(50))).build().unwrap();
    let app = app(&g);
    assert_eq!(call(&app, "/me", &issuer.opaque_token().issue()).await.status, StatusCode::OK);
    issuer.set_introspection_failure(Failure::Slow(Duration::from_millis(400)));
    let before = issuer.introspection_requests();
    let tokens: Vec<String> = (0..10).map(|_| issuer.opaque_token().issue()).collect();
    let calls: Vec<_> = tokens
        .iter()
        .map(|t| {
            let (app, t) = (app.clone(), t.clone());
            tokio::spawn(async move { call(&app, "/me", &t).await })
        })
        .collect();
    let mut answers = Vec::new();
    for handle in calls {
        answers.push(handle.await.unwrap());
    }
    let ok = answers.iter().filter(|a| a.status == StatusCode::OK).count();
    let busy: Vec<&Answer> = answers.iter().filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert_eq!(ok, 2, "only the calls within the cap are made");
    assert_eq!(busy.len(), 8);
    for a in busy {
        assert_unavailable(a);
    }
    assert_eq!(issuer.introspection_requests() - before, 2);
    // Control: once the slots are free, a refused token passes.
    issuer.set_introspection_failure(Failure::None);
    let refused = answers.iter().position(|a| a.status != StatusCode::OK).unwrap();
    assert_eq!(call(&app, "/me", &tokens[refused]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn explicit_endpoint_skips_discovery() {
    let issuer = TestIssuer::start().await;
    let g = BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .introspection(introspection().endpoint(issuer.introspection_endpoint()))
        .build()
        .unwrap();
    assert_eq!(call(&app(&g), "/me", &issuer.opaque_token().issue()).await.status, StatusCode::OK);
    assert_eq!(issuer.discovery_requests(), 0);
}

#[test]
fn only_one_issuer_may_introspect_and_secrets_stay_out_of_debug() {
    let e = BearerGuard::builder()
        .issuer("https://a.example.com")
        .audience("api")
        .introspection(Introspection::new("rs", ClientAuth::client_secret_basic("top-secret-1")))
        .trust(
            Issuer::new("https://b.example.com")
                .audience("api")
                .introspection(Introspection::new("rs", ClientAuth::client_secret_basic("x"))),
        )
        .build();
    assert!(matches!(e, Err(ConfigError::InvalidSetting { name: "introspection", .. })));
    let g = BearerGuard::builder()
        .issuer("https://a.example.com")
        .audience("api")
        .introspection(Introspection::new("rs", ClientAuth::client_secret_basic("top-secret-1")))
        .build()
        .unwrap();
    assert!(!format!("{g:?}").contains("top-secret-1"));
    let e = BearerGuard::builder()
        .issuer("https://a.example.com")
        .audience("api")
        .introspection(introspection().endpoint("http://as.example.com/introspect"))
        .build();
    assert!(matches!(e, Err(ConfigError::InvalidUrl { .. })));
}

/// Collects this thread's log output (the tests run on a current-thread runtime).
fn capture_logs() -> Arc<Mutex<String>> {
    #[derive(Clone)]
    struct Buffer(Arc<Mutex<String>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push_str(&String::from_utf8_lossy(buf));
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Arc::new(Mutex::new(String::new()));
    let writer = Buffer(Arc::clone(&logs));
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    // Kept for the rest of the test's thread.
    std::mem::forget(tracing::subscriber::set_default(subscriber));
    logs
}
