//! JSON helpers shared by nodes: paths into values (dotted or JSON pointer),
//! numeric-aware equality, and config building blocks ([`NoConfig`],
//! [`OrderedMap`]).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// The config of a node without settings: accepts `{}` (or an empty/`null`
/// config) and reports any field as unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// A JSON object read into a list of `(key, value)` pairs, keeping the
/// order of the keys (a `HashMap` or `BTreeMap` would not). Its JSON Schema
/// is an object whose property values follow `V`'s schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    /// The value for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs: Vec<(String, V)> = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((key, value)) = map.next_entry::<String, V>()? {
                    match pairs.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => pairs.push((key, value)),
                    }
                }
                Ok(OrderedMap(pairs))
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<V: JsonSchema> JsonSchema for OrderedMap<V> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "additionalProperties": generator.subschema_for::<V>(),
        })
    }
}

/// Escapes one JSON-pointer reference token (`~` → `~0`, `/` → `~1`).
pub fn escape_pointer_token(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

/// The JSON pointer made of `tokens`, e.g. `["fields", "a/b"]` →
/// `/fields/a~1b`.
pub fn pointer_of<I, S>(tokens: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut pointer = String::new();
    for token in tokens {
        pointer.push('/');
        pointer.push_str(&escape_pointer_token(token.as_ref()));
    }
    pointer
}

/// The JSON pointer of a `serde_path_to_error` path.
pub(crate) fn pointer_of_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                pointer.push('/');
                pointer.push_str(&index.to_string());
            }
            Segment::Map { key } => {
                pointer.push('/');
                pointer.push_str(&escape_pointer_token(key));
            }
            Segment::Enum { variant } => {
                pointer.push('/');
                pointer.push_str(&escape_pointer_token(variant));
            }
            Segment::Unknown => {}
        }
    }
    pointer
}

/// How a [`Path`] was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathStyle {
    /// `a.0.b`
    Dotted,
    /// `/a/0/b` (RFC 6901)
    Pointer,
}

/// A path into a JSON value: object keys and array indices.
///
/// Written either dotted (`user.name`, `items.0`) or as a JSON pointer
/// (`/user/name`, `/items/0`). A segment selects an object's key or, when it
/// is a decimal number, an array's element. The empty path is the value
/// itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    segments: Vec<String>,
    style: PathStyle,
}

/// Why [`Path::lookup`] found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// How many leading segments did resolve.
    pub found: usize,
    /// What the deepest existing prefix holds, e.g. `an object without key
    /// "b"`.
    pub reason: String,
}

impl Path {
    /// Parses a JSON pointer if `text` starts with `/`, else a dotted path.
    /// The empty string is the root.
    pub fn parse(text: &str) -> Result<Path, String> {
        if text.starts_with('/') {
            Path::pointer(text)
        } else {
            Path::dotted(text)
        }
    }

    /// Parses a dotted path (`a.0.b`); the empty string is the root. Every
    /// segment must be non-empty.
    pub fn dotted(text: &str) -> Result<Path, String> {
        let segments = if text.is_empty() {
            Vec::new()
        } else {
            let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
            if segments.iter().any(String::is_empty) {
                return Err(format!(
                    "`{text}` has an empty segment (write `a.b.0`, without leading, trailing or doubled dots)"
                ));
            }
            segments
        };
        Ok(Path {
            segments,
            style: PathStyle::Dotted,
        })
    }

    /// Parses a JSON pointer (`/a/0/b`, RFC 6901); the empty string is the
    /// root.
    pub fn pointer(text: &str) -> Result<Path, String> {
        let mut segments = Vec::new();
        if !text.is_empty() {
            let Some(rest) = text.strip_prefix('/') else {
                return Err(format!("JSON pointer `{text}` must start with `/`"));
            };
            for token in rest.split('/') {
                let mut out = String::with_capacity(token.len());
                let mut chars = token.chars();
                while let Some(c) = chars.next() {
                    if c == '~' {
                        match chars.next() {
                            Some('0') => out.push('~'),
                            Some('1') => out.push('/'),
                            _ => {
                                return Err(format!(
                                    "JSON pointer `{text}` has a `~` not followed by `0` or `1`"
                                ));
                            }
                        }
                    } else {
                        out.push(c);
                    }
                }
                segments.push(out);
            }
        }
        Ok(Path {
            segments,
            style: PathStyle::Pointer,
        })
    }

    /// The path made of `segments`, written in `style`.
    pub fn from_segments(segments: Vec<String>, style: PathStyle) -> Path {
        Path { segments, style }
    }

    /// The first segment and the path of the remaining ones (`None` for the
    /// root).
    pub fn split_first(&self) -> Option<(&str, Path)> {
        let (first, rest) = self.segments.split_first()?;
        Some((first, Path::from_segments(rest.to_vec(), self.style)))
    }

    /// The segments (unescaped).
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// How the path was written.
    pub fn style(&self) -> PathStyle {
        self.style
    }

    /// Whether this is the empty path (the value itself).
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The first `len` segments, written in this path's style (`""` for the
    /// root).
    pub fn prefix_text(&self, len: usize) -> String {
        let segments = &self.segments[..len.min(self.segments.len())];
        match self.style {
            PathStyle::Dotted => segments.join("."),
            PathStyle::Pointer => pointer_of(segments),
        }
    }

    /// The value at this path inside `value`.
    pub fn lookup<'a>(&self, value: &'a Value) -> Result<&'a Value, Missing> {
        let mut current = value;
        for (i, segment) in self.segments.iter().enumerate() {
            let next = match current {
                Value::Object(map) => map.get(segment.as_str()),
                Value::Array(items) => array_index(segment).and_then(|n| items.get(n)),
                _ => None,
            };
            match next {
                Some(next) => current = next,
                None => {
                    let reason = match current {
                        Value::Object(_) => format!("an object without key \"{segment}\""),
                        Value::Array(items) => match array_index(segment) {
                            Some(_) => format!("a list of {} element(s)", items.len()),
                            None => format!("a list, which has no key \"{segment}\""),
                        },
                        other => format!("{}, which has no key \"{segment}\"", kind_of(other)),
                    };
                    return Err(Missing { found: i, reason });
                }
            }
        }
        Ok(current)
    }

    /// Like [`lookup`](Path::lookup), with a message naming the path and the
    /// deepest existing prefix.
    pub fn lookup_or_message<'a>(&self, value: &'a Value) -> Result<&'a Value, String> {
        self.lookup(value).map_err(|missing| {
            let prefix = if missing.found == 0 {
                "the value itself".to_owned()
            } else {
                format!("`{}`", self.prefix_text(missing.found))
            };
            format!(
                "path `{self}` not found: the deepest existing prefix is {prefix}, {}",
                missing.reason
            )
        })
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix_text(self.segments.len()))
    }
}

/// A decimal array index without sign or leading zeros.
fn array_index(segment: &str) -> Option<usize> {
    let canonical = segment == "0"
        || (!segment.is_empty()
            && !segment.starts_with('0')
            && segment.bytes().all(|b| b.is_ascii_digit()));
    if canonical {
        segment.parse().ok()
    } else {
        None
    }
}

/// A short description of a value's kind: `null`, `a bool`, `a number`,
/// `a string`, `a list`, `an object`.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Compact JSON text of `value`.
pub fn compact(value: &Value) -> String {
    // Serializing a `Value` cannot fail: its map keys are strings.
    serde_json::to_string(value).unwrap_or_default()
}

/// JSON equality where numbers compare by value (`1 == 1.0`) and object key
/// order does not matter.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        let v = json!({"a": [{"b": 1}], "x/y": {"~": 2}});
        assert_eq!(Path::parse("a.0.b").unwrap().lookup(&v), Ok(&json!(1)));
        assert_eq!(Path::parse("/a/0/b").unwrap().lookup(&v), Ok(&json!(1)));
        assert_eq!(Path::parse("/x~1y/~0").unwrap().lookup(&v), Ok(&json!(2)));
        assert_eq!(Path::parse("").unwrap().lookup(&v), Ok(&v));
        assert!(Path::parse("a..b").is_err());
        assert!(Path::parse("/a~2").is_err());
        let missing = Path::parse("a.0.c").unwrap().lookup(&v).unwrap_err();
        assert_eq!(missing.found, 2);
        let msg = Path::parse("/a/5")
            .unwrap()
            .lookup_or_message(&v)
            .unwrap_err();
        assert!(msg.contains("`/a`"), "{msg}");
        assert!(Path::parse("a.01").unwrap().lookup(&v).is_err());
    }

    #[test]
    fn equality() {
        assert!(equal(&json!(1), &json!(1.0)));
        assert!(equal(&json!({"a": [1, 2]}), &json!({"a": [1.0, 2]})));
        assert!(!equal(&json!("1"), &json!(1)));
    }

    #[test]
    fn ordered_map_keeps_order() {
        let m: OrderedMap<String> = serde_json::from_str(r#"{"z": "1", "a": "2"}"#).unwrap();
        assert_eq!(m.0[0].0, "z");
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"z":"1","a":"2"}"#);
    }
}
