//! `/livez`, `/readyz` and `/metrics`, and the log lines that say why the operator waits.
//!
//! - **Ready** unless a fault keeps this replica from doing its part ([`Source`]: joining the
//!   leader election, the controller, the watch of CoupleApps), and, while it leads, once the
//!   first list of CoupleApps answered. `/readyz` names each fault. A standby without faults is
//!   ready: an unready standby would stall the operator's own rolling update.
//! - **Live** unless this replica leads while its controller is not running (the supervisor
//!   releases the Lease as soon as a controller ends, so this only catches a stuck supervisor),
//!   or it leads, CoupleApps exist, and nothing (no reconcile, no watch event) has happened for
//!   [`Health::stale_after`]: every CoupleApp is requeued at least every few minutes, so that
//!   much silence means the watches or the reconcile loop are stuck.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::{Router, http::StatusCode, routing::get};
use kube::{core::DeserializeGuard, runtime::reflector::Store};

use crate::crd::CoupleApp;

/// A fault is logged again, while it lasts, at most this often.
const REPEAT_LOG_AFTER: Duration = Duration::from_secs(60);

/// Where a fault comes from; each source sets and clears its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Taking part in the leader election (the Lease's namespace, RBAC, the API server).
    Election,
    /// Starting or running the controller.
    Controller,
    /// The watch of CoupleApps (the CRD, RBAC, the API server).
    Watch,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Election => "leader election",
            Source::Controller => "controller",
            Source::Watch => "CoupleApp watch",
        }
    }
}

struct Fault {
    reason: String,
    logged_at: Instant,
}

struct State {
    faults: BTreeMap<Source, Fault>,
    leading: bool,
    controller_running: bool,
    listed: bool,
    last_activity: Instant,
    store: Option<Store<DeserializeGuard<CoupleApp>>>,
}

/// Shared liveness and readiness state.
pub struct Health {
    state: Mutex<State>,
    /// Silence after which a leading controller with objects counts as stuck.
    pub stale_after: Duration,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("ready", &self.ready())
            .field("live", &self.live())
            .field("not_ready", &self.not_ready_reason())
            .finish()
    }
}

impl Health {
    /// Fresh state: ready, live, not leading, counting silence after `stale_after`.
    pub fn new(stale_after: Duration) -> Self {
        let state = State {
            faults: BTreeMap::new(),
            leading: false,
            controller_running: false,
            listed: false,
            last_activity: Instant::now(),
            store: None,
        };
        Self { state: Mutex::new(state), stale_after }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records activity (a reconcile or a watch event).
    pub fn touch(&self) {
        self.state().last_activity = Instant::now();
    }

    /// Reports a fault from `source`, replacing its earlier one. Logged as a warning when it is
    /// new or changed, and again every minute while it lasts.
    pub fn fault(&self, source: Source, reason: impl Into<String>) {
        let reason = reason.into();
        let mut state = self.state();
        let log = match state.faults.get(&source) {
            Some(fault) => fault.reason != reason || fault.logged_at.elapsed() >= REPEAT_LOG_AFTER,
            None => true,
        };
        if log {
            tracing::warn!(source = source.label(), %reason, "not ready");
            state.faults.insert(source, Fault { reason, logged_at: Instant::now() });
        }
    }

    /// Clears `source`'s fault, logging the recovery.
    pub fn clear(&self, source: Source) {
        if let Some(fault) = self.state().faults.remove(&source) {
            tracing::info!(source = source.label(), was = %fault.reason, "recovered");
        }
    }

    /// The supervisor started the controller here (it holds the Lease, or election is off).
    pub fn start_leading(&self) {
        let mut state = self.state();
        state.leading = true;
        state.controller_running = true;
        state.listed = false;
        state.store = None;
        state.last_activity = Instant::now();
    }

    /// The controller ended while this replica still leads (the supervisor is about to release).
    pub fn controller_ended(&self) {
        self.state().controller_running = false;
    }

    /// This replica stopped leading: the Lease lost or released, or shutdown.
    pub fn stop_leading(&self) {
        let mut state = self.state();
        state.leading = false;
        state.controller_running = false;
        state.listed = false;
        state.store = None;
        // A standby does not watch: a fault of the watch it had no longer applies.
        state.faults.remove(&Source::Watch);
    }

    /// The controller's cache of CoupleApps, counted by the liveness check.
    pub fn track(&self, store: Store<DeserializeGuard<CoupleApp>>) {
        self.state().store = Some(store);
    }

    /// The watch of CoupleApps listed them all (at start, or after a failure): clears its fault.
    pub fn listed(&self) {
        {
            let mut state = self.state();
            state.listed = true;
            state.last_activity = Instant::now();
        }
        self.clear(Source::Watch);
    }

    /// Whether the controller runs here (it holds the Lease, or leader election is off).
    pub fn leading(&self) -> bool {
        self.state().leading
    }

    /// Why this replica is not ready, or `None` when it is. See the module documentation.
    pub fn not_ready_reason(&self) -> Option<String> {
        let state = self.state();
        let mut reasons: Vec<String> = state.faults.iter().map(|(source, fault)| format!("{}: {}", source.label(), fault.reason)).collect();
        if reasons.is_empty() && state.leading && !state.listed {
            reasons.push("leading; waiting for the first list of CoupleApps".to_owned());
        }
        (!reasons.is_empty()).then(|| reasons.join("\n"))
    }

    /// See the module documentation.
    pub fn ready(&self) -> bool {
        self.not_ready_reason().is_none()
    }

    /// Why this replica is not live, or `None` when it is. See the module documentation.
    pub fn not_live_reason(&self) -> Option<String> {
        let state = self.state();
        let objects = state.store.as_ref().map_or(0, |s| s.state().len());
        liveness(state.leading, state.controller_running, objects, state.last_activity.elapsed(), self.stale_after)
    }

    /// See the module documentation.
    pub fn live(&self) -> bool {
        self.not_live_reason().is_none()
    }
}

/// Pure liveness rule: `None` when live, else why not.
pub fn liveness(leading: bool, controller_running: bool, objects: usize, silent: Duration, stale_after: Duration) -> Option<String> {
    if leading && !controller_running {
        return Some("this replica leads but its controller is not running".to_owned());
    }
    (leading && objects > 0 && silent > stale_after)
        .then(|| format!("the controller has done nothing for {}s with {objects} CoupleApps", silent.as_secs()))
}

/// `/livez`, `/readyz` and `/metrics` (Prometheus text). A failing probe's body says why.
pub fn router(health: Arc<Health>) -> Router {
    let live = health.clone();
    let ready = health;
    Router::new()
        .route("/livez", get(move || std::future::ready(answer(live.not_live_reason(), "live"))))
        .route("/readyz", get(move || std::future::ready(answer(ready.not_ready_reason(), "ready"))))
        .merge(couple_common::server::admin_router())
}

fn answer(failing: Option<String>, what: &'static str) -> (StatusCode, String) {
    match failing {
        None => (StatusCode::OK, format!("{what}\n")),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not {what}:\n{reason}\n")),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn liveness_fails_for_a_silent_leader_with_objects_and_for_a_leader_without_a_controller() {
        let stale = Duration::from_secs(600);
        let (quiet, silent) = (Duration::from_secs(10), Duration::from_secs(601));
        assert_eq!(liveness(true, true, 3, quiet, stale), None);
        assert!(liveness(true, true, 3, silent, stale).is_some_and(|r| r.contains("nothing for 601s with 3")));
        assert_eq!(liveness(true, true, 0, silent, stale), None, "nothing to reconcile, nothing expected");
        assert_eq!(liveness(false, false, 3, silent, stale), None, "a standby does not reconcile");
        assert!(liveness(true, false, 0, quiet, stale).is_some_and(|r| r.contains("controller is not running")), "a zombie leader");
    }

    #[test]
    fn readiness_waits_for_the_first_list_while_leading() {
        let health = Health::new(Duration::from_secs(600));
        assert!(health.ready(), "a standby is ready");
        health.start_leading();
        assert_eq!(health.not_ready_reason().as_deref(), Some("leading; waiting for the first list of CoupleApps"));
        health.listed();
        assert!(health.ready());
        assert!(health.live());
    }

    #[test]
    fn faults_make_a_replica_unready_with_every_reason_until_each_clears() {
        let health = Health::new(Duration::from_secs(600));
        health.fault(Source::Election, "no namespace");
        health.fault(Source::Controller, "crashed");
        assert_eq!(health.not_ready_reason().as_deref(), Some("leader election: no namespace\ncontroller: crashed"));
        health.clear(Source::Election);
        health.clear(Source::Controller);
        assert!(health.ready());

        health.start_leading();
        health.listed();
        health.fault(Source::Watch, "no CRD");
        assert!(!health.ready(), "a failing watch");
        health.listed();
        assert!(health.ready(), "listing again clears the watch's fault");
        health.fault(Source::Watch, "no CRD");
        health.stop_leading();
        assert!(health.ready(), "a standby does not watch");
    }

    #[test]
    fn a_leader_whose_controller_ended_is_not_live_until_it_steps_down() {
        let health = Health::new(Duration::from_secs(600));
        health.start_leading();
        assert!(health.live());
        health.controller_ended();
        assert!(!health.live());
        health.stop_leading();
        assert!(health.live());
    }

    #[tokio::test]
    async fn the_probes_answer_503_with_the_reason() {
        let health = Arc::new(Health::new(Duration::from_secs(600)));
        health.fault(Source::Watch, "the CoupleApp CRD is not installed");
        let get = |path: &'static str| {
            let app = router(health.clone());
            async move {
                let response = app.oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
                (status, String::from_utf8(body.to_vec()).unwrap())
            }
        };
        assert_eq!(
            get("/readyz").await,
            (StatusCode::SERVICE_UNAVAILABLE, "not ready:\nCoupleApp watch: the CoupleApp CRD is not installed\n".into())
        );
        assert_eq!(get("/livez").await, (StatusCode::OK, "live\n".into()));
        health.clear(Source::Watch);
        assert_eq!(get("/readyz").await, (StatusCode::OK, "ready\n".into()));
    }
}
