//! A small notes API protected by bearer-guard.
//!
//! ```text
//! cargo run --example microservice
//! ```
//!
//! Environment: `LISTEN` (default `127.0.0.1:3000`), `ISSUER` (trusted issuer; keys by
//! discovery unless `JWKS_URI` is set), `JWKS_URI`, `AUDIENCE` (default
//! `https://notes.example.test`), `RUST_LOG`. Without `ISSUER`, the service starts its own
//! in-process test issuer, trusts it, and prints ready-to-paste `curl` commands.
//!
//! It is served with the limits of `serve.rs` (header-read and idle timeout, connection cap,
//! request timeout, body limit), so slow or flooding clients cannot lock others out.
//!
//! `DPOP` = `off` | `allowed` | `required` (default `allowed`) and `PUBLIC_URL` (the external
//! base URL DPoP proofs' `htu` is checked against; default `http://` + LISTEN).
//!
//! `REDIS_URL` (e.g. `redis://127.0.0.1:6379/0`): the revocation list, logout-token `jti`s and
//! the DPoP replay store live in Redis, so two processes with the same `REDIS_URL` are two
//! replicas; without it, in memory. Revocation: `POST /admin/revoke` (scope `admin`) with
//! `{"jti": "..."}` or `{"sub": "..."}` → 204; `POST /backchannel-logout` (form
//! `logout_token=…`) → 200 or 400.
//!
//! Opaque tokens (RFC 7662): with `INTROSPECTION_CLIENT_ID` and `INTROSPECTION_CLIENT_SECRET`
//! set, tokens that are not JWTs of the issuer are introspected at its discovered
//! `introspection_endpoint` with `client_secret_basic`; `INTROSPECTION_AUTH=client_secret_post`
//! switches the method.

mod app;
mod embedded;
mod serve;
mod tour;

use bearer_guard::revocation::RevocationConfig;
use bearer_guard::store::{RedisStore, RedisStoreConfig};
use bearer_guard::testing::{DpopKey, TestIssuer};
use bearer_guard::{BearerGuard, BearerGuardBuilder, ClientAuth, DpopMode, Introspection};
use tracing_subscriber::EnvFilter;

const DEFAULT_AUDIENCE: &str = "https://notes.example.test";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();

    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let audience = std::env::var("AUDIENCE").unwrap_or_else(|_| DEFAULT_AUDIENCE.to_owned());
    let listener = match serve::bind(&listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    let base = format!("http://{}", listener.local_addr()?);

    // Kept alive for the whole run when the embedded default is used.
    let mut embedded: Option<TestIssuer> = None;
    let guard = match std::env::var("ISSUER") {
        Ok(issuer) => {
            let mut builder = BearerGuard::builder().issuer(issuer).audience(&audience);
            if let Ok(jwks_uri) = std::env::var("JWKS_URI") {
                builder = builder.jwks_uri(jwks_uri);
            }
            if let Some(introspection) = introspection_from_env()? {
                builder = builder.introspection(introspection);
            }
            with_shared_state(with_dpop(builder, &base)?)?.build()?
        }
        Err(_) => {
            let issuer = TestIssuer::start().await;
            let builder = embedded::builder(&issuer, &audience);
            let guard = with_shared_state(with_dpop(builder, &base)?)?.build()?;
            print_curl_commands(&issuer, &audience, &base)?;
            print_dpop_commands(&issuer, &audience, &base)?;
            embedded = Some(issuer);
            guard
        }
    };

    let limits = serve::Limits::default();
    tracing::info!(%base, ?limits, "notes API listening");
    serve::serve(listener, app::router(&guard), limits, shutdown_signal()).await;
    drop(embedded);
    tracing::info!("shut down");
    Ok(())
}

/// `INTROSPECTION_CLIENT_ID` + `INTROSPECTION_CLIENT_SECRET` (+ `INTROSPECTION_AUTH`).
fn introspection_from_env() -> Result<Option<Introspection>, Box<dyn std::error::Error>> {
    let (Ok(id), Ok(secret)) = (std::env::var("INTROSPECTION_CLIENT_ID"), std::env::var("INTROSPECTION_CLIENT_SECRET"))
    else {
        return Ok(None);
    };
    let auth = match std::env::var("INTROSPECTION_AUTH").as_deref() {
        Err(_) | Ok("client_secret_basic") => ClientAuth::client_secret_basic(secret),
        Ok("client_secret_post") => ClientAuth::client_secret_post(secret),
        Ok(other) => {
            return Err(format!("INTROSPECTION_AUTH={other}: use client_secret_basic or client_secret_post").into());
        }
    };
    Ok(Some(Introspection::new(id, auth)))
}

fn print_curl_commands(issuer: &TestIssuer, audience: &str, base: &str) -> Result<(), Box<dyn std::error::Error>> {
    println!("\nEmbedded test issuer at {} (no ISSUER set). Try:\n", issuer.issuer());
    for step in tour::tour(issuer, audience)? {
        println!("# {}\n{}\n", step.what, step.curl(base));
    }
    print_revocation_commands(issuer, audience, base)
}

/// `POST /admin/revoke` and `POST /backchannel-logout`, ready to paste.
fn print_revocation_commands(
    issuer: &TestIssuer,
    audience: &str,
    base: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let mint = |scopes: &[&str]| issuer.token().audience(audience).subject("alice").scopes(scopes.iter().copied());
    let victim = mint(&["notes:read"]).claim("jti", "revoke-me").sign()?;
    let admin = mint(&["admin"]).sign()?;
    println!(
        "# revocation: a read token with jti revoke-me -> 200 now, 401 \"token has been revoked\" after the next command"
    );
    println!("curl -i {base}/notes -H 'Authorization: Bearer {victim}'\n");
    println!("# admin: revoke it by jti (or {{\"sub\":\"alice\"}}: every token of alice issued until now) -> 204");
    println!(
        "curl -i {base}/admin/revoke -H 'Authorization: Bearer {admin}' -H 'Content-Type: application/json' -d '{{\"jti\":\"revoke-me\"}}'\n"
    );
    let logout = issuer
        .token()
        .audience(audience)
        .subject("alice")
        .remove_claim("scope")
        .claim("events", serde_json::json!({ bearer_guard::revocation::BACKCHANNEL_LOGOUT_EVENT: {} }))
        .header("typ", "logout+jwt")
        .sign()?;
    println!("# back-channel logout of alice, as the identity provider sends it -> 200 (once; 400 when replayed)");
    println!("curl -i {base}/backchannel-logout -d 'logout_token={logout}'\n");
    Ok(())
}

/// `REDIS_URL` (issue 18's contract): the revocation list and the DPoP replay store in Redis;
/// without it, both in memory.
fn with_shared_state(builder: BearerGuardBuilder) -> Result<BearerGuardBuilder, Box<dyn std::error::Error>> {
    Ok(match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            tracing::info!("revocations, logout-token jtis and DPoP proofs shared through Redis");
            let store = RedisStore::open(&url, RedisStoreConfig::default())?;
            builder.dpop_replay_store(store.clone()).revocation(RevocationConfig::new().store(store))
        }
        _ => builder.revocation(RevocationConfig::new()),
    })
}

/// `DPOP` and `PUBLIC_URL` (issue 18's contract).
///
/// `PUBLIC_URL` is also this API's RFC 9728 resource identifier: the `resource` of
/// `/.well-known/oauth-protected-resource` (an accepted `aud` next to `AUDIENCE`).
fn with_dpop(builder: BearerGuardBuilder, base: &str) -> Result<BearerGuardBuilder, Box<dyn std::error::Error>> {
    let mode: DpopMode = std::env::var("DPOP").unwrap_or_else(|_| "allowed".to_owned()).parse()?;
    let public_url = std::env::var("PUBLIC_URL").unwrap_or_else(|_| base.to_owned());
    Ok(builder.public_url(&public_url)?.dpop(mode).resource(public_url))
}

/// Proofs are single-use and live 60 s, so the printed ones work once, right away.
fn print_dpop_commands(issuer: &TestIssuer, audience: &str, base: &str) -> Result<(), Box<dyn std::error::Error>> {
    if matches!(std::env::var("DPOP").as_deref(), Ok("off")) {
        return Ok(());
    }
    let public = std::env::var("PUBLIC_URL").unwrap_or_else(|_| base.to_owned());
    let key = DpopKey::generate(jsonwebtoken::Algorithm::ES256)?;
    let token = issuer.token().audience(audience).subject("alice").scopes(["notes:read"]).dpop_bound(&key).sign()?;
    let proof = key.proof("GET", &format!("{public}/notes")).access_token(&token).sign()?;
    println!("# DPoP (RFC 9449): a DPoP-bound token and ONE proof for GET /notes, valid 60 s, single use");
    println!(
        "curl -i {base}/notes -H 'Authorization: DPoP {token}' -H 'DPoP: {proof}'
"
    );
    println!("# the same DPoP-bound token as Bearer -> 401 invalid_token (RFC 9449 §7.2)");
    println!(
        "curl -i {base}/notes -H 'Authorization: Bearer {token}'
"
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
