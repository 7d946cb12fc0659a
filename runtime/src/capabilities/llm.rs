//! LLM chat and embeddings through OpenAI-compatible providers (LiteLLM,
//! vLLM, Ollama, OpenAI): `POST {base_url}/v1/chat/completions` and
//! `/v1/embeddings`.
//!
//! Providers are named in the host's configuration, never in flows: a flow
//! says `provider: "local-litellm"` and lists it in `capabilities.llm` /
//! `capabilities.embeddings`; the key comes from a secret named by the
//! provider's `api_key_secret`. Chat streams: every token reaches the run's
//! event stream (`node.emit`) as soon as its chunk arrives.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::secrets::SecretSource;

/// One provider, as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// E.g. `http://127.0.0.1:4000` (a trailing `/v1` is accepted).
    pub base_url: String,
    /// The name of the secret holding the API key (sent as a bearer token).
    #[serde(default)]
    pub api_key_secret: Option<String>,
    /// Per-request deadline, in milliseconds (default 120 000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Prices per 1 000 tokens, for cost reporting.
    #[serde(default)]
    pub prices: Option<Prices>,
}

/// Prices per 1 000 tokens, in the provider's currency.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub prompt: f64,
    pub completion: f64,
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt: u64,
    pub completion: u64,
    pub total: u64,
}

impl TokenUsage {
    pub fn add(&mut self, other: TokenUsage) {
        self.prompt += other.prompt;
        self.completion += other.completion;
        self.total += other.total;
    }
}

/// A chat request, provider-neutral.
#[derive(Debug, Clone)]
pub struct Chat {
    pub model: String,
    pub messages: Vec<(String, String)>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub json_mode: bool,
    pub stream: bool,
}

/// A chat answer.
#[derive(Debug, Clone, Default)]
pub struct ChatAnswer {
    pub text: String,
    pub finish_reason: String,
    pub usage: Option<TokenUsage>,
    pub cost: Option<f64>,
}

/// An embeddings answer.
#[derive(Debug, Clone, Default)]
pub struct EmbedAnswer {
    pub vectors: Vec<Vec<f32>>,
    pub usage: Option<TokenUsage>,
    pub cost: Option<f64>,
}

/// Why a provider call failed; every message names the provider.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("{0}")]
    Unknown(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Failed(String),
}

/// The configured providers and the client that reaches them.
#[derive(Debug, Default)]
pub struct Providers {
    providers: BTreeMap<String, Provider>,
    client: reqwest::Client,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl Providers {
    pub fn new(providers: BTreeMap<String, Provider>) -> Providers {
        Providers {
            providers,
            client: reqwest::Client::new(),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    fn get(&self, name: &str) -> Result<&Provider, ProviderError> {
        self.providers.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.names().collect();
            ProviderError::Unknown(format!(
                "unknown provider `{name}` (configured: {})",
                if known.is_empty() {
                    "none; add [providers.NAME] to the Weft config".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    fn request(
        &self,
        name: &str,
        path: &str,
        secrets: &dyn SecretSource,
        body: &Value,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let provider = self.get(name)?;
        let base = provider.base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        let mut req = self
            .client
            .post(format!("{base}/v1/{path}"))
            .timeout(
                provider
                    .timeout_ms
                    .map(Duration::from_millis)
                    .unwrap_or(DEFAULT_TIMEOUT),
            )
            .json(body);
        if let Some(secret) = &provider.api_key_secret {
            let key = secrets.get(secret).ok_or_else(|| {
                ProviderError::Failed(format!(
                    "provider `{name}`: its API key secret `{secret}` is not set"
                ))
            })?;
            req = req.bearer_auth(key);
        }
        Ok(req)
    }

    fn cost(&self, name: &str, usage: Option<TokenUsage>) -> Option<f64> {
        let prices = self.providers.get(name)?.prices?;
        let u = usage?;
        Some((u.prompt as f64 * prices.prompt + u.completion as f64 * prices.completion) / 1000.0)
    }

    /// Runs a chat completion; with `stream`, calls `on_token` for every
    /// token as it arrives.
    pub async fn chat(
        &self,
        name: &str,
        secrets: &dyn SecretSource,
        chat: &Chat,
        mut on_token: impl FnMut(&str),
    ) -> Result<ChatAnswer, ProviderError> {
        let mut body = json!({
            "model": chat.model,
            "messages": chat.messages.iter().map(|(role, content)| json!({"role": role, "content": content})).collect::<Vec<_>>(),
            "stream": chat.stream,
        });
        if let Some(t) = chat.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(m) = chat.max_tokens {
            body["max_tokens"] = json!(m);
        }
        if chat.json_mode {
            body["response_format"] = json!({"type": "json_object"});
        }
        if chat.stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        let response = send(
            name,
            self.request(name, "chat/completions", secrets, &body)?,
        )
        .await?;
        let mut answer = if chat.stream {
            read_stream(name, response, &mut on_token).await?
        } else {
            let value: Value = response
                .json()
                .await
                .map_err(|e| malformed(name, &format!("not JSON: {e}")))?;
            let choice = value
                .pointer("/choices/0")
                .ok_or_else(|| malformed(name, "no `choices[0]`"))?;
            ChatAnswer {
                text: choice
                    .pointer("/message/content")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                finish_reason: choice
                    .get("finish_reason")
                    .and_then(Value::as_str)
                    .unwrap_or("stop")
                    .to_string(),
                usage: usage(&value),
                cost: None,
            }
        };
        answer.cost = self.cost(name, answer.usage);
        Ok(answer)
    }

    /// Embeds a batch of texts, in order.
    pub async fn embed(
        &self,
        name: &str,
        secrets: &dyn SecretSource,
        model: &str,
        inputs: &[String],
    ) -> Result<EmbedAnswer, ProviderError> {
        let body = json!({"model": model, "input": inputs});
        let response = send(name, self.request(name, "embeddings", secrets, &body)?).await?;
        let value: Value = response
            .json()
            .await
            .map_err(|e| malformed(name, &format!("not JSON: {e}")))?;
        let data = value
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(name, "no `data` list"))?;
        let mut indexed: Vec<(usize, Vec<f32>)> = Vec::with_capacity(data.len());
        for (i, item) in data.iter().enumerate() {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .map(|n| n as usize)
                .unwrap_or(i);
            let vector = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or_else(|| malformed(name, &format!("`data[{i}].embedding` is not a list")))?
                .iter()
                .map(|x| x.as_f64().map(|f| f as f32))
                .collect::<Option<Vec<f32>>>()
                .ok_or_else(|| {
                    malformed(name, &format!("`data[{i}].embedding` has a non-number"))
                })?;
            indexed.push((index, vector));
        }
        indexed.sort_by_key(|(i, _)| *i);
        if indexed.len() != inputs.len() {
            return Err(malformed(
                name,
                &format!("{} embeddings for {} inputs", indexed.len(), inputs.len()),
            ));
        }
        let usage = usage(&value);
        Ok(EmbedAnswer {
            vectors: indexed.into_iter().map(|(_, v)| v).collect(),
            usage,
            cost: self.cost(name, usage),
        })
    }
}

fn malformed(name: &str, what: &str) -> ProviderError {
    ProviderError::Failed(format!(
        "provider `{name}` sent a malformed response: {what}"
    ))
}

fn usage(value: &Value) -> Option<TokenUsage> {
    let u = value.get("usage")?;
    let get = |k: &str| u.get(k).and_then(Value::as_u64);
    let prompt = get("prompt_tokens").unwrap_or(0);
    let completion = get("completion_tokens").unwrap_or(0);
    Some(TokenUsage {
        prompt,
        completion,
        total: get("total_tokens").unwrap_or(prompt + completion),
    })
}

async fn send(
    name: &str,
    req: reqwest::RequestBuilder,
) -> Result<reqwest::Response, ProviderError> {
    let response = req.send().await.map_err(|e| {
        if e.is_timeout() {
            ProviderError::Timeout(format!("provider `{name}` did not answer in time"))
        } else {
            let mut cause = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                cause = format!("{cause}: {s}");
                source = s.source();
            }
            ProviderError::Failed(format!("provider `{name}` is unreachable: {cause}"))
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let snippet: String = body.chars().take(300).collect();
        return Err(ProviderError::Failed(format!(
            "provider `{name}` answered {status}: {snippet}"
        )));
    }
    Ok(response)
}

/// Reads an SSE stream of chat chunks, handing each token on at once.
async fn read_stream(
    name: &str,
    response: reqwest::Response,
    on_token: &mut impl FnMut(&str),
) -> Result<ChatAnswer, ProviderError> {
    let mut answer = ChatAnswer {
        finish_reason: "stop".into(),
        ..ChatAnswer::default()
    };
    let mut pending = Vec::<u8>::new();
    let mut stream = response.bytes_stream();
    let mut done = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if e.is_timeout() {
                ProviderError::Timeout(format!("provider `{name}` stopped streaming (timeout)"))
            } else {
                ProviderError::Failed(format!("provider `{name}`: stream broken: {e}"))
            }
        })?;
        pending.extend_from_slice(&chunk);
        while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let value: Value = serde_json::from_str(data)
                .map_err(|e| malformed(name, &format!("stream chunk is not JSON: {e}")))?;
            if let Some(token) = value
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                && !token.is_empty()
            {
                on_token(token);
                answer.text.push_str(token);
            }
            if let Some(reason) = value
                .pointer("/choices/0/finish_reason")
                .and_then(Value::as_str)
            {
                answer.finish_reason = reason.to_string();
            }
            if let Some(u) = usage(&value) {
                answer.usage = Some(u);
            }
        }
    }
    if !done && answer.text.is_empty() {
        return Err(malformed(name, "the stream ended without data"));
    }
    Ok(answer)
}
