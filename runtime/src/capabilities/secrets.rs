//! Secrets: where their values come from, and how they are kept out of
//! everything a run reports.
//!
//! Lookup order for a name: values given on the command line
//! (`weft run --secret NAME=VALUE`), then the secrets file, then the
//! environment variable `WEFT_SECRET_<NAME>`. A flow reads only the names
//! listed in its `capabilities.secrets`.
//!
//! Every value a node obtains is added to the run's [`Redactor`]; from then
//! on the run's events, errors and outputs show `[redacted]` in its place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

/// What replaces a secret value in anything a run reports.
pub const REDACTED: &str = "[redacted]";

/// A source of secret values by name.
pub trait SecretSource: Send + Sync + 'static {
    fn get(&self, name: &str) -> Option<String>;
}

/// Errors reading a secrets file.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read secrets file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Secrets from the command line, a file and the environment, in that order.
#[derive(Default)]
pub struct Secrets {
    given: BTreeMap<String, String>,
    file: BTreeMap<String, String>,
    /// Read `WEFT_SECRET_<NAME>` from the environment.
    env: bool,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only, never values.
        f.debug_struct("Secrets")
            .field("given", &self.given.keys().collect::<Vec<_>>())
            .field("file", &self.file.keys().collect::<Vec<_>>())
            .field("env", &self.env)
            .finish()
    }
}

impl Secrets {
    /// Only the environment (`WEFT_SECRET_<NAME>`).
    pub fn from_env() -> Secrets {
        Secrets {
            env: true,
            ..Secrets::default()
        }
    }

    /// No secrets at all.
    pub fn none() -> Secrets {
        Secrets::default()
    }

    /// Adds a value that takes precedence over the file and environment.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Secrets {
        self.given.insert(name.into(), value.into());
        self
    }

    /// Reads a secrets file: one `NAME=VALUE` per line; blank lines and
    /// lines starting with `#` are ignored; the value is everything after
    /// the first `=` (surrounding double quotes removed).
    pub fn with_file(mut self, path: &Path) -> Result<Secrets, SecretsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(SecretsError::Syntax {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: "expected NAME=VALUE".into(),
                });
            };
            let name = name.trim();
            if !valid_name(name) {
                return Err(SecretsError::Syntax {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: format!("`{name}` is not a valid secret name (letters, digits, `_`)"),
                });
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            self.file.insert(name.to_string(), value.to_string());
        }
        Ok(self)
    }
}

/// Secret names: letters, digits and `_`, not starting with a digit.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SecretSource for Secrets {
    fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.given.get(name).or_else(|| self.file.get(name)) {
            return Some(v.clone());
        }
        if self.env {
            return std::env::var(format!("WEFT_SECRET_{name}")).ok();
        }
        None
    }
}

/// The secret values revealed to a run's nodes, and their removal from
/// everything the run reports.
#[derive(Debug, Default)]
pub struct Redactor {
    /// Each secret as it appears inside JSON text (escaped, no quotes).
    values: Mutex<Vec<String>>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Remembers a value to redact from now on.
    pub fn add(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let Ok(quoted) = serde_json::to_string(value) else {
            return;
        };
        let escaped = quoted[1..quoted.len() - 1].to_string();
        if let Ok(mut values) = self.values.lock()
            && !values.contains(&escaped)
        {
            values.push(escaped);
            // Longest first, so a secret that contains another is replaced whole.
            values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.lock().map(|v| v.is_empty()).unwrap_or(true)
    }

    /// Replaces every secret in JSON text.
    pub fn redact_json_text(&self, text: &str) -> Option<String> {
        let values = self.values.lock().ok()?;
        if !values.iter().any(|v| text.contains(v.as_str())) {
            return None;
        }
        let mut out = text.to_string();
        for v in values.iter() {
            out = out.replace(v.as_str(), REDACTED);
        }
        Some(out)
    }

    /// Replaces every secret in plain text.
    pub fn redact_str(&self, text: &str) -> String {
        let Ok(values) = self.values.lock() else {
            return text.to_string();
        };
        let mut out = text.to_string();
        for v in values.iter() {
            // Values are stored JSON-escaped; most secrets have nothing to
            // escape, and for those that do, try the raw form too.
            out = out.replace(v.as_str(), REDACTED);
            if let Ok(raw) = serde_json::from_str::<String>(&format!("\"{v}\"")) {
                out = out.replace(&raw, REDACTED);
            }
        }
        out
    }

    /// Replaces every secret anywhere inside a JSON value (keys included).
    pub fn redact_value(&self, value: &Value) -> Value {
        if self.is_empty() {
            return value.clone();
        }
        let text = value.to_string();
        match self.redact_json_text(&text) {
            Some(clean) => serde_json::from_str(&clean).unwrap_or(Value::String(REDACTED.into())),
            None => value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_order_is_given_then_file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.env");
        std::fs::write(&file, "# comment\nA=from-file\nB = \"quoted value\"\n\n").unwrap();
        let s = Secrets::from_env()
            .with_file(&file)
            .unwrap()
            .with("A", "given");
        assert_eq!(s.get("A").as_deref(), Some("given"));
        assert_eq!(s.get("B").as_deref(), Some("quoted value"));
        assert_eq!(s.get("NOPE_NOT_SET_ANYWHERE"), None);
    }

    #[test]
    fn bad_secrets_files_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.env");
        std::fs::write(&file, "A=1\nthis line is wrong\n").unwrap();
        let e = Secrets::none().with_file(&file).unwrap_err().to_string();
        assert!(e.ends_with(":2: expected NAME=VALUE"), "{e}");
        let debug = format!("{:?}", Secrets::none().with("K", "hunter2"));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn redaction_covers_strings_keys_and_escapes() {
        let r = Redactor::new();
        assert_eq!(r.redact_value(&json!("hunter2")), json!("hunter2"));
        r.add("hunter2");
        r.add("quo\"te");
        let v = json!({"a": "token hunter2!", "hunter2": [1, "x quo\"te y"]});
        assert_eq!(
            r.redact_value(&v),
            json!({"a": "token [redacted]!", "[redacted]": [1, "x [redacted] y"]})
        );
        assert_eq!(
            r.redact_str("say quo\"te and hunter2"),
            "say [redacted] and [redacted]"
        );
    }
}
