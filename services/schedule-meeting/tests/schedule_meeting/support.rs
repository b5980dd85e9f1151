//! What the tests share: the service on a free port with a clock the test sets, tokens the test
//! issues, and a few calls.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use couple_common::{
    clock::Clock,
    db::PoolSettings,
    test_util::{self, Backend, TestDatabase, TestServer, TestUser},
};
use reqwest::{Method, StatusCode};
use schedule_meeting::{Config, ScheduleMeeting, store::Store};
use serde_json::{Value, json};

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
    pub config: Config,
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

/// [`spawn`] with the configuration changed by `tweak` (peers, the public base URL).
pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let db = TestDatabase::create(backend).await?;
    let mut config = Config::default();
    config.database.database_url = db.url().to_owned();
    config.clock = Clock::manual(noon());
    tweak(&mut config);
    let server = TestServer::spawn::<ScheduleMeeting>(&config, &test_util::shared_config()).await;
    let store = schedule_meeting::store::connect(db.url(), PoolSettings::default()).await.unwrap();
    Some(TestApp { server, clock: config.clock.clone(), store, config, _db: db })
}

impl TestApp {
    /// A second instance of the service on the same database and clock, its configuration
    /// changed by `tweak` (a peer that is down, say).
    pub async fn another(&self, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = self.config.clone();
        tweak(&mut config);
        TestServer::spawn::<ScheduleMeeting>(&config, &test_util::shared_config()).await
    }

    /// A schedule `user` creates at `date_time`; its body.
    pub async fn schedule(&self, user: &TestUser, name: &str, date_time: &str) -> Value {
        let body = json!({"name": name, "dateTime": date_time});
        self.expect(Method::POST, "/api/schedules", user, Some(body), StatusCode::CREATED).await["data"].clone()
    }

    /// A meeting `user` creates from `body` (name, times and the first shipped place filled in); its body.
    pub async fn meeting(&self, user: &TestUser, mut body: Value) -> Value {
        let first = schedule_meeting::places::shipped().unwrap()[0].id().to_string();
        for (field, value) in [
            ("name", json!("Date")),
            ("date", json!("2026-12-24")),
            ("startTime", json!("17:00")),
            ("endTime", json!("21:00")),
            ("places", json!([first])),
        ] {
            body.as_object_mut().unwrap().entry(field).or_insert(value);
        }
        self.expect(Method::POST, "/api/meetings", user, Some(body), StatusCode::CREATED).await["data"].clone()
    }

    /// Every item of a list, following `page.nextCursor` with pages of `limit`; the pages' sizes too.
    pub async fn all_pages(&self, path: &str, user: &TestUser, limit: usize) -> (Vec<Value>, Vec<usize>) {
        let separator = if path.contains('?') { '&' } else { '?' };
        let (mut items, mut sizes, mut cursor) = (Vec::new(), Vec::new(), None::<String>);
        loop {
            let mut url = format!("{path}{separator}limit={limit}");
            if let Some(cursor) = &cursor {
                url += &format!("&cursor={cursor}");
            }
            let body = self.expect(Method::GET, &url, user, None, StatusCode::OK).await;
            let page = body["data"].as_array().unwrap().clone();
            sizes.push(page.len());
            items.extend(page);
            match body["page"]["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return (items, sizes),
            }
        }
    }
}

/// The `key` of each item.
pub fn field(items: &[Value], key: &str) -> Vec<Value> {
    items.iter().map(|item| item[key].clone()).collect()
}
