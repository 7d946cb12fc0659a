//! Engine setup shared by the commands.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use weft_runtime::{Engine, EngineConfig};

/// Options every command that loads nodes accepts.
#[derive(Debug, Clone, Args)]
pub struct NodeOptions {
    /// Load custom node components (`*.wasm`) from this directory; repeatable.
    #[arg(long = "nodes-dir", value_name = "DIR")]
    pub nodes_dirs: Vec<PathBuf>,
}

pub async fn engine(opts: &NodeOptions) -> anyhow::Result<Engine> {
    for dir in &opts.nodes_dirs {
        if !dir.is_dir() {
            anyhow::bail!("--nodes-dir {}: not a directory", dir.display());
        }
    }
    let config = EngineConfig {
        nodes_dirs: opts.nodes_dirs.clone(),
        ..EngineConfig::default()
    };
    Engine::new(config).await.context("cannot load nodes")
}

pub fn read_flow(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
