//! Typed configuration from environment variables.
//!
//! Each service reads its own settings under its own prefix (`GATEWAY_`, `USER_COUPLE_`, ...) and
//! the settings every service shares under `COUPLE_`; `__` separates nested keys. Defaults give the
//! embedded local setup; secrets are wrapped so they never print.
//!
//! A service's configuration is one struct with `impl Default` (the only place defaults are
//! given), composed from the shared parts below with `#[serde(flatten)]` so their variables keep
//! flat names (`USER_COUPLE_DATABASE_URL`), and read by [`load`].

use std::{collections::BTreeMap, time::Duration};

use couple_registry::ServiceSpec;

use figment::{
    Figment,
    providers::{Env, Serialized},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Reads a configuration struct from the environment variables that start with `prefix`, with no
/// defaults: every field must be set or have a serde default.
pub fn from_env<T: DeserializeOwned>(prefix: &str) -> Result<T, ConfigError> {
    extract(Figment::new().merge(Env::prefixed(prefix).split("__")), prefix)
}

/// Reads a service's configuration: `T::default()` overridden by the environment variables that
/// start with `prefix` (`__` separates nested keys).
pub fn load<T: Serialize + DeserializeOwned + Default>(prefix: &str) -> Result<T, ConfigError> {
    extract(Figment::from(Serialized::defaults(T::default())).merge(Env::prefixed(prefix).split("__")), prefix)
}

fn extract<T: DeserializeOwned>(figment: Figment, prefix: &str) -> Result<T, ConfigError> {
    figment.extract().map_err(|e| ConfigError(format!("{prefix}*: {e}")))
}

/// A configuration problem, reported at start-up with the variable it concerns.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Settings every service shares, read from `COUPLE_*`.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct SharedConfig {
    /// `COUPLE_JWT_SECRET`: the HS256 signing key, at least 32 bytes. Required.
    pub jwt_secret: SecretString,
    /// `COUPLE_JWT_PREVIOUS_SECRET`: the key before the last rotation, still accepted for
    /// verification so that rotating the secret does not log everyone out.
    pub jwt_previous_secret: Option<SecretString>,
    /// `COUPLE_JWT_ISSUER`.
    pub jwt_issuer: String,
    /// `COUPLE_JWT_AUDIENCE`.
    pub jwt_audience: String,
    /// `COUPLE_ACCESS_TOKEN_TTL_SECS`: access token lifetime.
    pub access_token_ttl_secs: u64,
    /// `COUPLE_INTERNAL_TOKEN`: shared secret for `/internal/` service-to-service calls.
    /// Without it, internal endpoints answer 404.
    pub internal_token: Option<SecretString>,
    /// `COUPLE_LOG_FORMAT`: `json`, `text`, or `auto` (JSON unless standard error is a terminal).
    pub log_format: crate::telemetry::LogFormat,
    /// `COUPLE_BODY_LIMIT_BYTES`: largest accepted request body; larger ones get 413.
    pub body_limit_bytes: usize,
    /// `COUPLE_SHUTDOWN_GRACE_SECS`: how long in-flight requests may drain after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// `COUPLE_TIME_ZONE`: the IANA zone days are counted in (today's question, calendars,
    /// anniversaries); the zone data is built into the binary.
    pub time_zone: String,
}

impl Default for SharedConfig {
    /// Everything but the signing key, which has no default: [`SharedConfig::from_env`] refuses
    /// to start without one.
    fn default() -> Self {
        Self {
            jwt_secret: SecretString::default(),
            jwt_previous_secret: None,
            jwt_issuer: "couple-platform".into(),
            jwt_audience: "couple-api".into(),
            access_token_ttl_secs: 15 * 60,
            internal_token: None,
            log_format: Default::default(),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 10,
            time_zone: "Asia/Seoul".into(),
        }
    }
}

impl SharedConfig {
    /// Reads `COUPLE_*` and checks the secrets are long enough to be safe.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read("COUPLE_")
    }

    fn read(prefix: &str) -> Result<Self, ConfigError> {
        let config: Self = from_env(prefix)?;
        config.validate()?;
        Ok(config)
    }

    /// Builds a configuration for tests and tools from a secret alone.
    pub fn with_secret(secret: &str) -> Self {
        Self { jwt_secret: SecretString::from(secret.to_owned()), ..Self::default() }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.jwt_secret.expose_secret().is_empty() {
            return Err(ConfigError("COUPLE_JWT_SECRET is required".into()));
        }
        let secrets = [("COUPLE_JWT_SECRET", Some(&self.jwt_secret)), ("COUPLE_JWT_PREVIOUS_SECRET", self.jwt_previous_secret.as_ref())];
        for (name, secret) in secrets {
            if let Some(secret) = secret
                && secret.expose_secret().len() < 32
            {
                return Err(ConfigError(format!("{name} must be at least 32 bytes")));
            }
        }
        crate::clock::zone(&self.time_zone).map_err(|e| ConfigError(format!("COUPLE_TIME_ZONE: {e}")))?;
        if self.access_token_ttl_secs == 0 {
            return Err(ConfigError("COUPLE_ACCESS_TOKEN_TTL_SECS must be positive".into()));
        }
        Ok(())
    }

    /// The access token lifetime.
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    /// The platform's time zone; [`SharedConfig::from_env`] has checked the name, and a name
    /// set otherwise that is not known falls back to UTC with an error logged.
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        crate::clock::zone(&self.time_zone).unwrap_or_else(|err| {
            tracing::error!(%err, "falling back to UTC");
            jiff::tz::TimeZone::UTC
        })
    }

    /// The drain bound after a shutdown signal.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Where a service listens: its API port and its separate admin port for metrics
/// (`<PREFIX>HOST`, `<PREFIX>PORT`, `<PREFIX>ADMIN_PORT`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenConfig {
    /// Interface to bind, `0.0.0.0` by default so that containers are reachable.
    pub host: String,
    /// API port.
    pub port: u16,
    /// Admin port serving `/metrics`; `0` picks a free port, absent disables it.
    pub admin_port: Option<u16>,
}

impl ListenConfig {
    /// A listen configuration on the given host and port with no admin port.
    pub fn new(host: &str, port: u16) -> Self {
        Self { host: host.into(), port, admin_port: None }
    }

    /// All interfaces at the service's registry port, no admin port.
    pub fn for_service(spec: &ServiceSpec) -> Self {
        Self::new("0.0.0.0", spec.port)
    }
}

/// The service's database (`<PREFIX>DATABASE_URL`, `<PREFIX>DATABASE_MAX_CONNECTIONS`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseConfig {
    /// `postgres://...` or `sqlite:path`.
    pub database_url: String,
    /// Most connections the pool holds.
    pub database_max_connections: u32,
}

impl DatabaseConfig {
    /// A SQLite file under `.data/` named after the service, 16 connections.
    pub fn for_service(spec: &ServiceSpec) -> Self {
        Self::new(&format!("sqlite:.data/{}.db", spec.name))
    }

    /// The database at `url`, 16 connections.
    pub fn new(url: &str) -> Self {
        Self { database_url: url.to_owned(), database_max_connections: 16 }
    }

    /// The pool settings: the configured size and the default timeouts.
    #[cfg(feature = "db")]
    pub fn pool_settings(&self) -> crate::db::PoolSettings {
        crate::db::PoolSettings { max_connections: self.database_max_connections, ..Default::default() }
    }
}

/// The shared key-value store (`<PREFIX>REDIS_URL`, `<PREFIX>REDIS_PREFIX`); without a URL an
/// in-process store serves a single instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisConfig {
    /// `redis://...`, or none for the in-process store.
    pub redis_url: Option<String>,
    /// Prefix of every key, shared by the services that read each other's keys.
    pub redis_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self { redis_url: None, redis_prefix: "couple:".into() }
    }
}

impl RedisConfig {
    /// The Redis URL, when one is set and not empty.
    pub fn url(&self) -> Option<&str> {
        self.redis_url.as_deref().filter(|url| !url.is_empty())
    }

    /// Redis when a URL is set, the in-process store otherwise.
    #[cfg(feature = "kv")]
    pub fn connect(&self) -> Result<std::sync::Arc<dyn crate::kv::Kv>, crate::kv::KvError> {
        crate::kv::from_url(self.url(), &self.redis_prefix)
    }
}

/// A MongoDB deployment (`<PREFIX>MONGODB_URL`), for the services that keep documents there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MongoConfig {
    /// `mongodb://...`.
    pub mongodb_url: Option<String>,
}

/// The base URLs of the services a service calls, from `<PREFIX><PEER>_URL`
/// (`GATEWAY_USER_COUPLE_URL`). A peer without one is on loopback at its registry port, which is
/// where `make run` starts it; the operator sets every one to the peer's cluster Service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerUrls(BTreeMap<&'static str, String>);

impl PeerUrls {
    /// Reads the variables of every peer `spec` calls.
    pub fn from_env(spec: &ServiceSpec) -> Self {
        Self::from_lookup(spec, |var| std::env::var(var).ok())
    }

    /// Reads them through `lookup` (variable name to value), so tests need no environment.
    pub fn from_lookup(spec: &ServiceSpec, lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self(
            spec.peers()
                .filter_map(|peer| lookup(&spec.peer_url_var(peer)).filter(|url| !url.is_empty()).map(|url| (peer.name, url)))
                .collect(),
        )
    }

    /// Sets one peer's URL (tests and tools).
    pub fn with(mut self, peer: &ServiceSpec, url: impl Into<String>) -> Self {
        self.0.insert(peer.name, url.into());
        self
    }

    /// The base URL of `peer`.
    pub fn url(&self, peer: &ServiceSpec) -> String {
        self.0.get(peer.name).cloned().unwrap_or_else(|| peer.local_url())
    }
}

#[cfg(test)]
mod tests {
    use couple_registry::{GATEWAY, USER_COUPLE};

    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Example {
        #[serde(flatten)]
        listen: ListenConfig,
        #[serde(flatten)]
        database: DatabaseConfig,
        #[serde(flatten)]
        redis: RedisConfig,
        #[serde(flatten)]
        mongo: MongoConfig,
        nested: Nested,
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Nested {
        retries: u32,
    }

    impl Default for Example {
        fn default() -> Self {
            Self {
                listen: ListenConfig::for_service(&USER_COUPLE),
                database: DatabaseConfig::for_service(&USER_COUPLE),
                redis: RedisConfig::default(),
                mongo: MongoConfig::default(),
                nested: Nested { retries: 3 },
            }
        }
    }

    // figment's error type is large; the closure only reports test failures.
    #[allow(clippy::result_large_err)]
    #[test]
    fn defaults_come_from_default_and_the_shared_parts_read_flat_variable_names() {
        figment::Jail::expect_with(|jail| {
            let config: Example = load("EXAMPLE_").unwrap();
            assert_eq!(config.listen, ListenConfig { host: "0.0.0.0".into(), port: 8081, admin_port: None });
            assert_eq!(config.database, DatabaseConfig::new("sqlite:.data/user-couple.db"));
            assert_eq!((config.redis.url(), config.redis.redis_prefix.as_str()), (None, "couple:"));
            assert_eq!((config.mongo.mongodb_url, config.nested.retries), (None, 3));

            jail.set_env("EXAMPLE_HOST", "127.0.0.1");
            jail.set_env("EXAMPLE_ADMIN_PORT", "9100");
            jail.set_env("EXAMPLE_DATABASE_URL", "postgres://db/x");
            jail.set_env("EXAMPLE_DATABASE_MAX_CONNECTIONS", "4");
            jail.set_env("EXAMPLE_REDIS_URL", "redis://r:6379");
            jail.set_env("EXAMPLE_MONGODB_URL", "mongodb://m");
            jail.set_env("EXAMPLE_NESTED__RETRIES", "7");
            let config: Example = load("EXAMPLE_").unwrap();
            assert_eq!(config.listen, ListenConfig { host: "127.0.0.1".into(), port: 8081, admin_port: Some(9100) });
            assert_eq!(config.database, DatabaseConfig { database_url: "postgres://db/x".into(), database_max_connections: 4 });
            assert_eq!((config.redis.url(), config.redis.redis_prefix.as_str()), (Some("redis://r:6379"), "couple:"));
            assert_eq!((config.mongo.mongodb_url.as_deref(), config.nested.retries), (Some("mongodb://m"), 7));

            jail.set_env("EXAMPLE_PORT", "not-a-port");
            let err = load::<Example>("EXAMPLE_").unwrap_err();
            assert!(err.0.starts_with("EXAMPLE_*"), "{err}");
            Ok(())
        });
    }

    #[allow(clippy::result_large_err)]
    #[test]
    fn shared_settings_need_a_long_enough_signing_key_and_default_the_rest() {
        // Under another prefix, so that COUPLE_* variables of the machine cannot interfere; the
        // messages name the real variables.
        figment::Jail::expect_with(|jail| {
            assert_eq!(SharedConfig::read("SHARED_TEST_").err().map(|e| e.0).as_deref(), Some("COUPLE_JWT_SECRET is required"));
            jail.set_env("SHARED_TEST_JWT_SECRET", "short");
            assert_eq!(
                SharedConfig::read("SHARED_TEST_").err().map(|e| e.0).as_deref(),
                Some("COUPLE_JWT_SECRET must be at least 32 bytes")
            );
            jail.set_env("SHARED_TEST_JWT_SECRET", "0123456789abcdef0123456789abcdef");
            jail.set_env("SHARED_TEST_BODY_LIMIT_BYTES", "2048");
            let shared = SharedConfig::read("SHARED_TEST_").unwrap();
            assert_eq!((shared.jwt_issuer.as_str(), shared.access_token_ttl_secs, shared.body_limit_bytes), ("couple-platform", 900, 2048));
            assert!(shared.internal_token.is_none());
            assert_eq!(shared.time_zone().iana_name(), Some("Asia/Seoul"));
            jail.set_env("SHARED_TEST_TIME_ZONE", "Europe/Nowhere");
            let err = SharedConfig::read("SHARED_TEST_").err().map(|e| e.0).unwrap_or_default();
            assert!(err.starts_with("COUPLE_TIME_ZONE"), "{err}");
            jail.set_env("SHARED_TEST_TIME_ZONE", "America/New_York");
            assert_eq!(SharedConfig::read("SHARED_TEST_").unwrap().time_zone().iana_name(), Some("America/New_York"));
            Ok(())
        });
    }

    #[test]
    fn peer_urls_come_from_the_prefixed_variables_or_default_to_loopback() {
        let peers = PeerUrls::from_lookup(&GATEWAY, |var| (var == "GATEWAY_USER_COUPLE_URL").then(|| "http://uc:1".to_owned()));
        assert_eq!(peers.url(&USER_COUPLE), "http://uc:1");
        assert_eq!(peers.url(&couple_registry::CHAT), "http://127.0.0.1:8000");
        assert_eq!(PeerUrls::default().with(&USER_COUPLE, "http://x:2").url(&USER_COUPLE), "http://x:2");
    }
}
