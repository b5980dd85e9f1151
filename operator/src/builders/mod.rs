//! Pure builders: from a validated CoupleApp (and what was read from the cluster) to the exact
//! objects that should exist. One module per Kubernetes kind; nothing here talks to the API
//! server, so every object is unit-tested from fixture CoupleApps.

use std::collections::BTreeMap;

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
    /// The gateway (port 8080).
    Gateway,
    /// user-couple (port 8081).
    UserCouple,
    /// schedule-meeting (port 8082).
    ScheduleMeeting,
    /// question-answer (port 8086).
    QuestionAnswer,
    /// chat (port 8000).
    Chat,
    /// Managed PostgreSQL.
    Postgres,
    /// Managed Redis.
    Redis,
    /// Managed MongoDB.
    Mongodb,
}

impl Component {
    /// The four services behind the gateway.
    pub const SERVICES: [Component; 4] = [Component::UserCouple, Component::ScheduleMeeting, Component::QuestionAnswer, Component::Chat];

    /// The name used in object names, labels and status (`user-couple`, ...); for services it is
    /// also the binary's name in the image.
    pub fn name(self) -> &'static str {
        match self {
            Component::Gateway => "gateway",
            Component::UserCouple => "user-couple",
            Component::ScheduleMeeting => "schedule-meeting",
            Component::QuestionAnswer => "question-answer",
            Component::Chat => "chat",
            Component::Postgres => "postgres",
            Component::Redis => "redis",
            Component::Mongodb => "mongodb",
        }
    }

    /// The port the component listens on.
    pub fn port(self) -> i32 {
        match self {
            Component::Gateway => 8080,
            Component::UserCouple => 8081,
            Component::ScheduleMeeting => 8082,
            Component::QuestionAnswer => 8086,
            Component::Chat => 8000,
            Component::Postgres => 5432,
            Component::Redis => 6379,
            Component::Mongodb => 27017,
        }
    }

    /// The environment variable prefix of a service binary (`USER_COUPLE_`, ...).
    pub fn env_prefix(self) -> &'static str {
        match self {
            Component::Gateway => "GATEWAY_",
            Component::UserCouple => "USER_COUPLE_",
            Component::ScheduleMeeting => "SCHEDULE_MEETING_",
            Component::QuestionAnswer => "QUESTION_ANSWER_",
            Component::Chat => "CHAT_",
            Component::Postgres | Component::Redis | Component::Mongodb => "",
        }
    }

    /// The PostgreSQL database a service owns (the provisioning Job creates it).
    pub fn database(self) -> Option<&'static str> {
        match self {
            Component::UserCouple => Some("user_couple"),
            Component::ScheduleMeeting => Some("couple_schedule_db"),
            Component::QuestionAnswer => Some("question_answer_db"),
            Component::Chat => Some("chat"),
            _ => None,
        }
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
}
