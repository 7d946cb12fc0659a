//! `text.template`: renders a template with `{{ var }}` placeholders.
//!
//! * Config: `{template: string}`.
//! * Inputs: one required `any` input per distinct top-level variable, in
//!   order of first use (`{{ user.name }}` and `{{ user.id }}` both read
//!   input `user`).
//! * Output: `text: string`.
//!
//! A placeholder is `{{ path }}` with optional whitespace inside the braces;
//! `path` is dotted (`user.name`, `items.0`). Strings render raw, `null` as
//! nothing, every other value as compact JSON. An unclosed `{{` or an empty
//! `{{ }}` is a config problem at `/template` naming the character offset; a
//! dotted path missing from its input at run time fails the run with the
//! non-retryable error `template.missing`.

use weft_node_sdk::json::{Path, compact};
use weft_node_sdk::prelude::*;
use weft_node_sdk::types::is_port_name;

/// `text.template`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The template: text with `{{ var }}` or `{{ var.path.0 }}` placeholders.
    pub template: String,
}

/// One piece of a parsed template.
#[derive(Debug, PartialEq)]
enum Piece<'t> {
    Text(&'t str),
    /// A placeholder: its dotted path (first segment = input port).
    Var(Path),
}

/// Parses `template`, or returns every problem found (messages name the
/// character offset of the placeholder).
fn parse(template: &str) -> Result<Vec<Piece<'_>>, Vec<String>> {
    let char_offset = |byte: usize| template[..byte].chars().count();
    let mut pieces = Vec::new();
    let mut problems = Vec::new();
    let mut pos = 0;
    while let Some(found) = template[pos..].find("{{") {
        let open = pos + found;
        if open > pos {
            pieces.push(Piece::Text(&template[pos..open]));
        }
        let Some(len) = template[open + 2..].find("}}") else {
            problems.push(format!(
                "unclosed `{{{{` at character {}",
                char_offset(open)
            ));
            return Err(problems);
        };
        let inner = template[open + 2..open + 2 + len].trim();
        let at = char_offset(open);
        if inner.is_empty() {
            problems.push(format!("empty `{{{{ }}}}` at character {at}"));
        } else {
            match Path::dotted(inner) {
                Err(e) => problems.push(format!("invalid placeholder at character {at}: {e}")),
                Ok(path) => {
                    let top = &path.segments()[0];
                    if is_port_name(top) {
                        pieces.push(Piece::Var(path));
                    } else {
                        problems.push(format!(
                            "`{top}` at character {at} is not a valid variable name \
                             (a letter or `_`, then letters, digits, `_` or `-`)"
                        ));
                    }
                }
            }
        }
        pos = open + 2 + len + 2;
    }
    if pos < template.len() {
        pieces.push(Piece::Text(&template[pos..]));
    }
    if problems.is_empty() {
        Ok(pieces)
    } else {
        Err(problems)
    }
}

/// The distinct top-level variables, in order of first use.
fn variables<'p>(pieces: &'p [Piece<'_>]) -> Vec<&'p str> {
    let mut names: Vec<&str> = Vec::new();
    for piece in pieces {
        if let Piece::Var(path) = piece {
            let top = path.segments()[0].as_str();
            if !names.contains(&top) {
                names.push(top);
            }
        }
    }
    names
}

/// The `text.template` node.
#[derive(Debug)]
pub struct Template;

impl Node for Template {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "text.template",
        version: "1.0.0",
        summary: "Renders a text template with {{ var }} placeholders filled from its inputs",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        let pieces = parse(&config.template).map_err(|problems| {
            problems
                .into_iter()
                .map(|m| ConfigProblem::field("template", m))
                .collect::<Vec<_>>()
        })?;
        let mut spec = Spec::new();
        for name in variables(&pieces) {
            spec = spec
                .input(Port::new(name, "any").description(format!("Value for {{{{ {name} }}}}")));
        }
        Ok(spec.output(Port::new("text", "string").description("The rendered text")))
    }

    fn run(ctx: &Context<Config>, inputs: Inputs) -> Result<Outputs, NodeError> {
        let template = &ctx.config.template;
        let pieces = parse(template)
            .map_err(|problems| ConfigProblem::field("template", problems.join("; ")))?;
        let mut text = String::with_capacity(template.len());
        for piece in &pieces {
            match piece {
                Piece::Text(t) => text.push_str(t),
                Piece::Var(path) => {
                    let Some((top, rest)) = path.split_first() else {
                        continue;
                    };
                    let value = rest.lookup(inputs.require(top)?).map_err(|missing| {
                        NodeError::new(
                            "template.missing",
                            format!(
                                "template variable `{path}` not found: `{}` is {}",
                                path.prefix_text(missing.found + 1),
                                missing.reason
                            ),
                        )
                        .fatal()
                    })?;
                    match value {
                        Value::String(s) => text.push_str(s),
                        Value::Null => {}
                        other => text.push_str(&compact(other)),
                    }
                }
            }
        }
        Ok(Outputs::new().set("text", text))
    }
}

weft_node_sdk::export_node!(Template);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    #[test]
    fn describes_one_input_per_variable() {
        let spec = testing::describe::<Template>(
            json!({"template": "Hi {{user.name}}, {{ n }} {{ user.id }}{{x}}"}),
        )
        .unwrap();
        let names: Vec<_> = spec.inputs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["user", "n", "x"]);
        assert!(spec.inputs.iter().all(|p| p.ty == "any" && p.required));
        assert_eq!(spec.outputs[0].name, "text");
    }

    #[test]
    fn reports_bad_placeholders() {
        let problems =
            testing::describe::<Template>(json!({"template": "ab {{ x }} é{{ y"})).unwrap_err();
        assert_eq!(problems[0].path, "/template");
        assert!(problems[0].message.contains("character 12"), "{problems:?}");
        let problems =
            testing::describe::<Template>(json!({"template": "{{ }} {{a..b}}"})).unwrap_err();
        assert!(
            problems[0].message.contains("empty") && problems[0].message.contains("character 0")
        );
        assert!(problems[1].message.contains("character 6"), "{problems:?}");
    }

    #[test]
    fn renders() {
        let run = testing::run::<Template>(
            json!({"template": "{{ s }}|{{n}}|{{ o }}|{{ z }}|{{ o.items.1 }}|{{o.name}}"}),
            &[
                ("s", json!("raw \"text\"")),
                ("n", json!(1.5)),
                ("o", json!({"items": [1, {"a": true}], "name": "x"})),
                ("z", json!(null)),
            ],
        );
        assert_eq!(
            run.output("text"),
            Some(&json!(
                r#"raw "text"|1.5|{"items":[1,{"a":true}],"name":"x"}||{"a":true}|x"#
            ))
        );
    }

    #[test]
    fn missing_path_is_fatal() {
        let run = testing::run::<Template>(
            json!({"template": "{{ user.address.city }}"}),
            &[("user", json!({"address": {}}))],
        );
        let e = run.error().unwrap();
        assert_eq!(e.code(), "template.missing");
        assert!(!e.is_retryable());
        assert!(
            e.message().contains("user.address.city") && e.message().contains("`user.address`"),
            "{e}"
        );
    }
}
