//! The service's settings, read from `CHAT_*` (shared ones come from `COUPLE_*`).

use couple_common::{
    clock::Clock,
    config::{DatabaseConfig, ListenConfig, PeerUrls, RedisConfig},
};
use couple_registry::CHAT;
use serde::{Deserialize, Serialize};

/// Chat settings. Defaults give the embedded local setup: one replica on a SQLite file under
/// `.data/`, delivering to its own sockets only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `CHAT_HOST`, `CHAT_PORT`, `CHAT_ADMIN_PORT`.
    #[serde(flatten)]
    pub listen: ListenConfig,
    /// `CHAT_DATABASE_URL`, `CHAT_DATABASE_MAX_CONNECTIONS`. SQLite serves one replica; several
    /// replicas share PostgreSQL.
    #[serde(flatten)]
    pub database: DatabaseConfig,
    /// `CHAT_REDIS_URL`, `CHAT_REDIS_PREFIX`: when set, replicas fan messages, typing, read
    /// receipts and presence out to each other's sockets through Redis pub/sub.
    #[serde(flatten)]
    pub redis: RedisConfig,
    /// `CHAT_AUTO_MIGRATE`: apply migrations at start-up. The operator turns it off when chat runs
    /// on PostgreSQL and runs `chat migrate` as a Job instead.
    pub auto_migrate: bool,
    /// `CHAT_MAX_MESSAGE_CHARS`: the longest message text, in characters.
    pub max_message_chars: usize,
    /// `CHAT_MAX_FRAME_BYTES`: the largest WebSocket message a client may send; a larger one
    /// closes the socket with 1009.
    pub max_frame_bytes: usize,
    /// `CHAT_SEND_QUEUE`: events queued for one socket. A socket whose queue fills with
    /// messages it has not taken is closed with 4008 (resume with `after`), never skipped.
    pub send_queue: usize,
    /// `CHAT_TYPING_TTL_MILLIS`: how long a typing indicator lasts unless renewed.
    pub typing_ttl_millis: u64,
    /// `CHAT_COMMIT_BATCH`: the most messages committed in one transaction. Messages that arrive
    /// while a commit is in flight share the next one, so 1,000 messages a second do not cost
    /// 1,000 synchronous flushes.
    pub commit_batch: usize,
    /// `CHAT_RESUME_PAGE`: messages read per query while a resuming socket catches up.
    pub resume_page: usize,
    /// `CHAT_MAX_ROOMS`: the most rooms a couple may have.
    pub max_rooms: usize,
    /// The URLs of the services chat calls (user-couple, for nicknames), from
    /// `CHAT_<PEER>_URL`.
    #[serde(skip)]
    pub peers: PeerUrls,
    /// Where "now" comes from: the system clock; tests set their own.
    #[serde(skip)]
    pub clock: Clock,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: ListenConfig::for_service(&CHAT),
            database: DatabaseConfig::for_service(&CHAT),
            redis: RedisConfig::default(),
            auto_migrate: true,
            max_message_chars: 2000,
            max_frame_bytes: 16 * 1024,
            send_queue: 512,
            typing_ttl_millis: 5000,
            commit_batch: 256,
            resume_page: 500,
            max_rooms: 20,
            peers: PeerUrls::default(),
            clock: Clock::System,
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
    fn the_environment_overrides_the_defaults_under_the_prefix() {
        figment::Jail::expect_with(|jail| {
            let defaults: Config = load(CHAT.env_prefix).unwrap();
            assert_eq!((defaults.listen.port, defaults.database.database_url.as_str()), (8000, "sqlite:.data/chat.db"));
            assert_eq!((defaults.redis.url(), defaults.auto_migrate, defaults.send_queue), (None, true, 512));
            for (name, value) in [
                ("PORT", "9000"),
                ("DATABASE_URL", "postgres://db/chat"),
                ("REDIS_URL", "redis://r"),
                ("AUTO_MIGRATE", "false"),
                ("MAX_MESSAGE_CHARS", "100"),
                ("MAX_FRAME_BYTES", "2048"),
                ("SEND_QUEUE", "8"),
                ("TYPING_TTL_MILLIS", "300"),
                ("COMMIT_BATCH", "16"),
                ("RESUME_PAGE", "50"),
                ("MAX_ROOMS", "3"),
            ] {
                jail.set_env(format!("CHAT_{name}"), value);
            }
            let c: Config = load(CHAT.env_prefix).unwrap();
            assert_eq!((c.listen.port, c.database.database_url.as_str(), c.redis.url()), (9000, "postgres://db/chat", Some("redis://r")));
            assert_eq!((c.auto_migrate, c.max_message_chars, c.max_frame_bytes, c.send_queue), (false, 100, 2048, 8));
            assert_eq!((c.typing_ttl_millis, c.commit_batch, c.resume_page, c.max_rooms), (300, 16, 50, 3));
            Ok(())
        });
    }
}
