//! What runs and who talks to whom, read from the spec in one place so that every builder (env,
//! NetworkPolicies, provisioning, routes) agrees: which services are enabled, which database each
//! one uses, where connection URLs come from, and the names of the objects that carry them.

use std::collections::BTreeMap;

use couple_registry::Need;
use k8s_openapi::{
    api::core::v1::{ResourceRequirements, SecretKeySelector},
    apimachinery::pkg::api::resource::Quantity,
};

use super::{Component, Platform};
use crate::crd::{DatabaseSpec, ExternalDatabase, ManagedDatabase};

/// The key holding a connection URL, in generated and referenced Secrets alike.
pub const URL_KEY: &str = "url";
/// The key of the generated JWT signing secret in `<app>-jwt`.
pub const JWT_KEY: &str = "secret";
/// The key of the internal service token in `<app>-internal`.
pub const INTERNAL_TOKEN_KEY: &str = "token";
/// The key of a generated password.
pub const PASSWORD_KEY: &str = "password";
/// The key of a login name.
pub const USERNAME_KEY: &str = "username";
/// The key of a PostgreSQL database name.
pub const DATABASE_KEY: &str = "database";
/// The admin/metrics port every platform binary serves `/metrics` on.
pub const METRICS_PORT: i32 = 9090;

/// A reference to one key of one Secret, as env `valueFrom` wants it.
pub fn secret_key(name: impl Into<String>, key: &str) -> SecretKeySelector {
    SecretKeySelector { name: name.into(), key: key.to_owned(), optional: None }
}

/// `cpu`/`memory` requests and a memory limit. No CPU limit: throttling hurts latency more than
/// a neighbour's burst does, and requests already reserve the share.
pub fn resources(cpu: &str, memory: &str, memory_limit: &str) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([("cpu".to_owned(), Quantity(cpu.into())), ("memory".to_owned(), Quantity(memory.into()))])),
        limits: Some(BTreeMap::from([("memory".to_owned(), Quantity(memory_limit.into()))])),
        ..ResourceRequirements::default()
    }
}

impl Platform<'_> {
    /// Whether a component runs: the gateway always, a service when enabled, a database when the
    /// spec configures it (managed or external).
    pub fn is_enabled(&self, component: Component) -> bool {
        let services = &self.app.spec.services;
        match component {
            Component::Gateway => true,
            Component::UserCouple => services.user_couple.enabled,
            Component::ScheduleMeeting => services.schedule_meeting.service.enabled,
            Component::QuestionAnswer => services.question_answer.enabled,
            Component::Chat => services.chat.service.enabled,
            Component::Postgres | Component::Redis | Component::Mongodb => self.database_spec(component).is_some(),
        }
    }

    /// The enabled services behind the gateway, in [`Component::SERVICES`] order.
    pub fn enabled_services(&self) -> Vec<Component> {
        Component::SERVICES.into_iter().filter(|c| self.is_enabled(*c)).collect()
    }

    /// Desired pods of the gateway or a service (databases run one).
    pub fn replicas(&self, component: Component) -> i32 {
        let spec = &self.app.spec;
        match component {
            Component::Gateway => spec.gateway.replicas,
            Component::UserCouple => spec.services.user_couple.replicas,
            Component::ScheduleMeeting => spec.services.schedule_meeting.service.replicas,
            Component::QuestionAnswer => spec.services.question_answer.replicas,
            Component::Chat => spec.services.chat.service.replicas,
            Component::Postgres | Component::Redis | Component::Mongodb => 1,
        }
    }

    /// Chat scaled out keeps its messages in PostgreSQL and fans out through Redis; a single
    /// replica keeps them in SQLite on its own volume.
    pub fn chat_on_postgres(&self) -> bool {
        self.needs(Component::Chat, Component::Postgres)
    }

    /// Whether `component`, as the spec runs it, needs `database` (enabled or not): as its
    /// registry entry's [`Storage`](couple_registry::Storage) says, with `WhenScaled` meaning more
    /// than one replica.
    pub fn needs(&self, component: Component, database: Component) -> bool {
        let Some(storage) = component.spec().map(|spec| spec.storage) else { return false };
        let need = match database {
            Component::Postgres => storage.postgres,
            Component::Redis => storage.redis,
            Component::Mongodb => storage.mongodb,
            _ => Need::No,
        };
        self.is_enabled(component)
            && match need {
                Need::No => false,
                Need::Yes => true,
                Need::WhenScaled => self.replicas(component) > 1,
            }
    }

    /// Whether `component` connects to the database `database`: it needs it and the spec
    /// configures it. Redis goes only to the components that share state through it (gateway
    /// rate limits and token versions, user-couple codes and counters, chat fan-out), MongoDB
    /// only to question-answer.
    pub fn uses(&self, component: Component, database: Component) -> bool {
        self.is_enabled(database) && self.needs(component, database)
    }

    /// The enabled services with a PostgreSQL database of their own (provisioned and migrated).
    pub fn postgres_services(&self) -> Vec<Component> {
        self.enabled_services().into_iter().filter(|c| self.uses(*c, Component::Postgres)).collect()
    }

    /// The spec of a database component.
    pub fn database_spec(&self, database: Component) -> Option<&DatabaseSpec> {
        let databases = &self.app.spec.databases;
        match database {
            Component::Postgres => databases.postgres.as_ref(),
            Component::Redis => databases.redis.as_ref(),
            Component::Mongodb => databases.mongodb.as_ref(),
            _ => None,
        }
    }

    /// The database when the operator runs it (validation guarantees managed xor external).
    pub fn managed(&self, database: Component) -> Option<&ManagedDatabase> {
        self.database_spec(database).and_then(|d| d.managed.as_ref())
    }

    /// The database when it exists already (and is not also marked managed).
    pub fn external(&self, database: Component) -> Option<&ExternalDatabase> {
        self.database_spec(database).filter(|d| d.managed.is_none()).and_then(|d| d.external.as_ref())
    }

    /// `<app>-<component>.<namespace>.svc`: the in-cluster DNS name of a component's Service.
    pub fn service_host(&self, component: Component) -> String {
        format!("{}.{}.svc", self.object_name(component.name()), self.namespace)
    }

    /// `http://<app>-<service>.<namespace>.svc:<port>`: where the gateway (and callers) reach a
    /// service.
    pub fn service_url(&self, component: Component) -> String {
        format!("http://{}:{}", self.service_host(component), component.port())
    }

    /// `<app>-jwt`: the generated signing key (absent when the spec references one).
    pub fn jwt_secret_name(&self) -> String {
        self.object_name("jwt")
    }

    /// `<app>-internal`: the generated token for `/internal/` calls.
    pub fn internal_secret_name(&self) -> String {
        self.object_name("internal")
    }

    /// `<app>-postgres-admin`: the managed PostgreSQL superuser password and URL.
    pub fn postgres_admin_secret_name(&self) -> String {
        self.object_name("postgres-admin")
    }

    /// `<app>-db-<service>`: a service's PostgreSQL login, password and connection URL.
    pub fn database_secret_name(&self, service: Component) -> String {
        self.object_name(&format!("db-{}", service.name()))
    }

    /// `<app>-redis` / `<app>-mongodb`: a managed database's generated password and URL.
    pub fn managed_secret_name(&self, database: Component) -> String {
        self.object_name(database.name())
    }

    /// Where the JWT signing key is: the spec's reference, else the generated Secret.
    pub fn jwt_secret_ref(&self) -> SecretKeySelector {
        match &self.app.spec.auth.jwt_secret_ref {
            Some(r) => secret_key(&r.name, &r.key),
            None => secret_key(self.jwt_secret_name(), JWT_KEY),
        }
    }

    /// Where the internal service token is.
    pub fn internal_token_ref(&self) -> SecretKeySelector {
        secret_key(self.internal_secret_name(), INTERNAL_TOKEN_KEY)
    }

    /// Where a database's connection URL is: for PostgreSQL the admin URL, for Redis and MongoDB
    /// the URL the services use; the generated Secret when managed, the spec's when external.
    pub fn database_url_ref(&self, database: Component) -> Option<SecretKeySelector> {
        if self.managed(database).is_some() {
            let name = if database == Component::Postgres { self.postgres_admin_secret_name() } else { self.managed_secret_name(database) };
            Some(secret_key(name, URL_KEY))
        } else {
            self.external(database).map(|e| secret_key(&e.secret_ref.name, URL_KEY))
        }
    }

    /// Where a service's own PostgreSQL URL is, when it uses PostgreSQL.
    pub fn service_database_ref(&self, service: Component) -> Option<SecretKeySelector> {
        self.uses(service, Component::Postgres).then(|| secret_key(self.database_secret_name(service), URL_KEY))
    }

    /// The access token lifetime in seconds (the spec's, validated, else 15 minutes).
    pub fn access_token_ttl_secs(&self) -> u64 {
        self.app.spec.auth.access_token_ttl.as_deref().and_then(crate::validate::parse_duration_secs).unwrap_or(15 * 60)
    }

    /// A component's resources: the spec's, else defaults sized for the idle footprint targets
    /// (services at most 20 MiB idle) with headroom.
    pub fn resources(&self, component: Component) -> ResourceRequirements {
        let spec = &self.app.spec;
        let configured = match component {
            Component::Gateway => spec.gateway.resources.as_ref(),
            Component::UserCouple => spec.services.user_couple.resources.as_ref(),
            Component::ScheduleMeeting => spec.services.schedule_meeting.service.resources.as_ref(),
            Component::QuestionAnswer => spec.services.question_answer.resources.as_ref(),
            Component::Chat => spec.services.chat.service.resources.as_ref(),
            db => self.managed(db).and_then(|m| m.resources.as_ref()),
        };
        configured.cloned().unwrap_or_else(|| match component {
            Component::Gateway => resources("50m", "64Mi", "128Mi"),
            Component::Postgres | Component::Mongodb => resources("100m", "256Mi", "1Gi"),
            // The services and Redis.
            _ => resources("50m", "64Mi", "256Mi"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn chat_uses_postgres_and_redis_only_when_scaled_out() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        assert!(!p.uses(Component::Chat, Component::Postgres));
        assert!(!p.uses(Component::Chat, Component::Redis));
        assert_eq!(p.postgres_services(), [Component::UserCouple, Component::QuestionAnswer, Component::ScheduleMeeting]);
        let app = fixtures::with_services(serde_json::json!({"chat": {"replicas": 3}}));
        let p = Platform::new(&app).unwrap();
        assert!(p.uses(Component::Chat, Component::Postgres) && p.uses(Component::Chat, Component::Redis));
        assert!(!p.uses(Component::QuestionAnswer, Component::Mongodb), "no MongoDB configured");
    }

    #[test]
    fn single_replicas_use_exactly_the_databases_their_registry_entry_always_needs() {
        let app = fixtures::app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "gateway": {"replicas": 1},
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}, "mongodb": {"managed": {}}}
        }));
        let p = Platform::new(&app).unwrap();
        for component in [Component::Gateway].into_iter().chain(Component::SERVICES) {
            let storage = component.spec().unwrap().storage;
            for (database, need) in Component::DATABASES.into_iter().zip([storage.postgres, storage.redis, storage.mongodb]) {
                assert_eq!(p.uses(component, database), need == Need::Yes, "{} on {}", component.name(), database.name());
            }
        }
    }

    #[test]
    fn urls_come_from_generated_secrets_when_managed_and_from_the_spec_when_external() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        assert_eq!(p.database_url_ref(Component::Postgres).unwrap().name, "demo-postgres-admin");
        assert_eq!(p.database_url_ref(Component::Redis).unwrap().name, "demo-redis");
        let app = fixtures::external();
        let p = Platform::new(&app).unwrap();
        assert_eq!(p.database_url_ref(Component::Postgres).unwrap(), secret_key("pg-admin", "url"));
        assert_eq!(p.database_url_ref(Component::Redis).unwrap(), secret_key("redis-url", "url"));
        assert_eq!(p.database_url_ref(Component::Mongodb), None);
        assert_eq!(p.service_url(Component::UserCouple), "http://demo-user-couple.couple.svc:8081");
    }
}
