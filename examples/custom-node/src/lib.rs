//! `acme.slugify`: turns a title into a URL slug. An example of a custom
//! Weft node: a plain Rust function plus a description, exported as a
//! WebAssembly component by `weft-node-sdk`.
//!
//! * Config: `{separator?: string (default "-"), max_length?: int}`.
//! * Input: `text: string`. Output: `slug: string`.

use weft_node_sdk::prelude::*;

/// The node's configuration; its JSON Schema is generated from this type
/// and enforced by the host before the node ever runs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What joins the words (default `-`).
    #[serde(default = "default_separator")]
    pub separator: String,
    /// Cut the slug to at most this many characters (at a word boundary).
    #[serde(default)]
    pub max_length: Option<u32>,
}

fn default_separator() -> String {
    "-".into()
}

/// The plain function the node wraps.
pub fn slugify(text: &str, separator: &str, max_length: Option<usize>) -> String {
    let mut slug = String::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        let extra = if slug.is_empty() {
            0
        } else {
            separator.chars().count()
        };
        if let Some(max) = max_length
            && slug.chars().count() + extra + word.chars().count() > max
        {
            break;
        }
        if !slug.is_empty() {
            slug.push_str(separator);
        }
        slug.push_str(&word);
    }
    slug
}

/// The node: its description and how it runs.
#[derive(Debug)]
pub struct Slugify;

impl Node for Slugify {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "acme.slugify",
        version: "1.0.0",
        summary: "Turns a title into a URL slug",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        if config.separator.is_empty() {
            return Err(vec![ConfigProblem::field("separator", "must not be empty")]);
        }
        Ok(Spec::new()
            .input(Port::new("text", "string").description("The title"))
            .output(
                Port::new("slug", "string").description("Lower-case words joined by the separator"),
            ))
    }

    fn run(ctx: &Context<Config>, inputs: Inputs) -> Result<Outputs, NodeError> {
        let text: String = inputs.get("text")?;
        let max = ctx.config.max_length.map(|m| m as usize);
        Ok(Outputs::new().set("slug", slugify(&text, &ctx.config.separator, max)))
    }
}

weft_node_sdk::export_node!(Slugify);
