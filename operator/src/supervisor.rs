//! Keeps exactly one controller running where this replica should reconcile, and never a replica
//! that leads without one.
//!
//! - **Leader election** through the Lease `couple-operator` (kube-lease-manager): the controller
//!   runs only while this replica holds the Lease; losing it stops the controller, which starts
//!   again when the Lease is won back. Joining the election is retried with backoff while it
//!   fails (the Lease's namespace missing, RBAC not bound yet, the API server unreachable).
//! - **A controller that ends on its own** (an error, its streams ending, a panic) is never left
//!   behind: the replica stops leading, releases the Lease at once, stays out of the election long
//!   enough for a standby to take over (and longer with backoff while it keeps failing), and then
//!   joins again. Without leader election it simply restarts the
//!   controller after the backoff.
//! - **Shutdown** stops the controller (in-flight reconciles finish) and releases the Lease.
//!
//! Every fault is reported to [`Health`](crate::health::Health), which logs it and shows it on
//! `/readyz` until it clears.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use couple_common::shutdown::{self, Shutdown, ShutdownTrigger};
use futures_util::future::BoxFuture;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use rand::Rng;
use tokio::task::JoinHandle;

use crate::{
    controller::{Context, RunConfig, run_controller},
    faults::{Retries, Target, describe},
    health::Source,
};

/// The Lease's name.
pub const LEASE_NAME: &str = "couple-operator";
/// Seconds a Lease stays valid without renewal.
const LEASE_DURATION_SECONDS: u64 = 15;
/// Seconds before expiry at which the holder renews.
const LEASE_GRACE_SECONDS: u64 = 5;
/// How long a stopping controller may take to finish its in-flight reconciles.
const STOP_GRACE: Duration = Duration::from_secs(8);
/// How long releasing the Lease may take (the API server may be the reason we stop).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a replica whose controller ended stays out of the election: a standby looks at the
/// Lease at least once per lease duration, so this lets it take over rather than the replica
/// that just failed win the Lease straight back.
const STANDBY_WINDOW: Duration = Duration::from_secs(LEASE_DURATION_SECONDS + 2);

/// Starts one run of the controller until its shutdown fires. The operator runs
/// [`real_controller`]; tests pass one that fails on cue, to check what the supervisor does then.
pub type ControllerFn = Arc<dyn Fn(Arc<Context>, Shutdown) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// [`run_controller`] as a [`ControllerFn`]; its error says what went wrong in plain words.
pub fn real_controller() -> ControllerFn {
    Arc::new(|ctx, stop| {
        Box::pin(async move {
            run_controller(ctx, stop).await.map_err(|err| anyhow::anyhow!(describe(&err, Target::Other("starting the controller"))))
        })
    })
}

/// Runs `controller` under supervision until `shutdown` (see the module documentation).
pub async fn run(ctx: Arc<Context>, config: RunConfig, shutdown: Shutdown, controller: ControllerFn) -> anyhow::Result<()> {
    if config.leader_election {
        run_elected(&ctx, &config, &shutdown, &controller).await;
    } else {
        run_unelected(&ctx, &shutdown, &controller).await;
    }
    Ok(())
}

/// A controller task.
struct Running {
    stop: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
    started: Instant,
}

impl Running {
    fn start(ctx: &Arc<Context>, controller: &ControllerFn) -> Self {
        let (stop, stopped) = shutdown::channel();
        ctx.health.start_leading();
        Self { stop, task: tokio::spawn(controller(ctx.clone(), stopped)), started: Instant::now() }
    }

    /// Waits for the controller to end on its own, which is always a failure; says how it ended.
    async fn ended(&mut self) -> String {
        match (&mut self.task).await {
            Ok(Ok(())) => "it ended without an error".to_owned(),
            Ok(Err(err)) => format!("{err:#}"),
            Err(err) if err.is_panic() => {
                let payload = err.into_panic();
                let message = payload.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| payload.downcast_ref::<String>().cloned());
                format!("it panicked: {}", message.unwrap_or_else(|| "(no message)".into()))
            }
            Err(_) => "it was cancelled".to_owned(),
        }
    }

    /// Stops the controller (shutdown, or the Lease lost): in-flight reconciles get
    /// [`STOP_GRACE`] to finish, then the task is aborted.
    async fn stop(mut self) {
        self.stop.trigger();
        match tokio::time::timeout(STOP_GRACE, &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!(error = %format!("{err:#}"), "the controller ended with an error while stopping"),
            Ok(Err(err)) => tracing::warn!(%err, "the controller task failed while stopping"),
            Err(_) => {
                tracing::warn!(grace = ?STOP_GRACE, "the controller did not stop in time; aborting it");
                self.task.abort();
            }
        }
    }
}

/// Waits for the controller in `running` to end on its own; never, when none runs.
async fn ended(running: &mut Option<Running>) -> String {
    match running {
        Some(r) => r.ended().await,
        None => std::future::pending().await,
    }
}

/// Sleeps `delay`; `true` if `shutdown` fired meanwhile.
async fn sleep_or_shutdown(delay: Duration, shutdown: &Shutdown) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        () = shutdown.clone().wait() => true,
    }
}

fn jitter() -> f64 {
    rand::thread_rng().r#gen::<f64>()
}

/// Without leader election: the controller, restarted with backoff whenever it ends.
async fn run_unelected(ctx: &Arc<Context>, shutdown: &Shutdown, controller: &ControllerFn) {
    let mut restarts = controller_retries();
    loop {
        let mut running = Running::start(ctx, controller);
        let ended = tokio::select! {
            () = shutdown.clone().wait() => None,
            reason = running.ended() => Some(reason),
        };
        let Some(reason) = ended else {
            running.stop().await;
            ctx.health.stop_leading();
            return;
        };
        ctx.health.stop_leading();
        let delay = restarts.after_failure(running.started.elapsed(), jitter());
        ctx.health.fault(Source::Controller, format!("the controller ended ({reason}); restarting it"));
        tracing::error!(%reason, failures = restarts.failures(), restart_in = ?delay, "the controller ended; restarting it");
        if sleep_or_shutdown(delay, shutdown).await {
            return;
        }
        ctx.health.clear(Source::Controller);
    }
}

fn controller_retries() -> Retries {
    Retries::new(Duration::from_secs(1), Duration::from_secs(30))
}

/// How one term in the election ended.
enum Term {
    Shutdown,
    ControllerEnded { reason: String, ran_for: Duration },
    ElectionEnded(String),
}

/// With leader election: join, lead while holding the Lease, and on any failure step down,
/// release, back off and join again.
async fn run_elected(ctx: &Arc<Context>, config: &RunConfig, shutdown: &Shutdown, controller: &ControllerFn) {
    let mut joins = Retries::new(Duration::from_millis(500), Duration::from_secs(15));
    let mut restarts = controller_retries();
    loop {
        let built = tokio::select! {
            () = shutdown.clone().wait() => return,
            built = join(ctx, config) => built,
        };
        let manager = match built {
            Ok(manager) => manager,
            Err(err) => {
                let reason = match &err {
                    LeaseManagerError::KubeError(e) => describe(e, Target::Lease(&config.namespace)),
                    other => format!("taking part in the leader election failed: {other}"),
                };
                ctx.health.fault(Source::Election, reason);
                let delay = joins.after_failure(Duration::ZERO, jitter());
                tracing::debug!(%err, retry_in = ?delay, "joining the leader election failed");
                if sleep_or_shutdown(delay, shutdown).await {
                    return;
                }
                continue;
            }
        };
        joins.reset();
        ctx.health.clear(Source::Election);
        ctx.health.clear(Source::Controller);
        tracing::info!(identity = %config.identity, namespace = %config.namespace, lease = LEASE_NAME, "waiting for the leader lease");
        let (delay, source, reason) = match lead(ctx, manager, shutdown, controller).await {
            Term::Shutdown => return,
            Term::ControllerEnded { reason, ran_for } => {
                let delay = restarts.after_failure(ran_for, jitter()).max(STANDBY_WINDOW);
                tracing::error!(%reason, failures = restarts.failures(), rejoin_in = ?delay, "the controller ended; released the leader lease");
                (
                    delay,
                    Source::Controller,
                    format!("the controller ended ({reason}); released the leader lease and rejoining the election"),
                )
            }
            Term::ElectionEnded(reason) => {
                let delay = joins.after_failure(Duration::ZERO, jitter());
                tracing::error!(%reason, rejoin_in = ?delay, "the leader election ended");
                (delay, Source::Election, format!("the leader election ended ({reason}); rejoining it"))
            }
        };
        ctx.health.fault(source, reason);
        if sleep_or_shutdown(delay, shutdown).await {
            return;
        }
    }
}

/// Joins the election: gets or creates the Lease.
async fn join(ctx: &Context, config: &RunConfig) -> Result<LeaseManager, LeaseManagerError> {
    LeaseManagerBuilder::new(ctx.client.clone(), LEASE_NAME)
        .with_namespace(config.namespace.clone())
        .with_identity(config.identity.clone())
        .with_duration(LEASE_DURATION_SECONDS)
        .with_grace(LEASE_GRACE_SECONDS)
        .build()
        .await
}

/// One term: runs the controller while holding the Lease, until shutdown, a controller that
/// ends, or an election task that ends; then stops leading and releases the Lease.
async fn lead(ctx: &Arc<Context>, manager: LeaseManager, shutdown: &Shutdown, controller: &ControllerFn) -> Term {
    let (mut leading, lease_task) = manager.watch().await;
    let mut running: Option<Running> = None;
    let term = loop {
        let holds = *leading.borrow_and_update();
        match (holds, running.is_some()) {
            (true, false) => {
                tracing::info!("leader lease acquired; starting the controller");
                running = Some(Running::start(ctx, controller));
            }
            (false, true) => {
                tracing::warn!("leader lease lost; stopping the controller");
                if let Some(r) = running.take() {
                    r.stop().await;
                }
                ctx.health.stop_leading();
            }
            _ => {}
        }
        tokio::select! {
            () = shutdown.clone().wait() => break Term::Shutdown,
            changed = leading.changed() => if changed.is_err() {
                break Term::ElectionEnded("its task stopped".to_owned());
            },
            reason = ended(&mut running) => {
                ctx.health.controller_ended();
                let ran_for = running.take().map_or(Duration::ZERO, |r| r.started.elapsed());
                break Term::ControllerEnded { reason, ran_for };
            }
        }
    };
    if let Some(r) = running.take() {
        r.stop().await;
    }
    // Closing the channel makes the lease task release the Lease and hand the manager back.
    drop(leading);
    match tokio::time::timeout(RELEASE_TIMEOUT, lease_task).await {
        Ok(Ok(Ok(_manager))) => tracing::info!("released the leader lease"),
        Ok(Ok(Err(err))) => tracing::warn!(%err, "could not release the leader lease; it expires on its own"),
        Ok(Err(err)) => tracing::warn!(%err, "the leader election task failed; the lease expires on its own"),
        Err(_) => tracing::warn!("releasing the leader lease timed out; it expires on its own"),
    }
    ctx.health.stop_leading();
    term
}
