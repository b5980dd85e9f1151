//! StatefulSets: the managed databases (one replica each, for kind and development; production
//! points `external` at a real database), and chat on SQLite (one replica owning its file).
//!
//! The official postgres, redis and mongo images run as their own user (uid 999) here, never as
//! root: the entrypoints skip their `chown` step then, `fsGroup` makes the volume writable, and
//! the few paths they write besides the volume (`/tmp`, PostgreSQL's socket directory, MongoDB's
//! config directory) are `emptyDir`s, so the root filesystem stays read-only. The volume
//! claims the StatefulSet controller makes get the CoupleApp as an owner (see [`super::pvc`]), so
//! they go with it and their volumes follow the StorageClass's reclaim policy.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{StatefulSet, StatefulSetSpec},
        core::v1::{
            Container, ContainerPort, ExecAction, PersistentVolumeClaim, PersistentVolumeClaimSpec, Probe, VolumeResourceRequirements,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta},
    },
};

use super::{
    Component, Platform,
    pod::{
        ConfigSources, DATABASE_UID, PLATFORM_UID, container_security, empty_dir, env, env_secret, mount, pod_spec, pod_template,
        service_container,
    },
    topology::{PASSWORD_KEY, USERNAME_KEY, secret_key},
};

/// The image of a managed database: the spec's, else `postgres:16`, `redis:7` or `mongo:7`.
pub fn database_image(platform: &Platform, database: Component) -> String {
    let default = match database {
        Component::Postgres => "postgres:16",
        Component::Redis => "redis:7",
        _ => "mongo:7",
    };
    platform.managed(database).and_then(|m| m.image.clone()).unwrap_or_else(|| default.to_owned())
}

fn claim(platform: &Platform, component: Component, size: &str, storage_class: Option<String>) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta { name: Some("data".to_owned()), labels: Some(platform.selector(component)), ..ObjectMeta::default() },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(size.to_owned()))])),
                limits: None,
            }),
            storage_class_name: storage_class,
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

fn stateful_set(
    platform: &Platform,
    component: Component,
    spec: k8s_openapi::api::core::v1::PodSpec,
    claim: PersistentVolumeClaim,
    sources: &ConfigSources,
) -> StatefulSet {
    let name = platform.object_name(component.name());
    StatefulSet {
        metadata: platform.meta(name.clone(), component),
        spec: StatefulSetSpec {
            // One at most: a database here is a single instance, chat on SQLite a single writer.
            replicas: Some(platform.replicas(component).clamp(0, 1)),
            service_name: Some(name),
            selector: LabelSelector { match_labels: Some(platform.selector(component)), match_expressions: None },
            template: pod_template(platform, component, spec, sources),
            volume_claim_templates: Some(vec![claim]),
            ..StatefulSetSpec::default()
        },
        status: None,
    }
}

fn exec_probe(command: &[&str], initial_delay: i32, period: i32, timeout: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(ExecAction { command: Some(command.iter().map(|s| (*s).to_owned()).collect()) }),
        initial_delay_seconds: (initial_delay > 0).then_some(initial_delay),
        period_seconds: Some(period),
        timeout_seconds: Some(timeout),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn database_container(platform: &Platform, database: Component, probe: &[&str]) -> Container {
    Container {
        name: database.name().to_owned(),
        image: Some(database_image(platform, database)),
        ports: Some(vec![ContainerPort {
            name: Some(database.name().to_owned()),
            container_port: database.port(),
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(exec_probe(probe, 0, 5, 5, 3)),
        // Generous: a restart in the middle of recovery only makes it longer.
        liveness_probe: Some(exec_probe(probe, 30, 10, 10, 6)),
        resources: Some(platform.resources(database)),
        security_context: Some(container_security(DATABASE_UID)),
        ..Container::default()
    }
}

fn storage(platform: &Platform, database: Component, default: &str) -> (String, Option<String>) {
    let managed = platform.managed(database);
    (managed.and_then(|m| m.storage_size.clone()).unwrap_or_else(|| default.to_owned()), managed.and_then(|m| m.storage_class_name.clone()))
}

/// `<app>-postgres`: the superuser password from `<app>-postgres-admin` (used at first start only),
/// data in a subdirectory of the volume (its root holds `lost+found` on many filesystems),
/// mounted at `/var/lib/postgresql` as the postgres 18+ images require. Ready when
/// `pg_isready` answers over TCP, which the entrypoint's socket-only init server does not.
pub fn build_postgres_statefulset(platform: &Platform, sources: &ConfigSources) -> StatefulSet {
    let db = Component::Postgres;
    let admin = platform.postgres_admin_secret_name();
    let mut container =
        database_container(platform, db, &["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", "postgres"]);
    container.env = Some(vec![
        env("POSTGRES_USER", super::secret::POSTGRES_ADMIN_USER),
        env_secret("POSTGRES_PASSWORD", secret_key(&admin, PASSWORD_KEY)),
        env("PGDATA", "/var/lib/postgresql/data/pgdata"),
    ]);
    container.volume_mounts = Some(vec![mount("data", "/var/lib/postgresql"), mount("tmp", "/tmp"), mount("run", "/var/run/postgresql")]);
    let spec = pod_spec(DATABASE_UID, vec![container], vec![empty_dir("tmp", "256Mi"), empty_dir("run", "16Mi")]);
    let (size, class) = storage(platform, db, "5Gi");
    stateful_set(platform, db, spec, claim(platform, db, &size, class), sources)
}

/// `<app>-redis`: append-only persistence and `requirepass` from `<app>-redis` (expanded by the
/// kubelet from the container's environment); `REDISCLI_AUTH` lets the probe's `redis-cli`
/// authenticate, and the probe checks for `PONG` since `redis-cli` exits 0 on error replies.
pub fn build_redis_statefulset(platform: &Platform, sources: &ConfigSources) -> StatefulSet {
    let db = Component::Redis;
    let secret = platform.managed_secret_name(db);
    let mut container = database_container(platform, db, &["sh", "-c", "redis-cli -h 127.0.0.1 ping | grep -q PONG"]);
    container.args =
        Some(["redis-server", "--requirepass", "$(REDIS_PASSWORD)", "--appendonly", "yes", "--dir", "/data"].map(str::to_owned).to_vec());
    container.env = Some(vec![
        env_secret("REDIS_PASSWORD", secret_key(&secret, PASSWORD_KEY)),
        env_secret("REDISCLI_AUTH", secret_key(&secret, PASSWORD_KEY)),
    ]);
    container.volume_mounts = Some(vec![mount("data", "/data"), mount("tmp", "/tmp")]);
    let spec = pod_spec(DATABASE_UID, vec![container], vec![empty_dir("tmp", "64Mi")]);
    let (size, class) = storage(platform, db, "1Gi");
    stateful_set(platform, db, spec, claim(platform, db, &size, class), sources)
}

/// `<app>-mongodb`: the root login from `<app>-mongodb` (created at first start), ready when
/// `ping` answers.
pub fn build_mongodb_statefulset(platform: &Platform, sources: &ConfigSources) -> StatefulSet {
    let db = Component::Mongodb;
    let secret = platform.managed_secret_name(db);
    let mut container = database_container(platform, db, &["mongosh", "--quiet", "--eval", "db.adminCommand(\"ping\")"]);
    container.env = Some(vec![
        env_secret("MONGO_INITDB_ROOT_USERNAME", secret_key(&secret, USERNAME_KEY)),
        env_secret("MONGO_INITDB_ROOT_PASSWORD", secret_key(&secret, PASSWORD_KEY)),
    ]);
    container.volume_mounts = Some(vec![mount("data", "/data/db"), mount("configdb", "/data/configdb"), mount("tmp", "/tmp")]);
    let spec = pod_spec(DATABASE_UID, vec![container], vec![empty_dir("tmp", "256Mi"), empty_dir("configdb", "16Mi")]);
    let (size, class) = storage(platform, db, "2Gi");
    stateful_set(platform, db, spec, claim(platform, db, &size, class), sources)
}

/// `<app>-chat` on SQLite: one replica with its file on a volume of `storageSize`. Scaling out
/// replaces it with a Deployment on PostgreSQL; the SQLite history is not carried over.
pub fn build_chat_statefulset(platform: &Platform, image: &str, sources: &ConfigSources) -> StatefulSet {
    let chat = Component::Chat;
    let mut container = service_container(platform, chat, image);
    container.volume_mounts.get_or_insert_with(Vec::new).push(mount("data", "/data"));
    let spec = pod_spec(PLATFORM_UID, vec![container], vec![empty_dir("tmp", "64Mi")]);
    let size = platform.app.spec.services.chat.storage_size.clone();
    stateful_set(platform, chat, spec, claim(platform, chat, &size, None), sources)
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures, pod::tests::env_map};
    use super::*;

    fn pod(set: &StatefulSet) -> &k8s_openapi::api::core::v1::PodSpec {
        set.spec.template.spec.as_ref().unwrap()
    }

    #[test]
    fn databases_run_as_their_image_user_with_writable_paths_as_volumes() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let sources = ConfigSources::default();
        for (set, paths) in [
            (build_postgres_statefulset(&p, &sources), vec!["/var/lib/postgresql", "/tmp", "/var/run/postgresql"]),
            (build_redis_statefulset(&p, &sources), vec!["/data", "/tmp"]),
            (build_mongodb_statefulset(&p, &sources), vec!["/data/db", "/data/configdb", "/tmp"]),
        ] {
            let pod = pod(&set);
            let security = pod.security_context.as_ref().unwrap();
            assert_eq!((security.run_as_user, security.fs_group, security.run_as_non_root), (Some(999), Some(999), Some(true)));
            let container = &pod.containers[0];
            let sc = container.security_context.as_ref().unwrap();
            assert_eq!((sc.read_only_root_filesystem, sc.allow_privilege_escalation), (Some(true), Some(false)));
            let mounts: Vec<_> = container.volume_mounts.iter().flatten().map(|m| m.mount_path.as_str()).collect();
            assert_eq!(mounts, paths);
            assert!(container.readiness_probe.as_ref().unwrap().exec.is_some());
            let spec = &set.spec;
            assert_eq!(spec.service_name, set.metadata.name);
            assert_eq!(spec.volume_claim_templates.as_ref().unwrap()[0].metadata.name.as_deref(), Some("data"));
        }
    }

    #[test]
    fn probes_use_each_databases_own_client() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let sources = ConfigSources::default();
        let probe = |set: StatefulSet| pod(&set).containers[0].readiness_probe.clone().unwrap().exec.unwrap().command.unwrap().join(" ");
        assert!(probe(build_postgres_statefulset(&p, &sources)).starts_with("pg_isready"));
        assert!(probe(build_redis_statefulset(&p, &sources)).contains("redis-cli -h 127.0.0.1 ping"));
        assert_eq!(probe(build_mongodb_statefulset(&p, &sources)), "mongosh --quiet --eval db.adminCommand(\"ping\")");
    }

    #[test]
    fn storage_and_image_follow_the_spec_with_defaults() {
        let app = fixtures::app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "databases": {"postgres": {"managed": {"storageSize": "20Gi", "storageClassName": "fast", "image": "postgres:17"}}, "redis": {"managed": {}}}
        }));
        let p = Platform::new(&app).unwrap();
        let set = build_postgres_statefulset(&p, &ConfigSources::default());
        let claim = &set.spec.volume_claim_templates.as_ref().unwrap()[0];
        let claim_spec = claim.spec.as_ref().unwrap();
        assert_eq!(claim_spec.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"], Quantity("20Gi".into()));
        assert_eq!(claim_spec.storage_class_name.as_deref(), Some("fast"));
        assert_eq!(pod(&set).containers[0].image.as_deref(), Some("postgres:17"));
        let redis = build_redis_statefulset(&p, &ConfigSources::default());
        let claim = &redis.spec.volume_claim_templates.as_ref().unwrap()[0];
        assert_eq!(claim.spec.as_ref().unwrap().resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"], Quantity("1Gi".into()));
        assert_eq!(pod(&redis).containers[0].image.as_deref(), Some("redis:7"));
    }

    #[test]
    fn chat_on_sqlite_keeps_its_file_on_a_volume() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let set = build_chat_statefulset(&p, "couple-platform:0.1.0", &ConfigSources::default());
        assert_eq!(set.metadata.name.as_deref(), Some("demo-chat"));
        let spec = &set.spec;
        assert_eq!(spec.replicas, Some(1));
        let claim = &spec.volume_claim_templates.as_ref().unwrap()[0];
        assert_eq!(claim.spec.as_ref().unwrap().resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"], Quantity("1Gi".into()));
        let container = &pod(&set).containers[0];
        let env = env_map(container);
        assert_eq!(env["CHAT_DATABASE_URL"], "sqlite:/data/chat.db");
        assert_eq!(env["CHAT_AUTO_MIGRATE"], "true");
        assert!(!env.contains_key("CHAT_REDIS_URL"));
        assert!(container.volume_mounts.iter().flatten().any(|m| m.name == "data" && m.mount_path == "/data"));
        assert_eq!(pod(&set).security_context.as_ref().unwrap().fs_group, Some(65532));
    }
}
