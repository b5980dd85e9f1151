//! `couple-operator run|crd`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use couple_common::{
    shutdown::{self, Shutdown},
    telemetry,
};
use couple_operator::{
    controller::{Context, RunConfig, run},
    faults::{Retries, Target, describe},
    health::{Health, Source, router},
};

/// The couple operator.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CoupleApp CustomResourceDefinition as YAML.
    Crd,
    /// Run the operator (kubeconfig from the cluster, or KUBECONFIG / ~/.kube/config).
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Where /livez, /readyz and /metrics are served.
    #[arg(long, env = "COUPLE_OPERATOR_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Reconcile only while holding the Lease `couple-operator` (turn off for local runs).
    #[arg(long, env = "COUPLE_OPERATOR_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Apply the CoupleApp CRD before starting (development; the chart installs it in a cluster).
    #[arg(long, env = "COUPLE_OPERATOR_INSTALL_CRD")]
    install_crd: bool,
    /// Log format: auto, json or text.
    #[arg(long, env = "COUPLE_LOG_FORMAT", default_value = "auto", value_parser = ["auto", "json", "text"])]
    log_format: String,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd => {
            print!("{}", couple_operator::crd_yaml());
            Ok(())
        }
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run_operator(args)),
    }
}

async fn run_operator(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init(match args.log_format.as_str() {
        "json" => telemetry::LogFormat::Json,
        "text" => telemetry::LogFormat::Text,
        _ => telemetry::LogFormat::Auto,
    });
    // One shutdown for the operator and the health server: SIGTERM/Ctrl-C, or the operator
    // ending on its own (an error), so the process never lingers half-alive.
    let (trigger, shutdown) = shutdown::channel();
    let trigger = Arc::new(trigger);
    let on_signal = Shutdown::on_signal();
    tokio::spawn({
        let trigger = trigger.clone();
        async move {
            on_signal.wait().await;
            trigger.trigger();
        }
    });
    let client = kube::Client::try_default().await.context("no Kubernetes configuration (in-cluster or KUBECONFIG)")?;
    let config = RunConfig::from_env(args.leader_election);
    let health = Arc::new(Health::new(Duration::from_secs(15 * 60)));
    let listener = tokio::net::TcpListener::bind(args.metrics_addr).await.with_context(|| format!("binding {}", args.metrics_addr))?;
    tracing::info!(addr = %args.metrics_addr, "serving /livez, /readyz and /metrics");
    let server = tokio::spawn(couple_common::server::serve(listener, router(health.clone()), shutdown.clone(), Duration::from_secs(5)));
    let result = if args.install_crd && !install_crd(&client, &health, &shutdown).await {
        Ok(()) // shut down before the CRD could be applied
    } else {
        let ctx = Arc::new(Context::new(client, health, config.settings.clone()));
        run(ctx, config, shutdown).await
    };
    if let Err(err) = &result {
        tracing::error!(error = %err, "the operator stopped");
    }
    trigger.trigger();
    server.await.context("health server task")?.context("health server")?;
    result
}

/// `--install-crd`: applies the CRD, retried with backoff while the API server cannot take it;
/// `false` if shutdown came first.
async fn install_crd(client: &kube::Client, health: &Health, shutdown: &Shutdown) -> bool {
    let mut retries = Retries::new(Duration::from_millis(500), Duration::from_secs(15));
    loop {
        match couple_operator::install_crd(client).await {
            Ok(()) => {
                health.clear(Source::Controller);
                tracing::info!("CoupleApp CRD applied");
                return true;
            }
            Err(err) => {
                let reason = match err.downcast_ref::<kube::Error>() {
                    Some(e) => describe(e, Target::Other("applying the CoupleApp CRD (--install-crd)")),
                    None => format!("{err:#}"),
                };
                health.fault(Source::Controller, reason);
                let delay = retries.after_failure(Duration::ZERO, rand::random());
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.clone().wait() => return false,
                }
            }
        }
    }
}
