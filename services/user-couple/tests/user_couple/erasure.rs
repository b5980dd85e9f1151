//! Erasure in the services that hold user or couple data: the worker against a real HTTP server
//! standing in for a service (it refuses at first, then confirms), and the whole path through
//! the service's `DELETE /api/users/me`, for accounts and for couples.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Request, State},
    http::StatusCode,
    routing::delete,
};
use chrono::Utc;
use couple_common::{
    config::PeerUrls,
    db::PoolSettings,
    net::INTERNAL_TOKEN_HEADER,
    shutdown,
    test_util::{Backend, TEST_INTERNAL_TOKEN, TestDatabase, TestServer},
};
use couple_registry::{QUESTION_ANSWER, SCHEDULE_MEETING, USER_COUPLE};
use reqwest::Method;
use rstest::rstest;
use user_couple::{
    erasure::{Backoff, Target, Worker, WorkerSettings},
    store::{self, EraseIn, ErasureKind, NewUser, Store},
};
use uuid::Uuid;

use crate::api::{claims, spawn, unique_email};

/// One call the stand-in received: the path and the internal token header.
type Call = (String, Option<String>);

/// A stand-in for a service's `DELETE /internal/users/{id}` and `DELETE /internal/couples/{id}`:
/// answers 503 to the first `refusals` calls of each path and 204 after, recording each call's
/// path and internal token.
#[derive(Clone, Default)]
struct FakeService {
    refusals: usize,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl FakeService {
    async fn start(refusals: usize) -> (Self, TestServer) {
        let fake = Self { refusals, ..Self::default() };
        let app = Router::new()
            .route("/internal/users/{id}", delete(Self::erase))
            .route("/internal/couples/{id}", delete(Self::erase))
            .with_state(fake.clone());
        (fake, TestServer::start(app).await)
    }

    async fn erase(State(fake): State<Self>, request: Request) -> StatusCode {
        let token = request.headers().get(INTERNAL_TOKEN_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let path = request.uri().path().to_owned();
        let mut calls = fake.calls.lock().unwrap();
        let earlier = calls.iter().filter(|(called, _)| *called == path).count();
        calls.push((path, token));
        if earlier < fake.refusals { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::NO_CONTENT }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls to `path`.
    fn calls_to(&self, path: &str) -> usize {
        self.calls().iter().filter(|(called, _)| called == path).count()
    }
}

/// A call to `path` with the internal token.
fn call(path: String) -> Call {
    (path, Some(TEST_INTERNAL_TOKEN.to_owned()))
}

fn settings(initial_ms: u64) -> WorkerSettings {
    WorkerSettings {
        backoff: Backoff { initial: Duration::from_millis(initial_ms), max: Duration::from_millis(initial_ms * 2) },
        poll: Duration::from_millis(20),
        lease: Duration::from_secs(60),
        request_timeout: Duration::from_secs(2),
        batch: 8,
    }
}

async fn deleted_user(store: &dyn Store, erase_in: EraseIn<'_>) -> Uuid {
    let email = unique_email();
    let user = NewUser {
        id: Uuid::now_v7(),
        email_key: email.to_lowercase(),
        email,
        password_hash: "$argon2id$fake".into(),
        name: "Mina".into(),
        gender: "F",
        birth: chrono::NaiveDate::from_ymd_opt(1998, 4, 12).unwrap(),
        fcm_code: None,
        send_time: None,
        role: "user",
        now: Utc::now(),
    };
    let user = store.create_user(user).await.unwrap();
    store.delete_user(user.id, Utc::now(), erase_in).await.unwrap();
    user.id
}

#[rstest]
#[tokio::test]
async fn the_worker_retries_with_backoff_until_the_service_confirms(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else { return };
    let store = store::connect(db.url(), PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    let (fake, server) = FakeService::start(2).await;
    let user = deleted_user(store.as_ref(), EraseIn { users: &["question-answer", "chat"], couples: &[] }).await;
    let targets = vec![
        Target { service: "question-answer", url: server.base.clone() },
        // Nothing listens there: a connection error is retried like a refusal.
        Target { service: "chat", url: "http://127.0.0.1:9".into() },
    ];
    let (worker, erasure) = Worker::new(store.clone(), targets, TEST_INTERNAL_TOKEN.to_owned().into(), settings(400)).unwrap();
    assert_eq!(erasure.erase_in().users, ["question-answer", "chat"]);
    assert_eq!(erasure.erase_in().couples, ["question-answer", "chat"], "both hold couple data too");

    assert_eq!(worker.deliver_due().await.unwrap(), 0, "503: not confirmed");
    assert_eq!(fake.calls(), [call(format!("/internal/users/{user}"))]);
    assert_eq!(worker.deliver_due().await.unwrap(), 0);
    assert_eq!(fake.calls().len(), 1, "no new attempt before the backoff has passed");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(worker.deliver_due().await.unwrap(), 0, "503 again");
    assert_eq!(fake.calls().len(), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(worker.deliver_due().await.unwrap(), 0, "the doubled wait (800 ms) has not passed");
    assert_eq!(fake.calls().len(), 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(worker.deliver_due().await.unwrap(), 1, "204: confirmed");
    assert_eq!(fake.calls().len(), 3);
    assert_eq!(store.pending_erasures(ErasureKind::User, "question-answer").await.unwrap(), 0, "the confirmed row is gone");
    assert_eq!(store.pending_erasures(ErasureKind::User, "chat").await.unwrap(), 1, "the unreachable service's row waits");
    assert_eq!(worker.deliver_due().await.unwrap(), 0);
    assert_eq!(fake.calls().len(), 3, "nothing more to deliver");
}

#[tokio::test]
async fn a_running_worker_delivers_when_woken_and_stops_on_shutdown() {
    let db = TestDatabase::sqlite();
    let store = store::connect(db.url(), PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    let (fake, server) = FakeService::start(0).await;
    let targets = vec![Target { service: "question-answer", url: server.base.clone() }];
    let mut slow = settings(50);
    slow.poll = Duration::from_secs(3600);
    let (worker, erasure) = Worker::new(store.clone(), targets, TEST_INTERNAL_TOKEN.to_owned().into(), slow).unwrap();
    let (stop, shutdown) = shutdown::channel();
    let running = tokio::spawn(worker.run(shutdown));
    let user = deleted_user(store.as_ref(), erasure.erase_in()).await;
    erasure.wake();
    wait_until(|| fake.calls().len() == 1).await;
    assert_eq!(fake.calls()[0].0, format!("/internal/users/{user}"));
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("the worker stops on shutdown").unwrap();
}

/// Waits for `done`, failing after 15 s (a few one-second retries on a loaded machine).
async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("not done within 15 s");
}

#[rstest]
#[tokio::test]
async fn deleting_an_account_erases_it_in_the_configured_services(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let (fake, server) = FakeService::start(1).await;
    let Some(app) = spawn(backend, |config| {
        config.erasure_services = "question-answer".into();
        config.peers = PeerUrls::default().with(&QUESTION_ANSWER, server.base.clone());
    })
    .await
    else {
        return;
    };
    let (token, _) = app.user(&unique_email()).await;
    let user_id = claims(&token)["sub"].as_str().unwrap().to_owned();
    let (status, _) = app.call(Method::DELETE, "/api/users/me", Some(&token), None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    // The first attempt is refused; the retry a second later confirms.
    wait_until(|| fake.calls().len() == 2).await;
    assert_eq!(fake.calls(), [call(format!("/internal/users/{user_id}")), call(format!("/internal/users/{user_id}"))]);
    wait_until_done(app.store().await.as_ref(), ErasureKind::User, "question-answer").await;
}

/// Waits until nothing of `kind` is queued for `service`.
async fn wait_until_done(store: &dyn Store, kind: ErasureKind, service: &str) {
    for _ in 0..600 {
        if store.pending_erasures(kind, service).await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the confirmed erasure is still queued");
}

#[rstest]
#[tokio::test]
async fn a_couple_is_erased_once_no_former_member_has_an_account(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    // Down at first: the couple's erasure is refused twice, and confirmed by the second retry.
    let (fake, server) = FakeService::start(2).await;
    let Some(app) = spawn(backend, |config| {
        config.erasure_services = "schedule-meeting".into();
        config.erasure_retry_max_secs = 1;
        config.peers = PeerUrls::default().with(&SCHEDULE_MEETING, server.base.clone());
    })
    .await
    else {
        return;
    };
    let (a_email, b_email) = (unique_email(), unique_email());
    let (a, _, couple_id) = app.couple_of(&a_email, &b_email).await;
    let (status, _) = app.call(Method::DELETE, "/api/couples/me", Some(&a), None).await;
    assert_eq!(status, reqwest::StatusCode::OK, "broken up");
    let store = app.store().await;
    let couple_path = format!("/internal/couples/{couple_id}");
    let known = async || {
        let url = app.url(&couple_path);
        app.http.get(url).header(INTERNAL_TOKEN_HEADER, TEST_INTERNAL_TOKEN).send().await.unwrap().status()
    };

    // A goes: B, a former member, still has an account, so the couple stays.
    let a = app.login(&a_email).await["accessToken"].as_str().unwrap().to_owned();
    let (status, _) = app.call(Method::DELETE, "/api/users/me", Some(&a), None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(store.pending_erasures(ErasureKind::Couple, "schedule-meeting").await.unwrap(), 0);
    assert_eq!(known().await, reqwest::StatusCode::OK);

    // B goes: nobody of the couple is left, so it is erased here and queued there.
    let b = app.login(&b_email).await["accessToken"].as_str().unwrap().to_owned();
    let b_id = claims(&b)["sub"].as_str().unwrap().to_owned();
    let (status, _) = app.call(Method::DELETE, "/api/users/me", Some(&b), None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(known().await, reqwest::StatusCode::NOT_FOUND);
    wait_until(|| fake.calls_to(&couple_path) == 3).await;
    wait_until_done(store.as_ref(), ErasureKind::Couple, "schedule-meeting").await;
    let calls = fake.calls();
    assert!(calls.iter().all(|(_, token)| token.as_deref() == Some(TEST_INTERNAL_TOKEN)), "{calls:?}");
    assert!(calls.contains(&call(format!("/internal/users/{b_id}"))), "schedule-meeting holds user data too: {calls:?}");
    let couples: Vec<_> = calls.iter().filter(|(path, _)| path.starts_with("/internal/couples/")).collect();
    assert_eq!(couples.len(), 3, "one couple, erased once (after two refusals): {calls:?}");
}

#[tokio::test]
async fn without_erasure_services_a_deletion_queues_nothing() {
    let app = spawn(Backend::Sqlite, |_| {}).await.unwrap();
    let (token, _) = app.user(&unique_email()).await;
    let (status, _) = app.call(Method::DELETE, "/api/users/me", Some(&token), None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let store = app.store().await;
    for target in USER_COUPLE.erasure_targets() {
        for kind in ErasureKind::ALL {
            assert_eq!(store.pending_erasures(kind, target.name).await.unwrap(), 0, "{}", target.name);
        }
    }
}

#[tokio::test]
async fn erasure_services_without_an_internal_token_or_unknown_ones_refuse_to_start() {
    let db = TestDatabase::sqlite();
    let mut config = user_couple::Config::default();
    config.database.database_url = db.url().to_owned();
    config.erasure_services = "chat".into();
    let mut shared = couple_common::test_util::shared_config();
    shared.internal_token = None;
    let (_stop, shutdown) = shutdown::channel();
    let err = user_couple::build(&config, &shared, shutdown.clone()).await.unwrap_err();
    assert!(err.to_string().contains("needs COUPLE_INTERNAL_TOKEN"), "{err}");
    config.erasure_services = "chat,gateway".into();
    let err = user_couple::build(&config, &couple_common::test_util::shared_config(), shutdown).await.unwrap_err();
    assert!(err.to_string().contains("`gateway` is not one of"), "{err}");
}
