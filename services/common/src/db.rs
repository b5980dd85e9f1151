//! Database connections: the URL chooses PostgreSQL or SQLite, and the pools are set up to fail
//! fast (a bounded acquire timeout) so a database outage becomes 503s rather than hung requests.

use std::{str::FromStr, time::Duration};

use sqlx::{
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous},
};

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite:` (a file path, or `sqlite::memory:`).
    Sqlite,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of(url: &str) -> Result<Self, sqlx::Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(sqlx::Error::Configuration("database URL must start with postgres:// or sqlite:".into()))
        }
    }
}

/// Pool sizing and timeouts.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections held.
    pub max_connections: u32,
    /// How long a request waits for a connection before giving up with 503.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(3) }
    }
}

/// A PostgreSQL pool. Connects lazily, so the service starts (and reports not ready) while the
/// database is still coming up.
///
/// Pooled connections are pinged before use: a restarted (or failed-over) server has terminated
/// them all, and a request should get a fresh connection rather than a 503 for a dead one. That
/// costs one round trip per acquire.
pub fn postgres_pool(url: &str, settings: PoolSettings) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(true)
        .connect_lazy_with(options))
}

/// A SQLite pool on a file (created when missing) in WAL mode with foreign keys on.
pub async fn sqlite_pool(url: &str, settings: PoolSettings) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    if let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
    }
    SqlitePoolOptions::new()
        .max_connections(settings.max_connections.min(8))
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await
}

/// Whether an error means the database could not be reached (so the answer is 503, not 500).
///
/// Besides failing to connect, that includes a server saying it is going away or not ready: a
/// PostgreSQL shut down or restarted terminates every pooled connection with `57P01`, and the next
/// query on each reports that rather than an I/O error.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_unavailable_sqlstate(&code)),
        _ => false,
    }
}

/// SQLSTATEs of a server that is unreachable for now: class 08 (connection exception),
/// `57P01`–`57P03` (shutting down, crashed, not accepting connections yet) and `53300` (too many
/// connections).
fn is_unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_going_away_is_unavailable_but_a_bad_query_is_not() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300"] {
            assert!(is_unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "57014"] {
            assert!(!is_unavailable_sqlstate(code), "{code}");
        }
    }
}
