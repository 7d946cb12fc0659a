//! The Weft configuration file (`--config PATH`, or `WEFT_CONFIG`): what
//! the operator decides and flows must not, today the LLM and embedding
//! providers.
//!
//! ```toml
//! [providers.local-litellm]
//! base_url = "http://127.0.0.1:4000"
//! api_key_secret = "LITELLM_KEY"      # optional: a secret name, never the key
//! timeout_ms = 60000                  # optional
//! prices = { prompt = 0.15, completion = 0.6 }   # optional, per 1k tokens
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use weft_runtime::capabilities::Provider;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub providers: BTreeMap<String, Provider>,
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            let place = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!(":{line}")
                })
                .unwrap_or_default();
            anyhow::anyhow!("{}{place}: {}", path.display(), e.message())
        })?;
        for (name, p) in &config.providers {
            if !p.base_url.starts_with("http://") && !p.base_url.starts_with("https://") {
                anyhow::bail!(
                    "{}: provider `{name}`: base_url must start with http:// or https://",
                    path.display()
                );
            }
        }
        Ok(config)
    }
}
