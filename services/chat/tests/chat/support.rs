//! What the tests share: the service on a free port over a throwaway database, tokens the test
//! issues, and a few calls.

use std::sync::Arc;

use chat::{Chat, Config, store::Store};
use couple_common::{
    db::PoolSettings,
    test_util::{self, Backend, TestDatabase, TestServer, TestUser},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The service on a free port with a store on the same database, for checks behind the API.
pub struct TestApp {
    pub server: TestServer,
    pub store: Arc<dyn Store>,
    _db: TestDatabase,
}

impl std::ops::Deref for TestApp {
    type Target = TestServer;

    fn deref(&self) -> &TestServer {
        &self.server
    }
}

/// The service on `backend`; `None` (the test skips) when PostgreSQL is asked for and not running.
pub async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_with(backend, |_| {}).await
}

/// [`spawn`] with the configuration changed by `tweak`.
pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let db = TestDatabase::create(backend).await?;
    let mut config = Config::default();
    config.database.database_url = db.url().to_owned();
    tweak(&mut config);
    let server = TestServer::spawn::<Chat>(&config, &test_util::shared_config()).await;
    let store = chat::store::connect(db.url(), PoolSettings::default()).await.unwrap();
    Some(TestApp { server, store, _db: db })
}

impl TestApp {
    /// `user`'s rooms.
    pub async fn rooms(&self, user: &TestUser) -> Vec<Value> {
        self.get("/api/chat/rooms/", user).await.as_array().expect("a list").clone()
    }

    /// The id of the couple's default room (created by this first list).
    pub async fn default_room(&self, user: &TestUser) -> String {
        let rooms = self.rooms(user).await;
        assert_eq!(rooms[0]["isDefault"], true, "{rooms:?}");
        rooms[0]["id"].as_str().unwrap().to_owned()
    }

    /// A message `user` posts to `room`; its body.
    pub async fn post(&self, user: &TestUser, room: &str, text: &str) -> Value {
        let body = json!({"roomId": room, "message": text});
        self.expect(Method::POST, "/api/chat/messages/", user, Some(body), StatusCode::CREATED).await["data"].clone()
    }
}

/// The `key` of each item.
pub fn field<'a>(items: impl IntoIterator<Item = &'a Value>, key: &str) -> Vec<Value> {
    items.into_iter().map(|item| item[key].clone()).collect()
}
