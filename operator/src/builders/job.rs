//! Jobs: `<app>-provision` (one login and one database per service on PostgreSQL) and
//! `<app>-<service>-migrate-<hash>` (the service's `migrate` subcommand for one image).
//!
//! Job pods carry their own `app.kubernetes.io/name` (`provision`, `<service>-migrate`): with a
//! service's name they would be picked up by its Service as endpoints. NetworkPolicies let them
//! reach the databases by those names.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        batch::v1::{Job, JobSpec},
        core::v1::{Container, EnvVar, PodSpec, PodTemplateSpec},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use sha2::{Digest, Sha256};

use super::{
    Component, MANAGER, PART_OF, Platform,
    pod::{
        CONFIG_HASH_ANNOTATION, ConfigSources, DATABASE_UID, PLATFORM_UID, container_security, database_env, empty_dir, env, env_secret,
        mount, platform_container, pod_spec,
    },
    statefulset::database_image,
    topology::{PASSWORD_KEY, resources, secret_key},
};

/// `app.kubernetes.io/name` of the provisioning Job's pod.
pub const PROVISION_POD_NAME: &str = "provision";

/// `app.kubernetes.io/name` of a service's migration pods.
pub fn migration_pod_name(service: Component) -> String {
    format!("{}-migrate", service.name())
}

/// The version of a service's migration set. The image embeds the migrations, so a new image is
/// a new set; bump a service's number to run its `migrate` again for the same image (after a
/// migration was fixed in place, say).
pub fn migration_set_version(service: Component) -> u32 {
    match service {
        Component::UserCouple | Component::ScheduleMeeting | Component::QuestionAnswer | Component::Chat => 1,
        _ => 0,
    }
}

/// Hex characters of a migration hash.
pub const MIGRATION_HASH_LEN: usize = 10;

/// The first [`MIGRATION_HASH_LEN`] hex characters of SHA-256 over the service, its image and its
/// migration-set version: what status records once the migration succeeded, and the suffix of
/// the Job's name.
pub fn migration_hash(service: Component, image: &str) -> String {
    let digest = Sha256::digest(format!("{}\n{image}\n{}", service.name(), migration_set_version(service)));
    hex::encode(digest)[..MIGRATION_HASH_LEN].to_owned()
}

/// `<app>-<service>-migrate-<hash>`.
pub fn migration_job_name(platform: &Platform, service: Component, hash: &str) -> String {
    platform.object_name(&format!("{}-migrate-{hash}", service.name()))
}

/// `<app>-provision`.
pub fn provision_job_name(platform: &Platform) -> String {
    platform.object_name("provision")
}

fn pod_labels(platform: &Platform, name: &str, role: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), name.to_owned()),
        ("app.kubernetes.io/instance".to_owned(), platform.name.clone()),
        ("app.kubernetes.io/component".to_owned(), role.to_owned()),
        ("app.kubernetes.io/part-of".to_owned(), PART_OF.to_owned()),
        ("app.kubernetes.io/managed-by".to_owned(), MANAGER.to_owned()),
    ])
}

/// A Job whose pods run once to completion. No `ttlSecondsAfterFinished`: the finished Job stays
/// visible (and is what the reconciler reads success from) until the operator removes it.
///
/// A Job's pod template cannot change, so every Job carries `couple.dev/config-hash` (over its pod
/// spec, and for provisioning also the Secret values it reads): when the live Job's differs, the
/// apply step must delete it and create it again instead of patching.
fn job(mut metadata: ObjectMeta, labels: BTreeMap<String, String>, spec: PodSpec, backoff_limit: i32, sources: &ConfigSources) -> Job {
    metadata.annotations = Some(BTreeMap::from([(CONFIG_HASH_ANNOTATION.to_owned(), sources.config_hash(&spec))]));
    Job {
        metadata,
        spec: Some(JobSpec {
            backoff_limit: Some(backoff_limit),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec { restart_policy: Some("Never".to_owned()), ..spec }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// The migration Job of `service` for `image`: `<service> migrate` from that image, with the
/// service's database URLs only (the same Secrets its pods read).
pub fn build_migration_job(platform: &Platform, service: Component, image: &str) -> Job {
    let hash = migration_hash(service, image);
    let mut vars: Vec<EnvVar> = database_env(platform, service);
    vars.push(env("COUPLE_LOG_FORMAT", "json"));
    let mut container = platform_container(platform, service, image, "migrate", vars);
    container.resources = Some(platform.resources(service));
    let spec = pod_spec(PLATFORM_UID, vec![container], vec![empty_dir("tmp", "64Mi")]);
    let metadata = platform.meta(migration_job_name(platform, service, &hash), service);
    job(metadata, pod_labels(platform, &migration_pod_name(service), "migration"), spec, 3, &ConfigSources::default())
}

/// Creates (or updates) one login role and one database per service, idempotently, through the
/// admin URL: the role's password is set on every run, so a regenerated Secret takes effect by
/// running the Job again; a non-superuser admin (external servers) first grants itself the role,
/// which PostgreSQL 16+ needs before `CREATE DATABASE ... OWNER`; the database is closed to
/// `PUBLIC`, so one service's login cannot open another's database.
pub const PROVISION_SCRIPT: &str = r#"set -eu
tries=0
until pg_isready -q -d "$ADMIN_URL"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then echo "PostgreSQL does not answer" >&2; exit 1; fi
  sleep 2
done
for db in $DATABASES; do
  eval "password=\$PASSWORD_$(echo "$db" | tr 'a-z' 'A-Z')"
  psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 -v role="$db" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password') \gexec
SELECT format('GRANT %I TO %I', :'role', current_user) WHERE NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'role', :'role') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'role') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'role', :'role') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'role') \gexec
SQL
  echo "provisioned $db"
done
"#;

/// `<app>-provision`, when some enabled service uses PostgreSQL: `psql` from the PostgreSQL image
/// (the managed one's, else `postgres:16`, whose client speaks to older and newer servers), the
/// admin URL from `<app>-postgres-admin` or the external Secret, and each service's password from
/// its `<app>-db-<service>` Secret. The operator writes the connection Secrets itself, so the Job
/// needs no API access. Its config hash covers the passwords it sets, so enabling a service or
/// regenerating a password runs it again (see [`job`]).
pub fn build_provision_job(platform: &Platform, sources: &ConfigSources) -> Option<Job> {
    let services = platform.postgres_services();
    let admin_url = platform.database_url_ref(Component::Postgres)?;
    if services.is_empty() {
        return None;
    }
    let databases: Vec<&str> = services.iter().filter_map(|s| s.database()).collect();
    let mut vars = vec![env_secret("ADMIN_URL", admin_url), env("DATABASES", databases.join(" "))];
    for service in &services {
        let database = service.database().expect("PostgreSQL services have a database");
        vars.push(env_secret(
            &format!("PASSWORD_{}", database.to_uppercase()),
            secret_key(platform.database_secret_name(*service), PASSWORD_KEY),
        ));
    }
    let image = if platform.managed(Component::Postgres).is_some() {
        database_image(platform, Component::Postgres)
    } else {
        "postgres:16".to_owned()
    };
    let container = Container {
        name: PROVISION_POD_NAME.to_owned(),
        image: Some(image),
        command: Some(vec!["sh".to_owned(), "-c".to_owned(), PROVISION_SCRIPT.to_owned()]),
        env: Some(vars),
        resources: Some(resources("10m", "32Mi", "128Mi")),
        security_context: Some(container_security(DATABASE_UID)),
        volume_mounts: Some(vec![mount("tmp", "/tmp")]),
        ..Container::default()
    };
    let spec = pod_spec(DATABASE_UID, vec![container], vec![empty_dir("tmp", "16Mi")]);
    let metadata = platform.meta(provision_job_name(platform), Component::Postgres);
    Some(job(metadata, pod_labels(platform, PROVISION_POD_NAME, "provisioning"), spec, 6, sources))
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures, pod::tests::env_map};
    use super::*;
    use k8s_openapi::ByteString;

    fn container(job: &Job) -> &Container {
        &job.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0]
    }

    #[test]
    fn the_migration_job_name_follows_the_image() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let old = build_migration_job(&p, Component::UserCouple, "couple-platform:0.1.0");
        let new = build_migration_job(&p, Component::UserCouple, "couple-platform:0.2.0");
        let name = old.metadata.name.clone().unwrap();
        assert!(name.starts_with("demo-user-couple-migrate-") && name.len() == "demo-user-couple-migrate-".len() + 10, "{name}");
        assert_ne!(old.metadata.name, new.metadata.name);
        assert_eq!(migration_hash(Component::UserCouple, "i"), migration_hash(Component::UserCouple, "i"));
        assert_ne!(migration_hash(Component::UserCouple, "i"), migration_hash(Component::ScheduleMeeting, "i"));
    }

    #[test]
    fn a_migration_job_runs_the_services_migrate_with_its_database_url() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let job = build_migration_job(&p, Component::QuestionAnswer, "couple-platform:0.1.0");
        let c = container(&job);
        assert_eq!(c.command.as_deref(), Some(&["question-answer".to_owned(), "migrate".to_owned()][..]));
        let env = env_map(c);
        assert_eq!(env["QUESTION_ANSWER_DATABASE_URL"], "secret:demo-db-question-answer/url");
        assert_eq!(env["QUESTION_ANSWER_MONGODB_URL"], "secret:demo-mongodb/url");
        assert!(!env.contains_key("COUPLE_JWT_SECRET"));
        let template = &job.spec.as_ref().unwrap().template;
        let labels = template.metadata.as_ref().unwrap().labels.as_ref().unwrap();
        assert_eq!(labels["app.kubernetes.io/name"], "question-answer-migrate", "not selected by the service's Service");
        assert_eq!(template.spec.as_ref().unwrap().restart_policy.as_deref(), Some("Never"));
        assert_eq!(job.spec.as_ref().unwrap().ttl_seconds_after_finished, None);
        assert_eq!(job.metadata.annotations.as_ref().unwrap()[CONFIG_HASH_ANNOTATION].len(), 64, "replaced, not patched, when it changes");
    }

    #[test]
    fn provisioning_covers_every_service_on_postgres_against_managed_or_external_admin() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let job = build_provision_job(&p, &ConfigSources::default()).unwrap();
        assert_eq!(job.metadata.name.as_deref(), Some("demo-provision"));
        let env = env_map(container(&job));
        assert_eq!(env["ADMIN_URL"], "secret:demo-postgres-admin/url");
        assert_eq!(env["DATABASES"], "user_couple question_answer_db couple_schedule_db");
        assert_eq!(env["PASSWORD_COUPLE_SCHEDULE_DB"], "secret:demo-db-schedule-meeting/password");
        assert_eq!(container(&job).image.as_deref(), Some("postgres:16"));
        assert_eq!(container(&job).security_context.as_ref().unwrap().run_as_user, Some(999));

        let app = fixtures::app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "services": {"chat": {"replicas": 2}, "userCouple": {"enabled": false}},
            "databases": {"postgres": {"external": {"secretRef": {"name": "pg-admin"}}}, "redis": {"managed": {}}}
        }));
        let p = Platform::new(&app).unwrap();
        let job = build_provision_job(&p, &ConfigSources::default()).unwrap();
        let env = env_map(container(&job));
        assert_eq!(env["ADMIN_URL"], "secret:pg-admin/url");
        assert_eq!(env["DATABASES"], "question_answer_db couple_schedule_db chat");
        assert_eq!(env["PASSWORD_CHAT"], "secret:demo-db-chat/password");
    }

    #[test]
    fn the_provision_job_hash_changes_when_a_password_does() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let hash = |password: &str| {
            let mut sources = ConfigSources::default();
            sources.add_secret("demo-db-user-couple", BTreeMap::from([("password".to_owned(), ByteString(password.into()))]));
            build_provision_job(&p, &sources).unwrap().metadata.annotations.unwrap()[CONFIG_HASH_ANNOTATION].clone()
        };
        assert_eq!(hash("a"), hash("a"));
        assert_ne!(hash("a"), hash("b"));
    }

    #[test]
    fn no_service_on_postgres_means_no_provisioning() {
        let app = fixtures::app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "gateway": {"replicas": 1},
            "services": {"userCouple": {"enabled": false}, "scheduleMeeting": {"enabled": false}, "questionAnswer": {"enabled": false}},
            "databases": {}
        }));
        assert!(build_provision_job(&Platform::new(&app).unwrap(), &ConfigSources::default()).is_none());
    }

    #[test]
    fn the_script_is_idempotent_sql() {
        for statement in
            ["CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS", "CREATE DATABASE %I OWNER %I', :'role', :'role') WHERE NOT EXISTS"]
        {
            assert!(PROVISION_SCRIPT.contains(statement), "{statement}");
        }
        assert!(PROVISION_SCRIPT.contains("ON_ERROR_STOP=1"));
    }
}
