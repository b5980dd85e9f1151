//! Graceful shutdown: one signal that every server and background task can wait on, and holds
//! that keep the server draining for work it does not track itself.

use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable handle that resolves once shutdown has begun.
#[derive(Debug, Clone)]
pub struct Shutdown {
    stopping: watch::Receiver<bool>,
    /// One receiver per [`Hold`]; the sender sees when none is left.
    holds: Arc<watch::Sender<()>>,
}

/// Starts the shutdown that [`Shutdown`] handles wait for.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Keeps [`crate::server::serve`] from returning, within the grace period, while it lives: for
/// work that outlives its HTTP connection, such as a WebSocket session sending its going-away
/// close. Without one the process could exit first and the client would see a reset.
#[derive(Debug)]
pub struct Hold {
    _held: watch::Receiver<()>,
}

/// A trigger and its handle; tests use it to stop a server they started.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    let (holds, _) = watch::channel(());
    (ShutdownTrigger(tx), Shutdown { stopping: rx, holds: Arc::new(holds) })
}

impl ShutdownTrigger {
    /// Begins shutdown.
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

impl Drop for ShutdownTrigger {
    fn drop(&mut self) {
        self.trigger();
    }
}

impl Shutdown {
    /// A handle that fires on SIGTERM or Ctrl-C.
    pub fn on_signal() -> Self {
        let (trigger, shutdown) = channel();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received, draining");
            trigger.trigger();
        });
        shutdown
    }

    /// Waits until shutdown begins (at once if it already has).
    pub async fn wait(mut self) {
        // An error means every trigger is gone, which also means shut down.
        let _ = self.stopping.wait_for(|stopping| *stopping).await;
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.stopping.borrow()
    }

    /// A [`Hold`] on the server's drain, released when dropped.
    pub fn hold(&self) -> Hold {
        Hold { _held: self.holds.subscribe() }
    }

    /// Waits until no [`Hold`] is left (at once if there is none).
    pub async fn released(&self) {
        self.holds.closed().await;
    }
}

/// Start-up work a service can serve without, such as seeding or granting roles while its
/// database is still down: runs `attempt` once now and, if it fails, again in the background
/// after 2, 4, 8 and then every 16 s until it succeeds or `shutdown` fires. Each failure is logged
/// as a warning naming `what`.
pub async fn now_or_in_background<F, Fut, E>(what: &'static str, shutdown: Shutdown, attempt: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    let Err(err) = attempt().await else { return };
    tracing::warn!(%err, what, "start-up work failed; retrying in the background");
    tokio::spawn(async move {
        for retry in 1u32.. {
            let wait = std::time::Duration::from_secs(1 << retry.min(4));
            tokio::select! {
                () = shutdown.clone().wait() => return,
                () = tokio::time::sleep(wait) => {}
            }
            match attempt().await {
                Ok(()) => {
                    tracing::info!(what, retry, "start-up work done");
                    return;
                }
                Err(err) => tracing::warn!(%err, what, retry, "start-up work failed; retrying"),
            }
        }
    });
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn released_waits_for_every_hold_of_every_clone() {
        let (_trigger, shutdown) = channel();
        let released = async |s: &Shutdown| tokio::time::timeout(std::time::Duration::from_secs(1), s.released()).await.is_ok();
        assert!(released(&shutdown).await, "none was taken");
        let (first, second) = (shutdown.hold(), shutdown.clone().hold());
        assert!(!released(&shutdown).await);
        drop(first);
        assert!(!released(&shutdown).await, "one hold is left");
        drop(second);
        assert!(released(&shutdown).await);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_start_up_work_is_retried_in_the_background_until_it_succeeds() {
        let (_trigger, shutdown) = channel();
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        now_or_in_background("test work", shutdown, move || {
            let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move { if call < 3 { Err("not yet") } else { Ok(()) } }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "tried once before returning");
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3, "retried until it succeeded, then left alone");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_retries() {
        let (trigger, shutdown) = channel();
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        now_or_in_background("test work", shutdown, move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>("down") }
        })
        .await;
        trigger.trigger();
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
