//! `load-server`: the server side of the load benchmark of issue 6.
//!
//! ```text
//! load-server <mode> [--cache on|off] [--key-ttl SECS] [--jwt10-crypto rust-crypto|aws-lc]
//!             [--listen ADDR] [--token-file PATH]
//!   mode: unprotected | bearer-guard | jwt-authorizer | axum-jwt-auth
//! ```
//!
//! `--cache` is bearer-guard's verified-token cache (default on); `--key-ttl` its key-set TTL
//! in seconds (default 600): a short one makes the keys refresh ahead of expiry, in the
//! background, again and again during a run.
//! `--jwt10-crypto` is the jsonwebtoken 10 backend axum-jwt-auth verifies with:
//! `rust-crypto` (default) is what axum-jwt-auth ships with, `aws-lc` the
//! backend bearer-guard uses.
//!
//! In one process it starts
//! * a tiny JWKS/issuer server on 127.0.0.1:0 serving `fixtures/jwks.json` at
//!   `/jwks.json` (plus `/stats`: how many times the JWKS was fetched), whose
//!   base URL `http://127.0.0.1:<port>` is the token issuer;
//! * the benchmarked app on `--listen` (default 127.0.0.1:8080): `GET /hello`,
//!   which in the protected modes reads the `sub` claim.
//!
//! Once both listen it writes a valid RS256 token (kid of the fixture JWK,
//! iss/aud/sub/scope/iat/exp, exp one hour ahead) to `--token-file` (default
//! `token.jwt`), and beside it invalid ones the script uses to prove that each
//! protected mode really checks them: `<file>.expired`, `<file>.wrong-aud`,
//! `<file>.wrong-iss`, `<file>.bad-sig`. The token file appearing is the
//! readiness signal; `READY` is also printed on stdout.
//!
//! Every protected mode verifies the signature against the JWKS fetched over
//! HTTP from the issuer server and checks iss (exact), aud and exp.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

const AUDIENCE: &str = "https://bench.example.test";
const KID: &str = "bench-rs256-1";
const SUBJECT: &str = "bench-user";
const PRIVATE_KEY_PEM: &[u8] = include_bytes!("../fixtures/bench-rs256.key.pem");
const JWKS_JSON: &str = include_str!("../fixtures/jwks.json");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unprotected,
    BearerGuard,
    JwtAuthorizer,
    AxumJwtAuth,
}

struct Args {
    mode: Mode,
    cache: bool,
    jwt10_aws_lc: bool,
    listen: SocketAddr,
    token_file: std::path::PathBuf,
    /// bearer-guard's key-set TTL in seconds (`None`: the default, 10 minutes).
    key_ttl: Option<u64>,
}

const USAGE: &str = "usage: load-server <unprotected|bearer-guard|jwt-authorizer|axum-jwt-auth> \
[--cache on|off] [--key-ttl SECS] [--jwt10-crypto rust-crypto|aws-lc] [--listen 127.0.0.1:8080] [--token-file token.jwt]";

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = match it.next().as_deref() {
        Some("unprotected") => Mode::Unprotected,
        Some("bearer-guard") => Mode::BearerGuard,
        Some("jwt-authorizer") => Mode::JwtAuthorizer,
        Some("axum-jwt-auth") => Mode::AxumJwtAuth,
        Some(other) => return Err(format!("unknown mode {other:?}\n{USAGE}")),
        None => return Err(USAGE.to_string()),
    };
    let mut args = Args {
        mode,
        cache: true,
        jwt10_aws_lc: false,
        listen: "127.0.0.1:8080".parse().unwrap(),
        token_file: "token.jwt".into(),
        key_ttl: None,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--cache" => {
                args.cache = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    v => return Err(format!("--cache takes on|off, not {v:?}")),
                }
            }
            "--jwt10-crypto" => {
                args.jwt10_aws_lc = match value.as_str() {
                    "rust-crypto" => false,
                    "aws-lc" => true,
                    v => return Err(format!("--jwt10-crypto takes rust-crypto|aws-lc, not {v:?}")),
                }
            }
            "--listen" => args.listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--token-file" => args.token_file = value.into(),
            "--key-ttl" => args.key_ttl = Some(value.parse().map_err(|e| format!("--key-ttl: {e}"))?),
            _ => return Err(format!("unknown flag {flag:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // One worker per CPU the process may run on: pinned with `taskset -c 0`
    // that is one worker thread, the same for every mode.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("load-server: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    // jsonwebtoken 10 is built with both backends (see Cargo.toml), so one must
    // be installed before its first use.
    let jwt10_provider = if args.jwt10_aws_lc {
        &jsonwebtoken10::crypto::aws_lc::DEFAULT_PROVIDER
    } else {
        &jsonwebtoken10::crypto::rust_crypto::DEFAULT_PROVIDER
    };
    jwt10_provider.install_default().map_err(|_| "jsonwebtoken 10 provider already installed")?;

    // ---- the issuer / JWKS server -------------------------------------------
    let jwks_fetches = Arc::new(AtomicU64::new(0));
    let jwks_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", jwks_listener.local_addr()?);
    let jwks_uri = format!("{issuer}/jwks.json");
    let jwks_app = {
        let fetches = jwks_fetches.clone();
        let fetches2 = jwks_fetches.clone();
        Router::new()
            .route(
                "/jwks.json",
                get(move || async move {
                    fetches.fetch_add(1, Ordering::Relaxed);
                    ([(header::CONTENT_TYPE, "application/json")], JWKS_JSON)
                }),
            )
            .route(
                "/stats",
                get(move || async move { format!("jwks_fetches={}\n", fetches2.load(Ordering::Relaxed)) }),
            )
    };
    tokio::spawn(async move {
        axum::serve(jwks_listener, jwks_app).await.expect("jwks server");
    });

    // ---- the benchmarked app --------------------------------------------------
    let app = match args.mode {
        Mode::Unprotected => Router::new().route("/hello", get(hello_unprotected)),
        Mode::BearerGuard => bearer_guard_app(&issuer, &jwks_uri, args.cache, args.key_ttl)?,
        Mode::JwtAuthorizer => jwt_authorizer::app(&issuer, &jwks_uri).await?,
        Mode::AxumJwtAuth => axum_jwt_auth_app(&issuer, &jwks_uri).await?,
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;

    // ---- tokens, then the readiness signal -----------------------------------
    write_tokens(&args.token_file, &issuer)?;
    println!(
        "READY mode={:?} cache={} jwt10_crypto={} listen={} issuer={issuer} pid={}",
        args.mode,
        if args.cache { "on" } else { "off" },
        if args.jwt10_aws_lc { "aws-lc" } else { "rust-crypto" },
        listener.local_addr()?,
        std::process::id()
    );

    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await?;
    eprintln!("load-server: stopped; jwks_fetches={}", jwks_fetches.load(Ordering::Relaxed));
    Ok(())
}

// ---- (a) unprotected ------------------------------------------------------------

async fn hello_unprotected() -> String {
    // Same body and the same one allocation as the protected handlers.
    format!("hello {}\n", SUBJECT)
}

/// What every protected handler reads: a typed claims struct, as applications do.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct BenchClaims {
    sub: String,
}

fn hello_from_claims(claims: &BenchClaims) -> Response {
    format!("hello {}\n", claims.sub).into_response()
}

// ---- (b) bearer-guard -------------------------------------------------------------

#[cfg(feature = "bearer-guard")]
fn bearer_guard_app(issuer: &str, jwks_uri: &str, cache: bool, key_ttl: Option<u64>) -> Result<Router, BoxError> {
    use bearer_guard::{BearerGuard, Claims, KeyCachePolicy};

    async fn hello(Claims(c): Claims<BenchClaims>) -> Response {
        hello_from_claims(&c)
    }

    let mut policy = KeyCachePolicy::default();
    if let Some(secs) = key_ttl {
        policy.default_ttl = std::time::Duration::from_secs(secs);
        policy.min_ttl = policy.default_ttl.min(policy.min_ttl);
    }
    let guard = BearerGuard::builder()
        .issuer(issuer)
        .audience(AUDIENCE)
        .jwks_uri(jwks_uri)
        .verified_token_cache(cache)
        .key_cache_policy(policy)
        .build()?;
    Ok(Router::new().route("/hello", get(hello)).route_layer(guard.layer()))
}

#[cfg(not(feature = "bearer-guard"))]
fn bearer_guard_app(_: &str, _: &str, _: bool, _: Option<u64>) -> Result<Router, BoxError> {
    Err("this load-server was built without the `bearer-guard` feature".into())
}

// ---- (c) jwt-authorizer -----------------------------------------------------------

/// jwt-authorizer 0.15 is built on axum 0.7. Its `AuthorizationLayer` is a plain
/// tower layer, generic over the request body, so it runs under axum 0.8 as
/// long as the wrapped service's response type implements `From<AuthError>`.
/// Axum 0.8's `Response` cannot (orphan rule), so the inner service's response
/// is wrapped in [`JaResponse`] and unwrapped again outside the layer: two moves
/// of a `Response`, nothing else. Rejections are the very responses
/// jwt-authorizer itself builds (its `IntoResponse` for axum 0.7: status and
/// `WWW-Authenticate`, empty body), moved into an axum 0.8 body.
mod jwt_authorizer {
    use super::*;
    use ::jwt_authorizer::{AuthError, IntoLayer, JwtAuthorizer, Validation};
    use tower::ServiceBuilder;

    pub struct JaResponse(Response);

    impl From<AuthError> for JaResponse {
        fn from(e: AuthError) -> Self {
            use axum07::response::IntoResponse as _;
            let (parts, _empty_body) = e.into_response().into_parts();
            JaResponse(Response::from_parts(parts, axum::body::Body::empty()))
        }
    }

    /// axum 0.8 twin of jwt-authorizer's own `JwtClaims<T>` extractor (which
    /// implements axum 0.7's trait): the same lookup and the same clone.
    pub struct JwtClaims<T>(pub T);

    impl<T, S> FromRequestParts<S> for JwtClaims<T>
    where
        T: Clone + Send + Sync + 'static,
        S: Send + Sync,
    {
        type Rejection = StatusCode;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<jsonwebtoken9::TokenData<T>>()
                .map(|t| JwtClaims(t.claims.clone()))
                .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }

    async fn hello(JwtClaims(c): JwtClaims<BenchClaims>) -> Response {
        hello_from_claims(&c)
    }

    pub async fn app(issuer: &str, jwks_uri: &str) -> Result<Router, BoxError> {
        let authorizer = JwtAuthorizer::<BenchClaims>::from_jwks_url(jwks_uri)
            .validation(Validation::new().iss(&[issuer]).aud(&[AUDIENCE]).exp(true))
            .build()
            .await?;
        let layer = ServiceBuilder::new()
            .map_response(|r: JaResponse| r.0)
            .layer(authorizer.into_layer())
            .map_response(JaResponse);
        Ok(Router::new().route("/hello", get(hello)).route_layer(layer))
    }
}

// ---- (d) axum-jwt-auth ------------------------------------------------------------

async fn axum_jwt_auth_app(issuer: &str, jwks_uri: &str) -> Result<Router, BoxError> {
    use axum_jwt_auth::{Claims, Decoder, RemoteJwksDecoder};
    use jsonwebtoken10::{Algorithm, Validation};

    async fn hello(c: Claims<BenchClaims>) -> Response {
        hello_from_claims(&c.claims)
    }

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[AUDIENCE]);
    validation.validate_exp = true; // the default; spelled out
    let decoder = RemoteJwksDecoder::builder()
        .jwks_url(jwks_uri.to_string())
        .validation(validation)
        .build()?;
    // Fetches the JWKS over HTTP now and starts its periodic refresh task.
    let _refresh = decoder.initialize().await?;
    let decoder: Decoder<BenchClaims> = Arc::new(decoder);
    Ok(Router::new().route("/hello", get(hello)).with_state(decoder))
}

// ---- tokens ---------------------------------------------------------------------

fn write_tokens(path: &std::path::Path, issuer: &str) -> Result<(), BoxError> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

    let key = EncodingKey::from_rsa_pem(PRIVATE_KEY_PEM)?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.to_string());
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = |iss: &str, aud: &str, exp: u64| {
        json!({
            "iss": iss,
            "aud": aud,
            "sub": SUBJECT,
            "scope": "read:hello",
            "iat": now,
            "exp": exp,
        })
    };
    let mint = |c: Value| encode(&header, &c, &key);

    let valid = mint(claims(issuer, AUDIENCE, now + 3600))?;
    let mut bad_sig = valid.clone();
    // Flip one bit in the signature's first character (still base64url).
    let sig_start = bad_sig.rfind('.').unwrap() + 1;
    let flipped = match bad_sig.as_bytes()[sig_start] {
        b'A' => "B",
        _ => "A",
    };
    bad_sig.replace_range(sig_start..sig_start + 1, flipped);

    let extra = [
        ("expired", mint(claims(issuer, AUDIENCE, now - 3600))?),
        ("wrong-aud", mint(claims(issuer, "https://other.example.test", now + 3600))?),
        ("wrong-iss", mint(claims(&format!("{issuer}/other"), AUDIENCE, now + 3600))?),
        ("bad-sig", bad_sig),
    ];
    let file_name = path.file_name().ok_or("--token-file has no file name")?.to_string_lossy();
    for (suffix, token) in &extra {
        std::fs::write(path.with_file_name(format!("{file_name}.{suffix}")), token)?;
    }
    // The valid token last, atomically: its appearance means "ready".
    let tmp = path.with_file_name(format!("{file_name}.tmp"));
    std::fs::write(&tmp, &valid)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
