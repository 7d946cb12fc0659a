//! `llm.chat`: a chat completion through a provider from the host's
//! configuration (capability `llm`).
//!
//! * Config: `{provider: string, model: string, system?: string,
//!   temperature?: number (0..=2), max_tokens?: int (at least 1), json?: bool
//!   (default false), stream?: bool (default true)}`.
//! * Inputs (both optional, at least one live at run time): `prompt:
//!   string`, `messages: messages`.
//! * Outputs: `text: string`, `message: object{role: string, content:
//!   string}`, `usage: object{prompt_tokens: int, completion_tokens: int,
//!   total_tokens: int}`, `finish_reason: string`, `cost: number`, and with
//!   `json: true` also `json: any`.
//!
//! The request's messages are the `system` message (when configured and not
//! empty), then the `messages` input, then the `prompt` as a `user` message.
//! Without a live `prompt` or `messages` — or with an empty `messages` list
//! and no `prompt` — the node fails with the non-retryable `llm.no_input`.
//!
//! `message` is the answer as `{role: "assistant", content: text}`, ready to
//! append to a transcript. `usage` is set only when the provider reported
//! it, `cost` only when the host reports one (prices configured). With
//! `json: true` the provider is asked for a JSON object and `json` carries
//! the answer parsed; an answer that is not valid JSON fails the node with
//! the non-retryable `llm.json`, quoting its first 200 characters.
//!
//! With `stream: true` (the default) the host streams each token as a
//! `node.emit` event on port `token` while the call runs; the outputs are
//! set only when it finishes. A failed call is a `capability.<kind>` error
//! (`timeout` and `failed` are retryable).

use weft_node_sdk::capabilities::llm;
use weft_node_sdk::prelude::*;
use weft_node_sdk::serde_json;

/// The port the host streams tokens on.
const TOKEN_PORT: &str = "token";

/// `llm.chat`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A provider name from the host configuration, e.g. `local-litellm`.
    pub provider: String,
    /// The model, as the provider names it.
    pub model: String,
    /// A system message sent before the other messages.
    #[serde(default)]
    pub system: Option<String>,
    /// Sampling temperature, 0 to 2 (the provider's default when unset).
    #[serde(default)]
    #[schemars(range(min = 0, max = 2))]
    pub temperature: Option<f64>,
    /// The most tokens the answer may have (the provider's default when
    /// unset).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_tokens: Option<u32>,
    /// Ask for a JSON object; the answer is then also output parsed, on
    /// `json` (default false).
    #[serde(default)]
    pub json: bool,
    /// Stream the answer's tokens as `node.emit` events on port `token`
    /// while the call runs (default true).
    #[serde(default = "default_stream")]
    pub stream: bool,
}

fn default_stream() -> bool {
    true
}

/// Checks what the schema cannot.
fn check(config: &Config) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if config.provider.trim().is_empty() {
        problems.push(ConfigProblem::field("provider", "must not be empty"));
    }
    if config.model.trim().is_empty() {
        problems.push(ConfigProblem::field("model", "must not be empty"));
    }
    if let Some(t) = config.temperature
        && !(0.0..=2.0).contains(&t)
    {
        problems.push(ConfigProblem::field(
            "temperature",
            format!("must be between 0 and 2, got {t}"),
        ));
    }
    if config.max_tokens == Some(0) {
        problems.push(ConfigProblem::field("max_tokens", "must be at least 1"));
    }
    problems
}

/// One element of the `messages` input.
#[derive(Debug, Deserialize)]
struct MessageIn {
    role: String,
    content: String,
}

/// Builds the chat request from the config and the (decoded) inputs.
fn build_request(
    config: &Config,
    prompt: Option<String>,
    messages: Option<Vec<MessageIn>>,
) -> Result<llm::ChatRequest, NodeError> {
    if prompt.is_none() && messages.as_ref().is_none_or(Vec::is_empty) {
        let why = if messages.is_some() {
            "the `messages` input is an empty list and there is no `prompt`"
        } else {
            "neither the `prompt` nor the `messages` input has a value"
        };
        return Err(NodeError::new(
            "llm.no_input",
            format!("llm.chat needs a prompt or messages: {why}"),
        )
        .fatal());
    }
    let mut all = Vec::new();
    if let Some(system) = config.system.as_deref().filter(|s| !s.is_empty()) {
        all.push(llm::Message {
            role: "system".to_owned(),
            content: system.to_owned(),
        });
    }
    all.extend(messages.into_iter().flatten().map(|m| llm::Message {
        role: m.role,
        content: m.content,
    }));
    if let Some(prompt) = prompt {
        all.push(llm::Message {
            role: "user".to_owned(),
            content: prompt,
        });
    }
    Ok(llm::ChatRequest {
        provider: config.provider.clone(),
        model: config.model.clone(),
        messages: all,
        temperature: config.temperature.map(|t| t as f32),
        max_tokens: config.max_tokens,
        json_mode: config.json,
        stream_port: config.stream.then(|| TOKEN_PORT.to_owned()),
    })
}

/// The first `n` characters of `text`, with `…` when cut.
fn excerpt(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Maps the provider's answer to the node's outputs.
fn map_response(config: &Config, response: llm::ChatResponse) -> Result<Outputs, NodeError> {
    let mut outputs = Outputs::new();
    if config.json {
        let parsed: Value = serde_json::from_str(&response.text).map_err(|e| {
            NodeError::new(
                "llm.json",
                format!(
                    "the model's answer is not valid JSON ({e}): {:?}",
                    excerpt(&response.text, 200)
                ),
            )
            .fatal()
        })?;
        outputs.insert_value("json", parsed);
    }
    if let Some(usage) = response.usage {
        outputs.insert(
            "usage",
            json!({
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            }),
        );
    }
    if let Some(cost) = response.cost.filter(|c| c.is_finite()) {
        outputs.insert("cost", cost);
    }
    outputs.insert(
        "message",
        json!({"role": "assistant", "content": response.text}),
    );
    outputs.insert("finish_reason", response.finish_reason);
    outputs.insert("text", response.text);
    Ok(outputs)
}

/// The `llm.chat` node.
#[derive(Debug)]
pub struct Chat;

impl Node for Chat {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "llm.chat",
        version: "1.0.0",
        summary: "Asks a chat model (a provider from the host configuration) and outputs its answer",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        let problems = check(config);
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut spec = Spec::new()
            .input(
                Port::new("prompt", "string")
                    .optional()
                    .description("Sent last, as a user message"),
            )
            .input(
                Port::new("messages", "messages")
                    .optional()
                    .description("The conversation so far, sent after the system message"),
            )
            .output(Port::new("text", "string").description("The answer"))
            .output(
                Port::new("message", "object{role: string, content: string}")
                    .description("The answer as an assistant message"),
            )
            .output(
                Port::new(
                    "usage",
                    "object{prompt_tokens: int, completion_tokens: int, total_tokens: int}",
                )
                .description("Token counts (set only when the provider reports them)"),
            )
            .output(
                Port::new("finish_reason", "string")
                    .description("Why the answer ended, e.g. `stop` or `length`"),
            )
            .output(
                Port::new("cost", "number")
                    .description("The call's cost (set only when the host reports one)"),
            );
        if config.json {
            spec = spec.output(Port::new("json", "any").description("The answer, parsed as JSON"));
        }
        Ok(spec.uses(Capability::Llm, config.provider.clone()))
    }

    fn run(ctx: &Context<Config>, inputs: Inputs) -> Result<Outputs, NodeError> {
        if let Some(problem) = check(&ctx.config).into_iter().next() {
            return Err(problem.into());
        }
        let prompt = inputs.opt::<String>("prompt")?;
        let messages = inputs.opt::<Vec<MessageIn>>("messages")?;
        let request = build_request(&ctx.config, prompt, messages)?;
        ctx.log_debug(format!(
            "{} / {}: {} message(s)",
            request.provider,
            request.model,
            request.messages.len()
        ));
        let response = ctx.llm_chat(&request)?;
        map_response(&ctx.config, response)
    }
}

weft_node_sdk::export_node!(Chat);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    fn config(value: Value) -> Config {
        serde_json::from_value(value).unwrap()
    }

    fn msg(role: &str, content: &str) -> MessageIn {
        MessageIn {
            role: role.into(),
            content: content.into(),
        }
    }

    fn roles(request: &llm::ChatRequest) -> Vec<(&str, &str)> {
        request
            .messages
            .iter()
            .map(|m| (m.role.as_str(), m.content.as_str()))
            .collect()
    }

    fn answer(text: &str, usage: bool, cost: Option<f64>) -> llm::ChatResponse {
        llm::ChatResponse {
            text: text.into(),
            finish_reason: "stop".into(),
            usage: usage.then_some(llm::Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
                total_tokens: 15,
            }),
            cost,
        }
    }

    #[test]
    fn describes_ports() {
        let spec = testing::describe::<Chat>(json!({"provider": "p", "model": "m"})).unwrap();
        let inputs: Vec<_> = spec
            .inputs
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str(), p.required))
            .collect();
        assert_eq!(
            inputs,
            [("prompt", "string", false), ("messages", "messages", false)]
        );
        let outputs: Vec<_> = spec.outputs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            outputs,
            ["text", "message", "usage", "finish_reason", "cost"]
        );
        assert_eq!(spec.capabilities, [Capability::Llm]);
        assert_eq!(spec.uses, [(Capability::Llm, "p".to_string())]);
        for port in &spec.outputs {
            port.ty
                .parse::<weft_node_sdk::types::Type>()
                .unwrap_or_else(|e| panic!("{}: {e}", port.ty));
        }
        let spec = testing::describe::<Chat>(json!({"provider": "p", "model": "m", "json": true}))
            .unwrap();
        assert_eq!(spec.outputs.last().unwrap().name, "json");
    }

    #[test]
    fn config_problems() {
        let problems = testing::describe::<Chat>(
            json!({"provider": " ", "model": "", "temperature": 2.5, "max_tokens": 0}),
        )
        .unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/provider", "/model", "/temperature", "/max_tokens"]
        );
        let problems = testing::describe::<Chat>(json!({"provider": "p"})).unwrap_err();
        assert!(problems[0].message.contains("model"), "{problems:?}");
        let problems = testing::describe::<Chat>(json!({"provider": "p", "model": "m", "temp": 1}))
            .unwrap_err();
        assert_eq!(problems[0].path, "/temp");
        assert!(
            testing::describe::<Chat>(json!({"provider": "p", "model": "m", "temperature": 0}))
                .is_ok()
        );
        let schema = testing::config_schema::<Chat>();
        assert_eq!(schema["properties"]["temperature"]["maximum"], 2);
        assert_eq!(schema["properties"]["stream"]["default"], true);
    }

    #[test]
    fn builds_requests() {
        let c = config(json!({"provider": "p", "model": "m", "system": "Be brief.",
                              "temperature": 0.5, "max_tokens": 100}));
        let request = build_request(
            &c,
            Some("And now?".into()),
            Some(vec![msg("user", "Hi"), msg("assistant", "Hello")]),
        )
        .unwrap();
        assert_eq!(
            roles(&request),
            [
                ("system", "Be brief."),
                ("user", "Hi"),
                ("assistant", "Hello"),
                ("user", "And now?")
            ]
        );
        assert_eq!(
            (request.provider.as_str(), request.model.as_str()),
            ("p", "m")
        );
        assert_eq!(request.temperature, Some(0.5));
        assert_eq!(request.max_tokens, Some(100));
        assert!(!request.json_mode);
        assert_eq!(request.stream_port.as_deref(), Some("token"));

        let c = config(
            json!({"provider": "p", "model": "m", "stream": false, "json": true,
                              "system": ""}),
        );
        let request = build_request(&c, Some("x".into()), None).unwrap();
        assert_eq!(roles(&request), [("user", "x")]);
        assert_eq!(request.stream_port, None);
        assert!(request.json_mode);
        assert_eq!(request.temperature, None);
        let request = build_request(&c, None, Some(vec![msg("user", "y")])).unwrap();
        assert_eq!(roles(&request), [("user", "y")]);

        for messages in [None, Some(vec![])] {
            let e = build_request(&c, None, messages).unwrap_err();
            assert_eq!((e.code(), e.is_retryable()), ("llm.no_input", false));
        }
    }

    #[test]
    fn maps_answers() {
        let c = config(json!({"provider": "p", "model": "m"}));
        let outputs = map_response(&c, answer("Hello!", true, Some(0.25))).unwrap();
        assert_eq!(outputs.get("text"), Some(&json!("Hello!")));
        assert_eq!(
            outputs.get("message"),
            Some(&json!({"role": "assistant", "content": "Hello!"}))
        );
        assert_eq!(
            outputs.get("usage"),
            Some(&json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}))
        );
        assert_eq!(outputs.get("finish_reason"), Some(&json!("stop")));
        assert_eq!(outputs.get("cost"), Some(&json!(0.25)));
        assert_eq!(outputs.get("json"), None);

        let outputs = map_response(&c, answer("x", false, None)).unwrap();
        assert_eq!(outputs.get("usage"), None);
        assert_eq!(outputs.get("cost"), None);

        let c = config(json!({"provider": "p", "model": "m", "json": true}));
        let outputs = map_response(&c, answer(r#"{"a": [1]}"#, false, None)).unwrap();
        assert_eq!(outputs.get("json"), Some(&json!({"a": [1]})));
        assert_eq!(outputs.get("text"), Some(&json!(r#"{"a": [1]}"#)));

        let long = format!("Sure! {}", "x".repeat(300));
        let e = map_response(&c, answer(&long, false, None)).unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("llm.json", false));
        assert!(e.message().contains("Sure! xxx"), "{e}");
        assert!(e.message().len() < 320, "{e}");
    }

    #[test]
    fn run_validates_inputs_before_the_call() {
        let c = json!({"provider": "p", "model": "m"});
        let run = testing::run::<Chat>(c.clone(), &[]);
        assert_eq!(run.error().unwrap().code(), "llm.no_input");
        let run = testing::run::<Chat>(c.clone(), &[("messages", json!([]))]);
        assert_eq!(run.error().unwrap().code(), "llm.no_input");
        let run = testing::run::<Chat>(c.clone(), &[("messages", json!([{"role": "user"}]))]);
        let e = run.error().unwrap();
        assert_eq!(e.code(), "input.type");
        assert!(
            e.message().contains("`messages`") && e.message().contains("/0"),
            "{e}"
        );
        let run = testing::run::<Chat>(c.clone(), &[("prompt", json!(1))]);
        assert_eq!(run.error().unwrap().code(), "input.type");
        // Valid inputs reach the capability, which `testing` denies.
        let run = testing::run::<Chat>(
            c,
            &[
                ("prompt", json!("hi")),
                ("messages", json!([{"role": "user", "content": "a"}])),
            ],
        );
        let e = run.error().unwrap();
        assert_eq!(e.code(), "capability.denied");
        assert!(e.message().contains("llm"), "{e}");
    }
}
