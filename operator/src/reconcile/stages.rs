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
    gates::{JobRetry, JobState, database_started, job_state},
    read::{Listed, Live, Snapshot},
    report::{component, component_name},
    workload::Workload,
};
use crate::{
    apply::Writes,
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
async fn ensure_job(writes: &impl Writes, desired: &Job, live: Option<&Job>, retry: JobRetry) -> Result<JobState, kube::Error> {
    match live {
        Some(live) if config_hash(live) == config_hash(desired) => match job_state(Some(live)) {
            JobState::Failed if retry.due(live) => {
                tracing::info!(job = %live.name_any(), "running a failed Job again");
                writes.delete::<Job>(&live.name_any()).await?;
                Ok(JobState::Running)
            }
            state => Ok(state),
        },
        Some(live) => {
            tracing::info!(job = %live.name_any(), "inputs changed; replacing the Job");
            writes.delete::<Job>(&live.name_any()).await?;
            Ok(JobState::Running)
        }
        None => {
            writes.ensure(desired, None).await?;
            Ok(JobState::Running)
        }
    }
}

/// Ensures each object against its live namesake.
async fn ensure_all<'a, K: Listed + 'a>(
    writes: &impl Writes,
    objects: impl IntoIterator<Item = &'a K>,
    live: &Live,
) -> Result<(), kube::Error> {
    for object in objects {
        writes.ensure(object, live.found(object)).await?;
    }
    Ok(())
}

/// Ensures each workload, records it in `progress.components`, and returns those whose live
/// namesake is not `ready` yet.
async fn ensure_workloads<'a, K: Workload>(
    writes: &impl Writes,
    workloads: &'a [K],
    live: &Live,
    ready: fn(Option<&K>) -> bool,
    progress: &mut Progress,
) -> Result<Vec<&'a K>, kube::Error> {
    let mut waiting = Vec::new();
    for workload in workloads {
        let found = live.found(workload);
        writes.ensure(workload, found).await?;
        let (name, status) = component(workload, found);
        progress.components.insert(name, status);
        if !ready(found) {
            waiting.push(workload);
        }
    }
    Ok(waiting)
}

/// `90s`, `10m`, `2h`: how status messages say a delay.
fn humanize(delay: std::time::Duration) -> String {
    match delay.as_secs() {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Stage 7, on every reconcile whatever gate the others wait at.
pub async fn harden(writes: &impl Writes, desired: &Desired, live: &Live) -> Result<(), kube::Error> {
    ensure_all(writes, &desired.hardening.network_policies, live).await?;
    ensure_all(writes, &desired.hardening.pod_disruption_budgets, live).await
}

/// Applies stages 1-6 of `desired` up to the first gate that is not passed, given what the read
/// step found.
pub async fn apply(
    writes: &impl Writes,
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
            Some(found) => writes.ensure(secret, Some(found)).await?,
            None => writes.create_if_absent(secret, None).await?,
        };
    }

    // 2. Databases.
    ensure_all(writes, &desired.databases.services, live).await?;
    let starting = ensure_workloads(writes, &desired.databases.stateful_sets, live, database_started, &mut progress).await?;
    if !starting.is_empty() {
        let names: Vec<String> = starting.iter().map(|set| set.name_any()).collect();
        progress.databases =
            Gate::Waiting { reason: "DatabasesStarting", message: format!("waiting for a ready pod of {}", names.join(", ")) };
        return Ok(progress);
    }

    // 3. Provisioning.
    if let Some(job) = &desired.provisioning {
        let name = job.name_any();
        match ensure_job(writes, job, live.jobs.get(&name), retry).await? {
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
        match ensure_job(writes, job, live.jobs.get(&migration.job_name), retry).await? {
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
    let services = &desired.services;
    let mut unavailable: Vec<String> = desired
        .migrations
        .iter()
        .filter(|m| m.rollout == Rollout::NotStarted)
        .map(|m| format!("{} (first migration)", m.service.name()))
        .collect();
    ensure_all(writes, &services.services, live).await?;
    let deployments = ensure_workloads(writes, &services.deployments, live, Workload::available, &mut progress).await?;
    unavailable.extend(deployments.into_iter().map(|d| component_name(&d.metadata)));
    let sets = ensure_workloads(writes, &services.stateful_sets, live, Workload::available, &mut progress).await?;
    unavailable.extend(sets.into_iter().map(|s| component_name(&s.metadata)));
    progress.services = match unavailable.is_empty() {
        true => Gate::Done,
        false => {
            Gate::Waiting { reason: "ReplicasUnavailable", message: format!("waiting for {} to be available", unavailable.join(", ")) }
        }
    };

    // 6. Gateway.
    let gateway = &desired.gateway;
    ensure_all(writes, [&gateway.routes], live).await?;
    ensure_all(writes, [&gateway.service], live).await?;
    let deployment = std::slice::from_ref(&gateway.deployment);
    let gateway_unavailable = ensure_workloads(writes, deployment, live, Workload::available, &mut progress).await?;
    ensure_all(writes, &gateway.ingress, live).await?;
    progress.routing = match gateway_unavailable.is_empty() {
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
    use std::{sync::Mutex, time::Duration};

    use k8s_openapi::{
        api::{
            apps::v1::{Deployment, StatefulSet},
            core::v1::{ConfigMap, Secret, Service},
            networking::v1::{Ingress, NetworkPolicy},
            policy::v1::PodDisruptionBudget,
        },
        jiff::Timestamp,
    };
    use rand::{SeedableRng, rngs::StdRng};
    use serde_json::{Value, json};

    use super::*;
    use crate::{
        apply::{Kind, Outcome, drifted},
        builders::{Platform, desired::desired, fixtures, secret::Entropy},
        crd::CoupleApp,
        reconcile::read::ByName,
    };

    /// What the node does to the objects written so far, as in the cluster tests.
    #[derive(Clone, Copy, Default)]
    struct Node<'a> {
        /// StatefulSets get every replica ready.
        stateful_sets: bool,
        /// Jobs whose name starts with one of these succeed.
        jobs: &'a [&'a str],
        /// Deployments get every replica ready and available.
        deployments: bool,
        /// Jobs whose name starts with one of these fail (overriding `jobs`).
        failing: &'a [&'a str],
    }

    const EVERYTHING: Node<'static> = Node { stateful_sets: true, jobs: &["demo-"], deployments: true, failing: &[] };

    /// A namespace in memory: the objects as written (statuses kept across writes, as server-side
    /// apply does) and every write of the last pass, in order (`Kind/name`, `delete Kind/name`).
    #[derive(Default)]
    struct FakeCluster {
        objects: Mutex<BTreeMap<(String, String), Value>>,
        writes: Mutex<Vec<String>>,
        /// `status.migrations` of the CoupleApp, as the status step records it.
        recorded: Mutex<BTreeMap<String, String>>,
    }

    impl FakeCluster {
        fn store<K: Kind>(&self, desired: &K, mut body: Value) {
            let key = (K::kind(&()).into_owned(), desired.name_any());
            self.writes.lock().unwrap().push(format!("{}/{}", key.0, key.1));
            let mut objects = self.objects.lock().unwrap();
            if let Some(status) = objects.get(&key).and_then(|old| old.get("status")) {
                body["status"] = status.clone();
            }
            objects.insert(key, body);
        }

        fn live<K: Kind>(&self) -> ByName<K> {
            let objects = self.objects.lock().unwrap();
            let of_kind = objects.iter().filter(|((kind, _), _)| *kind == K::kind(&()));
            of_kind.map(|((_, name), body)| (name.clone(), serde_json::from_value(body.clone()).unwrap())).collect()
        }

        fn snapshot(&self) -> Snapshot {
            let live = Live {
                secrets: self.live::<Secret>(),
                config_maps: self.live::<ConfigMap>(),
                services: self.live::<Service>(),
                deployments: self.live::<Deployment>(),
                stateful_sets: self.live::<StatefulSet>(),
                jobs: self.live::<Job>(),
                ingresses: self.live::<Ingress>(),
                network_policies: self.live::<NetworkPolicy>(),
                pod_disruption_budgets: self.live::<PodDisruptionBudget>(),
                claims: BTreeMap::new(),
            };
            Snapshot { secrets: live.secrets.clone(), policy_v1: true, live }
        }

        /// Acts as the kubelet and the workload controllers: writes the status `node` calls for.
        fn play_node(&self, node: Node) {
            let failed_now = json!({"failed": 7, "conditions": [
                {"type": "Failed", "status": "True", "lastTransitionTime": Timestamp::now().to_string()}]});
            for ((kind, name), body) in self.objects.lock().unwrap().iter_mut() {
                let replicas = body["spec"]["replicas"].as_i64().unwrap_or(1);
                let status = match kind.as_str() {
                    "StatefulSet" if node.stateful_sets => json!({"replicas": replicas, "readyReplicas": replicas}),
                    "Deployment" if node.deployments => json!({"readyReplicas": replicas, "availableReplicas": replicas}),
                    "Job" if node.failing.iter().any(|p| name.starts_with(p)) => failed_now.clone(),
                    "Job" if node.jobs.iter().any(|p| name.starts_with(p)) => json!({"succeeded": 1}),
                    _ => continue,
                };
                body["status"] = status;
            }
        }

        /// One reconcile's apply step on what is stored now; returns its writes in order, after
        /// recording the migrations that succeeded as the status step would.
        async fn pass(&self, app: &CoupleApp) -> (Vec<String>, Progress) {
            let platform = Platform::new(app).unwrap();
            let snapshot = self.snapshot();
            let recorded = self.recorded.lock().unwrap().clone();
            let mut inputs = snapshot.inputs(&platform, Entropy::from_rng(&mut StdRng::seed_from_u64(7)));
            inputs.migrations = recorded.clone();
            let desired = desired(&platform, &inputs);
            self.writes.lock().unwrap().clear();
            let retry = JobRetry { now: Timestamp::now(), after: Duration::from_secs(600) };
            let progress = apply(self, &desired, &snapshot, &recorded, retry).await.unwrap();
            harden(self, &desired, &snapshot.live).await.unwrap();
            self.recorded.lock().unwrap().clone_from(&progress.migrations_applied);
            (std::mem::take(&mut *self.writes.lock().unwrap()), progress)
        }

        /// Plays the node, then reconciles, until a pass writes nothing more, not even a newly
        /// recorded migration (a status write triggers another reconcile).
        async fn settle(&self, app: &CoupleApp, node: Node<'_>) -> Progress {
            for _ in 0..10 {
                self.play_node(node);
                let before = self.recorded.lock().unwrap().clone();
                let (writes, progress) = self.pass(app).await;
                if writes.is_empty() && progress.migrations_applied == before {
                    return progress;
                }
            }
            panic!("the writes never settled");
        }
    }

    impl Writes for FakeCluster {
        async fn ensure<K: Kind>(&self, desired: &K, live: Option<&K>) -> Result<Outcome, kube::Error> {
            let Some(body) = drifted(desired, live)? else { return Ok(Outcome::Unchanged) };
            self.store(desired, body);
            Ok(Outcome::Applied)
        }

        async fn create_if_absent<K: Kind>(&self, desired: &K, live: Option<&K>) -> Result<Outcome, kube::Error> {
            if live.is_some() {
                return Ok(Outcome::Unchanged);
            }
            self.store(desired, serde_json::to_value(desired).map_err(kube::Error::SerdeError)?);
            Ok(Outcome::Applied)
        }

        async fn delete<K: Kind>(&self, name: &str) -> Result<(), kube::Error> {
            let kind = K::kind(&()).into_owned();
            self.writes.lock().unwrap().push(format!("delete {kind}/{name}"));
            self.objects.lock().unwrap().remove(&(kind, name.to_owned()));
            Ok(())
        }
    }

    /// The kinds written, each run of one kind once.
    fn kinds(writes: &[String]) -> Vec<&str> {
        let mut kinds: Vec<&str> = writes.iter().map(|w| w.split('/').next().unwrap()).collect();
        kinds.dedup();
        kinds
    }

    fn position(writes: &[String], object: &str) -> usize {
        writes.iter().position(|w| w == object).unwrap_or_else(|| panic!("{object} not written: {writes:?}"))
    }

    #[tokio::test]
    async fn nothing_past_the_databases_is_written_before_every_managed_database_is_ready() {
        let (cluster, app) = (FakeCluster::default(), fixtures::managed());
        let (writes, progress) = cluster.pass(&app).await;
        assert_eq!(kinds(&writes), ["Secret", "Service", "StatefulSet", "NetworkPolicy", "PodDisruptionBudget"], "{writes:?}");
        assert!(matches!(progress.databases, Gate::Waiting { reason: "DatabasesStarting", .. }), "{:?}", progress.databases);

        // Two of three databases ready: still nothing more.
        cluster.play_node(Node { stateful_sets: true, ..Node::default() });
        cluster.objects.lock().unwrap().get_mut(&("StatefulSet".to_owned(), "demo-mongodb".to_owned())).unwrap()["status"] = json!({});
        let (writes, progress) = cluster.pass(&app).await;
        assert_eq!(writes, Vec::<String>::new());
        let Gate::Waiting { message, .. } = progress.databases else { panic!("{:?}", progress.databases) };
        assert_eq!(message, "waiting for a ready pod of demo-mongodb");
    }

    #[tokio::test]
    async fn the_provisioning_job_runs_before_any_migration_job_and_migrations_before_any_service_deployment() {
        let (cluster, app) = (FakeCluster::default(), fixtures::managed());
        cluster.pass(&app).await;
        cluster.play_node(Node { stateful_sets: true, ..Node::default() });
        let (writes, progress) = cluster.pass(&app).await;
        assert_eq!(writes, ["Job/demo-provision"], "only provisioning, which the later stages wait for");
        assert!(matches!(progress.databases, Gate::Waiting { reason: "Provisioning", .. }));

        cluster.play_node(Node { stateful_sets: true, jobs: &["demo-provision"], ..Node::default() });
        let (writes, progress) = cluster.pass(&app).await;
        let jobs: Vec<&str> = writes.iter().filter(|w| w.starts_with("Job/")).map(|w| w.split('-').nth(1).unwrap()).collect();
        assert_eq!(jobs, ["user", "question", "schedule"], "one migration per service on PostgreSQL, in start order: {writes:?}");
        assert!(!writes.iter().any(|w| w.starts_with("Deployment/demo-") && !w.ends_with("-gateway")), "{writes:?}");
        assert!(writes.contains(&"StatefulSet/demo-chat".to_owned()), "chat on SQLite migrates itself");
        assert!(matches!(progress.migrations, Gate::Waiting { reason: "MigrationsRunning", .. }));
        assert!(progress.waiting());
    }

    #[tokio::test]
    async fn a_failed_migration_keeps_its_service_undeployed_while_the_others_roll_out() {
        let (cluster, app) = (FakeCluster::default(), fixtures::managed());
        let node = Node { failing: &["demo-user-couple-migrate-"], ..EVERYTHING };
        let progress = cluster.settle(&app, node).await;
        let Gate::Failed { reason, message } = &progress.migrations else { panic!("{:?}", progress.migrations) };
        assert_eq!(*reason, "MigrationFailed");
        assert!(message.contains("user-couple") && !message.contains("schedule-meeting"), "{message}");
        assert_eq!(progress.migrations_applied.keys().collect::<Vec<_>>(), ["question-answer", "schedule-meeting"]);
        let deployments: Vec<String> = cluster.live::<Deployment>().into_keys().collect();
        assert_eq!(deployments, ["demo-gateway", "demo-question-answer", "demo-schedule-meeting"]);
        assert!(matches!(progress.services, Gate::Waiting { .. }), "user-couple's first rollout waits");
    }

    #[tokio::test]
    async fn the_gateway_and_its_routes_are_written_after_every_service() {
        let (cluster, app) = (FakeCluster::default(), fixtures::managed());
        cluster.pass(&app).await;
        cluster.play_node(Node { stateful_sets: true, ..Node::default() });
        cluster.pass(&app).await;
        cluster.play_node(Node { stateful_sets: true, jobs: &["demo-provision"], ..Node::default() });
        let (writes, _) = cluster.pass(&app).await;
        let first_gateway = position(&writes, "ConfigMap/demo-gateway-routes");
        let last_service = position(&writes, "StatefulSet/demo-chat");
        assert!(last_service < first_gateway, "{writes:?}");
        let gateway = ["Service/demo-gateway", "Deployment/demo-gateway", "Ingress/demo-gateway"].map(|o| position(&writes, o));
        assert!(gateway.windows(2).all(|w| first_gateway < w[0] && w[0] < w[1]), "{writes:?}");
        assert!(position(&writes, "Service/demo-question-answer") < first_gateway);

        cluster.play_node(Node { jobs: &["demo-"], ..Node { stateful_sets: true, ..Node::default() } });
        let (_, recorded) = cluster.pass(&app).await;
        assert_eq!(recorded.migrations_applied.len(), 3);
        let (writes, _) = cluster.pass(&app).await;
        let services = ["Deployment/demo-user-couple", "Deployment/demo-schedule-meeting", "Deployment/demo-question-answer"];
        assert!(services.iter().all(|s| writes.contains(&(*s).to_owned())), "{writes:?}");
    }

    #[tokio::test]
    async fn an_idle_pass_writes_nothing_whether_waiting_at_a_gate_or_done() {
        let (cluster, app) = (FakeCluster::default(), fixtures::managed());
        cluster.pass(&app).await;
        assert_eq!(cluster.pass(&app).await.0, Vec::<String>::new(), "waiting for the databases");

        let progress = cluster.settle(&app, EVERYTHING).await;
        assert_eq!(Progress { components: BTreeMap::new(), migrations_applied: BTreeMap::new(), ..progress.clone() }, Progress::done());
        assert_eq!(progress.migrations_applied.len(), 3);
        assert_eq!(
            progress.components.keys().collect::<Vec<_>>(),
            ["chat", "gateway", "mongodb", "postgres", "question-answer", "redis", "schedule-meeting", "user-couple"]
        );
        assert_eq!(cluster.pass(&app).await.0, Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_deleted_child_is_written_again_on_the_next_pass() {
        let (cluster, app) = (FakeCluster::default(), fixtures::managed());
        cluster.settle(&app, EVERYTHING).await;
        for (kind, name) in [("Service", "demo-postgres"), ("NetworkPolicy", "demo-default-deny")] {
            cluster.objects.lock().unwrap().remove(&(kind.to_owned(), name.to_owned()));
        }
        assert_eq!(cluster.pass(&app).await.0, ["Service/demo-postgres", "NetworkPolicy/demo-default-deny"]);
    }

    #[tokio::test]
    async fn a_failed_provisioning_job_is_replaced_only_once_its_retry_is_due() {
        let (cluster, app) = (FakeCluster::default(), fixtures::managed());
        let progress = cluster.settle(&app, Node { stateful_sets: true, failing: &["demo-provision"], ..Node::default() }).await;
        assert!(matches!(progress.databases, Gate::Failed { reason: "ProvisioningFailed", .. }), "{:?}", progress.databases);
        assert!(cluster.live::<Job>().contains_key("demo-provision"), "kept while the retry is not due");

        let long_ago =
            json!({"failed": 7, "conditions": [{"type": "Failed", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]});
        cluster.objects.lock().unwrap().get_mut(&("Job".to_owned(), "demo-provision".to_owned())).unwrap()["status"] = long_ago;
        let (writes, progress) = cluster.pass(&app).await;
        assert_eq!(writes.iter().filter(|w| w.contains("Job")).collect::<Vec<_>>(), ["delete Job/demo-provision"]);
        assert!(matches!(progress.databases, Gate::Waiting { reason: "Provisioning", .. }));
        let (writes, _) = cluster.pass(&app).await;
        assert_eq!(writes, ["Job/demo-provision"], "created again on the next reconcile");
    }

    #[test]
    fn delays_read_as_people_write_them() {
        let say = |secs| humanize(std::time::Duration::from_secs(secs));
        assert_eq!([say(600), say(7200), say(90), say(0)], ["10m", "2h", "90s", "0s"]);
    }

    #[test]
    fn progress_is_waiting_while_any_gate_waits() {
        let mut progress = Progress::done();
        assert!(!progress.waiting());
        progress.migrations = Gate::Failed { reason: "MigrationFailed", message: String::new() };
        assert!(!progress.waiting(), "a failure waits for a change, not for time");
        progress.routing = not_started("x");
        assert!(progress.waiting());
    }
}
