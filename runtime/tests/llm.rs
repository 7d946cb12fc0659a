//! `llm.chat` and `llm.embed` against a real LiteLLM proxy with mock
//! models (start it with `bash tests/testbeds.sh start` and
//! `eval "$(bash tests/testbeds.sh env)"`): chat with and without
//! streaming (tokens arrive as separate `node.emit` events, in order),
//! usage and cost in outputs and `node.finished`, embeddings single and
//! batched, and the faults: provider down (named, retried per policy),
//! malformed answers, ungranted providers.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use weft_editor_protocol::events::{EventBody, RunStatus};
use weft_runtime::capabilities::llm::Prices;
use weft_runtime::capabilities::{Provider, Providers, Secrets, Services};
use weft_runtime::host::HostConfig;
use weft_runtime::{Engine, EngineConfig};

const MOCK_TEXT: &str = "Hello from the LiteLLM mock";

/// The LiteLLM proxy's URL and key; fails (never skips) when it is not up.
fn litellm() -> (String, String) {
    let how =
        "start it with `bash tests/testbeds.sh start` and `eval \"$(bash tests/testbeds.sh env)\"`";
    let url = std::env::var("WEFT_TEST_LITELLM_URL").unwrap_or_else(|_| {
        panic!("WEFT_TEST_LITELLM_URL is not set: the LiteLLM proxy is needed; {how}")
    });
    let key = std::env::var("WEFT_TEST_LITELLM_KEY").unwrap_or_else(|_| "sk-weft-test".into());
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    if std::net::TcpStream::connect(&addr).is_err() {
        panic!("the LiteLLM proxy at {url} is not reachable; {how}");
    }
    (url, key)
}

fn provider(base_url: &str, prices: Option<Prices>) -> Provider {
    Provider {
        base_url: base_url.to_string(),
        api_key_secret: Some("LITELLM_KEY".into()),
        timeout_ms: Some(5000),
        prices,
    }
}

async fn engine(providers: BTreeMap<String, Provider>) -> Engine {
    let (_, key) = litellm();
    Engine::new(EngineConfig {
        host: HostConfig {
            cache_dir: Some(common::cache_dir()),
            ..HostConfig::default()
        },
        services: Services {
            secrets: Arc::new(Secrets::none().with("LITELLM_KEY", key)),
            providers: Arc::new(Providers::new(providers)),
            ..Services::default()
        },
        ..EngineConfig::default()
    })
    .await
    .expect("engine")
}

async fn litellm_engine() -> Engine {
    let (url, _) = litellm();
    let prices = Prices {
        prompt: 1.0,
        completion: 2.0,
    };
    engine(BTreeMap::from([(
        "local-litellm".to_string(),
        provider(&url, Some(prices)),
    )]))
    .await
}

fn chat_flow(stream: bool, provider: &str) -> Value {
    json!({
        "weft": 1, "name": "chat", "inputs": {"question": "string"},
        "capabilities": {"llm": [provider]},
        "nodes": [{"id": "ask", "type": "llm.chat",
                   "config": {"provider": provider, "model": "mock-gpt", "system": "Be brief.", "stream": stream},
                   "policy": {"retry": {"max_attempts": 2, "backoff_ms": 1}}}],
        "edges": [{"from": "input.question", "to": "ask.prompt"}],
        "outputs": {"text": "ask.text", "usage": "ask.usage", "finish": "ask.finish_reason",
                    "cost": "ask.cost", "message": "ask.message"}
    })
}

#[tokio::test]
async fn chat_without_streaming() {
    let engine = litellm_engine().await;
    let (outcome, events) = common::run(
        &engine,
        chat_flow(false, "local-litellm"),
        json!({"question": "hi"}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["text"], json!(MOCK_TEXT));
    assert_eq!(
        outcome.outputs["message"],
        json!({"role": "assistant", "content": MOCK_TEXT})
    );
    assert_eq!(outcome.outputs["finish"], json!("stop"));
    let usage = &outcome.outputs["usage"];
    assert!(usage["total_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert!(outcome.outputs["cost"].as_f64().unwrap() > 0.0);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.body, EventBody::NodeEmit(_))),
        "no tokens without streaming"
    );
    let finished = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::NodeFinished(f) => Some(f.clone()),
            _ => None,
        })
        .unwrap();
    let u = finished.usage.expect("usage in node.finished");
    assert_eq!(json!(u.total_tokens), usage["total_tokens"]);
    assert!(finished.cost.expect("cost in node.finished") > 0.0);
}

#[tokio::test]
async fn chat_streams_tokens_in_order() {
    let engine = litellm_engine().await;
    let (outcome, events) = common::run(
        &engine,
        chat_flow(true, "local-litellm"),
        json!({"question": "hi"}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let tokens: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::NodeEmit(x) if x.port == "token" => x.value.as_str().map(String::from),
            _ => None,
        })
        .collect();
    assert!(
        tokens.len() > 1,
        "tokens arrive as separate events: {tokens:?}"
    );
    assert_eq!(tokens.concat(), MOCK_TEXT);
    assert_eq!(outcome.outputs["text"], json!(MOCK_TEXT));
    // Every token comes before the node finishes.
    let last_emit = events
        .iter()
        .filter(|e| matches!(e.body, EventBody::NodeEmit(_)))
        .map(|e| e.seq)
        .max()
        .unwrap();
    let finished = events
        .iter()
        .find(|e| matches!(e.body, EventBody::NodeFinished(_)))
        .unwrap()
        .seq;
    assert!(last_emit < finished);
}

fn embed_flow(port: &str) -> Value {
    json!({
        "weft": 1, "name": "embed", "inputs": {"input": "any"},
        "capabilities": {"embeddings": ["local-litellm"]},
        "nodes": [{"id": "e", "type": "llm.embed", "config": {"provider": "local-litellm", "model": "mock-embed"}}],
        "edges": [{"from": "input.input", "to": format!("e.{port}")}],
        "outputs": {"one": "e.embedding", "many": "e.embeddings"}
    })
}

#[tokio::test]
async fn embeddings_single_and_listed() {
    let engine = litellm_engine().await;
    let expected = json!([0.1, 0.2, 0.3, 0.4]);
    let (outcome, _) = common::run(&engine, embed_flow("text"), json!({"input": "a"})).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["one"], expected);

    let (outcome, _) = common::run(&engine, embed_flow("texts"), json!({"input": ["b"]})).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["many"], json!([expected]));

    // LiteLLM's mock answers one vector whatever the batch size: a real
    // provider that did so would be caught like this.
    let (outcome, _) = common::run(
        &engine,
        embed_flow("texts"),
        json!({"input": ["b", "c", "d"]}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert!(
        error
            .message
            .contains("malformed response: 1 embeddings for 3 inputs"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_provider_that_is_down_is_named_and_retried() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let engine = engine(BTreeMap::from([(
        "down".to_string(),
        provider(&format!("http://127.0.0.1:{port}"), None),
    )]))
    .await;
    let (outcome, events) =
        common::run(&engine, chat_flow(false, "down"), json!({"question": "hi"})).await;
    let error = outcome.error.expect("an error");
    assert!(
        error.message.contains("provider `down` is unreachable"),
        "{error:?}"
    );
    let attempts = events
        .iter()
        .filter(|e| matches!(e.body, EventBody::NodeStarted(_)))
        .count();
    assert_eq!(attempts, 2, "retried per the node's policy");
}

#[tokio::test]
async fn malformed_answers_are_clear_errors() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 8192];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
            let body = "this is not json";
            let _ = s
                .write_all(
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
                        .as_bytes(),
                )
                .await;
        }
    });
    let engine = engine(BTreeMap::from([(
        "weird".to_string(),
        provider(&format!("http://127.0.0.1:{port}"), None),
    )]))
    .await;
    let (outcome, _) = common::run(
        &engine,
        chat_flow(false, "weird"),
        json!({"question": "hi"}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert!(
        error
            .message
            .contains("provider `weird` sent a malformed response"),
        "{error:?}"
    );
}

#[tokio::test]
async fn providers_must_be_granted_and_known() {
    let engine = litellm_engine().await;
    let mut flow = chat_flow(false, "local-litellm");
    flow["capabilities"] = json!({"llm": ["someone-else"]});
    // Refused at validation, naming the node's config field and the grant.
    match engine.compile_text(&flow.to_string()).await {
        Err(weft_runtime::EngineError::Invalid(diags)) => {
            let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            let text = text.join("\n");
            assert!(
                text.contains("/config/provider")
                    && text.contains("the llm grant `local-litellm`")
                    && text.contains("[capability_not_granted]"),
                "{text}"
            );
        }
        Ok(_) => panic!("an ungranted provider was accepted"),
        Err(e) => panic!("{e}"),
    }

    let (outcome, _) = common::run(
        &engine,
        chat_flow(false, "nobody"),
        json!({"question": "hi"}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert!(
        error.message.contains("unknown provider `nobody`"),
        "{error:?}"
    );
}
