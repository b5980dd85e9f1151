//! `gateway [serve|migrate]`: configuration comes from `COUPLE_*` and `GATEWAY_*`.

use anyhow::Context as _;
use clap::Parser as _;
use couple_common::{
    cli::{Cli, Command},
    config::SharedConfig,
    server::{bind, start_admin},
    shutdown::Shutdown,
    telemetry,
};
use gateway::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.command() == Command::Migrate {
        // The gateway has no database; the operator runs `migrate` for every service alike.
        return Ok(());
    }
    let shared = SharedConfig::from_env()?;
    let config = Config::from_env()?;
    telemetry::init(shared.log_format);

    let shutdown = Shutdown::on_signal();
    let listener = bind(&config.host, config.port).await.with_context(|| format!("binding {}:{}", config.host, config.port))?;
    start_admin(&config.host, config.admin_port, shutdown.clone()).await.context("binding the admin port")?;
    gateway::run(config, shared, listener, shutdown).await
}
