//! `/livez`, `/readyz` and `/metrics`.
//!
//! - Ready once the list of CoupleApps the controller's watch starts from answers, or
//!   while this replica stands by without the leader Lease: a standby is healthy, and an
//!   unready standby would stall the operator's own rolling update.
//! - Live unless the controller leads, CoupleApps exist, and nothing (no reconcile, no watch
//!   event) has happened for [`Health::stale_after`]: every CoupleApp is requeued at least every
//!   few minutes, so that much silence means the watches or the reconcile loop are stuck.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, http::StatusCode, routing::get};
use kube::{core::DeserializeGuard, runtime::reflector::Store};

use crate::crd::CoupleApp;

/// Shared liveness and readiness state.
pub struct Health {
    synced: AtomicBool,
    leading: AtomicBool,
    last_activity: Mutex<Instant>,
    store: Mutex<Option<Store<DeserializeGuard<CoupleApp>>>>,
    /// Silence after which a leading controller with objects counts as stuck.
    pub stale_after: Duration,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health").field("ready", &self.ready()).field("live", &self.live()).finish()
    }
}

impl Health {
    /// Fresh state: not ready, live, counting silence after `stale_after`.
    pub fn new(stale_after: Duration) -> Self {
        Self {
            synced: AtomicBool::new(false),
            leading: AtomicBool::new(false),
            last_activity: Mutex::new(Instant::now()),
            store: Mutex::new(None),
            stale_after,
        }
    }

    /// Records activity (a reconcile or a watch event).
    pub fn touch(&self) {
        *self.last_activity.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// The controller started leading, with its cache of CoupleApps.
    pub fn start_leading(&self, store: Store<DeserializeGuard<CoupleApp>>) {
        *self.store.lock().unwrap_or_else(|e| e.into_inner()) = Some(store);
        self.synced.store(false, Ordering::SeqCst);
        self.leading.store(true, Ordering::SeqCst);
        self.touch();
    }

    /// The controller stopped (lease lost or shutdown).
    pub fn stop_leading(&self) {
        self.leading.store(false, Ordering::SeqCst);
        *self.store.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether the controller runs here (it holds the Lease, or leader election is off).
    pub fn leading(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// The first watch sync completed.
    pub fn mark_synced(&self) {
        self.synced.store(true, Ordering::SeqCst);
        self.touch();
    }

    /// See the module documentation.
    pub fn ready(&self) -> bool {
        !self.leading.load(Ordering::SeqCst) || self.synced.load(Ordering::SeqCst)
    }

    /// See the module documentation.
    pub fn live(&self) -> bool {
        let objects = self.store.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(0, |s| s.state().len());
        let silent = self.last_activity.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
        is_live(self.leading.load(Ordering::SeqCst), objects, silent, self.stale_after)
    }
}

/// Pure liveness rule.
pub fn is_live(leading: bool, objects: usize, silent: Duration, stale_after: Duration) -> bool {
    !(leading && objects > 0 && silent > stale_after)
}

/// `/livez`, `/readyz` and `/metrics` (Prometheus text).
pub fn router(health: Arc<Health>) -> Router {
    let live = health.clone();
    let ready = health;
    Router::new()
        .route("/livez", get(move || std::future::ready(answer(live.live(), "live"))))
        .route("/readyz", get(move || std::future::ready(answer(ready.ready(), "ready"))))
        .merge(couple_common::server::admin_router())
}

fn answer(ok: bool, what: &'static str) -> (StatusCode, String) {
    match ok {
        true => (StatusCode::OK, format!("{what}\n")),
        false => (StatusCode::SERVICE_UNAVAILABLE, format!("not {what}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_fails_only_for_a_silent_leader_with_objects() {
        let stale = Duration::from_secs(600);
        assert!(is_live(true, 3, Duration::from_secs(10), stale));
        assert!(!is_live(true, 3, Duration::from_secs(601), stale));
        assert!(is_live(true, 0, Duration::from_secs(601), stale), "nothing to reconcile, nothing expected");
        assert!(is_live(false, 3, Duration::from_secs(601), stale), "a standby does not reconcile");
    }

    #[test]
    fn readiness_waits_for_the_first_sync_while_leading() {
        let health = Health::new(Duration::from_secs(600));
        assert!(health.ready(), "a standby is ready");
        let (store, _writer) = kube::runtime::reflector::store();
        health.start_leading(store);
        assert!(!health.ready());
        health.mark_synced();
        assert!(health.ready());
        assert!(health.live());
    }
}
