//! `gateway [serve|migrate]`: configuration comes from `COUPLE_*` and `GATEWAY_*`.

use anyhow::Context as _;
use clap::Parser as _;
use couple_common::{
    cli::{Cli, Command},
    config::SharedConfig,
    server::{bind, spawn_admin},
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
    if let Some(port) = config.admin_port {
        let admin = bind(&config.host, port).await.with_context(|| format!("binding the admin port {port}"))?;
        tracing::info!(addr = %admin.local_addr()?, "admin listening");
        spawn_admin(admin, shutdown.clone());
    }
    gateway::run(config, shared, listener, shutdown).await
}
