//! `weft serve`: the management API and the editor websocket.
//!
//! Opens (and migrates) the database, marks runs a previous process left
//! `running` as `failed: interrupted`, makes sure an admin token exists
//! (printing a generated one once), then serves until SIGINT/SIGTERM, when
//! it stops taking runs, lets running ones finish for up to `--drain-secs`
//! and cancels the rest.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use weft::server::auth::{AdminToken, bootstrap_admin};
use weft::server::{AppState, ServerConfig, serve};
use weft::store::{RetentionPolicy, SecretKey, Store, default_database_url};

use super::common::{NodeOptions, engine};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "WEFT_LISTEN"
    )]
    pub listen: SocketAddr,
    /// The database: `sqlite:PATH` or `postgres://USER@HOST[:PORT]/DB`.
    /// Default: `weft.db` in the data directory.
    #[arg(
        long = "database-url",
        value_name = "URL",
        env = "DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Where Weft keeps its files (the SQLite database, the secret key).
    #[arg(
        long = "data-dir",
        value_name = "DIR",
        default_value = "weft-data",
        env = "WEFT_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// Output previews in run events are cut above this many bytes.
    #[arg(long = "preview-bytes", value_name = "BYTES", default_value_t = 4096)]
    pub preview_bytes: usize,
    /// How long SIGTERM lets running runs finish before cancelling them.
    #[arg(long = "drain-secs", value_name = "SECS", default_value_t = 30)]
    pub drain_secs: u64,
    /// Keep at most this many runs per flow (the newest); default: all.
    #[arg(long = "keep-runs", value_name = "N", env = "WEFT_KEEP_RUNS")]
    pub keep_runs: Option<u32>,
    /// Delete runs older than this many days; default: never.
    #[arg(long = "keep-days", value_name = "DAYS", env = "WEFT_KEEP_DAYS")]
    pub keep_days: Option<u32>,
    /// Published flows answer at `{project}-{stage}.DOMAIN`; repeat for
    /// several domains.
    #[arg(
        long = "base-domain",
        value_name = "DOMAIN",
        default_value = "localhost"
    )]
    pub base_domains: Vec<String>,
    /// Do not serve `/{project}/{stage}/...` on other hosts.
    #[arg(long = "no-path-fallback")]
    pub no_path_fallback: bool,
    #[command(flatten)]
    pub nodes: NodeOptions,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| default_database_url(&args.data_dir));
    let (key, _) = SecretKey::from_env_or_file(&args.data_dir.join("secret.key"))?;
    let store = Store::open(&url)
        .await
        .with_context(|| "cannot open the database".to_string())?
        .with_secret_key(key);
    let interrupted = store.mark_interrupted().await?;
    if !interrupted.is_empty() {
        tracing::warn!(
            runs = interrupted.len(),
            "runs left running by a previous process marked failed: interrupted"
        );
    }
    let admin = std::env::var("WEFT_ADMIN_TOKEN").ok();
    match bootstrap_admin(&store, admin.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        AdminToken::Generated(token) => {
            eprintln!("weft: created the admin token (shown once, keep it):\n\n    {token}\n");
        }
        AdminToken::FromEnv => tracing::info!("admin token from WEFT_ADMIN_TOKEN"),
        AdminToken::Existing => {}
    }
    let engine = engine(&args.nodes).await?;
    let config = ServerConfig {
        preview_bytes: args.preview_bytes,
        drain: Duration::from_secs(args.drain_secs),
        retention: RetentionPolicy {
            max_runs: args.keep_runs,
            max_age: args
                .keep_days
                .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
        },
        hosts: weft_router::HostConfig {
            base_domains: args.base_domains.clone(),
            custom_domains: Vec::new(),
            path_fallback: !args.no_path_fallback,
        },
        ..ServerConfig::default()
    };
    let mut state = AppState::try_new(engine, store, config).context("--base-domain")?;
    state.editor_background = true;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    // Tests and scripts read this line to find the port.
    eprintln!("weft: listening on http://{local}");
    serve(state, listener, shutdown_signal()).await?;
    eprintln!("weft: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
