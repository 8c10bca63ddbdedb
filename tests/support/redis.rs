//! Test harness: a REAL Redis server (Debian's `redis-server`) on a free 127.0.0.1 port, and a
//! TCP proxy in front of it that a test can cut to put one replica out of reach.
//!
//! ```ignore
//! #[path = "support/redis.rs"]
//! mod redis_support;
//! use redis_support::{RedisServer, Proxy};
//! ```
//!
//! When `redis-server` is not installed, the first start runs
//! `apt-get update && apt-get install -y redis-server` if it runs as root; otherwise (or if
//! that fails) the test PANICS saying what to install. It never skips.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const READY_TIMEOUT: Duration = Duration::from_secs(10);

fn find_binary() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|d| d.join("redis-server")).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates.into_iter().chain([PathBuf::from("/usr/bin/redis-server")]).find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The `redis-server` binary, installed with apt-get when missing and possible.
pub fn redis_server_binary() -> PathBuf {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = BINARY.get_or_init(|| {
        if let Some(binary) = find_binary() {
            return Ok(binary);
        }
        if !is_root() {
            return Err("redis-server is not installed and this test is not root: install Debian's \
                        `redis-server` package (sudo apt-get install -y redis-server)"
                .to_owned());
        }
        eprintln!("redis-server missing: running apt-get update && apt-get install -y redis-server");
        let status = Command::new("sh")
            .arg("-c")
            .arg("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server")
            .status();
        match (status, find_binary()) {
            (Ok(s), Some(binary)) if s.success() => Ok(binary),
            (status, _) => Err(format!(
                "installing redis-server with apt-get failed ({status:?}): install Debian's \
                 `redis-server` package (apt-get install -y redis-server)"
            )),
        }
    });
    match found {
        Ok(binary) => binary.clone(),
        Err(message) => panic!("{message}"),
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// A `redis-server` child process on 127.0.0.1, with an append-only file (`appendfsync
/// everysec`, Redis' default: each write reaches the file before the reply, so a killed
/// process loses nothing) in a temporary directory, so a restart keeps its data as
/// production setups do.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("bearer-guard-redis-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("temp dir for redis");
        let mut server = Self { child: None, port: free_port(), dir };
        server.spawn();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn spawn(&mut self) {
        let binary = redis_server_binary();
        let child = Command::new(&binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no"])
            .args(["--protected-mode", "yes", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display()));
        self.child = Some(child);
        wait_ready(self.addr(), &self.dir);
    }

    /// Kills the server (SIGKILL: no goodbye to clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

fn wait_ready(addr: SocketAddr, dir: &Path) {
    use std::io::{Read, Write};
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(mut stream) = StdStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 64];
            if stream.write_all(b"PING\r\n").is_ok()
                && stream.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
            {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "redis-server did not answer PING on {addr} within {READY_TIMEOUT:?} (dir {})",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP proxy on 127.0.0.1:0 in front of `target`. `cut()` drops every open connection and
/// refuses new ones until `restore()`: one replica loses Redis while the others keep it.
pub struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (up, links) = (Arc::clone(&up), Arc::clone(&links));
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            }
        });
        Self { addr, up, links, accept }
    }

    pub fn url(&self) -> String {
        format!("redis://{}/0", self.addr)
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
