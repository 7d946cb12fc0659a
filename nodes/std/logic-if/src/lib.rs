//! `logic.if`: sends its input to the `true` or the `false` output.
//!
//! * Config: `{path?: string, op: string, operand?: any}`.
//! * Input: `value: any`.
//! * Outputs: `true: any` and `false: any`. The input value (all of it, not
//!   just the part at `path`) goes to exactly one of them; the other stays
//!   unset, so the branch behind it is dead for the run.
//!
//! The *subject* of the test is the value at `path` inside the input (dotted,
//! `a.0.b`, or a JSON pointer, `/a/0/b`); without `path` it is the whole
//! input. A path that does not exist gives a `null` subject (and makes
//! `exists` false).
//!
//! | `op` | true when | operand |
//! |---|---|---|
//! | `eq` / `ne` | subject equals / does not equal operand (numbers by value: `1` = `1.0`; objects ignore key order) | any |
//! | `gt` `gte` `lt` `lte` | both numbers, or both strings (compared by code point), and the comparison holds; false otherwise | number or string |
//! | `contains` | string subject contains the operand string; list subject has an element equal to the operand; object subject has the operand as a key | any |
//! | `truthy` | subject is not `false`, `null`, `0`, `""`, `[]` or `{}` | none |
//! | `falsy` | the opposite of `truthy` | none |
//! | `exists` | the path exists and its value is not `null` | none |
//! | `matches` | string subject matches the glob operand as a whole: `*` is any run of characters, `?` one character, everything else literal (no regular expressions) | string |
//!
//! An op that needs an operand without one (or with one of the wrong kind),
//! or an op that takes none with one, is a config problem at `/operand`.

use std::cmp::Ordering;
use weft_node_sdk::json::{Path, equal};
use weft_node_sdk::prelude::*;

/// A comparison of `logic.if`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Equal (numbers by value).
    Eq,
    /// Not equal.
    Ne,
    /// Greater than (numbers or strings).
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Substring, list element or object key.
    Contains,
    /// Not `false`, `null`, `0`, `""`, `[]` or `{}`.
    Truthy,
    /// `false`, `null`, `0`, `""`, `[]` or `{}`.
    Falsy,
    /// The path exists and is not `null`.
    Exists,
    /// Whole-string glob match (`*`, `?`).
    Matches,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Contains => "contains",
            Op::Truthy => "truthy",
            Op::Falsy => "falsy",
            Op::Exists => "exists",
            Op::Matches => "matches",
        }
    }
}

/// `logic.if`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the tested value is inside the input (dotted or JSON pointer);
    /// the whole input when absent.
    #[serde(default)]
    pub path: Option<String>,
    /// The comparison.
    pub op: Op,
    /// What the value is compared with (required by every op except
    /// `truthy`, `falsy` and `exists`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Value")]
    pub operand: Option<Value>,
}

/// `Some` for any present value, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn check(config: &Config) -> Result<Path, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let path = match Path::parse(config.path.as_deref().unwrap_or("")) {
        Ok(path) => Some(path),
        Err(e) => {
            problems.push(ConfigProblem::field("path", e));
            None
        }
    };
    let op = config.op.name();
    match (config.op, &config.operand) {
        (Op::Truthy | Op::Falsy | Op::Exists, Some(_)) => {
            problems.push(ConfigProblem::field(
                "operand",
                format!("`{op}` takes no operand"),
            ));
        }
        (Op::Truthy | Op::Falsy | Op::Exists, None) => {}
        (_, None) => {
            problems.push(ConfigProblem::field(
                "operand",
                format!("`{op}` needs an operand"),
            ));
        }
        (Op::Gt | Op::Gte | Op::Lt | Op::Lte, Some(v)) if !(v.is_number() || v.is_string()) => {
            problems.push(ConfigProblem::field(
                "operand",
                format!("`{op}` compares numbers or strings; the operand is neither"),
            ));
        }
        (Op::Matches, Some(v)) if !v.is_string() => {
            problems.push(ConfigProblem::field(
                "operand",
                "`matches` needs a string glob pattern (`*` and `?` are wildcards)",
            ));
        }
        _ => {}
    }
    match path {
        Some(path) if problems.is_empty() => Ok(path),
        _ => Err(problems),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Whole-string glob match: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Evaluates `op` on `subject` (`None` when the path does not exist).
fn test(op: Op, subject: Option<&Value>, operand: Option<&Value>) -> bool {
    let null = Value::Null;
    let s = subject.unwrap_or(&null);
    let o = operand.unwrap_or(&null);
    match op {
        Op::Eq => equal(s, o),
        Op::Ne => !equal(s, o),
        Op::Gt => compare(s, o) == Some(Ordering::Greater),
        Op::Gte => matches!(compare(s, o), Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => compare(s, o) == Some(Ordering::Less),
        Op::Lte => matches!(compare(s, o), Some(Ordering::Less | Ordering::Equal)),
        Op::Contains => match (s, o) {
            (Value::String(s), Value::String(o)) => s.contains(o.as_str()),
            (Value::Array(items), o) => items.iter().any(|item| equal(item, o)),
            (Value::Object(map), Value::String(key)) => map.contains_key(key),
            _ => false,
        },
        Op::Truthy => truthy(s),
        Op::Falsy => !truthy(s),
        Op::Exists => subject.is_some_and(|v| !v.is_null()),
        Op::Matches => match (s, o) {
            (Value::String(s), Value::String(pattern)) => glob(pattern, s),
            _ => false,
        },
    }
}

/// The `logic.if` node.
#[derive(Debug)]
pub struct If;

impl Node for If {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "logic.if",
        version: "1.0.0",
        summary: "Sends its input to the true or the false branch, by a comparison",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        check(config)?;
        Ok(Spec::new()
            .input(Port::new("value", "any").description("The value to test and pass on"))
            .output(Port::new("true", "any").description("The input, when the test holds"))
            .output(Port::new("false", "any").description("The input, when the test fails")))
    }

    fn run(ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        let path = check(&ctx.config).map_err(|mut p| NodeError::from(p.remove(0)))?;
        let value = inputs
            .take_value("value")
            .ok_or_else(|| NodeError::input_missing("value"))?;
        let outcome = test(
            ctx.config.op,
            path.lookup(&value).ok(),
            ctx.config.operand.as_ref(),
        );
        let port = if outcome { "true" } else { "false" };
        Ok(Outputs::new().set_value(port, value))
    }
}

weft_node_sdk::export_node!(If);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    fn branch(config: Value, value: Value) -> Vec<String> {
        let run = testing::run::<If>(config, &[("value", value)]);
        assert!(run.error().is_none(), "{:?}", run.error());
        run.ports().into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn ops() {
        let v = json!({"n": 3, "s": "hello world", "l": [1, "a"], "o": {"k": 1}, "z": null});
        let cases = [
            (json!({"op": "eq", "path": "n", "operand": 3.0}), true),
            (json!({"op": "ne", "path": "n", "operand": 3}), false),
            (json!({"op": "gt", "path": "n", "operand": 2}), true),
            (json!({"op": "gte", "path": "/n", "operand": 3}), true),
            (json!({"op": "lt", "path": "s", "operand": "i"}), true),
            (json!({"op": "lte", "path": "s", "operand": 1}), false),
            (
                json!({"op": "contains", "path": "s", "operand": "lo w"}),
                true,
            ),
            (json!({"op": "contains", "path": "l", "operand": "a"}), true),
            (json!({"op": "contains", "path": "o", "operand": "k"}), true),
            (json!({"op": "truthy", "path": "z"}), false),
            (json!({"op": "falsy", "path": "l"}), false),
            (json!({"op": "exists", "path": "z"}), false),
            (json!({"op": "exists", "path": "o.k"}), true),
            (json!({"op": "exists", "path": "nope"}), false),
            (json!({"op": "eq", "path": "nope", "operand": null}), true),
            (
                json!({"op": "matches", "path": "s", "operand": "h?llo*"}),
                true,
            ),
            (
                json!({"op": "matches", "path": "s", "operand": "*xyz*"}),
                false,
            ),
            (json!({"op": "truthy"}), true),
        ];
        for (config, expected) in cases {
            let want = if expected { "true" } else { "false" };
            assert_eq!(branch(config.clone(), v.clone()), [want], "{config}");
        }
    }

    #[test]
    fn passes_the_whole_value() {
        let run = testing::run::<If>(
            json!({"op": "truthy", "path": "a"}),
            &[("value", json!({"a": 1}))],
        );
        assert_eq!(run.output("true"), Some(&json!({"a": 1})));
        assert_eq!(run.output("false"), None);
    }

    #[test]
    fn operand_problems() {
        for config in [
            json!({"op": "eq"}),
            json!({"op": "truthy", "operand": 1}),
            json!({"op": "gt", "operand": [1]}),
            json!({"op": "matches", "operand": 1}),
        ] {
            let problems = testing::describe::<If>(config.clone()).unwrap_err();
            assert_eq!(problems[0].path, "/operand", "{config}");
        }
        assert!(testing::describe::<If>(json!({"op": "eq", "operand": null})).is_ok());
        assert_eq!(
            testing::describe::<If>(json!({"op": "is"})).unwrap_err()[0].path,
            "/op"
        );
    }

    #[test]
    fn globs() {
        assert!(glob("", ""));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b", "aXXc"));
        assert!(glob("é?", "éx"));
    }
}
