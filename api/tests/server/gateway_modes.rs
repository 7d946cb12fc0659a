//! The three answer modes of published routes (sync, SSE stream, async
//! with a status URL), 406 for a mode a route does not allow, CORS
//! preflights and headers, and HEAD on GET routes. Token streaming from a
//! real LiteLLM proxy is in `published_stream_carries_llm_tokens`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Bed;
use super::gateway::send;
use super::rest::hello;

const HOST: (&str, &str) = ("host", "demo-prod.localhost");
const SSE: (&str, &str) = ("accept", "text/event-stream");
const ORIGIN: &str = "https://app.example.com";

/// The SSE events in `text`: (event name, data as JSON).
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut name = String::from("message");
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if !data.is_empty() {
            out.push((name, serde_json::from_str(&data).unwrap()));
        }
    }
    out
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

async fn publish(bed: &Bed, doc: Value) {
    let (status, body) = bed
        .admin("POST", "/v1/projects", Some(json!({"slug": "demo"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = bed
        .admin("PUT", "/v1/projects/demo/flows/hello", Some(doc))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let path = "/v1/projects/demo/flows/hello/publish";
    let (status, body) = bed
        .admin("POST", path, Some(json!({"stage": "prod"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

pub async fn stream_async_cors_and_head(bed: Bed) {
    let mut doc = hello();
    doc["triggers"] = json!([
        {"kind": "http", "id": "all", "path": "/hello/{name}", "auth": "public",
         "modes": ["sync", "stream", "async"],
         "cors": {"origins": [ORIGIN], "headers": ["content-type"],
                  "expose_headers": ["x-request-id"], "max_age_secs": 600}},
        {"kind": "http", "id": "sync-only", "path": "/plain/{name}", "auth": "public"},
        {"kind": "http", "id": "read", "methods": ["GET"], "path": "/read/{name}", "auth": "public"},
        {"kind": "http", "id": "keyed", "path": "/keyed/{name}", "modes": ["async"]}
    ]);
    publish(&bed, doc).await;

    // Stream: `run`, then `done` with the outputs.
    let (status, headers, body) = send(&bed, "POST", "/hello/Ada", &[HOST, SSE], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(body.as_str().unwrap());
    assert_eq!(names(&events), ["run", "done"], "{events:?}");
    let run = events[0].1["run"].as_str().unwrap().to_string();
    assert_eq!(events[1].1["run"], run.as_str());
    assert_eq!(events[1].1["outputs"], json!({"greeting": "HELLO ADA!"}));
    // With node events: each node's start and finish, no values.
    let nodes = ("x-weft-events", "nodes");
    let (_, _, body) = send(&bed, "POST", "/hello/Bo", &[HOST, SSE, nodes], None).await;
    let events = sse_events(body.as_str().unwrap());
    assert_eq!(
        names(&events),
        ["run", "node", "node", "node", "node", "done"],
        "{events:?}"
    );
    assert_eq!(
        events[1].1,
        json!({"type": "node.started", "node": "greet", "seq": events[1].1["seq"]})
    );
    assert!(events[1..5].iter().all(|(_, e)| e.get("outputs").is_none()));

    // A mode the route does not allow: 406 naming the allowed ones.
    let (status, _, v) = send(&bed, "POST", "/plain/Ada", &[HOST, SSE], None).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("answers sync"),
        "{v}"
    );
    let (status, _, v) = send(&bed, "POST", "/keyed/Ada", &[HOST], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");

    // Async: 202 with a status URL, then the outputs there.
    let prefer = ("prefer", "respond-async");
    let (status, headers, v) = send(&bed, "POST", "/hello/Cy", &[HOST, prefer], None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let url = v["status_url"].as_str().unwrap().to_string();
    assert_eq!(headers["location"], url.as_str());
    assert_eq!(headers["preference-applied"], "respond-async");
    assert!(url.starts_with("/_weft/runs/"), "{url}");
    let done = poll_status(&bed, &url, &[HOST]).await;
    assert_eq!(done["outputs"], json!({"greeting": "HELLO CY!"}), "{done}");
    // Followed over SSE once finished: the same `done`.
    let (_, _, body) = send(&bed, "GET", &url, &[HOST, SSE], None).await;
    let events = sse_events(body.as_str().unwrap());
    assert_eq!(names(&events), ["run", "done"], "{events:?}");
    // On the path fallback, the status URL keeps the stage's prefix.
    let other = ("host", "127.0.0.1");
    let (_, _, v) = send(&bed, "POST", "/demo/prod/hello/Di", &[other, prefer], None).await;
    let url = v["status_url"].as_str().unwrap().to_string();
    assert!(url.starts_with("/demo/prod/_weft/runs/"), "{url}");
    poll_status(&bed, &url, &[other]).await;
    // Unknown runs, and runs of another stage, are not found.
    let (status, _, _) = send(&bed, "GET", "/_weft/runs/nope", &[HOST], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let dev = ("host", "demo-dev.localhost");
    let (status, _, _) = send(&bed, "GET", &url.replace("/demo/prod", ""), &[dev], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The status of a keyed route's run needs a key of the stage.
    let (_, key) = bed
        .state
        .store
        .create_api_key("demo", "k", None)
        .await
        .unwrap();
    let keyed = ("x-api-key", key.as_str());
    let (status, _, v) = send(&bed, "POST", "/keyed/Ed", &[HOST, keyed, prefer], None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let url = v["status_url"].as_str().unwrap().to_string();
    let (status, _, _) = send(&bed, "GET", &url, &[HOST], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    poll_status(&bed, &url, &[HOST, keyed]).await;

    // CORS: a preflight from an allowed origin, with its header.
    let preflight = [
        HOST,
        ("origin", ORIGIN),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "Content-Type"),
    ];
    let (status, headers, _) = send(&bed, "OPTIONS", "/hello/Ada", &preflight, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers["access-control-allow-origin"], ORIGIN);
    assert_eq!(headers["access-control-allow-methods"], "POST");
    assert_eq!(headers["access-control-allow-headers"], "content-type");
    assert_eq!(headers["access-control-max-age"], "600");
    assert_eq!(headers["vary"], "origin");
    // Another origin, an unlisted header, a route without cors: 403.
    let mut evil = preflight;
    evil[1] = ("origin", "https://evil.example");
    let (status, headers, _) = send(&bed, "OPTIONS", "/hello/Ada", &evil, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!headers.contains_key("access-control-allow-origin"));
    let mut odd = preflight;
    odd[3] = ("access-control-request-headers", "x-secret");
    let (status, _, _) = send(&bed, "OPTIONS", "/hello/Ada", &odd, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(&bed, "OPTIONS", "/plain/Ada", &preflight, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The call itself: allowed origin echoed, exposed headers listed.
    let (status, headers, _) = send(
        &bed,
        "POST",
        "/hello/Ada",
        &[HOST, ("origin", ORIGIN)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["access-control-allow-origin"], ORIGIN);
    assert_eq!(headers["access-control-expose-headers"], "x-request-id");
    let (_, headers, _) = send(
        &bed,
        "POST",
        "/hello/Ada",
        &[HOST, ("origin", "https://evil.example")],
        None,
    )
    .await;
    assert!(!headers.contains_key("access-control-allow-origin"));

    // HEAD on a GET route: its status and headers, no body.
    let (status, _, body) = send(&bed, "HEAD", "/read/Ada", &[HOST], None).await;
    assert_eq!((status, body), (StatusCode::OK, json!("")));
    let (status, headers, _) = send(&bed, "DELETE", "/read/Ada", &[HOST], None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, HEAD");
}

/// Polls a status URL until the run is over; asserts it succeeded.
async fn poll_status(bed: &Bed, url: &str, headers: &[(&str, &str)]) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, _, v) = send(bed, "GET", url, headers, None).await;
        assert_eq!(status, StatusCode::OK, "{url}: {v}");
        if v["status"] != "running" {
            assert_eq!(v["status"], "succeeded", "{v}");
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{url} still running: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

const MOCK_TEXT: &str = "Hello from the LiteLLM mock";

/// The LiteLLM proxy's URL and key; fails (never skips) when it is not up.
fn litellm() -> (String, String) {
    let how =
        "start it with `bash tests/testbeds.sh start` and `eval \"$(bash tests/testbeds.sh env)\"`";
    let url = std::env::var("WEFT_TEST_LITELLM_URL").unwrap_or_else(|_| {
        panic!("WEFT_TEST_LITELLM_URL is not set: the LiteLLM proxy is needed; {how}")
    });
    let key = std::env::var("WEFT_TEST_LITELLM_KEY").unwrap_or_else(|_| "sk-weft-test".into());
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    if std::net::TcpStream::connect(addr).is_err() {
        panic!("the LiteLLM proxy at {url} is not reachable; {how}");
    }
    (url, key)
}

/// A published `llm.chat` flow answering over SSE streams the model's
/// tokens as `token` events, in order, before `done` (real LiteLLM proxy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_stream_carries_llm_tokens() {
    use weft_runtime::capabilities::{Provider, Providers, Secrets, Services};
    let (url, key) = litellm();
    let providers = std::collections::BTreeMap::from([(
        "litellm".to_string(),
        Provider {
            base_url: url,
            api_key_secret: Some("LITELLM_KEY".into()),
            timeout_ms: Some(10_000),
            prices: None,
        },
    )]);
    // Provider keys are the host's (`--secret`, `WEFT_SECRET_<NAME>`).
    let engine = super::engine_with(Services {
        secrets: std::sync::Arc::new(Secrets::none().with("LITELLM_KEY", key)),
        providers: std::sync::Arc::new(Providers::new(providers)),
        ..Services::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("weft.db").display());
    let store = weft::store::Store::open(&db).await.unwrap();
    let bed = super::bed_with(engine, store, Default::default(), Some(dir)).await;
    let doc = json!({
        "weft": 1, "name": "hello", "inputs": {"question": "string"},
        "capabilities": {"llm": ["litellm"]},
        "nodes": [{"id": "ask", "type": "llm.chat",
                   "config": {"provider": "litellm", "model": "mock-gpt", "stream": true}}],
        "edges": [{"from": "input.question", "to": "ask.prompt"}],
        "outputs": {"text": "ask.text"},
        "triggers": [{"kind": "http", "path": "/ask", "auth": "public", "modes": ["stream"]}]
    });
    publish(&bed, doc).await;
    let (status, _, body) = send(
        &bed,
        "POST",
        "/ask",
        &[HOST, SSE, ("content-type", "application/json")],
        Some(r#"{"question": "hi"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = sse_events(body.as_str().unwrap());
    let kinds = names(&events);
    if kinds.last() != Some(&"done") {
        let run = events[0].1["run"].as_str().unwrap();
        let (_, stored) = bed.admin("GET", &format!("/v1/runs/{run}"), None).await;
        panic!("the run failed: {stored}");
    }
    assert_eq!(kinds.first(), Some(&"run"), "{events:?}");
    assert_eq!(kinds.last(), Some(&"done"), "{events:?}");
    let tokens: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "token")
        .map(|(_, e)| {
            assert_eq!(e["node"], "ask");
            e["text"].as_str().unwrap()
        })
        .collect();
    assert!(
        tokens.len() > 1,
        "tokens arrive as separate events: {events:?}"
    );
    assert_eq!(tokens.concat(), MOCK_TEXT);
    assert_eq!(events.last().unwrap().1["outputs"]["text"], MOCK_TEXT);
}
