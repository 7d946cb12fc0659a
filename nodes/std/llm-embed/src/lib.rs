//! `llm.embed`: text embeddings through a provider from the host's
//! configuration (capability `embeddings`).
//!
//! * Config: `{provider: string, model: string}`.
//! * Inputs (both optional, at least one live at run time): `text: string`,
//!   `texts: list<string>`.
//! * Outputs: `embedding: embedding` (set when `text` is live),
//!   `embeddings: list<embedding>` (set when `texts` is live, in the same
//!   order), `usage: object{prompt_tokens: int, completion_tokens: int,
//!   total_tokens: int}` (set only when the provider reported it).
//!
//! Everything is embedded with one capability call (`text` first, then
//! `texts`). An empty `texts` list gives an empty `embeddings` list; when
//! nothing is left to embed the host is not called at all. Without a live
//! `text` or `texts` the node fails with the non-retryable `llm.no_input`.
//! If the host answers with a different number of vectors than texts, or
//! with an empty vector or one holding a non-finite number, the node fails
//! with the retryable `llm.embedding`. A failed call is a
//! `capability.<kind>` error (`timeout` and `failed` are retryable).

use weft_node_sdk::capabilities::{embeddings, llm};
use weft_node_sdk::prelude::*;
use weft_node_sdk::serde_json::Number;

/// `llm.embed`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A provider name from the host configuration, e.g. `local-litellm`.
    pub provider: String,
    /// The embedding model, as the provider names it.
    pub model: String,
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
    problems
}

/// What one run embeds.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    /// The texts, in request order: `text` (if live), then `texts`.
    inputs: Vec<String>,
    /// Whether `text` was live (it is then `inputs[0]`).
    single: bool,
    /// Whether `texts` was live.
    batch: bool,
}

/// Plans the run from the decoded inputs.
fn plan_run(text: Option<String>, texts: Option<Vec<String>>) -> Result<Plan, NodeError> {
    if text.is_none() && texts.is_none() {
        return Err(NodeError::new(
            "llm.no_input",
            "llm.embed needs a live `text` or `texts` input",
        )
        .fatal());
    }
    let single = text.is_some();
    let batch = texts.is_some();
    let inputs = text
        .into_iter()
        .chain(texts.into_iter().flatten())
        .collect();
    Ok(Plan {
        inputs,
        single,
        batch,
    })
}

/// The request for `plan`, or `None` when there is nothing to embed.
fn build_request(config: &Config, plan: &Plan) -> Option<embeddings::EmbedRequest> {
    (!plan.inputs.is_empty()).then(|| embeddings::EmbedRequest {
        provider: config.provider.clone(),
        model: config.model.clone(),
        inputs: plan.inputs.clone(),
    })
}

/// An `f32` as a JSON number with its shortest decimal form (`0.1`, not
/// `0.10000000149011612`).
fn number(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// A vector as a JSON list, or why it is unusable.
fn vector_json(vector: &[f32], index: usize) -> Result<Value, NodeError> {
    if vector.is_empty() {
        return Err(NodeError::new(
            "llm.embedding",
            format!("the provider returned an empty vector for text {index}"),
        ));
    }
    if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
        return Err(NodeError::new(
            "llm.embedding",
            format!("the vector for text {index} holds a non-finite number at {i}"),
        ));
    }
    Ok(Value::Array(vector.iter().copied().map(number).collect()))
}

/// Token counts as the `usage` output.
fn usage_json(usage: &llm::Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    })
}

/// Maps the host's answer (`None` when it was not called) to the outputs.
fn map_response(
    plan: &Plan,
    response: Option<embeddings::EmbedResponse>,
) -> Result<Outputs, NodeError> {
    let (vectors, usage) = match response {
        Some(r) => (r.vectors, r.usage),
        None => (Vec::new(), None),
    };
    if vectors.len() != plan.inputs.len() {
        return Err(NodeError::new(
            "llm.embedding",
            format!(
                "the provider returned {} vector(s) for {} text(s)",
                vectors.len(),
                plan.inputs.len()
            ),
        ));
    }
    let mut vectors = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| vector_json(v, i))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let mut outputs = Outputs::new();
    if plan.single
        && let Some(first) = vectors.next()
    {
        outputs.insert_value("embedding", first);
    }
    if plan.batch {
        outputs.insert_value("embeddings", Value::Array(vectors.collect()));
    }
    if let Some(usage) = usage {
        outputs.insert_value("usage", usage_json(&usage));
    }
    Ok(outputs)
}

/// The `llm.embed` node.
#[derive(Debug)]
pub struct Embed;

impl Node for Embed {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "llm.embed",
        version: "1.0.0",
        summary: "Embeds a text or a list of texts with an embedding model (one batched call)",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        let problems = check(config);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Spec::new()
            .input(
                Port::new("text", "string")
                    .optional()
                    .description("One text to embed"),
            )
            .input(
                Port::new("texts", "list<string>")
                    .optional()
                    .description("Texts to embed, in one batch"),
            )
            .output(
                Port::new("embedding", "embedding")
                    .description("The embedding of `text` (set when `text` is live)"),
            )
            .output(
                Port::new("embeddings", "list<embedding>")
                    .description("The embeddings of `texts`, in order (set when `texts` is live)"),
            )
            .output(
                Port::new(
                    "usage",
                    "object{prompt_tokens: int, completion_tokens: int, total_tokens: int}",
                )
                .description("Token counts (set only when the provider reports them)"),
            )
            .uses(Capability::Embeddings, config.provider.clone()))
    }

    fn run(ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        if let Some(problem) = check(&ctx.config).into_iter().next() {
            return Err(problem.into());
        }
        let text = inputs.opt::<String>("text")?;
        let texts = if inputs.value("texts").is_some_and(|v| !v.is_null()) {
            Some(inputs.take::<Vec<String>>("texts")?)
        } else {
            None
        };
        let plan = plan_run(text, texts)?;
        let response = match build_request(&ctx.config, &plan) {
            Some(request) => {
                ctx.log_debug(format!(
                    "{} / {}: {} text(s)",
                    request.provider,
                    request.model,
                    request.inputs.len()
                ));
                Some(ctx.embed(&request)?)
            }
            None => None,
        };
        map_response(&plan, response)
    }
}

weft_node_sdk::export_node!(Embed);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    fn config() -> Config {
        Config {
            provider: "p".into(),
            model: "m".into(),
        }
    }

    fn response(vectors: Vec<Vec<f32>>, usage: bool) -> embeddings::EmbedResponse {
        embeddings::EmbedResponse {
            vectors,
            usage: usage.then_some(llm::Usage {
                prompt_tokens: 7,
                completion_tokens: 0,
                total_tokens: 7,
            }),
        }
    }

    #[test]
    fn describes_ports() {
        let spec = testing::describe::<Embed>(json!({"provider": "p", "model": "m"})).unwrap();
        let inputs: Vec<_> = spec
            .inputs
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str(), p.required))
            .collect();
        assert_eq!(
            inputs,
            [("text", "string", false), ("texts", "list<string>", false)]
        );
        let outputs: Vec<_> = spec
            .outputs
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str()))
            .collect();
        assert_eq!(
            outputs,
            [
                ("embedding", "embedding"),
                ("embeddings", "list<embedding>"),
                (
                    "usage",
                    "object{prompt_tokens: int, completion_tokens: int, total_tokens: int}"
                )
            ]
        );
        assert_eq!(spec.capabilities, [Capability::Embeddings]);
    }

    #[test]
    fn config_problems() {
        let problems =
            testing::describe::<Embed>(json!({"provider": "", "model": " "})).unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/provider", "/model"]);
        let problems =
            testing::describe::<Embed>(json!({"provider": "p", "model": "m", "dims": 3}))
                .unwrap_err();
        assert_eq!(problems[0].path, "/dims");
        assert!(testing::describe::<Embed>(json!({"model": "m"})).is_err());
    }

    #[test]
    fn batches_in_order() {
        let plan = plan_run(Some("a".into()), Some(vec!["b".into(), "c".into()])).unwrap();
        let request = build_request(&config(), &plan).unwrap();
        assert_eq!(request.inputs, ["a", "b", "c"]);
        assert_eq!(
            (request.provider.as_str(), request.model.as_str()),
            ("p", "m")
        );
        let outputs = map_response(
            &plan,
            Some(response(
                vec![vec![0.1, 0.2], vec![1.0, -1.0], vec![0.5, 0.25]],
                true,
            )),
        )
        .unwrap();
        assert_eq!(outputs.get("embedding"), Some(&json!([0.1, 0.2])));
        assert_eq!(
            outputs.get("embeddings"),
            Some(&json!([[1.0, -1.0], [0.5, 0.25]]))
        );
        assert_eq!(
            outputs.get("usage"),
            Some(&json!({"prompt_tokens": 7, "completion_tokens": 0, "total_tokens": 7}))
        );

        let plan = plan_run(None, Some(vec!["x".into()])).unwrap();
        let outputs = map_response(&plan, Some(response(vec![vec![3.0]], false))).unwrap();
        assert_eq!(outputs.get("embedding"), None);
        assert_eq!(outputs.get("embeddings"), Some(&json!([[3.0]])));
        assert_eq!(outputs.get("usage"), None);

        let plan = plan_run(Some("only".into()), None).unwrap();
        let outputs = map_response(&plan, Some(response(vec![vec![1.5]], false))).unwrap();
        assert_eq!(outputs.get("embedding"), Some(&json!([1.5])));
        assert_eq!(outputs.get("embeddings"), None);
    }

    #[test]
    fn empty_batch_skips_the_host() {
        let plan = plan_run(None, Some(vec![])).unwrap();
        assert!(build_request(&config(), &plan).is_none());
        let outputs = map_response(&plan, None).unwrap();
        assert_eq!(outputs.get("embeddings"), Some(&json!([])));
        assert_eq!(outputs.get("embedding"), None);
        // Through the node: no capability call, so no `denied` error.
        let run = testing::run::<Embed>(
            json!({"provider": "p", "model": "m"}),
            &[("texts", json!([]))],
        );
        assert_eq!(run.output("embeddings"), Some(&json!([])));
        assert_eq!(run.ports(), ["embeddings"]);
    }

    #[test]
    fn bad_answers() {
        let plan = plan_run(None, Some(vec!["a".into(), "b".into()])).unwrap();
        for vectors in [
            vec![vec![1.0]],
            vec![vec![1.0], vec![]],
            vec![vec![1.0], vec![f32::NAN]],
        ] {
            let e = map_response(&plan, Some(response(vectors, false))).unwrap_err();
            assert_eq!((e.code(), e.is_retryable()), ("llm.embedding", true));
        }
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(0.1), json!(0.1));
        assert_eq!(number(-2.5e-8), json!(-2.5e-8));
        assert_eq!(number(1.0), json!(1.0));
        assert_eq!(number(f32::MAX).as_f64().map(|x| x as f32), Some(f32::MAX));
    }

    #[test]
    fn run_validates_inputs() {
        let c = json!({"provider": "p", "model": "m"});
        let run = testing::run::<Embed>(c.clone(), &[]);
        let e = run.error().unwrap();
        assert_eq!((e.code(), e.is_retryable()), ("llm.no_input", false));
        let run = testing::run::<Embed>(c.clone(), &[("texts", json!(["a", 1]))]);
        let e = run.error().unwrap();
        assert_eq!(e.code(), "input.type");
        assert!(
            e.message().contains("`texts`") && e.message().contains("/1"),
            "{e}"
        );
        let run = testing::run::<Embed>(c, &[("text", json!("a"))]);
        assert_eq!(run.error().unwrap().code(), "capability.denied");
    }
}
