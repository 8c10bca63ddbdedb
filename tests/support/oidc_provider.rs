//! Test harness: a REAL OpenID Provider (panva's `oidc-provider` 9.x, run by
//! Node.js from `tests/oidc-provider/provider.mjs`) on 127.0.0.1.
//!
//! Include it from a test file with:
//!
//! ```ignore
//! #[path = "support/oidc_provider.rs"]
//! mod oidc_provider;
//! use oidc_provider::{OidcProvider, ProviderConfig};
//! ```
//!
//! Requirements: `node` (>= 20) and `npm` on PATH. When they are missing the
//! test PANICS with a message saying what to install; it never skips.
//!
//! The first `OidcProvider::start` in a process runs `npm ci` in
//! `tests/oidc-provider/` if `node_modules` is missing or was installed from a
//! different `package-lock.json` (guarded by a `OnceLock` within the process
//! and by an atomic lock directory `tests/oidc-provider/.npm-ci.lock` across
//! processes, e.g. nextest or several test binaries at once).
//!
//! What the provider issues (see provider.mjs for the details): client
//! `notes-client` / `notes-secret`, `client_credentials` grant with
//! `resource=<audience>`, an RFC 9068 JWT (`typ: at+jwt`, `alg` = the
//! configured one, `kid` of the single signing key) with claims `iss`
//! (= issuer), `aud` (= audience), `sub` = `client_id` = `notes-client`,
//! `jti`, `iat`, `exp` (= iat + ttl) and `scope` = the requested scopes
//! space-separated in request order; when no scope is requested the token has
//! no `scope` claim.
#![allow(dead_code)]

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// Client registered at the provider.
pub const CLIENT_ID: &str = "notes-client";
/// Its secret (client_secret_basic and client_secret_post both work).
pub const CLIENT_SECRET: &str = "notes-secret";
/// Default resource indicator / `aud`.
pub const DEFAULT_AUDIENCE: &str = "https://notes.example.test";
/// The resource indicator under which the provider issues OPAQUE access tokens (same audience).
pub const OPAQUE_RESOURCE: &str = "urn:bearer-guard:opaque";
/// Scopes the client may request for the audience.
pub const ALLOWED_SCOPES: &[&str] = &["notes:read", "notes:write", "admin"];

const READY_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// RS256, PS256, ES256 or EdDSA.
    pub alg: &'static str,
    pub access_token_ttl_secs: u64,
    pub audience: String,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self { alg: "RS256", access_token_ttl_secs: 600, audience: DEFAULT_AUDIENCE.to_owned() }
    }
}

impl ProviderConfig {
    pub fn new(alg: &'static str) -> Self {
        Self { alg, ..Self::default() }
    }
}

pub struct OidcProvider {
    child: Child,
    issuer: String,
    port: u16,
    kid: String,
    generation: u32,
    cfg: ProviderConfig,
    /// Further resource indicators the provider accepts (`EXTRA_RESOURCES`).
    extra_resources: Vec<String>,
    http: reqwest::Client,
    /// Everything the provider wrote to stderr (for failure messages).
    stderr_log: Arc<Mutex<String>>,
}

impl OidcProvider {
    /// Starts a provider on an ephemeral port and waits until it is ready.
    pub async fn start(cfg: ProviderConfig) -> OidcProvider {
        Self::start_with_extra_resources(cfg, &[]).await
    }

    /// Like [`start`](Self::start), and the provider also accepts these resource indicators
    /// (`resource=<one of them>` gives a token with that `aud`).
    pub async fn start_with_extra_resources(cfg: ProviderConfig, extra_resources: &[&str]) -> OidcProvider {
        ensure_node_modules();
        let extra_resources: Vec<String> = extra_resources.iter().map(|s| (*s).to_owned()).collect();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build reqwest client");
        let spawned = spawn_provider(&cfg, &extra_resources, 0, 0).await;
        OidcProvider {
            child: spawned.child,
            issuer: spawned.issuer,
            port: spawned.port,
            kid: spawned.kid,
            generation: 0,
            cfg,
            extra_resources,
            http,
            stderr_log: spawned.stderr_log,
        }
    }

    /// `http://127.0.0.1:<port>` (no trailing slash), exactly the `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `kid` of the provider's current (only) signing key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.cfg
    }

    pub fn audience(&self) -> &str {
        &self.cfg.audience
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// The provider's JWKS endpoint (`jwks_uri` of the discovery document).
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// Everything the provider process printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr_log.lock().unwrap().clone()
    }

    /// GET the discovery document.
    pub async fn discovery(&self) -> serde_json::Value {
        self.get_json(&self.discovery_url()).await
    }

    /// GET the JWKS.
    pub async fn jwks(&self) -> serde_json::Value {
        self.get_json(&self.jwks_uri()).await
    }

    /// A fresh access token (client_credentials, client_secret_basic,
    /// `resource` = audience) carrying exactly `scopes`; with no scopes the
    /// `scope` parameter is omitted and the token has no `scope` claim.
    pub async fn token(&self, scopes: &[&str]) -> String {
        let scope = scopes.join(" ");
        let mut params = vec![("grant_type", "client_credentials"), ("resource", self.cfg.audience.as_str())];
        if !scope.is_empty() {
            params.push(("scope", scope.as_str()));
        }
        let (status, body) = self.token_request(&params).await;
        if status != 200 {
            panic!("oidc-provider token request failed: HTTP {status}: {body}\nprovider stderr:\n{}", self.stderr());
        }
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("token response without access_token: {body}"))
            .to_owned()
    }

    /// An OPAQUE access token (client_credentials, resource = [`OPAQUE_RESOURCE`], same
    /// audience) carrying exactly `scopes`.
    pub async fn opaque_token(&self, scopes: &[&str]) -> String {
        let scope = scopes.join(" ");
        let (status, body) = self
            .token_request(&[("grant_type", "client_credentials"), ("resource", OPAQUE_RESOURCE), ("scope", &scope)])
            .await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().expect("access_token").to_owned();
        assert!(!token.contains('.'), "expected an opaque token, got a JWT");
        token
    }

    /// Raw token request (authenticated with client_secret_basic as
    /// notes-client) with arbitrary form parameters, for negative tests.
    /// Returns the HTTP status and the JSON body.
    pub async fn token_request(&self, params: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let body =
            params.iter().map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v))).collect::<Vec<_>>().join("&");
        let resp = self
            .http
            .post(self.token_endpoint())
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {} failed: {e}", self.token_endpoint()));
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("read token response");
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("token response is not JSON ({e}): {text}"));
        (status, json)
    }

    /// Stops the provider and starts it again on the SAME port (same issuer)
    /// with a freshly generated signing key and a different `kid`.
    pub async fn restart_with_new_keys(&mut self) {
        let old_kid = self.kid.clone();
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.generation += 1;
        let spawned = spawn_provider(&self.cfg, &self.extra_resources, self.port, self.generation).await;
        assert_eq!(spawned.issuer, self.issuer, "restarted provider came up with a different issuer");
        assert_ne!(spawned.kid, old_kid, "restarted provider kept its kid");
        self.child = spawned.child;
        self.kid = spawned.kid;
        self.stderr_log = spawned.stderr_log;
    }

    async fn get_json(&self, url: &str) -> serde_json::Value {
        let resp = self.http.get(url).send().await.unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
        let status = resp.status();
        let text = resp.text().await.expect("read response body");
        assert!(status.is_success(), "GET {url}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"))
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        // kill_on_drop is set as well; this makes the intent explicit.
        let _ = self.child.start_kill();
    }
}

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("oidc-provider")
}

const INSTALL_HINT: &str = "the interop tests run a real OpenID Provider (npm package \
    oidc-provider) and need Node.js >= 20 with npm on PATH: install them (e.g. \
    `apt-get install nodejs npm`, or from https://nodejs.org) and re-run";

struct Spawned {
    child: Child,
    issuer: String,
    port: u16,
    kid: String,
    stderr_log: Arc<Mutex<String>>,
}

/// Starts the provider, trying again (up to 3 starts) when one hangs before READY: about one
/// start in 40 hung under heavy load on Node 20 (which oidc-provider 9 does not officially
/// support). Each hang is reported on stderr with the provider's logs, never hidden.
async fn spawn_provider(cfg: &ProviderConfig, extra_resources: &[String], port: u16, generation: u32) -> Spawned {
    for attempt in 1..=3 {
        match spawn_provider_once(cfg, extra_resources, port, generation).await {
            Ok(spawned) => return spawned,
            Err(report) if attempt < 3 => eprintln!("warning: start {attempt} of 3 hung, retrying: {report}"),
            Err(report) => panic!("{report}"),
        }
    }
    unreachable!("the loop returns or panics")
}

async fn spawn_provider_once(
    cfg: &ProviderConfig,
    extra_resources: &[String],
    port: u16,
    generation: u32,
) -> Result<Spawned, String> {
    let dir = provider_dir();
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("ALG", cfg.alg)
        .env("AUDIENCE", &cfg.audience)
        .env("ACCESS_TOKEN_TTL", cfg.access_token_ttl_secs.to_string())
        .env("KID_PREFIX", format!("gen{generation}"))
        .env("EXTRA_RESOURCES", extra_resources.join(","))
        .env_remove("NODE_OPTIONS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                panic!("`node` not found on PATH: {INSTALL_HINT}");
            }
            panic!("failed to spawn `node provider.mjs` in {}: {e}", dir.display())
        });

    let stderr_log = Arc::new(Mutex::new(String::new()));
    tokio::spawn(collect_lines(child.stderr.take().unwrap(), stderr_log.clone(), None));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stdout_log = Arc::new(Mutex::new(String::new()));
    tokio::spawn(collect_lines(child.stdout.take().unwrap(), stdout_log.clone(), Some(tx)));

    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut kid = None;
    let issuer = loop {
        let line = tokio::select! {
            line = rx.recv() => line,
            _ = tokio::time::sleep_until(deadline) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(format!(
                    "oidc-provider (ALG={}, PORT={port}) not READY after {READY_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                    cfg.alg, stdout_log.lock().unwrap(), stderr_log.lock().unwrap()
                ));
            }
        };
        let Some(line) = line else {
            // stdout closed: the process died before READY.
            let status = child.wait().await;
            tokio::time::sleep(Duration::from_millis(100)).await; // let stderr drain
            panic!(
                "oidc-provider (ALG={}, PORT={port}) exited before READY ({status:?})\nstdout:\n{}\nstderr:\n{}",
                cfg.alg,
                stdout_log.lock().unwrap(),
                stderr_log.lock().unwrap()
            );
        };
        if let Some(k) = line.strip_prefix("KID ") {
            kid = Some(k.trim().to_owned());
        } else if let Some(url) = line.strip_prefix("READY ") {
            break url.trim().to_owned();
        }
    };
    let port = issuer
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse port from READY line {issuer:?}"));
    Ok(Spawned { child, issuer, port, kid: kid.expect("provider printed READY without a KID line"), stderr_log })
}

async fn collect_lines(
    stream: impl AsyncRead + Unpin,
    log: Arc<Mutex<String>>,
    tx: Option<tokio::sync::mpsc::UnboundedSender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        {
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
        if let Some(tx) = &tx {
            let _ = tx.send(line);
        }
    }
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// `npm ci`, once.

/// Runs `npm ci` in tests/oidc-provider if node_modules is missing or stale.
/// Blocking (called once per process; other tests wait for it).
fn ensure_node_modules() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(msg) = INSTALLED.get_or_init(install_node_modules) {
        panic!("{msg}");
    }
}

fn install_node_modules() -> Result<(), String> {
    npm_ci(&provider_dir(), "node_modules/oidc-provider/package.json")
}

/// Runs `npm ci` in `dir` unless `node_modules` is there, installed from the same
/// `package-lock.json` (and `probe`, a path relative to `dir`, exists). Blocking; safe across
/// processes (an atomic lock directory). For other npm harnesses next to this one (e.g.
/// `tests/mcp-client/`).
pub fn npm_ci(dir: &Path, probe: &str) -> Result<(), String> {
    let dir = dir.to_path_buf();
    check_tool("node")?;
    let lock_file = std::fs::read(dir.join("package-lock.json"))
        .map_err(|e| format!("cannot read {}/package-lock.json: {e}", dir.display()))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    lock_file.hash(&mut hasher);
    let stamp = format!("{:016x}\n", hasher.finish());
    let marker = dir.join("node_modules").join(".bearer-guard-npm-ci");
    let up_to_date = || std::fs::read_to_string(&marker).is_ok_and(|m| m == stamp) && dir.join(probe).is_file();
    if up_to_date() {
        return Ok(());
    }

    // Cross-process lock: mkdir is atomic.
    let lock_dir = dir.join(".npm-ci.lock");
    let started = Instant::now();
    loop {
        match std::fs::create_dir(&lock_dir) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if up_to_date() {
                    return Ok(());
                }
                // A lock older than 10 minutes is stale (crashed installer).
                let stale = std::fs::metadata(&lock_dir)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_some_and(|age| age > Duration::from_secs(600));
                if stale {
                    let _ = std::fs::remove_dir(&lock_dir);
                    continue;
                }
                if started.elapsed() > Duration::from_secs(900) {
                    return Err(format!("timed out waiting for another `npm ci` (lock {})", lock_dir.display()));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(format!("cannot create {}: {e}", lock_dir.display())),
        }
    }
    struct Unlock(PathBuf);
    impl Drop for Unlock {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _unlock = Unlock(lock_dir);
    if up_to_date() {
        return Ok(());
    }

    check_tool("npm")?;
    eprintln!("oidc_provider harness: running `npm ci` in {}", dir.display());
    let out = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("failed to run `npm ci` in {}: {e}\n{INSTALL_HINT}", dir.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`npm ci` in {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::write(&marker, stamp).map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(())
}

fn check_tool(tool: &str) -> Result<(), String> {
    match std::process::Command::new(tool).arg("--version").stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`{tool} --version` failed ({}): {}\n{INSTALL_HINT}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("`{tool}` not found on PATH: {INSTALL_HINT}"))
        }
        Err(e) => Err(format!("cannot run `{tool}`: {e}\n{INSTALL_HINT}")),
    }
}
