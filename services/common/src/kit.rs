//! The service kit: what a service binary does besides its own routes. A service implements
//! [`ServiceMain`] and its `main` is
//!
//! ```ignore
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     couple_common::kit::main::<user_couple::UserCouple>().await
//! }
//! ```

use std::future::Future;

use anyhow::Context;
use axum::Router;
use clap::Parser;
use couple_registry::ServiceSpec;
use serde::{Serialize, de::DeserializeOwned};
use tokio::net::TcpListener;

use crate::{
    cli::{Cli, Command},
    config::{self, ListenConfig, SharedConfig},
    server,
    shutdown::Shutdown,
    telemetry,
};

/// A service binary: its registry entry, its configuration and how it migrates and builds.
pub trait ServiceMain: 'static {
    /// The service's registry entry: its name, port and environment prefix.
    const SPEC: &'static ServiceSpec;

    /// The service's configuration, read by [`config::load`] under the registry prefix.
    type Config: Serialize + DeserializeOwned + Default + Send + Sync;

    /// Where the service listens.
    fn listen(config: &Self::Config) -> &ListenConfig;

    /// Applies the database migrations (the `migrate` subcommand); a service without a database
    /// does nothing.
    fn migrate(config: &Self::Config) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The whole application router; `shutdown` fires when the service should stop, for
    /// long-lived work such as sockets.
    fn build(config: &Self::Config, shared: &SharedConfig, shutdown: Shutdown) -> impl Future<Output = anyhow::Result<Router>> + Send;
}

/// Runs a service binary: parses `serve|migrate`, reads the configuration, starts telemetry,
/// the admin port and the API, and stops within the shutdown grace period after SIGTERM or Ctrl-C.
pub async fn main<S: ServiceMain>() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config: S::Config = config::load(S::SPEC.env_prefix)?;
    match cli.command() {
        Command::Migrate => {
            telemetry::init(Default::default());
            S::migrate(&config).await?;
            tracing::info!(service = S::SPEC.name, "migrations applied");
            Ok(())
        }
        Command::Serve => {
            let shared = SharedConfig::from_env()?;
            telemetry::init(shared.log_format);
            let shutdown = Shutdown::on_signal();
            let listen = S::listen(&config);
            server::start_admin(&listen.host, listen.admin_port, shutdown.clone()).await.context("binding the admin port")?;
            let listener = server::bind(&listen.host, listen.port).await.with_context(|| format!("binding port {}", listen.port))?;
            run::<S>(&config, &shared, listener, shutdown).await
        }
    }
}

/// Builds the service and serves it on `listener` until `shutdown` fires.
pub async fn run<S: ServiceMain>(
    config: &S::Config,
    shared: &SharedConfig,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let app = S::build(config, shared, shutdown.clone()).await?;
    tracing::info!(addr = %listener.local_addr()?, service = S::SPEC.name, "listening");
    server::serve(listener, app, shutdown, shared.shutdown_grace()).await?;
    Ok(())
}
