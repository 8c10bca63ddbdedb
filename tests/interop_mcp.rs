//! Interop: the `mcp_server` example, started as a process the way a user runs it (issue 18's
//! contract: `LISTEN`, `ISSUER`, default `RESOURCE` = `http://` + LISTEN + `/mcp`), trusting a
//! REAL authorization server (npm `oidc-provider`, resource indicators on), driven by a REAL MCP
//! client no one here wrote: the official TypeScript SDK (`@modelcontextprotocol/sdk`, run by
//! Node from `tests/mcp-client/client.mjs`, installed by `npm ci` from the lock file there).
//!
//! Needs `node` (>= 20) and `npm`; without them the test fails saying what to install.

#[path = "support/example_process.rs"]
mod example_process;
#[path = "support/oidc_provider.rs"]
mod oidc_provider;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use example_process::{Example, free_port};
use oidc_provider::{CLIENT_ID, CLIENT_SECRET, OidcProvider, ProviderConfig};
use serde_json::{Value, json};
use tokio::process::Command;

/// A resource the provider also mints tokens for: a token for it must be refused here.
const OTHER_RESOURCE: &str = "https://other-resource.example.test/mcp";

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("mcp-client")
}

fn ensure_client_installed() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let installed = INSTALLED
        .get_or_init(|| oidc_provider::npm_ci(&client_dir(), "node_modules/@modelcontextprotocol/sdk/package.json"));
    if let Err(message) = installed {
        panic!("installing the MCP TypeScript SDK failed: {message}");
    }
}

async fn run_client(issuer: &str, mcp_url: &str, read: &str, write: &str, other: &str) -> Value {
    let mut child = Command::new("node")
        .arg("client.mjs")
        .current_dir(client_dir())
        .env("EXPECTED_ISSUER", issuer)
        .env("MCP_URL", mcp_url)
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("READ_TOKEN", read)
        .env("WRITE_TOKEN", write)
        .env("OTHER_TOKEN", other)
        .env_remove("NODE_OPTIONS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node client.mjs` (install Node.js >= 20 and npm): {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let read_all = |mut r: Box<dyn tokio::io::AsyncRead + Unpin + Send>| async move {
        let mut s = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut r, &mut s).await;
        s
    };
    let (out, err) = tokio::time::timeout(
        Duration::from_secs(120),
        futures_join(read_all(Box::new(stdout)), read_all(Box::new(stderr))),
    )
    .await
    .expect("the MCP client did not finish within 120 s");
    let status = child.wait().await.expect("wait for node");
    let report = out.lines().find_map(|l| l.strip_prefix("REPORT ")).unwrap_or_else(|| {
        panic!("the MCP client printed no REPORT ({status})\nstdout:\n{out}\nstderr:\n{err}");
    });
    serde_json::from_str(report).unwrap_or_else(|e| panic!("REPORT is not JSON ({e}): {report}"))
}

async fn futures_join<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    tokio::join!(a, b)
}

fn exchanges(flow: &Value) -> &[Value] {
    flow["exchanges"].as_array().map(Vec::as_slice).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_discovers_authorizes_and_is_refused_per_tool_without_the_scope() {
    ensure_client_installed();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let resource = format!("http://{listen}/mcp");
    let metadata_url = format!("http://{listen}/.well-known/oauth-protected-resource/mcp");
    let provider = OidcProvider::start_with_extra_resources(
        ProviderConfig { audience: resource.clone(), ..ProviderConfig::default() },
        &[OTHER_RESOURCE],
    )
    .await;
    let ready = format!("http://{listen}/.well-known/oauth-protected-resource/mcp");
    let _example = Example::start("mcp_server", &[("LISTEN", &listen), ("ISSUER", provider.issuer())], &ready).await;

    // The example's routes, as issue 18 names them (one call each).
    let http = reqwest::Client::new();
    for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
        let response = http.get(format!("http://{listen}{path}")).send().await.expect("GET metadata");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json", "{path}");
        let doc: Value = response.json().await.expect("metadata JSON");
        assert_eq!(doc["resource"], resource.as_str(), "{path}");
    }

    let read = provider.token(&["notes:read"]).await;
    let write = provider.token(&["notes:read", "notes:write"]).await;
    let (status, body) = provider
        .token_request(&[("grant_type", "client_credentials"), ("resource", OTHER_RESOURCE), ("scope", "notes:read")])
        .await;
    assert_eq!(status, 200, "token for the other resource: {body}");
    let other = body["access_token"].as_str().expect("access_token").to_owned();

    let report = run_client(provider.issuer(), &resource, &read, &write, &other).await;
    eprintln!("MCP client report: {report}");
    let step_up = format!(
        "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"token lacks a required scope\", \
         scope=\"notes:write\", resource_metadata=\"{metadata_url}\""
    );

    // 1. Discovery with the SDK's functions: the 401 leads to the metadata, the metadata to the AS.
    let d = &report["discovery"];
    assert_eq!(d["status"], 401, "{d}");
    assert_eq!(
        d["www_authenticate"],
        format!("Bearer realm=\"api\", scope=\"notes:read\", resource_metadata=\"{metadata_url}\""),
        "{d}"
    );
    assert_eq!(d["resource_metadata_url"], metadata_url.as_str());
    assert_eq!(d["challenge_scope"], "notes:read");
    assert_eq!(
        d["metadata"],
        json!({
            "resource": resource,
            "authorization_servers": [provider.issuer()],
            "scopes_supported": ["notes:read", "notes:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "bearer-guard notes (MCP)",
        })
    );
    assert_eq!(d["as_issuer"], provider.issuer());
    assert_eq!(d["as_token_endpoint"], provider.token_endpoint());

    // 2. The SDK's own OAuth flow (client_credentials through its ClientCredentialsProvider),
    //    from no token to tool calls: first as a read-only client, then as a read+write one.
    let token_requests = |flow: &Value, scope: &str| {
        let ex = exchanges(flow);
        assert_eq!(ex.first().map(|e| &e["status"]), Some(&json!(401)), "the first request has no token: {flow}");
        let requests: Vec<Value> = ex.iter().filter(|e| e.get("form").is_some()).cloned().collect();
        assert!(!requests.is_empty(), "the SDK asked for a token: {flow}");
        for request in &requests {
            assert_eq!(request["url"], provider.token_endpoint(), "{flow}");
            assert_eq!(request["status"], 200, "{flow}");
            assert_eq!(request["form"]["grant_type"], "client_credentials", "{flow}");
            assert_eq!(request["form"]["resource"], resource.as_str(), "RFC 8707 resource = this server: {flow}");
            assert_eq!(request["form"]["scope"], scope, "{flow}");
        }
        requests.len()
    };
    let flow = &report["oauth_read_only"];
    assert_eq!(flow["connected"], true, "{flow}");
    assert_eq!(flow["tools"], json!(["add_note", "list_notes"]), "{flow}");
    assert_eq!(flow["list_notes"], "[]", "{flow}");
    token_requests(flow, "notes:read");
    assert_eq!(flow["add_note"]["ok"], false, "a read-only client can't add notes: {flow}");
    assert_eq!(flow["add_note"]["code"], 403, "{flow}");
    let refusals: Vec<&Value> = exchanges(flow).iter().filter(|e| e["status"] == 403).collect();
    assert!(!refusals.is_empty(), "{flow}");
    for refusal in refusals {
        assert_eq!(refusal["www_authenticate"], step_up.as_str(), "{flow}");
    }

    let flow = &report["oauth_read_write"];
    assert_eq!(flow["connected"], true, "{flow}");
    assert_eq!(token_requests(flow, "notes:read notes:write"), 1, "{flow}");
    assert_eq!(flow["add_note"]["ok"], true, "{flow}");
    assert_eq!(flow["add_note"]["is_error"], false, "{flow}");
    assert!(exchanges(flow).iter().skip(1).all(|e| e["status"] != 401 && e["status"] != 403), "{flow}");
    let note: Value = serde_json::from_str(flow["add_note"]["text"].as_str().unwrap_or_default()).expect("note JSON");
    assert_eq!(note["text"], "added through OAuth");
    assert_eq!(note["author"], CLIENT_ID);

    // 3. A read-only token: tools and list_notes work, add_note is HTTP 403 with the step-up scope.
    let r = &report["read_only"];
    assert_eq!(r["tools"], json!(["add_note", "list_notes"]), "{r}");
    assert!(r["list_notes"].as_str().is_some_and(|s| s.contains("added through OAuth")), "{r}");
    assert_eq!(r["add_note"]["ok"], false, "{r}");
    assert_eq!(r["add_note"]["code"], 403, "{r}");
    assert_eq!(r["refusal"]["status"], 403, "{r}");
    assert_eq!(r["refusal"]["www_authenticate"], step_up.as_str(), "{r}");

    // 4. The same call with a read+write token passes.
    let w = &report["read_write"];
    assert_eq!(w["add_note_is_error"], false, "{w}");
    assert!(w["statuses"].as_array().is_some_and(|s| s.iter().all(|s| s != 401 && s != 403)), "{w}");
    let notes: Value = serde_json::from_str(w["list_notes"].as_str().unwrap_or_default()).expect("notes JSON");
    let texts: Vec<&str> = notes.as_array().expect("array").iter().filter_map(|n| n["text"].as_str()).collect();
    assert_eq!(texts, ["added through OAuth", "hello from the TypeScript SDK"], "{w}");

    // 5. A token of the same issuer for another resource: 401 invalid_token, not connected.
    let o = &report["other_audience"];
    assert_eq!(o["connected"], false, "{o}");
    let first = exchanges(o).first().cloned().unwrap_or_default();
    assert_eq!(first["status"], 401, "{o}");
    assert_eq!(
        first["www_authenticate"],
        format!(
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token is not meant for this audience\", \
             scope=\"notes:read\", resource_metadata=\"{metadata_url}\""
        ),
        "{o}"
    );
}
