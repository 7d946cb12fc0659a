//! The editor protocol from another language: `tests/python/
//! editor_conformance.py`, a Python client built on `websockets`, against
//! the real `weft serve` binary (`CARGO_BIN_EXE_weft`) on a temporary data
//! directory. The script creates a project and saves a flow over REST, then
//! checks the websocket end to end (handshake, runs and their events in
//! `seq` order, replay with `after_seq`, subscriptions, partial runs,
//! cancelling, errors, malformed and oversize frames), validating every
//! message against the committed JSON Schemas. It must exit 0; when it does
//! not, the test prints its output and the server's log.
//!
//! The script runs with `$WEFT_TEST_PYTHON`: the venv with the pinned
//! packages of `tests/python/requirements.txt` that `tests/testbeds.sh
//! start` installs (cached outside the clone) and `tests/testbeds.sh env`
//! exports; `tests/run.sh` does both. Without it the test fails and says
//! so: it never skips.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "support/serve.rs"]
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serve::collect;

/// Longest the script may take (it needs a few seconds).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

const HOW_TO_GET_PYTHON: &str = "\
This test runs tests/python/editor_conformance.py with $WEFT_TEST_PYTHON, a
Python with the pinned packages of tests/python/requirements.txt. Install it
(a venv cached under ~/.cache/weft-testbeds) and export the variable with

    bash tests/testbeds.sh start
    eval \"$(bash tests/testbeds.sh env)\"

(`bash tests/run.sh` does both), or point WEFT_TEST_PYTHON at any Python
where `pip install -r tests/python/requirements.txt` was run.";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the api crate lives in the repository")
        .to_path_buf()
}

fn python() -> PathBuf {
    let Some(python) = std::env::var_os("WEFT_TEST_PYTHON").filter(|p| !p.is_empty()) else {
        panic!("WEFT_TEST_PYTHON is not set.\n{HOW_TO_GET_PYTHON}");
    };
    let python = PathBuf::from(python);
    assert!(
        python.is_file(),
        "WEFT_TEST_PYTHON={} does not exist.\n{HOW_TO_GET_PYTHON}",
        python.display()
    );
    python
}

/// `weft serve` as a child process, killed when dropped.
struct Server {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(data_dir: &Path, token: &str) -> Server {
        let mut spawned = serve::spawn(["--data-dir".into(), data_dir.into()], token);
        loop {
            if let Some(url) = spawned.listening() {
                let serve::Spawned { child, log, .. } = spawned;
                return Server { child, url, log };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` up to `timeout` (killing it then); its status (`None`
/// when it was killed), stdout and stderr.
fn wait(mut child: Child, timeout: Duration) -> (Option<ExitStatus>, String, String) {
    let (stdout, out_reader) = collect(child.stdout.take().unwrap());
    let (stderr, err_reader) = collect(child.stderr.take().unwrap());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = out_reader.join();
    let _ = err_reader.join();
    let stdout = stdout.lock().unwrap().clone();
    let stderr = stderr.lock().unwrap().clone();
    (status, stdout, stderr)
}

#[test]
fn python_websockets_client_conforms() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let token = format!("wft_conformance_{}_{nanos:x}", std::process::id());
    let server = Server::start(&dir.path().join("data"), &token);

    let script = repo_root().join("tests/python/editor_conformance.py");
    let transcript = dir.path().join("transcript.txt");
    let child = Command::new(&python)
        .arg(&script)
        .arg("--url")
        .arg(&server.url)
        .arg("--transcript")
        .arg(&transcript)
        .env("WEFT_ADMIN_TOKEN", &token)
        .env_remove("WEFT_URL")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} {}: {e}\n{HOW_TO_GET_PYTHON}",
                python.display(),
                script.display()
            )
        });
    let (status, stdout, stderr) = wait(child, SCRIPT_TIMEOUT);
    let log = server.log();
    let report = format!(
        "--- the script's stdout ---\n{stdout}\n--- its stderr ---\n{stderr}\n\
         --- weft serve's stderr ---\n{log}"
    );
    match status {
        None => panic!("the Python client did not finish within {SCRIPT_TIMEOUT:?}\n{report}"),
        Some(status) => assert!(
            status.success(),
            "the Python client failed ({status}):\n{report}"
        ),
    }
    assert!(
        !log.contains("panicked"),
        "weft serve panicked during the session:\n{report}"
    );
    assert!(
        stdout.contains("all checks passed"),
        "the script exited 0 without its summary line:\n{report}"
    );
    // Shown with `--nocapture`.
    println!("{stdout}");
}
