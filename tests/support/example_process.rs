//! Test harness: an example (`examples/<name>`) built with cargo and started as a process, the way
//! a user runs it, with the environment the test gives it; killed when dropped.
//!
//! Include it from a test file with `#[path = "support/example_process.rs"] mod example_process;`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

/// Builds `examples/<name>` with the same crypto backend as this test and returns its path.
pub fn build_example(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = std::process::Command::new(cargo);
    // Run it in the environment the outer `cargo test` ran in: the variables cargo sets for a
    // test process (CARGO_PKG_*, CARGO_MANIFEST_DIR, …) reach build scripts that watch them
    // and would make cargo rebuild ring, rustls and reqwest, twice per run.
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy();
        let set_for_tests = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
            "CARGO_PRIMARY_",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
        ]
        .iter()
        .any(|prefix| var.starts_with(prefix));
        if set_for_tests {
            command.env_remove(&*var);
        }
    }
    command.args(["build", "--example", name, "--message-format=json-render-diagnostics"]);
    if !cfg!(feature = "aws-lc-rs") {
        command.arg("--no-default-features");
    }
    if cfg!(feature = "rust-crypto") {
        command.args(["--features", "rust-crypto"]);
    }
    let output = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run cargo build --example {name}: {e}"));
    assert!(output.status.success(), "cargo build --example {name} failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no executable for the {name} example"))
}

/// A free loopback port.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// A running example process.
pub struct Example {
    child: Child,
}

impl Example {
    /// Starts `examples/<name>` with `env` (and nothing of the examples' contract from this
    /// process's environment), then waits until `ready_url` answers 200.
    pub async fn start(name: &str, env: &[(&str, &str)], ready_url: &str) -> Example {
        let mut command = Command::new(build_example(name));
        for var in [
            "LISTEN",
            "ISSUER",
            "JWKS_URI",
            "AUDIENCE",
            "RESOURCE",
            "PUBLIC_URL",
            "DPOP",
            "REDIS_URL",
            "INTROSPECTION_CLIENT_ID",
            "INTROSPECTION_CLIENT_SECRET",
            "INTROSPECTION_AUTH",
        ] {
            command.env_remove(var);
        }
        for (var, value) in env {
            command.env(var, value);
        }
        let child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start the {name} example: {e}"));
        let example = Example { child };
        let http = reqwest::Client::builder().no_proxy().build().expect("http client");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = http.get(ready_url).send().await
                && response.status() == 200
            {
                return example;
            }
            assert!(Instant::now() < deadline, "the {name} example did not serve {ready_url} within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
