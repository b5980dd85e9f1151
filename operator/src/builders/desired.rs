//! Everything one CoupleApp should be, from the spec and what the read step found: a pure
//! function, so the same inputs always give byte-identical objects (the apply step then writes
//! nothing), grouped by the apply stage of the contract so the reconciler can wait at each gate.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    batch::v1::Job,
    core::v1::{ConfigMap, Secret, Service},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
};
use kube::{Resource, ResourceExt};

use super::{
    Component, Platform, configmap, deployment, ingress,
    job::{self, migration_hash, migration_job_name},
    network_policy, pdb,
    pod::ConfigSources,
    secret::{self, Entropy, SecretData},
    service, statefulset,
    topology::URL_KEY,
};

/// What the read step fetched from the cluster, besides the CoupleApp itself.
#[derive(Clone)]
pub struct Inputs {
    /// The data of Secrets by name: the operator's own (so generated values are reused, never
    /// regenerated) and those the spec references (for the config hash and the external admin
    /// URL); [`secrets_to_read`] lists them. A Secret missing here counts as absent, so a Secret
    /// that could not be read must fail the reconcile instead of being left out.
    pub secrets: BTreeMap<String, SecretData>,
    /// Whether the cluster serves `policy/v1` PodDisruptionBudgets (Kubernetes 1.21+).
    pub policy_v1: bool,
    /// `status.migrations`: per service name, the migration hash whose Job succeeded.
    pub migrations: BTreeMap<String, String>,
    /// Per service name, the image its live Deployment runs (chat's SQLite StatefulSet does not
    /// count: its pods migrate themselves, and its database is not the one a Deployment uses).
    pub running_images: BTreeMap<String, String>,
    /// Where values generated for the first time come from.
    pub entropy: Entropy,
}

impl Inputs {
    /// Inputs with nothing found yet: no Secrets, no migrations, no Deployments, no `policy/v1`.
    pub fn new(entropy: Entropy) -> Self {
        Self { secrets: BTreeMap::new(), policy_v1: false, migrations: BTreeMap::new(), running_images: BTreeMap::new(), entropy }
    }
}

/// Stage 2: the managed databases.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabaseObjects {
    /// `<app>-postgres`, `<app>-redis`, `<app>-mongodb`, for each managed one.
    pub stateful_sets: Vec<StatefulSet>,
    /// Their headless Services, same names.
    pub services: Vec<Service>,
}

/// Which image a service's workload runs, relative to the spec's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// The spec's image: its migration succeeded.
    Current,
    /// The image already running, until the migration for the spec's image succeeds.
    HeldBack {
        /// The running image.
        running: String,
    },
    /// No workload yet: the first migration has not succeeded.
    NotStarted,
}

/// Stage 4: one service's migration for the spec's image.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    /// The service.
    pub service: Component,
    /// [`migration_hash`] of the service and the spec's image; record it in `status.migrations`
    /// under the service's name once the Job succeeded.
    pub hash: String,
    /// `<app>-<service>-migrate-<hash>`.
    pub job_name: String,
    /// The Job while its success is not recorded; `None` afterwards, so the apply step deletes it
    /// as an orphan only once status remembers it (and it never runs twice).
    pub job: Option<Job>,
    /// What the service's workload runs meanwhile.
    pub rollout: Rollout,
}

/// Stage 5: the services.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceObjects {
    /// `<app>-<service>` for each service with a workload to run (see [`Rollout`]).
    pub deployments: Vec<Deployment>,
    /// `<app>-chat` when chat runs on SQLite.
    pub stateful_sets: Vec<StatefulSet>,
    /// `<app>-<service>` ClusterIP Services of every enabled service.
    pub services: Vec<Service>,
}

/// Stage 6: the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayObjects {
    /// `<app>-gateway-routes`.
    pub routes: ConfigMap,
    /// `<app>-gateway`.
    pub deployment: Deployment,
    /// `<app>-gateway`.
    pub service: Service,
    /// `<app>-gateway`, when asked for.
    pub ingress: Option<Ingress>,
}

/// Stage 7: hardening.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hardening {
    /// Default deny, then what is allowed.
    pub network_policies: Vec<NetworkPolicy>,
    /// For workloads with more than one replica, when `policy/v1` is served.
    pub pod_disruption_budgets: Vec<PodDisruptionBudget>,
    /// True when budgets were wanted but the cluster does not serve `policy/v1`: say so in a
    /// condition or event.
    pub pod_disruption_budgets_skipped: bool,
}

/// A Secret (or key) the spec references that the read step did not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSecret {
    /// The spec field naming it, e.g. `spec.auth.jwtSecretRef`.
    pub field: &'static str,
    /// The Secret's name.
    pub name: String,
    /// The key that is needed.
    pub key: String,
}

impl std::fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: Secret {:?} with key {:?} not found", self.field, self.name, self.key)
    }
}

/// The desired objects, by apply stage. `Debug` shows the Secrets' names only.
#[derive(Clone, PartialEq)]
pub struct Desired {
    /// Stage 1: generated Secrets and the per-service connection Secrets. A Secret found in
    /// [`Inputs::secrets`] keeps its generated values, so it can be applied like any object (only
    /// derived values, the URLs, ever change); one not found should be created only if still
    /// absent (`create_if_absent`), so a stale read can never overwrite a password in use.
    pub secrets: Vec<Secret>,
    /// Stage 2.
    pub databases: DatabaseObjects,
    /// Stage 3: `<app>-provision`, when a service uses PostgreSQL. Its
    /// `couple.dev/config-hash` annotation changes with its inputs; replace the Job then.
    pub provisioning: Option<Job>,
    /// Stage 4: per service on PostgreSQL.
    pub migrations: Vec<Migration>,
    /// Stage 5.
    pub services: ServiceObjects,
    /// Stage 6.
    pub gateway: GatewayObjects,
    /// Stage 7.
    pub hardening: Hardening,
    /// Referenced Secrets not found: the objects are still built (pods reading them wait in
    /// `CreateContainerConfigError`); report these in a condition.
    pub missing: Vec<MissingSecret>,
}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: BTreeMap<&String, Vec<&String>> = self.secrets.iter().map(|(name, data)| (name, data.keys().collect())).collect();
        f.debug_struct("Inputs")
            .field("secrets", &secrets)
            .field("policy_v1", &self.policy_v1)
            .field("migrations", &self.migrations)
            .field("running_images", &self.running_images)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Desired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<String> = self.secrets.iter().map(ResourceExt::name_any).collect();
        f.debug_struct("Desired")
            .field("secrets", &secrets)
            .field("databases", &self.databases)
            .field("provisioning", &self.provisioning)
            .field("migrations", &self.migrations)
            .field("services", &self.services)
            .field("gateway", &self.gateway)
            .field("hardening", &self.hardening)
            .field("missing", &self.missing)
            .finish()
    }
}

fn names<'a, K: Resource<DynamicType = ()> + 'a>(out: &mut BTreeMap<String, BTreeSet<String>>, objects: impl IntoIterator<Item = &'a K>) {
    for object in objects {
        out.entry(K::kind(&()).into_owned()).or_default().insert(object.name_any());
    }
}

impl Desired {
    /// Names of every desired object by kind (`Secret`, `Job`, ...): what the orphan step keeps.
    pub fn object_names(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out = BTreeMap::new();
        names(&mut out, &self.secrets);
        names(&mut out, self.databases.stateful_sets.iter().chain(&self.services.stateful_sets));
        names(&mut out, self.databases.services.iter().chain(&self.services.services).chain([&self.gateway.service]));
        names(&mut out, self.provisioning.iter().chain(self.migrations.iter().filter_map(|m| m.job.as_ref())));
        names(&mut out, self.services.deployments.iter().chain([&self.gateway.deployment]));
        names(&mut out, [&self.gateway.routes]);
        names(&mut out, &self.gateway.ingress);
        names(&mut out, &self.hardening.network_policies);
        names(&mut out, &self.hardening.pod_disruption_budgets);
        out
    }
}

/// The Secrets the read step should fetch into [`Inputs::secrets`]: the operator's own and the
/// ones the spec references.
pub fn secrets_to_read(platform: &Platform) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = generated_secret_names(platform).into_iter().collect();
    out.extend(referenced_secrets(platform).into_iter().map(|(_, name, _)| name));
    out
}

fn generated_secret_names(platform: &Platform) -> Vec<String> {
    let mut names = Vec::new();
    if platform.app.spec.auth.jwt_secret_ref.is_none() {
        names.push(platform.jwt_secret_name());
    }
    names.push(platform.internal_secret_name());
    if platform.managed(Component::Postgres).is_some() {
        names.push(platform.postgres_admin_secret_name());
    }
    names.extend(platform.postgres_services().into_iter().map(|s| platform.database_secret_name(s)));
    for database in [Component::Redis, Component::Mongodb] {
        if platform.managed(database).is_some() {
            names.push(platform.managed_secret_name(database));
        }
    }
    names
}

/// `(field, name, key)` of every Secret key the spec references and something uses.
/// The names of the Secrets the spec references (the user's, not the operator's): a change to
/// one of them triggers a reconcile.
pub fn referenced_secret_names(platform: &Platform) -> BTreeSet<String> {
    referenced_secrets(platform).into_iter().map(|(_, name, _)| name).collect()
}

fn referenced_secrets(platform: &Platform) -> Vec<(&'static str, String, String)> {
    let spec = &platform.app.spec;
    let mut refs = Vec::new();
    if let Some(r) = &spec.auth.jwt_secret_ref {
        refs.push(("spec.auth.jwtSecretRef", r.name.clone(), r.key.clone()));
    }
    for (field, database) in [
        ("spec.databases.postgres.external.secretRef", Component::Postgres),
        ("spec.databases.redis.external.secretRef", Component::Redis),
        ("spec.databases.mongodb.external.secretRef", Component::Mongodb),
    ] {
        if let Some(external) = platform.external(database) {
            refs.push((field, external.secret_ref.name.clone(), URL_KEY.to_owned()));
        }
    }
    if let Some(r) =
        spec.services.schedule_meeting.weather_api_key_secret_ref.as_ref().filter(|_| platform.is_enabled(Component::ScheduleMeeting))
    {
        refs.push(("spec.services.scheduleMeeting.weatherApiKeySecretRef", r.name.clone(), r.key.clone()));
    }
    refs
}

fn build_secrets(platform: &Platform, inputs: &Inputs) -> Vec<Secret> {
    let existing = |name: String| inputs.secrets.get(&name);
    let entropy = &inputs.entropy;
    let mut secrets = Vec::new();
    if platform.app.spec.auth.jwt_secret_ref.is_none() {
        secrets.push(secret::build_jwt_secret(platform, existing(platform.jwt_secret_name()), entropy));
    }
    secrets.push(secret::build_internal_secret(platform, existing(platform.internal_secret_name()), entropy));
    let admin_url = if platform.managed(Component::Postgres).is_some() {
        let admin = secret::build_postgres_admin_secret(platform, existing(platform.postgres_admin_secret_name()), entropy);
        let url = admin.data.as_ref().and_then(|d| d.get(URL_KEY)).map(|v| String::from_utf8_lossy(&v.0).into_owned());
        secrets.push(admin);
        url
    } else {
        platform
            .external(Component::Postgres)
            .and_then(|e| inputs.secrets.get(&e.secret_ref.name))
            .and_then(|d| d.get(URL_KEY))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    for service in platform.postgres_services() {
        let existing = existing(platform.database_secret_name(service));
        secrets.extend(secret::build_database_secret(platform, service, admin_url.as_deref(), existing, entropy));
    }
    if platform.managed(Component::Redis).is_some() {
        secrets.push(secret::build_redis_secret(platform, existing(platform.managed_secret_name(Component::Redis)), entropy));
    }
    if platform.managed(Component::Mongodb).is_some() {
        secrets.push(secret::build_mongodb_secret(platform, existing(platform.managed_secret_name(Component::Mongodb)), entropy));
    }
    secrets
}

/// The image a service's workload should run, and why.
fn rollout(inputs: &Inputs, service: Component, target: &str, hash: &str) -> Rollout {
    if inputs.migrations.get(service.name()).is_some_and(|h| h == hash) {
        return Rollout::Current;
    }
    match inputs.running_images.get(service.name()) {
        Some(running) if running == target => Rollout::Current,
        Some(running) => Rollout::HeldBack { running: running.clone() },
        None => Rollout::NotStarted,
    }
}

/// Builds every desired object of the CoupleApp (which must have passed validation).
pub fn desired(platform: &Platform, inputs: &Inputs) -> Desired {
    let secrets = build_secrets(platform, inputs);
    let routes = configmap::build_gateway_routes(platform);

    // Generated Secrets as built win over what was read: those are the values pods will see.
    let mut sources = ConfigSources::default();
    for (name, data) in &inputs.secrets {
        sources.add_secret(name.clone(), data.clone());
    }
    for secret in &secrets {
        sources.add_secret(secret.name_any(), secret.data.clone().unwrap_or_default());
    }
    sources.add_config_map(routes.name_any(), routes.data.clone().unwrap_or_default());

    let mut databases = DatabaseObjects::default();
    for database in Component::DATABASES {
        if platform.managed(database).is_none() {
            continue;
        }
        databases.stateful_sets.push(match database {
            Component::Postgres => statefulset::build_postgres_statefulset(platform, &sources),
            Component::Redis => statefulset::build_redis_statefulset(platform, &sources),
            _ => statefulset::build_mongodb_statefulset(platform, &sources),
        });
        databases.services.push(service::build_database_service(platform, database));
    }

    let target = platform.image();
    let mut migrations = Vec::new();
    let mut services = ServiceObjects::default();
    let mut deployed = Vec::new();
    for component in platform.enabled_services() {
        services.services.push(service::build_service_service(platform, component));
        if component == Component::Chat && !platform.chat_on_postgres() {
            services.stateful_sets.push(statefulset::build_chat_statefulset(platform, &target, &sources));
            continue;
        }
        let hash = migration_hash(component, &target);
        let rollout = rollout(inputs, component, &target, &hash);
        let image = match &rollout {
            Rollout::Current => Some(target.as_str()),
            Rollout::HeldBack { running } => Some(running.as_str()),
            Rollout::NotStarted => None,
        };
        if let Some(image) = image {
            services.deployments.push(deployment::build_service_deployment(platform, component, image, &sources));
            deployed.push(component);
        }
        let recorded = inputs.migrations.get(component.name()).is_some_and(|h| *h == hash);
        migrations.push(Migration {
            service: component,
            job_name: migration_job_name(platform, component, &hash),
            job: (!recorded).then(|| job::build_migration_job(platform, component, &target)),
            hash,
            rollout,
        });
    }

    let gateway = GatewayObjects {
        deployment: deployment::build_gateway_deployment(platform, &sources),
        service: service::build_gateway_service(platform),
        ingress: ingress::build_gateway_ingress(platform),
        routes,
    };

    let mut hardening = Hardening::default();
    hardening.network_policies.push(network_policy::build_default_deny(platform));
    hardening.network_policies.push(network_policy::build_gateway_policy(platform));
    for component in platform.enabled_services() {
        hardening.network_policies.push(network_policy::build_service_policy(platform, component));
    }
    for database in Component::DATABASES {
        if platform.managed(database).is_some() {
            hardening.network_policies.push(network_policy::build_database_policy(platform, database));
        }
    }
    let budgets: Vec<PodDisruptionBudget> =
        [Component::Gateway].into_iter().chain(deployed).filter_map(|component| pdb::build_pdb(platform, component)).collect();
    if inputs.policy_v1 {
        hardening.pod_disruption_budgets = budgets;
    } else {
        hardening.pod_disruption_budgets_skipped = !budgets.is_empty();
    }

    let missing = referenced_secrets(platform)
        .into_iter()
        .filter(|(_, name, key)| !inputs.secrets.get(name).is_some_and(|d| d.contains_key(key)))
        .map(|(field, name, key)| MissingSecret { field, name, key })
        .collect();

    Desired {
        secrets,
        databases,
        provisioning: job::build_provision_job(platform, &sources),
        migrations,
        services,
        gateway,
        hardening,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures, pod::CONFIG_HASH_ANNOTATION, pod::tests::env_map};
    use super::*;
    use crate::crd::CoupleApp;
    use k8s_openapi::{ByteString, api::core::v1::PodTemplateSpec};
    use rand::{SeedableRng, rngs::StdRng};
    use serde_json::json;

    fn inputs(seed: u64) -> Inputs {
        Inputs::new(Entropy::from_rng(&mut StdRng::seed_from_u64(seed)))
    }

    fn data(pairs: &[(&str, &str)]) -> SecretData {
        pairs.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()
    }

    /// Inputs as the read step finds them after `desired` was applied: its Secrets exist, every
    /// migration succeeded, the Deployments run the spec's image.
    fn settled(previous: &Desired, mut inputs: Inputs) -> Inputs {
        for secret in &previous.secrets {
            inputs.secrets.insert(secret.name_any(), secret.data.clone().unwrap());
        }
        for m in &previous.migrations {
            inputs.migrations.insert(m.service.name().to_owned(), m.hash.clone());
        }
        inputs
    }

    fn build(app: &CoupleApp, inputs: &Inputs) -> Desired {
        desired(&Platform::new(app).unwrap(), inputs)
    }

    fn external_inputs() -> Inputs {
        let mut inputs = inputs(1);
        inputs.secrets.insert("pg-admin".into(), data(&[("url", "postgres://admin:pw@pg.example.com:5433/postgres?sslmode=require")]));
        inputs.secrets.insert("redis-url".into(), data(&[("url", "redis://redis.example.com:6379")]));
        inputs
    }

    /// Every object of the build, as JSON, with its kind.
    fn all_objects(d: &Desired) -> Vec<serde_json::Value> {
        let mut out: Vec<serde_json::Value> = Vec::new();
        let mut push = |v: serde_json::Value| out.push(v);
        d.secrets.iter().for_each(|o| push(serde_json::to_value(o).unwrap()));
        d.databases.stateful_sets.iter().chain(&d.services.stateful_sets).for_each(|o| push(serde_json::to_value(o).unwrap()));
        d.databases
            .services
            .iter()
            .chain(&d.services.services)
            .chain([&d.gateway.service])
            .for_each(|o| push(serde_json::to_value(o).unwrap()));
        d.provisioning
            .iter()
            .chain(d.migrations.iter().filter_map(|m| m.job.as_ref()))
            .for_each(|o| push(serde_json::to_value(o).unwrap()));
        d.services.deployments.iter().chain([&d.gateway.deployment]).for_each(|o| push(serde_json::to_value(o).unwrap()));
        push(serde_json::to_value(&d.gateway.routes).unwrap());
        d.gateway.ingress.iter().for_each(|o| push(serde_json::to_value(o).unwrap()));
        d.hardening.network_policies.iter().for_each(|o| push(serde_json::to_value(o).unwrap()));
        d.hardening.pod_disruption_budgets.iter().for_each(|o| push(serde_json::to_value(o).unwrap()));
        out
    }

    fn templates(d: &Desired) -> Vec<&PodTemplateSpec> {
        let sets = d.databases.stateful_sets.iter().chain(&d.services.stateful_sets).map(|s| &s.spec.template);
        let deployments = d.services.deployments.iter().chain([&d.gateway.deployment]).map(|s| &s.spec.template);
        let jobs =
            d.provisioning.iter().chain(d.migrations.iter().filter_map(|m| m.job.as_ref())).map(|j| &j.spec.as_ref().unwrap().template);
        sets.chain(deployments).chain(jobs).collect()
    }

    /// Every Kubernetes name limit the build of `app` breaks: names of Services and label values
    /// at most 63 characters; Jobs too (their name becomes a label on their pods); StatefulSets
    /// 52 (their pods' `controller-revision-hash` label appends 11 characters).
    fn name_limit_violations(app: &CoupleApp) -> Vec<String> {
        let d = build(app, &Inputs { policy_v1: true, ..inputs(1) });
        let mut out = Vec::new();
        for object in all_objects(&d) {
            let (kind, name) = (object["kind"].as_str().unwrap_or_default(), object["metadata"]["name"].as_str().unwrap());
            let limit = match kind {
                "Service" | "Job" => 63,
                "StatefulSet" => 52,
                _ => 253,
            };
            if name.len() > limit {
                out.push(format!("{kind} {name} is longer than {limit}"));
            }
            for value in object["metadata"]["labels"].as_object().into_iter().flat_map(|l| l.values()) {
                if value.as_str().unwrap().len() > 63 {
                    out.push(format!("{kind} {name} has a label value longer than 63"));
                }
            }
        }
        out
    }

    #[test]
    fn the_longest_valid_name_fits_every_kubernetes_limit_and_one_more_character_does_not() {
        let named = |len: usize| {
            let mut app = fixtures::managed();
            app.metadata.name = Some("a".repeat(len));
            app
        };
        assert_eq!(name_limit_violations(&named(crate::validate::MAX_NAME_LEN)), Vec::<String>::new());
        assert!(!name_limit_violations(&named(crate::validate::MAX_NAME_LEN + 1)).is_empty(), "the limit is not tight");
    }

    fn deployment<'a>(d: &'a Desired, name: &str) -> Option<&'a Deployment> {
        d.services.deployments.iter().find(|x| x.metadata.name.as_deref() == Some(name))
    }

    fn config_hash(d: &Deployment) -> String {
        d.spec.template.metadata.as_ref().unwrap().annotations.as_ref().unwrap()[CONFIG_HASH_ANNOTATION].clone()
    }

    #[test]
    fn every_object_has_the_owner_reference_and_the_labels() {
        for (app, inputs) in [(fixtures::managed(), inputs(1)), (fixtures::external(), external_inputs())] {
            let first = build(&app, &inputs);
            let d = build(&app, &settled(&first, inputs));
            let objects = all_objects(&d);
            assert!(objects.len() > 20, "{}", objects.len());
            for object in objects {
                let meta = &object["metadata"];
                let name = meta["name"].as_str().unwrap();
                assert!(name.starts_with("demo-"), "{name}");
                assert_eq!(meta["namespace"], "couple", "{name}");
                assert_eq!(
                    meta["ownerReferences"],
                    json!([{"apiVersion": "couple.dev/v1alpha1", "kind": "CoupleApp", "name": "demo",
                    "uid": "0b9c1e6a-1111-4222-8333-444455556666", "controller": true}]),
                    "{name}"
                );
                assert_eq!(meta["labels"]["app.kubernetes.io/instance"], "demo", "{name}");
                assert_eq!(meta["labels"]["app.kubernetes.io/managed-by"], "couple-operator", "{name}");
                assert_eq!(meta["labels"]["app.kubernetes.io/part-of"], "couple-platform", "{name}");
                assert!(name.len() <= 63, "{name}");
            }
        }
    }

    #[test]
    fn building_twice_gives_identical_objects_and_settled_secrets_never_change() {
        let app = fixtures::managed();
        assert_eq!(build(&app, &inputs(1)), build(&app, &inputs(1)));
        let first = build(&app, &inputs(1));
        let second = build(&app, &settled(&first, inputs(2)));
        assert_eq!(second.secrets, first.secrets, "generated once, reused with any seed");
        let third = build(&app, &settled(&second, inputs(3)));
        assert_eq!(third, second, "nothing changed, nothing to write");
    }

    #[test]
    fn generated_secrets_are_created_when_absent_and_kept_when_present() {
        let app = fixtures::managed();
        let d = build(&app, &inputs(1));
        let names: Vec<_> = d.secrets.iter().map(|s| s.name_any()).collect();
        assert_eq!(
            names,
            [
                "demo-jwt",
                "demo-internal",
                "demo-postgres-admin",
                "demo-db-user-couple",
                "demo-db-question-answer",
                "demo-db-schedule-meeting",
                "demo-redis",
                "demo-mongodb"
            ]
        );
        assert_eq!(secrets_to_read(&Platform::new(&app).unwrap()), names.iter().cloned().collect());
        let mut inputs = inputs(2);
        inputs.secrets.insert("demo-jwt".into(), data(&[("secret", "an-existing-key-that-is-long-enough-0123")]));
        let d = build(&app, &inputs);
        assert_eq!(d.secrets[0].data.as_ref().unwrap()["secret"].0, b"an-existing-key-that-is-long-enough-0123");
    }

    #[test]
    fn a_referenced_jwt_secret_is_not_generated_and_is_reported_until_found() {
        let app = fixtures::app(json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "auth": {"jwtSecretRef": {"name": "my-jwt", "key": "signing"}},
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}
        }));
        let d = build(&app, &inputs(1));
        assert!(d.secrets.iter().all(|s| s.name_any() != "demo-jwt"));
        assert_eq!(d.missing, [MissingSecret { field: "spec.auth.jwtSecretRef", name: "my-jwt".into(), key: "signing".into() }]);
        assert!(secrets_to_read(&Platform::new(&app).unwrap()).contains("my-jwt"));
        let mut found = inputs(1);
        found.secrets.insert("my-jwt".into(), data(&[("signing", "x".repeat(40).as_str())]));
        assert!(build(&app, &found).missing.is_empty());
    }

    #[test]
    fn external_databases_get_no_statefulset_and_take_the_host_from_the_admin_url() {
        let app = fixtures::external();
        let d = build(&app, &external_inputs());
        assert!(d.databases.stateful_sets.is_empty() && d.databases.services.is_empty());
        assert!(d.missing.is_empty(), "{:?}", d.missing);
        let db = d.secrets.iter().find(|s| s.name_any() == "demo-db-user-couple").unwrap();
        let data = db.data.as_ref().unwrap();
        let password = String::from_utf8(data["password"].0.clone()).unwrap();
        assert_eq!(
            data["url"].0,
            format!("postgres://user_couple:{password}@pg.example.com:5433/user_couple?sslmode=require").into_bytes()
        );
        assert!(d.secrets.iter().all(|s| !["demo-postgres-admin", "demo-redis", "demo-mongodb"].contains(&s.name_any().as_str())));
        let provision = d.provisioning.as_ref().unwrap();
        assert_eq!(
            env_map(&provision.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0])["ADMIN_URL"],
            "secret:pg-admin/url"
        );
        let names: Vec<_> = d.hardening.network_policies.iter().map(|n| n.name_any()).collect();
        assert!(!names.iter().any(|n| n == "demo-postgres" || n == "demo-redis"), "no policy for databases outside");

        let missing = build(&app, &inputs(1)).missing;
        assert_eq!(missing.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["pg-admin", "redis-url"]);
    }

    #[test]
    fn without_mongodb_there_are_no_mongodb_objects_and_no_mongodb_url() {
        let app = fixtures::external();
        let first = build(&app, &external_inputs());
        let d = build(&app, &settled(&first, external_inputs()));
        let json = serde_json::to_string(&all_objects(&d)).unwrap();
        assert!(!json.contains("mongodb"), "no MongoDB object, env or policy");
        assert!(!json.contains("MONGODB_URL"));
        let managed = build(&fixtures::managed(), &inputs(1));
        assert!(managed.databases.stateful_sets.iter().any(|s| s.name_any() == "demo-mongodb"));
    }

    #[test]
    fn a_disabled_service_gets_no_objects_and_no_route() {
        let app = fixtures::app(json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "services": {"scheduleMeeting": {"enabled": false}},
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}
        }));
        let first = build(&app, &inputs(1));
        let d = build(&app, &settled(&first, inputs(1)));
        let json = serde_json::to_string(&all_objects(&d)).unwrap();
        assert!(!json.contains("schedule-meeting") && !json.contains("SCHEDULE_MEETING") && !json.contains("couple_schedule_db"));
        assert!(!d.gateway.routes.data.as_ref().unwrap()["routes.json"].contains("/api/schedules"));
        assert!(d.migrations.iter().all(|m| m.service != Component::ScheduleMeeting));
    }

    #[test]
    fn chat_alone_is_a_statefulset_on_sqlite_and_scaled_out_a_deployment_on_postgres_and_redis() {
        let app = fixtures::managed();
        let first = build(&app, &inputs(1));
        let d = build(&app, &settled(&first, inputs(1)));
        assert_eq!(d.services.stateful_sets.iter().map(|s| s.name_any()).collect::<Vec<_>>(), ["demo-chat"]);
        assert!(deployment(&d, "demo-chat").is_none());
        assert!(d.migrations.iter().all(|m| m.service != Component::Chat), "chat on SQLite migrates itself");
        assert!(d.secrets.iter().all(|s| s.name_any() != "demo-db-chat"));

        let app = fixtures::app(json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "services": {"chat": {"replicas": 3}},
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}
        }));
        let first = build(&app, &inputs(1));
        let d = build(&app, &settled(&first, inputs(1)));
        assert!(d.services.stateful_sets.is_empty());
        let chat = deployment(&d, "demo-chat").unwrap();
        assert_eq!(chat.spec.replicas, Some(3));
        let env = env_map(&chat.spec.template.spec.as_ref().unwrap().containers[0]);
        assert_eq!(env["CHAT_DATABASE_URL"], "secret:demo-db-chat/url");
        assert_eq!(env["CHAT_REDIS_URL"], "secret:demo-redis/url");
        assert_eq!(env["CHAT_AUTO_MIGRATE"], "false");
        assert!(d.secrets.iter().any(|s| s.name_any() == "demo-db-chat"));
        assert!(first.migrations.iter().any(|m| m.service == Component::Chat && m.job.is_some()));
    }

    #[test]
    fn ingress_only_when_enabled() {
        assert!(build(&fixtures::managed(), &inputs(1)).gateway.ingress.is_some());
        assert!(build(&fixtures::external(), &external_inputs()).gateway.ingress.is_none());
    }

    #[test]
    fn a_new_image_rolls_out_only_after_its_migration_succeeded() {
        let old = fixtures::managed();
        let first = build(&old, &inputs(1));
        assert!(first.services.deployments.is_empty(), "first install: nothing before the first migration");
        assert!(first.migrations.iter().all(|m| m.job.is_some() && m.rollout == Rollout::NotStarted));
        let mut running = settled(&first, inputs(1));
        running.running_images.insert("user-couple".into(), "couple-platform:0.1.0".into());
        let settled_old = build(&old, &running);
        assert!(settled_old.migrations.iter().all(|m| m.job.is_none() && m.rollout == Rollout::Current), "recorded: no Job left");
        let image = |d: &Desired| {
            deployment(d, "demo-user-couple").unwrap().spec.template.spec.as_ref().unwrap().containers[0].image.clone().unwrap()
        };
        assert_eq!(image(&settled_old), "couple-platform:0.1.0");

        let mut new = old.clone();
        new.spec.image.tag = "0.2.0".into();
        let upgrading = build(&new, &running);
        let migration = upgrading.migrations.iter().find(|m| m.service == Component::UserCouple).unwrap();
        let old_name = &first.migrations.iter().find(|m| m.service == Component::UserCouple).unwrap().job_name;
        assert_ne!(&migration.job_name, old_name, "a new image, a new Job");
        assert_eq!(migration.job.as_ref().unwrap().name_any(), migration.job_name);
        assert_eq!(migration.rollout, Rollout::HeldBack { running: "couple-platform:0.1.0".into() });
        assert_eq!(image(&upgrading), "couple-platform:0.1.0", "old pods keep serving meanwhile");

        running.migrations.insert("user-couple".into(), migration.hash.clone());
        assert_eq!(image(&build(&new, &running)), "couple-platform:0.2.0");
        assert_eq!(
            upgrading.gateway.deployment.spec.template.spec.as_ref().unwrap().containers[0].image.as_deref(),
            Some("couple-platform:0.2.0"),
            "the gateway has no migrations"
        );
    }

    #[test]
    fn a_changed_referenced_secret_changes_the_config_hash_of_the_pods_reading_it() {
        let app = fixtures::external();
        let first = build(&app, &external_inputs());
        let base = settled(&first, external_inputs());
        let before = build(&app, &base);
        let mut changed = base.clone();
        changed.secrets.insert("redis-url".into(), data(&[("url", "redis://other.example.com:6379")]));
        let after = build(&app, &changed);
        assert_ne!(config_hash(&before.gateway.deployment), config_hash(&after.gateway.deployment), "the gateway reads Redis");
        let uc = |d: &Desired| config_hash(deployment(d, "demo-user-couple").unwrap());
        let qa = |d: &Desired| config_hash(deployment(d, "demo-question-answer").unwrap());
        assert_ne!(uc(&before), uc(&after), "user-couple reads Redis");
        assert_eq!(qa(&before), qa(&after), "question-answer does not");

        let mut moved = base.clone();
        moved.secrets.insert("pg-admin".into(), data(&[("url", "postgres://admin:pw@pg2.example.com:5432/postgres")]));
        let after = build(&app, &moved);
        assert_ne!(qa(&before), qa(&after), "a new host changes the service's URL Secret, which rolls its pods");
        assert_eq!(
            before.secrets.iter().find(|s| s.name_any() == "demo-db-question-answer").unwrap().data.as_ref().unwrap()["password"],
            after.secrets.iter().find(|s| s.name_any() == "demo-db-question-answer").unwrap().data.as_ref().unwrap()["password"]
        );
    }

    #[test]
    fn budgets_only_with_policy_v1_and_several_replicas() {
        let app = fixtures::app(json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "services": {"userCouple": {"replicas": 3}},
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}
        }));
        let first = build(&app, &inputs(1));
        let mut inputs = settled(&first, inputs(1));
        let without = build(&app, &inputs);
        assert!(without.hardening.pod_disruption_budgets.is_empty());
        assert!(without.hardening.pod_disruption_budgets_skipped);
        inputs.policy_v1 = true;
        let with = build(&app, &inputs);
        let names: Vec<_> = with.hardening.pod_disruption_budgets.iter().map(|p| p.name_any()).collect();
        assert_eq!(names, ["demo-gateway", "demo-user-couple"]);
        assert!(!with.hardening.pod_disruption_budgets_skipped);

        let single = fixtures::app(json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "gateway": {"replicas": 1},
            "databases": {"postgres": {"managed": {}}}
        }));
        let d = build(&single, &Inputs { policy_v1: false, ..inputs.clone() });
        assert!(!d.hardening.pod_disruption_budgets_skipped, "nothing wanted, nothing skipped");
    }

    #[test]
    fn network_policies_select_the_pods_they_protect() {
        let app = fixtures::managed();
        let first = build(&app, &inputs(1));
        let d = build(&app, &settled(&first, inputs(1)));
        let pods: Vec<BTreeMap<String, String>> =
            templates(&d).into_iter().chain(templates(&first)).map(|t| t.metadata.as_ref().unwrap().labels.clone().unwrap()).collect();
        let selects =
            |selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>| selector.iter().all(|(k, v)| labels.get(k) == Some(v));
        let policies = &d.hardening.network_policies;
        let deny = policies.iter().find(|p| p.name_any() == "demo-default-deny").unwrap();
        let deny_selector = deny.spec.as_ref().unwrap().pod_selector.as_ref().unwrap().match_labels.clone().unwrap();
        assert!(pods.iter().all(|labels| selects(&deny_selector, labels)), "default deny covers every pod, Jobs included");
        for component in
            [Component::Gateway, Component::UserCouple, Component::Chat, Component::Postgres, Component::Redis, Component::Mongodb]
        {
            let name = format!("demo-{}", component.name());
            let policy = policies.iter().find(|p| p.name_any() == name).unwrap();
            let selector = policy.spec.as_ref().unwrap().pod_selector.as_ref().unwrap().match_labels.clone().unwrap();
            let selected: Vec<_> = pods.iter().filter(|labels| selects(&selector, labels)).collect();
            assert!(!selected.is_empty(), "{name} selects something");
            assert!(selected.iter().all(|l| l["app.kubernetes.io/name"] == component.name()), "{name} selects only its own pods");
        }
    }

    #[test]
    fn every_pod_runs_hardened() {
        let app = fixtures::managed();
        let first = build(&app, &inputs(1));
        let d = build(&app, &settled(&first, inputs(1)));
        for template in templates(&d).into_iter().chain(templates(&first)) {
            let spec = template.spec.as_ref().unwrap();
            let pod = spec.security_context.as_ref().unwrap();
            assert_eq!(pod.run_as_non_root, Some(true));
            assert_eq!(pod.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
            assert_eq!(spec.automount_service_account_token, Some(false));
            for c in &spec.containers {
                let sc = c.security_context.as_ref().unwrap();
                assert_eq!(
                    (sc.read_only_root_filesystem, sc.allow_privilege_escalation, sc.privileged),
                    (Some(true), Some(false), Some(false)),
                    "{}",
                    c.name
                );
                assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_deref(), Some(&["ALL".to_owned()][..]));
                let uid = if c.image.as_deref().unwrap().starts_with("couple-platform") { 65532 } else { 999 };
                assert_eq!((sc.run_as_user, pod.run_as_user, pod.fs_group), (Some(uid), Some(uid), Some(uid)), "{}", c.name);
                assert!(c.resources.is_some(), "{}", c.name);
            }
        }
    }

    #[test]
    fn debug_output_shows_no_secret_value() {
        let app = fixtures::managed();
        let first = build(&app, &inputs(1));
        let inputs = settled(&first, inputs(1));
        let d = build(&app, &inputs);
        let internal = d.secrets.iter().find(|s| s.name_any() == "demo-internal").unwrap();
        let token = String::from_utf8(internal.data.as_ref().unwrap()["token"].0.clone()).unwrap();
        for debug in [format!("{d:?}"), format!("{inputs:?}")] {
            assert!(debug.contains("demo-internal"));
            assert!(!debug.contains(&token));
        }
    }

    #[test]
    fn object_names_list_every_desired_object() {
        let app = fixtures::managed();
        let d = build(&app, &inputs(1));
        let names = d.object_names();
        assert!(names["Secret"].contains("demo-jwt"));
        assert!(names["Job"].contains("demo-provision"));
        assert!(names["Service"].contains("demo-postgres") && names["Service"].contains("demo-gateway"));
        assert!(names["ConfigMap"].contains("demo-gateway-routes"));
        assert!(names["Ingress"].contains("demo-gateway"));
        let total: usize = names.values().map(BTreeSet::len).sum();
        assert_eq!(total, all_objects(&d).len());
    }
}
