//! The RAG example (`examples/rag/`) end to end, against the real servers:
//! every document of `examples/rag/corpus/` goes through `ingest.json`
//! (split → embed → upsert), then `ask.json` answers `ask.input.json`'s
//! question (embed → search → prompt → chat), through the LiteLLM proxy
//! (`hash-embed` embeddings from `tests/testbeds/embedder.py`, `mock-gpt`
//! chat).
//!
//! The outputs must be exactly `ingest.expected.json` (per document) and
//! `ask.expected.json`: the answer is the mock's fixed text and the sources
//! are the three chunks of the right document, best first, with their ids,
//! texts and metadata (scores within 1e-4: the two stores round cosine
//! similarity differently). The run happens twice, on the embedded store
//! (sqlite-vec, in a temporary directory) and on pgvector (a fresh schema,
//! dropped afterwards). The provider comes from `examples/rag/weft.toml`,
//! with its base URL replaced by `WEFT_TEST_LITELLM_URL`.
//!
//! The servers must run (`bash tests/testbeds.sh start` and
//! `eval "$(bash tests/testbeds.sh env)"`); without them the tests fail,
//! saying so, and never skip. After changing the example on purpose,
//! `WEFT_BLESS=1 cargo test -p weft-tests --test rag` rewrites the expected
//! files (review them with `git diff examples/rag`).

// Helpers outside `#[test]` functions fail the test by panicking, too.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_editor_protocol::events::{EventBody, Preview, RunEvent, RunStatus};
use weft_runtime::capabilities::vectors::{self, VectorConfig, VectorStore};
use weft_runtime::capabilities::{Provider, Providers, Secrets, Services};
use weft_runtime::host::HostConfig;
use weft_runtime::{Engine, EngineConfig, RunOptions, VecSink};

const HOW: &str =
    "start them with `bash tests/testbeds.sh start` and `eval \"$(bash tests/testbeds.sh env)\"`";
/// The provider name the example's flows use.
const PROVIDER: &str = "local-litellm";
/// The base URL `examples/rag/weft.toml` gives it: the testbeds' default.
const DEFAULT_LITELLM_URL: &str = "http://127.0.0.1:4000";
/// How far a score may be from the expected one.
const SCORE_TOLERANCE: f64 = 1e-4;

fn rag_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .join("examples/rag")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).expect("JSON values serialize")
}

fn bless() -> bool {
    std::env::var_os("WEFT_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

// ------------------------------------------------------------ servers

/// `host:port` of an `http://` URL.
fn authority(url: &str) -> String {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("WEFT_TEST_LITELLM_URL={url}: expected an http:// URL; {HOW}"));
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// The LiteLLM proxy's URL and key; panics with instructions when it is
/// not up or lacks the example's models (an old config: `start` again
/// restarts it with the current one).
async fn litellm() -> (String, String) {
    let url = std::env::var("WEFT_TEST_LITELLM_URL").unwrap_or_else(|_| {
        panic!("WEFT_TEST_LITELLM_URL is not set: the RAG example needs the LiteLLM proxy and the embedder; {HOW}")
    });
    let key = std::env::var("WEFT_TEST_LITELLM_KEY").unwrap_or_else(|_| "sk-weft-test".into());
    // LiteLLM routes `hash-embed` to the embedder: check it too, for a
    // clearer message than the provider error a run would end with.
    let embedder = std::env::var("WEFT_TEST_EMBEDDER_URL").unwrap_or_else(|_| {
        panic!("WEFT_TEST_EMBEDDER_URL is not set: the RAG example needs the embedder behind LiteLLM's `hash-embed`; {HOW}")
    });
    if std::net::TcpStream::connect(authority(&embedder)).is_err() {
        panic!("the embedder at {embedder} is not reachable; {HOW}");
    }
    let addr = authority(&url);
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("the LiteLLM proxy at {url} is not reachable ({e}); {HOW}"));
    let request = format!(
        "GET /v1/models HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    for model in ["hash-embed", "mock-gpt"] {
        assert!(
            answer.contains(&format!("\"{model}\"")),
            "the LiteLLM proxy at {url} does not serve the model `{model}` (an older config?); \
             {HOW} (it restarts LiteLLM when its config changed). /v1/models said: {}",
            answer.chars().take(500).collect::<String>()
        );
    }
    (url, key)
}

/// The pgvector server's URL; panics with instructions when it is not set
/// (an unreachable server fails the connection, with the same advice).
fn pgvector_url() -> String {
    std::env::var("WEFT_TEST_PGVECTOR_URL").unwrap_or_else(|_| {
        panic!("WEFT_TEST_PGVECTOR_URL is not set: PostgreSQL with pgvector is needed; {HOW}")
    })
}

// -------------------------------------------------------------- stores

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Pgvector,
}

/// A fresh vector store; dropping it removes everything it holds.
struct Store {
    store: Arc<dyn VectorStore>,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<SchemaGuard>,
}

/// Drops a PostgreSQL schema (and everything in it) when dropped, also
/// when the test panics.
struct SchemaGuard {
    admin_url: String,
    schema: String,
}

static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

impl Store {
    async fn new(backend: Backend) -> Store {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", dir.path().join("weft.db").display());
                let config = VectorConfig::from_url(&url).unwrap();
                Store {
                    store: vectors::connect(&config).await.unwrap(),
                    _dir: Some(dir),
                    _schema: None,
                }
            }
            Backend::Pgvector => {
                let admin_url = pgvector_url();
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos();
                let schema = format!(
                    "weft_rag_{}_{}_{nanos}",
                    std::process::id(),
                    SCHEMAS.fetch_add(1, Ordering::Relaxed)
                );
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| {
                        let shown = vectors::redact_url(&admin_url);
                        panic!("cannot connect to PostgreSQL with pgvector at {shown}: {e}; {HOW}")
                    });
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let guard = SchemaGuard {
                    admin_url: admin_url.clone(),
                    schema: schema.clone(),
                };
                let sep = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}%2Cpublic");
                let config = VectorConfig::from_url(&url).unwrap();
                Store {
                    store: vectors::connect(&config).await.unwrap(),
                    _dir: None,
                    _schema: Some(guard),
                }
            }
        }
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, schema) = (self.admin_url.clone(), self.schema.clone());
        // Drop may run inside the test's runtime: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "SET lock_timeout = '30s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&mut admin)
                .await
                .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("could not drop the test schema: {dropped:?}");
        }
    }
}

// -------------------------------------------------------------- engine

/// `examples/rag/weft.toml`, as `weft run --config` reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    providers: BTreeMap<String, Provider>,
}

/// The example's providers, pointed at `litellm_url`.
fn providers(litellm_url: &str) -> BTreeMap<String, Provider> {
    let path = rag_dir().join("weft.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut file: ConfigFile =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let provider = file
        .providers
        .get_mut(PROVIDER)
        .unwrap_or_else(|| panic!("{} has no provider `{PROVIDER}`", path.display()));
    assert_eq!(
        provider.base_url,
        DEFAULT_LITELLM_URL,
        "{}: the README runs the example against the testbeds' LiteLLM",
        path.display()
    );
    provider.base_url = litellm_url.to_string();
    file.providers
}

async fn engine(store: &Store) -> Engine {
    let (url, key) = litellm().await;
    Engine::new(EngineConfig {
        host: HostConfig {
            cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("weft-component-cache")),
            ..HostConfig::default()
        },
        services: Services {
            secrets: Arc::new(Secrets::none().with("LITELLM_KEY", key)),
            providers: Arc::new(Providers::new(providers(&url))),
            vectors: store.store.clone(),
            ..Services::default()
        },
        ..EngineConfig::default()
    })
    .await
    .expect("engine")
}

/// Runs `examples/rag/FLOW` with `inputs`; its outputs and events, or a
/// panic saying why it failed.
async fn run(engine: &Engine, flow: &str, inputs: &Value, what: &str) -> (Value, Vec<RunEvent>) {
    let path = rag_dir().join(flow);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let plan = match engine.compile_text(&text).await {
        Ok(plan) => plan,
        Err(weft_runtime::EngineError::Invalid(diags)) => {
            let lines: Vec<String> = diags.iter().map(|d| format!("  {d}")).collect();
            panic!("{flow} does not validate:\n{}", lines.join("\n"))
        }
        Err(e) => panic!("{flow} does not compile: {e}"),
    };
    let inputs: Map<String, Value> = inputs
        .as_object()
        .cloned()
        .unwrap_or_else(|| panic!("{what}: the inputs are not an object"));
    let sink = VecSink::new();
    let outcome = engine
        .run(
            plan,
            inputs,
            RunOptions::new(format!("rag-{flow}"), Arc::new(sink.clone())),
        )
        .await;
    assert_eq!(
        outcome.status,
        RunStatus::Succeeded,
        "{flow} ({what}) failed: {:?}",
        outcome
            .error
            .map(|e| format!("{} [{}] node {:?}", e.message, e.code, e.node))
    );
    let outputs: Map<String, Value> = outcome.outputs.into_iter().collect();
    (Value::Object(outputs), sink.events())
}

/// The text a node set on `port`, from its `node.finished` event.
fn finished_output(events: &[RunEvent], node: &str, port: &str) -> String {
    events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::NodeFinished(f) if f.node == node => match f.outputs.get(port)? {
                Preview::Full { value } => value.as_str().map(String::from),
                Preview::Truncated { head, .. } => Some(head.clone()),
            },
            _ => None,
        })
        .unwrap_or_else(|| panic!("no node.finished with `{node}.{port}`"))
}

// --------------------------------------------------------------- checks

/// The corpus documents, by file stem, sorted.
fn corpus() -> Vec<(String, Value)> {
    let dir = rag_dir().join("corpus");
    let mut docs: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, read_json(&p))
        })
        .collect();
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        docs.len() >= 2,
        "{}: expected several documents",
        dir.display()
    );
    docs
}

/// `value` with every `score` of its `sources` replaced by `null`, and
/// those scores.
fn split_scores(value: &Value) -> (Value, Vec<f64>) {
    let mut value = value.clone();
    let mut scores = Vec::new();
    if let Some(sources) = value.get_mut("sources").and_then(Value::as_array_mut) {
        for source in sources {
            if let Some(score) = source.get_mut("score") {
                scores.push(score.as_f64().unwrap_or(f64::NAN));
                *score = Value::Null;
            }
        }
    }
    (value, scores)
}

/// Scores rounded for the expected file (4 decimals).
fn rounded_scores(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(sources) = value.get_mut("sources").and_then(Value::as_array_mut) {
        for source in sources {
            if let Some(score) = source.get_mut("score") {
                let x = score.as_f64().unwrap_or(f64::NAN);
                *score = json!((x * 1e4).round() / 1e4);
            }
        }
    }
    value
}

fn write_expected(path: &Path, value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    eprintln!("blessed {}", path.display());
}

/// The expected ask outputs must make sense on their own: sources from one
/// document, best first.
fn check_expected_ask(expected: &Value) {
    let sources = expected["sources"]
        .as_array()
        .expect("ask.expected.json: `sources` is a list");
    assert_eq!(sources.len(), 3, "ask.expected.json: top_k is 3");
    let docs: Vec<&Value> = sources.iter().map(|s| &s["metadata"]["doc_id"]).collect();
    assert!(
        docs.iter().all(|d| *d == docs[0]),
        "ask.expected.json: the sources come from several documents: {docs:?}"
    );
    let scores: Vec<f64> = sources
        .iter()
        .map(|s| s["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "ask.expected.json: sources are not best first: {scores:?}"
    );
}

async fn rag_example(backend: Backend) {
    let store = Store::new(backend).await;
    let engine = engine(&store).await;
    let dir = rag_dir();

    // Ingest every document.
    let expected_path = dir.join("ingest.expected.json");
    let mut ingested = Map::new();
    for (name, inputs) in corpus() {
        let (outputs, _) = run(&engine, "ingest.json", &inputs, &name).await;
        ingested.insert(name, outputs);
    }
    let ingested = Value::Object(ingested);
    if bless() {
        write_expected(&expected_path, &ingested);
    }
    let expected = read_json(&expected_path);
    assert_eq!(
        compact(&ingested),
        compact(&expected),
        "ingest outputs differ from {} ({backend:?})",
        expected_path.display()
    );

    // Ask.
    let question = read_json(&dir.join("ask.input.json"));
    let (answer, events) = run(&engine, "ask.json", &question, "ask.input.json").await;
    let expected_path = dir.join("ask.expected.json");
    if bless() {
        write_expected(&expected_path, &rounded_scores(&answer));
    }
    let expected = read_json(&expected_path);
    check_expected_ask(&expected);
    let (actual_rest, actual_scores) = split_scores(&answer);
    let (expected_rest, expected_scores) = split_scores(&expected);
    assert_eq!(
        compact(&actual_rest),
        compact(&expected_rest),
        "ask outputs differ from {} ({backend:?}; scores not compared here)\n  actual: {answer}",
        expected_path.display()
    );
    assert_eq!(actual_scores.len(), expected_scores.len());
    for (i, (a, e)) in actual_scores.iter().zip(&expected_scores).enumerate() {
        assert!(
            (a - e).abs() <= SCORE_TOLERANCE,
            "source {i}: score {a}, expected {e} ± {SCORE_TOLERANCE} ({backend:?})"
        );
    }

    // The prompt the model got holds the question and every source.
    let prompt = finished_output(&events, "prompt", "text");
    assert!(
        prompt.contains(question["question"].as_str().unwrap()),
        "{prompt}"
    );
    for source in expected["sources"].as_array().unwrap() {
        let id = source["id"].as_str().unwrap();
        let text = source["text"].as_str().unwrap();
        assert!(
            prompt.contains(&format!("[{id}] {text}")),
            "the prompt lacks source {id}:\n{prompt}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rag_example_on_sqlite() {
    rag_example(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rag_example_on_pgvector() {
    rag_example(Backend::Pgvector).await;
}
