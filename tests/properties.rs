//! Property tests (proptest) for token extraction and verification over the public API:
//! the `Authorization` parser never panics and classifies every value the same way, the size
//! limit comes before the grammar, and a validly signed token verifies iff its registered
//! claims are valid, whatever other claims it carries.

mod support;

use std::sync::LazyLock;

use bearer_guard::{AuthError, BearerGuard, DEFAULT_MAX_TOKEN_BYTES, InvalidRequest, InvalidToken, StaticKey};
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderValue, Uri};
use jsonwebtoken::Algorithm;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use support::{b64, now};

const SECRET: &[u8] = b"property-tests-secret-of-32-bytes!";
const ISSUER: &str = "prop-issuer";
const AUDIENCE: &str = "prop-api";

static GUARD: LazyLock<BearerGuard> = LazyLock::new(|| {
    BearerGuard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .static_key(StaticKey::hmac_secret(SECRET).unwrap())
        .insecure_token_from_query(true)
        .token_from_cookie("at")
        .build()
        .unwrap()
});

fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    }
    RT.with(|rt| rt.block_on(future))
}

fn authenticate(values: &[HeaderValue]) -> Result<bool, AuthError> {
    let mut headers = HeaderMap::new();
    for v in values {
        headers.append(AUTHORIZATION, v.clone());
    }
    block_on(GUARD.authenticate(&headers, &Uri::from_static("/"))).map(|t| t.is_some())
}

fn verify(token: &str) -> Result<(), AuthError> {
    block_on(GUARD.verify(token)).map(|_| ())
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap()
}

/// RFC 7235 token68, written independently of the crate.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

const TOKEN68_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";

/// token68 of exactly `len` bytes (1..=3 of them `=` padding when long enough).
fn token68_of_len(len: impl Strategy<Value = usize>) -> impl Strategy<Value = String> {
    (len, 0usize..=3).prop_flat_map(|(len, pad)| {
        let pad = pad.min(len - 1);
        proptest::collection::vec(proptest::sample::select(TOKEN68_CHARS), len - pad).prop_map(move |body| {
            let mut s = String::from_utf8(body).unwrap();
            s.push_str(&"=".repeat(pad));
            s
        })
    })
}

/// "bearer" in a random mix of cases.
fn bearer_scheme() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), 6).prop_map(|upper| {
        "bearer".chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c }).collect()
    })
}

fn hmac_token(alg: Algorithm, header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
    LazyLock::force(&GUARD); // installs the crypto provider when both backends are on
    let message = format!(
        "{}.{}",
        b64(Value::Object(header.clone()).to_string()),
        b64(Value::Object(claims.clone()).to_string())
    );
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).unwrap();
    format!("{message}.{signature}")
}

/// Leaf-heavy arbitrary JSON.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const REGISTERED: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "sub"];

/// One registered claim: `None` = absent; the bool says whether it is valid.
#[derive(Debug, Clone)]
struct Claim(Option<Value>, bool);

fn claim(valid: Vec<Value>, invalid: Vec<Value>, absent_is_valid: bool) -> impl Strategy<Value = Claim> {
    // Weighted towards valid values so that about one token in ten verifies.
    prop_oneof![
        1 => Just(Claim(None, absent_is_valid)),
        3 => proptest::sample::select(valid).prop_map(|v| Claim(Some(v), true)),
        1 => proptest::sample::select(invalid).prop_map(|v| Claim(Some(v), false)),
    ]
}

/// Registered claims, far (≥ 1000 s) from the 30 s leeway so the clock can't make the test flaky.
fn registered_claims() -> impl Strategy<Value = Vec<(&'static str, Claim)>> {
    let n = now();
    (
        claim(vec![json!(ISSUER)], vec![json!("other"), json!(format!("{ISSUER}/")), json!(1), json!([ISSUER])], false),
        claim(
            vec![json!(AUDIENCE), json!([AUDIENCE]), json!(["x", AUDIENCE])],
            vec![json!("x"), json!([]), json!([AUDIENCE, 1]), json!({ "a": AUDIENCE }), json!(null)],
            false,
        ),
        claim(
            vec![json!(n + 3600), json!((n + 7200) as f64 + 0.5), json!(4_102_444_800u64), json!(1e300)],
            vec![json!(n - 3600), json!(0), json!(-1e300), json!(format!("{}", n + 3600)), json!(null), json!(true)],
            false,
        ),
        claim(vec![json!(n - 3600), json!(0), json!(-5.5)], vec![json!(n + 3600), json!(1e300), json!("0")], true),
        claim(vec![json!(n - 3600), json!(n as f64)], vec![json!(n + 3600), json!([n])], true),
        claim(vec![json!("alice"), json!("")], vec![json!(1), json!(null), json!({})], true),
    )
        .prop_map(|(iss, aud, exp, nbf, iat, sub)| {
            vec![("iss", iss), ("aud", aud), ("exp", exp), ("nbf", nbf), ("iat", iat), ("sub", sub)]
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any header bytes `HeaderValue` accepts, one or two of them, plus any cookie/query:
    /// `authenticate` answers without panicking.
    #[test]
    fn authenticate_never_panics(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..=2),
        cookie in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        query in proptest::option::of("[ -~]{0,40}"),
    ) {
        let mut headers = HeaderMap::new();
        for v in &values {
            if let Ok(v) = HeaderValue::from_bytes(v) {
                headers.append(AUTHORIZATION, v);
            }
        }
        if let Some(Ok(c)) = cookie.as_deref().map(HeaderValue::from_bytes) {
            headers.insert(COOKIE, c);
        }
        let uri = query.and_then(|q| format!("/p?{q}").parse::<Uri>().ok()).unwrap_or(Uri::from_static("/p"));
        let _ = block_on(GUARD.authenticate(&headers, &uri));
    }

    /// Any `Bearer`-prefixed visible-ASCII string: never panics, never a missing token.
    #[test]
    fn bearer_anything_is_handled(scheme in bearer_scheme(), rest in "[ -~\t]{0,80}") {
        let result = authenticate(&[header(&format!("{scheme} {rest}"))]);
        prop_assert_ne!(result, Err(AuthError::MissingToken));
    }

    /// `Bearer <token68>` (scheme in any case, extra spaces around) up to the limit is taken as
    /// the token: the outcome is exactly `verify(token)`'s, an `invalid_token`, never
    /// `invalid_request`.
    #[test]
    fn token68_reaches_verification(
        scheme in bearer_scheme(),
        token in token68_of_len(prop_oneof![4 => 1usize..200, 1 => (DEFAULT_MAX_TOKEN_BYTES - 64)..=DEFAULT_MAX_TOKEN_BYTES]),
        lead in "[ \t]{0,2}", gap in " {1,3}", trail in "[ \t]{0,2}",
    ) {
        let result = authenticate(&[header(&format!("{lead}{scheme}{gap}{token}{trail}"))]);
        prop_assert!(matches!(result, Err(AuthError::InvalidToken(_))), "{:?}", result);
        prop_assert_eq!(result.map(|_| ()), verify(&token));
    }

    /// Longer than the limit: `TooLarge`, before the grammar is looked at.
    #[test]
    fn oversized_tokens_are_too_large(
        len in (DEFAULT_MAX_TOKEN_BYTES + 1)..(DEFAULT_MAX_TOKEN_BYTES + 2048),
        filler in proptest::sample::select(&b"a.=,\"!~"[..]),
    ) {
        let token = String::from_utf8(vec![filler; len]).unwrap();
        let too_large = AuthError::InvalidToken(InvalidToken::TooLarge);
        prop_assert_eq!(authenticate(&[header(&format!("Bearer {token}"))]), Err(too_large.clone()));
        prop_assert_eq!(verify(&token), Err(too_large));
    }

    /// A non-empty credential that is not token68: `invalid_request` (bad syntax), in the
    /// header and through `verify`.
    #[test]
    fn non_token68_is_bad_syntax(scheme in bearer_scheme(), token in "[!-~][ -~\t]{0,60}") {
        let trimmed = token.trim_end_matches([' ', '\t']);
        prop_assume!(!is_token68(trimmed));
        let bad = AuthError::InvalidRequest(InvalidRequest::BadTokenSyntax);
        prop_assert_eq!(authenticate(&[header(&format!("{scheme} {token}"))]), Err(bad.clone()));
        prop_assert_eq!(verify(&token), Err(bad));
    }

    /// Header bytes outside visible ASCII (obs-text) are bad syntax, whatever the scheme.
    #[test]
    fn obs_text_is_bad_syntax(prefix in "[ -~]{0,20}", high in 0x80u8..=0xff, suffix in "[ -~]{0,20}") {
        let mut bytes = prefix.into_bytes();
        bytes.push(high);
        bytes.extend(suffix.into_bytes());
        let value = HeaderValue::from_bytes(&bytes).unwrap();
        prop_assert_eq!(authenticate(&[value]), Err(AuthError::InvalidRequest(InvalidRequest::BadTokenSyntax)));
    }

    /// Other schemes are not ours: no token.
    #[test]
    fn other_schemes_are_no_token(scheme in "[A-Za-z][A-Za-z0-9-]{0,10}", rest in "[ -~]{0,40}") {
        prop_assume!(!scheme.eq_ignore_ascii_case("bearer"));
        prop_assert_eq!(authenticate(&[header(&format!("{scheme} {rest}"))]), Err(AuthError::MissingToken));
    }

    /// Two `Authorization` headers are refused as such, whatever they hold.
    #[test]
    fn two_headers_are_invalid_request(a in "[ -~]{0,40}", b in "[ -~]{0,40}") {
        prop_assert_eq!(
            authenticate(&[header(&a), header(&b)]),
            Err(AuthError::InvalidRequest(InvalidRequest::SeveralAuthorizationHeaders))
        );
    }

    /// `verify` answers any string without panicking; only token68 reaches `invalid_token`.
    #[test]
    fn verify_never_panics(token in ".{0,200}") {
        match verify(&token) {
            Ok(()) => prop_assert!(false, "a random string verified"),
            Err(AuthError::InvalidToken(_)) => prop_assert!(is_token68(&token)),
            Err(e) => prop_assert_eq!(e, AuthError::InvalidRequest(InvalidRequest::BadTokenSyntax)),
        }
    }

    /// Three base64url segments of arbitrary JSON (header and claims), arbitrary signature
    /// bytes: never panics, never verifies.
    #[test]
    fn arbitrary_json_segments_never_verify(h in json_value(), c in json_value(), sig in proptest::collection::vec(any::<u8>(), 0..80)) {
        let token = format!("{}.{}.{}", b64(h.to_string()), b64(c.to_string()), b64(sig));
        prop_assert!(matches!(verify(&token), Err(AuthError::InvalidToken(_))));
    }

    /// A validly HMAC-signed token with arbitrary extra claims verifies iff its registered
    /// claims (iss, aud, exp, nbf, iat, sub) are valid; the extra claims come back unchanged.
    #[test]
    fn signed_token_verifies_iff_registered_claims_are_valid(
        alg in proptest::sample::select(vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]),
        typ in proptest::option::of(proptest::sample::select(vec!["JWT", "at+jwt", "application/at+jwt"])),
        registered in registered_claims(),
        extra in proptest::collection::btree_map("[a-z_]{1,8}|scope|scp|client_id|jti", json_value(), 0..6),
    ) {
        let mut header = Map::new();
        header.insert("alg".into(), json!(format!("{alg:?}")));
        if let Some(typ) = typ {
            header.insert("typ".into(), json!(typ));
        }
        let mut claims: Map<String, Value> =
            extra.into_iter().filter(|(k, _)| !REGISTERED.contains(&k.as_str())).collect();
        let mut valid = true;
        for (name, Claim(value, ok)) in &registered {
            if let Some(value) = value {
                claims.insert((*name).to_owned(), value.clone());
            }
            valid &= ok;
        }
        let token = hmac_token(alg, &header, &claims);
        let result = block_on(GUARD.verify(&token));
        prop_assert_eq!(result.is_ok(), valid, "{:?} for {:?}", result.as_ref().err(), claims);
        if let Ok(verified) = result {
            // Compared with the claims as serde_json reads them back: without its
            // `float_roundtrip` feature, a float may come back one ULP off what was written.
            let expected: Value = serde_json::from_str(&Value::Object(claims).to_string()).unwrap();
            prop_assert_eq!(verified.claims(), &expected);
            prop_assert_eq!(verified.issuer(), ISSUER);
        } else {
            prop_assert!(matches!(result, Err(AuthError::InvalidToken(_))));
        }
    }
}
