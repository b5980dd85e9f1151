//! The runtime: shared context, error policy with per-object backoff, and the controller with
//! its watches.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, StatefulSet},
        batch::v1::Job,
        core::v1::{ConfigMap, Secret, Service},
        networking::v1::{Ingress, NetworkPolicy},
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::PartialObjectMeta,
    core::DeserializeGuard,
    runtime::{
        Controller, WatchStreamExt,
        controller::{self, Action},
        events::{Recorder, Reporter},
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use rand::Rng;

use crate::{
    apply::Applier,
    builders::{MANAGER, Platform, desired::referenced_secret_names},
    crd::CoupleApp,
    faults::{WatchBackoff, describe_watch},
    health::{Health, Source},
    reconcile::{Error, reconcile},
};

/// Timings of the reconcile loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requeue while waiting at a gate.
    pub requeue_waiting: Duration,
    /// Requeue when Ready (or invalid, paused): a periodic check for drift not seen by watches.
    pub requeue_ready: Duration,
    /// How long the discovery of optional APIs is trusted.
    pub discovery_ttl: Duration,
    /// First retry after an error; doubled per consecutive failure.
    pub backoff_base: Duration,
    /// Longest retry delay after errors.
    pub backoff_cap: Duration,
    /// How long after failing a provisioning or migration Job is run again (see
    /// [`JobRetry`](crate::reconcile::gates::JobRetry)).
    pub job_retry_after: Duration,
    /// CoupleApps reconciled at once: bounds the operator's memory and its burst of requests when
    /// many change together (a restart, a hundred created at once).
    pub concurrency: u16,
    /// Watch only this namespace (tests run one controller per namespace); all when `None`.
    pub namespace: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            requeue_waiting: Duration::from_secs(10),
            requeue_ready: Duration::from_secs(300),
            discovery_ttl: Duration::from_secs(300),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            job_retry_after: Duration::from_secs(600),
            concurrency: 16,
            namespace: None,
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Writes sent by the apply and status steps (tests check that an idle reconcile sends none).
    pub writes: Arc<AtomicU64>,
    /// The one event recorder.
    pub recorder: Recorder,
    /// Liveness and readiness.
    pub health: Arc<Health>,
    /// Timings.
    pub settings: Settings,
    policy_v1: tokio::sync::Mutex<Option<(Instant, bool)>>,
    failures: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// `namespace/name` of an object: the key of its failure count.
pub fn object_key(meta: &ObjectMeta) -> String {
    format!("{}/{}", meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default())
}

/// The retry delay after `failures` consecutive failures: `base * 2^(failures-1)`, capped, then
/// scaled by a jitter in `[0.5, 1.0]` (`jitter` in `[0, 1]`) so that objects failing together do
/// not retry together. Pure.
pub fn backoff(failures: u32, jitter: f64, base: Duration, cap: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let delay = base.saturating_mul(1 << exponent).min(cap);
    delay.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

impl Context {
    /// A context for `client` with `settings`.
    pub fn new(client: Client, health: Arc<Health>, settings: Settings) -> Self {
        let reporter = Reporter { controller: MANAGER.to_owned(), instance: std::env::var("POD_NAME").ok() };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            writes: Arc::new(AtomicU64::new(0)),
            health,
            settings,
            policy_v1: tokio::sync::Mutex::new(None),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// An applier for one namespace, counting into [`Context::writes`].
    pub fn applier(&self, namespace: &str) -> Applier {
        Applier::new(self.client.clone(), namespace, self.writes.clone())
    }

    /// Whether the cluster serves `policy/v1` PodDisruptionBudgets, asked at most every
    /// `discovery_ttl`. An error other than "not found" fails the reconcile rather than guessing
    /// "no" (which would delete the budgets as orphans).
    pub async fn policy_v1(&self) -> Result<bool, kube::Error> {
        let mut cached = self.policy_v1.lock().await;
        if let Some((at, served)) = *cached
            && at.elapsed() < self.settings.discovery_ttl
        {
            return Ok(served);
        }
        let served = serves_policy_v1(&self.client).await?;
        *cached = Some((Instant::now(), served));
        Ok(served)
    }

    /// Forgets an object's failures after a successful reconcile.
    pub fn reset_failures(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    fn record_failure(&self, key: String) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let count = failures.entry(key).or_default();
        *count = count.saturating_add(1);
        *count
    }
}

/// Asks discovery for `policy/v1` and its `poddisruptionbudgets`.
pub async fn serves_policy_v1(client: &Client) -> Result<bool, kube::Error> {
    match client.list_api_group_resources("policy/v1").await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == "poddisruptionbudgets")),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// The CoupleApps in `secret`'s namespace whose spec references it by name.
fn apps_referencing(apps: &Store<DeserializeGuard<CoupleApp>>, secret: &ObjectMeta) -> Vec<ObjectRef<DeserializeGuard<CoupleApp>>> {
    let (Some(name), Some(namespace)) = (secret.name.as_deref(), secret.namespace.as_deref()) else {
        return Vec::new();
    };
    apps.state()
        .into_iter()
        .filter(|guard| guard.namespace().as_deref() == Some(namespace))
        .filter(|guard| {
            let Ok(app) = &guard.0 else { return false };
            Platform::new(app).is_some_and(|platform| referenced_secret_names(&platform).contains(name))
        })
        .map(|guard| ObjectRef::from_obj(&*guard))
        .collect()
}

/// Retries a failed object after its own exponential backoff with jitter.
pub fn error_policy(guard: Arc<DeserializeGuard<CoupleApp>>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = object_key(guard.meta());
    let failures = ctx.record_failure(key.clone());
    metrics::counter!("couple_operator_reconcile_failures_total", "reason" => error.metric_label()).increment(1);
    let delay = backoff(failures, rand::thread_rng().r#gen::<f64>(), ctx.settings.backoff_base, ctx.settings.backoff_cap);
    tracing::warn!(object = %key, %error, failures, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

fn children() -> watcher::Config {
    watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"))
}

/// Runs the controller until `shutdown` fires: watches CoupleApps everywhere and every kind they
/// own (only objects labelled as managed by this operator, and only their metadata: the owner
/// reference is all a watch needs, and the read step fetches what a reconcile uses).
///
/// A watch that fails (the CRD not installed yet or deleted, RBAC not bound, the API server
/// away) is retried with [`WatchBackoff`], and the CoupleApp watch's failure is reported to
/// [`Health`] until it lists again; the controller itself keeps running. It returns an error
/// only if it cannot start (discovery fails) or its streams end without a shutdown; the
/// [`supervisor`](crate::supervisor) restarts it.
pub async fn run_controller(ctx: Arc<Context>, shutdown: couple_common::shutdown::Shutdown) -> Result<(), kube::Error> {
    let client = ctx.client.clone();
    let policy_v1 = ctx.policy_v1().await?;
    let namespace = ctx.settings.namespace.as_deref();
    let (apps, writer) = reflector::store::<DeserializeGuard<CoupleApp>>();
    let health = ctx.health.clone();
    let app_events = watcher(api::<DeserializeGuard<CoupleApp>>(&client, namespace), watcher::Config::default())
        .backoff(WatchBackoff::default())
        .inspect(move |event| match event {
            Ok(watcher::Event::InitDone) => health.listed(),
            // An expired resource version is routine: the watcher lists again at once.
            Err(watcher::Error::WatchError(status)) if status.code == 410 => {}
            Err(err) => health.fault(Source::Watch, describe_watch(err)),
            Ok(_) => {}
        })
        .reflect(writer)
        .applied_objects()
        // Its failures are reported just above and retried by its own backoff: they need not
        // reach the controller, which would log them again and pause every other watch.
        .filter(|event| std::future::ready(event.is_ok()));
    let mut controller = Controller::for_stream(app_events, apps.clone())
        .trigger_backoff(WatchBackoff::default())
        .with_config(controller::Config::default().concurrency(ctx.settings.concurrency))
        .owns(api::<PartialObjectMeta<Secret>>(&client, namespace), children())
        .owns(api::<PartialObjectMeta<ConfigMap>>(&client, namespace), children())
        .owns(api::<PartialObjectMeta<Service>>(&client, namespace), children())
        .owns(api::<PartialObjectMeta<Deployment>>(&client, namespace), children())
        .owns(api::<PartialObjectMeta<StatefulSet>>(&client, namespace), children())
        .owns(api::<PartialObjectMeta<Job>>(&client, namespace), children())
        .owns(api::<PartialObjectMeta<Ingress>>(&client, namespace), children())
        .owns(api::<PartialObjectMeta<NetworkPolicy>>(&client, namespace), children());
    if policy_v1 {
        controller = controller.owns(api::<PartialObjectMeta<PodDisruptionBudget>>(&client, namespace), children());
    }
    // The user's Secrets a spec references carry no labels of ours, so every Secret's metadata is
    // watched (never its data) and mapped to the CoupleApps naming it: a referenced Secret that
    // appears or changes is acted on at once instead of on the next periodic check.
    let referencing = apps.clone();
    controller = controller.watches(api::<PartialObjectMeta<Secret>>(&client, namespace), watcher::Config::default(), move |secret| {
        apps_referencing(&referencing, secret.meta())
    });
    ctx.health.track(apps);
    let health = ctx.health.clone();
    let mut watch_errors = ErrorLog::default();
    controller
        .graceful_shutdown_on(shutdown.clone().wait())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| {
            health.touch();
            match result {
                // The owned kinds' watches fail here (RBAC for one kind, say), retried with the
                // trigger backoff.
                Err(controller::Error::QueueError(err)) => watch_errors.warn(&err),
                Err(err) => tracing::debug!(%err, "controller event"),
                Ok(_) => {}
            }
            std::future::ready(())
        })
        .await;
    if shutdown.is_shutting_down() { Ok(()) } else { Err(kube::Error::Service("the controller's watch streams ended".into())) }
}

/// Logs failing watches at most once a minute per message, so a watch retried every few seconds
/// does not flood the log.
#[derive(Default)]
struct ErrorLog {
    last: HashMap<String, Instant>,
}

impl ErrorLog {
    fn warn(&mut self, err: &watcher::Error) {
        let message = err.to_string();
        let now = Instant::now();
        if self.last.get(&message).is_none_or(|at| now.duration_since(*at) >= Duration::from_secs(60)) {
            tracing::warn!(error = %message, "a watch failed; retrying");
            self.last.retain(|_, at| now.duration_since(*at) < Duration::from_secs(60));
            self.last.insert(message, now);
        }
    }
}

/// How [`run`] runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Hold the Lease `couple-operator` before reconciling; off for local runs and tests.
    pub leader_election: bool,
    /// The namespace of the Lease.
    pub namespace: String,
    /// This replica's identity in the Lease.
    pub identity: String,
    /// Timings.
    pub settings: Settings,
}

impl RunConfig {
    /// From the environment: `POD_NAMESPACE` (default `default`), `POD_NAME` (default the host
    /// name plus a random suffix).
    pub fn from_env(leader_election: bool) -> Self {
        let namespace = std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "default".to_owned());
        let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
            let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "couple-operator".into());
            let suffix: String = rand::thread_rng().sample_iter(rand::distributions::Alphanumeric).take(8).map(char::from).collect();
            format!("{host}-{}", suffix.to_lowercase())
        });
        Self { leader_election, namespace, identity, settings: Settings::default() }
    }
}

/// Runs the operator until `shutdown`: the controller, restarted whenever it ends, and (with
/// leader election) only while this replica holds the Lease. See [`supervisor`](crate::supervisor).
pub async fn run(ctx: Arc<Context>, config: RunConfig, shutdown: couple_common::shutdown::Shutdown) -> anyhow::Result<()> {
    crate::supervisor::run(ctx, config, shutdown, crate::supervisor::real_controller()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_failure_up_to_the_cap() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(300));
        let full = |n| backoff(n, 1.0, base, cap);
        assert_eq!([full(1), full(2), full(3), full(4)], [1, 2, 4, 8].map(Duration::from_secs));
        assert_eq!(full(9), Duration::from_secs(256));
        assert_eq!(full(10), cap);
        assert_eq!(full(u32::MAX), cap, "no overflow");
    }

    #[test]
    fn jitter_takes_off_at_most_half() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(300));
        assert_eq!(backoff(4, 0.0, base, cap), Duration::from_secs(4));
        assert_eq!(backoff(4, 0.5, base, cap), Duration::from_secs(6));
        assert_eq!(backoff(4, 7.0, base, cap), Duration::from_secs(8), "jitter is clamped");
    }

    #[test]
    fn the_object_key_is_namespace_and_name() {
        let meta = ObjectMeta { name: Some("demo".into()), namespace: Some("couple".into()), ..ObjectMeta::default() };
        assert_eq!(object_key(&meta), "couple/demo");
    }

    #[test]
    fn a_secret_maps_to_the_coupleapps_in_its_namespace_that_reference_it() {
        use kube::runtime::{reflector::store::Writer, watcher::Event};
        let guard = |name: &str, namespace: &str, spec: serde_json::Value| -> DeserializeGuard<CoupleApp> {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "couple.dev/v1alpha1", "kind": "CoupleApp",
                "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}")},
                "spec": spec,
            }))
            .unwrap()
        };
        let referencing = serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "auth": {"jwtSecretRef": {"name": "my-jwt", "key": "secret"}},
            "databases": {"postgres": {"external": {"secretRef": {"name": "pg-admin"}}}, "redis": {"managed": {}}}
        });
        let plain =
            serde_json::json!({"image": {"repository": "couple-platform", "tag": "0.1.0"}, "databases": {"postgres": {"managed": {}}}});
        let mut writer: Writer<DeserializeGuard<CoupleApp>> = Writer::default();
        for app in [
            guard("uses", "couple", referencing.clone()),
            guard("plain", "couple", plain),
            guard("elsewhere", "other", referencing),
            guard("malformed", "couple", serde_json::json!({"image": 42})),
        ] {
            writer.apply_watcher_event(&Event::Apply(app));
        }
        let apps = writer.as_reader();
        let secret = |name: &str, namespace: &str| ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..ObjectMeta::default()
        };
        let names = |refs: Vec<ObjectRef<DeserializeGuard<CoupleApp>>>| refs.into_iter().map(|r| r.name).collect::<Vec<_>>();

        assert_eq!(names(apps_referencing(&apps, &secret("my-jwt", "couple"))), ["uses"]);
        assert_eq!(names(apps_referencing(&apps, &secret("pg-admin", "other"))), ["elsewhere"]);
        assert!(apps_referencing(&apps, &secret("unrelated", "couple")).is_empty());
        assert!(apps_referencing(&apps, &ObjectMeta::default()).is_empty());
    }
}
