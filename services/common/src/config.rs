//! Typed configuration from environment variables.
//!
//! Each service reads its own settings under its own prefix (`GATEWAY_`, `USER_COUPLE_`, ...) and
//! the settings every service shares under `COUPLE_`; `__` separates nested keys. Defaults give the
//! embedded local setup; secrets are wrapped so they never print.

use std::{collections::BTreeMap, time::Duration};

use couple_registry::ServiceSpec;

use figment::{Figment, providers::Env};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::DeserializeOwned};

/// Reads a configuration struct from the environment variables that start with `prefix`.
pub fn from_env<T: DeserializeOwned>(prefix: &str) -> Result<T, ConfigError> {
    Figment::new().merge(Env::prefixed(prefix).split("__")).extract().map_err(|e| ConfigError(format!("{prefix}*: {e}")))
}

/// A configuration problem, reported at start-up with the variable it concerns.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Settings every service shares, read from `COUPLE_*`.
#[derive(Clone, Deserialize)]
pub struct SharedConfig {
    /// `COUPLE_JWT_SECRET`: the HS256 signing key, at least 32 bytes. Required.
    pub jwt_secret: SecretString,
    /// `COUPLE_JWT_PREVIOUS_SECRET`: the key before the last rotation, still accepted for
    /// verification so that rotating the secret does not log everyone out.
    #[serde(default)]
    pub jwt_previous_secret: Option<SecretString>,
    /// `COUPLE_JWT_ISSUER`.
    #[serde(default = "default_issuer")]
    pub jwt_issuer: String,
    /// `COUPLE_JWT_AUDIENCE`.
    #[serde(default = "default_audience")]
    pub jwt_audience: String,
    /// `COUPLE_ACCESS_TOKEN_TTL_SECS`: access token lifetime.
    #[serde(default = "default_access_ttl")]
    pub access_token_ttl_secs: u64,
    /// `COUPLE_INTERNAL_TOKEN`: shared secret for `/internal/` service-to-service calls.
    /// Without it, internal endpoints answer 404.
    #[serde(default)]
    pub internal_token: Option<SecretString>,
    /// `COUPLE_LOG_FORMAT`: `json`, `text`, or `auto` (JSON unless standard error is a terminal).
    #[serde(default)]
    pub log_format: crate::telemetry::LogFormat,
    /// `COUPLE_BODY_LIMIT_BYTES`: largest accepted request body; larger ones get 413.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// `COUPLE_SHUTDOWN_GRACE_SECS`: how long in-flight requests may drain after SIGTERM.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
}

fn default_issuer() -> String {
    "couple-platform".into()
}
fn default_audience() -> String {
    "couple-api".into()
}
fn default_access_ttl() -> u64 {
    15 * 60
}
fn default_body_limit() -> usize {
    1024 * 1024
}
fn default_grace() -> u64 {
    10
}

impl SharedConfig {
    /// Reads `COUPLE_*` and checks the secrets are long enough to be safe.
    pub fn from_env() -> Result<Self, ConfigError> {
        let config: Self = from_env("COUPLE_")?;
        config.validate()?;
        Ok(config)
    }

    /// Builds a configuration for tests and tools from a secret alone.
    pub fn with_secret(secret: &str) -> Self {
        Self {
            jwt_secret: SecretString::from(secret.to_owned()),
            jwt_previous_secret: None,
            jwt_issuer: default_issuer(),
            jwt_audience: default_audience(),
            access_token_ttl_secs: default_access_ttl(),
            internal_token: None,
            log_format: Default::default(),
            body_limit_bytes: default_body_limit(),
            shutdown_grace_secs: default_grace(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let secrets = [("COUPLE_JWT_SECRET", Some(&self.jwt_secret)), ("COUPLE_JWT_PREVIOUS_SECRET", self.jwt_previous_secret.as_ref())];
        for (name, secret) in secrets {
            if let Some(secret) = secret
                && secret.expose_secret().len() < 32
            {
                return Err(ConfigError(format!("{name} must be at least 32 bytes")));
            }
        }
        if self.access_token_ttl_secs == 0 {
            return Err(ConfigError("COUPLE_ACCESS_TOKEN_TTL_SECS must be positive".into()));
        }
        Ok(())
    }

    /// The access token lifetime.
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    /// The drain bound after a shutdown signal.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Where a service listens: its API port and its separate admin port for metrics.
#[derive(Clone, Debug, Deserialize)]
pub struct ListenConfig {
    /// Interface to bind, `0.0.0.0` by default so that containers are reachable.
    #[serde(default = "default_host")]
    pub host: String,
    /// API port.
    pub port: u16,
    /// Admin port serving `/metrics`; `0` picks a free port, absent disables it.
    #[serde(default)]
    pub admin_port: Option<u16>,
}

fn default_host() -> String {
    "0.0.0.0".into()
}

impl ListenConfig {
    /// A listen configuration on the given host and port with no admin port.
    pub fn new(host: &str, port: u16) -> Self {
        Self { host: host.into(), port, admin_port: None }
    }
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

    #[test]
    fn peer_urls_come_from_the_prefixed_variables_or_default_to_loopback() {
        let peers = PeerUrls::from_lookup(&GATEWAY, |var| (var == "GATEWAY_USER_COUPLE_URL").then(|| "http://uc:1".to_owned()));
        assert_eq!(peers.url(&USER_COUPLE), "http://uc:1");
        assert_eq!(peers.url(&couple_registry::CHAT), "http://127.0.0.1:8000");
        assert_eq!(PeerUrls::default().with(&USER_COUPLE, "http://x:2").url(&USER_COUPLE), "http://x:2");
    }
}
