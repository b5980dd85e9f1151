//! Pod template pieces every workload shares: the hardened security contexts, the platform
//! container (binary, ports, probes, env), and the `couple.dev/config-hash` annotation that rolls
//! pods when their configuration or a Secret they read changes.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::core::v1::{
        Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, PodSecurityContext, PodSpec,
        PodTemplateSpec, Probe, SeccompProfile, SecretKeySelector, SecurityContext, Volume, VolumeMount,
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta, util::intstr::IntOrString},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    Component, Platform,
    secret::SecretData,
    topology::{METRICS_PORT, secret_key},
};

/// The pod template annotation holding the configuration checksum.
pub const CONFIG_HASH_ANNOTATION: &str = "couple.dev/config-hash";
/// The user and group the platform image's binaries run as (distroless `nonroot`).
pub const PLATFORM_UID: i64 = 65532;
/// The user the official postgres, redis and mongo images run their server as.
pub const DATABASE_UID: i64 = 999;

/// A literal environment variable.
pub fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar { name: name.to_owned(), value: Some(value.into()), value_from: None }
}

/// An environment variable read from a Secret key.
pub fn env_secret(name: &str, selector: SecretKeySelector) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource { secret_key_ref: Some(selector), ..EnvVarSource::default() }),
    }
}

/// A scratch `emptyDir` (bounded, so a runaway writer cannot fill the node's disk).
pub fn empty_dir(name: &str, size: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource { size_limit: Some(Quantity(size.to_owned())), ..EmptyDirVolumeSource::default() }),
        ..Volume::default()
    }
}

/// A volume mount.
pub fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount { name: name.to_owned(), mount_path: path.to_owned(), ..VolumeMount::default() }
}

/// The container security context every container gets: nothing but its own user, a read-only
/// root filesystem (writable paths are explicit volumes), no privilege escalation, no Linux
/// capabilities, the runtime's default seccomp profile.
pub fn container_security(uid: i64) -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), add: None }),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

/// The pod security context: the same user, and `fsGroup` so mounted volumes are writable by it.
pub fn pod_security(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile { type_: "RuntimeDefault".to_owned(), localhost_profile: None }
}

/// A pod spec with what every workload shares: its security context, no API token (no workload
/// talks to the API server) and no service-link variables (they would land in the binaries'
/// `<PREFIX>` namespaces, e.g. a Service named `chat` would inject `CHAT_PORT`).
pub fn pod_spec(uid: i64, containers: Vec<Container>, volumes: Vec<Volume>) -> PodSpec {
    PodSpec {
        containers,
        volumes: (!volumes.is_empty()).then_some(volumes),
        security_context: Some(pod_security(uid)),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        ..PodSpec::default()
    }
}

/// Data of every Secret and ConfigMap a pod may read, by name: the Secrets built in stage 1, the
/// referenced ones as read, and the ConfigMaps built here. The config hash covers exactly what a
/// pod references, so one service's Secret changing does not roll the others.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigSources {
    secrets: BTreeMap<String, SecretData>,
    config_maps: BTreeMap<String, BTreeMap<String, String>>,
}

impl ConfigSources {
    /// Adds (or replaces) a Secret's data.
    pub fn add_secret(&mut self, name: impl Into<String>, data: SecretData) {
        self.secrets.insert(name.into(), data);
    }

    /// Adds (or replaces) a ConfigMap's data.
    pub fn add_config_map(&mut self, name: impl Into<String>, data: BTreeMap<String, String>) {
        self.config_maps.insert(name.into(), data);
    }

    /// One value of a Secret, when known.
    pub fn secret_value(&self, name: &str, key: &str) -> Option<&ByteString> {
        self.secrets.get(name)?.get(key)
    }

    /// Whether the Secret is known.
    pub fn has_secret(&self, name: &str) -> bool {
        self.secrets.contains_key(name)
    }

    /// SHA-256 over the pod spec and the data of every Secret key, Secret and ConfigMap it
    /// references (an unknown one counts as `null`, so its appearance rolls the pods too).
    pub fn config_hash(&self, spec: &PodSpec) -> String {
        let mut referenced = Vec::new();
        let containers = spec.init_containers.iter().flatten().chain(&spec.containers);
        for var in containers.clone().flat_map(|c| c.env.iter().flatten()) {
            let source = var.value_from.as_ref();
            if let Some(r) = source.and_then(|s| s.secret_key_ref.as_ref()) {
                referenced.push(json!(["secret", r.name, r.key, self.secret_value(&r.name, &r.key)]));
            }
            if let Some(r) = source.and_then(|s| s.config_map_key_ref.as_ref()) {
                referenced.push(json!(["configmap", r.name, r.key, self.config_maps.get(&r.name).and_then(|d| d.get(&r.key))]));
            }
        }
        for from in containers.flat_map(|c| c.env_from.iter().flatten()) {
            if let Some(r) = &from.secret_ref {
                referenced.push(json!(["secret", r.name, Value::Null, self.secrets.get(&r.name)]));
            }
            if let Some(r) = &from.config_map_ref {
                referenced.push(json!(["configmap", r.name, Value::Null, self.config_maps.get(&r.name)]));
            }
        }
        for volume in spec.volumes.iter().flatten() {
            if let Some(name) = volume.secret.as_ref().and_then(|s| s.secret_name.as_ref()) {
                referenced.push(json!(["secret", name, Value::Null, self.secrets.get(name)]));
            }
            if let Some(c) = &volume.config_map {
                referenced.push(json!(["configmap", c.name, Value::Null, self.config_maps.get(&c.name)]));
            }
        }
        let mut input = json!({"pod": spec, "sources": referenced});
        // Sorted keys, so the hash does not depend on serde_json's `preserve_order`, which feature
        // unification turns on in builds that include the MongoDB driver: the same inputs must give
        // the same hash in every build of the operator, or an upgrade would roll every pod.
        input.sort_all_objects();
        hex::encode(Sha256::digest(serde_json::to_vec(&input).expect("pod specs serialise")))
    }
}

/// A pod template for `component`: its labels (the selector's among them) and the config hash.
pub fn pod_template(platform: &Platform, component: Component, spec: PodSpec, sources: &ConfigSources) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(platform.labels(component)),
            annotations: Some(BTreeMap::from([(CONFIG_HASH_ANNOTATION.to_owned(), sources.config_hash(&spec))])),
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    }
}

/// A container running `<binary> <subcommand>` from the platform image, hardened, with `/tmp`
/// mounted writable.
pub fn platform_container(platform: &Platform, component: Component, image: &str, subcommand: &str, env: Vec<EnvVar>) -> Container {
    Container {
        name: component.name().to_owned(),
        image: Some(image.to_owned()),
        image_pull_policy: platform.pull_policy(),
        command: Some(vec![component.name().to_owned(), subcommand.to_owned()]),
        env: Some(env),
        security_context: Some(container_security(PLATFORM_UID)),
        volume_mounts: Some(vec![mount("tmp", "/tmp")]),
        ..Container::default()
    }
}

/// What `serve` adds to a platform container: the API and metrics ports, `/healthz` (liveness)
/// and `/readyz` (readiness, so a pod whose database is down leaves the Service) on the API port,
/// and the component's resources.
pub fn serving(platform: &Platform, component: Component, mut container: Container) -> Container {
    container.ports = Some(vec![
        ContainerPort {
            name: Some("http".to_owned()),
            container_port: component.port(),
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        },
        ContainerPort {
            name: Some("metrics".to_owned()),
            container_port: METRICS_PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        },
    ]);
    container.liveness_probe = Some(http_probe("/healthz", 10, 3));
    container.readiness_probe = Some(http_probe("/readyz", 5, 2));
    container.resources = Some(platform.resources(component));
    container
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// The variables every serving binary reads under `COUPLE_`: signing key, internal token, token
/// lifetime, JSON logs.
pub fn shared_env(platform: &Platform) -> Vec<EnvVar> {
    vec![
        env_secret("COUPLE_JWT_SECRET", platform.jwt_secret_ref()),
        env_secret("COUPLE_INTERNAL_TOKEN", platform.internal_token_ref()),
        env("COUPLE_ACCESS_TOKEN_TTL_SECS", platform.access_token_ttl_secs().to_string()),
        env("COUPLE_LOG_FORMAT", "json"),
    ]
}

/// `<PREFIX><PEER>_URL` for every enabled service `component` reaches (its registry entry's
/// `peers`: the services it calls and, for user-couple, those it erases accounts in), at the
/// peer's cluster URL.
pub fn peer_env(platform: &Platform, component: Component) -> Vec<EnvVar> {
    let Some(spec) = component.spec() else { return Vec::new() };
    spec.peers()
        .filter_map(|peer| Some((peer, Component::of_spec(peer)?)))
        .filter(|(_, peer)| platform.is_enabled(*peer))
        .map(|(registered, peer)| env(&spec.peer_url_var(registered), platform.service_url(peer)))
        .collect()
}

/// `USER_COUPLE_ERASURE_SERVICES` for the service that owns accounts: the enabled services that
/// hold user or couple data, comma-separated (empty when none is, which turns the fan-out off),
/// so that it never queues erasures for a service that is not deployed.
pub fn erasure_env(platform: &Platform, component: Component) -> Option<EnvVar> {
    let spec = component.spec()?;
    let var = spec.erasure_services_var()?;
    let enabled: Vec<&str> = spec
        .erasure_targets()
        .filter(|target| Component::of_spec(target).is_some_and(|c| platform.is_enabled(c)))
        .map(|t| t.name)
        .collect();
    Some(env(&var, enabled.join(",")))
}

/// Where chat keeps its SQLite file when it runs as one replica.
pub const CHAT_SQLITE_URL: &str = "sqlite:/data/chat.db";

/// The database variables of a service, shared by its serving container and its migration Job:
/// `<PREFIX>DATABASE_URL` (its own PostgreSQL login, or chat's SQLite file) and
/// `QUESTION_ANSWER_MONGODB_URL` when MongoDB is configured.
pub fn database_env(platform: &Platform, service: Component) -> Vec<EnvVar> {
    let prefix = service.env_prefix();
    let mut vars = Vec::new();
    match platform.service_database_ref(service) {
        Some(url) => vars.push(env_secret(&format!("{prefix}DATABASE_URL"), url)),
        None if service == Component::Chat => vars.push(env(&format!("{prefix}DATABASE_URL"), CHAT_SQLITE_URL)),
        None => {}
    }
    if platform.uses(service, Component::Mongodb)
        && let Some(url) = platform.database_url_ref(Component::Mongodb)
    {
        vars.push(env_secret(&format!("{prefix}MONGODB_URL"), url));
    }
    vars
}

/// The whole environment of a service's `serve` container, with exactly the names the binaries
/// read: shared settings, listen address, database URLs, Redis when it shares state through it,
/// the weather key for schedule-meeting, the URLs of the services it reaches and, for
/// user-couple, which of them erase accounts. Migrations run as Jobs, so `AUTO_MIGRATE` is off,
/// except for chat on SQLite: its single pod owns the file, so it migrates at start-up.
pub fn service_env(platform: &Platform, service: Component) -> Vec<EnvVar> {
    let prefix = service.env_prefix();
    let mut vars = shared_env(platform);
    vars.push(env(&format!("{prefix}HOST"), "0.0.0.0"));
    vars.push(env(&format!("{prefix}PORT"), service.port().to_string()));
    vars.push(env(&format!("{prefix}ADMIN_PORT"), METRICS_PORT.to_string()));
    vars.extend(database_env(platform, service));
    let migrates_itself = service == Component::Chat && !platform.chat_on_postgres();
    vars.push(env(&format!("{prefix}AUTO_MIGRATE"), migrates_itself.to_string()));
    if platform.uses(service, Component::Redis)
        && let Some(url) = platform.database_url_ref(Component::Redis)
    {
        vars.push(env_secret(&format!("{prefix}REDIS_URL"), url));
    }
    if service == Component::ScheduleMeeting
        && let Some(key) = &platform.app.spec.services.schedule_meeting.weather_api_key_secret_ref
    {
        vars.push(env_secret("SCHEDULE_MEETING_WEATHER_API_KEY", secret_key(&key.name, &key.key)));
    }
    if service == Component::ScheduleMeeting
        && let Some(ingress) = platform.app.spec.gateway.ingress.as_ref().filter(|i| i.enabled)
    {
        // The calendar feed's URLs are handed to phones: they must name the host clients use.
        let scheme = if ingress.tls_secret_name.is_some() { "https" } else { "http" };
        vars.push(env("SCHEDULE_MEETING_PUBLIC_BASE_URL", format!("{scheme}://{}", ingress.host)));
    }
    vars.extend(peer_env(platform, service));
    vars.extend(erasure_env(platform, service));
    vars
}

/// The serving container of a service running `image`.
pub fn service_container(platform: &Platform, service: Component, image: &str) -> Container {
    serving(platform, service, platform_container(platform, service, image, "serve", service_env(platform, service)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::fixtures;
    use super::*;

    /// The literal value, or `secret:<name>/<key>`, of each variable, by name.
    pub(crate) fn env_map(container: &Container) -> BTreeMap<String, String> {
        container
            .env
            .iter()
            .flatten()
            .map(|var| {
                let value = match (&var.value, var.value_from.as_ref().and_then(|f| f.secret_key_ref.as_ref())) {
                    (Some(v), _) => v.clone(),
                    (None, Some(r)) => format!("secret:{}/{}", r.name, r.key),
                    (None, None) => String::new(),
                };
                (var.name.clone(), value)
            })
            .collect()
    }

    #[test]
    fn a_service_container_reads_exactly_the_variables_its_binary_knows() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let container = service_container(&p, Component::UserCouple, "couple-platform:0.1.0");
        assert_eq!(container.command.as_deref(), Some(&["user-couple".to_owned(), "serve".to_owned()][..]));
        let env = env_map(&container);
        let expected = [
            ("COUPLE_JWT_SECRET", "secret:demo-jwt/secret"),
            ("COUPLE_INTERNAL_TOKEN", "secret:demo-internal/token"),
            ("COUPLE_ACCESS_TOKEN_TTL_SECS", "900"),
            ("COUPLE_LOG_FORMAT", "json"),
            ("USER_COUPLE_HOST", "0.0.0.0"),
            ("USER_COUPLE_PORT", "8081"),
            ("USER_COUPLE_ADMIN_PORT", "9090"),
            ("USER_COUPLE_DATABASE_URL", "secret:demo-db-user-couple/url"),
            ("USER_COUPLE_AUTO_MIGRATE", "false"),
            ("USER_COUPLE_REDIS_URL", "secret:demo-redis/url"),
            ("USER_COUPLE_SCHEDULE_MEETING_URL", "http://demo-schedule-meeting.couple.svc:8082"),
            ("USER_COUPLE_QUESTION_ANSWER_URL", "http://demo-question-answer.couple.svc:8086"),
            ("USER_COUPLE_CHAT_URL", "http://demo-chat.couple.svc:8000"),
            ("USER_COUPLE_ERASURE_SERVICES", "question-answer,schedule-meeting,chat"),
        ];
        assert_eq!(env, expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>());
        assert_eq!(container.env.as_ref().unwrap().len(), expected.len(), "no duplicates");
    }

    #[test]
    fn question_answer_gets_mongodb_only_when_configured_and_schedule_meeting_the_weather_key_and_the_public_url() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let env = env_map(&service_container(&p, Component::QuestionAnswer, "i"));
        assert_eq!(env["QUESTION_ANSWER_MONGODB_URL"], "secret:demo-mongodb/url");
        assert!(!env.contains_key("QUESTION_ANSWER_REDIS_URL"));
        // The feed URLs name the Ingress's host, over https with its TLS Secret.
        let env = env_map(&service_container(&p, Component::ScheduleMeeting, "i"));
        assert_eq!(env["SCHEDULE_MEETING_PUBLIC_BASE_URL"], "https://couple.example.com");
        let app = fixtures::app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "auth": {"accessTokenTtl": "1h", "jwtSecretRef": {"name": "my-jwt", "key": "k"}},
            "services": {"scheduleMeeting": {"weatherApiKeySecretRef": {"name": "kma", "key": "key"}}},
            "databases": {"postgres": {"external": {"secretRef": {"name": "pg"}}}, "redis": {"managed": {}}}
        }));
        let p = Platform::new(&app).unwrap();
        assert!(!env_map(&service_container(&p, Component::QuestionAnswer, "i")).keys().any(|k| k.contains("MONGODB")));
        let env = env_map(&service_container(&p, Component::ScheduleMeeting, "i"));
        assert_eq!(env["SCHEDULE_MEETING_WEATHER_API_KEY"], "secret:kma/key");
        assert!(!env.contains_key("SCHEDULE_MEETING_PUBLIC_BASE_URL"), "no Ingress: the service's default (a port-forward)");
        assert_eq!(env["COUPLE_JWT_SECRET"], "secret:my-jwt/k");
        assert_eq!(env["COUPLE_ACCESS_TOKEN_TTL_SECS"], "3600");
    }

    #[test]
    fn a_service_gets_the_cluster_url_of_each_enabled_service_it_calls_and_the_internal_token() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        for service in Component::SERVICES {
            let env = env_map(&service_container(&p, service, "i"));
            assert_eq!(env["COUPLE_INTERNAL_TOKEN"], "secret:demo-internal/token", "{}", service.name());
            let peers: Vec<_> = env.iter().filter(|(_, value)| value.starts_with("http://")).collect();
            let expected = match service {
                Component::ScheduleMeeting => vec![
                    ("SCHEDULE_MEETING_QUESTION_ANSWER_URL", "http://demo-question-answer.couple.svc:8086"),
                    ("SCHEDULE_MEETING_USER_COUPLE_URL", "http://demo-user-couple.couple.svc:8081"),
                ],
                Component::Chat => vec![("CHAT_USER_COUPLE_URL", "http://demo-user-couple.couple.svc:8081")],
                Component::UserCouple => vec![
                    ("USER_COUPLE_CHAT_URL", "http://demo-chat.couple.svc:8000"),
                    ("USER_COUPLE_QUESTION_ANSWER_URL", "http://demo-question-answer.couple.svc:8086"),
                    ("USER_COUPLE_SCHEDULE_MEETING_URL", "http://demo-schedule-meeting.couple.svc:8082"),
                ],
                _ => vec![],
            };
            assert_eq!(peers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(), expected, "{}", service.name());
        }
        let app = fixtures::with_services(serde_json::json!({"userCouple": {"enabled": false}}));
        let p = Platform::new(&app).unwrap();
        let peers: Vec<_> = peer_env(&p, Component::ScheduleMeeting).into_iter().map(|var| var.name).collect();
        assert_eq!(peers, ["SCHEDULE_MEETING_QUESTION_ANSWER_URL"], "a disabled peer has no URL");
        assert!(peer_env(&p, Component::Chat).is_empty(), "chat without user-couple: no names, no URL");
    }

    #[test]
    fn user_couple_erases_accounts_only_in_the_enabled_services_that_hold_user_data() {
        let erasure = |services: serde_json::Value| {
            let app = fixtures::with_services(services);
            let p = Platform::new(&app).unwrap();
            let env = env_map(&service_container(&p, Component::UserCouple, "i"));
            let peers: Vec<_> =
                env.keys().filter(|k| k.ends_with("_URL") && !k.contains("DATABASE") && !k.contains("REDIS")).cloned().collect();
            (env["USER_COUPLE_ERASURE_SERVICES"].clone(), peers)
        };
        let (targets, peers) = erasure(serde_json::json!({"questionAnswer": {"enabled": false}, "scheduleMeeting": {"enabled": false}}));
        assert_eq!(targets, "chat");
        assert_eq!(peers, ["USER_COUPLE_CHAT_URL"]);
        let (targets, peers) = erasure(
            serde_json::json!({"questionAnswer": {"enabled": false}, "scheduleMeeting": {"enabled": false}, "chat": {"enabled": false}}),
        );
        assert_eq!(targets, "", "none deployed: the fan-out is off");
        assert!(peers.is_empty());
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        for service in [Component::Gateway, Component::ScheduleMeeting, Component::QuestionAnswer, Component::Chat] {
            assert!(erasure_env(&p, service).is_none(), "{} owns no accounts", service.name());
        }
    }

    #[test]
    fn containers_are_hardened() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let sc = service_container(&p, Component::Chat, "i").security_context.unwrap();
        assert_eq!((sc.run_as_non_root, sc.run_as_user, sc.run_as_group), (Some(true), Some(65532), Some(65532)));
        assert_eq!((sc.read_only_root_filesystem, sc.allow_privilege_escalation), (Some(true), Some(false)));
        assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    }

    #[test]
    fn the_config_hash_follows_referenced_secret_values_only() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let spec = pod_spec(PLATFORM_UID, vec![service_container(&p, Component::UserCouple, "i")], vec![]);
        let data = |v: &str| SecretData::from([("url".to_owned(), ByteString(v.as_bytes().to_vec()))]);
        let mut sources = ConfigSources::default();
        sources.add_secret("demo-db-user-couple", data("postgres://a"));
        let before = sources.config_hash(&spec);
        assert_eq!(before.len(), 64);
        sources.add_secret("demo-db-chat", data("postgres://unrelated"));
        assert_eq!(sources.config_hash(&spec), before, "a Secret the pod does not read");
        sources.add_secret("demo-db-user-couple", data("postgres://b"));
        assert_ne!(sources.config_hash(&spec), before, "a changed Secret rolls the pods");
    }

    /// A changed hash rolls every pod when the operator is upgraded: it must not change with
    /// the build (serde_json's `preserve_order` is on in workspace builds, off in the operator's
    /// own), nor by accident.
    #[test]
    fn the_config_hash_is_the_same_in_every_build() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let spec = pod_spec(PLATFORM_UID, vec![service_container(&p, Component::UserCouple, "i")], vec![]);
        let mut sources = ConfigSources::default();
        sources.add_secret("demo-db-user-couple", SecretData::from([("url".to_owned(), ByteString(b"postgres://a".to_vec()))]));
        assert_eq!(sources.config_hash(&spec), "3eebd29812aa3995a1dac0f56333595de175500d0e0f8e73161fc78ee4e717d4");
    }
}
