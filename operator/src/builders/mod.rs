//! Pure builders: from a validated CoupleApp (and what was read from the cluster) to the exact
//! objects that should exist. One module per Kubernetes kind; nothing here talks to the API
//! server, so every object is unit-tested from fixture CoupleApps.

use std::collections::BTreeMap;

use couple_registry::ServiceSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use crate::crd::{CoupleApp, PullPolicy};

pub mod configmap;
pub mod deployment;
pub mod desired;
pub mod ingress;
pub mod job;
pub mod network_policy;
pub mod pdb;
pub mod pod;
pub mod pvc;
pub mod secret;
pub mod service;
pub mod statefulset;
pub mod topology;

/// `app.kubernetes.io/part-of` on everything.
pub const PART_OF: &str = "couple-platform";
/// `app.kubernetes.io/managed-by` on everything; also the server-side apply field manager.
pub const MANAGER: &str = "couple-operator";

/// A component of the platform: a workload with its own labels, objects and (for services) its
/// own database and migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// The gateway.
    Gateway,
    /// user-couple.
    UserCouple,
    /// schedule-meeting.
    ScheduleMeeting,
    /// question-answer.
    QuestionAnswer,
    /// chat.
    Chat,
    /// Managed PostgreSQL.
    Postgres,
    /// Managed Redis.
    Redis,
    /// Managed MongoDB.
    Mongodb,
}

impl Component {
    /// The four services behind the gateway, in the registry's start order.
    pub const SERVICES: [Component; 4] = [Component::UserCouple, Component::QuestionAnswer, Component::ScheduleMeeting, Component::Chat];
    /// The databases the operator can run.
    pub const DATABASES: [Component; 3] = [Component::Postgres, Component::Redis, Component::Mongodb];

    /// The registry entry of the gateway or a service; `None` for a database.
    pub fn spec(self) -> Option<&'static ServiceSpec> {
        match self {
            Component::Gateway => Some(&couple_registry::GATEWAY),
            Component::UserCouple => Some(&couple_registry::USER_COUPLE),
            Component::ScheduleMeeting => Some(&couple_registry::SCHEDULE_MEETING),
            Component::QuestionAnswer => Some(&couple_registry::QUESTION_ANSWER),
            Component::Chat => Some(&couple_registry::CHAT),
            Component::Postgres | Component::Redis | Component::Mongodb => None,
        }
    }

    /// The gateway or service a registry entry describes.
    pub fn of_spec(spec: &ServiceSpec) -> Option<Component> {
        [Component::Gateway].into_iter().chain(Component::SERVICES).find(|c| c.spec().is_some_and(|s| s.name == spec.name))
    }

    /// The name used in object names, labels and status (`user-couple`, ...); for services it is
    /// also the binary's name in the image.
    pub fn name(self) -> &'static str {
        match self {
            Component::Postgres => "postgres",
            Component::Redis => "redis",
            Component::Mongodb => "mongodb",
            served => served.registered().name,
        }
    }

    /// The port the component listens on.
    pub fn port(self) -> i32 {
        match self {
            Component::Postgres => 5432,
            Component::Redis => 6379,
            Component::Mongodb => 27017,
            served => i32::from(served.registered().port),
        }
    }

    fn registered(self) -> &'static ServiceSpec {
        self.spec().expect("every component but the databases is in the registry")
    }

    /// The environment variable prefix of a service binary (`USER_COUPLE_`, ...); empty for a
    /// database.
    pub fn env_prefix(self) -> &'static str {
        self.spec().map_or("", |spec| spec.env_prefix)
    }

    /// The PostgreSQL database a service owns (the provisioning Job creates it).
    pub fn database(self) -> Option<&'static str> {
        self.spec().and_then(|spec| spec.storage.postgres_database)
    }
}

/// A CoupleApp with what every builder needs: names, labels, the owner reference, the image.
#[derive(Debug, Clone)]
pub struct Platform<'a> {
    /// The resource.
    pub app: &'a CoupleApp,
    /// Its name; every object name starts with it.
    pub name: String,
    /// Its namespace; every object lives there.
    pub namespace: String,
    owner: OwnerReference,
}

impl<'a> Platform<'a> {
    /// Wraps a CoupleApp read from the API server (it must have a name, namespace and uid).
    pub fn new(app: &'a CoupleApp) -> Option<Self> {
        Some(Self { name: app.name_any(), namespace: app.namespace()?, owner: app.controller_owner_ref(&())?, app })
    }

    /// `<app>-<suffix>`.
    pub fn object_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }

    /// The labels that select a component's pods (stable across upgrades).
    pub fn selector(&self, component: Component) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_owned(), component.name().to_owned()),
            ("app.kubernetes.io/instance".to_owned(), self.name.clone()),
        ])
    }

    /// Every label an object of `component` carries.
    pub fn labels(&self, component: Component) -> BTreeMap<String, String> {
        let mut labels = self.selector(component);
        labels.insert("app.kubernetes.io/component".to_owned(), component.name().to_owned());
        labels.insert("app.kubernetes.io/part-of".to_owned(), PART_OF.to_owned());
        labels.insert("app.kubernetes.io/managed-by".to_owned(), MANAGER.to_owned());
        labels
    }

    /// Metadata for an object named `name` belonging to `component`: namespace, labels and the
    /// controller owner reference, so deleting the CoupleApp deletes it.
    pub fn meta(&self, name: impl Into<String>, component: Component) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels(component)),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }

    /// `repository:tag`.
    pub fn image(&self) -> String {
        format!("{}:{}", self.app.spec.image.repository, self.app.spec.image.tag)
    }

    /// The image pull policy, when set.
    pub fn pull_policy(&self) -> Option<String> {
        self.app.spec.image.pull_policy.map(|p| {
            match p {
                PullPolicy::Always => "Always",
                PullPolicy::IfNotPresent => "IfNotPresent",
                PullPolicy::Never => "Never",
            }
            .to_owned()
        })
    }

    /// The uid of the CoupleApp (owner references need it).
    pub fn uid(&self) -> &str {
        &self.owner.uid
    }
}

/// Whether the resource is a CoupleApp's child that this operator manages.
pub fn is_managed<K: Resource>(object: &K) -> bool {
    object.meta().labels.as_ref().and_then(|l| l.get("app.kubernetes.io/managed-by")).is_some_and(|m| m == MANAGER)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Fixture CoupleApps for the builder tests.
    use crate::crd::CoupleApp;

    /// A CoupleApp as the API server returns it: with a namespace, uid and generation.
    pub fn app(spec: serde_json::Value) -> CoupleApp {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "couple.dev/v1alpha1",
            "kind": "CoupleApp",
            "metadata": {"name": "demo", "namespace": "couple", "uid": "0b9c1e6a-1111-4222-8333-444455556666", "generation": 1},
            "spec": spec,
        }))
        .expect("a valid fixture")
    }

    /// Managed PostgreSQL, Redis and MongoDB, every service enabled, an Ingress.
    pub fn managed() -> CoupleApp {
        app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "gateway": {"ingress": {"host": "couple.example.com", "className": "nginx", "tlsSecretName": "couple-tls"},
                        "allowedOrigins": ["https://couple.example.com"]},
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}, "mongodb": {"managed": {}}}
        }))
    }

    /// Managed PostgreSQL and Redis, no MongoDB, no Ingress, with `services` as the services'
    /// spec (`{"chat": {"replicas": 3}}`).
    pub fn with_services(services: serde_json::Value) -> CoupleApp {
        app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "services": services,
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}
        }))
    }

    /// External PostgreSQL and Redis given by Secrets, no MongoDB, no Ingress.
    pub fn external() -> CoupleApp {
        app(serde_json::json!({
            "image": {"repository": "registry.example.com/couple-platform", "tag": "0.2.0", "pullPolicy": "Always"},
            "databases": {"postgres": {"external": {"secretRef": {"name": "pg-admin"}}},
                          "redis": {"external": {"secretRef": {"name": "redis-url"}}}}
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_carries_the_labels_and_the_controller_owner() {
        let app = fixtures::managed();
        let platform = Platform::new(&app).unwrap();
        let meta = platform.meta(platform.object_name("gateway"), Component::Gateway);
        assert_eq!(meta.name.as_deref(), Some("demo-gateway"));
        assert_eq!(meta.namespace.as_deref(), Some("couple"));
        let labels = meta.labels.unwrap();
        for (key, value) in [
            ("app.kubernetes.io/name", "gateway"),
            ("app.kubernetes.io/instance", "demo"),
            ("app.kubernetes.io/component", "gateway"),
            ("app.kubernetes.io/part-of", "couple-platform"),
            ("app.kubernetes.io/managed-by", "couple-operator"),
        ] {
            assert_eq!(labels.get(key).map(String::as_str), Some(value), "{key}");
        }
        let owner = &meta.owner_references.unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("CoupleApp", "demo", Some(true)));
        assert_eq!(owner.uid, "0b9c1e6a-1111-4222-8333-444455556666");
    }

    #[test]
    fn the_services_are_the_registrys_in_start_order() {
        let names: Vec<_> = Component::SERVICES.iter().map(|c| c.spec().unwrap().name).collect();
        let registry: Vec<_> = couple_registry::SERVICES.iter().map(|s| s.name).collect();
        assert_eq!(names, registry);
        for (component, spec) in Component::SERVICES.iter().zip(couple_registry::SERVICES) {
            assert_eq!((component.name(), component.port(), component.env_prefix()), (spec.name, i32::from(spec.port), spec.env_prefix));
            assert_eq!(Component::of_spec(spec), Some(*component));
        }
        assert_eq!(Component::Gateway.spec(), Some(&couple_registry::GATEWAY));
        assert_eq!(Component::of_spec(&couple_registry::GATEWAY), Some(Component::Gateway));
    }

    #[test]
    fn databases_keep_their_own_names_ports_and_no_prefix() {
        let databases: Vec<_> = Component::DATABASES.iter().map(|c| (c.name(), c.port(), c.env_prefix(), c.spec())).collect();
        assert_eq!(databases, [("postgres", 5432, "", None), ("redis", 6379, "", None), ("mongodb", 27017, "", None)]);
        assert_eq!(Component::ScheduleMeeting.database(), Some("couple_schedule_db"));
        assert_eq!(Component::Gateway.database(), None);
    }
}
