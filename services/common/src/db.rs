//! Database connections: the URL chooses PostgreSQL or SQLite, and the pools are set up to fail
//! fast (a bounded acquire timeout) so a database outage becomes 503s rather than hung requests.
//!
//! A service's store is one trait with a PostgreSQL and a SQLite implementation. [`sql_store!`]
//! stamps what every such store has (the two structs, their migrations, a ping and the `connect`
//! dispatch on the URL); the service implements its trait for both, usually with one macro over
//! SQL written to the common subset, picking a statement per backend with [`Backend::pick`]
//! where the dialects differ.

use std::{str::FromStr, time::Duration};

#[doc(hidden)]
pub use async_trait::async_trait;
#[doc(hidden)]
pub use sqlx;
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

    /// The statement for this backend, for the few that the two dialects cannot share.
    pub const fn pick<'a>(self, postgres: &'a str, sqlite: &'a str) -> &'a str {
        match self {
            Self::Postgres => postgres,
            Self::Sqlite => sqlite,
        }
    }
}

/// A storage failure, already classified for the error mapping.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit (for example the email is taken). The service maps the ones it
    /// expects to its own errors; any other becomes a 409, never a 500.
    #[error("conflict")]
    Conflict,
    /// The database did not answer (503).
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// Anything else: a bug or a broken database (500).
    #[error("database error: {0}")]
    Other(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            e if is_unavailable(e) => Self::Unavailable(err),
            _ => Self::Other(err),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self::from(sqlx::Error::Migrate(Box::new(err)))
    }
}

impl From<StoreError> for crate::ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => Self::conflict(crate::error::codes::CONFLICT, "the request conflicts with stored data"),
            StoreError::Unavailable(_) => Self::unavailable("a dependency is unavailable, try again shortly"),
            StoreError::Other(_) => Self::internal(),
        }
    }
}

/// Store result.
pub type StoreResult<T> = Result<T, StoreError>;

/// What every store does besides its own queries; a service's store trait extends it.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// The backend behind the store.
    fn backend(&self) -> Backend;
    /// Applies the backend's migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;
}

/// Stamps a service's two store types and the `connect` dispatch between them:
///
/// ```ignore
/// couple_common::sql_store! {
///     /// The PostgreSQL backend.
///     pub struct PgStore(postgres, "migrations/postgres");
///     /// The SQLite backend.
///     pub struct SqliteStore(sqlite, "migrations/sqlite");
///     /// Opens the store the URL names.
///     pub async fn connect -> dyn Store;
/// }
/// ```
///
/// Each type gets `new`, `pool`, `const BACKEND` and [`Database`] (migrations from the path,
/// relative to the service's manifest, embedded at compile time). `connect` opens the pool the
/// URL names and returns it as the service's store trait, which the service implements for both.
#[macro_export]
macro_rules! sql_store {
    (
        $(#[$pg_doc:meta])* $pg_vis:vis struct $pg:ident(postgres, $pg_migrations:literal);
        $(#[$lite_doc:meta])* $lite_vis:vis struct $lite:ident(sqlite, $lite_migrations:literal);
        $(#[$connect_doc:meta])* $connect_vis:vis async fn connect -> dyn $store:ident;
    ) => {
        $crate::sql_store!(@one $(#[$pg_doc])* $pg_vis $pg, $crate::db::sqlx::PgPool, Postgres, $pg_migrations);
        $crate::sql_store!(@one $(#[$lite_doc])* $lite_vis $lite, $crate::db::sqlx::SqlitePool, Sqlite, $lite_migrations);

        $(#[$connect_doc])*
        $connect_vis async fn connect(
            url: &str,
            settings: $crate::db::PoolSettings,
        ) -> ::std::result::Result<::std::sync::Arc<dyn $store>, $crate::db::sqlx::Error> {
            Ok(match $crate::db::Backend::of(url)? {
                $crate::db::Backend::Postgres => ::std::sync::Arc::new($pg::new($crate::db::postgres_pool(url, settings)?)),
                $crate::db::Backend::Sqlite => ::std::sync::Arc::new($lite::new($crate::db::sqlite_pool(url, settings).await?)),
            })
        }
    };
    (@one $(#[$doc:meta])* $vis:vis $store:ident, $pool:ty, $backend:ident, $migrations:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        $vis struct $store {
            pool: $pool,
        }

        impl $store {
            /// The backend, for statements the two dialects cannot share.
            pub const BACKEND: $crate::db::Backend = $crate::db::Backend::$backend;

            /// A store over `pool`.
            pub fn new(pool: $pool) -> Self {
                Self { pool }
            }

            /// The underlying pool.
            pub fn pool(&self) -> &$pool {
                &self.pool
            }
        }

        #[$crate::db::async_trait]
        impl $crate::db::Database for $store {
            fn backend(&self) -> $crate::db::Backend {
                Self::BACKEND
            }

            async fn migrate(&self) -> $crate::db::StoreResult<()> {
                Ok(sqlx::migrate!($migrations).run(&self.pool).await?)
            }

            async fn ping(&self) -> $crate::db::StoreResult<()> {
                $crate::db::sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }
    };
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
    fn a_store_conflict_nobody_mapped_is_a_409_not_a_500() {
        let err = crate::ApiError::from(StoreError::Conflict);
        assert_eq!((err.status.as_u16(), err.code.as_ref()), (409, "CONFLICT"));
        let err = crate::ApiError::from(StoreError::from(sqlx::Error::PoolTimedOut));
        assert_eq!((err.status.as_u16(), err.code.as_ref()), (503, "SERVICE_UNAVAILABLE"));
        let err = crate::ApiError::from(StoreError::from(sqlx::Error::RowNotFound));
        assert_eq!((err.status.as_u16(), err.code.as_ref()), (500, "INTERNAL_ERROR"));
    }

    #[test]
    fn each_backend_picks_its_own_statement() {
        assert_eq!(Backend::Postgres.pick("NOW()", "datetime('now')"), "NOW()");
        assert_eq!(Backend::Sqlite.pick("NOW()", "datetime('now')"), "datetime('now')");
        assert_eq!(Backend::of("postgresql://x/y").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert!(Backend::of("mysql://x").is_err());
    }

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
