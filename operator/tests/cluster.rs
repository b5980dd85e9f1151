//! The operator against a real API server (see the local control plane notes), run in-process
//! under its real supervisor, with leader election off unless a test is about it, one namespace
//! and one controller per test.
//!
//! Runs only when `COUPLE_TEST_KUBECONFIG` names a kubeconfig (as `make test` arranges);
//! otherwise each test prints "skipped: COUPLE_TEST_KUBECONFIG not set" and passes, unless
//! `COUPLE_REQUIRE_K8S` is set (as `make test` does), when a missing kubeconfig fails. No kubelet runs there, so the tests act
//! as the node: they write the status of StatefulSets, Jobs and Deployments themselves (again
//! and again while waiting, since the controller manager's own controllers overwrite it).

use std::{
    future::Future,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use couple_common::shutdown::{self, ShutdownTrigger};
use couple_operator::{
    builders::MANAGER,
    controller::{Context, RunConfig, Settings, run},
    crd::{CoupleApp, Phase},
    health::Health,
    reconcile::reconcile,
    supervisor::{self, ControllerFn},
};
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, StatefulSet},
        batch::v1::Job,
        coordination::v1::Lease,
        core::v1::{Namespace, PersistentVolumeClaim, Pod, Secret, Service},
        events::v1::Event,
        networking::v1::{Ingress, NetworkPolicy},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kube::{
    Api, Client, CustomResourceExt, Resource, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    core::DeserializeGuard,
};
use serde_json::json;
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(90);

#[path = "cluster/faults.rs"]
mod faults;

/// The shared API server's client, with the CRD installed.
async fn test_client() -> Option<Client> {
    let client = client_from_env("COUPLE_TEST_KUBECONFIG").await?;
    install_crd(&client).await;
    Some(client)
}

/// A client for the kubeconfig that `variable` names; `None` (the test skips) when unset, unless
/// `COUPLE_REQUIRE_K8S` is set.
async fn client_from_env(variable: &str) -> Option<Client> {
    let Ok(path) = std::env::var(variable) else {
        // `make test` always provides the API servers; only a bare `cargo test` may skip.
        assert!(std::env::var_os("COUPLE_REQUIRE_K8S").is_none(), "COUPLE_REQUIRE_K8S is set but {variable} is not");
        println!("skipped: {variable} not set");
        return None;
    };
    couple_common::telemetry::init(couple_common::telemetry::LogFormat::Text);
    Some(client_for(Kubeconfig::read_from(&path).expect("a readable kubeconfig")).await)
}

async fn client_for(kubeconfig: Kubeconfig) -> Client {
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("a usable kubeconfig");
    Client::try_from(config).expect("a client")
}

/// The operator's own `run --install-crd` step: server-side apply as its field manager, then wait
/// until the CRD is established. Retried on a server error, as `run --install-crd` does: under the
/// parallel tests' load the loopback etcd now and then drops a write ("unexpected EOF", a 500).
async fn install_crd(client: &Client) {
    let mut attempts = 0;
    loop {
        match couple_operator::install_crd(client).await {
            Ok(()) => return,
            Err(err) if attempts < 10 && is_server_error(&err) => {
                attempts += 1;
                println!("retrying the CRD apply after: {err:#}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(err) => panic!("CRD applied: {err:?}"),
        }
    }
}

fn is_server_error(err: &anyhow::Error) -> bool {
    matches!(err.downcast_ref::<kube::Error>(), Some(kube::Error::Api(status)) if status.code >= 500)
}

async fn namespace(client: &Client, prefix: &str) -> String {
    let name = format!("{prefix}-{}", rand::random::<u32>());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("namespace created");
    name
}

/// Polls `check` until it yields a value, or panics after [`TIMEOUT`].
async fn wait<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

struct Operator {
    ctx: Arc<Context>,
    _stop: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Operator {
    /// The operator without leader election, its controller requeueing often (1 s at a gate, 2 s otherwise), so tests settle fast.
    fn start(client: &Client, namespace: &str) -> Self {
        Self::start_with(client, namespace, |_| {})
    }

    /// A controller with those settings changed by `adjust` (a long `requeue_ready` shows that a
    /// watch, not the periodic check, brought a change).
    fn start_with(client: &Client, namespace: &str, adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings {
            requeue_waiting: Duration::from_secs(1),
            requeue_ready: Duration::from_secs(2),
            namespace: Some(namespace.to_owned()),
            ..Settings::default()
        };
        adjust(&mut settings);
        let ctx = Arc::new(Context::new(client.clone(), Arc::new(Health::new(Duration::from_secs(600))), settings.clone()));
        let config = RunConfig { leader_election: false, namespace: namespace.to_owned(), identity: "test".into(), settings };
        let (stop, stopped) = shutdown::channel();
        let task = tokio::spawn(run(ctx.clone(), config, stopped));
        Self { ctx, _stop: stop, task }
    }

    fn writes(&self) -> u64 {
        self.ctx.writes.load(Ordering::SeqCst)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn app(name: &str, spec: serde_json::Value) -> CoupleApp {
    serde_json::from_value(json!({"apiVersion": "couple.dev/v1alpha1", "kind": "CoupleApp", "metadata": {"name": name}, "spec": spec}))
        .unwrap()
}

fn phase(app: &CoupleApp) -> Option<Phase> {
    app.status.as_ref().and_then(|s| s.phase)
}

/// What the test, acting as the node, makes ready.
#[derive(Clone, Copy)]
struct Node<'a> {
    /// Pods of StatefulSets become ready.
    stateful_sets: bool,
    /// Pods of Jobs whose name starts with one of these succeed.
    jobs: &'a [&'a str],
    /// Pods of ReplicaSets (Deployments) become ready.
    deployments: bool,
    /// Jobs whose name starts with one of these fail (their status says so directly).
    failing: &'a [&'a str],
}

/// Acts as the kubelet: writes the status of the (Pending, unscheduled) pods, so that the
/// controller manager's own controllers derive the StatefulSet, Deployment and Job status from
/// them, as in a real cluster.
async fn play_node(client: &Client, namespace: &str, node: Node<'_>) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    for job in jobs.list(&ListParams::default()).await.unwrap() {
        let name = job.name_any();
        let failed = job.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Failed");
        if node.failing.iter().any(|prefix| name.starts_with(prefix)) && !failed {
            // A finished Job (Failed condition) is left alone by the Job controller.
            let status = json!({"status": {"failed": 4, "active": 0, "startTime": now, "conditions": [
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "lastProbeTime": now, "lastTransitionTime": now}]}});
            let _ = jobs.patch_status(&name, &PatchParams::default(), &Patch::Merge(status)).await;
        }
    }
    for pod in pods.list(&ListParams::default()).await.unwrap() {
        let owner = pod.owner_references().first().map(|o| o.kind.clone()).unwrap_or_default();
        let job = pod.labels().get("job-name").cloned().unwrap_or_default();
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        let status = match owner.as_str() {
            "Job"
                if node.jobs.iter().any(|prefix| job.starts_with(prefix))
                    && !node.failing.iter().any(|p| job.starts_with(p))
                    && phase != "Succeeded" =>
            {
                json!({"status": {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}]}})
            }
            "StatefulSet" | "ReplicaSet"
                if phase != "Running" && (if owner == "StatefulSet" { node.stateful_sets } else { node.deployments }) =>
            {
                json!({"status": {"phase": "Running", "startTime": now, "conditions": [
                    {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                    {"type": "Ready", "status": "True", "lastTransitionTime": now}]}})
            }
            _ => continue,
        };
        let _ = pods.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Merge(status)).await;
    }
}

async fn wait_for_phase(client: &Client, namespace: &str, name: &str, want: Phase, node: Node<'_>) -> CoupleApp {
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        play_node(client, namespace, node).await;
        let app = apps.get(name).await.unwrap();
        if phase(&app) == Some(want) {
            return app;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for phase {want:?}; status: {:#?}", app.status);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn spec() -> serde_json::Value {
    json!({
        "image": {"repository": "couple-platform", "tag": "0.1.0"},
        "gateway": {"ingress": {"host": "couple.example.com", "tlsSecretName": "couple-tls"}},
        "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}
    })
}

const NOTHING: Node<'static> = Node { stateful_sets: false, jobs: &[], deployments: false, failing: &[] };

#[tokio::test]
async fn a_coupleapp_walks_from_provisioning_to_ready_with_every_child_owned() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "walk").await;
    let operator = Operator::start(&client, &ns);
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    let created = apps.create(&PostParams::default(), &app("demo", spec())).await.unwrap();
    let uid = created.uid().unwrap();

    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;
    assert!(operator.ctx.health.ready() && operator.ctx.health.live(), "{:?}", operator.ctx.health);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for name in ["demo-jwt", "demo-internal", "demo-postgres-admin", "demo-redis"] {
        let secret = wait(name, || async { secrets.get_opt(name).await.ok().flatten() }).await;
        let owner = &secret.owner_references()[0];
        assert_eq!((owner.uid.as_str(), owner.controller), (uid.as_str(), Some(true)), "{name}");
    }
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    assert!(sets.get_opt("demo-postgres").await.unwrap().is_some());
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    assert!(jobs.get_opt("demo-provision").await.unwrap().is_none(), "no provisioning before PostgreSQL answers");

    let databases = Node { stateful_sets: true, jobs: &[], deployments: false, failing: &[] };
    wait("the provisioning Job", || async {
        play_node(&client, &ns, databases).await;
        jobs.get_opt("demo-provision").await.ok().flatten()
    })
    .await;
    let provisioned = Node { stateful_sets: true, jobs: &["demo-provision"], deployments: false, failing: &[] };
    let migrating = wait_for_phase(&client, &ns, "demo", Phase::Migrating, provisioned).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    assert!(deployments.get_opt("demo-user-couple").await.unwrap().is_none(), "no service before its first migration");
    assert!(migrating.status.unwrap().migrations.is_empty());

    let migrated = Node { stateful_sets: true, jobs: &["demo-"], deployments: false, failing: &[] };
    wait_for_phase(&client, &ns, "demo", Phase::Progressing, migrated).await;
    let everything = Node { stateful_sets: true, jobs: &["demo-"], deployments: true, failing: &[] };
    let ready = wait_for_phase(&client, &ns, "demo", Phase::Ready, everything).await;
    let status = ready.status.unwrap();
    assert_eq!(status.endpoint.as_deref(), Some("https://couple.example.com"));
    assert!(status.migrations.contains_key("user-couple"), "{:?}", status.migrations);
    for component in ["gateway", "user-couple", "postgres", "chat"] {
        let c = status.components.get(component).unwrap_or_else(|| panic!("{component} in {:?}", status.components));
        assert!(c.replicas >= 1 && !c.image.is_empty(), "{component}");
    }
    assert!(status.conditions.iter().all(|c| c.status == "True"), "{:?}", status.conditions);

    // Recorded migrations leave no Job behind.
    wait("the migration Jobs to be removed", || async {
        let left = jobs.list(&ListParams::default()).await.ok()?;
        left.items.iter().all(|j| !j.name_any().contains("-migrate-")).then_some(())
    })
    .await;
    assert_idle_reconcile_writes_nothing(&client, &ns, &operator).await;
}

#[tokio::test]
async fn a_reconcile_with_nothing_changed_writes_nothing_while_waiting_at_a_gate() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "idle").await;
    let operator = Operator::start(&client, &ns);
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    apps.create(&PostParams::default(), &app("demo", spec())).await.unwrap();
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;

    assert_idle_reconcile_writes_nothing(&client, &ns, &operator).await;
}

/// Waits until the controller (requeueing every second or two) stops writing, then reconciles
/// once more directly and checks that it sent no write either.
async fn assert_idle_reconcile_writes_nothing(client: &Client, namespace: &str, operator: &Operator) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut last = operator.writes();
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = operator.writes();
        if now == last {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the writes never settled ({now})");
        last = now;
    }
    assert!(last > 0);
    let guarded: Api<DeserializeGuard<CoupleApp>> = Api::namespaced(client.clone(), namespace);
    let object = Arc::new(guarded.get("demo").await.unwrap());
    reconcile(object, operator.ctx.clone()).await.expect("reconciled");
    assert_eq!(operator.writes(), last, "a reconcile with nothing to change sent a write");
}

#[tokio::test]
async fn deleted_children_come_back_and_a_removed_ingress_goes() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "restore").await;
    let _operator = Operator::start(&client, &ns);
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    apps.create(&PostParams::default(), &app("demo", spec())).await.unwrap();
    let everything = Node { stateful_sets: true, jobs: &["demo-"], deployments: true, failing: &[] };
    wait_for_phase(&client, &ns, "demo", Phase::Ready, everything).await;

    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    let old_service = services.get("demo-postgres").await.unwrap().uid();
    let old_policy = policies.get("demo-default-deny").await.unwrap().uid();
    services.delete("demo-postgres", &DeleteParams::default()).await.unwrap();
    policies.delete("demo-default-deny", &DeleteParams::default()).await.unwrap();
    wait("the Service to come back", || async {
        services.get_opt("demo-postgres").await.ok().flatten().filter(|s| s.uid() != old_service)
    })
    .await;
    wait("the NetworkPolicy to come back", || async {
        policies.get_opt("demo-default-deny").await.ok().flatten().filter(|p| p.uid() != old_policy)
    })
    .await;

    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), &ns);
    assert!(ingresses.get_opt("demo-gateway").await.unwrap().is_some());
    let remove = json!({"spec": {"gateway": {"ingress": null}}});
    apps.patch("demo", &PatchParams::default(), &Patch::Merge(remove)).await.unwrap();
    wait("the Ingress to be deleted", || async { ingresses.get_opt("demo-gateway").await.ok()?.is_none().then_some(()) }).await;
    let endpoint = wait("the in-cluster endpoint", || async {
        play_node(&client, &ns, everything).await;
        let app = apps.get("demo").await.ok()?;
        app.status?.endpoint.filter(|e| e.starts_with("http://"))
    })
    .await;
    assert_eq!(endpoint, format!("http://demo-gateway.{ns}.svc:80"));
}

#[tokio::test]
async fn an_invalid_coupleapp_gets_a_failed_condition_and_a_warning_event() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "invalid").await;
    let operator = Operator::start(&client, &ns);
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    // Two gateway replicas share state through Redis, which is missing.
    let invalid = json!({"image": {"repository": "couple-platform", "tag": "0.1.0"}, "databases": {"postgres": {"managed": {}}}});
    apps.create(&PostParams::default(), &app("broken", invalid)).await.unwrap();

    let failed = wait_for_phase(&client, &ns, "broken", Phase::Failed, NOTHING).await;
    let ready = failed.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "InvalidSpec"));
    assert!(ready.message.contains("spec.databases.redis"), "{}", ready.message);

    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    wait("the InvalidSpec event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some("InvalidSpec") && e.type_.as_deref() == Some("Warning"))
    })
    .await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    assert!(sets.list(&ListParams::default()).await.unwrap().items.is_empty(), "nothing applied for an invalid spec");
    assert!(operator.writes() >= 1);
    assert!(<CoupleApp as Resource>::kind(&()) == "CoupleApp");
}

#[tokio::test]
async fn a_failed_migration_names_the_service_and_keeps_it_undeployed() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "migfail").await;
    let _operator = Operator::start(&client, &ns);
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    apps.create(&PostParams::default(), &app("demo", spec())).await.unwrap();
    let node = Node { stateful_sets: true, jobs: &["demo-"], deployments: true, failing: &["demo-user-couple-migrate-"] };
    let status = wait("the failure, with the other services migrated", || async {
        play_node(&client, &ns, node).await;
        let status = apps.get("demo").await.ok()?.status?;
        (status.phase == Some(Phase::Failed) && status.migrations.len() == 2).then_some(status)
    })
    .await;
    let migrations = status.conditions.iter().find(|c| c.type_ == "MigrationsSucceeded").unwrap();
    assert_eq!((migrations.status.as_str(), migrations.reason.as_str()), ("False", "MigrationFailed"));
    assert!(migrations.message.contains("user-couple"), "{}", migrations.message);
    assert!(!status.migrations.contains_key("user-couple"));
    assert!(status.migrations.contains_key("question-answer") && status.migrations.contains_key("schedule-meeting"));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    assert!(deployments.get_opt("demo-user-couple").await.unwrap().is_none(), "no image without its migration");
}

#[tokio::test]
async fn a_failed_provisioning_job_runs_again_after_the_retry_delay() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "retry").await;
    let _operator = Operator::start_with(&client, &ns, |s| s.job_retry_after = Duration::from_secs(3));
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    apps.create(&PostParams::default(), &app("demo", spec())).await.unwrap();

    let failing = Node { stateful_sets: true, jobs: &[], deployments: false, failing: &["demo-provision"] };
    let failed = wait_for_phase(&client, &ns, "demo", Phase::Failed, failing).await;
    let databases = failed.status.unwrap().conditions.into_iter().find(|c| c.type_ == "DatabasesReady").unwrap();
    assert_eq!(databases.reason, "ProvisioningFailed");
    assert!(databases.message.contains("runs again 3s after failing"), "{}", databases.message);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let first = jobs.get("demo-provision").await.unwrap().uid().unwrap();

    // Whatever broke is fixed: the next run (a new Job) succeeds.
    let fixed = Node { stateful_sets: true, jobs: &["demo-provision"], deployments: false, failing: &[] };
    wait_for_phase(&client, &ns, "demo", Phase::Migrating, fixed).await;
    let second = jobs.get("demo-provision").await.unwrap().uid().unwrap();
    assert_ne!(first, second, "the failed Job itself cannot succeed; a new one must have run");
}

/// One replica with leader election on (its Lease in `lease_namespace`) watching `namespace`,
/// running `controller` under the real supervisor.
struct Replica {
    ctx: Arc<Context>,
    stop: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    fn start(client: &Client, namespace: &str, lease_namespace: &str, identity: &str, controller: ControllerFn) -> Self {
        let settings = Settings { requeue_waiting: Duration::from_secs(1), namespace: Some(namespace.to_owned()), ..Settings::default() };
        let ctx = Arc::new(Context::new(client.clone(), Arc::new(Health::new(Duration::from_secs(600))), settings.clone()));
        let config = RunConfig { leader_election: true, namespace: lease_namespace.to_owned(), identity: identity.to_owned(), settings };
        let (stop, stopped) = shutdown::channel();
        let task = tokio::spawn(supervisor::run(ctx.clone(), config, stopped, controller));
        Self { ctx, stop, task }
    }

    /// The real operator, its Lease in the namespace it watches.
    fn real(client: &Client, namespace: &str, identity: &str) -> Self {
        Self::start(client, namespace, namespace, identity, supervisor::real_controller())
    }

    /// Shuts the replica down cleanly.
    async fn stop(self) {
        self.stop.trigger();
        self.task.await.expect("the supervisor task").expect("a clean stop");
    }
}

#[tokio::test]
async fn only_the_lease_holder_reconciles_and_a_standby_takes_over() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "lease").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let holder = |want: &'static str| {
        let leases = leases.clone();
        async move {
            wait(&format!("{want} to hold the lease"), || async {
                let lease = leases.get_opt("couple-operator").await.ok()??;
                (lease.spec?.holder_identity.as_deref() == Some(want)).then_some(())
            })
            .await
        }
    };
    let a = Replica::real(&client, &ns, "replica-a");
    holder("replica-a").await;
    let b = Replica::real(&client, &ns, "replica-b");

    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    apps.create(&PostParams::default(), &app("demo", spec())).await.unwrap();
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;
    assert!(a.ctx.writes.load(Ordering::SeqCst) > 0);
    assert_eq!(b.ctx.writes.load(Ordering::SeqCst), 0, "the standby wrote");

    a.stop().await;
    holder("replica-b").await;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services.delete("demo-postgres", &DeleteParams::default()).await.unwrap();
    wait("the new leader to restore the Service", || async { services.get_opt("demo-postgres").await.ok().flatten() }).await;
    assert!(b.ctx.writes.load(Ordering::SeqCst) > 0);
    b.stop().await;
}

#[tokio::test]
async fn a_paused_coupleapp_is_left_alone() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "paused").await;
    let operator = Operator::start(&client, &ns);
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    let mut paused = spec();
    paused["paused"] = json!(true);
    apps.create(&PostParams::default(), &app("demo", paused)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(operator.writes(), 0);
    assert!(apps.get("demo").await.unwrap().status.is_none());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    assert!(secrets.get_opt("demo-jwt").await.unwrap().is_none());

    apps.patch("demo", &PatchParams::default(), &Patch::Merge(json!({"spec": {"paused": false}}))).await.unwrap();
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;
}

#[tokio::test]
async fn a_changed_referenced_secret_rolls_the_pods_at_once() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "roll").await;
    // No periodic check within the test's time: the Secret watch must bring the change.
    let _operator = Operator::start_with(&client, &ns, |s| s.requeue_ready = Duration::from_secs(3600));
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let jwt = |value: &str| -> Secret {
        serde_json::from_value(json!({"metadata": {"name": "my-jwt"}, "stringData": {"secret": value}})).unwrap()
    };
    secrets.create(&PostParams::default(), &jwt("first-signing-key-0123456789abcdef0123")).await.unwrap();
    let mut with_ref = spec();
    with_ref["auth"] = json!({"jwtSecretRef": {"name": "my-jwt", "key": "secret"}});
    Api::<CoupleApp>::namespaced(client.clone(), &ns).create(&PostParams::default(), &app("demo", with_ref)).await.unwrap();
    let everything = Node { stateful_sets: true, jobs: &["demo-"], deployments: true, failing: &[] };
    wait_for_phase(&client, &ns, "demo", Phase::Ready, everything).await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let config_hash =
        |d: Deployment| d.spec.template.metadata.and_then(|m| m.annotations).and_then(|a| a.get("couple.dev/config-hash").cloned());
    let before = config_hash(deployments.get("demo-gateway").await.unwrap()).expect("the gateway's pods carry a config hash");
    secrets.replace("my-jwt", &PostParams::default(), &jwt("second-signing-key-0123456789abcdef012")).await.unwrap();
    let after = wait("the gateway's config hash to change", || async {
        config_hash(deployments.get("demo-gateway").await.ok()?).filter(|hash| *hash != before)
    })
    .await;
    assert_ne!(before, after);
}

#[tokio::test]
async fn deleting_the_coupleapp_removes_its_children() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "cascade").await;
    let operator = Operator::start(&client, &ns);
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    apps.create(&PostParams::default(), &app("demo", spec())).await.unwrap();
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let instance = ListParams::default().labels("app.kubernetes.io/instance=demo");
    assert!(!secrets.list(&instance).await.unwrap().items.is_empty());
    assert!(!sets.list(&instance).await.unwrap().items.is_empty());
    // The controller manager's StatefulSet controller makes the database's volume claim; the
    // operator adds the CoupleApp to its owners, so it goes with the CoupleApp.
    let uid = apps.get("demo").await.unwrap().uid().unwrap();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let claim = wait("the PostgreSQL claim to be owned by the CoupleApp", || async {
        let claim = claims.get_opt("data-demo-postgres-0").await.ok()??;
        claim.owner_references().iter().any(|r| r.uid == uid && r.controller == Some(false)).then_some(claim)
    })
    .await;
    assert!(claim.owner_references().iter().all(|r| r.kind == "CoupleApp"), "{:?}", claim.owner_references());

    // Stop reconciling first, so nothing is recreated while the garbage collector works.
    drop(operator);
    apps.delete("demo", &DeleteParams::default()).await.unwrap();
    // The 1.20 garbage collector learns about a new CRD's kind on its 30 s resync, so allow
    // for that on a fresh API server.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    loop {
        let left = secrets.list(&instance).await.unwrap().items.len()
            + sets.list(&instance).await.unwrap().items.len()
            + claims.list(&instance).await.unwrap().items.len();
        if left == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{left} children outlived their CoupleApp");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_replica_that_loses_the_lease_stops_reconciling_until_it_wins_it_back() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "lease-lost").await;
    let replica = Replica::real(&client, &ns, "replica-a");
    let ctx = replica.ctx.clone();
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    apps.create(&PostParams::default(), &app("demo", spec())).await.unwrap();
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;

    // Another identity takes the Lease (as a replica would after a network partition).
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let now = serde_json::to_value(MicroTime(k8s_openapi::jiff::Timestamp::now())).unwrap();
    let stolen = json!({"spec": {"holderIdentity": "intruder", "acquireTime": now, "renewTime": now, "leaseDurationSeconds": 20}});
    leases.patch("couple-operator", &PatchParams::default(), &Patch::Merge(stolen)).await.unwrap();
    wait("replica-a to notice it lost the lease", || async { (!ctx.health.leading()).then_some(()) }).await;

    let writes = ctx.writes.load(Ordering::SeqCst);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services.delete("demo-postgres", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(services.get_opt("demo-postgres").await.unwrap().is_none(), "a replica without the lease restored a child");
    assert_eq!(ctx.writes.load(Ordering::SeqCst), writes, "a replica without the lease wrote");

    // The intruder never renews: once its lease expires, replica-a takes it back and catches up.
    wait("replica-a to restore the Service after winning the lease back", || async {
        services.get_opt("demo-postgres").await.ok().flatten()
    })
    .await;
    let lease = leases.get("couple-operator").await.unwrap();
    assert_eq!(lease.spec.and_then(|s| s.holder_identity).as_deref(), Some("replica-a"));
    assert!(ctx.health.leading());
    replica.stop().await;
}

/// Stores a CoupleApp whose `spec.image.tag` is a number, which the operator cannot read: the
/// CRD's schema refuses one, so the tag's schema is widened for the create (as an object stored
/// under an older, laxer CRD would be) and the CRD restored right after. Other tests re-apply
/// the strict CRD when they start, so the create is retried until it lands under the wide one.
async fn create_malformed(client: &Client, namespace: &str, name: &str) {
    let mut wide = serde_json::to_value(CoupleApp::crd()).unwrap();
    let image = &mut wide["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["image"];
    image["properties"]["tag"] = json!({"x-kubernetes-int-or-string": true});
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ApiResource::erase::<CoupleApp>(&()));
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "couple.dev/v1alpha1", "kind": "CoupleApp", "metadata": {"name": name},
        "spec": {"image": {"repository": "couple-platform", "tag": 42}, "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}}
    }))
    .unwrap();
    let mut attempts = 0;
    loop {
        // The same field manager as `install_crd`, so restoring the CRD replaces the wide schema.
        crds.patch("coupleapps.couple.dev", &PatchParams::apply(MANAGER).force(), &Patch::Apply(&wide)).await.unwrap();
        match raw.create(&PostParams::default(), &object).await {
            Ok(_) => break,
            Err(kube::Error::Api(e)) if e.code == 422 && attempts < 50 => attempts += 1,
            Err(e) => panic!("could not store the malformed CoupleApp: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    install_crd(client).await;
}

#[tokio::test]
async fn a_coupleapp_that_cannot_be_read_gets_an_event_and_a_condition_where_possible_and_recovers_once_fixed() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "malformed").await;
    create_malformed(&client, &ns, "demo").await;
    // Started only now, so that it meets the object under the strict schema only.
    let _operator = Operator::start(&client, &ns);
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let event = wait("the MalformedSpec event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some("MalformedSpec") && e.type_.as_deref() == Some("Warning"))
    })
    .await;
    let note = event.note.unwrap_or_default();
    assert!(note.contains("spec.image.tag") || note.contains("expected a string"), "{note}");
    // A status says so too, where the API server lets one be written (validation ratcheting,
    // 1.30+); 1.20 validates the whole object on a status write, and the event says that.
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ApiResource::erase::<CoupleApp>(&()));
    let status = raw.get("demo").await.unwrap().data["status"].clone();
    match status["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "Ready")) {
        Some(ready) => assert_eq!((&ready["status"], &ready["reason"]), (&json!("False"), &json!("MalformedSpec"))),
        None => assert!(note.contains("its status cannot be written"), "{note}"),
    }
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    assert!(sets.list(&ListParams::default()).await.unwrap().items.is_empty(), "nothing applied for a malformed CoupleApp");

    // The watch survived: a well-formed neighbour is reconciled as usual.
    let apps: Api<CoupleApp> = Api::namespaced(client.clone(), &ns);
    apps.create(&PostParams::default(), &app("neighbour", spec())).await.unwrap();
    wait_for_phase(&client, &ns, "neighbour", Phase::Provisioning, NOTHING).await;

    // Fixing the object brings its reconcile back.
    raw.patch("demo", &PatchParams::default(), &Patch::Merge(json!({"spec": {"image": {"tag": "0.1.0"}}}))).await.unwrap();
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;
}
