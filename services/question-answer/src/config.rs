//! The service's settings, read from `QUESTION_ANSWER_*` (shared ones come from `COUPLE_*`).

use couple_common::{
    clock::Clock,
    config::{DatabaseConfig, ListenConfig, MongoConfig},
};
use couple_registry::QUESTION_ANSWER;
use serde::{Deserialize, Serialize};

/// How an answer's vector deltas reach the user's vector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorUpdates {
    /// In the answer's own transaction: the vectors live in the relational store.
    #[default]
    Transaction,
    /// Through an outbox: the answer's transaction queues the deltas and a background worker
    /// applies them, in order and exactly once, to a vector store outside that transaction.
    Outbox,
}

/// Question-answer settings. Defaults give the embedded local setup: a SQLite file under `.data/`
/// with the vectors in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `QUESTION_ANSWER_HOST`, `QUESTION_ANSWER_PORT`, `QUESTION_ANSWER_ADMIN_PORT`.
    #[serde(flatten)]
    pub listen: ListenConfig,
    /// `QUESTION_ANSWER_DATABASE_URL`, `QUESTION_ANSWER_DATABASE_MAX_CONNECTIONS`.
    #[serde(flatten)]
    pub database: DatabaseConfig,
    /// `QUESTION_ANSWER_MONGODB_URL`: when set, the vectors live in MongoDB (collection
    /// `user_vectors` of the database the URL's path names, else `question_answer`) and answers
    /// always reach them through the outbox, whatever `VECTOR_UPDATES` says. Unset: the
    /// relational store keeps them. `mongodb+srv://` URLs are not supported (no DNS resolver is
    /// built in).
    #[serde(flatten)]
    pub mongo: MongoConfig,
    /// `QUESTION_ANSWER_MONGODB_TIMEOUT_MILLIS`: how long a MongoDB call waits for a server
    /// (selection and connecting), so that while MongoDB is down the vector endpoints answer 503
    /// after about this long rather than hanging.
    pub mongodb_timeout_millis: u64,
    /// `QUESTION_ANSWER_AUTO_MIGRATE`: apply migrations (and load the seed questions) at
    /// start-up. The operator turns migrations off and runs `question-answer migrate` instead.
    pub auto_migrate: bool,
    /// `QUESTION_ANSWER_VECTOR_UPDATES`: `transaction` or `outbox`; with MongoDB configured,
    /// always `outbox` (`transaction` is overridden, and the start-up log says so).
    pub vector_updates: VectorUpdates,
    /// `QUESTION_ANSWER_OUTBOX_POLL_MILLIS`: how often the outbox worker looks for work it was
    /// not told about (another replica's answers).
    pub outbox_poll_millis: u64,
    /// `QUESTION_ANSWER_OUTBOX_MAX_BACKOFF_MILLIS`: the longest wait between retries while the
    /// vector store fails.
    pub outbox_max_backoff_millis: u64,
    /// Where "now" comes from: the system clock; tests set their own.
    #[serde(skip)]
    pub clock: Clock,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: ListenConfig::for_service(&QUESTION_ANSWER),
            database: DatabaseConfig::for_service(&QUESTION_ANSWER),
            mongo: MongoConfig::default(),
            mongodb_timeout_millis: 1500,
            auto_migrate: true,
            vector_updates: VectorUpdates::default(),
            outbox_poll_millis: 1000,
            outbox_max_backoff_millis: 30_000,
            clock: Clock::System,
        }
    }
}

impl Config {
    /// The MongoDB URL, when one is set (an empty value counts as unset).
    pub fn mongodb_url(&self) -> Option<&str> {
        self.mongo.mongodb_url.as_deref().filter(|url| !url.is_empty())
    }

    /// How answers reach the vectors: always through the outbox when they live in MongoDB, which
    /// the relational transaction cannot include.
    pub fn effective_vector_updates(&self) -> VectorUpdates {
        if self.mongodb_url().is_some() { VectorUpdates::Outbox } else { self.vector_updates }
    }

    /// [`Self::mongodb_timeout_millis`] as a duration (at least 100 ms).
    pub fn mongodb_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.mongodb_timeout_millis.max(100))
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
            let defaults: Config = load(QUESTION_ANSWER.env_prefix).unwrap();
            assert_eq!((defaults.listen.port, defaults.database.database_url.as_str()), (8086, "sqlite:.data/question-answer.db"));
            assert_eq!(
                (defaults.vector_updates, defaults.mongo.mongodb_url, defaults.auto_migrate),
                (VectorUpdates::Transaction, None, true)
            );
            assert_eq!(defaults.mongodb_timeout_millis, 1500);
            for (name, value) in [
                ("PORT", "9086"),
                ("DATABASE_URL", "postgres://db/qa"),
                ("MONGODB_URL", "mongodb://m"),
                ("MONGODB_TIMEOUT_MILLIS", "900"),
                ("AUTO_MIGRATE", "false"),
                ("VECTOR_UPDATES", "outbox"),
                ("OUTBOX_POLL_MILLIS", "50"),
                ("OUTBOX_MAX_BACKOFF_MILLIS", "700"),
            ] {
                jail.set_env(format!("QUESTION_ANSWER_{name}"), value);
            }
            let c: Config = load(QUESTION_ANSWER.env_prefix).unwrap();
            assert_eq!(
                (c.listen.port, c.database.database_url.as_str(), c.mongo.mongodb_url.as_deref()),
                (9086, "postgres://db/qa", Some("mongodb://m"))
            );
            assert_eq!(c.mongodb_timeout_millis, 900);
            assert_eq!(
                (c.auto_migrate, c.vector_updates, c.outbox_poll_millis, c.outbox_max_backoff_millis),
                (false, VectorUpdates::Outbox, 50, 700)
            );
            assert_eq!(c.effective_vector_updates(), VectorUpdates::Outbox);
            jail.set_env("QUESTION_ANSWER_VECTOR_UPDATES", "transaction");
            let c: Config = load(QUESTION_ANSWER.env_prefix).unwrap();
            assert_eq!(
                (c.vector_updates, c.effective_vector_updates()),
                (VectorUpdates::Transaction, VectorUpdates::Outbox),
                "MongoDB forces the outbox"
            );
            jail.set_env("QUESTION_ANSWER_MONGODB_URL", "");
            let c: Config = load(QUESTION_ANSWER.env_prefix).unwrap();
            assert_eq!((c.mongodb_url(), c.effective_vector_updates()), (None, VectorUpdates::Transaction));
            jail.set_env("QUESTION_ANSWER_VECTOR_UPDATES", "sometimes");
            assert!(load::<Config>(QUESTION_ANSWER.env_prefix).is_err());
            Ok(())
        });
    }
}
