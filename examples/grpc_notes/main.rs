//! The notes service as gRPC (tonic), protected by bearer-guard: one layer verifies the token,
//! one table maps each method to its scope.
//!
//! ```text
//! cargo run --example grpc_notes
//! cargo run --example grpc_notes -- client http://127.0.0.1:50051 "$TOKEN" list
//! ```
//!
//! Environment: `LISTEN` (default `127.0.0.1:50051`), `ISSUER` (trusted issuer; keys by
//! discovery unless `JWKS_URI` is set), `JWKS_URI`, `AUDIENCE` (default
//! `https://notes.example.test`), `RUST_LOG`. Without `ISSUER`, the service starts its own
//! in-process test issuer, trusts it, and prints tokens and client commands.
//!
//! The service is `proto/notes.proto` (package `notes.v1`): `List` and `Watch` need
//! `notes:read`, `Add` needs `notes:write`, `Delete` needs `admin`.

mod service;

use bearer_guard::BearerGuard;
use bearer_guard::testing::TestIssuer;
use tracing_subscriber::EnvFilter;

const DEFAULT_AUDIENCE: &str = "https://notes.example.test";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("client") {
        return service::client(args.get(1..).unwrap_or_default()).await;
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();

    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:50051".to_owned());
    let audience = std::env::var("AUDIENCE").unwrap_or_else(|_| DEFAULT_AUDIENCE.to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let url = service::url(listener.local_addr()?);

    // Kept alive for the whole run when the embedded default is used.
    let mut embedded: Option<TestIssuer> = None;
    let guard = match std::env::var("ISSUER") {
        Ok(issuer) => {
            let mut builder = BearerGuard::builder().issuer(issuer).audience(&audience);
            if let Ok(jwks_uri) = std::env::var("JWKS_URI") {
                builder = builder.jwks_uri(jwks_uri);
            }
            builder.build()?
        }
        Err(_) => {
            let issuer = TestIssuer::start().await;
            let guard = BearerGuard::builder()
                .issuer(issuer.issuer())
                .audience(&audience)
                .jwks_uri(issuer.jwks_uri())
                .build()?;
            print_commands(&issuer, &audience, &url)?;
            embedded = Some(issuer);
            guard
        }
    };

    println!("READY {url}");
    tracing::info!(%url, "notes gRPC service listening");
    service::serve(listener, &guard, shutdown_signal()).await?;
    drop(embedded);
    tracing::info!("shut down");
    Ok(())
}

fn print_commands(issuer: &TestIssuer, audience: &str, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let token = |scopes: &[&str], lifetime: i64| {
        issuer.token().audience(audience).subject("alice").scopes(scopes.iter().copied()).expires_in(lifetime).sign()
    };
    let client = "cargo run -q --example grpc_notes -- client";
    println!("\nEmbedded test issuer at {} (no ISSUER set). Tokens:\n", issuer.issuer());
    println!("READ_TOKEN={}", token(&["notes:read"], 3600)?);
    println!("WRITE_TOKEN={}", token(&["notes:read", "notes:write"], 3600)?);
    println!("ADMIN_TOKEN={}", token(&["notes:read", "notes:write", "admin"], 3600)?);
    println!("EXPIRED_TOKEN={}", token(&["notes:read"], -3600)?);
    println!("\nPaste the lines above into your shell, then try:\n");
    println!("{client} {url} \"$WRITE_TOKEN\" add hello    # OK Note {{ id: 1, .. author: \"alice\" }}");
    println!("{client} {url} \"$READ_TOKEN\" list          # OK [...]");
    println!("{client} {url} \"$READ_TOKEN\" add hi        # PermissionDenied, scope=\"notes:write\"");
    println!("{client} {url} \"$ADMIN_TOKEN\" delete 1     # OK deleted");
    println!("{client} {url} \"$READ_TOKEN\" watch         # streams notes as they are added");
    println!("{client} {url} \"$EXPIRED_TOKEN\" list       # Unauthenticated: token has expired");
    println!("{client} {url} none list                    # Unauthenticated: access token is not a well-formed JWT\n");
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
