//! The real `weft serve` as a child process, a tiny HTTP/1.1 client for
//! it, and the databases it runs on (an SQLite file in a temporary data
//! directory, or a fresh PostgreSQL database dropped afterwards).

use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The admin token every test server imports from `WEFT_ADMIN_TOKEN`.
pub const ADMIN: &str = "wft_reliability-admin-token";
/// Longest a request may take before the test gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A test's database and data directory.
#[derive(Debug)]
pub struct Db {
    /// The server's data directory (the SQLite file, the secret key).
    pub dir: tempfile::TempDir,
    /// The fresh PostgreSQL database's name (PostgreSQL only).
    pub pg_name: Option<String>,
}

impl Db {
    /// `--database-url` for the server; `None` for the default SQLite file.
    pub fn url(&self) -> Option<String> {
        self.pg_name.as_deref().map(crate::pg::url_for)
    }

    /// The SQLite file (SQLite only).
    pub fn sqlite_file(&self) -> PathBuf {
        self.dir.path().join("weft.db")
    }
}

/// Runs `test` with a fresh data directory on `backend`; a PostgreSQL
/// database is created for it and dropped afterwards, pass or fail.
pub async fn with_db<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Db) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    if backend == Backend::Sqlite {
        let outcome = tokio::spawn(test(Db { dir, pg_name: None })).await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
        return;
    }
    crate::pg::with_database("weft_r", |name| {
        test(Db {
            dir,
            pg_name: Some(name),
        })
    })
    .await
}

/// A directory of custom node components holding the `test.sleep` guest,
/// which `runtime/build.rs` builds into `<target dir>/wasm-guests`.
pub fn nodes_dir() -> tempfile::TempDir {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory");
    let wasm = target.join("wasm-guests/wasm32-wasip2/release/weft_node_test_sleep.wasm");
    assert!(
        wasm.is_file(),
        "{} is missing: it is built by runtime/build.rs with the other guests; \
         run `cargo build -p weft-runtime` (it needs the wasm32-wasip2 target)",
        wasm.display()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&wasm, dir.path().join("test_sleep.wasm")).unwrap();
    dir
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// `serve` or `router`.
    pub command: &'static str,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub drain_secs: Option<u64>,
    pub nodes_dir: PathBuf,
    /// More arguments, and environment variables.
    pub extra: Vec<OsString>,
    pub env: Vec<(String, String)>,
}

impl Options {
    pub fn new(db: &Db, nodes: &Path) -> Options {
        Options {
            command: "serve",
            data_dir: db.dir.path().to_path_buf(),
            database_url: db.url(),
            drain_secs: None,
            nodes_dir: nodes.to_path_buf(),
            extra: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// A running `weft serve` (killed when dropped).
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// Reads stderr into `log` until the pipe closes.
    reader: std::thread::JoinHandle<()>,
}

impl Server {
    /// Starts the binary and waits for its `listening on` line.
    pub async fn start(opts: &Options) -> Server {
        let mut args: Vec<OsString> = vec![
            "--data-dir".into(),
            opts.data_dir.clone().into(),
            "--nodes-dir".into(),
            opts.nodes_dir.clone().into(),
        ];
        if let Some(url) = &opts.database_url {
            args.extend(["--database-url".into(), url.into()]);
        }
        if let Some(secs) = opts.drain_secs {
            args.extend(["--drain-secs".into(), secs.to_string().into()]);
        }
        args.extend(opts.extra.iter().cloned());
        let mut spawned = crate::serve::spawn_command(opts.command, args, &opts.env, ADMIN);
        loop {
            if let Some(url) = spawned.listening() {
                let addr = url.trim_start_matches("http://").parse().unwrap();
                let crate::serve::Spawned {
                    child, log, reader, ..
                } = spawned;
                return Server {
                    child,
                    addr,
                    log,
                    reader,
                };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the server printed on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle`.
    pub async fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no `{needle}` on stderr within {timeout:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL, and reap the process.
    pub fn sigkill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log()
    }

    /// SIGTERM (returns at once).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the process to exit; its status and how long that took.
    pub async fn wait_exit(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let took = start.elapsed();
                // The process is gone, but its last lines may still be in
                // the pipe: wait (a little) for the reader to take them.
                let closed = Instant::now() + Duration::from_secs(5);
                while !self.reader.is_finished() && Instant::now() < closed {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                return (status, took);
            }
            assert!(
                start.elapsed() < timeout,
                "weft serve did not exit within {timeout:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A request as admin: the status and the JSON answer (`null` if none).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        tokio::time::timeout(REQUEST_TIMEOUT, request(self.addr, method, path, body))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {REQUEST_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()))
    }

    /// [`Server::call`], asserting the status.
    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>, want: u16) -> Value {
        let (status, value) = self.call(method, path, body).await;
        assert_eq!(status, want, "{method} {path}: {value}");
        value
    }

    /// Creates project `demo` with flows `slow` (one `test.sleep` of `ms`)
    /// and `hello` (examples/hello.json).
    pub async fn setup(&self, ms: u64) {
        self.ok("POST", "/v1/projects", Some(json!({"slug": "demo"})), 201)
            .await;
        self.ok(
            "PUT",
            "/v1/projects/demo/flows/slow",
            Some(slow_flow(ms)),
            201,
        )
        .await;
        let hello = serde_json::from_str(include_str!("../../../examples/hello.json")).unwrap();
        self.ok("PUT", "/v1/projects/demo/flows/hello", Some(hello), 201)
            .await;
    }

    /// Starts a run of `flow` without waiting; its id.
    pub async fn start_async(&self, flow: &str, inputs: Value) -> String {
        let body = json!({"inputs": inputs, "wait": false});
        let path = format!("/v1/projects/demo/flows/{flow}/runs");
        let v = self.ok("POST", &path, Some(body), 202).await;
        v["run"].as_str().unwrap().to_string()
    }

    /// The stored run and its node records.
    pub async fn run(&self, id: &str) -> Value {
        self.ok("GET", &format!("/v1/runs/{id}"), None, 200).await
    }

    /// The stored events of a run.
    pub async fn events(&self, id: &str) -> Vec<Value> {
        let v = self
            .ok("GET", &format!("/v1/runs/{id}/events"), None, 200)
            .await;
        v["events"].as_array().unwrap().clone()
    }

    /// Waits until every run in `ids` has a stored `node.started` event.
    pub async fn wait_started(&self, ids: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for id in ids {
            loop {
                let events = self.events(id).await;
                if events.iter().any(|e| e["type"] == "node.started") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "run {id} did not start: {events:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A flow of one `test.sleep` node sleeping `ms`.
pub fn slow_flow(ms: u64) -> Value {
    json!({
        "weft": 1,
        "name": "slow",
        "nodes": [{"id": "nap", "type": "test.sleep", "config": {"ms": ms}}],
        "outputs": {"slept": "nap.slept"}
    })
}

/// Checks stored events are `run.started`, then seq 1, 2, 3, ... without
/// a gap; returns the last event's type.
pub fn assert_gap_free(run: &str, events: &[Value]) -> String {
    assert!(!events.is_empty(), "run {run} has no events");
    assert_eq!(events[0]["type"], "run.started", "run {run}: {events:?}");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e["seq"],
            i as u64 + 1,
            "run {run}: a gap at {i}: {events:?}"
        );
        assert_eq!(e["run"], run, "{e}");
    }
    events.last().unwrap()["type"].as_str().unwrap().to_string()
}

/// One HTTP/1.1 request (`Connection: close`) with the admin token.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(addr).await?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut payload = raw[split + 4..].to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        payload = dechunk(&payload).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok((
        status,
        serde_json::from_slice(&payload).unwrap_or(Value::Null),
    ))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        let chunk = data.get(eol + 2..eol + 2 + size)?;
        out.extend_from_slice(chunk);
        data = data.get(eol + 4 + size..)?;
    }
}
