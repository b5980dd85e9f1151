//! The status step, pure: from what the apply step observed to the CoupleApp's status.
//!
//! Deterministic by construction: the same observations give the same status, and a condition
//! keeps its `lastTransitionTime` while its status stays the same, so writing the status again
//! with nothing changed is a no-op and the operator never wakes itself up.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::{
    crd::{ComponentStatus, CoupleAppStatus, Phase},
    validate::Problem,
};

/// Condition types, in the order they are listed.
pub const READY: &str = "Ready";
/// The databases answer and are provisioned.
pub const DATABASES_READY: &str = "DatabasesReady";
/// Every service's migrations for its current image succeeded.
pub const MIGRATIONS_SUCCEEDED: &str = "MigrationsSucceeded";
/// Every workload has its replicas available.
pub const SERVICES_AVAILABLE: &str = "ServicesAvailable";
/// The gateway, its routes and (when asked for) the Ingress are in place.
pub const ROUTING_READY: &str = "RoutingReady";

/// A gate's state as the apply step found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Passed.
    Done,
    /// Not yet; `reason` is a CamelCase word, `message` says what is awaited.
    Waiting { reason: &'static str, message: String },
    /// Cannot pass without a change (a failed migration, a missing Secret).
    Failed { reason: &'static str, message: String },
}

impl Gate {
    fn is_done(&self) -> bool {
        matches!(self, Gate::Done)
    }
}

/// What the apply step found at the gates.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Databases and provisioning.
    pub databases: Gate,
    /// Migrations of every enabled service.
    pub migrations: Gate,
    /// Service workloads.
    pub services: Gate,
    /// Gateway, routes and Ingress.
    pub routing: Gate,
    /// Replicas and image per workload applied so far.
    pub components: BTreeMap<String, ComponentStatus>,
    /// Per service, the migration hash known to have succeeded.
    pub migrations_applied: BTreeMap<String, String>,
}

impl Progress {
    /// Every gate waiting for the same reason, nothing applied (e.g. an invalid spec).
    pub fn waiting_on(reason: &'static str) -> Self {
        let gate = || Gate::Waiting { reason, message: String::new() };
        Self {
            databases: gate(),
            migrations: gate(),
            services: gate(),
            routing: gate(),
            components: BTreeMap::new(),
            migrations_applied: BTreeMap::new(),
        }
    }

    /// Every gate passed.
    pub fn done() -> Self {
        Self {
            databases: Gate::Done,
            migrations: Gate::Done,
            services: Gate::Done,
            routing: Gate::Done,
            components: BTreeMap::new(),
            migrations_applied: BTreeMap::new(),
        }
    }

    /// Whether any gate is still waiting (the reconcile is then requeued soon).
    pub fn waiting(&self) -> bool {
        [&self.databases, &self.migrations, &self.services, &self.routing].iter().any(|g| matches!(g, Gate::Waiting { .. }))
    }
}

/// Everything the status is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The spec generation these observations answer.
    pub generation: Option<i64>,
    /// Problems found by validation; when present nothing else was applied.
    pub invalid: Vec<Problem>,
    /// What the apply step found at the gates.
    pub progress: Progress,
    /// The URL clients use.
    pub endpoint: Option<String>,
    /// Set when optional objects were skipped (e.g. no policy/v1 for PodDisruptionBudgets).
    pub notes: Vec<String>,
}

/// Computes the status. `previous` supplies transition times of unchanged conditions; `now` is
/// the time stamped on conditions that change.
pub fn compute(previous: Option<&CoupleAppStatus>, observed: &Observed, now: Time) -> CoupleAppStatus {
    let was_ready = previous.is_some_and(|s| s.phase == Some(Phase::Ready) || s.phase == Some(Phase::Degraded));
    let mut conditions = Vec::new();
    let mut push = |type_: &str, status: bool, reason: &str, message: String| {
        conditions.push(condition(previous, observed.generation, type_, status, reason, message, &now));
    };

    if !observed.invalid.is_empty() {
        let message = observed.invalid.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        push(READY, false, "InvalidSpec", message);
        return CoupleAppStatus {
            observed_generation: observed.generation,
            phase: Some(Phase::Failed),
            conditions,
            components: previous.map(|p| p.components.clone()).unwrap_or_default(),
            migrations: previous.map(|p| p.migrations.clone()).unwrap_or_default(),
            endpoint: previous.and_then(|p| p.endpoint.clone()),
        };
    }

    let progress = &observed.progress;
    let gates = [
        (DATABASES_READY, &progress.databases, "Provisioned"),
        (MIGRATIONS_SUCCEEDED, &progress.migrations, "Migrated"),
        (SERVICES_AVAILABLE, &progress.services, "Available"),
        (ROUTING_READY, &progress.routing, "Routed"),
    ];
    let all_done = gates.iter().all(|(_, gate, _)| gate.is_done());
    let failed = gates.iter().find_map(|(_, gate, _)| match gate {
        Gate::Failed { reason, message } => Some((*reason, message.clone())),
        _ => None,
    });
    let first_waiting = gates.iter().find_map(|(type_, gate, _)| match gate {
        Gate::Waiting { reason, message } => Some((*type_, *reason, message.clone())),
        _ => None,
    });

    let phase = if all_done {
        Phase::Ready
    } else if failed.is_some() {
        if was_ready { Phase::Degraded } else { Phase::Failed }
    } else {
        match first_waiting.as_ref().map(|(type_, _, _)| *type_) {
            Some(DATABASES_READY) => Phase::Provisioning,
            Some(MIGRATIONS_SUCCEEDED) => Phase::Migrating,
            _ if was_ready => Phase::Degraded,
            _ => Phase::Progressing,
        }
    };

    let (ready_reason, ready_message) = match (&failed, &first_waiting) {
        _ if all_done => (
            "Ready",
            match observed.notes.is_empty() {
                true => "the platform is available".to_owned(),
                false => format!("the platform is available ({})", observed.notes.join("; ")),
            },
        ),
        (Some((reason, message)), _) => (*reason, message.clone()),
        (None, Some((_, reason, message))) => (*reason, message.clone()),
        (None, None) => ("Progressing", String::new()),
    };
    push(READY, all_done, ready_reason, ready_message);
    for (type_, gate, done_reason) in gates {
        match gate {
            Gate::Done => push(type_, true, done_reason, String::new()),
            Gate::Waiting { reason, message } | Gate::Failed { reason, message } => push(type_, false, reason, message.clone()),
        }
    }

    CoupleAppStatus {
        observed_generation: observed.generation,
        phase: Some(phase),
        conditions,
        components: progress.components.clone(),
        migrations: progress.migrations_applied.clone(),
        endpoint: observed.endpoint.clone(),
    }
}

fn condition(
    previous: Option<&CoupleAppStatus>,
    generation: Option<i64>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: &Time,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_owned();
    let before = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == type_));
    // The transition time moves only when the status flips.
    let last_transition_time = match before {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => now.clone(),
    };
    Condition { type_: type_.to_owned(), status, reason: reason.to_owned(), message, last_transition_time, observed_generation: generation }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    fn observed() -> Observed {
        Observed {
            generation: Some(1),
            invalid: vec![],
            progress: Progress::done(),
            endpoint: Some("http://demo-gateway.couple.svc".into()),
            notes: vec![],
        }
    }

    fn waiting(reason: &'static str) -> Gate {
        Gate::Waiting { reason, message: "waiting".into() }
    }

    fn condition_status<'a>(status: &'a CoupleAppStatus, type_: &str) -> &'a str {
        &status.conditions.iter().find(|c| c.type_ == type_).unwrap().status
    }

    #[test]
    fn the_phase_walks_provisioning_migrating_progressing_ready() {
        let mut o = observed();
        o.progress.databases = waiting("DatabaseStarting");
        o.progress.migrations = waiting("NotStarted");
        o.progress.services = waiting("NotStarted");
        o.progress.routing = waiting("NotStarted");
        let s1 = compute(None, &o, time(1));
        assert_eq!(s1.phase, Some(Phase::Provisioning));
        o.progress.databases = Gate::Done;
        let s2 = compute(Some(&s1), &o, time(2));
        assert_eq!(s2.phase, Some(Phase::Migrating));
        o.progress.migrations = Gate::Done;
        let s3 = compute(Some(&s2), &o, time(3));
        assert_eq!(s3.phase, Some(Phase::Progressing));
        o.progress.services = Gate::Done;
        o.progress.routing = Gate::Done;
        let s4 = compute(Some(&s3), &o, time(4));
        assert_eq!(s4.phase, Some(Phase::Ready));
        assert_eq!(condition_status(&s4, READY), "True");
        assert_eq!(s4.observed_generation, Some(1));
    }

    #[test]
    fn recomputing_with_nothing_changed_gives_an_identical_status() {
        let mut o = observed();
        o.progress.services = waiting("ReplicasUnavailable");
        let first = compute(None, &o, time(10));
        let second = compute(Some(&first), &o, time(99));
        assert_eq!(first, second, "a later clock must not change an unchanged status");
    }

    #[test]
    fn transition_times_move_only_when_a_condition_flips() {
        let mut o = observed();
        o.progress.services = waiting("ReplicasUnavailable");
        let first = compute(None, &o, time(10));
        o.progress.services = Gate::Done;
        let second = compute(Some(&first), &o, time(20));
        let t = |s: &CoupleAppStatus, type_: &str| s.conditions.iter().find(|c| c.type_ == type_).unwrap().last_transition_time.clone();
        assert_eq!(t(&second, SERVICES_AVAILABLE), time(20));
        assert_eq!(t(&second, DATABASES_READY), time(10));
    }

    #[test]
    fn a_failed_migration_fails_a_new_install_and_degrades_a_running_one() {
        let mut o = observed();
        o.progress.migrations = Gate::Failed { reason: "MigrationFailed", message: "user-couple migration job failed".into() };
        let fresh = compute(None, &o, time(1));
        assert_eq!(fresh.phase, Some(Phase::Failed));
        let ready = compute(None, &observed(), time(1));
        let degraded = compute(Some(&ready), &o, time(2));
        assert_eq!(degraded.phase, Some(Phase::Degraded));
        let migrations = degraded.conditions.iter().find(|c| c.type_ == MIGRATIONS_SUCCEEDED).unwrap();
        assert_eq!((migrations.status.as_str(), migrations.reason.as_str()), ("False", "MigrationFailed"));
        assert!(migrations.message.contains("user-couple"));
    }

    #[test]
    fn an_invalid_spec_fails_with_the_problems_in_the_ready_condition() {
        let mut o = observed();
        o.invalid = vec![Problem { field: "spec.databases.postgres", message: "PostgreSQL is required by chat".into() }];
        let status = compute(None, &o, time(1));
        assert_eq!(status.phase, Some(Phase::Failed));
        let ready = &status.conditions[0];
        assert_eq!((ready.type_.as_str(), ready.status.as_str(), ready.reason.as_str()), (READY, "False", "InvalidSpec"));
        assert!(ready.message.contains("spec.databases.postgres"));
    }

    #[test]
    fn skipped_optional_objects_are_mentioned_when_ready() {
        let mut o = observed();
        o.notes.push("PodDisruptionBudgets skipped: the cluster does not serve policy/v1".into());
        let status = compute(None, &o, time(1));
        assert!(status.conditions[0].message.contains("policy/v1"));
    }
}
