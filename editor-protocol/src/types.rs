//! Port types: Weft's small type language.
//!
//! ```text
//! type   := "any" | "bool" | "int" | "number" | "string" | "bytes" | "json"
//!         | "embedding" | "messages"
//!         | "list<" type ">"
//!         | "object" | "object{" field ("," field)* "}"
//! field  := name "?"? ":" type
//! ```
//!
//! # Assignability (an edge `from → to` is valid when `from` is assignable to `to`)
//!
//! | from \ to          | rule |
//! |--------------------|------|
//! | anything → `any`   | yes |
//! | anything → `json`  | yes (`bytes` travel as base64 text) |
//! | `any` → anything   | yes, checked when the value arrives (the node fails with `input.type` if it does not conform) |
//! | `json` → `T`       | only `json`/`any`: `json` means "some JSON document", not "trust me" |
//! | `int` → `number`   | yes; `number` → `int` no |
//! | `string` → `number`| no: no implicit conversions between scalars |
//! | `list<A>` → `list<B>` | when `A` → `B` |
//! | `embedding` ↔ `list<number>` | yes both ways (an embedding is a list of numbers) |
//! | `messages` ↔ `list<object{role: string, content: string}>` | yes both ways |
//! | `object{…}` → `object` | yes |
//! | `object{F}` → `object{G}` | every required field of `G` is a required field of `F` with an assignable type, and every optional field of `G` present in `F` is assignable |
//! | `object` → `object{…}` | yes, checked when the value arrives (like `any`) |

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A port type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortType {
    Any,
    Bool,
    Int,
    Number,
    String,
    Bytes,
    Json,
    /// A list of numbers produced by an embedding model.
    Embedding,
    /// A chat transcript: a list of `{role, content}` objects.
    Messages,
    List(Box<PortType>),
    /// An object; `None` means any object, `Some` lists the known fields.
    Object(Option<Vec<Field>>),
}

/// One known field of an `object{…}` type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: String,
    pub ty: PortType,
    pub optional: bool,
}

/// Why a type string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeParseError {
    /// Byte offset into the type string.
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for TypeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {})", self.message, self.offset)
    }
}

impl std::error::Error for TypeParseError {}

impl PortType {
    fn messages_element() -> PortType {
        PortType::Object(Some(vec![
            Field {
                name: "role".into(),
                ty: PortType::String,
                optional: false,
            },
            Field {
                name: "content".into(),
                ty: PortType::String,
                optional: false,
            },
        ]))
    }

    /// Whether a value of type `self` may flow into a port of type `to`
    /// (see the module docs for the rules).
    pub fn is_assignable_to(&self, to: &PortType) -> bool {
        use PortType::*;
        match (self, to) {
            (_, Any) | (_, Json) | (Any, _) => true,
            (Json, _) => false,
            (Int, Number) => true,
            (List(a), List(b)) => a.is_assignable_to(b),
            (Embedding, List(b)) => Number.is_assignable_to(b),
            (List(a), Embedding) => a.is_assignable_to(&Number),
            (Messages, List(b)) => Self::messages_element().is_assignable_to(b),
            (List(a), Messages) => a.is_assignable_to(&Self::messages_element()),
            (Object(_), Object(None)) => true,
            (Object(None), Object(Some(_))) => true,
            (Object(Some(from)), Object(Some(to))) => {
                to.iter()
                    .all(|want| match from.iter().find(|f| f.name == want.name) {
                        Some(have) => {
                            (want.optional || !have.optional) && have.ty.is_assignable_to(&want.ty)
                        }
                        None => want.optional,
                    })
            }
            (a, b) => a == b,
        }
    }

    /// Whether an edge into a port of this type needs its value checked at
    /// run time because the source type is not precise enough.
    pub fn needs_runtime_check(from: &PortType, to: &PortType) -> bool {
        use PortType::*;
        match (from, to) {
            (_, Any) | (_, Json) => false,
            (Any, _) => true,
            (Object(None), Object(Some(_))) => true,
            (List(a), List(b)) => Self::needs_runtime_check(a, b),
            (List(a), Embedding) => Self::needs_runtime_check(a, &Number),
            (List(a), Messages) => Self::needs_runtime_check(a, &Self::messages_element()),
            (Object(Some(f)), Object(Some(t))) => t.iter().any(|want| {
                f.iter()
                    .find(|have| have.name == want.name)
                    .is_some_and(|have| Self::needs_runtime_check(&have.ty, &want.ty))
            }),
            _ => false,
        }
    }

    /// The type of the value found by following `segments` (object keys or
    /// list indices) into a value of this type. Unknown structure gives `any`;
    /// a path that can never exist gives `None`.
    pub fn project(&self, segments: &[String]) -> Option<PortType> {
        let Some((first, rest)) = segments.split_first() else {
            return Some(self.clone());
        };
        match self {
            PortType::Any | PortType::Json | PortType::Object(None) => Some(PortType::Any),
            PortType::Object(Some(fields)) => fields
                .iter()
                .find(|f| &f.name == first)
                .and_then(|f| f.ty.project(rest)),
            PortType::List(inner) if first.parse::<usize>().is_ok() => inner.project(rest),
            PortType::Embedding if first.parse::<usize>().is_ok() && rest.is_empty() => {
                Some(PortType::Number)
            }
            PortType::Messages if first.parse::<usize>().is_ok() => {
                Self::messages_element().project(rest)
            }
            _ => None,
        }
    }

    /// Checks that a JSON value conforms to this type; the error says where
    /// (a JSON pointer relative to the value) and what was expected.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        self.check_at(value, &mut String::new())
    }

    fn check_at(&self, value: &Value, at: &mut String) -> Result<(), String> {
        let ok = match (self, value) {
            (PortType::Any | PortType::Json, _) => true,
            (PortType::Bool, Value::Bool(_)) => true,
            (PortType::Int, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (PortType::Number, Value::Number(_)) => true,
            (PortType::String | PortType::Bytes, Value::String(_)) => true,
            (PortType::Object(None), Value::Object(_)) => true,
            (PortType::Embedding, Value::Array(items)) => {
                return check_items(&PortType::Number, items, at);
            }
            (PortType::Messages, Value::Array(items)) => {
                return check_items(&Self::messages_element(), items, at);
            }
            (PortType::List(inner), Value::Array(items)) => return check_items(inner, items, at),
            (PortType::Object(Some(fields)), Value::Object(map)) => {
                for field in fields {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&field.name);
                    match map.get(&field.name) {
                        Some(v) => field.ty.check_at(v, at)?,
                        None if field.optional => {}
                        None => return Err(format!("missing field at {at}")),
                    }
                    at.truncate(len);
                }
                true
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            let place = if at.is_empty() {
                String::new()
            } else {
                format!(" at {at}")
            };
            Err(format!("expected {self}, got {}{place}", json_kind(value)))
        }
    }
}

fn check_items(inner: &PortType, items: &[Value], at: &mut String) -> Result<(), String> {
    for (i, item) in items.iter().enumerate() {
        let len = at.len();
        at.push('/');
        at.push_str(&i.to_string());
        inner.check_at(item, at)?;
        at.truncate(len);
    }
    Ok(())
}

/// A short name for a JSON value's kind, for error messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

impl fmt::Display for PortType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortType::Any => f.write_str("any"),
            PortType::Bool => f.write_str("bool"),
            PortType::Int => f.write_str("int"),
            PortType::Number => f.write_str("number"),
            PortType::String => f.write_str("string"),
            PortType::Bytes => f.write_str("bytes"),
            PortType::Json => f.write_str("json"),
            PortType::Embedding => f.write_str("embedding"),
            PortType::Messages => f.write_str("messages"),
            PortType::List(inner) => write!(f, "list<{inner}>"),
            PortType::Object(None) => f.write_str("object"),
            PortType::Object(Some(fields)) => {
                f.write_str("object{")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    let q = if field.optional { "?" } else { "" };
                    write!(f, "{}{q}: {}", field.name, field.ty)?;
                }
                f.write_str("}")
            }
        }
    }
}

impl FromStr for PortType {
    type Err = TypeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = Parser { src: s, pos: 0 };
        let ty = p.ty()?;
        p.skip_ws();
        if p.pos != s.len() {
            return Err(p.error("unexpected trailing text"));
        }
        Ok(ty)
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> TypeParseError {
        TypeParseError {
            offset: self.pos,
            message: message.to_string(),
        }
    }

    fn skip_ws(&mut self) {
        let rest = &self.src[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.src[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> &str {
        self.skip_ws();
        let rest = &self.src[self.pos..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn ty(&mut self) -> Result<PortType, TypeParseError> {
        let start = self.pos;
        let name = self.ident().to_string();
        Ok(match name.as_str() {
            "any" => PortType::Any,
            "bool" => PortType::Bool,
            "int" => PortType::Int,
            "number" => PortType::Number,
            "string" => PortType::String,
            "bytes" => PortType::Bytes,
            "json" => PortType::Json,
            "embedding" => PortType::Embedding,
            "messages" => PortType::Messages,
            "list" => {
                if !self.eat('<') {
                    return Err(self.error("expected `<` after `list`"));
                }
                let inner = self.ty()?;
                if !self.eat('>') {
                    return Err(self.error("expected `>` to close `list<`"));
                }
                PortType::List(Box::new(inner))
            }
            "object" => {
                if !self.eat('{') {
                    return Ok(PortType::Object(None));
                }
                let mut fields: Vec<Field> = Vec::new();
                if self.eat('}') {
                    return Ok(PortType::Object(Some(fields)));
                }
                loop {
                    let at = self.pos;
                    let name = self.ident().to_string();
                    if name.is_empty() {
                        return Err(self.error("expected a field name"));
                    }
                    if fields.iter().any(|f| f.name == name) {
                        self.pos = at;
                        return Err(self.error(&format!("duplicate field `{name}`")));
                    }
                    let optional = self.eat('?');
                    if !self.eat(':') {
                        return Err(self.error("expected `:` after the field name"));
                    }
                    let ty = self.ty()?;
                    fields.push(Field { name, ty, optional });
                    if self.eat('}') {
                        break;
                    }
                    if !self.eat(',') {
                        return Err(self.error("expected `,` or `}`"));
                    }
                }
                PortType::Object(Some(fields))
            }
            "" => {
                self.pos = start;
                self.skip_ws();
                return Err(self.error("expected a type"));
            }
            other => {
                let other = other.to_string();
                self.pos = start;
                self.skip_ws();
                return Err(self.error(&format!(
                    "unknown type `{other}` (expected any, bool, int, number, string, bytes, json, embedding, messages, list<T> or object)"
                )));
            }
        })
    }
}

impl Serialize for PortType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for PortType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PortType".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A type in Weft's type language, e.g. `string`, `list<number>`, `object{id: int, name?: string}`."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> PortType {
        match s.parse() {
            Ok(t) => t,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_and_prints_round_trip() {
        for s in [
            "any",
            "list<list<int>>",
            "object",
            "object{}",
            "object{id: int, name?: string, tags: list<string>}",
            "embedding",
            "messages",
        ] {
            assert_eq!(t(s).to_string(), s);
        }
        assert_eq!(t(" list < int > ").to_string(), "list<int>");
    }

    #[test]
    fn parse_errors_say_where() {
        let e = "list<strin>".parse::<PortType>().unwrap_err();
        assert_eq!(e.offset, 5);
        assert!(e.message.contains("unknown type `strin`"), "{e}");
        assert!("list<int".parse::<PortType>().is_err());
        assert!("object{a: int, a: int}".parse::<PortType>().is_err());
        assert!("int int".parse::<PortType>().is_err());
    }

    #[test]
    fn assignability_rules() {
        let yes = [
            ("int", "number"),
            ("string", "any"),
            ("bytes", "json"),
            ("any", "string"),
            ("list<int>", "list<number>"),
            ("embedding", "list<number>"),
            ("list<number>", "embedding"),
            (
                "list<object{role: string, content: string, name: string}>",
                "messages",
            ),
            ("object{a: int, b: string}", "object{a: number}"),
            ("object{a: int}", "object{a: int, b?: string}"),
            ("object{a: int}", "object"),
            ("object", "object{a: int}"),
        ];
        for (a, b) in yes {
            assert!(t(a).is_assignable_to(&t(b)), "{a} -> {b} should be allowed");
        }
        let no = [
            ("number", "int"),
            ("string", "number"),
            ("json", "string"),
            ("list<string>", "list<int>"),
            ("list<string>", "embedding"),
            ("object{a: string}", "object{a: int}"),
            ("object{a?: int}", "object{a: int}"),
            ("object{b: int}", "object{a: int}"),
            ("string", "list<string>"),
        ];
        for (a, b) in no {
            assert!(
                !t(a).is_assignable_to(&t(b)),
                "{a} -> {b} should be refused"
            );
        }
    }

    #[test]
    fn runtime_checks_only_where_needed() {
        assert!(PortType::needs_runtime_check(&t("any"), &t("string")));
        assert!(PortType::needs_runtime_check(
            &t("list<any>"),
            &t("list<int>")
        ));
        assert!(!PortType::needs_runtime_check(&t("string"), &t("string")));
        assert!(!PortType::needs_runtime_check(&t("any"), &t("json")));
    }

    #[test]
    fn values_are_checked_with_their_location() {
        let ty = t("object{items: list<int>, name?: string}");
        assert!(ty.check(&json!({"items": [1, 2]})).is_ok());
        let err = ty.check(&json!({"items": [1, "x"]})).unwrap_err();
        assert_eq!(err, "expected int, got string at /items/1");
        assert_eq!(ty.check(&json!({})).unwrap_err(), "missing field at /items");
        assert!(t("int").check(&json!(1.5)).is_err());
        assert!(t("number").check(&json!(1)).is_ok());
    }

    #[test]
    fn projection_follows_known_structure() {
        let ty = t("object{user: object{id: int}}");
        let path = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(ty.project(&path("user.id")), Some(PortType::Int));
        assert_eq!(ty.project(&path("user.nope")), None);
        assert_eq!(t("any").project(&path("a.b")), Some(PortType::Any));
        assert_eq!(
            t("list<string>").project(&path("0")),
            Some(PortType::String)
        );
        assert_eq!(t("string").project(&path("x")), None);
    }
}
