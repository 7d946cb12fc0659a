//! Weft's port type language, for nodes whose ports depend on config.
//!
//! ```text
//! type   := "any" | "bool" | "int" | "number" | "string" | "bytes" | "json"
//!         | "embedding" | "messages"
//!         | "list" "<" type ">"
//!         | "object" [ "{" [ field { "," field } [","] ] "}" ]
//! field  := name ["?"] ":" type          (name? = optional field)
//! name   := (letter | "_") { letter | digit | "_" | "-" }
//! ```
//!
//! Whitespace is allowed between tokens. [`Type`]'s `Display` writes the
//! canonical form, e.g. `object{name: string, age?: int}`.
//!
//! ```
//! use weft_node_sdk::types::Type;
//! let t: Type = "object{ name: string, tags?: list<string> }".parse().unwrap();
//! assert_eq!(t.to_string(), "object{name: string, tags?: list<string>}");
//! assert!("list<strng>".parse::<Type>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// A type in Weft's type language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// Any JSON value.
    Any,
    /// `true` or `false`.
    Bool,
    /// An integer.
    Int,
    /// Any number.
    Number,
    /// A string.
    String,
    /// Binary data.
    Bytes,
    /// Any JSON document, treated as opaque data.
    Json,
    /// A vector of numbers from an embedding model.
    Embedding,
    /// A chat transcript: a list of `{role, content}`.
    Messages,
    /// `list<T>`.
    List(Box<Type>),
    /// `object` (any object) when `None`, else `object{...}` with these
    /// fields.
    Object(Option<Vec<Field>>),
}

/// One field of an `object{...}` type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// `name?: T`: the field may be absent.
    pub optional: bool,
    /// The field's type.
    pub ty: Type,
}

/// Why a type string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    /// Character offset of the problem in the type string.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset)
    }
}

impl std::error::Error for TypeError {}

/// Whether `name` can name a port or an object field: a letter or `_`,
/// then letters, digits, `_` or `-`.
pub fn is_port_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Type {
    /// Parses a type string.
    pub fn parse(text: &str) -> Result<Type, TypeError> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let ty = parser.ty()?;
        parser.skip_ws();
        if parser.pos < parser.chars.len() {
            return Err(parser.error("unexpected text after the type"));
        }
        Ok(ty)
    }

    /// `object{...}` with these fields.
    pub fn object(fields: Vec<Field>) -> Type {
        Type::Object(Some(fields))
    }
}

impl FromStr for Type {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Type::parse(s)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Bytes => f.write_str("bytes"),
            Type::Json => f.write_str("json"),
            Type::Embedding => f.write_str("embedding"),
            Type::Messages => f.write_str("messages"),
            Type::List(item) => write!(f, "list<{item}>"),
            Type::Object(None) => f.write_str("object"),
            Type::Object(Some(fields)) => {
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

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn error(&self, message: impl Into<String>) -> TypeError {
        TypeError {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }

    fn expect(&mut self, c: char) -> Result<(), TypeError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected `{c}`")))
        }
    }

    fn word(&mut self) -> String {
        self.skip_ws();
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn ty(&mut self) -> Result<Type, TypeError> {
        self.skip_ws();
        let start = self.pos;
        let word = self.word();
        Ok(match word.as_str() {
            "any" => Type::Any,
            "bool" => Type::Bool,
            "int" => Type::Int,
            "number" => Type::Number,
            "string" => Type::String,
            "bytes" => Type::Bytes,
            "json" => Type::Json,
            "embedding" => Type::Embedding,
            "messages" => Type::Messages,
            "list" => {
                self.expect('<')?;
                let item = self.ty()?;
                self.expect('>')?;
                Type::List(Box::new(item))
            }
            "object" => {
                if self.peek() != Some('{') {
                    return Ok(Type::Object(None));
                }
                self.pos += 1;
                let mut fields: Vec<Field> = Vec::new();
                loop {
                    if self.peek() == Some('}') {
                        self.pos += 1;
                        break;
                    }
                    let name_at = self.pos;
                    let name = self.word();
                    if !is_port_name(&name) {
                        self.pos = name_at;
                        return Err(self.error("expected a field name or `}`"));
                    }
                    if fields.iter().any(|f| f.name == name) {
                        self.pos = name_at;
                        return Err(self.error(format!("field `{name}` appears twice")));
                    }
                    let optional = self.peek() == Some('?');
                    if optional {
                        self.pos += 1;
                    }
                    self.expect(':')?;
                    let ty = self.ty()?;
                    fields.push(Field { name, optional, ty });
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some('}') => {}
                        _ => return Err(self.error("expected `,` or `}`")),
                    }
                }
                Type::Object(Some(fields))
            }
            "" => return Err(self.error("expected a type")),
            other => {
                self.pos = start;
                return Err(self.error(format!(
                    "unknown type `{other}` (expected any, bool, int, number, string, bytes, json, \
                     embedding, messages, list<T>, object or object{{...}})"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for (input, canonical) in [
            ("any", "any"),
            (" list< list<int> > ", "list<list<int>>"),
            ("object", "object"),
            ("object{}", "object{}"),
            (
                "object{a:int,b?:object{c: string,},}",
                "object{a: int, b?: object{c: string}}",
            ),
        ] {
            assert_eq!(
                Type::parse(input).unwrap().to_string(),
                canonical,
                "{input}"
            );
        }
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "lst",
            "list<int",
            "object{a int}",
            "object{a: int, a: int}",
            "int int",
        ] {
            assert!(Type::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Type::parse("list<strng>").unwrap_err().offset, 5);
    }

    #[test]
    fn port_names() {
        assert!(is_port_name("text"));
        assert!(is_port_name("_a-1"));
        assert!(!is_port_name("1a"));
        assert!(!is_port_name(""));
        assert!(!is_port_name("a.b"));
    }
}
