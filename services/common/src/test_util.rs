//! Helpers for tests (feature `test-util`): the backend matrix (throwaway SQLite and PostgreSQL
//! databases, dropped when the test ends), the Redis server `make test` starts, private servers
//! a test may stop and restart, a service on a free port, and a fixed signing secret.
//!
//! Tests that need a server which is not running skip, printing how to start it, unless
//! `COUPLE_REQUIRE_SERVERS=1` (which `make test` and CI set): then they fail.
//!
//! A test run on both backends (with `rstest` as a dev-dependency):
//!
//! ```ignore
//! #[rstest]
//! #[tokio::test]
//! async fn users_round_trip(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
//!     let Some(db) = TestDatabase::create(backend).await else { return };
//!     let store = my_service::store::connect(db.url(), Default::default()).await.unwrap();
//!     // ...
//! }
//! ```

use std::path::PathBuf;

use axum::Router;
use uuid::Uuid;

use crate::{
    config::SharedConfig,
    kit::ServiceMain,
    shutdown::{self, ShutdownTrigger},
};

pub mod chat_socket;
mod servers;

pub use crate::db::Backend;
pub use servers::{PrivateMongo, PrivatePostgres, PrivateRedis, free_port};

/// The signing secret test services share.
pub const TEST_JWT_SECRET: &str = "test-secret-0123456789abcdef-0123456789";

/// The internal token of [`shared_config`].
pub const TEST_INTERNAL_TOKEN: &str = "test-internal-token-0123456789abcdef";

/// How to get the servers the tests need.
pub const START_SERVERS: &str = "run `make services-up` and `source .tmp/test-services/env`, or run `make test`";

/// Shared configuration with [`TEST_JWT_SECRET`] and [`TEST_INTERNAL_TOKEN`].
pub fn shared_config() -> SharedConfig {
    let mut config = SharedConfig::with_secret(TEST_JWT_SECRET);
    config.internal_token = Some(TEST_INTERNAL_TOKEN.to_string().into());
    config
}

/// An access token for `user_id` in `couple_id` with `role`, signed with [`shared_config`]'s key
/// as user-couple issues it (token version 0): what a service's black-box tests call it with.
pub fn access_token(user_id: Uuid, couple_id: Option<Uuid>, role: crate::Role) -> String {
    let keys = crate::JwtKeys::from_config(&shared_config());
    keys.issue(crate::jwt::TokenSubject { user_id, couple_id, role, version: 0 }).0
}

/// A caller in a service's black-box tests: their id, couple, and a token for them as user-couple
/// issues it.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub couple_id: Option<Uuid>,
    pub token: String,
}

impl TestUser {
    /// A new user in `couple_id` (or in none).
    pub fn new(couple_id: Option<Uuid>) -> Self {
        Self::with_role(couple_id, crate::Role::User)
    }

    /// A new user in `couple_id` with `role`.
    pub fn with_role(couple_id: Option<Uuid>, role: crate::Role) -> Self {
        let id = Uuid::now_v7();
        Self { id, couple_id, token: access_token(id, couple_id, role) }
    }
}

/// Two users in one new couple, and the couple's id.
pub fn test_couple() -> (TestUser, TestUser, Uuid) {
    let couple = Uuid::now_v7();
    (TestUser::new(Some(couple)), TestUser::new(Some(couple)), couple)
}

/// The value of `name`, which names a test server. When it is unset the test cannot run: with
/// `COUPLE_REQUIRE_SERVERS=1` this panics, otherwise it prints why the test is skipped and
/// returns `None` (the test then returns early).
pub fn require_env(name: &str) -> Option<String> {
    if let Some(value) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
        return Some(value);
    }
    let message = format!("{name} is not set: {START_SERVERS}");
    assert!(std::env::var("COUPLE_REQUIRE_SERVERS").as_deref() != Ok("1"), "{message} (COUPLE_REQUIRE_SERVERS=1)");
    eprintln!("skipped: {message}");
    None
}

/// The admin URL of the test PostgreSQL server (`TEST_DATABASE_URL`).
pub fn postgres_admin_url() -> Option<String> {
    require_env("TEST_DATABASE_URL")
}

/// The test Redis server (`TEST_REDIS_URL`).
pub fn redis_url() -> Option<String> {
    require_env("TEST_REDIS_URL")
}

/// A Redis key prefix unique to one test, so tests sharing a server never see each other's keys.
pub fn redis_prefix() -> String {
    format!("test:{}:", Uuid::new_v4().simple())
}

/// A fresh, empty database of either backend, removed when dropped: a PostgreSQL database on
/// the test server (dropped even while connections remain) or a SQLite file in its own directory.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Drop { admin_url: String, name: String },
    Remove(PathBuf),
}

impl TestDatabase {
    /// A new database on `backend`; `None` (skip) when PostgreSQL is asked for and not running.
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A new SQLite database in a new temporary directory.
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("couple-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        Self { url: format!("sqlite://{}", dir.join("test.db").display()), cleanup: Cleanup::Remove(dir) }
    }

    /// A new database on the test PostgreSQL server; `None` (skip) when it is not running.
    pub async fn postgres() -> Option<Self> {
        use sqlx::Connection;
        let admin_url = postgres_admin_url()?;
        let name = format!("t_{}", Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("connect to the test PostgreSQL server");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create a test database");
        conn.close().await.ok();
        let (base, _) = admin_url.rsplit_once('/').expect("TEST_DATABASE_URL ends with a database name");
        Some(Self { url: format!("{base}/{name}"), cleanup: Cleanup::Drop { admin_url, name } })
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Remove(dir) => {
                std::fs::remove_dir_all(dir).ok();
            }
            Cleanup::Drop { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Its own thread and runtime: a drop cannot await, and the test's runtime may be
                // a current-thread one that is blocked here.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                    runtime.block_on(async {
                        use sqlx::Connection;
                        let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
                        conn.close().await
                    })
                });
                if let Ok(Err(err)) = dropped.join() {
                    eprintln!("could not drop a test database: {err}");
                }
            }
        }
    }
}

/// A service serving on a free loopback port until dropped.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client for it.
    pub http: reqwest::Client,
    _stop: ShutdownTrigger,
}

impl TestServer {
    /// Serves `app`.
    pub async fn start(app: Router) -> Self {
        let (stop, shutdown) = shutdown::channel();
        Self::serve(app, stop, shutdown).await
    }

    /// Builds and serves the service `S` as its binary would.
    pub async fn spawn<S: ServiceMain>(config: &S::Config, shared: &SharedConfig) -> Self {
        let (stop, shutdown) = shutdown::channel();
        let app = S::build(config, shared, shutdown.clone()).await.expect("the service builds");
        Self::serve(app, stop, shutdown).await
    }

    async fn serve(app: Router, stop: ShutdownTrigger, shutdown: shutdown::Shutdown) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
        let base = format!("http://{}", listener.local_addr().expect("a local address"));
        tokio::spawn(crate::server::serve(listener, app, shutdown, std::time::Duration::from_secs(1)));
        Self { base, http: reqwest::Client::new(), _stop: stop }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a JSON request and returns the status and the JSON body (`null` when there is none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        call(&self.http, &self.base, method, path, token, body).await
    }

    /// A call as `user`, asserting the status; the body.
    pub async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        user: &TestUser,
        body: Option<serde_json::Value>,
        status: reqwest::StatusCode,
    ) -> serde_json::Value {
        let (got, body) = self.call(method.clone(), path, Some(&user.token), body).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        body
    }

    /// `GET` as `user`, expecting 200; the `data`.
    pub async fn get(&self, path: &str, user: &TestUser) -> serde_json::Value {
        self.expect(reqwest::Method::GET, path, user, None, reqwest::StatusCode::OK).await["data"].clone()
    }

    /// The field names of a 422 `VALIDATION_FAILED` for `body`.
    pub async fn invalid(
        &self,
        method: reqwest::Method,
        path: &str,
        user: &TestUser,
        body: impl Into<Option<serde_json::Value>>,
    ) -> Vec<String> {
        let body = self.expect(method, path, user, body.into(), reqwest::StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["error"]["code"], "VALIDATION_FAILED", "{body}");
        body["error"]["fields"].as_object().expect("fields").keys().cloned().collect()
    }
}

/// Sends a JSON request and returns the status and the JSON body (`null` when there is none):
/// the one call every black-box test makes.
pub async fn call(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut req = http.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("the server answers");
    let status = res.status();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

/// The `$ref`s of an OpenAPI document that point at no schema in its components: a document a
/// client generator can load has none.
pub fn dangling_refs(doc: &serde_json::Value) -> Vec<String> {
    fn collect(value: &serde_json::Value, refs: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                refs.extend(map.get("$ref").and_then(serde_json::Value::as_str).map(str::to_owned));
                map.values().for_each(|v| collect(v, refs));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, refs)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    collect(doc, &mut refs);
    refs.retain(|r| !doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")].is_object());
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangling_references_are_found() {
        let doc = serde_json::json!({
            "paths": {"/x": {"get": {"responses": {"200": {"$ref": "#/components/schemas/A"}, "404": {"$ref": "#/components/schemas/B"}}}}},
            "components": {"schemas": {"A": {"type": "object"}}}
        });
        assert_eq!(dangling_refs(&doc), ["#/components/schemas/B"]);
    }

    #[tokio::test]
    async fn a_sqlite_test_database_is_deleted_when_dropped() {
        let db = TestDatabase::sqlite();
        let pool = crate::db::sqlite_pool(db.url(), Default::default()).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&pool).await.unwrap();
        pool.close().await;
        let dir = PathBuf::from(db.url().trim_start_matches("sqlite://")).parent().unwrap().to_owned();
        assert!(dir.exists());
        drop(db);
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn a_postgres_test_database_is_dropped_even_with_open_connections() {
        let Some(db) = TestDatabase::postgres().await else { return };
        let pool = crate::db::postgres_pool(db.url(), Default::default()).unwrap();
        sqlx::query("SELECT 1").execute(&pool).await.unwrap();
        let Cleanup::Drop { admin_url, name } = &db.cleanup else { panic!("a PostgreSQL database") };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        drop(db);
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1").bind(&name).fetch_one(&mut conn).await.unwrap();
        assert_eq!(left, 0);
    }
}
