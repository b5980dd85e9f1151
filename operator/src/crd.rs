//! The `CoupleApp` custom resource (`couple.dev/v1alpha1`): its spec, its status, and nothing
//! else. The CRD YAML under `crds/` is generated from these types (`couple-operator crd`), so every
//! doc comment here becomes a description `kubectl explain` shows.

use std::collections::BTreeMap;

use k8s_openapi::{api::core::v1::ResourceRequirements, apimachinery::pkg::apis::meta::v1::Condition};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole couple platform in one resource: the gateway, the four services, their databases
/// and how they are reached.
// The printer columns repeat `type_ = "string"`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "couple.dev",
    version = "v1alpha1",
    kind = "CoupleApp",
    plural = "coupleapps",
    shortname = "capp",
    category = "couple",
    namespaced,
    status = "CoupleAppStatus",
    doc = "A couple platform: gateway, services, databases and routing, run by the couple operator.",
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".status.endpoint"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct CoupleAppSpec {
    /// The container image holding every binary of the platform.
    pub image: ImageSpec,
    /// Token signing and lifetimes.
    #[serde(default)]
    pub auth: AuthSpec,
    /// The gateway: the only component reachable from outside the namespace.
    #[serde(default)]
    pub gateway: GatewaySpec,
    /// The services behind the gateway.
    #[serde(default)]
    pub services: ServicesSpec,
    /// Where the services keep their data.
    pub databases: DatabasesSpec,
    /// When true, the operator leaves every object as it is until this is false again.
    #[serde(default)]
    pub paused: bool,
}

/// A container image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSpec {
    /// Image repository, e.g. `couple-platform` or `registry.example.com/couple-platform`.
    #[schemars(length(min = 1))]
    pub repository: String,
    /// Image tag, e.g. `0.1.0`.
    #[schemars(length(min = 1))]
    pub tag: String,
    /// `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<PullPolicy>,
}

/// When the kubelet pulls the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    /// Every time a container starts.
    Always,
    /// Only when the node does not have it.
    IfNotPresent,
    /// Never; the image must be on the node.
    Never,
}

/// A key in a Secret of the CoupleApp's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The key within the Secret.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// A whole Secret of the CoupleApp's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretRef {
    /// The Secret's name.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Token signing and lifetimes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// The JWT signing secret (at least 32 bytes). When absent the operator generates one once,
    /// in the Secret `<name>-jwt`, and never regenerates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_secret_ref: Option<SecretKeyRef>,
    /// Access token lifetime, e.g. `15m`, `900s` or `1h` (default `15m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(s|m|h)$"))]
    pub access_token_ttl: Option<String>,
}

/// The gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// Number of gateway pods (default 2).
    #[serde(default = "two")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// The gateway's Service.
    #[serde(default)]
    pub service: GatewayServiceSpec,
    /// An Ingress in front of the gateway; none when absent or disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// Browser origins allowed by CORS and the WebSocket Origin check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// CPU and memory for each gateway pod (defaults: 50m/64Mi requested, 128Mi limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl Default for GatewaySpec {
    fn default() -> Self {
        Self { replicas: 2, service: GatewayServiceSpec::default(), ingress: None, allowed_origins: Vec::new(), resources: None }
    }
}

fn two() -> i32 {
    2
}

fn one() -> i32 {
    1
}

fn yes() -> bool {
    true
}

/// The gateway's Service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayServiceSpec {
    /// `ClusterIP` (default), `NodePort` or `LoadBalancer`.
    #[serde(default, rename = "type")]
    pub type_: ServiceType,
    /// The Service port (default 80).
    #[serde(default = "default_service_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

impl Default for GatewayServiceSpec {
    fn default() -> Self {
        Self { type_: ServiceType::default(), port: default_service_port() }
    }
}

fn default_service_port() -> i32 {
    80
}

/// How the gateway's Service is exposed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServiceType {
    /// Inside the cluster only (reach it through an Ingress).
    #[default]
    ClusterIP,
    /// On a port of every node.
    NodePort,
    /// Through the cloud's load balancer.
    LoadBalancer,
}

/// An Ingress for the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Whether to create the Ingress (default true when this section is present).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The IngressClass, e.g. `nginx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// The host name clients use, e.g. `couple.example.com`.
    #[schemars(length(min = 1))]
    pub host: String,
    /// A TLS Secret for the host; plain HTTP when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
}

/// The services behind the gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicesSpec {
    /// Accounts, sessions and couple matching.
    #[serde(default)]
    pub user_couple: ServiceSpec,
    /// Schedules, dates, places and weather.
    #[serde(default)]
    pub schedule_meeting: ScheduleMeetingSpec,
    /// Daily questions, tag profiles and trait vectors.
    #[serde(default)]
    pub question_answer: ServiceSpec,
    /// Real-time chat.
    #[serde(default)]
    pub chat: ChatSpec,
}

/// A stateless service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Whether to run it (default true); a disabled service gets no objects and no route.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Number of pods (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// CPU and memory for each pod (defaults: 50m/64Mi requested, 256Mi limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        Self { enabled: true, replicas: 1, resources: None }
    }
}

/// The schedule-meeting service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleMeetingSpec {
    /// Replicas, resources and whether it runs.
    #[serde(flatten)]
    pub service: ServiceSpec,
    /// The weather API key; without it the weather endpoint answers 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weather_api_key_secret_ref: Option<SecretKeyRef>,
}

/// The chat service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatSpec {
    /// Replicas, resources and whether it runs. More than one replica needs PostgreSQL and Redis.
    #[serde(flatten)]
    pub service: ServiceSpec,
    /// Size of the SQLite volume when chat runs as a single replica (default `1Gi`).
    #[serde(default = "default_chat_storage")]
    pub storage_size: String,
}

impl Default for ChatSpec {
    fn default() -> Self {
        Self { service: ServiceSpec::default(), storage_size: default_chat_storage() }
    }
}

fn default_chat_storage() -> String {
    "1Gi".into()
}

/// Where the data lives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabasesSpec {
    /// PostgreSQL, one database per service. Needed by user-couple, schedule-meeting and
    /// question-answer, and by chat when it runs more than one replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<DatabaseSpec>,
    /// Redis for rate limits, match codes, token versions and chat fan-out shared between
    /// replicas. Needed as soon as the gateway, user-couple or chat runs more than one replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<DatabaseSpec>,
    /// MongoDB for trait vectors; when omitted, vectors live in PostgreSQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mongodb: Option<DatabaseSpec>,
}

/// A database run by the operator, or one that exists already. Exactly one of `managed` and
/// `external` must be set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("oneOf" = [{"required": ["managed"]}, {"required": ["external"]}]))]
pub struct DatabaseSpec {
    /// A single-replica StatefulSet run by the operator: for kind and development, with no
    /// backups. In production point `external` at a real database (for example one run by
    /// CloudNativePG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedDatabase>,
    /// An existing database, given by an admin connection URL in a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalDatabase>,
}

/// A database run by the operator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDatabase {
    /// Size of its volume (defaults: PostgreSQL `5Gi`, Redis `1Gi`, MongoDB `2Gi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_size: Option<String>,
    /// The StorageClass of its volume; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Its image (defaults: `postgres:16`, `redis:7`, `mongo:7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// CPU and memory for its pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// A database that exists already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDatabase {
    /// A Secret with the admin connection URL under the key `url` (for PostgreSQL, a role that
    /// may create databases and roles).
    pub secret_ref: SecretRef,
}

/// What the operator has made of the CoupleApp.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoupleAppStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the platform is on its way to running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// `Ready`, `DatabasesReady`, `MigrationsSucceeded`, `ServicesAvailable`, `RoutingReady`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Replicas and image of each component (gateway, services, databases).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<String, ComponentStatus>,
    /// Per service, the hash of the migrations (and image) last applied successfully.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub migrations: BTreeMap<String, String>,
    /// The URL clients use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// Where a CoupleApp is on its way to running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    /// Accepted, nothing applied yet.
    Pending,
    /// Databases and their Secrets are being set up.
    Provisioning,
    /// Migration Jobs are running.
    Migrating,
    /// Workloads are rolling out.
    Progressing,
    /// Everything is available.
    Ready,
    /// It ran, and something is now unavailable.
    Degraded,
    /// It cannot proceed without a change to the spec (or a failed migration).
    Failed,
}

/// A component's rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Desired pods.
    pub replicas: i32,
    /// Ready pods.
    pub ready_replicas: i32,
    /// The image its pods run.
    pub image: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn the_minimal_example_parses_with_defaults() {
        let app: CoupleApp = serde_json::from_value(serde_json::json!({
            "apiVersion": "couple.dev/v1alpha1",
            "kind": "CoupleApp",
            "metadata": {"name": "demo", "namespace": "couple"},
            "spec": {
                "image": {"repository": "couple-platform", "tag": "0.1.0"},
                "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}
            }
        }))
        .unwrap();
        assert_eq!(app.spec.gateway.replicas, 2);
        assert_eq!(app.spec.gateway.service.port, 80);
        assert!(app.spec.services.chat.service.enabled);
        assert_eq!(app.spec.services.chat.storage_size, "1Gi");
        assert_eq!(app.spec.databases.mongodb, None);
        assert!(!app.spec.paused);
    }

    #[test]
    fn the_crd_has_the_contracted_names_and_columns() {
        let crd = CoupleApp::crd();
        assert_eq!(crd.metadata.name.as_deref(), Some("coupleapps.couple.dev"));
        assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["capp".to_string()][..]));
        assert_eq!(crd.spec.scope, "Namespaced");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
        let columns: Vec<_> = version.additional_printer_columns.iter().flatten().map(|c| c.name.as_str()).collect();
        assert_eq!(columns, ["Ready", "Phase", "Endpoint", "Age"]);
    }

    #[test]
    fn every_spec_field_has_a_description() {
        fn walk(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
            if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                for (name, prop) in props {
                    let here = format!("{path}.{name}");
                    if prop.get("description").is_none() {
                        missing.push(here.clone());
                    }
                    walk(&here, prop, missing);
                }
            }
            if let Some(items) = schema.get("items") {
                walk(&format!("{path}[]"), items, missing);
            }
        }
        let crd = serde_json::to_value(CoupleApp::crd()).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let mut missing = Vec::new();
        walk("spec", schema, &mut missing);
        // Kubernetes' own types (resources) carry their descriptions from k8s-openapi.
        missing.retain(|p| !p.contains(".resources."));
        assert!(missing.is_empty(), "fields without a description: {missing:?}");
    }
}
