//! The service's settings, read from `SCHEDULE_MEETING_*` (shared ones come from `COUPLE_*`).

use couple_common::{
    clock::Clock,
    config::{DatabaseConfig, ListenConfig, PeerUrls},
};
use couple_registry::SCHEDULE_MEETING;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Schedule-meeting settings. Defaults give the embedded local setup: a SQLite file under `.data/`
/// and no weather key (the weather cards answer 503, recommendations rank as for dry weather).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `SCHEDULE_MEETING_HOST`, `SCHEDULE_MEETING_PORT`, `SCHEDULE_MEETING_ADMIN_PORT`.
    #[serde(flatten)]
    pub listen: ListenConfig,
    /// `SCHEDULE_MEETING_DATABASE_URL`, `SCHEDULE_MEETING_DATABASE_MAX_CONNECTIONS`.
    #[serde(flatten)]
    pub database: DatabaseConfig,
    /// `SCHEDULE_MEETING_AUTO_MIGRATE`: apply migrations (and load the places catalogue) at
    /// start-up. The operator turns migrations off and runs `schedule-meeting migrate` instead.
    pub auto_migrate: bool,
    /// `SCHEDULE_MEETING_WEATHER_API_KEY`: the KMA open-API key (public data portal); unset, the
    /// weather cards answer 503. Never logged.
    #[serde(skip_serializing)]
    pub weather_api_key: Option<SecretString>,
    /// `SCHEDULE_MEETING_WEATHER_BASE_URL`: where the KMA services live.
    pub weather_base_url: String,
    /// `SCHEDULE_MEETING_WEATHER_TIMEOUT_MILLIS`: the longest one KMA request may take (connect,
    /// send and read) before the weather answers 503.
    pub weather_timeout_millis: u64,
    /// `SCHEDULE_MEETING_WEATHER_BREAKER_FAILURES`: consecutive KMA failures after which the
    /// circuit opens and weather requests answer 503 at once, without calling KMA.
    pub weather_breaker_failures: u32,
    /// `SCHEDULE_MEETING_WEATHER_BREAKER_COOLDOWN_SECS`: how long an open circuit stays open
    /// before KMA is tried again.
    pub weather_breaker_cooldown_secs: u64,
    /// `SCHEDULE_MEETING_PUBLIC_BASE_URL`: where clients reach the platform (the gateway's public
    /// address, `https://couple.example.com`): calendar feed URLs are handed out under it, since
    /// a phone subscribes to an absolute URL.
    pub public_base_url: String,
    /// Where "now" comes from: the system clock; tests set their own.
    #[serde(skip)]
    pub clock: Clock,
    /// The peers it calls (user-couple for birthdays, question-answer for trait vectors), from
    /// `SCHEDULE_MEETING_<PEER>_URL`.
    #[serde(skip)]
    pub peers: PeerUrls,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: ListenConfig::for_service(&SCHEDULE_MEETING),
            database: DatabaseConfig::for_service(&SCHEDULE_MEETING),
            auto_migrate: true,
            weather_api_key: None,
            weather_base_url: "https://apis.data.go.kr/1360000".into(),
            weather_timeout_millis: 3000,
            weather_breaker_failures: 5,
            weather_breaker_cooldown_secs: 30,
            public_base_url: "http://localhost:8080".into(),
            clock: Clock::System,
            peers: PeerUrls::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use couple_common::config::load;
    use secrecy::ExposeSecret;

    use super::*;

    // figment's error type is large; the closure only reports test failures.
    #[allow(clippy::result_large_err)]
    #[test]
    fn the_environment_overrides_the_defaults_under_the_prefix() {
        figment::Jail::expect_with(|jail| {
            let defaults: Config = load(SCHEDULE_MEETING.env_prefix).unwrap();
            assert_eq!((defaults.listen.port, defaults.database.database_url.as_str()), (8082, "sqlite:.data/schedule-meeting.db"));
            assert!(defaults.weather_api_key.is_none() && defaults.auto_migrate);
            assert_eq!(
                (defaults.weather_timeout_millis, defaults.weather_breaker_failures, defaults.weather_breaker_cooldown_secs),
                (3000, 5, 30)
            );
            assert_eq!(defaults.public_base_url, "http://localhost:8080");
            jail.set_env("SCHEDULE_MEETING_PORT", "9082");
            jail.set_env("SCHEDULE_MEETING_DATABASE_URL", "postgres://db/schedule");
            jail.set_env("SCHEDULE_MEETING_WEATHER_API_KEY", "k3y");
            jail.set_env("SCHEDULE_MEETING_WEATHER_BASE_URL", "http://127.0.0.1:9/kma");
            jail.set_env("SCHEDULE_MEETING_AUTO_MIGRATE", "false");
            jail.set_env("SCHEDULE_MEETING_WEATHER_TIMEOUT_MILLIS", "1500");
            jail.set_env("SCHEDULE_MEETING_WEATHER_BREAKER_FAILURES", "2");
            jail.set_env("SCHEDULE_MEETING_WEATHER_BREAKER_COOLDOWN_SECS", "60");
            jail.set_env("SCHEDULE_MEETING_PUBLIC_BASE_URL", "https://couple.example.com/");
            let config: Config = load(SCHEDULE_MEETING.env_prefix).unwrap();
            assert_eq!((config.listen.port, config.database.database_url.as_str()), (9082, "postgres://db/schedule"));
            assert_eq!(config.weather_api_key.as_ref().map(|k| k.expose_secret()), Some("k3y"));
            assert_eq!((config.weather_base_url.as_str(), config.auto_migrate), ("http://127.0.0.1:9/kma", false));
            assert_eq!(
                (config.weather_timeout_millis, config.weather_breaker_failures, config.weather_breaker_cooldown_secs),
                (1500, 2, 60)
            );
            assert_eq!(config.public_base_url, "https://couple.example.com/");
            Ok(())
        });
    }
}
