//! The template language of `url`, header values and query values (the
//! syntax of `text.template`): parsing a template into [`Piece`]s, and
//! rendering them against the inputs and secrets (with the URL's
//! percent-encoding).

use weft_node_sdk::json::{Path, compact};
use weft_node_sdk::prelude::*;
use weft_node_sdk::types::is_port_name;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    /// A placeholder: its dotted path (first segment = input port).
    Var(Path),
    /// `{{ secret.NAME }}`: the secret's name.
    Secret(String),
}

/// Parses a template, or returns every problem found (messages name the
/// character offset of the placeholder).
pub(crate) fn parse_template(template: &str) -> Result<Vec<Piece>, Vec<String>> {
    let char_offset = |byte: usize| template[..byte].chars().count();
    let mut pieces = Vec::new();
    let mut problems = Vec::new();
    let mut pos = 0;
    while let Some(found) = template[pos..].find("{{") {
        let open = pos + found;
        if open > pos {
            pieces.push(Piece::Text(template[pos..open].to_owned()));
        }
        let at = char_offset(open);
        let Some(len) = template[open + 2..].find("}}") else {
            problems.push(format!("unclosed `{{{{` at character {at}"));
            return Err(problems);
        };
        let inner = template[open + 2..open + 2 + len].trim();
        if inner.is_empty() {
            problems.push(format!("empty `{{{{ }}}}` at character {at}"));
        } else {
            match Path::dotted(inner) {
                Err(e) => problems.push(format!("invalid placeholder at character {at}: {e}")),
                Ok(path) => {
                    let segments = path.segments();
                    if segments[0] == "secret" {
                        if segments.len() < 2 {
                            problems.push(format!(
                                "`{{{{ secret }}}}` at character {at} needs a secret name: \
                                 write `{{{{ secret.NAME }}}}`"
                            ));
                        } else {
                            pieces.push(Piece::Secret(segments[1..].join(".")));
                        }
                    } else if is_port_name(&segments[0]) {
                        pieces.push(Piece::Var(path));
                    } else {
                        problems.push(format!(
                            "`{}` at character {at} is not a valid variable name \
                             (a letter or `_`, then letters, digits, `_` or `-`)",
                            segments[0]
                        ));
                    }
                }
            }
        }
        pos = open + 2 + len + 2;
    }
    if pos < template.len() {
        pieces.push(Piece::Text(template[pos..].to_owned()));
    }
    if problems.is_empty() {
        Ok(pieces)
    } else {
        Err(problems)
    }
}

/// Percent-encodes everything except the unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`).
pub(crate) fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// A value as template text: strings raw, `null` as nothing, other values
/// as compact JSON.
pub(crate) fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => compact(other),
    }
}

/// Looks secrets up (once per name and run).
pub(crate) struct Secrets<'a> {
    lookup: &'a mut dyn FnMut(&str) -> Result<String, CapabilityError>,
    cache: Vec<(String, String)>,
}

impl<'a> Secrets<'a> {
    /// Secrets looked up with `lookup`, none cached yet.
    pub(crate) fn new(lookup: &'a mut dyn FnMut(&str) -> Result<String, CapabilityError>) -> Self {
        Secrets {
            lookup,
            cache: Vec::new(),
        }
    }

    fn get(&mut self, name: &str) -> Result<String, NodeError> {
        if let Some((_, value)) = self.cache.iter().find(|(n, _)| n == name) {
            return Ok(value.clone());
        }
        let value = (self.lookup)(name).map_err(|e| {
            let e = NodeError::from(e);
            NodeError::new(e.code(), format!("secret `{name}`: {}", e.message()))
                .with_retryable(e.is_retryable())
        })?;
        self.cache.push((name.to_owned(), value.clone()));
        Ok(value)
    }
}

/// Renders a template; `field` names it in error messages. With
/// `url_encode`, substituted values are percent-encoded, except one at the
/// very start.
pub(crate) fn render(
    pieces: &[Piece],
    field: &str,
    url_encode: bool,
    inputs: &Inputs,
    secrets: &mut Secrets<'_>,
) -> Result<String, NodeError> {
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        let value = match piece {
            Piece::Text(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Secret(name) => secrets.get(name)?,
            Piece::Var(path) => {
                let Some((top, rest)) = path.split_first() else {
                    continue;
                };
                let value = rest.lookup(inputs.require(top)?).map_err(|missing| {
                    NodeError::new(
                        "template.missing",
                        format!(
                            "{field}: template variable `{path}` not found: `{}` is {}",
                            path.prefix_text(missing.found + 1),
                            missing.reason
                        ),
                    )
                    .fatal()
                })?;
                text_of(value)
            }
        };
        if url_encode && i > 0 {
            out.push_str(&percent_encode(&value));
        } else {
            out.push_str(&value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encodes() {
        assert_eq!(
            percent_encode("aZ09-._~ /?&=é"),
            "aZ09-._~%20%2F%3F%26%3D%C3%A9"
        );
    }
}
