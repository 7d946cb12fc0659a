//! Golden tests: `tests/golden/*.golden` hold inputs and, indented below
//! each, exactly the output it must give.
//!
//! A file is a list of lines. Unindented lines are directives; indented
//! lines (four spaces) are the expected output of the directive above;
//! blank lines and `#` comments are kept as they are. Arguments are
//! separated by spaces; one may be written as a JSON string (`""`,
//! `"a b"`). Directives:
//!
//! - `pattern TEXT`: parse route pattern TEXT (the rest of the line) →
//!   `ok CANONICAL = SEGMENTS` or `error: MESSAGE`.
//! - `resolver JSON`: the `HostConfig` for the `host` lines that follow
//!   (no output unless it is refused).
//! - `host HOST PATH`: resolve (`-` is a missing Host) → `ok project=…
//!   stage=… path=… via=…` or `error: MESSAGE`.
//! - `table`: start a new route list; `route ID FLOW METHODS PATTERN` adds
//!   one (METHODS `GET,POST` or `*`); `build` builds the table → `ok N
//!   routes` or one `conflict (same shape | typed overlap): …` line per
//!   conflict; `build serving` builds it as routers do (typed overlaps
//!   tolerated, one `tolerated: …` line each after `ok`).
//! - `request METHOD PATH`: look up in the last built table → `found ID
//!   PARAMS`, `405 allow: …`, `404` or `400 MESSAGE`.
//!
//! Adding a case is adding a line; `WEFT_BLESS=1 cargo test -p
//! weft-router --test golden` writes the outputs (review with `git diff`).

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../../tests/support/line_diff.rs"]
mod line_diff;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use line_diff::line_diff;

use weft_router::{
    ConflictKind, ConflictPolicy, HostConfig, HostResolver, Lookup, Method, Methods, ParamValue,
    Pattern, Route, RouteTable, Segment, pattern::ParamKind,
};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The next argument of `line` and the rest: a JSON string or a word.
fn arg(line: &str) -> (String, &str) {
    let line = line.trim_start();
    if line.starts_with('"') {
        let mut stream = serde_json::Deserializer::from_str(line).into_iter::<String>();
        let value = stream
            .next()
            .expect("a JSON string")
            .expect("a valid JSON string");
        let used = stream.byte_offset();
        (value, &line[used..])
    } else {
        match line.split_once(' ') {
            Some((word, rest)) => (word.to_string(), rest),
            None => (line.to_string(), ""),
        }
    }
}

/// The last argument: a JSON string, or the rest of the line as it is.
fn rest_arg(line: &str) -> String {
    let line = line.trim_start();
    if line.starts_with('"') {
        arg(line).0
    } else {
        line.to_string()
    }
}

fn describe(pattern: &Pattern) -> String {
    let parts: Vec<String> = pattern
        .segments()
        .iter()
        .map(|s| match s {
            Segment::Static(text) => format!("static {text:?}"),
            Segment::Param { name, kind } => match kind {
                ParamKind::Plain => format!("param {name}"),
                ParamKind::Int => format!("int {name}"),
                ParamKind::Uuid => format!("uuid {name}"),
                ParamKind::Regex(r) => format!("regex {name} /{}/", r.source()),
            },
            Segment::Wildcard { name } => format!("wildcard {name}"),
        })
        .collect();
    if parts.is_empty() {
        "root".to_string()
    } else {
        parts.join(" / ")
    }
}

#[derive(Default)]
struct State {
    resolver: Option<HostResolver>,
    routes: Vec<Route<()>>,
    table: Option<RouteTable<()>>,
}

impl State {
    /// The output lines of directive `line`.
    fn run(&mut self, line: &str) -> Vec<String> {
        let (directive, rest) = arg(line);
        match directive.as_str() {
            "pattern" => vec![match Pattern::parse(&rest_arg(rest)) {
                Ok(p) => format!("ok {p} = {}", describe(&p)),
                Err(e) => format!("error: {e}"),
            }],
            "resolver" => {
                let config: HostConfig = match serde_json::from_str(rest) {
                    Ok(config) => config,
                    Err(e) => return vec![format!("error: {e}")],
                };
                match HostResolver::new(config) {
                    Ok(r) => {
                        self.resolver = Some(r);
                        vec![]
                    }
                    Err(e) => {
                        self.resolver = None;
                        vec![format!("error: {e}")]
                    }
                }
            }
            "host" => {
                let (host, rest) = arg(rest);
                let path = rest_arg(rest);
                let host = (host != "-").then_some(host.as_str());
                let resolver = self.resolver.as_ref().expect("a `resolver` line first");
                vec![match resolver.resolve(host, &path) {
                    Ok(t) => format!(
                        "ok project={} stage={} path={} via={:?}",
                        t.project, t.stage, t.path, t.via
                    ),
                    Err(e) => format!("error: {e}"),
                }]
            }
            "table" => {
                self.routes.clear();
                self.table = None;
                vec![]
            }
            "route" => {
                let (id, rest) = arg(rest);
                let (flow, rest) = arg(rest);
                let (methods, rest) = arg(rest);
                let methods: Methods = match methods.parse() {
                    Ok(m) => m,
                    Err(e) => return vec![format!("error: {e}")],
                };
                match Pattern::parse(&rest_arg(rest)) {
                    Ok(pattern) => {
                        self.routes.push(Route {
                            id,
                            flow,
                            methods,
                            pattern,
                            target: (),
                        });
                        vec![]
                    }
                    Err(e) => vec![format!("error: {e}")],
                }
            }
            "build" => {
                let policy = match rest.trim() {
                    "" => ConflictPolicy::RefuseAll,
                    "serving" => ConflictPolicy::TolerateTypedOverlaps,
                    other => panic!("`build {other}`: expected `build` or `build serving`"),
                };
                match RouteTable::build_with(std::mem::take(&mut self.routes), policy) {
                    Ok(table) => {
                        let n = table.routes().len();
                        let mut out = vec![format!("ok {n} routes")];
                        out.extend(table.overlaps().iter().map(|c| format!("tolerated: {c}")));
                        self.table = Some(table);
                        out
                    }
                    Err(conflicts) => {
                        self.table = None;
                        conflicts
                            .iter()
                            .map(|c| {
                                let kind = match c.kind {
                                    ConflictKind::SameShape => "same shape",
                                    ConflictKind::TypedOverlap => "typed overlap",
                                };
                                format!("conflict ({kind}): {c}")
                            })
                            .collect()
                    }
                }
            }
            "request" => {
                let (method, rest) = arg(rest);
                let method: Method = method.parse().expect("a known method");
                let path = rest_arg(rest);
                let Some(table) = &self.table else {
                    return vec!["error: no table built".to_string()];
                };
                vec![match table.lookup(method, &path) {
                    Ok(Lookup::Found { route, params }) => {
                        let mut out = format!("found {}", route.id);
                        for (name, value) in params.iter() {
                            match value {
                                ParamValue::Str(s) => write!(out, " {name}={s:?}"),
                                ParamValue::Int(n) => write!(out, " {name}={n}:int"),
                                ParamValue::Uuid(u) => write!(out, " {name}={u}:uuid"),
                            }
                            .unwrap();
                        }
                        out
                    }
                    Ok(Lookup::MethodNotAllowed { allow }) => {
                        let names: Vec<&str> = allow.iter().map(|m| m.as_str()).collect();
                        format!("405 allow: {}", names.join(", "))
                    }
                    Ok(Lookup::NotFound) => "404".to_string(),
                    Err(e) => format!("400 {e}"),
                }]
            }
            other => panic!("unknown directive `{other}` in `{line}`"),
        }
    }
}

/// `text` with every directive's output replaced by the actual output.
fn actual_text(text: &str) -> String {
    let mut state = State::default();
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with(' ') {
            continue; // an expected output line: replaced below
        }
        writeln!(out, "{line}").unwrap();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        for output in state.run(line) {
            writeln!(out, "    {output}").unwrap();
        }
    }
    out
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("WEFT_BLESS").is_some_and(|v| v == "1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("read tests/golden")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "golden"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden files");

    let mut failures = Vec::new();
    let mut cases = 0;
    for file in &files {
        let expected = std::fs::read_to_string(file).expect("read golden file");
        cases += expected
            .lines()
            .filter(|l| {
                ["pattern ", "host ", "build", "request "]
                    .iter()
                    .any(|d| l.starts_with(d))
            })
            .count();
        let actual = actual_text(&expected);
        if bless {
            std::fs::write(file, &actual).expect("write golden file");
        } else if actual != expected {
            let name = file.file_name().unwrap().to_string_lossy();
            failures.push(format!(
                "{name} (- expected, + actual):\n{}",
                line_diff(&expected, &actual)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden file(s) differ (run with WEFT_BLESS=1 to accept the new output):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases >= 40, "only {cases} golden cases");
}
