//! `weft router`: a replica that serves published flows only, against the
//! store a `weft serve` manages (the same database, the same secret key).
//!
//! It answers `{project}-{stage}.DOMAIN/...` (and the path fallback) and
//! the probes, and nothing of the management API or the editor. Its route
//! tables follow publishes made anywhere: PostgreSQL notifies it, and it
//! re-checks the versions of the stages it holds (see the gateway's
//! `tables` module). Like `weft serve`, it fails the runs of processes that
//! stopped, and no other's (`weft::store::instances`).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use weft::server::AppState;

use super::common::engine;
use super::serve::{ServerArgs, init_logging, listen_and_serve};

#[derive(Debug, Args)]
pub struct RouterArgs {
    /// Address to listen on.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8081",
        env = "WEFT_ROUTER_LISTEN"
    )]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub async fn run(args: RouterArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let store = args.server.store().await?;
    let instance = args.server.instance(&store).await?;
    let engine = engine(&args.server.nodes).await?;
    let state = AppState::try_new(engine, store, args.server.config())
        .context("--base-domain")?
        .router_only();
    let state = args.server.with_routes(state).await?;
    state.runner.set_instance(instance);
    listen_and_serve(state, args.listen).await
}
