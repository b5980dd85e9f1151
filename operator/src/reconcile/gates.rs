//! Gate evaluation, pure: from the status of live objects to whether a stage may be passed.
//!
//! Without a kubelet (the test control plane) these statuses are written by the tests acting as
//! the node, so only the fields a kubelet-fed controller fills are read.

use std::time::Duration;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, StatefulSet},
        batch::v1::Job,
    },
    jiff::Timestamp,
};

/// The Job controller's default `backoffLimit`.
const DEFAULT_BACKOFF_LIMIT: i32 = 6;

/// Where a Job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Not created yet, or its pods have not finished.
    Running,
    /// A pod completed successfully.
    Succeeded,
    /// It gave up: more failed pods than `backoffLimit`, or the Job's `Failed` condition.
    Failed,
}

/// The state of a live Job (`None`: not created yet).
pub fn job_state(job: Option<&Job>) -> JobState {
    let Some(job) = job else { return JobState::Running };
    let Some(status) = job.status.as_ref() else { return JobState::Running };
    if status.succeeded.unwrap_or(0) >= 1 {
        return JobState::Succeeded;
    }
    let limit = job.spec.as_ref().and_then(|s| s.backoff_limit).unwrap_or(DEFAULT_BACKOFF_LIMIT);
    let failed_condition = status.conditions.iter().flatten().any(|c| c.type_ == "Failed" && c.status == "True");
    if failed_condition || status.failed.unwrap_or(0) > limit { JobState::Failed } else { JobState::Running }
}

/// When a failed Job is run again. Provisioning or a migration can fail for a reason that
/// passes (a database restarting, a network blip, credentials fixed in place), and with the
/// inputs unchanged nothing else would try again; so a fresh Job replaces a failed one `after`
/// it failed. Until then the status says it failed.
#[derive(Debug, Clone, Copy)]
pub struct JobRetry {
    /// The time of this reconcile.
    pub now: Timestamp,
    /// How long after its failure a Job is replaced.
    pub after: Duration,
}

impl JobRetry {
    /// Whether the failed `job` is due for a fresh run: `after` past its `Failed` condition (or,
    /// lacking one, its start); at once when it has neither.
    pub fn due(&self, job: &Job) -> bool {
        let status = job.status.as_ref();
        let failed_at = status
            .and_then(|s| s.conditions.iter().flatten().find(|c| c.type_ == "Failed" && c.status == "True"))
            .and_then(|c| c.last_transition_time.as_ref())
            .or_else(|| status.and_then(|s| s.start_time.as_ref()));
        let Some(failed_at) = failed_at else { return true };
        let after = k8s_openapi::jiff::SignedDuration::try_from(self.after).unwrap_or(k8s_openapi::jiff::SignedDuration::MAX);
        failed_at.0.checked_add(after).is_ok_and(|due| self.now >= due)
    }
}

/// A database StatefulSet is started once one pod is ready.
pub fn database_started(set: Option<&StatefulSet>) -> bool {
    set.and_then(|s| s.status.as_ref()).and_then(|s| s.ready_replicas).unwrap_or(0) >= 1
}

/// A Deployment is available when every wanted replica is ready and available, and the status
/// describes the current spec (not one from before an image change).
pub fn deployment_available(deployment: Option<&Deployment>) -> bool {
    let Some(deployment) = deployment else { return false };
    let wanted = deployment.spec.replicas.unwrap_or(1);
    let Some(status) = deployment.status.as_ref() else { return wanted == 0 };
    let current = match (status.observed_generation, deployment.metadata.generation) {
        (Some(observed), Some(generation)) => observed >= generation,
        _ => true,
    };
    current && status.ready_replicas.unwrap_or(0) >= wanted && status.available_replicas.unwrap_or(0) >= wanted
}

/// A StatefulSet is available when every wanted replica is ready (`availableReplicas` only
/// exists from Kubernetes 1.22 on).
pub fn stateful_set_available(set: Option<&StatefulSet>) -> bool {
    let Some(set) = set else { return false };
    let wanted = set.spec.replicas.unwrap_or(1);
    let ready = set.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
    let current = match (set.status.as_ref().and_then(|s| s.observed_generation), set.metadata.generation) {
        (Some(observed), Some(generation)) => observed >= generation,
        _ => true,
    };
    current && ready >= wanted
}

/// Ready replicas of a Deployment or StatefulSet status.
pub fn ready_replicas_of_deployment(deployment: Option<&Deployment>) -> i32 {
    deployment.and_then(|d| d.status.as_ref()).and_then(|s| s.ready_replicas).unwrap_or(0)
}

/// Ready replicas of a StatefulSet.
pub fn ready_replicas_of_stateful_set(set: Option<&StatefulSet>) -> i32 {
    set.and_then(|s| s.status.as_ref()).and_then(|s| s.ready_replicas).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_job_is_due_for_a_retry_only_after_the_delay() {
        let at = |secs: i64| Timestamp::from_second(secs).unwrap();
        let retry = |now: i64| JobRetry { now: at(now), after: Duration::from_secs(600) };
        let failed = job(
            json!({}),
            json!({"startTime": "1970-01-01T00:00:10Z", "conditions": [
                {"type": "Failed", "status": "True", "lastTransitionTime": "1970-01-01T00:01:40Z"}]}),
        );
        assert!(!retry(100 + 599).due(&failed), "measured from the failure, not the start");
        assert!(retry(100 + 600).due(&failed));
        let no_condition = job(json!({"backoffLimit": 0}), json!({"failed": 1, "startTime": "1970-01-01T00:00:10Z"}));
        assert!(!retry(609).due(&no_condition) && retry(610).due(&no_condition), "from the start without a condition");
        assert!(retry(0).due(&job(json!({}), json!({"failed": 9}))), "no time at all: at once");
    }

    fn job(spec: serde_json::Value, status: serde_json::Value) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "j"}, "spec": spec, "status": status})).unwrap()
    }

    fn deployment(generation: i64, replicas: i32, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "d", "generation": generation},
            "spec": {"replicas": replicas, "selector": {}, "template": {}},
            "status": status
        }))
        .unwrap()
    }

    fn stateful_set(replicas: i32, status: serde_json::Value) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "s"},
            "spec": {"replicas": replicas, "selector": {}, "serviceName": "s", "template": {}},
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn a_job_succeeds_with_one_successful_pod_and_fails_after_its_backoff_limit() {
        let template = json!({"backoffLimit": 3, "template": {}});
        assert_eq!(job_state(None), JobState::Running);
        assert_eq!(job_state(Some(&job(template.clone(), json!({})))), JobState::Running);
        assert_eq!(job_state(Some(&job(template.clone(), json!({"succeeded": 1})))), JobState::Succeeded);
        assert_eq!(job_state(Some(&job(template.clone(), json!({"failed": 3})))), JobState::Running, "three retries allowed");
        assert_eq!(job_state(Some(&job(template.clone(), json!({"failed": 4})))), JobState::Failed);
        let failed = json!({"conditions": [{"type": "Failed", "status": "True"}]});
        assert_eq!(job_state(Some(&job(template, failed))), JobState::Failed);
        assert_eq!(job_state(Some(&job(json!({"template": {}}), json!({"failed": 6})))), JobState::Running, "default limit 6");
    }

    #[test]
    fn a_database_is_started_with_one_ready_pod() {
        assert!(!database_started(None));
        assert!(!database_started(Some(&stateful_set(1, json!({"replicas": 1})))));
        assert!(database_started(Some(&stateful_set(1, json!({"replicas": 1, "readyReplicas": 1})))));
    }

    #[test]
    fn a_deployment_is_available_only_with_every_replica_ready_and_available_for_its_generation() {
        assert!(!deployment_available(None));
        assert!(!deployment_available(Some(&deployment(1, 2, json!({"readyReplicas": 1, "availableReplicas": 1})))));
        assert!(!deployment_available(Some(&deployment(1, 2, json!({"readyReplicas": 2, "availableReplicas": 1})))));
        assert!(deployment_available(Some(&deployment(1, 2, json!({"readyReplicas": 2, "availableReplicas": 2})))));
        let stale = json!({"observedGeneration": 1, "readyReplicas": 2, "availableReplicas": 2});
        assert!(!deployment_available(Some(&deployment(2, 2, stale))), "counts from before the new spec");
        assert_eq!(ready_replicas_of_deployment(Some(&deployment(1, 2, json!({"readyReplicas": 1})))), 1);
    }

    #[test]
    fn a_stateful_set_is_available_with_every_replica_ready() {
        assert!(!stateful_set_available(None));
        assert!(!stateful_set_available(Some(&stateful_set(2, json!({"readyReplicas": 1})))));
        assert!(stateful_set_available(Some(&stateful_set(2, json!({"readyReplicas": 2})))));
        assert_eq!(ready_replicas_of_stateful_set(Some(&stateful_set(2, json!({"readyReplicas": 2})))), 2);
    }
}
