//! What the tests share: the service on a free port with a clock the test sets, tokens the test
//! issues, and a few calls.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use couple_common::{
    JwtKeys, Role,
    clock::Clock,
    db::PoolSettings,
    jwt::TokenSubject,
    test_util::{self, Backend, TestDatabase, TestServer},
};
use question_answer::{Config, QuestionAnswer, store::Store};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// Noon in Seoul on 1 December 2026: where every test's clock starts.
pub fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap()
}

/// A caller: their id and token.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub token: String,
}

/// Issues a token as user-couple would.
pub fn user(couple: Option<Uuid>, role: Role) -> User {
    let id = Uuid::now_v7();
    let keys = JwtKeys::from_config(&test_util::shared_config());
    let (token, _) = keys.issue(TokenSubject { user_id: id, couple_id: couple, role, version: 0 });
    User { id, token }
}

/// Two users in one couple.
pub fn couple() -> (User, User) {
    let couple = Some(Uuid::now_v7());
    (user(couple, Role::User), user(couple, Role::User))
}

/// The service on a free port over a throwaway database, with a manual clock and a store on the
/// same database for checks behind the API.
pub struct TestApp {
    pub server: TestServer,
    pub clock: Clock,
    pub store: Arc<dyn Store>,
    pub admin: User,
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
    Some(TestApp { server, clock: config.clock, store, admin: user(None, Role::Admin), _db: db })
}

impl TestApp {
    /// A call as `user`, asserting the status; the body.
    pub async fn expect(&self, method: Method, path: &str, user: &User, body: Option<Value>, status: StatusCode) -> Value {
        let (got, body) = self.call(method.clone(), path, Some(&user.token), body).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        body
    }

    /// `GET` as `user`, expecting 200; the `data`.
    pub async fn get(&self, path: &str, user: &User) -> Value {
        self.expect(Method::GET, path, user, None, StatusCode::OK).await["data"].clone()
    }

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
    pub async fn answer(&self, user: &User, question: &str, option: &str) -> Value {
        let body = json!({"questionId": question, "selectedOption": option});
        self.expect(Method::POST, "/api/user-answers", user, Some(body), StatusCode::CREATED).await["data"].clone()
    }
}
