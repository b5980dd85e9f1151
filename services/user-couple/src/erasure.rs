//! Erasure of deleted accounts and couples in the services that hold user or couple data
//! (api.md, Erasure).
//!
//! The deletion's transaction queues one outbox row per deployed target service
//! (`USER_COUPLE_ERASURE_SERVICES`) for the account (services that hold user data) and for each
//! couple no former member has an account of any more (services that hold couple data); a
//! background [`Worker`] calls each service's `DELETE /internal/users/{id}` or
//! `DELETE /internal/couples/{id}` with the internal token until it confirms with 204, with
//! capped exponential backoff in between. The endpoints answer 204 also when the service holds
//! nothing of the user or couple, so anything else (a 404 from a service without the internal
//! token or the route included) is retried rather than taken as done. Rows are claimed by moving
//! their next attempt ahead, so replicas share the work without delivering one row twice at
//! once, and a replica that dies mid-delivery leaves the row to be retried after the lease.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use couple_common::{net::INTERNAL_TOKEN_HEADER, shutdown::Shutdown};
use couple_registry::{ServiceSpec, USER_COUPLE};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;

use crate::store::{EraseIn, ErasureKind, ErasureTask, Store, StoreResult};

/// What account deletion needs: the services to queue erasures for, and a way to wake the
/// worker so the first attempt does not wait for the next poll.
#[derive(Debug, Clone, Default)]
pub struct Erasure {
    users: Vec<&'static str>,
    couples: Vec<&'static str>,
    wake: Arc<Notify>,
}

impl Erasure {
    /// No fan-out: deletions stay in this service.
    pub fn off() -> Self {
        Self::default()
    }

    /// The services deleted accounts (those that hold user data) and couples (those that hold
    /// couple data) are erased in.
    pub fn erase_in(&self) -> EraseIn<'_> {
        EraseIn { users: &self.users, couples: &self.couples }
    }

    /// Tells the worker that new rows are queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// One service the worker delivers to.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its registry name, as stored in the outbox.
    pub service: &'static str,
    /// Its base URL.
    pub url: String,
}

/// Waits between attempts: `initial`, doubling with each failed attempt, never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// After the first failure.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `attempts`-th attempt failed.
    pub fn after(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).max(0)).unwrap_or(u32::MAX).min(30);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }
}

/// Tuning of the [`Worker`].
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Between attempts at one row.
    pub backoff: Backoff,
    /// How often due rows are looked for when nothing wakes the worker (rows of other replicas,
    /// retries that came due).
    pub poll: Duration,
    /// How long a claimed row is left alone: longer than one delivery can take.
    pub lease: Duration,
    /// Bound on one `DELETE`.
    pub request_timeout: Duration,
    /// Rows claimed at once per service.
    pub batch: i64,
}

impl WorkerSettings {
    /// One-second polls and first retry, retries capped at `max_backoff`.
    pub fn new(max_backoff: Duration) -> Self {
        Self {
            backoff: Backoff { initial: Duration::from_secs(1), max: max_backoff },
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            batch: 32,
        }
    }
}

/// Delivers queued erasures.
pub struct Worker {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    targets: Vec<Target>,
    internal_token: SecretString,
    settings: WorkerSettings,
    wake: Arc<Notify>,
}

impl Worker {
    /// A worker delivering to `targets`, and the [`Erasure`] handle that queues for it.
    pub fn new(
        store: Arc<dyn Store>,
        targets: Vec<Target>,
        internal_token: SecretString,
        settings: WorkerSettings,
    ) -> anyhow::Result<(Self, Erasure)> {
        let http = reqwest::Client::builder().timeout(settings.request_timeout).build()?;
        let holding = |holds: fn(&ServiceSpec) -> bool| {
            targets.iter().filter(|t| couple_registry::by_name(t.service).is_some_and(holds)).map(|t| t.service).collect()
        };
        let erasure =
            Erasure { users: holding(|s| s.holds_user_data), couples: holding(|s| s.holds_couple_data), wake: Arc::new(Notify::new()) };
        let worker = Self { store, http, targets, internal_token, settings, wake: erasure.wake.clone() };
        Ok((worker, erasure))
    }

    /// Delivers until `shutdown`; an undelivered row stays queued for the next start.
    pub async fn run(self, shutdown: Shutdown) {
        loop {
            tokio::select! {
                () = shutdown.clone().wait() => break,
                delivered = self.deliver_due() => {
                    if let Err(err) = delivered {
                        tracing::warn!(%err, "could not read the erasure outbox; retrying");
                    }
                }
            }
            tokio::select! {
                () = shutdown.clone().wait() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    /// One pass: claims and delivers every due row of every target, accounts and couples;
    /// returns how many were confirmed.
    pub async fn deliver_due(&self) -> StoreResult<usize> {
        let mut confirmed = 0;
        for target in &self.targets {
            for kind in ErasureKind::ALL {
                loop {
                    let now = Utc::now();
                    let lease_until = now + self.settings.lease;
                    let tasks = self.store.claim_erasures(kind, target.service, now, lease_until, self.settings.batch).await?;
                    for task in &tasks {
                        confirmed += usize::from(self.deliver(target, task).await?);
                    }
                    if tasks.len() < usize::try_from(self.settings.batch).unwrap_or(usize::MAX) {
                        break;
                    }
                }
            }
        }
        Ok(confirmed)
    }

    /// One attempt at one row: removed when confirmed, rescheduled otherwise.
    #[tracing::instrument(name = "erasure.deliver", skip_all,
        fields(kind = ?task.kind, id = %task.id, service = target.service, attempt = task.attempts))]
    async fn deliver(&self, target: &Target, task: &ErasureTask) -> StoreResult<bool> {
        let url = format!("{}{}", target.url.trim_end_matches('/'), task.kind.path(task.id));
        let outcome = self.http.delete(&url).header(INTERNAL_TOKEN_HEADER, self.internal_token.expose_secret()).send().await;
        let failure = match outcome {
            Ok(res) if res.status() == StatusCode::NO_CONTENT => None,
            Ok(res) => Some(format!("answered {}", res.status())),
            Err(err) => Some(format!("unreachable: {err}")),
        };
        let Some(failure) = failure else {
            self.store.complete_erasure(task.kind, task.id, target.service).await?;
            tracing::info!("erased");
            return Ok(true);
        };
        let wait = self.settings.backoff.after(task.attempts);
        tracing::warn!(error = %failure, retry_in_secs = wait.as_secs_f64(), "erasure not confirmed; will retry");
        let next = Utc::now() + wait;
        self.store.retry_erasure(task.kind, task.id, target.service, next, &failure).await?;
        Ok(false)
    }
}

/// Starts the fan-out the configuration asks for: the worker runs until `shutdown`. Without
/// targets it says at start that deletions stay here, and warns about rows queued for services
/// that are no longer configured (they stay until such a service is deployed again).
pub async fn start(
    store: Arc<dyn Store>,
    targets: Vec<&'static ServiceSpec>,
    peers: &couple_common::config::PeerUrls,
    internal_token: Option<SecretString>,
    settings: WorkerSettings,
    shutdown: Shutdown,
) -> anyhow::Result<Erasure> {
    // Only reported: the service starts (and answers 503) while the database is down.
    let pending = async |service| {
        let mut pending = 0;
        for kind in ErasureKind::ALL {
            pending +=
                store.pending_erasures(kind, service).await.inspect_err(|err| tracing::warn!(%err, "could not count queued erasures"))?;
        }
        StoreResult::Ok(pending)
    };
    for spec in USER_COUPLE.erasure_targets().filter(|spec| !targets.contains(spec)) {
        if let Ok(pending) = pending(spec.name).await
            && pending > 0
        {
            tracing::warn!(
                service = spec.name,
                pending,
                "erasures are queued for a service not in USER_COUPLE_ERASURE_SERVICES; they wait until it is"
            );
        }
    }
    if targets.is_empty() {
        tracing::info!(
            "erasure fan-out is off (USER_COUPLE_ERASURE_SERVICES is empty): deleted accounts and couples are erased in user-couple only"
        );
        return Ok(Erasure::off());
    }
    let Some(internal_token) = internal_token else {
        anyhow::bail!("USER_COUPLE_ERASURE_SERVICES needs COUPLE_INTERNAL_TOKEN to call the services' /internal/ endpoints");
    };
    let targets: Vec<Target> = targets.into_iter().map(|spec| Target { service: spec.name, url: peers.url(spec) }).collect();
    for target in &targets {
        let pending = pending(target.service).await.ok();
        tracing::info!(service = target.service, url = %target.url, ?pending, "erasure fan-out: deleted accounts and couples are erased there too");
    }
    let (worker, erasure) = Worker::new(store, targets, internal_token, settings)?;
    tokio::spawn(worker.run(shutdown));
    Ok(erasure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_the_initial_wait_up_to_the_cap() {
        let backoff = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(60) };
        let waits: Vec<_> = [1, 2, 3, 6, 7, 100, i64::MAX].iter().map(|n| backoff.after(*n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 32, 60, 60, 60]);
        assert_eq!(backoff.after(0), Duration::from_secs(1), "a row never attempted waits the initial time");
    }
}
