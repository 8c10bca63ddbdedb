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
//! Opaque tokens (RFC 7662): with `INTROSPECTION_CLIENT_ID` and `INTROSPECTION_CLIENT_SECRET`
//! set, tokens that are not JWTs of the issuer are introspected at its discovered
//! `introspection_endpoint` with `client_secret_basic`; `INTROSPECTION_AUTH=client_secret_post`
//! switches the method.

mod app;

use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerGuard, ClientAuth, Introspection};
use tracing_subscriber::EnvFilter;

const DEFAULT_AUDIENCE: &str = "https://notes.example.test";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();

    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let audience = std::env::var("AUDIENCE").unwrap_or_else(|_| DEFAULT_AUDIENCE.to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
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
            builder.build()?
        }
        Err(_) => {
            let issuer = TestIssuer::start().await;
            let guard = BearerGuard::builder()
                .issuer(issuer.issuer())
                .audience(&audience)
                .jwks_uri(issuer.jwks_uri())
                .introspection(
                    Introspection::new(
                        TestIssuer::INTROSPECTION_CLIENT_ID,
                        ClientAuth::client_secret_basic(TestIssuer::INTROSPECTION_CLIENT_SECRET),
                    )
                    .endpoint(issuer.introspection_endpoint()),
                )
                .build()?;
            print_curl_commands(&issuer, &audience, &base)?;
            embedded = Some(issuer);
            guard
        }
    };

    tracing::info!(%base, "notes API listening");
    axum::serve(listener, app::router(&guard)).with_graceful_shutdown(shutdown_signal()).await?;
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
    let token = |scopes: &[&str], lifetime: i64| {
        issuer.token().audience(audience).subject("alice").scopes(scopes.iter().copied()).expires_in(lifetime).sign()
    };
    let read = token(&["notes:read"], 3600)?;
    let write = token(&["notes:read", "notes:write"], 3600)?;
    let admin = token(&["notes:read", "notes:write", "admin"], 3600)?;
    let expired = token(&["notes:read"], -3600)?;
    println!("\nEmbedded test issuer at {} (no ISSUER set). Try:\n", issuer.issuer());
    println!("# read only: GET /notes -> 200, POST /notes -> 403 insufficient_scope");
    println!("curl -i {base}/notes -H 'Authorization: Bearer {read}'\n");
    println!("# read+write: POST /notes -> 201");
    println!(
        "curl -i {base}/notes -H 'Authorization: Bearer {write}' -H 'Content-Type: application/json' -d '{{\"text\":\"hello\"}}'\n"
    );
    println!("# admin: DELETE /notes/1 -> 204 (404 if there is no note 1)");
    println!("curl -i -X DELETE {base}/notes/1 -H 'Authorization: Bearer {admin}'\n");
    println!("# expired: -> 401 invalid_token \"token has expired\"");
    println!("curl -i {base}/me -H 'Authorization: Bearer {expired}'\n");
    let opaque =
        issuer.opaque_token().audience(audience).subject("alice").scopes(["notes:read"]).expires_in(3600).issue();
    println!("# opaque token (RFC 7662 introspection at the test issuer, then cached): GET /notes -> 200");
    println!("curl -i {base}/notes -H 'Authorization: Bearer {opaque}'\n");
    println!("# no token: -> 401 with a bare Bearer challenge");
    println!("curl -i {base}/me\n");
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
