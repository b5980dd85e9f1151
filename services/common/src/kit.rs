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

    /// Reads the configuration: [`config::load`] under the registry prefix. A service that
    /// calls peers or checks its settings overrides it (peers with
    /// [`config::PeerUrls::from_env`], which serde cannot fill).
    fn load_config() -> anyhow::Result<Self::Config> {
        Ok(config::load(Self::SPEC.env_prefix)?)
    }

    /// Applies the database migrations (the `migrate` subcommand); a service without a database
    /// does nothing.
    fn migrate(config: &Self::Config) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The whole application router; `shutdown` fires when the service should stop, for
    /// long-lived work such as sockets and background workers.
    fn build(config: &Self::Config, shared: &SharedConfig, shutdown: Shutdown) -> impl Future<Output = anyhow::Result<Router>> + Send;

    /// Runs a subcommand of the service's own (`args[0]` is its name, the rest its arguments),
    /// parsing `args` itself; the kit only knows `serve` and `migrate`. A service without any
    /// keeps this default, which refuses.
    fn command(config: &Self::Config, args: Vec<String>) -> impl Future<Output = anyhow::Result<()>> + Send {
        let _ = config;
        async move { Err(unknown_command(Self::SPEC, &args)) }
    }
}

/// The error for a subcommand neither the kit nor the service knows.
pub fn unknown_command(spec: &ServiceSpec, args: &[String]) -> anyhow::Error {
    let name = args.first().map_or("", String::as_str);
    anyhow::anyhow!("unknown command `{name}`; `{} --help` lists the commands", spec.name)
}

/// Runs a service binary: parses `serve|migrate` (anything else goes to
/// [`ServiceMain::command`]), reads the configuration, starts telemetry, the admin port and the
/// API, and stops within the shutdown grace period after SIGTERM or Ctrl-C.
pub async fn main<S: ServiceMain>() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = S::load_config()?;
    match cli.command() {
        Command::Migrate => {
            telemetry::init(Default::default());
            S::migrate(&config).await?;
            tracing::info!(service = S::SPEC.name, "migrations applied");
            Ok(())
        }
        Command::Other(args) => {
            telemetry::init(Default::default());
            S::command(&config, args).await
        }
        Command::Serve => {
            let shared = SharedConfig::from_env()?;
            telemetry::init(shared.log_format);
            raise_open_files_limit();
            let shutdown = Shutdown::on_signal();
            let listen = S::listen(&config);
            server::start_admin(&listen.host, listen.admin_port, shutdown.clone()).await.context("binding the admin port")?;
            let listener = server::bind(&listen.host, listen.port).await.with_context(|| format!("binding port {}", listen.port))?;
            run::<S>(&config, &shared, listener, shutdown).await
        }
    }
}

/// Raises the soft limit on open files to the hard limit. Every socket is a descriptor, and the
/// common soft default of 1,024 is below a thousand WebSocket clients plus the upstream
/// connections the gateway holds for them. Failing only costs capacity, so it is a warning.
pub fn raise_open_files_limit() {
    let before = rlimit::Resource::NOFILE.get();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => tracing::debug!(before = ?before.map(|(soft, _)| soft).ok(), now, "open files soft limit"),
        Err(err) => tracing::warn!(error = %err, "could not raise the open files soft limit; many sockets may exhaust it"),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::routing::get;
    use serde::Deserialize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::{server::ReadinessChecks, shutdown};

    struct Hello;

    #[derive(Serialize, Deserialize)]
    struct HelloConfig {
        #[serde(flatten)]
        listen: ListenConfig,
    }

    impl Default for HelloConfig {
        fn default() -> Self {
            Self { listen: ListenConfig::for_service(Hello::SPEC) }
        }
    }

    impl ServiceMain for Hello {
        const SPEC: &'static ServiceSpec = &couple_registry::CHAT;
        type Config = HelloConfig;

        fn listen(config: &HelloConfig) -> &ListenConfig {
            &config.listen
        }

        async fn migrate(_: &HelloConfig) -> anyhow::Result<()> {
            Ok(())
        }

        async fn build(_: &HelloConfig, shared: &SharedConfig, _: Shutdown) -> anyhow::Result<Router> {
            let api = Router::new().route("/hello", get(|| async { "hi" }));
            Ok(server::app(api, utoipa::openapi::OpenApi::default(), ReadinessChecks::new(), shared.body_limit_bytes))
        }
    }

    /// A plain HTTP/1.0 GET: the status line and the body.
    async fn get_text(addr: std::net::SocketAddr, path: &str) -> (String, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_owned(), body.to_owned())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_open_files_soft_limit_is_raised_to_the_hard_limit() {
        let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
        // Lower it first so the test sees a raise even where it already starts at the hard limit.
        rlimit::Resource::NOFILE.set(hard.min(512), hard).unwrap();
        raise_open_files_limit();
        assert_eq!(rlimit::Resource::NOFILE.get().unwrap(), (hard, hard));
    }

    #[tokio::test]
    async fn a_service_without_commands_of_its_own_refuses_them_by_name() {
        let err = Hello::command(&HelloConfig::default(), vec!["admin".into(), "grant".into()]).await.unwrap_err();
        assert_eq!(err.to_string(), "unknown command `admin`; `chat --help` lists the commands");
    }

    #[tokio::test]
    async fn a_service_runs_with_health_openapi_and_fallback_and_stops_on_shutdown() {
        let listener = server::bind("127.0.0.1", 0).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, shutdown) = shutdown::channel();
        let shared = SharedConfig::with_secret("0123456789abcdef0123456789abcdef");
        let running = tokio::spawn(async move { run::<Hello>(&HelloConfig::default(), &shared, listener, shutdown).await });
        assert_eq!(get_text(addr, "/hello").await, ("HTTP/1.0 200 OK".to_owned(), "hi".to_owned()));
        assert_eq!(get_text(addr, "/readyz").await.0, "HTTP/1.0 200 OK");
        let (status, doc) = get_text(addr, "/openapi.json").await;
        assert_eq!(status, "HTTP/1.0 200 OK");
        assert!(doc.contains(r#""bearer""#) && doc.contains(r#""ErrorEnvelope""#), "{doc}");
        assert!(get_text(addr, "/nothing").await.1.contains("no such endpoint"));
        stop.trigger();
        tokio::time::timeout(Duration::from_secs(5), running).await.expect("stops within the grace period").unwrap().unwrap();
    }
}
