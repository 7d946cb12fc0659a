//! Engine setup shared by the commands.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use weft_runtime::capabilities::Secrets;
use weft_runtime::{Engine, EngineConfig};

/// Options every command that loads nodes accepts.
#[derive(Debug, Clone, Args)]
pub struct NodeOptions {
    /// Load custom node components (`*.wasm`) from this directory; repeatable.
    #[arg(long = "nodes-dir", value_name = "DIR")]
    pub nodes_dirs: Vec<PathBuf>,
    /// Default memory cap of each node's sandbox, in MiB (a node's
    /// `policy.memory_mib` overrides it, up to 1024).
    #[arg(long = "node-memory-mib", value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub node_memory_mib: u64,
    /// A secret for the flow (`NAME=VALUE`); repeatable. Prefer
    /// `--secrets-file` or `WEFT_SECRET_<NAME>`: arguments are visible to
    /// other users of the machine.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    pub secrets: Vec<String>,
    /// The Weft configuration file (providers); also `WEFT_CONFIG`.
    #[arg(long = "config", value_name = "PATH", env = "WEFT_CONFIG")]
    pub config: Option<PathBuf>,
    /// A file of secrets, one `NAME=VALUE` per line (`#` comments).
    #[arg(long = "secrets-file", value_name = "PATH")]
    pub secrets_file: Option<PathBuf>,
    /// Where the `vectors` capability keeps its collections:
    /// `sqlite:PATH` (embedded, sqlite-vec; the file and its directory are
    /// created on first use) or `postgres://USER@HOST[:PORT]/DATABASE`
    /// (PostgreSQL with pgvector). Opened when a flow first uses it. A URL
    /// with a password is better passed in `WEFT_VECTORS`: arguments are
    /// visible to other users of the machine.
    #[arg(long = "vectors", value_name = "URL", env = "WEFT_VECTORS",
          hide_env_values = true,
          default_value = weft_runtime::capabilities::vectors::DEFAULT_URL)]
    pub vectors: String,
}

pub async fn engine(opts: &NodeOptions) -> anyhow::Result<Engine> {
    for dir in &opts.nodes_dirs {
        if !dir.is_dir() {
            anyhow::bail!("--nodes-dir {}: not a directory", dir.display());
        }
    }
    let mut config = EngineConfig {
        nodes_dirs: opts.nodes_dirs.clone(),
        ..EngineConfig::default()
    };
    config.host.memory_limit = opts.node_memory_mib * 1024 * 1024;
    let mut secrets = Secrets::from_env();
    if let Some(path) = &opts.secrets_file {
        secrets = secrets.with_file(path)?;
    }
    for pair in &opts.secrets {
        let Some((name, value)) = pair.split_once('=') else {
            anyhow::bail!("--secret: expected NAME=VALUE");
        };
        if !weft_runtime::capabilities::secrets::valid_name(name) {
            anyhow::bail!("--secret: `{name}` is not a valid secret name (letters, digits, `_`)");
        }
        secrets = secrets.with(name, value);
    }
    config.services.secrets = std::sync::Arc::new(secrets);
    let vectors = weft_runtime::capabilities::VectorConfig::from_url(&opts.vectors)
        .map_err(|e| anyhow::anyhow!("--vectors: {e}"))?;
    config.services.vectors = weft_runtime::capabilities::vectors::lazy(vectors);
    if let Some(path) = &opts.config {
        let file = super::config::Config::load(path)?;
        config.services.providers =
            std::sync::Arc::new(weft_runtime::capabilities::Providers::new(file.providers));
    }
    Engine::new(config).await.context("cannot load nodes")
}

pub fn read_flow(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
