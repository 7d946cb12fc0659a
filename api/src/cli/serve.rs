//! `weft serve`: the management API and the editor websocket.
//!
//! Opens (and migrates) the database, registers this process and marks the
//! runs stopped processes left `running` as `failed: interrupted` (never
//! those of live replicas), makes sure an admin token exists
//! (printing a generated one once), then serves until SIGINT/SIGTERM, when
//! it stops taking runs, lets running ones finish for up to `--drain-secs`
//! and cancels the rest.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use weft::server::auth::{AdminToken, bootstrap_admin};
use weft::server::{AppState, ServerConfig, serve};
use weft::store::{Instance, RetentionPolicy, SecretKey, Store, default_database_url};

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
    #[command(flatten)]
    pub server: ServerArgs,
    /// Output previews in run events are cut above this many bytes.
    #[arg(long = "preview-bytes", value_name = "BYTES", default_value_t = 4096)]
    pub preview_bytes: usize,
    /// Keep at most this many runs per flow (the newest); default: all.
    #[arg(long = "keep-runs", value_name = "N", env = "WEFT_KEEP_RUNS")]
    pub keep_runs: Option<u32>,
    /// Delete runs older than this many days; default: never.
    #[arg(long = "keep-days", value_name = "DAYS", env = "WEFT_KEEP_DAYS")]
    pub keep_days: Option<u32>,
}

/// What `weft serve` and `weft router` share: the store, the hosts
/// published flows answer on, the nodes.
#[derive(Debug, Args)]
pub struct ServerArgs {
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
    /// How long SIGTERM lets running runs finish before cancelling them.
    #[arg(long = "drain-secs", value_name = "SECS", default_value_t = 30)]
    pub drain_secs: u64,
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
    /// Where published routes are read from: `sql` (the database's
    /// publications) or `dynamodb` (a table that publishes write).
    #[arg(
        long = "route-store",
        value_name = "STORE",
        value_enum,
        default_value = "sql",
        env = "WEFT_ROUTE_STORE"
    )]
    pub route_store: RouteStoreKind,
    /// The table of `--route-store dynamodb` (created when missing).
    #[arg(
        long = "dynamodb-table",
        value_name = "NAME",
        default_value = "weft-routes",
        env = "WEFT_DYNAMODB_TABLE"
    )]
    pub dynamodb_table: String,
    /// DynamoDB's endpoint (DynamoDB Local, moto); default: the region's
    /// (or `AWS_ENDPOINT_URL`). Credentials come from the AWS chain.
    #[arg(
        long = "dynamodb-endpoint",
        value_name = "URL",
        env = "WEFT_DYNAMODB_ENDPOINT"
    )]
    pub dynamodb_endpoint: Option<String>,
    /// The AWS region; default: the AWS configuration's (`AWS_REGION`).
    #[arg(long = "aws-region", value_name = "REGION")]
    pub aws_region: Option<String>,
    /// How often `weft serve` brings a DynamoDB route store up to date
    /// with the publications (repairing a publish that could not reach it),
    /// in seconds.
    #[arg(
        long = "route-reconcile-secs",
        value_name = "SECS",
        default_value_t = 60,
        env = "WEFT_ROUTE_RECONCILE_SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub route_reconcile_secs: u64,
    #[command(flatten)]
    pub nodes: NodeOptions,
}

/// `--route-store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RouteStoreKind {
    Sql,
    Dynamodb,
}

impl ServerArgs {
    /// Opens (and migrates) the store, with the secret key.
    pub async fn store(&self) -> anyhow::Result<Store> {
        std::fs::create_dir_all(&self.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                self.data_dir.display()
            )
        })?;
        let url = self
            .database_url
            .clone()
            .unwrap_or_else(|| default_database_url(&self.data_dir));
        let (key, _) = SecretKey::from_env_or_file(&self.data_dir.join("secret.key"))?;
        Ok(Store::open(&url)
            .await
            .with_context(|| "cannot open the database".to_string())?
            .with_secret_key(key))
    }

    /// Registers this process as a runner of flows and fails the runs
    /// that stopped processes left `running` (every few seconds from then
    /// on too, in `serve`).
    pub async fn instance(&self, store: &Store) -> anyhow::Result<Arc<Instance>> {
        let instance = Arc::new(
            store
                .register_instance()
                .await
                .context("cannot register this process with the database")?,
        );
        store
            .recover_orphans(&instance)
            .await
            .context("cannot recover the runs of stopped processes")?;
        Ok(instance)
    }

    /// `state` reading routes from `--route-store`.
    pub async fn with_routes(&self, state: AppState) -> anyhow::Result<AppState> {
        if self.route_store == RouteStoreKind::Sql {
            return Ok(state);
        }
        let routes = weft_router::dynamodb::DynamoRoutes::connect(
            self.dynamodb_table.clone(),
            self.aws_region.as_deref(),
            self.dynamodb_endpoint.as_deref(),
        )
        .await;
        routes.ensure_table().await.with_context(|| {
            format!(
                "--route-store dynamodb: cannot use table `{}`",
                self.dynamodb_table
            )
        })?;
        tracing::info!(table = %self.dynamodb_table, "routes from DynamoDB");
        Ok(state.with_route_store(Arc::new(routes))?)
    }

    /// The settings these arguments give.
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            drain: Duration::from_secs(self.drain_secs),
            route_reconcile: Duration::from_secs(self.route_reconcile_secs),
            hosts: weft_router::HostConfig {
                base_domains: self.base_domains.clone(),
                custom_domains: Vec::new(),
                path_fallback: !self.no_path_fallback,
            },
            ..ServerConfig::default()
        }
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let store = args.server.store().await?;
    let instance = args.server.instance(&store).await?;
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
    let engine = engine(&args.server.nodes).await?;
    let config = ServerConfig {
        preview_bytes: args.preview_bytes,
        retention: RetentionPolicy {
            max_runs: args.keep_runs,
            max_age: args
                .keep_days
                .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
        },
        ..args.server.config()
    };
    let mut state = AppState::try_new(engine, store, config).context("--base-domain")?;
    state = args.server.with_routes(state).await?;
    // Publishes made while a mirror route store was unreachable.
    match state.gateway.reconcile(&state.store).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(stages = n, "route store brought up to date"),
        Err(e) => {
            tracing::warn!(error = %e.message, "the route store may be behind; publish again to retry")
        }
    }
    state.runner.set_instance(instance);
    state.editor_background = true;
    listen_and_serve(state, args.listen).await
}

/// Binds `addr`, prints the line scripts wait for, serves until a signal.
pub async fn listen_and_serve(state: AppState, addr: SocketAddr) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
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

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
