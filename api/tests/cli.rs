//! The `weft` command, end to end: `validate` (text and `--format json`),
//! `run` (outputs on stdout, progress or `--events jsonl` on stderr, inputs
//! inline or `@file`, bad inputs and missing files as one `error:` line),
//! and `nodes` (text and `--json`).
//!
//! These tests drive the real binary (`CARGO_BIN_EXE_weft`, which cargo
//! builds for this package's integration tests). The children get `WEFT_CACHE_DIR` under the cargo target directory, so
//! compiled components are reused across runs.

// Helpers outside `#[test]` functions fail the test by panicking, too.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Longest a single `weft` invocation may take before the test gives up.
const TIMEOUT: Duration = Duration::from_secs(120);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the api crate lives in the repository")
        .to_path_buf()
}

fn weft_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_weft"))
}

#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn context(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Exited with `code`, and printed no panic or backtrace.
    fn assert_exit(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{}", self.context());
        self.assert_no_panic()
    }

    fn assert_no_panic(&self) -> &Self {
        for text in [&self.stdout, &self.stderr] {
            assert!(!text.contains("panicked"), "a panic:\n{}", self.context());
            assert!(
                !text.contains("stack backtrace"),
                "a backtrace:\n{}",
                self.context()
            );
        }
        self
    }

    /// Failed with exactly one `error: ...` line on stderr; returns it.
    fn single_error(&self) -> &str {
        assert_ne!(
            self.code,
            Some(0),
            "expected a failure:\n{}",
            self.context()
        );
        assert!(
            self.code.is_some(),
            "killed by a signal:\n{}",
            self.context()
        );
        self.assert_no_panic();
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "expected exactly one `error:` line:\n{}",
            self.context()
        );
        errors[0]
    }

    fn stdout_json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.context()))
    }
}

/// Runs `weft ARGS` in `dir` and waits for it (at most [`TIMEOUT`]).
fn weft_in(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(weft_bin())
        .args(args)
        .current_dir(dir)
        .env(
            "WEFT_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("weft-cli-cache"),
        )
        // A panic would print a backtrace, which the tests look for.
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weft");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8(bytes).expect("weft prints UTF-8")
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for weft") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`weft {}` did not finish within {TIMEOUT:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Runs `weft ARGS` at the repository root.
fn weft(args: &[&str]) -> Output {
    weft_in(&repo_root(), args)
}

fn read_json(path: &str) -> Value {
    let path = repo_root().join(path);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const BUILTIN_TYPES: &[&str] = &[
    "text.template",
    "text.upper",
    "json.get",
    "json.build",
    "logic.if",
    "logic.switch",
    "flow.merge",
    "debug.log",
    "debug.fail",
    "http.respond",
];

// ---------------------------------------------------------------- validate

#[test]
fn validate_accepts_every_builtin_example() {
    for (flow, summary) in [
        ("examples/hello.json", "ok (2 nodes, 2 edges)"),
        ("examples/branching.json", "ok (9 nodes, 12 edges)"),
        ("examples/fanout.json", "ok (21 nodes, 30 edges)"),
        ("examples/retry.json", "ok (6 nodes, 7 edges)"),
    ] {
        let out = weft(&["validate", flow]);
        out.assert_exit(0);
        assert_eq!(
            out.stdout,
            format!("{flow}: {summary}\n"),
            "{}",
            out.context()
        );
    }
}

#[test]
fn validate_reports_a_custom_type_missing_without_its_nodes_dir() {
    let out = weft(&["validate", "examples/custom.json"]);
    out.assert_exit(1);
    assert_eq!(
        out.stdout,
        "examples/custom.json:7:21: /nodes/0/type: node `slug`: unknown node type `acme.slugify` [unknown_node_type]\n",
        "{}",
        out.context()
    );
    assert_eq!(out.stderr, "examples/custom.json: 1 problem\n");
}

/// Every golden case that uses only built-in nodes prints, through the real
/// CLI, exactly its `tests/golden/validate/NAME.expected.txt` (which
/// `golden.rs` checks in-process): the renderer there matches the CLI's.
#[test]
fn validate_prints_located_lines_for_broken_flows() {
    let dir = repo_root().join("tests/golden/validate");
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .expect("read the golden directory")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(String::from)
        })
        .filter(|n| !n.ends_with(".expected"))
        .collect();
    cases.sort();
    let mut checked = 0;
    for name in cases {
        let file = format!("{name}.json");
        let text = std::fs::read_to_string(dir.join(&file)).expect("read golden case");
        if text.contains("\"test.") {
            continue; // needs the test guests, which the CLI does not load
        }
        let expected = std::fs::read_to_string(dir.join(format!("{name}.expected.txt")))
            .unwrap_or_else(|e| panic!("{name}.expected.txt: {e}"));
        let out = weft_in(&dir, &["validate", &file]);
        out.assert_exit(1);
        assert_eq!(out.stdout, expected, "{file}:\n{}", out.context());
        let problems = expected.lines().count();
        let plural = if problems == 1 { "" } else { "s" };
        assert_eq!(
            out.stderr,
            format!("{file}: {problems} problem{plural}\n"),
            "{file}"
        );
        for line in out.stdout.lines() {
            let mut parts = line.splitn(4, ':');
            assert_eq!(parts.next(), Some(file.as_str()), "{line}");
            for what in ["line", "column"] {
                let n = parts.next().and_then(|s| s.parse::<u32>().ok());
                assert!(n.is_some_and(|n| n > 0), "no {what} in: {line}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} golden cases checked");
}

#[test]
fn validate_json_format_lists_located_errors() {
    let dir = repo_root().join("tests/golden/validate");
    let out = weft_in(
        &dir,
        &["validate", "type_mismatch.json", "--format", "json"],
    );
    out.assert_exit(1);
    let body = out.stdout_json();
    assert_eq!(body["valid"], json!(false), "{}", out.context());
    let errors = body["errors"].as_array().expect("`errors` is a list");
    assert_eq!(errors.len(), 2, "{}", out.context());
    assert_eq!(
        errors[0],
        json!({
            "code": "type_mismatch",
            "message": "type mismatch: `respond.response` is `object{status: int, headers: object, body: any}`, but `shout.text` expects `string`",
            "path": "/edges/1",
            "line": 12,
            "column": 5,
            "node": "shout",
            "port": "text",
        })
    );
    for e in errors {
        for key in ["code", "message", "path", "line", "column", "node", "port"] {
            assert!(e.get(key).is_some(), "no `{key}` in {e}");
        }
    }

    // A syntax error has a location but no node.
    let out = weft_in(&dir, &["validate", "syntax_error.json", "--format", "json"]);
    out.assert_exit(1);
    let body = out.stdout_json();
    assert_eq!(body["valid"], json!(false));
    assert_eq!(
        body["errors"],
        json!([{
            "code": "syntax",
            "message": "invalid JSON: expected `,` or `]`",
            "path": "",
            "line": 6,
            "column": 5,
        }])
    );
}

#[test]
fn validate_json_format_for_a_valid_flow() {
    let out = weft(&["validate", "examples/hello.json", "--format", "json"]);
    out.assert_exit(0);
    let body = out.stdout_json();
    assert_eq!(body["valid"], json!(true), "{}", out.context());
    assert_eq!(body["errors"], json!([]), "{}", out.context());
}

#[test]
fn validate_missing_file() {
    let out = weft(&["validate", "examples/no-such-flow.json"]);
    let error = out.single_error();
    assert!(
        error.starts_with("error: cannot read examples/no-such-flow.json: "),
        "{error}"
    );
    assert_eq!(out.stdout, "");
}

// --------------------------------------------------------------------- run

#[test]
fn run_prints_outputs_on_stdout_and_progress_on_stderr() {
    let out = weft(&["run", "examples/hello.json", "--input", r#"{"name":"Ada"}"#]);
    out.assert_exit(0);
    assert_eq!(out.stdout_json(), json!({"greeting": "HELLO ADA!"}));
    // The outputs are the only thing on stdout, pretty-printed.
    assert_eq!(out.stdout, "{\n  \"greeting\": \"HELLO ADA!\"\n}\n");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.context());
    assert_eq!(lines[0], "▶ hello (2 nodes)");
    assert!(lines[1].starts_with("  ✓ greet "), "{}", out.context());
    assert!(lines[2].starts_with("  ✓ shout "), "{}", out.context());
    assert!(lines[3].starts_with("■ succeeded in "), "{}", out.context());
}

#[test]
fn run_reads_inputs_from_a_file() {
    for (name, expected) in [
        ("hello", "examples/hello.expected.json"),
        ("retry", "examples/retry.expected.json"),
    ] {
        let input = format!("@examples/{name}.input.json");
        let out = weft(&["run", &format!("examples/{name}.json"), "--input", &input]);
        out.assert_exit(0);
        assert_eq!(out.stdout_json(), read_json(expected), "{}", out.context());
    }
}

#[test]
fn run_events_jsonl_is_one_numbered_event_per_line() {
    let out = weft(&[
        "run",
        "examples/retry.json",
        "--input",
        "@examples/retry.input.json",
        "--events",
        "jsonl",
    ]);
    out.assert_exit(0);
    assert_eq!(out.stdout_json(), read_json("examples/retry.expected.json"));

    let events: Vec<Value> = out
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(events.len() > 2, "{}", out.context());
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(seqs, expected, "seq must be 1..N without gaps");
    let run = &events[0]["run"];
    assert!(run.is_string());
    assert!(events.iter().all(|e| &e["run"] == run), "one run id");
    assert_eq!(events[0]["type"], "run.started");
    assert_eq!(events[0]["flow"], "retry");
    let last = events.last().expect("events");
    assert_eq!(last["type"], "run.finished");
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["outputs"], read_json("examples/retry.expected.json"));
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| k.starts_with("run.")).count(),
        2,
        "{kinds:?}"
    );
    // `unreliable` fails twice and is retried; `broken` fails for good but
    // is handled (`on_error: continue`). The two run concurrently.
    let failures = |node: &str| -> Vec<(bool, bool)> {
        events
            .iter()
            .filter(|e| e["type"] == "node.failed" && e["node"] == node)
            .map(|e| (e["will_retry"] == json!(true), e["handled"] == json!(true)))
            .collect()
    };
    assert_eq!(
        failures("unreliable"),
        [(true, false), (true, false)],
        "{kinds:?}"
    );
    assert_eq!(failures("broken"), [(false, true)], "{kinds:?}");
}

#[test]
fn run_rejects_bad_inputs_with_one_error_line() {
    let cases: &[(&str, &str)] = &[
        (
            "nope",
            "error: --input: not valid JSON (to read the inputs from a file, pass `--input @path`): ",
        ),
        (
            "[1, 2]",
            "error: --input: expected a JSON object of inputs, found list",
        ),
        (
            "\"Ada\"",
            "error: --input: expected a JSON object of inputs, found string",
        ),
        (
            "{}",
            "error: --input: missing required input `name` (string)",
        ),
        (
            r#"{"name": 5}"#,
            "error: --input: input `name`: expected string, got int",
        ),
        (
            r#"{"name": "Ada", "nmae": "x"}"#,
            "error: --input: unknown input `nmae` (the flow's inputs: name)",
        ),
        (
            "@examples/no-such-input.json",
            "error: --input: cannot read examples/no-such-input.json: ",
        ),
    ];
    for (input, want) in cases {
        let out = weft(&["run", "examples/hello.json", "--input", input]);
        let error = out.single_error();
        assert!(
            error.starts_with(want),
            "--input {input}: expected `{want}...`, got `{error}`"
        );
        assert_eq!(out.stdout, "", "--input {input}: nothing on stdout");
    }
}

#[test]
fn run_missing_flow_file() {
    let out = weft(&["run", "examples/no-such-flow.json", "--input", "{}"]);
    let error = out.single_error();
    assert!(
        error.starts_with("error: cannot read examples/no-such-flow.json: "),
        "{error}"
    );
}

#[test]
fn run_refuses_an_invalid_flow_with_its_diagnostics() {
    let dir = repo_root().join("tests/golden/validate");
    let out = weft_in(&dir, &["run", "cycle.json"]);
    let error = out.single_error();
    assert_eq!(error, "error: cycle.json: 1 problem; not running it");
    let expected = std::fs::read_to_string(dir.join("cycle.expected.txt")).expect("golden file");
    assert!(out.stderr.starts_with(&expected), "{}", out.context());
    assert_eq!(out.stdout, "");
}

#[test]
fn run_reports_a_failing_node() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let flow = dir.path().join("fails.json");
    std::fs::write(
        &flow,
        r#"{
          "weft": 1, "name": "fails",
          "nodes": [{ "id": "boom", "type": "debug.fail", "config": { "message": "it broke", "code": "demo.broken" } }],
          "outputs": { "value": "boom.value" }
        }"#,
    )
    .expect("write flow");
    let out = weft(&["run", flow.to_str().expect("UTF-8 path")]);
    let error = out.single_error();
    assert_eq!(
        error,
        "error: run failed: node `boom`: it broke [demo.broken]"
    );
    assert!(out.stderr.contains("  ✗ boom "), "{}", out.context());
    assert!(out.stderr.contains("■ failed in "), "{}", out.context());
    assert_eq!(out.stdout, "");
}

#[test]
fn run_rejects_a_nodes_dir_that_is_not_a_directory() {
    let out = weft(&[
        "run",
        "examples/hello.json",
        "--nodes-dir",
        "examples/hello.json",
    ]);
    assert_eq!(
        out.single_error(),
        "error: --nodes-dir examples/hello.json: not a directory"
    );
}

// ------------------------------------------------------------------- nodes

#[test]
fn nodes_lists_every_builtin_type() {
    let out = weft(&["nodes"]);
    out.assert_exit(0);
    for ty in BUILTIN_TYPES {
        let header = format!("{ty}@1.0.0");
        assert!(
            out.stdout.lines().any(|l| l == header),
            "`{header}` is not listed:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout
            .contains("    in  text: string\n    out text: string\n"),
        "ports are listed:\n{}",
        out.stdout
    );
}

#[test]
fn nodes_json_has_type_version_and_config_schema() {
    let out = weft(&["nodes", "--json"]);
    out.assert_exit(0);
    let catalog = out.stdout_json();
    let entries = catalog.as_array().expect("the catalogue is a list");
    for e in entries {
        assert!(e["type"].is_string(), "no `type` in {e}");
        assert!(e["version"].is_string(), "no `version` in {e}");
        assert!(e["config_schema"].is_object(), "no `config_schema` in {e}");
    }
    let types: Vec<&str> = entries.iter().filter_map(|e| e["type"].as_str()).collect();
    for ty in BUILTIN_TYPES {
        assert!(types.contains(ty), "`{ty}` missing from {types:?}");
    }
    // Only the built-in nodes: the test guests are not part of the CLI.
    assert!(!types.iter().any(|t| t.starts_with("test.")), "{types:?}");
}

/// `weft nodes | head -1`: a closed stdout must end the command quietly, as
/// `main.rs` promises "never a panic or a backtrace".
#[test]
fn nodes_into_a_closed_pipe_does_not_panic() {
    let mut child = Command::new(weft_bin())
        .arg("nodes")
        .env(
            "WEFT_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("weft-cli-cache"),
        )
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weft");
    drop(child.stdout.take()); // the reader goes away at once, like `head`
    let out = child.wait_with_output().expect("wait for weft");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A file in `--nodes-dir` that is not a component is one `error:` line.
#[test]
fn corrupt_component_in_nodes_dir_is_one_error_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("junk.wasm"), "junk").expect("write junk.wasm");
    let out = weft(&[
        "nodes",
        "--nodes-dir",
        dir.path().to_str().expect("UTF-8 path"),
    ]);
    let error = out.single_error();
    assert!(error.contains("junk.wasm"), "{error}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.context());
}

// ----------------------------------------------------------------- vectors

/// `--vectors`: the embedded store by default (`weft-data/weft.db` under
/// the working directory, created on first use), kept between runs; a bad
/// URL is one `error:` line without its password.
#[test]
fn run_vectors_default_store_persists_between_runs() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let upsert = json!({
        "weft": 1, "name": "upsert", "inputs": {"records": "any"},
        "capabilities": {"vectors": ["kb"]},
        "nodes": [{"id": "up", "type": "vector.upsert", "config": {"collection": "kb"}}],
        "edges": [{"from": "input.records", "to": "up.records"}],
        "outputs": {"count": "up.count"}
    });
    let search = json!({
        "weft": 1, "name": "search", "inputs": {"vector": "embedding"},
        "capabilities": {"vectors": ["kb"]},
        "nodes": [{"id": "s", "type": "vector.search", "config": {"collection": "kb", "top_k": 1}}],
        "edges": [{"from": "input.vector", "to": "s.vector"}],
        "outputs": {"ids": "s.matches"}
    });
    std::fs::write(dir.path().join("upsert.json"), upsert.to_string()).expect("write flow");
    std::fs::write(dir.path().join("search.json"), search.to_string()).expect("write flow");

    // Validating touches no store.
    weft_in(dir.path(), &["validate", "search.json"]).assert_exit(0);
    assert!(!dir.path().join("weft-data").exists());

    let records = r#"{"records": [{"id": "a", "vector": [1, 0]}, {"id": "b", "vector": [0, 1]}]}"#;
    let out = weft_in(dir.path(), &["run", "upsert.json", "--input", records]);
    out.assert_exit(0);
    assert_eq!(out.stdout_json(), json!({"count": 2}));
    assert!(dir.path().join("weft-data/weft.db").is_file());

    let out = weft_in(
        dir.path(),
        &["run", "search.json", "--input", r#"{"vector": [0, 2]}"#],
    );
    out.assert_exit(0);
    assert_eq!(out.stdout_json()["ids"][0]["id"], json!("b"));

    // The same through an explicit URL elsewhere: an empty store.
    let other = dir.path().join("other/v.db");
    let url = format!("sqlite:{}", other.display());
    let out = weft_in(
        dir.path(),
        &[
            "run",
            "search.json",
            "--input",
            r#"{"vector": [0, 2]}"#,
            "--vectors",
            &url,
        ],
    );
    let error = out.single_error();
    assert!(error.contains("`kb` does not exist"), "{error}");

    let out = weft_in(
        dir.path(),
        &[
            "run",
            "search.json",
            "--vectors",
            "mysql://root:hunter2@db/x",
        ],
    );
    let error = out.single_error();
    assert!(
        error.starts_with("error: --vectors:")
            && error.contains("mysql://root:***@db/x")
            && !error.contains("hunter2"),
        "{error}"
    );
}

#[test]
fn run_help_documents_vectors() {
    let out = weft(&["run", "--help"]);
    out.assert_exit(0);
    assert!(
        out.stdout.contains("--vectors <URL>")
            && out.stdout.contains("sqlite:weft-data/weft.db")
            && out.stdout.contains("pgvector"),
        "{}",
        out.context()
    );
}
