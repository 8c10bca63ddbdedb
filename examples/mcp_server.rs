//! An MCP server (the official Rust SDK, `rmcp`, streamable HTTP on axum) protected by
//! bearer-guard: RFC 9728 metadata, audience = this resource (RFC 8707), per-tool scopes with
//! the MCP step-up answer.
//!
//! ```text
//! cargo run --example mcp_server
//! ```
//!
//! Environment: `LISTEN` (default `127.0.0.1:3001`), `ISSUER` (trusted issuer; keys by discovery
//! unless `JWKS_URI` is set), `JWKS_URI`, `RESOURCE` (the canonical resource URI; default
//! `http://` + LISTEN + `/mcp`; tokens must carry it in `aud`), `AUDIENCE` (a further accepted
//! audience, for authorization servers that can't put the resource URI in `aud`), `RUST_LOG`.
//! Without `ISSUER`, the server starts its own in-process test issuer and prints tokens.
//!
//! - `POST /mcp`: MCP streamable HTTP. Tools: `list_notes` (needs `notes:read`), `add_note`
//!   `{"text": "…"}` (needs `notes:write`). A call without the tool's scope is refused with
//!   HTTP `403 insufficient_scope`, `scope="notes:write"`: the MCP step-up answer.
//! - `GET /.well-known/oauth-protected-resource/mcp` (and `/.well-known/oauth-protected-resource`):
//!   the RFC 9728 document.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::FromRequestParts;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerGuard, ResourceMetadata, Scope, VerifiedToken};
use http::request::Parts;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

bearer_guard::scopes! {
    /// Read the notes.
    pub struct NotesRead = "notes:read";
    /// Add notes.
    pub struct NotesWrite = "notes:write";
}

#[derive(Debug, Clone, Serialize)]
struct Note {
    id: u64,
    text: String,
    author: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct AddNote {
    /// The note's text.
    text: String,
}

/// The MCP server: a notes store shared by every session.
#[derive(Clone)]
struct NotesServer {
    notes: Arc<Mutex<Vec<Note>>>,
}

#[tool_router]
impl NotesServer {
    fn new(notes: Arc<Mutex<Vec<Note>>>) -> Self {
        Self { notes }
    }

    #[tool(description = "List all notes (needs the notes:read scope)")]
    async fn list_notes(&self, Extension(parts): Extension<Parts>) -> Result<CallToolResult, McpError> {
        require(parts, NotesRead::NAME).await?;
        let notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let json = serde_json::to_string(&notes).map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok(CallToolResult::success(vec![ContentBlock::text(json)]))
    }

    #[tool(description = "Add a note (needs the notes:write scope)")]
    async fn add_note(
        &self,
        Parameters(AddNote { text }): Parameters<AddNote>,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, McpError> {
        let token = require(parts, NotesWrite::NAME).await?;
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        let id = notes.last().map_or(1, |n| n.id + 1);
        let note = Note { id, text, author: token.subject().unwrap_or("unknown").to_owned() };
        let json = serde_json::to_string(&note).map_err(|e| McpError::internal_error(e.to_string(), None))?;
        notes.push(note);
        Ok(CallToolResult::success(vec![ContentBlock::text(json)]))
    }
}

/// The verified token of the HTTP request that carried this tool call, with `scope` checked.
/// `mcp_tool_scopes` has already answered 403 when the scope is missing; this is the tool's own
/// check from the same token (defence in depth, and the token's `sub` for the note's author).
async fn require(mut parts: Parts, scope: &str) -> Result<VerifiedToken, McpError> {
    let token = VerifiedToken::from_request_parts(&mut parts, &())
        .await
        .map_err(|refusal| McpError::invalid_request(refusal.to_string(), None))?;
    if !token.scopes().contains(scope) {
        return Err(McpError::invalid_request(format!("the token lacks the {scope} scope"), None));
    }
    Ok(token)
}

#[tool_handler]
impl ServerHandler for NotesServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bearer-guard-notes", env!("CARGO_PKG_VERSION")))
            .with_instructions("A notes store: list_notes reads, add_note writes.")
    }
}

/// The whole app: the MCP endpoint behind the guard, and the metadata next to it.
fn router(guard: &BearerGuard, allowed_host: &str) -> Result<Router, bearer_guard::ConfigError> {
    let notes = Arc::new(Mutex::new(Vec::new()));
    // rmcp only accepts loopback `Host`s by default (DNS-rebinding protection); add the
    // resource's own host so a deployment behind its public name works too.
    let config =
        StreamableHttpServerConfig::default().with_allowed_hosts(["localhost", "127.0.0.1", "::1", allowed_host]);
    let mcp = StreamableHttpService::new(
        move || Ok(NotesServer::new(Arc::clone(&notes))),
        LocalSessionManager::default().into(),
        config,
    );
    Ok(Router::new()
        .route_service("/mcp", mcp)
        // Per tool call: a token without the tool's scope gets 403 insufficient_scope.
        .route_layer(
            guard.mcp_tool_scopes().tool("list_notes", [NotesRead::NAME])?.tool("add_note", [NotesWrite::NAME])?,
        )
        // Any valid token for this resource may connect; a 401 tells clients to start with notes:read.
        .route_layer(guard.layer().advertise_scopes([NotesRead::NAME])?)
        .merge(guard.metadata_router()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();

    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3001".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let resource = std::env::var("RESOURCE").unwrap_or_else(|_| format!("{base}/mcp"));
    let metadata = ResourceMetadata::new().resource_name("bearer-guard notes (MCP)");

    // Kept alive for the whole run when the embedded default is used.
    let mut embedded: Option<TestIssuer> = None;
    let guard = match std::env::var("ISSUER") {
        Ok(issuer) => {
            let mut builder = BearerGuard::builder().issuer(issuer).resource(&resource).metadata(metadata);
            if let Ok(audience) = std::env::var("AUDIENCE") {
                builder = builder.audience(audience);
            }
            if let Ok(jwks_uri) = std::env::var("JWKS_URI") {
                builder = builder.jwks_uri(jwks_uri);
            }
            builder.build()?
        }
        Err(_) => {
            let issuer = TestIssuer::start().await;
            let guard = BearerGuard::builder()
                .issuer(issuer.issuer())
                .jwks_uri(issuer.jwks_uri())
                .resource(&resource)
                .metadata(metadata)
                .build()?;
            print_tokens(&issuer, &resource, &base)?;
            embedded = Some(issuer);
            guard
        }
    };

    let host = url_host(&resource);
    tracing::info!(%resource, "MCP server listening");
    println!("MCP endpoint: {resource} (listening on {base})");
    axum::serve(listener, router(&guard, &host)?).with_graceful_shutdown(shutdown_signal()).await?;
    drop(embedded);
    Ok(())
}

/// The `host[:port]` of the resource URI, for rmcp's `Host` check.
fn url_host(resource: &str) -> String {
    let rest = resource.split_once("://").map_or(resource, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or(rest).to_owned()
}

fn print_tokens(issuer: &TestIssuer, resource: &str, base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let token = |scopes: &[&str]| {
        issuer.token().audience(resource).subject("alice").scopes(scopes.iter().copied()).expires_in(3600).sign()
    };
    let read = token(&["notes:read"])?;
    let write = token(&["notes:read", "notes:write"])?;
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}"#;
    println!("\nEmbedded test issuer at {} (no ISSUER set).\n", issuer.issuer());
    println!("# the RFC 9728 metadata (no token needed)");
    println!("curl -s {base}/.well-known/oauth-protected-resource/mcp\n");
    println!("# no token: 401 with resource_metadata=\"…\" and scope=\"notes:read\"");
    println!("curl -i -X POST {resource}\n");
    println!("# read-only token (list_notes works, add_note is 403 insufficient_scope scope=\"notes:write\"):");
    println!("READ_TOKEN={read}\n");
    println!("# read+write token:");
    println!("WRITE_TOKEN={write}\n");
    println!("# initialize a session with it");
    println!(
        "curl -i {resource} -H \"Authorization: Bearer $WRITE_TOKEN\" -H 'Content-Type: application/json' \
         -H 'Accept: application/json, text/event-stream' -d '{init}'\n"
    );
    println!("# or connect an MCP client (e.g. the MCP Inspector) to {resource} with that bearer token\n");
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
