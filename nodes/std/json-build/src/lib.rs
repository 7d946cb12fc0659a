//! `json.build`: builds an object from typed inputs.
//!
//! * Config: `{fields: {name: type}}`, e.g.
//!   `{"fields": {"name": "string", "age?": "int"}}`. A name ending in `?`
//!   is optional. Names are port names (a letter or `_`, then letters,
//!   digits, `_` or `-`); types are Weft types.
//! * Inputs: one per field, in config order, with the field's type; required
//!   unless the name ends in `?`.
//! * Output: `value: object{name: string, age?: int}` listing the fields
//!   (plain `object` when there are none).
//!
//! The object's keys follow the config's order; an optional field without a
//! live input is omitted (a live `null` is kept).

use weft_node_sdk::json::pointer_of;
use weft_node_sdk::prelude::*;
use weft_node_sdk::serde_json::Map;
use weft_node_sdk::types::{Field, Type, is_port_name};

/// `json.build`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The object's fields: name (with a trailing `?` when optional) → Weft
    /// type, e.g. `{"name": "string", "age?": "int"}`.
    pub fields: OrderedMap<String>,
}

/// Checks the config and returns the fields, in order.
fn fields(config: &Config) -> Result<Vec<Field>, Vec<ConfigProblem>> {
    let mut fields: Vec<Field> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut problems = Vec::new();
    for (key, ty) in config.fields.iter() {
        let at = pointer_of(["fields", key]);
        let (name, optional) = match key.strip_suffix('?') {
            Some(name) => (name, true),
            None => (key, false),
        };
        if !is_port_name(name) {
            problems.push(ConfigProblem::new(
                at,
                format!(
                    "`{name}` is not a valid field name (a letter or `_`, then letters, digits, \
                     `_` or `-`; add `?` to make it optional)"
                ),
            ));
            continue;
        }
        if seen.contains(&name) {
            problems.push(ConfigProblem::new(
                at,
                format!("field `{name}` appears twice"),
            ));
            continue;
        }
        seen.push(name);
        match ty.parse::<Type>() {
            Ok(ty) => fields.push(Field {
                name: name.to_owned(),
                optional,
                ty,
            }),
            Err(e) => problems.push(ConfigProblem::new(at, e.to_string())),
        }
    }
    if problems.is_empty() {
        Ok(fields)
    } else {
        Err(problems)
    }
}

/// The `json.build` node.
#[derive(Debug)]
pub struct Build;

impl Node for Build {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "json.build",
        version: "1.0.0",
        summary: "Builds an object from one typed input per field",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        let fields = fields(config)?;
        let mut spec = Spec::new();
        for field in &fields {
            let port = Port::new(field.name.clone(), field.ty.to_string())
                .description(format!("Field `{}`", field.name));
            spec = spec.input(if field.optional {
                port.optional()
            } else {
                port
            });
        }
        let output = if fields.is_empty() {
            Type::Object(None)
        } else {
            Type::Object(Some(fields))
        };
        Ok(spec.output(Port::new("value", output.to_string()).description("The built object")))
    }

    fn run(ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        let fields =
            fields(&ctx.config).map_err(|mut problems| NodeError::from(problems.remove(0)))?;
        let mut object = Map::with_capacity(fields.len());
        for field in fields {
            match inputs.take_value(&field.name) {
                Some(value) => {
                    object.insert(field.name, value);
                }
                None if field.optional => {}
                None => {
                    inputs.require(&field.name)?;
                }
            }
        }
        Ok(Outputs::new().set_value("value", Value::Object(object)))
    }
}

weft_node_sdk::export_node!(Build);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    #[test]
    fn describes_fields() {
        let spec = testing::describe::<Build>(
            json!({"fields": {"name": "string", "age?": " int", "tags": "list<string>"}}),
        )
        .unwrap();
        let inputs: Vec<_> = spec
            .inputs
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str(), p.required))
            .collect();
        assert_eq!(
            inputs,
            [
                ("name", "string", true),
                ("age", "int", false),
                ("tags", "list<string>", true)
            ]
        );
        assert_eq!(
            spec.outputs[0].ty,
            "object{name: string, age?: int, tags: list<string>}"
        );
        let empty = testing::describe::<Build>(json!({"fields": {}})).unwrap();
        assert_eq!(empty.outputs[0].ty, "object");
    }

    #[test]
    fn reports_bad_fields() {
        let problems = testing::describe::<Build>(
            json!({"fields": {"a": "strng", "b c": "int", "a?": "int", "x/y": "int"}}),
        )
        .unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/fields/a", "/fields/b c", "/fields/a?", "/fields/x~1y"]
        );
        assert!(
            testing::describe::<Build>(json!({"fields": {"a": 1}})).unwrap_err()[0].path
                == "/fields/a"
        );
    }

    #[test]
    fn builds() {
        let config = json!({"fields": {"name": "string", "age?": "int", "note?": "any"}});
        let run = testing::run::<Build>(config, &[("note", json!(null)), ("name", json!("Ada"))]);
        let value = run.output("value").unwrap();
        assert_eq!(value, &json!({"name": "Ada", "note": null}));
        assert_eq!(
            weft_node_sdk::json::compact(value),
            r#"{"name":"Ada","note":null}"#
        );
    }
}
