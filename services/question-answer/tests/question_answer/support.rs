//! What the tests share: the service on a free port with a clock the test sets, tokens the test
//! issues, and a few calls.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use couple_common::{
    Role,
    clock::Clock,
    db::PoolSettings,
    test_util::{self, Backend, TestDatabase, TestServer, TestUser},
};
use question_answer::{Config, QuestionAnswer, store::Store};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// Noon in Seoul on 1 December 2026: where every test's clock starts.
pub fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap()
}

/// The service on a free port over a throwaway database, with a manual clock and a store on the
/// same database for checks behind the API.
pub struct TestApp {
    pub server: TestServer,
    pub clock: Clock,
    pub store: Arc<dyn Store>,
    pub admin: TestUser,
    _db: TestDatabase,
}

impl std::ops::Deref for TestApp {
    type Target = TestServer;

    fn deref(&self) -> &TestServer {
        &self.server
    }
}

/// The service on `backend`; `None` (the test skips) when PostgreSQL is asked for and not running.
pub async fn spawn(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let db = TestDatabase::create(backend).await?;
    let mut config = Config::default();
    config.database.database_url = db.url().to_owned();
    config.clock = Clock::manual(noon());
    config.outbox_poll_millis = 20;
    tweak(&mut config);
    let server = TestServer::spawn::<QuestionAnswer>(&config, &test_util::shared_config()).await;
    let store = question_answer::store::connect(db.url(), PoolSettings::default()).await.unwrap();
    Some(TestApp { server, clock: config.clock, store, admin: TestUser::with_role(None, Role::Admin), _db: db })
}

impl TestApp {
    /// A tag made by the admin; its id.
    pub async fn tag(&self, name: &str) -> String {
        let body = self.expect(Method::POST, "/api/tags", &self.admin, Some(json!({"name": name})), StatusCode::CREATED).await;
        body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// A question made by the admin from `body` (texts filled in); its id.
    pub async fn question(&self, mut body: Value) -> String {
        for (field, text) in [("question", "Which one?"), ("option1", "This"), ("option2", "That")] {
            body.as_object_mut().unwrap().entry(field).or_insert(json!(text));
        }
        let created = self.expect(Method::POST, "/api/questions", &self.admin, Some(body), StatusCode::CREATED).await;
        created["data"]["id"].as_str().unwrap().to_owned()
    }

    /// `user` answers `question` with `option`, expecting 201; the answer.
    pub async fn answer(&self, user: &TestUser, question: &str, option: &str) -> Value {
        let body = json!({"questionId": question, "selectedOption": option});
        self.expect(Method::POST, "/api/user-answers", user, Some(body), StatusCode::CREATED).await["data"].clone()
    }
}

/// A database of its own on a MongoDB server (a random name), dropped when this is dropped.
pub struct TestMongo {
    url: String,
    name: String,
}

impl TestMongo {
    /// A new database on the nx-27017 wire server `scripts/test-services.sh` starts
    /// (`TEST_MONGO_WIRE_URL`); `None` (the test skips) when it is not set, unless
    /// `COUPLE_REQUIRE_SERVERS=1`.
    pub fn wire() -> Option<Self> {
        test_util::require_env("TEST_MONGO_WIRE_URL").map(|url| Self::on(&url))
    }

    /// A new database on a real MongoDB (`TEST_MONGODB_URL`), which is optional: `None` (skip,
    /// even with `COUPLE_REQUIRE_SERVERS=1`) when it is not set.
    pub fn real() -> Option<Self> {
        match std::env::var("TEST_MONGODB_URL").ok().filter(|url| !url.is_empty()) {
            Some(url) => Some(Self::on(&url)),
            None => {
                eprintln!("skipped: TEST_MONGODB_URL is not set (a real MongoDB is optional)");
                None
            }
        }
    }

    /// A new database on the server of `server_url` (any database or options in it are kept
    /// apart: the name replaces the path).
    pub fn on(server_url: &str) -> Self {
        let (base, options) = server_url.split_once('?').map_or((server_url, None), |(b, o)| (b, Some(o)));
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let base = match base[scheme_end..].find('/') {
            Some(slash) => &base[..scheme_end + slash],
            None => base,
        };
        let name = format!("t_{}", Uuid::new_v4().simple());
        let url = match options {
            Some(options) => format!("{base}/{name}?{options}"),
            None => format!("{base}/{name}"),
        };
        Self { url, name }
    }

    /// The URL naming the database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A driver handle on the database, to look behind the store.
    pub async fn database(&self) -> mongodb::Database {
        mongodb::Client::with_uri_str(&self.url).await.unwrap().database(&self.name)
    }
}

impl Drop for TestMongo {
    fn drop(&mut self) {
        let url = self.url.clone();
        let name = self.name.clone();
        // Its own thread and runtime: a drop cannot await. Best effort: a stopped server keeps it.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async {
                let mut options = mongodb::options::ClientOptions::parse(&url).await?;
                options.server_selection_timeout = Some(std::time::Duration::from_secs(2));
                mongodb::Client::with_options(options)?.database(&name).drop().await
            })
        })
        .join();
    }
}
