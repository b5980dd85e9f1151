//! One reconcile of a CoupleApp, as a pipeline: read -> validate (pure) -> desired (pure) ->
//! apply with gates -> delete orphans -> status. Only [`read`], [`stages`], [`orphans`] and
//! [`report`] talk to the API server.

pub mod gates;
pub mod orphans;
pub mod read;
pub mod report;
pub mod stages;
pub mod workload;

use std::{sync::Arc, time::Instant};

use k8s_openapi::{api::core::v1::PersistentVolumeClaim, apimachinery::pkg::apis::meta::v1::Time};
use kube::{
    Resource,
    api::{Api, ApiResource, DynamicObject},
    core::{DeserializeGuard, error_boundary::InvalidObject},
    runtime::{
        controller::Action,
        events::{Event, EventType},
    },
};

use crate::{
    builders::{
        Platform,
        desired::{desired, secrets_to_read},
        pvc,
        secret::Entropy,
    },
    controller::Context,
    crd::{CoupleApp, CoupleAppStatus, Phase},
    status::{Gate, Observed, Progress, READY, compute},
    validate::validate,
};

/// Why a reconcile failed; each variant has a metric label.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the API server failed.
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// The CoupleApp lacks a namespace or uid (never the case for one read from the server).
    #[error("the CoupleApp has no namespace or uid")]
    MissingMetadata,
}

impl Error {
    /// The `reason` label of the failure metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(e)) if e.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(_)) => "api_error",
            Error::Kube(_) => "request_failed",
            Error::MissingMetadata => "missing_metadata",
        }
    }
}

/// The current time, to the second (what the API server stores), so a status written and read
/// back compares equal.
pub fn now() -> Time {
    let seconds = k8s_openapi::jiff::Timestamp::now().as_second();
    Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap_or_default())
}

/// The reason of a malformed CoupleApp's Ready condition.
pub const MALFORMED_SPEC: &str = "MalformedSpec";

/// Reconciles one CoupleApp (or one that failed to parse).
pub async fn reconcile(guard: Arc<DeserializeGuard<CoupleApp>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    ctx.health.touch();
    metrics::counter!("couple_operator_reconciles_total").increment(1);
    let result = match &guard.0 {
        Ok(app) => reconcile_app(app, &ctx).await,
        Err(invalid) => reconcile_malformed(&guard, invalid, &ctx).await,
    };
    metrics::histogram!("couple_operator_reconcile_duration_seconds").record(started.elapsed().as_secs_f64());
    if result.is_ok() {
        ctx.reset_failures(&crate::controller::object_key(guard.meta()));
    }
    result
}

async fn publish(ctx: &Context, reference: &k8s_openapi::api::core::v1::ObjectReference, type_: EventType, reason: &str, note: String) {
    let event = Event { type_, reason: reason.to_owned(), note: Some(note), action: "Reconcile".to_owned(), secondary: None };
    if let Err(err) = ctx.recorder.publish(&event, reference).await {
        tracing::warn!(%err, "could not publish an event");
    }
}

/// The status body for a CoupleApp that does not parse, or `None` when its status already says
/// so (nothing to write). Pure.
pub fn malformed_status(
    error: &str,
    generation: Option<i64>,
    current: Option<&serde_json::Value>,
    now: &Time,
) -> Option<serde_json::Value> {
    let message = format!("the CoupleApp does not match its schema: {error}");
    let ready = current.and_then(|s| s["conditions"].as_array()).and_then(|c| c.iter().find(|c| c["type"] == READY));
    if let Some(ready) = ready
        && ready["status"] == "False"
        && ready["reason"] == MALFORMED_SPEC
        && ready["message"] == message.as_str()
        && current.is_some_and(|s| s["observedGeneration"].as_i64() == generation)
    {
        return None;
    }
    let since = match ready {
        Some(r) if r["status"] == "False" => r["lastTransitionTime"].clone(),
        _ => serde_json::to_value(now).unwrap_or_default(),
    };
    Some(serde_json::json!({
        "observedGeneration": generation,
        "phase": Phase::Failed,
        "conditions": [{"type": READY, "status": "False", "reason": MALFORMED_SPEC, "message": message,
                        "lastTransitionTime": since, "observedGeneration": generation}],
    }))
}

async fn reconcile_malformed(guard: &DeserializeGuard<CoupleApp>, invalid: &InvalidObject, ctx: &Context) -> Result<Action, Error> {
    let (Some(name), Some(namespace)) = (invalid.metadata.name.clone(), invalid.metadata.namespace.clone()) else {
        return Err(Error::MissingMetadata);
    };
    tracing::warn!(%namespace, %name, error = %invalid.error, "malformed CoupleApp");
    let resource = ApiResource::erase::<CoupleApp>(&());
    let raw = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &namespace, &resource).get_opt(&name).await?;
    let current = raw.as_ref().and_then(|o| o.data.get("status"));
    if let Some(status) = malformed_status(&invalid.error, invalid.metadata.generation, current, &now()) {
        let body = serde_json::json!({"apiVersion": "couple.dev/v1alpha1", "kind": "CoupleApp", "status": status});
        let mut note = format!("the CoupleApp does not match its schema: {}", invalid.error);
        match report::patch_status_json(&ctx.client, &namespace, &name, &body, &ctx.writes).await {
            Ok(()) => {}
            // API servers without CRD validation ratcheting (before 1.30) validate the whole
            // object on a status write, so one stored under a laxer schema cannot take a status:
            // the event says it instead, and retrying sooner would not help.
            Err(kube::Error::Api(e)) if e.code == 422 => {
                note.push_str(&format!(" (its status cannot be written either: {})", e.message));
            }
            Err(e) => return Err(e.into()),
        }
        publish(ctx, &guard.object_ref(&()), EventType::Warning, MALFORMED_SPEC, note).await;
    }
    Ok(Action::requeue(ctx.settings.requeue_ready))
}

async fn reconcile_app(app: &CoupleApp, ctx: &Context) -> Result<Action, Error> {
    let platform = Platform::new(app).ok_or(Error::MissingMetadata)?;
    let (name, namespace) = (platform.name.clone(), platform.namespace.clone());
    if app.spec.paused {
        tracing::debug!(%namespace, %name, "paused");
        return Ok(Action::requeue(ctx.settings.requeue_ready));
    }
    let previous = app.status.as_ref();
    let reference = app.object_ref(&());

    if let Err(problems) = validate(&name, &app.spec) {
        let observed = Observed {
            generation: app.metadata.generation,
            invalid: problems,
            progress: Progress::waiting_on("InvalidSpec"),
            endpoint: None,
            notes: vec![],
        };
        let status = report::with_messages(compute(previous, &observed, now()));
        if report::write_status(&ctx.client, &namespace, &name, previous, &status, &ctx.writes).await? {
            publish(ctx, &reference, EventType::Warning, "InvalidSpec", ready_message(&status)).await;
        }
        return Ok(Action::requeue(ctx.settings.requeue_ready));
    }

    let policy_v1 = ctx.policy_v1().await?;
    let applier = ctx.applier(&namespace);
    let snapshot = read::read(&ctx.client, &applier, &namespace, &name, &secrets_to_read(&platform), policy_v1).await?;
    let inputs = snapshot.inputs(&platform, Entropy::from_rng(&mut rand::rngs::OsRng));
    let desired = desired(&platform, &inputs);
    let retry = gates::JobRetry { now: k8s_openapi::jiff::Timestamp::now(), after: ctx.settings.job_retry_after };
    let progress = stages::apply(&applier, &desired, &snapshot, &inputs.migrations, retry).await?;
    stages::harden(&applier, &desired, &snapshot.live).await?;

    let sets = desired.databases.stateful_sets.iter().chain(&desired.services.stateful_sets);
    for claim in pvc::claims_to_adopt(&platform, sets, snapshot.live.claims.values()) {
        tracing::info!(%namespace, app = %name, %claim, "adding the CoupleApp as an owner of a volume claim");
        applier.merge::<PersistentVolumeClaim>(&claim, &pvc::owner_patch(&platform)).await?;
    }

    for (kind, orphan) in orphans::select_orphans(&snapshot.live.owned_names(platform.uid()), &desired.object_names()) {
        tracing::info!(%namespace, app = %name, kind, name = %orphan, "deleting an object the spec no longer asks for");
        orphans::delete(&applier, &kind, &orphan).await?;
    }

    let mut notes = Vec::new();
    if desired.hardening.pod_disruption_budgets_skipped {
        notes.push("PodDisruptionBudgets skipped: the cluster does not serve policy/v1".to_owned());
    }
    let mut progress = progress;
    let waiting = progress.waiting();
    if !desired.missing.is_empty() {
        progress.services = Gate::Failed {
            reason: "SecretNotFound",
            message: desired.missing.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        };
    }
    let observed = Observed {
        generation: app.metadata.generation,
        invalid: vec![],
        progress,
        endpoint: Some(report::endpoint(&name, &namespace, &app.spec)),
        notes,
    };
    let status = report::with_messages(compute(previous, &observed, now()));
    let phase_changed = previous.and_then(|p| p.phase) != status.phase;
    report::write_status(&ctx.client, &namespace, &name, previous, &status, &ctx.writes).await?;
    if phase_changed && let Some(phase) = status.phase {
        let type_ = if matches!(phase, Phase::Failed | Phase::Degraded) { EventType::Warning } else { EventType::Normal };
        publish(ctx, &reference, type_, &format!("{phase:?}"), ready_message(&status)).await;
    }
    // Waiting at a gate: look again soon, as a safety net for a watch event that never came.
    let requeue = if waiting || !desired.missing.is_empty() { ctx.settings.requeue_waiting } else { ctx.settings.requeue_ready };
    Ok(Action::requeue(requeue))
}

fn ready_message(status: &CoupleAppStatus) -> String {
    status.conditions.iter().find(|c| c.type_ == READY).map(|c| format!("{}: {}", c.reason, c.message)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn a_malformed_coupleapp_gets_a_ready_false_condition_once() {
        let first = malformed_status("spec.image: missing field `tag`", Some(2), None, &time(10)).unwrap();
        assert_eq!(first["phase"], "Failed");
        let ready = &first["conditions"][0];
        assert_eq!(
            (ready["type"].as_str(), ready["status"].as_str(), ready["reason"].as_str()),
            (Some("Ready"), Some("False"), Some("MalformedSpec"))
        );
        assert!(ready["message"].as_str().unwrap().contains("missing field `tag`"));
        assert_eq!(malformed_status("spec.image: missing field `tag`", Some(2), Some(&first), &time(20)), None, "already said");
        let other = malformed_status("another problem", Some(3), Some(&first), &time(30)).unwrap();
        assert_eq!(other["conditions"][0]["lastTransitionTime"], first["conditions"][0]["lastTransitionTime"], "still False since 10");
    }

    #[test]
    fn error_labels_name_the_failure_kind() {
        assert_eq!(Error::MissingMetadata.metric_label(), "missing_metadata");
    }

    #[test]
    fn now_is_whole_seconds() {
        assert_eq!(now().0.subsec_nanosecond(), 0);
    }
}
