//! The algorithm matrix. For each algorithm a guard accepts, a token signed with the right key
//! is let through to the handler, and a token signed with another key (same `kid`), expired, not
//! valid yet, from another issuer or for another audience is refused with the exact RFC 6750
//! answer. Asymmetric keys come from a `TestIssuer` JWKS on loopback; HS256 from a configured
//! secret, since HS keys never come from a JWKS. Then the requests without a token, the
//! extractor without the layer, and `Option<Claims<T>>` with `allow_anonymous`.

mod support;

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{AccessTokenClaims, Algorithm, BearerGuard, Claims, StaticKey};
use http::StatusCode;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use support::{Answer, call, me, protected};

const SUBJECT: &str = "alice";
const OTHER_ISSUER: &str = "https://other-issuer.example.test";
const OTHER_AUDIENCE: &str = "https://other-api.example.test";
const HMAC_ISSUER: &str = "https://hmac-issuer.example.test";
const HMAC_KID: &str = "hs-1";
const HMAC_SECRET: &[u8] = b"the shared secret of bearer-guard's HS256 tests";
const OTHER_HMAC_SECRET: &[u8] = b"a different secret of at least thirty-two bytes";

async fn maybe_me(claims: Option<Claims<AccessTokenClaims>>) -> String {
    match claims {
        Some(Claims(claims)) => claims.sub.unwrap_or_default(),
        None => "anonymous".to_owned(),
    }
}

fn jwks_guard(issuer: &TestIssuer) -> bearer_guard::BearerGuardBuilder {
    BearerGuard::builder().issuer(issuer.issuer()).audience(TestIssuer::DEFAULT_AUDIENCE).jwks_uri(issuer.jwks_uri())
}

fn assert_invalid_token(answer: &Answer, description: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    let expected = format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#);
    assert_eq!(answer.challenge.as_deref(), Some(expected.as_str()), "{answer:?}");
}

/// What is wrong with a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    /// Signed with another key of the same algorithm, under the published `kid`.
    WrongKey,
    /// `exp` 31 s ago: just past the default 30 s leeway.
    Expired,
    /// `nbf` 60 s ahead.
    NotYetValid,
    WrongIssuer,
    WrongAudience,
}

/// Where a guard's key comes from, and how its tokens are signed.
enum Signer {
    Jwks(TestIssuer, Algorithm),
    Hmac,
}

/// A guarded router for one algorithm and the means to sign its tokens.
struct Fixture {
    app: Router,
    signer: Signer,
}

impl Fixture {
    async fn new(alg: Algorithm) -> Self {
        if alg == Algorithm::HS256 {
            let guard = BearerGuard::builder()
                .issuer(HMAC_ISSUER)
                .audience(TestIssuer::DEFAULT_AUDIENCE)
                .static_key(StaticKey::hmac_secret(HMAC_SECRET).unwrap().with_kid(HMAC_KID))
                .build()
                .unwrap();
            return Self { app: protected(&guard), signer: Signer::Hmac };
        }
        let issuer = TestIssuer::start_with(&[alg]).await;
        let guard = jwks_guard(&issuer).build().unwrap();
        Self { app: protected(&guard), signer: Signer::Jwks(issuer, alg) }
    }

    fn token(&self, flaw: Flaw) -> String {
        match &self.signer {
            Signer::Jwks(issuer, alg) => {
                let token = issuer.token().alg(*alg).subject(SUBJECT);
                let token = match flaw {
                    Flaw::None => token,
                    Flaw::WrongKey => token.unpublished_key(),
                    Flaw::Expired => token.expires_in(-31),
                    Flaw::NotYetValid => token.not_before_in(60),
                    Flaw::WrongIssuer => token.issuer(OTHER_ISSUER),
                    Flaw::WrongAudience => token.audience(OTHER_AUDIENCE),
                };
                token.sign().unwrap()
            }
            Signer::Hmac => {
                let now = jsonwebtoken::get_current_timestamp() as i64;
                let mut claims = json!({
                    "iss": HMAC_ISSUER, "sub": SUBJECT, "aud": TestIssuer::DEFAULT_AUDIENCE,
                    "iat": now, "exp": now + 600, "jti": "hs-token",
                });
                match flaw {
                    Flaw::None | Flaw::WrongKey => {}
                    Flaw::Expired => claims["exp"] = json!(now - 31),
                    Flaw::NotYetValid => claims["nbf"] = json!(now + 60),
                    Flaw::WrongIssuer => claims["iss"] = json!(OTHER_ISSUER),
                    Flaw::WrongAudience => claims["aud"] = json!(OTHER_AUDIENCE),
                }
                let secret = if flaw == Flaw::WrongKey { OTHER_HMAC_SECRET } else { HMAC_SECRET };
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(HMAC_KID.to_owned());
                header.typ = Some("at+jwt".to_owned());
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
            }
        }
    }

    async fn call(&self, flaw: Flaw) -> Answer {
        call(&self.app, Some(&self.token(flaw))).await
    }

    /// JWKS fetches so far (`None` for HS256, which has no JWKS).
    fn jwks_requests(&self) -> Option<usize> {
        match &self.signer {
            Signer::Jwks(issuer, _) => Some(issuer.jwks_requests()),
            Signer::Hmac => None,
        }
    }
}

async fn refused(alg: Algorithm, flaw: Flaw, description: &str) {
    let fixture = Fixture::new(alg).await;
    assert_invalid_token(&fixture.call(flaw).await, description);
}

macro_rules! algorithm_matrix {
    ($($module:ident => $alg:expr;)*) => {$(
        mod $module {
            use super::*;

            const ALG: Algorithm = $alg;

            #[tokio::test]
            async fn token_signed_with_the_right_key_is_accepted() {
                let fixture = Fixture::new(ALG).await;
                let answer = fixture.call(Flaw::None).await;
                assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, SUBJECT), "{answer:?}");
                assert!(matches!(fixture.jwks_requests(), None | Some(1)));
            }

            #[tokio::test]
            async fn token_signed_with_another_key_under_the_same_kid_is_rejected_as_bad_signature() {
                let fixture = Fixture::new(ALG).await;
                assert_invalid_token(&fixture.call(Flaw::WrongKey).await, "signature is invalid");
                // A bad signature under a known kid never triggers a refetch.
                assert!(matches!(fixture.jwks_requests(), None | Some(1)));
            }

            #[tokio::test]
            async fn expired_token_is_rejected_with_invalid_token() {
                refused(ALG, Flaw::Expired, "token has expired").await;
            }

            #[tokio::test]
            async fn token_not_valid_yet_is_rejected_with_invalid_token() {
                refused(ALG, Flaw::NotYetValid, "token is not valid yet").await;
            }

            #[tokio::test]
            async fn token_from_another_issuer_is_rejected_with_invalid_token() {
                refused(ALG, Flaw::WrongIssuer, "issuer is not trusted").await;
            }

            #[tokio::test]
            async fn token_for_another_audience_is_rejected_with_invalid_token() {
                refused(ALG, Flaw::WrongAudience, "token is not meant for this audience").await;
            }
        }
    )*};
}

algorithm_matrix! {
    rs256 => Algorithm::RS256;
    rs384 => Algorithm::RS384;
    rs512 => Algorithm::RS512;
    ps256 => Algorithm::PS256;
    es256 => Algorithm::ES256;
    es384 => Algorithm::ES384;
    eddsa => Algorithm::EdDSA;
    hs256 => Algorithm::HS256;
}

#[tokio::test]
async fn request_without_a_token_gets_a_bare_bearer_challenge() {
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
    let answer = call(&protected(&jwks_guard(&issuer).build().unwrap()), None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge.as_deref(), Some(r#"Bearer realm="api""#));
    assert_eq!(issuer.jwks_requests(), 0, "no keys are needed to refuse a request without a token");
}

#[tokio::test]
async fn hs256_token_is_refused_by_a_guard_without_a_secret() {
    let issuer = TestIssuer::start_with(&[Algorithm::RS256]).await;
    let app = protected(&jwks_guard(&issuer).build().unwrap());
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({"iss": issuer.issuer(), "sub": SUBJECT, "aud": TestIssuer::DEFAULT_AUDIENCE, "exp": now + 60});
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(issuer.kids()[0].clone());
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(HMAC_SECRET)).unwrap();
    assert_invalid_token(&call(&app, Some(&token)).await, "signing algorithm is not accepted");
}

#[tokio::test]
async fn extractor_on_a_route_without_the_layer_is_a_500_naming_the_layer() {
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
    let app = Router::new().route("/me", get(me));
    let answer = call(&app, Some(&issuer.token().sign().unwrap())).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{answer:?}");
    assert!(answer.body.contains("BearerGuardLayer"), "{answer:?}");
    assert_eq!(answer.challenge, None);
}

#[tokio::test]
async fn optional_claims_are_none_without_a_token_when_anonymous_is_allowed() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let guard = jwks_guard(&issuer).allow_anonymous(true).build().unwrap();
    let app = Router::new().route("/me", get(maybe_me)).route_layer(guard.layer());

    let answer = call(&app, None).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "anonymous"), "{answer:?}");

    let answer = call(&app, Some(&issuer.token().subject(SUBJECT).sign().unwrap())).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, SUBJECT), "{answer:?}");

    // A bad token is still refused: anonymous means "no token", not "any token".
    let answer = call(&app, Some(&issuer.token().expires_in(-31).sign().unwrap())).await;
    assert_invalid_token(&answer, "token has expired");
    let answer = call(&app, Some(&issuer.token().unpublished_key().sign().unwrap())).await;
    assert_invalid_token(&answer, "signature is invalid");
}
