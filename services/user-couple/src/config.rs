//! The service's settings, read from `USER_COUPLE_*` (shared ones come from `COUPLE_*`).

use couple_common::config::{ConfigError, DatabaseConfig, ListenConfig, PeerUrls, RedisConfig};
use couple_registry::{ServiceSpec, USER_COUPLE};
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
    /// `USER_COUPLE_ADMIN_EMAILS`: comma-separated accounts that are admin: made so at start
    /// when they exist, and at sign-up otherwise.
    pub admin_emails: String,
    /// `USER_COUPLE_ERASURE_SERVICES`: comma-separated services, among those that hold user or
    /// couple data, that are deployed and erase a deleted account (or a couple no former member
    /// has an account of) when told (the operator and `make run` set it). Empty: deletions stay
    /// here.
    pub erasure_services: String,
    /// `USER_COUPLE_ERASURE_RETRY_MAX_SECS`: the longest wait between two attempts to erase an
    /// account in a service that did not confirm.
    pub erasure_retry_max_secs: u64,
    /// `USER_COUPLE_<PEER>_URL`: where the erasure services are (loopback at their registry
    /// ports when unset).
    #[serde(skip)]
    pub peers: PeerUrls,
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
            admin_emails: String::new(),
            erasure_services: String::new(),
            erasure_retry_max_secs: 5 * 60,
            peers: PeerUrls::default(),
        }
    }
}

/// The non-empty items of a comma-separated list.
fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|item| !item.is_empty())
}

impl Config {
    /// Reads `USER_COUPLE_*`, peers included.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config: Self = couple_common::config::load(USER_COUPLE.env_prefix)?;
        config.peers = PeerUrls::from_env(&USER_COUPLE);
        Ok(config)
    }

    /// The administrators' emails, lower-cased as accounts are looked up.
    pub fn admin_email_keys(&self) -> Result<Vec<String>, ConfigError> {
        items(&self.admin_emails)
            .map(|raw| {
                crate::domain::Email::parse(raw)
                    .map(|email| email.key())
                    .map_err(|problem| ConfigError(format!("USER_COUPLE_ADMIN_EMAILS: `{raw}` {problem}")))
            })
            .collect()
    }

    /// The services deleted accounts and couples are erased in; each must be one that holds user
    /// or couple data.
    pub fn erasure_targets(&self) -> Result<Vec<&'static ServiceSpec>, ConfigError> {
        items(&self.erasure_services)
            .map(|name| {
                USER_COUPLE.erasure_targets().find(|t| t.name == name).ok_or_else(|| {
                    let known: Vec<_> = USER_COUPLE.erasure_targets().map(|t| t.name).collect();
                    ConfigError(format!("USER_COUPLE_ERASURE_SERVICES: `{name}` is not one of {}", known.join(", ")))
                })
            })
            .collect()
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
            assert!(defaults.admin_email_keys().unwrap().is_empty() && defaults.erasure_targets().unwrap().is_empty());

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
                ("ADMIN_EMAILS", "Boss@Example.com, ops@example.com,"),
                ("ERASURE_SERVICES", "question-answer,chat"),
                ("ERASURE_RETRY_MAX_SECS", "60"),
                ("CHAT_URL", "http://chat.svc:8000"),
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
            assert_eq!(c.admin_email_keys().unwrap(), ["boss@example.com", "ops@example.com"]);
            assert_eq!(c.erasure_targets().unwrap().iter().map(|t| t.name).collect::<Vec<_>>(), ["question-answer", "chat"]);
            assert_eq!(c.erasure_retry_max_secs, 60);
            let c = Config::from_env().unwrap();
            assert_eq!(c.peers.url(&couple_registry::CHAT), "http://chat.svc:8000");
            assert_eq!(c.peers.url(&couple_registry::QUESTION_ANSWER), "http://127.0.0.1:8086", "unset: loopback");
            Ok(())
        });
    }

    #[test]
    fn bad_admin_emails_and_unknown_erasure_services_are_named() {
        let config = Config { admin_emails: "a@b.co,nope".into(), erasure_services: "chat,user-couple".into(), ..Config::default() };
        assert_eq!(config.admin_email_keys().unwrap_err().0, "USER_COUPLE_ADMIN_EMAILS: `nope` is not an email address");
        assert_eq!(
            config.erasure_targets().unwrap_err().0,
            "USER_COUPLE_ERASURE_SERVICES: `user-couple` is not one of question-answer, schedule-meeting, chat"
        );
    }
}
