//! Weft's port type language, for nodes whose ports depend on config.
//!
//! This is the host's own grammar (`weft-editor-protocol`), re-exported so
//! a node and the host can never disagree about what a type string means.
//!
//! ```
//! use weft_node_sdk::types::Type;
//! let t: Type = "object{ name: string, tags?: list<string> }".parse().unwrap();
//! assert_eq!(t.to_string(), "object{name: string, tags?: list<string>}");
//! assert!("list<strng>".parse::<Type>().is_err());
//! ```

pub use weft_editor_protocol::types::{Field, PortType as Type, TypeParseError as TypeError};

/// Whether `name` is a valid port (or object field) name: a letter or `_`,
/// then letters, digits, `_` or `-`.
pub fn is_port_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names() {
        assert!(is_port_name("a_b-1"));
        assert!(is_port_name("_x"));
        assert!(!is_port_name("1a"));
        assert!(!is_port_name(""));
        assert!(!is_port_name("a.b"));
    }
}
