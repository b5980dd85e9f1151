//! `user-couple [serve|migrate]`: configuration comes from `USER_COUPLE_*` and `COUPLE_*`.

use anyhow::Context;
use clap::Parser;
use couple_common::{
    cli::{Cli, Command},
    config::SharedConfig,
    server,
    shutdown::Shutdown,
    telemetry,
};
use user_couple::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command() {
        Command::Migrate => {
            telemetry::init(Default::default());
            user_couple::migrate(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            let shared = SharedConfig::from_env()?;
            telemetry::init(shared.log_format);
            let shutdown = Shutdown::on_signal();
            server::start_admin(&config.host, config.admin_port, shutdown.clone()).await.context("binding the admin port")?;
            let listener = server::bind(&config.host, config.port).await.with_context(|| format!("binding port {}", config.port))?;
            user_couple::run(config, shared, listener, shutdown).await
        }
    }
}
