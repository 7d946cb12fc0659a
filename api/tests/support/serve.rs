//! The real `weft serve` (or `weft router`) binary (`CARGO_BIN_EXE_weft`)
//! as a child process for the api test crates (each includes this file
//! with `#[path]`): it listens on a free port of 127.0.0.1, reads none of the caller's Weft
//! environment, imports the given admin token, and shares one warm
//! component cache under the target directory. Its stderr is collected.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest the server may take to listen (a cold component cache compiles
/// every built-in node first).
pub const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Everything a child writes to a pipe, collected by a thread.
pub fn collect(pipe: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    (text, reader)
}

/// A started `weft serve` that may not listen yet.
#[derive(Debug)]
pub struct Spawned {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
    /// The thread reading stderr into `log`; finished once the pipe closes,
    /// i.e. once everything the process wrote is in `log`.
    pub reader: JoinHandle<()>,
    started: Instant,
}

/// Starts `weft serve --listen 127.0.0.1:0 <args>` with `token` as its
/// admin token.
pub fn spawn(args: impl IntoIterator<Item = OsString>, token: &str) -> Spawned {
    spawn_command("serve", args, &[], token)
}

/// [`spawn`] for another server command (`router`), with more
/// environment variables.
pub fn spawn_command(
    command: &str,
    args: impl IntoIterator<Item = OsString>,
    env: &[(String, String)],
    token: &str,
) -> Spawned {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft"));
    cmd.args([command, "--listen", "127.0.0.1:0"]).args(args);
    for var in [
        "DATABASE_URL",
        "WEFT_LISTEN",
        "WEFT_DATA_DIR",
        "WEFT_SECRET_KEY",
        "WEFT_ROUTER_LISTEN",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.env("WEFT_ADMIN_TOKEN", token)
        .env("WEFT_LOG", "info")
        .env(
            "WEFT_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("weft-cli-cache"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("weft serve starts");
    let (log, reader) = collect(child.stderr.take().unwrap());
    Spawned {
        child,
        log,
        reader,
        started: Instant::now(),
    }
}

impl Spawned {
    /// What the server printed on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The URL it listens on (`http://127.0.0.1:PORT`) once it says so;
    /// `None` while it starts. Panics, with its log, if it exited or did
    /// not listen within [`START_TIMEOUT`].
    pub fn listening(&mut self) -> Option<String> {
        let text = self.log();
        if let Some(rest) = text.split("weft: listening on ").nth(1) {
            return Some(rest.lines().next().unwrap().trim().to_string());
        }
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("weft serve exited with {status} before listening:\n{text}");
        }
        assert!(
            self.started.elapsed() < START_TIMEOUT,
            "weft serve did not listen within {START_TIMEOUT:?}:\n{text}"
        );
        None
    }
}
