//! Known attacks on JWT bearer authentication. Each case sends the attack and
//! checks the exact RFC 6750 answer (status and `WWW-Authenticate`), then sends the same request
//! with a good token and checks that it passes, so a refusal can't come from a broken fixture.
//!
//! Guards: a JWKS guard on a `TestIssuer` with RS256, PS256 and ES256 keys; an HS256 guard with
//! a configured secret (its tokens are signed here, byte for byte, so raw JSON can be signed);
//! a guard with a static RSA key whose private half is known here (for raw JSON and for
//! PS256/RS256 confusion under one key); and a "mixed" guard trusting both a JWKS issuer and an
//! HS issuer, so HS256 is in its allow-list (the setting where algorithm confusion matters).
//!
//! Where the description is debatable, `Want::loose` checks status and `error` exactly and the
//! description against a list; the choice is noted at the case.

mod support;

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{Algorithm, BearerGuard, Issuer, StaticKey};
use http::{HeaderValue, Request, StatusCode, header};
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};
use support::{Answer, b64, bearer, decode_json, now, now_f64, protected, send, split3};

const SUBJECT: &str = "alice";
const AUD: &str = TestIssuer::DEFAULT_AUDIENCE;
const HMAC_ISSUER: &str = "https://hmac-issuer.example.test";
const HMAC_KID: &str = "hs-1";
const HMAC_SECRET: &[u8] = b"the shared secret of bearer-guard's attack tests!";
const STATIC_ISSUER: &str = "https://static-rsa.example.test";
const STATIC_KID: &str = "static-rsa";

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

fn get_me() -> http::request::Builder {
    Request::get("/me")
}

/// The answer a refusal must have.
#[derive(Debug, Clone)]
enum Want {
    /// Status and `WWW-Authenticate` exactly.
    Exact(StatusCode, String),
    /// Status and `error` exactly, the description one of these.
    Loose(StatusCode, &'static str, &'static [&'static str]),
}

impl Want {
    /// 401 `invalid_token` with this description.
    fn token(description: &str) -> Self {
        Self::Exact(
            StatusCode::UNAUTHORIZED,
            format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#),
        )
    }

    /// 400 `invalid_request` with this description.
    fn request(description: &str) -> Self {
        Self::Exact(
            StatusCode::BAD_REQUEST,
            format!(r#"Bearer realm="api", error="invalid_request", error_description="{description}""#),
        )
    }

    /// 401 with the bare challenge (no token seen).
    fn bare() -> Self {
        Self::Exact(StatusCode::UNAUTHORIZED, r#"Bearer realm="api""#.to_owned())
    }

    /// 401 `invalid_token`, description one of these.
    fn token_any(descriptions: &'static [&'static str]) -> Self {
        Self::Loose(StatusCode::UNAUTHORIZED, "invalid_token", descriptions)
    }

    fn check(&self, answer: &Answer, what: &str) {
        match self {
            Self::Exact(status, challenge) => {
                assert_eq!(answer.status, *status, "{what}: {answer:?}");
                assert_eq!(answer.challenge.as_deref(), Some(challenge.as_str()), "{what}: {answer:?}");
            }
            Self::Loose(status, code, descriptions) => {
                assert_eq!(answer.status, *status, "{what}: {answer:?}");
                let challenge = answer.challenge.as_deref().unwrap_or_else(|| panic!("{what}: no challenge"));
                let prefix = format!(r#"Bearer realm="api", error="{code}", error_description=""#);
                let description = challenge
                    .strip_prefix(&prefix)
                    .and_then(|rest| rest.strip_suffix('"'))
                    .unwrap_or_else(|| panic!("{what}: unexpected challenge {challenge}"));
                assert!(descriptions.contains(&description), "{what}: {description:?} not in {descriptions:?}");
            }
        }
        // Never an internal detail or the token in the answer.
        assert!(!answer.body.contains("eyJ"), "{what}: body echoes a token: {answer:?}");
    }
}

async fn assert_refused_request(app: &Router, request: Request<Body>, want: &Want, what: &str) {
    want.check(&send(app, request).await, what);
}

async fn assert_refused(app: &Router, token: &str, want: &Want, what: &str) {
    assert_refused_request(app, bearer(token), want, what).await;
}

async fn assert_accepted_request(app: &Router, request: Request<Body>, what: &str) {
    let answer = send(app, request).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, SUBJECT), "{what} (good twin): {answer:?}");
    assert_eq!(answer.challenge, None, "{what} (good twin)");
}

async fn assert_accepted(app: &Router, token: &str, what: &str) {
    assert_accepted_request(app, bearer(token), what).await;
}

/// One case: `bad` is refused with `want`, and `good` (the same request with a good token) passes.
async fn case(app: &Router, bad: &str, want: Want, good: &str, what: &str) {
    assert_refused(app, bad, &want, what).await;
    assert_accepted(app, good, what).await;
}

/// `header.payload.signature` with raw JSON texts and a signature made by `sign`.
fn raw_token(header: &str, payload: &str, sign: impl FnOnce(&[u8]) -> String) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = sign(input.as_bytes());
    format!("{input}.{signature}")
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A `TestIssuer` with RS256, PS256 and ES256 keys and a guard on its JWKS.
struct Jwks {
    issuer: TestIssuer,
    app: Router,
    rs_kid: String,
    ps_kid: String,
    es_kid: String,
}

impl Jwks {
    async fn start() -> Self {
        let issuer = TestIssuer::start_with(&[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256]).await;
        let guard =
            BearerGuard::builder().issuer(issuer.issuer()).audience(AUD).jwks_uri(issuer.jwks_uri()).build().unwrap();
        Self::with(issuer, protected(&guard))
    }

    /// The same issuer behind a guard that also trusts an HS256 issuer (so HS256 is allowed).
    async fn start_mixed() -> Self {
        let issuer = TestIssuer::start_with(&[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256]).await;
        let guard = BearerGuard::builder()
            .issuer(issuer.issuer())
            .audience(AUD)
            .jwks_uri(issuer.jwks_uri())
            .trust(Issuer::new(HMAC_ISSUER).audience(AUD).static_key(hmac_key()))
            .build()
            .unwrap();
        Self::with(issuer, protected(&guard))
    }

    fn with(issuer: TestIssuer, app: Router) -> Self {
        let kids = issuer.kids();
        Self { rs_kid: kids[0].clone(), ps_kid: kids[1].clone(), es_kid: kids[2].clone(), issuer, app }
    }

    fn token(&self) -> bearer_guard::testing::TokenBuilder {
        self.issuer.token().subject(SUBJECT)
    }

    fn good(&self) -> String {
        self.token().sign().unwrap()
    }

    /// The published JWK with this kid.
    fn jwk(&self, kid: &str) -> Value {
        let jwks = self.issuer.jwks();
        jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap().clone()
    }

    /// Default claims of a good token, as JSON.
    fn claims(&self) -> Value {
        json!({
            "iss": self.issuer.issuer(), "sub": SUBJECT, "aud": AUD,
            "iat": now(), "exp": now() + 600, "jti": "attack",
        })
    }

    async fn case(&self, bad: &str, want: Want, what: &str) {
        case(&self.app, bad, want, &self.good(), what).await;
    }
}

fn hmac_key() -> StaticKey {
    StaticKey::hmac_secret(HMAC_SECRET).unwrap().with_kid(HMAC_KID)
}

fn hs_sign(secret: &[u8], alg: Algorithm) -> impl FnOnce(&[u8]) -> String + '_ {
    move |input| jsonwebtoken::crypto::sign(input, &EncodingKey::from_secret(secret), alg).unwrap()
}

/// A guard with only an HS256 secret; tokens are signed here from raw JSON.
struct Hs {
    app: Router,
}

impl Hs {
    fn start() -> Self {
        let guard = BearerGuard::builder().issuer(HMAC_ISSUER).audience(AUD).static_key(hmac_key()).build().unwrap();
        Self { app: protected(&guard) }
    }

    fn header() -> String {
        json!({"alg": "HS256", "kid": HMAC_KID, "typ": "at+jwt"}).to_string()
    }

    fn claims() -> Value {
        json!({"iss": HMAC_ISSUER, "sub": SUBJECT, "aud": AUD, "iat": now(), "exp": now() + 600})
    }

    fn sign(header: &str, payload: &str) -> String {
        raw_token(header, payload, hs_sign(HMAC_SECRET, Algorithm::HS256))
    }

    fn good() -> String {
        Self::sign(&Self::header(), &Self::claims().to_string())
    }

    /// A correctly signed token with these raw claims.
    fn with_claims(payload: &str) -> String {
        Self::sign(&Self::header(), payload)
    }

    async fn case(&self, bad: &str, want: Want, what: &str) {
        case(&self.app, bad, want, &Self::good(), what).await;
    }
}

/// An RSA key made here (private half known), published to a guard as a static PEM key, so
/// both RS* and PS* may verify with it.
struct StaticRsa {
    app: Router,
}

struct RsaMaterial {
    private_der: Vec<u8>,
    public_pem: String,
}

fn rsa_material() -> &'static RsaMaterial {
    static MATERIAL: OnceLock<RsaMaterial> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::pkcs8::EncodePublicKey as _;
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let private_der = key.to_pkcs1_der().unwrap().as_bytes().to_vec();
        let public_pem = key.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        RsaMaterial { private_der, public_pem }
    })
}

impl StaticRsa {
    fn start() -> Self {
        let key = StaticKey::rsa_pem(&rsa_material().public_pem).unwrap().with_kid(STATIC_KID);
        let guard = BearerGuard::builder().issuer(STATIC_ISSUER).audience(AUD).static_key(key).build().unwrap();
        Self { app: protected(&guard) }
    }

    fn header(alg: &str) -> String {
        json!({"alg": alg, "kid": STATIC_KID}).to_string()
    }

    fn claims() -> Value {
        json!({"iss": STATIC_ISSUER, "sub": SUBJECT, "aud": AUD, "exp": now() + 600})
    }

    fn sign(header: &str, payload: &str, alg: Algorithm) -> String {
        let key = EncodingKey::from_rsa_der(&rsa_material().private_der);
        raw_token(header, payload, |input| jsonwebtoken::crypto::sign(input, &key, alg).unwrap())
    }

    fn good() -> String {
        Self::sign(&Self::header("RS256"), &Self::claims().to_string(), Algorithm::RS256)
    }
}

/// Public-key material of a published RSA JWK, in the forms an attacker might use as an HMAC
/// secret: SPKI PEM (LF and CRLF, with and without the final newline), PKCS#1 PEM, SPKI DER,
/// PKCS#1 DER, the JWK's JSON text, and the raw modulus.
fn rsa_public_forms(jwk: &Value) -> Vec<(&'static str, Vec<u8>)> {
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs8::EncodePublicKey as _;
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&n), rsa::BigUint::from_bytes_be(&e)).unwrap();
    let spki_pem = key.to_public_key_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let spki_pem_crlf = key.to_public_key_pem(rsa::pkcs8::LineEnding::CRLF).unwrap();
    let pkcs1_pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
    vec![
        ("SPKI PEM", spki_pem.clone().into_bytes()),
        ("SPKI PEM without final newline", spki_pem.trim_end().as_bytes().to_vec()),
        ("SPKI PEM CRLF", spki_pem_crlf.into_bytes()),
        ("PKCS#1 PEM", pkcs1_pem.into_bytes()),
        ("SPKI DER", key.to_public_key_der().unwrap().as_bytes().to_vec()),
        ("PKCS#1 DER", key.to_pkcs1_der().unwrap().as_bytes().to_vec()),
        ("JWK JSON text", jwk.to_string().into_bytes()),
        ("modulus bytes", n),
    ]
}

// ---------------------------------------------------------------------------------------------
// alg: none, missing, unknown, wrong type
// ---------------------------------------------------------------------------------------------

const NONE_SPELLINGS: [&str; 4] = ["none", "None", "NONE", "nOnE"];

#[tokio::test]
async fn alg_none_with_an_empty_signature_is_refused() {
    let f = Jwks::start().await;
    for alg in NONE_SPELLINGS {
        let header = json!({"alg": alg, "typ": "JWT"}).to_string();
        let bad = format!("{}.{}.", b64(header), b64(f.claims().to_string()));
        // An empty signature is refused before `alg` is looked at: "signature is invalid".
        f.case(&bad, Want::token("signature is invalid"), &format!("alg {alg}, empty signature")).await;
        // With the kid of a real key too.
        let header = json!({"alg": alg, "kid": f.rs_kid}).to_string();
        let bad = format!("{}.{}.", b64(header), b64(f.claims().to_string()));
        f.case(&bad, Want::token("signature is invalid"), &format!("alg {alg} + kid, empty signature")).await;
    }
}

#[tokio::test]
async fn alg_none_with_a_garbage_signature_is_refused() {
    let f = Jwks::start().await;
    for alg in NONE_SPELLINGS {
        for kid in [None, Some(f.rs_kid.clone())] {
            let mut header = json!({"alg": alg});
            if let Some(kid) = &kid {
                header["kid"] = json!(kid);
            }
            let bad = format!("{}.{}.{}", b64(header.to_string()), b64(f.claims().to_string()), b64("garbage"));
            f.case(&bad, Want::token("signing algorithm is not accepted"), &format!("alg {alg}, kid {kid:?}")).await;
        }
    }
}

#[tokio::test]
async fn alg_none_is_refused_by_the_hs_guard_too() {
    let f = Hs::start();
    for alg in NONE_SPELLINGS {
        let header = json!({"alg": alg, "kid": HMAC_KID}).to_string();
        let payload = Hs::claims().to_string();
        let bad = format!("{}.{}.", b64(&header), b64(&payload));
        f.case(&bad, Want::token("signature is invalid"), &format!("HS guard, alg {alg}, empty sig")).await;
        // A "none" token carrying a real HS256 signature of its own input.
        let bad = Hs::sign(&header, &payload);
        f.case(&bad, Want::token("signing algorithm is not accepted"), &format!("HS guard, alg {alg}, HS sig")).await;
    }
}

#[tokio::test]
async fn alg_missing_unknown_or_not_a_string_is_refused() {
    let f = Jwks::start().await;
    let good = f.good();
    let (_, payload, signature) = split3(&good);
    let with_header = |header: Value| format!("{}.{payload}.{signature}", b64(header.to_string()));

    // A valid token with its `alg` removed (signature kept).
    let bad = with_header(json!({"kid": f.rs_kid, "typ": "at+jwt"}));
    f.case(&bad, Want::token("signing algorithm is not accepted"), "alg missing").await;
    // And re-signed by the issuer without `alg` in the header.
    let bad = f.token().remove_header("alg").sign().unwrap();
    f.case(&bad, Want::token("signing algorithm is not accepted"), "alg missing, signed").await;

    for alg in ["HS1024", "RSA-OAEP", "RSA1_5", "A256GCM", "ES256K", "rs256", "RS256 ", "", "EdDSA\u{0}"] {
        let bad = with_header(json!({"alg": alg, "kid": f.rs_kid}));
        f.case(&bad, Want::token("signing algorithm is not accepted"), &format!("alg {alg:?}")).await;
    }
    // Not a string: the header does not have the JWS shape.
    for alg in [json!(256), json!(null), json!(["RS256"]), json!({"name": "RS256"}), json!(true)] {
        let bad = with_header(json!({"alg": alg, "kid": f.rs_kid}));
        let want = if alg.is_null() {
            // `null` reads as absent.
            Want::token("signing algorithm is not accepted")
        } else {
            Want::token("access token is not a well-formed JWT")
        };
        f.case(&bad, want, &format!("alg {alg}")).await;
    }
}

#[tokio::test]
async fn duplicate_alg_in_the_header_is_refused() {
    let f = Jwks::start().await;
    let good = f.good();
    let (_, payload, signature) = split3(&good);
    for header in [
        format!(r#"{{"alg":"RS256","kid":"{}","alg":"none"}}"#, f.rs_kid),
        format!(r#"{{"alg":"none","kid":"{}","alg":"RS256"}}"#, f.rs_kid),
        format!(r#"{{"alg":"RS256","kid":"{0}","kid":"{0}"}}"#, f.rs_kid),
    ] {
        let bad = format!("{}.{payload}.{signature}", b64(&header));
        f.case(&bad, Want::token("access token is not a well-formed JWT"), &header).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Algorithm confusion
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused_by_a_jwks_only_guard() {
    let f = Jwks::start().await;
    let jwk = f.jwk(&f.rs_kid);
    for (form, secret) in rsa_public_forms(&jwk) {
        for kid in [Some(f.rs_kid.as_str()), None] {
            let mut header = json!({"alg": "HS256", "typ": "at+jwt"});
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            let bad = raw_token(&header.to_string(), &f.claims().to_string(), hs_sign(&secret, Algorithm::HS256));
            // HS is not in the allow-list without a configured secret.
            f.case(&bad, Want::token("signing algorithm is not accepted"), &format!("{form}, kid {kid:?}")).await;
        }
    }
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused_when_hs_is_allowed() {
    let f = Jwks::start_mixed().await;
    let hs_good = Hs::good();
    let jwk = f.jwk(&f.rs_kid);
    for (form, secret) in rsa_public_forms(&jwk) {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let name = format!("{alg:?}");
            // Naming the RSA key: the key's algorithms don't include HS*.
            let header = json!({"alg": name, "kid": f.rs_kid}).to_string();
            let bad = raw_token(&header, &f.claims().to_string(), hs_sign(&secret, alg));
            f.case(&bad, Want::token("signing algorithm does not match the key"), &format!("{form} {name} rs kid"))
                .await;
            // No kid: no key of the JWKS issuer is fit for HS (oct keys never come from a JWKS).
            let header = json!({"alg": name}).to_string();
            let bad = raw_token(&header, &f.claims().to_string(), hs_sign(&secret, alg));
            f.case(&bad, Want::token("signing key is not known"), &format!("{form} {name} no kid")).await;
        }
    }
    // The HS issuer's own tokens still pass on this guard.
    assert_accepted(&f.app, &hs_good, "mixed guard, HS issuer").await;
}

#[tokio::test]
async fn hs_token_under_the_jwks_issuer_or_with_a_jwks_kid_is_refused_on_the_mixed_guard() {
    let f = Jwks::start_mixed().await;
    // Signed with the real HS secret, but claiming the JWKS issuer: its keys are used, never the secret.
    let header = json!({"alg": "HS256", "kid": HMAC_KID}).to_string();
    let bad = raw_token(&header, &f.claims().to_string(), hs_sign(HMAC_SECRET, Algorithm::HS256));
    f.case(&bad, Want::token("signing key is not known"), "HS secret, JWKS iss, HS kid").await;
    // Claiming the HS issuer but naming a JWKS key id.
    let header = json!({"alg": "HS256", "kid": f.rs_kid}).to_string();
    let bad = raw_token(&header, &Hs::claims().to_string(), hs_sign(HMAC_SECRET, Algorithm::HS256));
    f.case(&bad, Want::token("signing key is not known"), "HS secret, HS iss, RSA kid").await;
}

#[tokio::test]
async fn the_hs_secret_cannot_verify_an_asymmetric_alg() {
    let f = Hs::start();
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        // An HS256 signature labelled as an asymmetric algorithm, under the HS key's kid.
        let header = json!({"alg": alg, "kid": HMAC_KID}).to_string();
        let bad = Hs::sign(&header, &Hs::claims().to_string());
        f.case(&bad, Want::token("signing algorithm does not match the key"), alg).await;
    }
    // Signed with another secret.
    let bad = raw_token(
        &Hs::header(),
        &Hs::claims().to_string(),
        hs_sign(b"another secret of thirty-two bytes at least", Algorithm::HS256),
    );
    f.case(&bad, Want::token("signature is invalid"), "wrong HS secret").await;
}

#[tokio::test]
async fn alg_and_kid_of_different_key_types_are_refused() {
    let f = Jwks::start().await;
    let cases = [
        (Algorithm::RS256, f.es_kid.clone(), "RS token, ES kid"),
        (Algorithm::ES256, f.rs_kid.clone(), "ES token, RS kid"),
        (Algorithm::PS256, f.es_kid.clone(), "PS token, ES kid"),
        (Algorithm::ES256, f.ps_kid.clone(), "ES token, PS kid"),
        // The published RSA JWKs carry `alg`, so an RSA key of the other padding is a mismatch too.
        (Algorithm::RS256, f.ps_kid.clone(), "RS token, PS kid"),
        (Algorithm::PS256, f.rs_kid.clone(), "PS token, RS kid"),
    ];
    for (alg, kid, what) in cases {
        let bad = f.token().alg(alg).kid(kid).sign().unwrap();
        f.case(&bad, Want::token("signing algorithm does not match the key"), what).await;
    }
}

#[tokio::test]
async fn ps256_relabelled_as_rs256_and_back_is_refused() {
    let f = Jwks::start().await;
    // Same key kid kept: the JWK's `alg` pins the padding.
    let bad = f.token().alg(Algorithm::PS256).header("alg", "RS256").sign().unwrap();
    f.case(&bad, Want::token("signing algorithm does not match the key"), "PS256 sig labelled RS256, PS kid").await;
    let bad = f.token().alg(Algorithm::RS256).header("alg", "PS256").sign().unwrap();
    f.case(&bad, Want::token("signing algorithm does not match the key"), "RS256 sig labelled PS256, RS kid").await;
    // Pointed at the key whose alg fits the label: the signature is by another key and padding.
    let bad = f.token().alg(Algorithm::PS256).header("alg", "RS256").kid(&f.rs_kid).sign().unwrap();
    f.case(&bad, Want::token("signature is invalid"), "PS256 sig labelled RS256, RS kid").await;
    // Changing the header of a good token afterwards (signature kept).
    let good_ps = f.token().alg(Algorithm::PS256).sign().unwrap();
    let (h, p, s) = split3(&good_ps);
    let mut header = decode_json(h);
    header["alg"] = json!("RS256");
    let bad = format!("{}.{p}.{s}", b64(header.to_string()));
    // The PS kid is kept, and its JWK pins PS256.
    f.case(&bad, Want::token("signing algorithm does not match the key"), "relabelled after signing").await;
    // ES256 signature labelled ES384 under the ES kid.
    let bad = f.token().alg(Algorithm::ES256).header("alg", "ES384").sign().unwrap();
    f.case(&bad, Want::token("signing algorithm does not match the key"), "ES256 labelled ES384").await;
}

#[tokio::test]
async fn ps_and_rs_under_one_rsa_key_without_alg_are_not_interchangeable() {
    let f = StaticRsa::start();
    let claims = StaticRsa::claims().to_string();
    let good = StaticRsa::good();
    // Both paddings verify with this key when labelled right.
    let ps_good = StaticRsa::sign(&StaticRsa::header("PS256"), &claims, Algorithm::PS256);
    assert_accepted(&f.app, &ps_good, "static RSA, PS256").await;
    for (label, signed_with) in [
        ("RS256", Algorithm::PS256),
        ("PS256", Algorithm::RS256),
        ("RS256", Algorithm::RS384),
        ("RS384", Algorithm::RS256),
        ("PS512", Algorithm::PS256),
    ] {
        let bad = StaticRsa::sign(&StaticRsa::header(label), &claims, signed_with);
        case(&f.app, &bad, Want::token("signature is invalid"), &good, &format!("{signed_with:?} labelled {label}"))
            .await;
    }
    // HS256 with the static key's PEM as secret: HS is not allowed on this guard.
    let bad = raw_token(
        &StaticRsa::header("HS256"),
        &claims,
        hs_sign(rsa_material().public_pem.as_bytes(), Algorithm::HS256),
    );
    case(&f.app, &bad, Want::token("signing algorithm is not accepted"), &good, "static PEM as HS secret").await;
}

#[tokio::test]
async fn psychic_and_zero_signatures_are_refused() {
    let f = Jwks::start().await;
    // CVE-2022-21449: ECDSA r = s = 0.
    let good_es = f.token().alg(Algorithm::ES256).sign().unwrap();
    let (h, p, _) = split3(&good_es);
    for sig in [vec![0u8; 64], vec![0u8; 1], vec![0u8; 0x48], {
        let mut rs = vec![0u8; 64];
        rs[31] = 1;
        rs[63] = 1;
        rs
    }] {
        let bad = format!("{h}.{p}.{}", b64(&sig));
        f.case(&bad, Want::token("signature is invalid"), &format!("ES256 sig {} bytes", sig.len())).await;
    }
    let good_rs = f.token().alg(Algorithm::RS256).sign().unwrap();
    let (h, p, _) = split3(&good_rs);
    for sig in [vec![0u8; 256], vec![1u8], vec![0xffu8; 256]] {
        let bad = format!("{h}.{p}.{}", b64(&sig));
        f.case(&bad, Want::token("signature is invalid"), &format!("RS256 sig {} bytes", sig.len())).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Key material in the header: jwk, jku, x5u, x5c
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn embedded_jwk_of_the_attacker_is_never_used() {
    let f = Jwks::start().await;
    let attacker = TestIssuer::start_with(&[Algorithm::RS256]).await;
    let attacker_jwk = attacker.jwks()["keys"][0].clone();
    let forged = || attacker.token().issuer(f.issuer.issuer()).subject(SUBJECT).header("jwk", attacker_jwk.clone());
    // Attacker's own kid: unknown to the victim's set.
    let bad = forged().sign().unwrap();
    f.case(&bad, Want::token("signing key is not known"), "jwk + attacker kid").await;
    // The victim's kid, signed by the attacker.
    let bad = forged().kid(&f.rs_kid).sign().unwrap();
    f.case(&bad, Want::token("signature is invalid"), "jwk + victim kid").await;
    // No kid: the victim's only RS256 key is used, not the embedded one.
    let bad = forged().remove_header("kid").sign().unwrap();
    f.case(&bad, Want::token("signature is invalid"), "jwk, no kid").await;
    // The embedded JWK carrying the victim's kid.
    let mut jwk = attacker_jwk.clone();
    jwk["kid"] = json!(f.rs_kid);
    let bad = forged().header("jwk", jwk).kid(&f.rs_kid).sign().unwrap();
    f.case(&bad, Want::token("signature is invalid"), "jwk renamed to victim kid").await;
    assert_eq!((attacker.jwks_requests(), attacker.discovery_requests()), (0, 0));
}

#[tokio::test]
async fn jku_and_x5u_pointing_at_the_attacker_are_never_fetched() {
    let f = Jwks::start().await;
    let attacker = TestIssuer::start_with(&[Algorithm::RS256]).await;
    let attacker_kid = attacker.kids()[0].clone();
    let urls = [attacker.jwks_uri(), attacker.discovery_uri(), attacker.issuer().to_owned()];
    for param in ["jku", "x5u"] {
        for url in &urls {
            for kid in [attacker_kid.as_str(), f.rs_kid.as_str()] {
                let bad = attacker
                    .token()
                    .issuer(f.issuer.issuer())
                    .subject(SUBJECT)
                    .header(param, url.as_str())
                    .kid(kid)
                    .sign()
                    .unwrap();
                let want = if kid == f.rs_kid { "signature is invalid" } else { "signing key is not known" };
                f.case(&bad, Want::token(want), &format!("{param} {url} kid {kid}")).await;
            }
        }
    }
    // Both at once, with `iss` the attacker's: untrusted issuer, nothing fetched either.
    let bad = attacker
        .token()
        .subject(SUBJECT)
        .header("jku", attacker.jwks_uri())
        .header("x5u", attacker.jwks_uri())
        .sign()
        .unwrap();
    f.case(&bad, Want::token("issuer is not trusted"), "jku + attacker iss").await;
    assert_eq!(attacker.jwks_requests(), 0, "the attacker's JWKS must never be fetched");
    assert_eq!(attacker.discovery_requests(), 0, "the attacker's discovery must never be fetched");
}

#[tokio::test]
async fn junk_x5c_and_x5t_are_ignored() {
    let f = Jwks::start().await;
    let attacker = TestIssuer::start_with(&[Algorithm::RS256]).await;
    for x5c in [json!(["AAAA"]), json!(["not base64 !!!"]), json!("MIIB"), json!([]), json!([{"a": 1}]), json!(null)] {
        // x5c junk on a token by the attacker, under the victim's kid.
        let bad = attacker
            .token()
            .issuer(f.issuer.issuer())
            .subject(SUBJECT)
            .kid(&f.rs_kid)
            .header("x5c", x5c.clone())
            .sign()
            .unwrap();
        f.case(&bad, Want::token("signature is invalid"), &format!("x5c {x5c}")).await;
        // On a token by the issuer, it changes nothing.
        let tolerated =
            f.token().header("x5c", x5c.clone()).header("x5t", "junk").header("x5t#S256", 7).sign().unwrap();
        assert_accepted(&f.app, &tolerated, &format!("issuer's token with x5c {x5c}")).await;
    }
    assert_eq!((attacker.jwks_requests(), attacker.discovery_requests()), (0, 0));
}

// ---------------------------------------------------------------------------------------------
// kid
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn hostile_kids_are_unknown_keys() {
    let f = Jwks::start().await;
    let long = "k".repeat(10 * 1024);
    let kids = [
        "../../etc/passwd",
        "/dev/null",
        "' OR 1=1 --",
        "\" OR \"\"=\"",
        "https://evil.example/jwks",
        long.as_str(),
        "ключ",
        "",
        " ",
        "\u{0}",
        "rs256-*",
    ];
    for kid in kids {
        let bad = f.token().kid(kid).sign().unwrap();
        let shown: String = kid.chars().take(40).collect();
        f.case(&bad, Want::token("signing key is not known"), &format!("kid {shown:?}")).await;
    }
    // A kid that is not a string.
    for kid in [json!(1), json!([f.rs_kid]), json!({"kid": f.rs_kid})] {
        let bad = f.token().header("kid", kid.clone()).sign().unwrap();
        f.case(&bad, Want::token("access token is not a well-formed JWT"), &format!("kid {kid}")).await;
    }
    // A kid of another case is another kid.
    let bad = f.token().kid(f.rs_kid.to_uppercase()).sign().unwrap();
    f.case(&bad, Want::token("signing key is not known"), "kid upper-cased").await;
    // Only one refetch for all those unknown kids (cooldown).
    assert!(f.issuer.jwks_requests() <= 2, "jwks requests: {}", f.issuer.jwks_requests());
}

// ---------------------------------------------------------------------------------------------
// crit
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn crit_is_refused() {
    let f = Jwks::start().await;
    for crit in [json!(["exp"]), json!([]), json!(["b64"]), json!("exp"), json!(["alg"])] {
        let bad = f.token().header("crit", crit.clone()).header("exp", now() + 600).sign().unwrap();
        f.case(&bad, Want::token("token has unsupported critical header parameters"), &format!("crit {crit}")).await;
    }
}

#[tokio::test]
async fn crit_null_is_refused() {
    let f = Jwks::start().await;
    let bad = f.token().header("crit", Value::Null).sign().unwrap();
    f.case(&bad, Want::token("token has unsupported critical header parameters"), "crit null").await;
}

// ---------------------------------------------------------------------------------------------
// Token structure
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stripped_truncated_or_borrowed_signatures_are_refused() {
    let f = Jwks::start().await;
    let good = f.good();
    let (h, p, s) = split3(&good);
    // Stripped: `a.b.` is refused as a bad signature (choice of the crate: the JWS shape is
    // there, the signature is empty).
    f.case(&format!("{h}.{p}."), Want::token("signature is invalid"), "signature stripped").await;
    // Truncated, by one char, by a whole block and to one char.
    for cut in [1, 4, 10, s.len() - 1] {
        let bad = format!("{h}.{p}.{}", &s[..s.len() - cut]);
        f.case(&bad, Want::token("signature is invalid"), &format!("signature truncated by {cut}")).await;
    }
    // Extended.
    f.case(&format!("{h}.{p}.{s}AAAA"), Want::token("signature is invalid"), "signature extended").await;
    // Another valid token's signature (same key and header, other claims).
    let other = f.token().subject("mallory").sign().unwrap();
    let (_, _, other_sig) = split3(&other);
    f.case(&format!("{h}.{p}.{other_sig}"), Want::token("signature is invalid"), "borrowed signature").await;
    // A valid token's payload swapped into another valid token.
    let (_, other_p, _) = split3(&other);
    f.case(&format!("{h}.{other_p}.{s}"), Want::token("signature is invalid"), "swapped payload").await;
    // Last signature char changed to one that decodes to the same bytes (non-canonical base64url):
    // must not verify (no token malleability).
    let last = s.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    // 256-byte RS256 signature: 342 chars, the last carries 2 bits (4 spare bits).
    for delta in 1..16usize {
        let sibling = alphabet.as_bytes()[(index & !15) | ((index + delta) & 15)] as char;
        if sibling != last {
            let bad = format!("{h}.{p}.{}{sibling}", &s[..s.len() - 1]);
            f.case(&bad, Want::token("signature is invalid"), &format!("non-canonical last char {sibling}")).await;
        }
    }
}

#[tokio::test]
async fn wrong_segment_counts_are_refused() {
    let f = Jwks::start().await;
    let good = f.good();
    let (h, p, s) = split3(&good);
    let malformed = Want::token("access token is not a well-formed JWT");
    f.case(&format!("{h}.{p}"), malformed.clone(), "2 segments").await;
    f.case(h, malformed.clone(), "1 segment").await;
    f.case(&format!("{h}.{p}.{s}.{s}"), malformed.clone(), "4 segments").await;
    f.case(&format!("{h}.{p}.{s}."), malformed.clone(), "trailing dot").await;
    f.case(&format!(".{h}.{p}.{s}"), malformed.clone(), "leading dot").await;
    f.case(&format!("{h}..{p}.{s}"), malformed.clone(), "empty middle segment").await;
    f.case(&format!("{h}.{p}.{s}.{s}.{s}.{s}"), malformed.clone(), "6 segments").await;
    f.case("..", Want::token_any(&["access token is not a well-formed JWT", "signature is invalid"]), "..").await;
    f.case(".", malformed.clone(), ".").await;
    // JWE-shaped: five segments.
    let jwe_header = b64(json!({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": f.rs_kid}).to_string());
    let jwe = format!("{jwe_header}.{}.{}.{}.{}", b64("key"), b64("iv"), b64("ciphertext"), b64("tag"));
    f.case(&jwe, Want::token("encrypted tokens are not accepted"), "JWE").await;
    f.case(&format!("{h}.{p}.{s}.{s}.{s}"), Want::token("encrypted tokens are not accepted"), "5 segments").await;
    // Empty header and payload.
    f.case(&format!(".{p}.{s}"), malformed.clone(), "empty header").await;
    f.case(&format!("{h}..{s}"), malformed, "empty payload").await;
}

#[tokio::test]
async fn characters_outside_token68_are_an_invalid_request() {
    let f = Jwks::start().await;
    let good = f.good();
    let (h, p, s) = split3(&good);
    let syntax = Want::request("access token is not valid token68 syntax");
    for (bad, what) in [
        (format!("{h}*.{p}.{s}"), "'*' in header"),
        (format!("{h}.{p}.{s}*"), "'*' in signature"),
        (format!("{h}=.{p}.{s}"), "'=' padding inside the header segment"),
        (format!("{h}.{p}=.{s}"), "'=' padding inside the payload segment"),
        (format!("{h}.{p} .{s}"), "space inside"),
        (format!("{h}.{p}.\t{s}"), "tab inside"),
        (format!("{h},{p}.{s}"), "comma"),
        (format!("\"{good}\""), "quoted"),
        (format!("{good};"), "semicolon"),
        (format!("{good} {good}"), "two tokens"),
        (format!("={good}"), "leading '='"),
    ] {
        case(&f.app, &bad, syntax.clone(), &good, what).await;
    }
}

#[tokio::test]
async fn token68_characters_that_are_not_base64url_reach_the_decoder_and_fail() {
    let f = Jwks::start().await;
    let good = f.good();
    let (h, p, s) = split3(&good);
    let malformed = Want::token("access token is not a well-formed JWT");
    let bad_sig = Want::token("signature is invalid");
    // Standard-base64 characters in place of their base64url twins.
    let std_h = h.replacen('J', "+", 1).replacen('i', "/", 1);
    f.case(&format!("{std_h}.{p}.{s}"), malformed.clone(), "'+' '/' in header").await;
    f.case(&format!("{h}+.{p}.{s}"), malformed.clone(), "'+' appended to header").await;
    f.case(&format!("{h}.{p}/.{s}"), malformed.clone(), "'/' appended to payload").await;
    f.case(&format!("{h}.~{p}.{s}"), malformed.clone(), "'~' in payload").await;
    let std_s: String = s
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    if std_s != s {
        f.case(&format!("{h}.{p}.{std_s}"), bad_sig.clone(), "signature in standard base64").await;
    }
    f.case(&format!("{h}.{p}.{s}+"), bad_sig.clone(), "'+' appended to signature").await;
    // Padding at the end of the token: token68 allows it, base64url-without-padding does not.
    f.case(&format!("{h}.{p}.{s}=="), bad_sig.clone(), "padded signature").await;
    f.case(&format!("{h}.{p}.{s}="), bad_sig, "one '=' after signature").await;
    // A whole header in standard base64 with padding and '+', '/' (equivalent JSON).
    let std_header = base64::engine::general_purpose::STANDARD.encode(URL_SAFE_NO_PAD.decode(h).unwrap());
    if std_header != h {
        // Only '=' at the very end is token68, so a padded header is a syntax error.
        let want = if std_header.contains('=') {
            Want::request("access token is not valid token68 syntax")
        } else {
            malformed
        };
        f.case(&format!("{std_header}.{p}.{s}"), want, "header in standard base64").await;
    }
}

#[tokio::test]
async fn surrounding_whitespace_is_tolerated_but_not_inside() {
    let f = Jwks::start().await;
    let good = f.good();
    // Leading/trailing SP and HTAB around the credentials are trimmed (RFC 7230 OWS).
    for value in [format!("Bearer  {good}"), format!("Bearer {good} "), format!(" Bearer {good}\t")] {
        assert_accepted_request(
            &f.app,
            get_me().header(header::AUTHORIZATION, value.clone()).body(Body::empty()).unwrap(),
            &value[..10],
        )
        .await;
    }
    // A tab between scheme and token is not the SP the grammar asks for: not a Bearer credential.
    let request = get_me().header(header::AUTHORIZATION, format!("Bearer\t{good}")).body(Body::empty()).unwrap();
    assert_refused_request(&f.app, request, &Want::bare(), "tab after scheme").await;
    assert_accepted(&f.app, &good, "tab after scheme").await;
}

#[tokio::test]
async fn header_and_payload_that_are_not_json_objects_are_refused() {
    let f = Jwks::start().await;
    let good = f.good();
    let (h, p, s) = split3(&good);
    let malformed = Want::token("access token is not a well-formed JWT");
    let header = decode_json(h).to_string();
    let payload = decode_json(p).to_string();
    for (bad_header, what) in [
        ("not json".to_owned(), "header not JSON"),
        (format!("{header}x"), "header with trailing garbage"),
        (format!("[{header}]"), "header in an array"),
        (r#""RS256""#.to_owned(), "header a string"),
        ("null".to_owned(), "header null"),
        ("123".to_owned(), "header a number"),
        (header[..header.len() - 1].to_owned(), "header truncated"),
        ("\u{feff}".to_owned() + &header, "header with BOM"),
    ] {
        f.case(&format!("{}.{p}.{s}", b64(&bad_header)), malformed.clone(), what).await;
    }
    // Invalid UTF-8 / non-base64 bytes.
    f.case(&format!("{}.{p}.{s}", b64([0xff, 0xfe, b'{', b'}'])), malformed.clone(), "header not UTF-8").await;
    for (bad_payload, what) in [
        ("not json".to_owned(), "payload not JSON"),
        (format!("[{payload}]"), "payload in an array"),
        (r#""alice""#.to_owned(), "payload a string"),
        ("null".to_owned(), "payload null"),
        ("{}{}".to_owned(), "two objects"),
        (format!("{payload}x"), "payload with trailing garbage"),
    ] {
        f.case(&format!("{h}.{}.{s}", b64(&bad_payload)), malformed.clone(), what).await;
    }
}

#[tokio::test]
async fn hs_header_and_payload_that_are_not_objects_are_refused_even_when_signed() {
    let f = Hs::start();
    let malformed = Want::token("access token is not a well-formed JWT");
    let claims = Hs::claims();
    for payload in
        [format!("[{claims}]"), r#""alice""#.to_owned(), "null".to_owned(), "42".to_owned(), "not json".to_owned()]
    {
        f.case(&Hs::with_claims(&payload), malformed.clone(), &format!("signed payload {payload:.20}")).await;
    }
    for header in [r#""HS256""#.to_owned(), "null".to_owned(), "not json".to_owned()] {
        f.case(&Hs::sign(&header, &claims.to_string()), malformed.clone(), &format!("signed header {header}")).await;
    }
}

#[tokio::test]
async fn signed_header_that_is_a_json_array_is_refused() {
    let f = Hs::start();
    let claims = Hs::claims().to_string();
    // `JoseHeader` is a derived struct, which serde also reads from a sequence of its fields in
    // order (alg, kid, typ, crit): RFC 7515 §4 says the header is a JSON object.
    for header in [format!(r#"["HS256","{HMAC_KID}",null,null]"#), format!(r#"["HS256","{HMAC_KID}","at+jwt",null]"#)] {
        f.case(&Hs::sign(&header, &claims), Want::token("access token is not a well-formed JWT"), &header).await;
    }
}

#[tokio::test]
async fn deep_nesting_up_to_the_size_limit_is_refused_without_a_crash() {
    let f = Hs::start();
    // The deepest array that fits: header ~60 chars, HS256 signature 43, base64 4/3.
    let budget = (bearer_guard::DEFAULT_MAX_TOKEN_BYTES - 200) * 3 / 4;
    let prefix = format!(r#"{{"iss":"{HMAC_ISSUER}","sub":"{SUBJECT}","aud":"{AUD}","exp":{},"x":"#, now() + 600);
    let depth = (budget - prefix.len() - 1) / 2;
    assert!(depth > 5000, "depth {depth}");
    let payload = format!("{prefix}{}{}}}", "[".repeat(depth), "]".repeat(depth));
    let bad = Hs::with_claims(&payload);
    assert!(bad.len() <= bearer_guard::DEFAULT_MAX_TOKEN_BYTES, "{} bytes", bad.len());
    f.case(&bad, Want::token("access token is not a well-formed JWT"), &format!("{depth} nested arrays")).await;
    let payload = format!("{prefix}{}{}}}", "{\"a\":".repeat(depth / 4), "}".repeat(depth / 4));
    f.case(&Hs::with_claims(&payload), Want::token("access token is not a well-formed JWT"), "nested objects").await;
    // In an unknown header member: the header is parsed as a whole JSON object (duplicate
    // members refused), so serde_json's recursion limit refuses it too, signed or not.
    let header = format!(r#"{{"alg":"HS256","kid":"{HMAC_KID}","x":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
    let signed = Hs::sign(&header, &Hs::claims().to_string());
    assert!(signed.len() <= bearer_guard::DEFAULT_MAX_TOKEN_BYTES, "{} bytes", signed.len());
    f.case(
        &signed,
        Want::token("access token is not a well-formed JWT"),
        "nested arrays in an unknown header member, signed",
    )
    .await;
    let forged = raw_token(
        &header,
        &Hs::claims().to_string(),
        hs_sign(b"an attacker's secret of thirty-two bytes", Algorithm::HS256),
    );
    f.case(&forged, Want::token("access token is not a well-formed JWT"), "nested arrays in header, forged").await;
    // In a header member that is read (`kid`): refused.
    let header = format!(r#"{{"alg":"HS256","kid":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
    f.case(
        &Hs::sign(&header, &Hs::claims().to_string()),
        Want::token("access token is not a well-formed JWT"),
        "nested kid",
    )
    .await;
    // Moderate nesting (serde_json allows 128 levels) in a custom claim passes.
    let payload = format!("{prefix}{}{}}}", "[".repeat(100), "]".repeat(100));
    assert_accepted(&f.app, &Hs::with_claims(&payload), "100 nested arrays").await;
}

#[tokio::test]
async fn duplicate_claim_names_are_refused_even_when_signed() {
    let f = Hs::start();
    let exp = now() + 600;
    let base = format!(r#""iss":"{HMAC_ISSUER}","aud":"{AUD}","exp":{exp}"#);
    for payload in [
        format!(r#"{{"sub":"a","sub":"{SUBJECT}",{base}}}"#),
        format!(r#"{{"sub":"{SUBJECT}",{base},"exp":{}}}"#, exp + 1_000_000),
        format!(r#"{{"sub":"{SUBJECT}",{base},"iss":"https://evil.example"}}"#),
        format!(r#"{{"sub":"{SUBJECT}",{base},"aud":"https://evil.example"}}"#),
        format!(r#"{{"sub":"{SUBJECT}",{base},"scope":"a","scope":"admin"}}"#),
        // Same name, one spelled with a JSON escape.
        format!(r#"{{"sub":"{SUBJECT}",{base},"\u0065xp":{exp}}}"#),
    ] {
        f.case(&Hs::with_claims(&payload), Want::token("access token is not a well-formed JWT"), &payload).await;
    }
    // And on an RSA-signed token.
    let s = StaticRsa::start();
    let payload = format!(r#"{{"sub":"a","sub":"{SUBJECT}","iss":"{STATIC_ISSUER}","aud":"{AUD}","exp":{exp}}}"#);
    let bad = StaticRsa::sign(&StaticRsa::header("RS256"), &payload, Algorithm::RS256);
    case(&s.app, &bad, Want::token("access token is not a well-formed JWT"), &StaticRsa::good(), "RS256 duplicate sub")
        .await;
}

// ---------------------------------------------------------------------------------------------
// Claims: numbers, types, values
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn huge_numbers_in_time_claims() {
    let f = Hs::start();
    let base = format!(r#""iss":"{HMAC_ISSUER}","sub":"{SUBJECT}","aud":"{AUD}""#);
    let exp_ok = now() + 600;
    // Out of f64 range: serde_json refuses the document.
    for payload in [
        format!(r#"{{{base},"exp":1e400}}"#),
        format!(r#"{{{base},"exp":-1e400}}"#),
        format!(r#"{{{base},"exp":{exp_ok},"nbf":1e400}}"#),
        format!(r#"{{{base},"exp":{exp_ok},"iat":1e400}}"#),
    ] {
        f.case(&Hs::with_claims(&payload), Want::token("access token is not a well-formed JWT"), &payload).await;
    }
    // 2^64 and f64::MAX are finite: a far-future exp passes (documented choice: no upper bound
    // on exp), a far-future nbf/iat is refused.
    for huge in ["18446744073709551616", "1.7976931348623157e308", "1e300", "99999999999999999999999999"] {
        assert_accepted(&f.app, &Hs::with_claims(&format!(r#"{{{base},"exp":{huge}}}"#)), &format!("exp {huge}")).await;
        let bad = Hs::with_claims(&format!(r#"{{{base},"exp":{exp_ok},"nbf":{huge}}}"#));
        f.case(&bad, Want::token("token is not valid yet"), &format!("nbf {huge}")).await;
        let bad = Hs::with_claims(&format!(r#"{{{base},"exp":{exp_ok},"iat":{huge}}}"#));
        f.case(&bad, Want::token("token is issued in the future"), &format!("iat {huge}")).await;
    }
    // Huge negative exp: long expired.
    for neg in ["-18446744073709551616", "-1.7976931348623157e308", "-1", "0"] {
        let bad = Hs::with_claims(&format!(r#"{{{base},"exp":{neg}}}"#));
        f.case(&bad, Want::token("token has expired"), &format!("exp {neg}")).await;
    }
}

#[tokio::test]
async fn time_claims_of_the_wrong_type_are_refused() {
    let f = Jwks::start().await;
    let exp = now() + 600;
    for (name, value) in [
        ("exp", json!(exp.to_string())),
        ("exp", json!(null)),
        ("exp", json!(true)),
        ("exp", json!([exp])),
        ("exp", json!({"$date": exp})),
        ("exp", json!("2099-01-01T00:00:00Z")),
        ("nbf", json!("0")),
        ("nbf", json!([0])),
        ("iat", json!("0")),
        ("iat", json!(null)),
    ] {
        let bad = f.token().claim(name, value.clone()).sign().unwrap();
        f.case(&bad, Want::token(&format!("{name} claim is invalid")), &format!("{name} {value}")).await;
    }
}

#[tokio::test]
async fn fractional_negative_and_far_future_times() {
    let f = Jwks::start().await;
    let t = now_f64();
    // Fractional NumericDates are allowed (RFC 7519 §2): exp = now + 600.5 passes.
    assert_accepted(&f.app, &f.token().claim("exp", t + 600.5).sign().unwrap(), "exp now+600.5").await;
    assert_accepted(
        &f.app,
        &f.token().claim("iat", t - 0.25).claim("nbf", t - 0.75).sign().unwrap(),
        "fractional iat/nbf",
    )
    .await;
    // Negative nbf / iat are in the past: fine.
    assert_accepted(&f.app, &f.token().claim("nbf", -1).claim("iat", -1).sign().unwrap(), "negative nbf/iat").await;
    // Far-future exp passes (no maximum lifetime is enforced: documented choice of the crate).
    assert_accepted(&f.app, &f.token().claim("exp", 32_503_680_000i64).sign().unwrap(), "exp year 3000").await;
    // Negative exp: expired.
    f.case(&f.token().claim("exp", -1).sign().unwrap(), Want::token("token has expired"), "exp -1").await;
    f.case(
        &f.token().claim("exp", t - 30.5 - 1.0).sign().unwrap(),
        Want::token("token has expired"),
        "exp fractional past",
    )
    .await;
    // Far-future nbf / iat: refused.
    f.case(
        &f.token().claim("nbf", 32_503_680_000i64).sign().unwrap(),
        Want::token("token is not valid yet"),
        "nbf year 3000",
    )
    .await;
    f.case(&f.token().claim("nbf", t + 31.5).sign().unwrap(), Want::token("token is not valid yet"), "nbf now+31.5")
        .await;
    f.case(
        &f.token().claim("iat", 32_503_680_000i64).sign().unwrap(),
        Want::token("token is issued in the future"),
        "iat year 3000",
    )
    .await;
}

#[tokio::test]
async fn expiry_and_not_before_at_the_leeway_edge() {
    let f = Jwks::start().await;
    // Times as fractional now so the second boundary can't make the checks flaky.
    let t = now_f64();
    f.case(&f.token().remove_claim("exp").sign().unwrap(), Want::token("token has no expiry"), "no exp").await;
    f.case(&f.token().claim("exp", t - 31.0).sign().unwrap(), Want::token("token has expired"), "expired 31 s ago")
        .await;
    f.case(&f.token().claim("nbf", t + 31.0).sign().unwrap(), Want::token("token is not valid yet"), "nbf in 31 s")
        .await;
    // Inside the leeway: accepted.
    assert_accepted(&f.app, &f.token().claim("exp", t - 25.0).sign().unwrap(), "expired 25 s ago").await;
    assert_accepted(&f.app, &f.token().claim("nbf", t + 25.0).sign().unwrap(), "nbf in 25 s").await;
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    let f = Jwks::start().await;
    let iss = f.issuer.issuer().to_owned();
    let mut off_by_one = iss.clone();
    let last = off_by_one.pop().unwrap();
    off_by_one.push(if last == '9' { '8' } else { (last as u8 + 1) as char });
    let untrusted = Want::token("issuer is not trusted");
    for bad_iss in [
        off_by_one,
        format!("{iss}/"),
        iss[..iss.len() - 1].to_owned(),
        iss.to_uppercase(),
        iss.replace("http://", "https://"),
        iss.replace("127.0.0.1", "localhost"),
        format!(" {iss}"),
        format!("{iss}\u{0}"),
        String::new(),
    ] {
        let bad = f.token().issuer(bad_iss.clone()).sign().unwrap();
        f.case(&bad, untrusted.clone(), &format!("iss {bad_iss:?}")).await;
    }
    f.case(&f.token().remove_claim("iss").sign().unwrap(), untrusted, "no iss").await;
    for value in [json!([iss]), json!([iss, "https://evil.example"]), json!(null), json!(1), json!({"iss": iss})] {
        let bad = f.token().claim("iss", value.clone()).sign().unwrap();
        f.case(&bad, Want::token("iss claim is invalid"), &format!("iss {value}")).await;
    }
}

#[tokio::test]
async fn audience_must_contain_ours() {
    let f = Jwks::start().await;
    let wrong = Want::token("token is not meant for this audience");
    for aud in [
        json!(""),
        json!([]),
        json!("https://other-api.example.test"),
        json!(format!("{AUD}/")),
        json!(AUD.to_uppercase()),
        json!([format!("{AUD} ")]),
        json!(["https://other-api.example.test"]),
    ] {
        let bad = f.token().claim("aud", aud.clone()).sign().unwrap();
        f.case(&bad, wrong.clone(), &format!("aud {aud}")).await;
    }
    f.case(&f.token().remove_claim("aud").sign().unwrap(), wrong, "no aud").await;
    for aud in [json!(1), json!({}), json!({AUD: true}), json!([AUD, 1]), json!([[AUD]]), json!(null), json!(true)] {
        let bad = f.token().claim("aud", aud.clone()).sign().unwrap();
        let want = if aud.is_null() {
            // `null` is treated as a value of the wrong type, not as absent.
            Want::token_any(&["aud claim is invalid", "token is not meant for this audience"])
        } else {
            Want::token("aud claim is invalid")
        };
        f.case(&bad, want, &format!("aud {aud}")).await;
    }
    // The array form with ours in it passes.
    assert_accepted(&f.app, &f.token().audiences(["https://other.example", AUD]).sign().unwrap(), "aud array").await;
}

#[tokio::test]
async fn sub_of_the_wrong_type_is_refused() {
    let f = Jwks::start().await;
    for sub in [json!(1), json!(["alice"]), json!({"id": "alice"})] {
        let bad = f.token().claim("sub", sub.clone()).sign().unwrap();
        f.case(&bad, Want::token("sub claim is invalid"), &format!("sub {sub}")).await;
    }
}

#[tokio::test]
async fn unacceptable_typ_is_refused() {
    let f = Jwks::start().await;
    for typ in [json!("dpop+jwt"), json!("JOSE"), json!("at+jwt "), json!(""), json!("jwe")] {
        let bad = f.token().header("typ", typ.clone()).sign().unwrap();
        f.case(&bad, Want::token("token type is not accepted"), &format!("typ {typ}")).await;
    }
    let bad = f.token().header("typ", 1).sign().unwrap();
    f.case(&bad, Want::token("access token is not a well-formed JWT"), "typ 1").await;
}

// ---------------------------------------------------------------------------------------------
// The request: size, headers, schemes, query
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn oversized_tokens_are_refused_before_decoding() {
    let f = Jwks::start().await;
    let too_large = Want::token("access token is too large");
    let max = bearer_guard::DEFAULT_MAX_TOKEN_BYTES;
    f.case(&"a".repeat(17 * 1024), too_large.clone(), "17 KiB of 'a'").await;
    f.case(&"a".repeat(max + 1), too_large.clone(), "limit + 1").await;
    // Over the limit and not token68: the size is checked first.
    let request = bearer(&format!("{} {}", "a".repeat(max), "b"));
    assert_refused_request(&f.app, request, &too_large, "limit + 2 with a space").await;
    // A signed token that is too large (a large claim).
    let bad = f.token().claim("pad", "x".repeat(max)).sign().unwrap();
    f.case(&bad, too_large.clone(), "signed, large claim").await;
    // No key fetch was needed for any of it beyond the good twins.
    assert_eq!(f.issuer.jwks_requests(), 1);
    // Exactly at the limit: reaches the decoder.
    f.case(&"a".repeat(max), Want::token("access token is not a well-formed JWT"), "exactly the limit").await;
}

#[tokio::test]
async fn two_authorization_headers_are_an_invalid_request() {
    let f = Jwks::start().await;
    let good = f.good();
    let want = Want::request("more than one Authorization header");
    for second in [format!("Bearer {good}"), "Basic dXNlcjpwYXNz".to_owned(), format!("Bearer {}", f.good())] {
        let request = get_me()
            .header(header::AUTHORIZATION, format!("Bearer {good}"))
            .header(header::AUTHORIZATION, second)
            .body(Body::empty())
            .unwrap();
        assert_refused_request(&f.app, request, &want, "two Authorization headers").await;
    }
    assert_accepted(&f.app, &good, "one Authorization header").await;
}

#[tokio::test]
async fn bearer_without_a_token_is_an_invalid_request() {
    let f = Jwks::start().await;
    let good = f.good();
    for value in ["Bearer", "Bearer ", "bearer    ", "BEARER\t"] {
        let request = get_me().header(header::AUTHORIZATION, value).body(Body::empty()).unwrap();
        assert_refused_request(&f.app, request, &Want::request("Bearer scheme without a token"), value).await;
    }
    assert_accepted(&f.app, &good, "Bearer with a token").await;
}

#[tokio::test]
async fn other_schemes_get_the_bare_challenge() {
    let f = Jwks::start().await;
    let good = f.good();
    for value in [
        "Basic dXNlcjpwYXNz".to_owned(),
        format!("DPoP {good}"),
        format!("Token {good}"),
        format!("Bearer{good}"),
        format!("Bearer-{good}"),
        format!("JWT {good}"),
        good.clone(),
    ] {
        let request = get_me().header(header::AUTHORIZATION, value.clone()).body(Body::empty()).unwrap();
        assert_refused_request(&f.app, request, &Want::bare(), &value[..value.len().min(12)]).await;
    }
    // No Authorization at all.
    assert_refused_request(&f.app, get_me().body(Body::empty()).unwrap(), &Want::bare(), "no header").await;
    assert_accepted(&f.app, &good, "Bearer").await;
    // The scheme is case-insensitive.
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let request = get_me().header(header::AUTHORIZATION, format!("{scheme} {good}")).body(Body::empty()).unwrap();
        assert_accepted_request(&f.app, request, scheme).await;
    }
}

#[tokio::test]
async fn token_only_in_the_query_or_elsewhere_is_ignored_by_default() {
    let f = Jwks::start().await;
    let good = f.good();
    for uri in [format!("/me?access_token={good}"), format!("/me?x=1&access_token={good}")] {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        assert_refused_request(&f.app, request, &Want::bare(), "query token").await;
    }
    // Form body and cookie are not sources by default either.
    let request = Request::post("/me")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("access_token={good}")))
        .unwrap();
    let answer = send(&f.app, request).await;
    // POST is not routed; the guard answers first on a route_layer'd route only for matched routes.
    assert_ne!(answer.status, StatusCode::OK, "{answer:?}");
    let request = get_me().header(header::COOKIE, format!("access_token={good}")).body(Body::empty()).unwrap();
    assert_refused_request(&f.app, request, &Want::bare(), "cookie token").await;
    // A query token next to a good header is ignored (not "two sources") by default.
    let request = Request::get(format!("/me?access_token={}", "x".repeat(10)))
        .header(header::AUTHORIZATION, format!("Bearer {good}"))
        .body(Body::empty())
        .unwrap();
    assert_accepted_request(&f.app, request, "header + junk query").await;
}

#[tokio::test]
async fn header_values_with_non_visible_characters_are_an_invalid_request() {
    let f = Jwks::start().await;
    let good = f.good();
    let syntax = Want::request("access token is not valid token68 syntax");
    let (h, rest) = good.split_once('.').unwrap();
    for bytes in [
        format!("Bearer {good}\u{a0}").into_bytes(),
        [format!("Bearer {good}").as_bytes(), &[0xff]].concat(),
        [format!("Bearer {h}").as_bytes(), &[0x80], b".", rest.as_bytes()].concat(),
        format!("Bearer {good}é").into_bytes(),
        format!("Bearer {h}\t.{rest}").into_bytes(),
    ] {
        let value = HeaderValue::from_bytes(&bytes).unwrap();
        let request = get_me().header(header::AUTHORIZATION, value).body(Body::empty()).unwrap();
        assert_refused_request(&f.app, request, &syntax, "non-visible chars").await;
    }
    // Control characters can't even be sent as a header value.
    assert!(HeaderValue::from_bytes(format!("Bearer {good}\u{7f}").as_bytes()).is_err());
    assert!(HeaderValue::from_bytes(format!("Bearer {good}\n").as_bytes()).is_err());
    assert_accepted(&f.app, &good, "visible ASCII").await;
}

#[tokio::test]
async fn cached_good_token_does_not_make_a_tampered_twin_pass() {
    let f = Jwks::start().await;
    let good = f.good();
    assert_accepted(&f.app, &good, "warm the verified-token cache").await;
    let (h, p, s) = split3(&good);
    let mut claims = decode_json(p);
    claims["sub"] = json!("mallory");
    claims["scope"] = json!("admin");
    let bad = format!("{h}.{}.{s}", b64(claims.to_string()));
    f.case(&bad, Want::token("signature is invalid"), "payload changed, signature of a cached token").await;
    let mut header = decode_json(h);
    header["typ"] = json!("JWT");
    let bad = format!("{}.{p}.{s}", b64(header.to_string()));
    f.case(&bad, Want::token("signature is invalid"), "header changed, signature of a cached token").await;
}
