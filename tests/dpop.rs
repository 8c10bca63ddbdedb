//! DPoP (RFC 9449) at the guard: one test per §4.3 check, each with its good-proof control, the
//! scheme rules (§7.1, §7.2), modes, challenges, server nonces and the replay store.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Router, response::Response};
use bearer_guard::testing::{DpopKey, TestIssuer};
use bearer_guard::{
    BearerGuard, BearerGuardBuilder, BoxFuture, DpopMode, MemoryReplayStore, ReplayStore, ReplayStoreError,
    SenderConstraint, VerifiedToken,
};
use http::{Request, StatusCode};
use jsonwebtoken::Algorithm;
use serde_json::json;
use tower::ServiceExt;

const BASE: &str = "https://api.example.com";

struct Setup {
    issuer: TestIssuer,
    app: Router,
    key: DpopKey,
}

async fn handler(token: VerifiedToken) -> String {
    match token.sender_constraint() {
        Some(SenderConstraint::Dpop { jkt }) => format!("dpop {jkt}"),
        Some(SenderConstraint::Certificate { x5t_s256 }) => format!("cert {x5t_s256}"),
        _ => "bearer".to_owned(),
    }
}

async fn setup_with(configure: impl FnOnce(BearerGuardBuilder) -> BearerGuardBuilder) -> Setup {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let builder =
        BearerGuard::builder().issuer(issuer.issuer()).audience(TestIssuer::DEFAULT_AUDIENCE).public_url(BASE).unwrap();
    let guard = configure(builder).build().unwrap();
    let app = Router::new().route("/notes", get(handler).post(handler)).route_layer(guard.layer());
    Setup { issuer, app, key: DpopKey::generate(Algorithm::ES256).unwrap() }
}

async fn setup() -> Setup {
    setup_with(|b| b).await
}

impl Setup {
    fn token(&self) -> String {
        self.issuer.token().dpop_bound(&self.key).sign().unwrap()
    }

    fn proof(&self, token: &str) -> String {
        self.key.proof("GET", &format!("{BASE}/notes")).access_token(token).sign().unwrap()
    }

    async fn call(&self, method: &str, path: &str, authorization: Option<String>, proofs: &[&str]) -> Response {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        for p in proofs {
            request = request.header("dpop", *p);
        }
        self.app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
    }

    async fn dpop(&self, token: &str, proof: &str) -> Response {
        self.call("GET", "/notes", Some(format!("DPoP {token}")), &[proof]).await
    }

    /// The good-proof control: a fresh valid proof for `token` passes.
    async fn control(&self, token: &str) {
        let response = self.dpop(token, &self.proof(token)).await;
        assert_eq!(response.status(), StatusCode::OK, "the good-proof control must pass");
    }
}

fn challenges(r: &Response) -> Vec<String> {
    r.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// Asserts a 401 with a DPoP `invalid_dpop_proof` challenge carrying `description`.
fn assert_bad_proof(r: &Response, description: &str) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let c = challenges(r);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(c[0].starts_with("DPoP algs=\"ES256"), "{c:?}");
    assert!(c[0].contains("error=\"invalid_dpop_proof\""), "{c:?}");
    assert!(c[0].contains(&format!("error_description=\"{description}\"")), "{c:?}");
}

fn assert_invalid_token(r: &Response, description: &str) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let c = challenges(r);
    assert!(c.iter().any(|c| c.contains("error=\"invalid_token\"") && c.contains(description)), "{c:?}");
}

#[tokio::test]
async fn a_good_proof_passes_and_the_handler_sees_the_binding() {
    let s = setup().await;
    let token = s.token();
    let response = s.dpop(&token, &s.proof(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
    assert_eq!(std::str::from_utf8(&body).unwrap(), format!("dpop {}", s.key.thumbprint()));
}

#[tokio::test]
async fn scheme_name_is_case_insensitive() {
    let s = setup().await;
    let token = s.token();
    let r = s.call("GET", "/notes", Some(format!("dpop {token}")), &[&s.proof(&token)]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

// §4.3 check 1: not more than one DPoP header.
#[tokio::test]
async fn two_dpop_headers_are_invalid_request() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    let (a, b) = (s.proof(&token), s.proof(&token));
    let r = s.call("GET", "/notes", Some(format!("DPoP {token}")), &[&a, &b]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(challenges(&r)[0].starts_with("DPoP "));
    assert!(challenges(&r)[0].contains("error=\"invalid_request\""));
}

#[tokio::test]
async fn a_missing_proof_is_refused() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    let r = s.call("GET", "/notes", Some(format!("DPoP {token}")), &[]).await;
    assert_bad_proof(&r, "DPoP proof is missing");
}

// §4.3 check 2: the header is a single well-formed JWT.
#[tokio::test]
async fn a_proof_that_is_not_a_jwt_is_refused() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    for bad in ["x", "a.b", "a.b.c", "a.b.c.d.e"] {
        assert_bad_proof(&s.dpop(&token, bad).await, "DPoP proof is not a well-formed JWT");
    }
    let huge = "a".repeat(9000) + ".b.c";
    assert_bad_proof(&s.dpop(&token, &huge).await, "DPoP proof is too large");
}

// §4.3 check 3: all required claims.
#[tokio::test]
async fn each_required_claim_is_required() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    for claim in ["jti", "htm", "htu", "iat"] {
        let proof =
            s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).remove_claim(claim).sign().unwrap();
        assert_bad_proof(&s.dpop(&token, &proof).await, &format!("DPoP proof {claim} is missing or invalid"));
    }
    let proof = s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).claim("iat", "now").sign().unwrap();
    assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof iat is missing or invalid");
}

// §4.3 check 4: typ is dpop+jwt.
#[tokio::test]
async fn typ_must_be_dpop_jwt() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    for typ in [Some("JWT"), Some("at+jwt"), None] {
        let mut b = s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token);
        b = match typ {
            Some(t) => b.header("typ", t),
            None => b.remove_header("typ"),
        };
        assert_bad_proof(&s.dpop(&token, &b.sign().unwrap()).await, "DPoP proof typ is not dpop+jwt");
    }
}

// §4.3 check 5: alg asymmetric, not none, in the allow-list.
#[tokio::test]
async fn alg_must_be_asymmetric_and_allowed() {
    let s = setup_with(|b| b.dpop_algorithms([Algorithm::ES256, Algorithm::HS256])).await;
    let token = s.token();
    s.control(&token).await;
    for alg in ["none", "HS256", "ES384", "RS256"] {
        let proof =
            s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).header("alg", alg).sign().unwrap();
        assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof algorithm is not accepted");
    }
    let proof =
        s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).header("crit", json!(["x"])).sign().unwrap();
    assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof has unsupported critical header parameters");
}

// §4.3 check 7: jwk is a public key.
#[tokio::test]
async fn jwk_must_be_a_public_key() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    let mut with_d = s.key.public_jwk();
    with_d["d"] = json!("c2VjcmV0");
    let proof = s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).header("jwk", with_d).sign().unwrap();
    assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof jwk contains a private key");
    let proof = s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).remove_header("jwk").sign().unwrap();
    assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof jwk is not a usable public key");
    let oct = json!({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"});
    let proof = s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).header("jwk", oct).sign().unwrap();
    assert!(s.dpop(&token, &proof).await.status() == StatusCode::UNAUTHORIZED);
}

// §4.3 check 6: the signature verifies with the header's jwk.
#[tokio::test]
async fn the_signature_must_verify_with_the_jwk() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    // Signed by another key, claiming this key in the header.
    let proof = other
        .proof("GET", &format!("{BASE}/notes"))
        .access_token(&token)
        .header("jwk", s.key.public_jwk())
        .sign()
        .unwrap();
    assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof signature is invalid");
    // A good proof with its claims swapped after signing.
    let good = s.proof(&token);
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims =
        base64_url(&json!({"jti": "x", "htm": "GET", "htu": format!("{BASE}/notes"), "iat": now()}).to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    assert_bad_proof(&s.dpop(&token, &forged).await, "DPoP proof signature is invalid");
}

// §4.3 check 8: htm is the request method.
#[tokio::test]
async fn htm_must_be_the_method() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    let post = s.key.proof("POST", &format!("{BASE}/notes")).access_token(&token).sign().unwrap();
    assert_bad_proof(&s.dpop(&token, &post).await, "DPoP proof htm does not match the request method");
    let lower = s.key.proof("get", &format!("{BASE}/notes")).access_token(&token).sign().unwrap();
    assert_bad_proof(&s.dpop(&token, &lower).await, "DPoP proof htm does not match the request method");
    let post = s.key.proof("POST", &format!("{BASE}/notes")).access_token(&token).sign().unwrap();
    let r = s.call("POST", "/notes", Some(format!("DPoP {token}")), &[&post]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

// §4.3 check 9: htu is the configured base URL + path, normalized, query and fragment ignored.
#[tokio::test]
async fn htu_must_be_the_public_url_of_the_request() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    for bad in [
        format!("{BASE}/other"),
        "https://evil.example.com/notes".to_owned(),
        "http://api.example.com/notes".to_owned(),
        "https://api.example.com:8443/notes".to_owned(),
        format!("{BASE}/Notes"),
        "/notes".to_owned(),
    ] {
        let proof = s.key.proof("GET", &bad).access_token(&token).sign().unwrap();
        assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof htu does not match the request URI");
    }
    // The Host header is the client's: it never makes a proof for another host acceptable.
    let proof = s.key.proof("GET", "https://evil.example.com/notes").access_token(&token).sign().unwrap();
    let request = Request::get("/notes")
        .header("host", "evil.example.com")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(Body::empty())
        .unwrap();
    assert_eq!(s.app.clone().oneshot(request).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // Equivalent spellings are accepted (RFC 3986 §6.2.2), query and fragment ignored.
    for good in [
        "HTTPS://API.EXAMPLE.COM:443/notes?page=2#x".to_owned(),
        "https://api.example.com/%6eotes".to_owned(),
        "https://api.example.com/x/../notes".to_owned(),
    ] {
        let proof = s.key.proof("GET", &good).access_token(&token).sign().unwrap();
        let r = s.call("GET", "/notes?page=2", Some(format!("DPoP {token}")), &[&proof]).await;
        assert_eq!(r.status(), StatusCode::OK, "{good}");
    }
}

// §4.3 check 11: iat inside the window (60 s back, 5 s ahead by default).
#[tokio::test]
async fn iat_must_be_inside_the_window() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    for offset in [-50, 3] {
        let proof =
            s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).iat_offset(offset).sign().unwrap();
        assert_eq!(s.dpop(&token, &proof).await.status(), StatusCode::OK, "{offset}");
    }
    for offset in [-62, 7, -100_000] {
        let proof =
            s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).iat_offset(offset).sign().unwrap();
        assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof iat is outside the accepted window");
    }
}

#[tokio::test]
async fn the_iat_window_is_configurable() {
    let s = setup_with(|b| b.dpop_iat_window(Duration::from_secs(10), Duration::from_secs(0))).await;
    let token = s.token();
    s.control(&token).await;
    let proof = s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).iat_offset(-20).sign().unwrap();
    assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof iat is outside the accepted window");
}

// §4.3 check 11 (jti) / §11.1: a proof is used once.
#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let s = setup().await;
    let token = s.token();
    let proof = s.proof(&token);
    assert_eq!(s.dpop(&token, &proof).await.status(), StatusCode::OK);
    assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof has already been used");
    // Same jti with a fresh signature is the same proof for the store.
    let again = s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).jti("fixed").sign().unwrap();
    assert_eq!(s.dpop(&token, &again).await.status(), StatusCode::OK);
    let again = s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).jti("fixed").sign().unwrap();
    assert_bad_proof(&s.dpop(&token, &again).await, "DPoP proof has already been used");
}

// §4.3 check 12: ath is the hash of the access token.
#[tokio::test]
async fn ath_must_be_the_token_hash() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    let proof = s.key.proof("GET", &format!("{BASE}/notes")).sign().unwrap();
    assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof ath is missing");
    let other_token = s.token();
    let proof = s.key.proof("GET", &format!("{BASE}/notes")).access_token(&other_token).sign().unwrap();
    assert_bad_proof(&s.dpop(&token, &proof).await, "DPoP proof ath does not match the access token");
}

// §4.3 check 12: the token is bound to the proof's key (cnf.jkt).
#[tokio::test]
async fn the_token_must_be_bound_to_the_proof_key() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    let thief = DpopKey::generate(Algorithm::ES256).unwrap();
    let proof = thief.proof("GET", &format!("{BASE}/notes")).access_token(&token).sign().unwrap();
    let r = s.dpop(&token, &proof).await;
    assert_invalid_token(&r, "token is bound to another key than the DPoP proof");
    assert!(challenges(&r)[0].starts_with("DPoP algs="), "{:?}", challenges(&r));
}

// §7.2: a DPoP-bound token sent as a bearer token is refused.
#[tokio::test]
async fn a_dpop_bound_token_as_bearer_is_refused() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    let r = s.call("GET", "/notes", Some(format!("Bearer {token}")), &[]).await;
    assert_invalid_token(&r, "token is DPoP-bound and must be sent with the DPoP scheme");
    // Also with a valid proof next to it, and also when the guard has DPoP off.
    let r = s.call("GET", "/notes", Some(format!("Bearer {token}")), &[&s.proof(&token)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let off = setup_with(|b| b.dpop(DpopMode::Off)).await;
    let token = off.token();
    let r = off.call("GET", "/notes", Some(format!("Bearer {token}")), &[]).await;
    assert_invalid_token(&r, "token is DPoP-bound");
    let plain = off.issuer.token().sign().unwrap();
    assert_eq!(off.call("GET", "/notes", Some(format!("Bearer {plain}")), &[]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_proof_with_an_unbound_token_is_refused() {
    let s = setup().await;
    let token = s.token();
    s.control(&token).await;
    let plain = s.issuer.token().sign().unwrap();
    let r = s.dpop(&plain, &s.proof(&plain)).await;
    assert_invalid_token(&r, "token is not DPoP-bound");
    // The same plain token as Bearer is fine in allowed mode.
    let r = s.call("GET", "/notes", Some(format!("Bearer {plain}")), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn allowed_mode_answers_no_token_with_both_challenges() {
    let s = setup().await;
    let r = s.call("GET", "/notes", None, &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&r),
        vec![
            "Bearer realm=\"api\"".to_owned(),
            "DPoP algs=\"ES256 ES384 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA\"".to_owned()
        ]
    );
    // With a good token the same route answers.
    s.control(&s.token()).await;
}

#[tokio::test]
async fn required_mode_refuses_bearer_and_challenges_with_dpop_only() {
    let s = setup_with(|b| b.dpop(DpopMode::Required).dpop_algorithms([Algorithm::ES256])).await;
    let plain = s.issuer.token().sign().unwrap();
    let r = s.call("GET", "/notes", Some(format!("Bearer {plain}")), &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&r),
        vec![
            "DPoP algs=\"ES256\", error=\"invalid_token\", error_description=\"a DPoP-bound token is required\""
                .to_owned()
        ]
    );
    let r = s.call("GET", "/notes", None, &[]).await;
    assert_eq!(challenges(&r), vec!["DPoP algs=\"ES256\"".to_owned()]);
    s.control(&s.token()).await;
}

#[tokio::test]
async fn off_mode_does_not_read_the_dpop_scheme() {
    let s = setup_with(|b| b.dpop(DpopMode::Off)).await;
    let token = s.token();
    let r = s.dpop(&token, &s.proof(&token)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&r), vec!["Bearer realm=\"api\"".to_owned()]);
}

#[tokio::test]
async fn dpop_needs_a_public_url() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let e = BearerGuard::builder()
        .issuer(issuer.issuer())
        .audience(TestIssuer::DEFAULT_AUDIENCE)
        .dpop(DpopMode::Allowed)
        .build();
    assert!(e.is_err());
    assert!(BearerGuard::builder().issuer(issuer.issuer()).audience("a").public_url("not a url").is_err());
}

#[tokio::test]
async fn server_nonces_are_demanded_then_accepted() {
    let s = setup_with(|b| b.dpop_nonces([42u8; 32])).await;
    let token = s.token();
    let r = s.dpop(&token, &s.proof(&token)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let c = challenges(&r);
    assert_eq!(c.len(), 1);
    assert!(c[0].starts_with("DPoP algs=") && c[0].contains("error=\"use_dpop_nonce\""), "{c:?}");
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let proof = s.key.proof("GET", &format!("{BASE}/notes")).access_token(&token).nonce(&nonce).sign().unwrap();
    assert_eq!(s.dpop(&token, &proof).await.status(), StatusCode::OK);
    let forged = s
        .key
        .proof("GET", &format!("{BASE}/notes"))
        .access_token(&token)
        .nonce("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .sign()
        .unwrap();
    let r = s.dpop(&token, &forged).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("dpop-nonce"));
}

#[tokio::test]
async fn a_full_replay_store_refuses_with_503_and_keeps_refusing_replays() {
    let store = Arc::new(MemoryReplayStore::new(3));
    #[derive(Debug)]
    struct Shared(Arc<MemoryReplayStore>);
    impl ReplayStore for Shared {
        fn first_use<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, ReplayStoreError>> {
            self.0.first_use(key, ttl)
        }
    }
    let s = setup_with(|b| b.dpop_replay_store(Shared(Arc::clone(&store)))).await;
    let token = s.token();
    let first = s.proof(&token);
    assert_eq!(s.dpop(&token, &first).await.status(), StatusCode::OK);
    for _ in 0..2 {
        s.control(&token).await;
    }
    assert_eq!(store.len(), 3);
    // A flood of fresh, valid proofs: refused with 503, the store stays at its bound.
    for _ in 0..20 {
        let r = s.dpop(&token, &s.proof(&token)).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key("retry-after"));
    }
    assert_eq!(store.len(), 3);
    // Nothing was evicted: the first proof is still a replay.
    assert_bad_proof(&s.dpop(&token, &first).await, "DPoP proof has already been used");
}

#[tokio::test]
async fn a_failing_replay_store_fails_closed() {
    #[derive(Debug)]
    struct Down;
    impl ReplayStore for Down {
        fn first_use<'a>(&'a self, _: &'a str, _: Duration) -> BoxFuture<'a, Result<bool, ReplayStoreError>> {
            Box::pin(async { Err(ReplayStoreError::Unavailable("connection refused".into())) })
        }
    }
    let s = setup_with(|b| b.dpop_replay_store(Down)).await;
    let token = s.token();
    assert_eq!(s.dpop(&token, &s.proof(&token)).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Bearer tokens don't need the store.
    let plain = s.issuer.token().sign().unwrap();
    assert_eq!(s.call("GET", "/notes", Some(format!("Bearer {plain}")), &[]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn proofs_of_every_key_type_are_accepted() {
    let s = setup().await;
    for alg in [Algorithm::ES384, Algorithm::EdDSA, Algorithm::PS256, Algorithm::RS256] {
        let key = DpopKey::generate(alg).unwrap();
        let token = s.issuer.token().dpop_bound(&key).sign().unwrap();
        let proof = key.proof("GET", &format!("{BASE}/notes")).access_token(&token).sign().unwrap();
        assert_eq!(s.dpop(&token, &proof).await.status(), StatusCode::OK, "{alg:?}");
    }
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
