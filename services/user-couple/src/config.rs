//! The service's settings, read from `USER_COUPLE_*` (shared ones come from `COUPLE_*`).

use serde::Deserialize;

/// User-couple settings. Defaults give the embedded local setup: a SQLite file under `.data/`
/// and the in-process store instead of Redis.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// `USER_COUPLE_HOST`.
    #[serde(default = "default_host")]
    pub host: String,
    /// `USER_COUPLE_PORT`.
    #[serde(default = "default_port")]
    pub port: u16,
    /// `USER_COUPLE_ADMIN_PORT`: where `/metrics` is served; unset disables it.
    #[serde(default)]
    pub admin_port: Option<u16>,
    /// `USER_COUPLE_DATABASE_URL`: `postgres://...` or `sqlite:path`.
    #[serde(default = "default_database_url")]
    pub database_url: String,
    /// `USER_COUPLE_DATABASE_MAX_CONNECTIONS`.
    #[serde(default = "default_max_connections")]
    pub database_max_connections: u32,
    /// `USER_COUPLE_REDIS_URL`: shared store for codes, counters and token versions; without it
    /// an in-process store serves a single instance.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// `USER_COUPLE_REDIS_PREFIX`: prefix of every Redis key (must match the gateway's).
    #[serde(default = "default_redis_prefix")]
    pub redis_prefix: String,
    /// `USER_COUPLE_AUTO_MIGRATE`: apply migrations at start-up. The operator turns this off and
    /// runs `user-couple migrate` as a Job instead.
    #[serde(default = "default_true")]
    pub auto_migrate: bool,
    /// `USER_COUPLE_REFRESH_TOKEN_TTL_DAYS`.
    #[serde(default = "default_refresh_days")]
    pub refresh_token_ttl_days: i64,
    /// `USER_COUPLE_HASHING_CONCURRENCY`: password hashes computed at once (default: one less
    /// than the number of cores, at least one), so a login flood cannot starve the rest.
    #[serde(default)]
    pub hashing_concurrency: Option<usize>,
    /// `USER_COUPLE_HASHING_QUEUE`: hashes allowed to wait; beyond that logins get 503.
    #[serde(default = "default_hashing_queue")]
    pub hashing_queue: usize,
    /// `USER_COUPLE_LOGIN_FAILURES_PER_ACCOUNT`: failed logins per account per window.
    #[serde(default = "default_account_failures")]
    pub login_failures_per_account: u64,
    /// `USER_COUPLE_LOGIN_FAILURES_PER_CLIENT`: failed logins per client address per window.
    #[serde(default = "default_client_failures")]
    pub login_failures_per_client: u64,
    /// `USER_COUPLE_LOGIN_FAILURE_WINDOW_SECS`.
    #[serde(default = "default_failure_window")]
    pub login_failure_window_secs: u64,
    /// `USER_COUPLE_MATCH_GUESSES_PER_USER`: wrong match codes a user may try per window.
    #[serde(default = "default_match_guesses")]
    pub match_guesses_per_user: u64,
    /// `USER_COUPLE_MATCH_GUESS_WINDOW_SECS`.
    #[serde(default = "default_failure_window")]
    pub match_guess_window_secs: u64,
    /// `USER_COUPLE_MATCH_CODE_TTL_SECS`.
    #[serde(default = "default_match_ttl")]
    pub match_code_ttl_secs: u64,
    /// `USER_COUPLE_TRUST_FORWARDED_FOR`: take the client address from the last
    /// `X-Forwarded-For` hop (the gateway's) for per-client limits.
    #[serde(default = "default_true")]
    pub trust_forwarded_for: bool,
}

fn default_host() -> String {
    "0.0.0.0".into()
}
fn default_port() -> u16 {
    8081
}
fn default_database_url() -> String {
    "sqlite:.data/user-couple.db".into()
}
fn default_max_connections() -> u32 {
    16
}
fn default_redis_prefix() -> String {
    "couple:".into()
}
fn default_true() -> bool {
    true
}
fn default_refresh_days() -> i64 {
    30
}
fn default_hashing_queue() -> usize {
    64
}
fn default_account_failures() -> u64 {
    5
}
fn default_client_failures() -> u64 {
    50
}
fn default_failure_window() -> u64 {
    15 * 60
}
fn default_match_guesses() -> u64 {
    10
}
fn default_match_ttl() -> u64 {
    5 * 60
}

impl Config {
    /// Reads `USER_COUPLE_*`.
    pub fn from_env() -> Result<Self, couple_common::config::ConfigError> {
        couple_common::config::from_env("USER_COUPLE_")
    }

    /// The defaults with another database URL, for tests and tools.
    pub fn with_database(database_url: &str) -> Self {
        let mut config: Self = serde_json::from_value(serde_json::json!({})).expect("every field has a default");
        config.database_url = database_url.to_owned();
        config
    }
}
