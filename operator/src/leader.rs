//! Leader election through the Lease `couple-operator` (kube-lease-manager): the controller runs
//! only while this replica holds the Lease; losing it stops the controller, which starts again
//! when the Lease is won back.

use std::sync::Arc;

use couple_common::shutdown::{self, Shutdown, ShutdownTrigger};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::task::JoinHandle;

use crate::controller::{Context, RunConfig, run_controller};

/// The Lease's name.
pub const LEASE_NAME: &str = "couple-operator";
/// Seconds a Lease stays valid without renewal.
const LEASE_DURATION_SECONDS: u64 = 15;
/// Seconds before expiry at which the holder renews.
const LEASE_GRACE_SECONDS: u64 = 5;

struct Running {
    stop: ShutdownTrigger,
    task: JoinHandle<Result<(), kube::Error>>,
}

impl Running {
    async fn stop(self) {
        self.stop.trigger();
        match self.task.await {
            Ok(Err(err)) => tracing::warn!(%err, "controller ended with an error"),
            Err(err) => tracing::warn!(%err, "controller task failed"),
            Ok(Ok(())) => {}
        }
    }
}

/// Runs the controller whenever this replica holds the Lease, until `shutdown`; then releases
/// the Lease so a standby takes over at once.
pub async fn run_while_leading(ctx: Arc<Context>, config: &RunConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let manager = LeaseManagerBuilder::new(ctx.client.clone(), LEASE_NAME)
        .with_namespace(config.namespace.clone())
        .with_identity(config.identity.clone())
        .with_duration(LEASE_DURATION_SECONDS)
        .with_grace(LEASE_GRACE_SECONDS)
        .build()
        .await?;
    tracing::info!(identity = %config.identity, namespace = %config.namespace, lease = LEASE_NAME, "waiting for the leader lease");
    let (mut leading, lease_task) = manager.watch().await;
    let mut running: Option<Running> = None;
    loop {
        let holds = *leading.borrow_and_update();
        match (holds, running.is_some()) {
            (true, false) => {
                tracing::info!("leader lease acquired; starting the controller");
                let (stop, stopped) = shutdown::channel();
                running = Some(Running { stop, task: tokio::spawn(run_controller(ctx.clone(), stopped)) });
            }
            (false, true) => {
                tracing::warn!("leader lease lost; stopping the controller");
                if let Some(r) = running.take() {
                    r.stop().await;
                }
            }
            _ => {}
        }
        tokio::select! {
            () = shutdown.clone().wait() => break,
            changed = leading.changed() => if changed.is_err() {
                anyhow::bail!("the leader election task ended");
            },
        }
    }
    if let Some(r) = running.take() {
        r.stop().await;
    }
    // Closing the channel ends the lease task, which hands the manager back for the release.
    drop(leading);
    match lease_task.await {
        Ok(Ok(manager)) => {
            if let Err(err) = manager.release().await {
                tracing::warn!(%err, "could not release the leader lease");
            }
        }
        Ok(Err(err)) => tracing::warn!(%err, "leader election ended with an error"),
        Err(err) => tracing::warn!(%err, "leader election task failed"),
    }
    Ok(())
}
