//! Test harness: Python `grpcio` (a gRPC client no one here wrote) in a venv under
//! `target/python-grpc/`, with stubs generated from `proto/notes.proto` by `grpcio-tools`.
//!
//! ```ignore
//! #[path = "support/python_grpc.rs"]
//! mod python_grpc;
//! let python = python_grpc::PythonGrpc::get();
//! let answers = python.call("127.0.0.1:50051", &serde_json::json!([{"method": "List", "token": null}]));
//! ```
//!
//! Requirements: `python3` with the `venv` module, and PyPI reachable for the first run. The
//! venv is made once (re-made when `tests/python/requirements.txt` changes). When python3 or
//! venv is missing the harness tries `apt-get install -y python3 python3-venv` (as root), and
//! otherwise PANICS saying what to install; it never skips.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct PythonGrpc {
    python: PathBuf,
    stubs: PathBuf,
    script: PathBuf,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl PythonGrpc {
    /// The venv, made (or reused) once per process.
    pub fn get() -> &'static PythonGrpc {
        static ONCE: OnceLock<PythonGrpc> = OnceLock::new();
        ONCE.get_or_init(setup)
    }

    /// Runs `tests/python/notes_client.py` with `calls` against `address`; one JSON value per call.
    pub fn call(&self, address: &str, calls: &serde_json::Value) -> Vec<serde_json::Value> {
        let output = Command::new(&self.python)
            .arg(&self.script)
            .arg(&self.stubs)
            .arg(address)
            .arg(calls.to_string())
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", self.python.display()));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "python grpcio client failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    match command.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{what} failed ({}):\n{}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

fn have_python_venv() -> bool {
    Command::new("python3").args(["-c", "import venv, ensurepip"]).output().is_ok_and(|o| o.status.success())
}

fn setup() -> PythonGrpc {
    if !have_python_venv() {
        // Debian/Ubuntu: python3-venv carries ensurepip. Install when we can (root, apt-get).
        let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if is_root && Command::new("apt-get").arg("--version").output().is_ok() {
            let _ = run(Command::new("apt-get").arg("update").arg("-qq"), "apt-get update");
            let _ = run(
                Command::new("apt-get").args(["install", "-y", "-qq", "python3", "python3-venv"]),
                "apt-get install python3-venv",
            );
        }
        assert!(
            have_python_venv(),
            "the grpcio interop tests need python3 with the venv module: install python3 and python3-venv \
             (Debian/Ubuntu: `apt-get install -y python3 python3-venv`)"
        );
    }

    let dir = root().join("target").join("python-grpc");
    let requirements = root().join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("tests/python/requirements.txt");
    let _lock = DirLock::acquire(&dir.with_extension("lock"));
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    let stamp = dir.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) || !python.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv), "python3 -m venv")
            .unwrap_or_else(|e| panic!("{e}\n(install python3-venv)"));
        run(
            Command::new(&python)
                .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r"])
                .arg(&requirements),
            "pip install -r tests/python/requirements.txt",
        )
        .unwrap_or_else(|e| panic!("{e}\n(the grpcio interop tests install grpcio and grpcio-tools from PyPI)"));
        std::fs::write(&stamp, &wanted).unwrap();
    }
    // Stubs from the .proto: always regenerated, so they follow proto/notes.proto.
    let stubs = dir.join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    run(
        Command::new(&python)
            .args(["-m", "grpc_tools.protoc", "-I"])
            .arg(root().join("proto"))
            .arg(format!("--python_out={}", stubs.display()))
            .arg(format!("--grpc_python_out={}", stubs.display()))
            .arg(root().join("proto/notes.proto")),
        "grpc_tools.protoc",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    PythonGrpc { python, stubs, script: root().join("tests/python/notes_client.py") }
}

/// A lock directory (atomic `mkdir`) so parallel test binaries don't build the venv twice.
struct DirLock(PathBuf);

impl DirLock {
    fn acquire(path: &Path) -> DirLock {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let start = Instant::now();
        loop {
            match std::fs::create_dir(path) {
                Ok(()) => return DirLock(path.to_owned()),
                Err(_) if start.elapsed() < Duration::from_secs(600) => std::thread::sleep(Duration::from_millis(200)),
                Err(e) => panic!("lock {} held for 10 minutes ({e}); remove it if no test is running", path.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}
