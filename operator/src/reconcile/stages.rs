//! The apply step: the desired objects in the contract's stage order, stopping at the gates.
//!
//! 1. Secrets.
//! 2. Databases; gate: every managed database has a ready pod.
//! 3. Provisioning; gate: its Job succeeded. Stages 4-6 run only past both gates.
//! 4. Migrations, per service; a success is recorded for the status step. The builders hold
//!    each service's Deployment at its old image until then, so this gate does not stop stage 5.
//! 5. Services.
//! 6. Gateway and Ingress.
//! 7. Hardening (NetworkPolicies, PodDisruptionBudgets) on every reconcile, whatever gate the
//!    others wait at: the default-deny policy should exist before the first pod does.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;

use super::{
    gates::{JobRetry, JobState, database_started, deployment_available, job_state, stateful_set_available},
    read::Snapshot,
    report::{deployment_component, stateful_set_component},
};
use crate::{
    apply::Applier,
    builders::{
        desired::{Desired, Rollout},
        pod::CONFIG_HASH_ANNOTATION,
    },
    status::{Gate, Progress},
};

fn not_started(what: &str) -> Gate {
    Gate::Waiting { reason: "NotStarted", message: format!("waiting for {what}") }
}

fn config_hash(job: &Job) -> Option<&String> {
    job.metadata.annotations.as_ref().and_then(|a| a.get(CONFIG_HASH_ANNOTATION))
}

/// Creates the Job when absent; replaces it (delete now, create on the next reconcile, which
/// the deletion triggers) when its inputs changed, since a Job's pod template is immutable, or
/// when it failed and `retry` says it is time to run it again.
async fn ensure_job(applier: &Applier, desired: &Job, live: Option<&Job>, retry: JobRetry) -> Result<JobState, kube::Error> {
    match live {
        Some(live) if config_hash(live) == config_hash(desired) => match job_state(Some(live)) {
            JobState::Failed if retry.due(live) => {
                tracing::info!(job = %live.name_any(), "running a failed Job again");
                applier.delete::<Job>(&live.name_any()).await?;
                Ok(JobState::Running)
            }
            state => Ok(state),
        },
        Some(live) => {
            tracing::info!(job = %live.name_any(), "inputs changed; replacing the Job");
            applier.delete::<Job>(&live.name_any()).await?;
            Ok(JobState::Running)
        }
        None => {
            applier.ensure(desired, None).await?;
            Ok(JobState::Running)
        }
    }
}

/// `90s`, `10m`, `2h`: how status messages say a delay.
fn humanize(delay: std::time::Duration) -> String {
    match delay.as_secs() {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Applies stages 1-7 of `desired`, given what the read step found.
pub async fn apply(
    applier: &Applier,
    desired: &Desired,
    snapshot: &Snapshot,
    recorded: &BTreeMap<String, String>,
    retry: JobRetry,
) -> Result<Progress, kube::Error> {
    let progress = apply_gated(applier, desired, snapshot, recorded, retry).await?;
    let live = &snapshot.live;
    for policy in &desired.hardening.network_policies {
        applier.ensure(policy, live.network_policies.get(&policy.name_any())).await?;
    }
    for budget in &desired.hardening.pod_disruption_budgets {
        applier.ensure(budget, live.pod_disruption_budgets.get(&budget.name_any())).await?;
    }
    Ok(progress)
}

async fn apply_gated(
    applier: &Applier,
    desired: &Desired,
    snapshot: &Snapshot,
    recorded: &BTreeMap<String, String>,
    retry: JobRetry,
) -> Result<Progress, kube::Error> {
    let live = &snapshot.live;
    // Recorded hashes of services that still have a migration (one with a newer image keeps its
    // old record until the new Job succeeds).
    let migrations_applied: BTreeMap<String, String> = recorded
        .iter()
        .filter(|(service, _)| desired.migrations.iter().any(|m| m.service.name() == service.as_str()))
        .map(|(s, h)| (s.clone(), h.clone()))
        .collect();
    let mut progress = Progress {
        databases: not_started("the databases"),
        migrations: not_started("the databases to be provisioned"),
        services: not_started("the databases to be provisioned"),
        routing: not_started("the databases to be provisioned"),
        components: BTreeMap::new(),
        migrations_applied,
    };

    // 1. Secrets: read ones are applied (only derived URLs can change), others created only if
    // still absent, so a stale read never overwrites a password in use.
    for secret in &desired.secrets {
        match snapshot.secrets.get(&secret.name_any()) {
            Some(found) => applier.ensure(secret, Some(found)).await?,
            None => applier.create_if_absent(secret, None).await?,
        };
    }

    // 2. Databases.
    for service in &desired.databases.services {
        applier.ensure(service, live.services.get(&service.name_any())).await?;
    }
    let mut starting = Vec::new();
    for set in &desired.databases.stateful_sets {
        let found = live.stateful_sets.get(&set.name_any());
        applier.ensure(set, found).await?;
        let (name, component) = stateful_set_component(set, found);
        progress.components.insert(name, component);
        if !database_started(found) {
            starting.push(set.name_any());
        }
    }
    if !starting.is_empty() {
        progress.databases =
            Gate::Waiting { reason: "DatabasesStarting", message: format!("waiting for a ready pod of {}", starting.join(", ")) };
        return Ok(progress);
    }

    // 3. Provisioning.
    if let Some(job) = &desired.provisioning {
        let name = job.name_any();
        match ensure_job(applier, job, live.jobs.get(&name), retry).await? {
            JobState::Succeeded => {}
            JobState::Failed => {
                progress.databases = Gate::Failed {
                    reason: "ProvisioningFailed",
                    message: format!("the provisioning Job {name} failed; it runs again {} after failing", humanize(retry.after)),
                };
                return Ok(progress);
            }
            JobState::Running => {
                progress.databases = Gate::Waiting { reason: "Provisioning", message: format!("waiting for the Job {name} to succeed") };
                return Ok(progress);
            }
        }
    }
    progress.databases = Gate::Done;

    // 4. Migrations.
    let (mut running, mut failed) = (Vec::new(), Vec::new());
    for migration in &desired.migrations {
        let service = migration.service.name();
        let Some(job) = &migration.job else { continue };
        match ensure_job(applier, job, live.jobs.get(&migration.job_name), retry).await? {
            JobState::Succeeded => {
                progress.migrations_applied.insert(service.to_owned(), migration.hash.clone());
            }
            JobState::Failed => failed.push(match &migration.rollout {
                Rollout::HeldBack { running } => {
                    format!("the migration Job {} of {service} failed; {service} keeps running {running}", migration.job_name)
                }
                _ => format!("the migration Job {} of {service} failed", migration.job_name),
            }),
            JobState::Running => running.push(service),
        }
    }
    progress.migrations = if !failed.is_empty() {
        Gate::Failed {
            reason: "MigrationFailed",
            message: format!("{}; failed migrations run again {} after failing", failed.join("; "), humanize(retry.after)),
        }
    } else if !running.is_empty() {
        Gate::Waiting { reason: "MigrationsRunning", message: format!("waiting for the migrations of {}", running.join(", ")) }
    } else {
        Gate::Done
    };

    // 5. Services.
    let mut unavailable: Vec<String> = desired
        .migrations
        .iter()
        .filter(|m| m.rollout == Rollout::NotStarted)
        .map(|m| format!("{} (first migration)", m.service.name()))
        .collect();
    for service in &desired.services.services {
        applier.ensure(service, live.services.get(&service.name_any())).await?;
    }
    for deployment in &desired.services.deployments {
        let found = live.deployments.get(&deployment.name_any());
        applier.ensure(deployment, found).await?;
        let (name, component) = deployment_component(deployment, found);
        if !deployment_available(found) {
            unavailable.push(name.clone());
        }
        progress.components.insert(name, component);
    }
    for set in &desired.services.stateful_sets {
        let found = live.stateful_sets.get(&set.name_any());
        applier.ensure(set, found).await?;
        let (name, component) = stateful_set_component(set, found);
        if !stateful_set_available(found) {
            unavailable.push(name.clone());
        }
        progress.components.insert(name, component);
    }
    progress.services = match unavailable.is_empty() {
        true => Gate::Done,
        false => {
            Gate::Waiting { reason: "ReplicasUnavailable", message: format!("waiting for {} to be available", unavailable.join(", ")) }
        }
    };

    // 6. Gateway.
    let gateway = &desired.gateway;
    applier.ensure(&gateway.routes, live.config_maps.get(&gateway.routes.name_any())).await?;
    applier.ensure(&gateway.service, live.services.get(&gateway.service.name_any())).await?;
    let found = live.deployments.get(&gateway.deployment.name_any());
    applier.ensure(&gateway.deployment, found).await?;
    let (name, component) = deployment_component(&gateway.deployment, found);
    progress.components.insert(name, component);
    if let Some(ingress) = &gateway.ingress {
        applier.ensure(ingress, live.ingresses.get(&ingress.name_any())).await?;
    }
    progress.routing = match deployment_available(found) {
        true => Gate::Done,
        false => Gate::Waiting {
            reason: "GatewayUnavailable",
            message: format!("waiting for {} to be available", gateway.deployment.name_any()),
        },
    };
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_read_as_people_write_them() {
        let say = |secs| humanize(std::time::Duration::from_secs(secs));
        assert_eq!([say(600), say(7200), say(90), say(0)], ["10m", "2h", "90s", "0s"]);
    }

    #[test]
    fn progress_is_waiting_while_any_gate_waits() {
        let mut progress = Progress {
            databases: Gate::Done,
            migrations: Gate::Done,
            services: Gate::Done,
            routing: Gate::Done,
            components: BTreeMap::new(),
            migrations_applied: BTreeMap::new(),
        };
        assert!(!progress.waiting());
        progress.migrations = Gate::Failed { reason: "MigrationFailed", message: String::new() };
        assert!(!progress.waiting(), "a failure waits for a change, not for time");
        progress.routing = not_started("x");
        assert!(progress.waiting());
    }
}
