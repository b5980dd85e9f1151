//! Helpers for tests (feature `test-util`): throwaway PostgreSQL databases on the server that
//! `make test` starts, the matching Redis URL, private servers a test may stop and restart, and a
//! fixed signing secret.

use uuid::Uuid;

use crate::config::SharedConfig;

mod servers;

pub use servers::{PrivatePostgres, PrivateRedis};

/// The signing secret test services share.
pub const TEST_JWT_SECRET: &str = "test-secret-0123456789abcdef-0123456789";

/// Shared configuration with [`TEST_JWT_SECRET`] and an internal token.
pub fn shared_config() -> SharedConfig {
    let mut config = SharedConfig::with_secret(TEST_JWT_SECRET);
    config.internal_token = Some("test-internal-token-0123456789abcdef".to_string().into());
    config
}

fn required_env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `make test`, which starts PostgreSQL and Redis and sets it"))
}

/// The admin URL of the test PostgreSQL server (`TEST_DATABASE_URL`).
pub fn postgres_admin_url() -> String {
    required_env("TEST_DATABASE_URL")
}

/// The test Redis server (`TEST_REDIS_URL`).
pub fn redis_url() -> String {
    required_env("TEST_REDIS_URL")
}

/// Creates a fresh, empty database on the test server and returns its URL.
pub async fn postgres_database() -> String {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let name = format!("t_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL server");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create a test database");
    conn.close().await.ok();
    let (base, _) = admin.rsplit_once('/').expect("TEST_DATABASE_URL ends with a database name");
    format!("{base}/{name}")
}

/// A SQLite URL for a fresh file in a new temporary directory (kept until the process exits).
pub fn sqlite_database() -> String {
    let dir = std::env::temp_dir().join(format!("couple-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    format!("sqlite://{}", dir.join("test.db").display())
}

/// A Redis key prefix unique to one test, so tests sharing a server never see each other's keys.
pub fn redis_prefix() -> String {
    format!("test:{}:", Uuid::new_v4().simple())
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
