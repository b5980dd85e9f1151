//! Gateway settings from `GATEWAY_*` environment variables (`__` separates nested keys, e.g.
//! `GATEWAY_CIRCUIT__OPEN_SECS`). Every field has a default that fits the local setup, where all
//! services run on loopback on their seed ports.

use std::{path::PathBuf, time::Duration};

use axum::http::HeaderValue;
use couple_common::config::{ConfigError, ListenConfig, PeerUrls, RedisConfig};
use couple_registry::GATEWAY;
use serde::{Deserialize, Deserializer, Serialize};

/// The gateway's own settings; the shared ones (`COUPLE_*`) live in
/// [`couple_common::config::SharedConfig`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `GATEWAY_HOST`, `GATEWAY_PORT` (the public port), `GATEWAY_ADMIN_PORT` (`/metrics`).
    #[serde(flatten)]
    pub listen: ListenConfig,
    /// `GATEWAY_ROUTES_FILE`: a JSON route table (see [`crate::RouteTable`]) replacing the
    /// default one built from the registry and [`Config::peers`].
    pub routes_file: Option<PathBuf>,
    /// `GATEWAY_<SERVICE>_URL` (`GATEWAY_USER_COUPLE_URL`, `GATEWAY_CHAT_URL`, ...): the base URL
    /// of each service in the registry, loopback at its registry port when unset. The user-couple
    /// URL also answers token-version lookups.
    #[serde(skip)]
    pub peers: PeerUrls,
    /// `GATEWAY_ROUTE_TIMEOUT_MS`: time allowed for an upstream's response headers, including
    /// retries, for routes and upstreams that set no `timeoutMs` of their own.
    pub route_timeout_ms: u64,
    /// `GATEWAY_REDIS_URL`, `GATEWAY_REDIS_PREFIX` (the services' prefix): shares rate-limit
    /// buckets between replicas and reads token versions. Without it (or while Redis is down)
    /// each replica limits on its own.
    #[serde(flatten)]
    pub redis: RedisConfig,
    /// `GATEWAY_ALLOWED_ORIGINS`: browser origins allowed for CORS and WebSocket upgrades,
    /// comma-separated (`https://app.example,http://localhost:3000`) or a figment array. Empty
    /// means no cross-origin access.
    #[serde(deserialize_with = "comma_separated")]
    pub allowed_origins: Vec<String>,
    /// `GATEWAY_RATE_LIMIT_PER_SEC`: sustained requests per second per client (the user when
    /// authenticated, otherwise the client address).
    pub rate_limit_per_sec: f64,
    /// `GATEWAY_RATE_LIMIT_BURST`: requests a client may make at once above the sustained rate.
    pub rate_limit_burst: u32,
    /// `GATEWAY_TRUST_FORWARDED_FOR`: take the client address from `X-Forwarded-For` (set this only
    /// behind a proxy that appends to it, such as the cluster's ingress).
    pub trust_forwarded_for: bool,
    /// `GATEWAY_CIRCUIT__*`: the per-upstream circuit breaker.
    pub circuit: CircuitConfig,
    /// `GATEWAY_REVOCATION_CACHE_MS`: how long a user's token version is trusted in process. Keep
    /// it well under a second: revocation must take effect within one.
    pub revocation_cache_ms: u64,
    /// `GATEWAY_OPENAPI_CACHE_SECS`: how long the merged OpenAPI document is reused.
    pub openapi_cache_secs: u64,
}

/// Circuit breaker settings, shared by every upstream.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct CircuitConfig {
    /// `GATEWAY_CIRCUIT__FAILURE_THRESHOLD`: consecutive transport failures or timeouts that open
    /// the circuit.
    pub failure_threshold: u32,
    /// `GATEWAY_CIRCUIT__OPEN_SECS`: how long an open circuit refuses requests before letting a
    /// trial request through.
    pub open_secs: u64,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self { failure_threshold: 5, open_secs: 5 }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: ListenConfig::for_service(&GATEWAY),
            routes_file: None,
            peers: PeerUrls::default(),
            route_timeout_ms: 10_000,
            redis: RedisConfig::default(),
            allowed_origins: Vec::new(),
            rate_limit_per_sec: 50.0,
            rate_limit_burst: 100,
            trust_forwarded_for: false,
            circuit: CircuitConfig::default(),
            revocation_cache_ms: 500,
            openapi_cache_secs: 60,
        }
    }
}

impl Config {
    /// Reads `GATEWAY_*` and checks the values.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config: Self = couple_common::config::load(GATEWAY.env_prefix)?;
        config.peers = PeerUrls::from_env(&GATEWAY);
        config.validate()?;
        Ok(config)
    }

    /// Checks what the type system cannot; [`crate::build_app`] calls it too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |msg: &str| Err(ConfigError(msg.into()));
        if !(self.rate_limit_per_sec.is_finite() && self.rate_limit_per_sec > 0.0) {
            return fail("GATEWAY_RATE_LIMIT_PER_SEC must be a positive number");
        }
        if self.rate_limit_burst == 0 {
            return fail("GATEWAY_RATE_LIMIT_BURST must be at least 1");
        }
        if self.route_timeout_ms == 0 {
            return fail("GATEWAY_ROUTE_TIMEOUT_MS must be positive");
        }
        if self.circuit.failure_threshold == 0 || self.circuit.open_secs == 0 {
            return fail("GATEWAY_CIRCUIT__FAILURE_THRESHOLD and GATEWAY_CIRCUIT__OPEN_SECS must be positive");
        }
        if self.revocation_cache_ms >= 1000 {
            return fail("GATEWAY_REVOCATION_CACHE_MS must be under 1000: revocation must take effect within a second");
        }
        self.origins()?;
        Ok(())
    }

    /// The default route timeout.
    pub fn route_timeout(&self) -> Duration {
        Duration::from_millis(self.route_timeout_ms)
    }

    /// The allowed origins as header values, lower-cased and without a trailing slash, which is
    /// how browsers send them.
    pub(crate) fn origins(&self) -> Result<Vec<HeaderValue>, ConfigError> {
        self.allowed_origins
            .iter()
            .map(|origin| {
                let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
                if origin == "*" {
                    return Err(ConfigError("GATEWAY_ALLOWED_ORIGINS cannot be `*`: credentials are allowed, so list the origins".into()));
                }
                if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                    return Err(ConfigError(format!("GATEWAY_ALLOWED_ORIGINS: `{origin}` is not an http(s) origin")));
                }
                HeaderValue::from_str(&origin)
                    .map_err(|_| ConfigError(format!("GATEWAY_ALLOWED_ORIGINS: `{origin}` is not a valid origin")))
            })
            .collect()
    }
}

/// Accepts `"a,b"` (the environment form) as well as `["a", "b"]`.
fn comma_separated<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) => s.split(',').map(str::to_owned).collect(),
        OneOrMany::Many(v) => v,
    };
    Ok(items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults overridden by `json`, layered as [`Config::from_env`] layers the environment.
    fn from_json(json: &str) -> Config {
        use figment::providers::{Format, Json, Serialized};
        figment::Figment::from(Serialized::defaults(Config::default())).merge(Json::string(json)).extract().unwrap()
    }

    #[test]
    fn origins_accept_a_comma_separated_string_or_a_list() {
        let config = from_json(r#"{"allowed_origins": "https://App.example/, http://localhost:3000"}"#);
        assert_eq!(config.allowed_origins, ["https://App.example/", "http://localhost:3000"]);
        assert_eq!(config.origins().unwrap(), ["https://app.example", "http://localhost:3000"]);
        let config = from_json(r#"{"allowed_origins": ["https://a.example"]}"#);
        assert_eq!(config.allowed_origins, ["https://a.example"]);
    }

    #[test]
    fn missing_fields_take_the_defaults() {
        let config = from_json(r#"{"port": 9000, "circuit": {"open_secs": 2}}"#);
        assert_eq!(config.listen.port, 9000);
        assert_eq!(config.circuit.open_secs, 2);
        assert_eq!(config.circuit.failure_threshold, 5);
        assert_eq!(config.peers.url(&couple_registry::USER_COUPLE), "http://127.0.0.1:8081");
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_wildcard_origin_or_a_zero_rate_is_refused() {
        assert!(from_json(r#"{"allowed_origins": "*"}"#).validate().is_err());
        assert!(from_json(r#"{"rate_limit_per_sec": 0}"#).validate().is_err());
        assert!(from_json(r#"{"revocation_cache_ms": 1500}"#).validate().is_err());
    }
}
