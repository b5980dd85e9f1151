//! The service's settings, read from `USER_COUPLE_*` (shared ones come from `COUPLE_*`).

use couple_common::config::{DatabaseConfig, ListenConfig, RedisConfig};
use couple_registry::USER_COUPLE;
use serde::{Deserialize, Serialize};

/// User-couple settings. Defaults give the embedded local setup: a SQLite file under `.data/`
/// and the in-process store instead of Redis.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `USER_COUPLE_HOST`, `USER_COUPLE_PORT`, `USER_COUPLE_ADMIN_PORT`.
    #[serde(flatten)]
    pub listen: ListenConfig,
    /// `USER_COUPLE_DATABASE_URL`, `USER_COUPLE_DATABASE_MAX_CONNECTIONS`.
    #[serde(flatten)]
    pub database: DatabaseConfig,
    /// `USER_COUPLE_REDIS_URL`, `USER_COUPLE_REDIS_PREFIX`: shared store for codes, counters and
    /// token versions (the prefix must match the gateway's).
    #[serde(flatten)]
    pub redis: RedisConfig,
    /// `USER_COUPLE_AUTO_MIGRATE`: apply migrations at start-up. The operator turns this off and
    /// runs `user-couple migrate` as a Job instead.
    pub auto_migrate: bool,
    /// `USER_COUPLE_REFRESH_TOKEN_TTL_DAYS`.
    pub refresh_token_ttl_days: i64,
    /// `USER_COUPLE_HASHING_CONCURRENCY`: password hashes computed at once (default: one less
    /// than the number of cores, at least one), so a login flood cannot starve the rest.
    pub hashing_concurrency: Option<usize>,
    /// `USER_COUPLE_HASHING_QUEUE`: hashes allowed to wait; beyond that logins get 503.
    pub hashing_queue: usize,
    /// `USER_COUPLE_LOGIN_FAILURES_PER_ACCOUNT`: failed logins per account per window.
    pub login_failures_per_account: u64,
    /// `USER_COUPLE_LOGIN_FAILURES_PER_CLIENT`: failed logins per client address per window.
    pub login_failures_per_client: u64,
    /// `USER_COUPLE_LOGIN_FAILURE_WINDOW_SECS`.
    pub login_failure_window_secs: u64,
    /// `USER_COUPLE_MATCH_GUESSES_PER_USER`: wrong match codes a user may try per window.
    pub match_guesses_per_user: u64,
    /// `USER_COUPLE_MATCH_GUESS_WINDOW_SECS`.
    pub match_guess_window_secs: u64,
    /// `USER_COUPLE_MATCH_CODE_TTL_SECS`.
    pub match_code_ttl_secs: u64,
    /// `USER_COUPLE_TRUST_FORWARDED_FOR`: take the client address from the last
    /// `X-Forwarded-For` hop (the gateway's) for per-client limits.
    pub trust_forwarded_for: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: ListenConfig::for_service(&USER_COUPLE),
            database: DatabaseConfig::for_service(&USER_COUPLE),
            redis: RedisConfig::default(),
            auto_migrate: true,
            refresh_token_ttl_days: 30,
            hashing_concurrency: None,
            hashing_queue: 64,
            login_failures_per_account: 5,
            login_failures_per_client: 50,
            login_failure_window_secs: 15 * 60,
            match_guesses_per_user: 10,
            match_guess_window_secs: 15 * 60,
            match_code_ttl_secs: 5 * 60,
            trust_forwarded_for: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use couple_common::config::load;

    use super::*;

    // figment's error type is large; the closure only reports test failures.
    #[allow(clippy::result_large_err)]
    #[test]
    fn the_environment_overrides_the_defaults_under_the_same_names_as_before() {
        figment::Jail::expect_with(|jail| {
            let defaults: Config = load(USER_COUPLE.env_prefix).unwrap();
            assert_eq!((defaults.listen.host.as_str(), defaults.listen.port, defaults.listen.admin_port), ("0.0.0.0", 8081, None));
            assert_eq!(defaults.database, DatabaseConfig::new("sqlite:.data/user-couple.db"));
            assert_eq!((defaults.redis.redis_url.as_deref(), defaults.redis.redis_prefix.as_str()), (None, "couple:"));
            assert!(defaults.auto_migrate && defaults.trust_forwarded_for);

            for (name, value) in [
                ("HOST", "127.0.0.1"),
                ("PORT", "9001"),
                ("ADMIN_PORT", "9002"),
                ("DATABASE_URL", "postgres://db/uc"),
                ("DATABASE_MAX_CONNECTIONS", "3"),
                ("REDIS_URL", "redis://r:6379"),
                ("REDIS_PREFIX", "prod:"),
                ("AUTO_MIGRATE", "false"),
                ("REFRESH_TOKEN_TTL_DAYS", "7"),
                ("HASHING_CONCURRENCY", "2"),
                ("HASHING_QUEUE", "8"),
                ("LOGIN_FAILURES_PER_ACCOUNT", "4"),
                ("LOGIN_FAILURES_PER_CLIENT", "40"),
                ("LOGIN_FAILURE_WINDOW_SECS", "60"),
                ("MATCH_GUESSES_PER_USER", "6"),
                ("MATCH_GUESS_WINDOW_SECS", "120"),
                ("MATCH_CODE_TTL_SECS", "30"),
                ("TRUST_FORWARDED_FOR", "false"),
            ] {
                jail.set_env(format!("USER_COUPLE_{name}"), value);
            }
            let c: Config = load(USER_COUPLE.env_prefix).unwrap();
            assert_eq!((c.listen.host.as_str(), c.listen.port, c.listen.admin_port), ("127.0.0.1", 9001, Some(9002)));
            assert_eq!((c.database.database_url.as_str(), c.database.database_max_connections), ("postgres://db/uc", 3));
            assert_eq!((c.redis.redis_url.as_deref(), c.redis.redis_prefix.as_str()), (Some("redis://r:6379"), "prod:"));
            assert_eq!((c.auto_migrate, c.refresh_token_ttl_days, c.hashing_concurrency, c.hashing_queue), (false, 7, Some(2), 8));
            assert_eq!((c.login_failures_per_account, c.login_failures_per_client, c.login_failure_window_secs), (4, 40, 60));
            assert_eq!((c.match_guesses_per_user, c.match_guess_window_secs, c.match_code_ttl_secs), (6, 120, 30));
            assert!(!c.trust_forwarded_for);
            Ok(())
        });
    }
}
