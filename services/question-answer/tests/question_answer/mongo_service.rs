//! The service with its vectors in MongoDB: the vector endpoints, internal reads and erasure use
//! it, and it rides out a MongoDB outage: answers keep getting 201 (they queue in the relational
//! outbox), vector reads answer 503 fast, and once MongoDB is back every user's vector is their
//! answers' deltas applied once each, in order, clamped.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use couple_common::test_util::{Backend, PrivateMongo, TEST_INTERNAL_TOKEN, TestUser};
use question_answer::store::{MongoVectors, VectorStore};
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};

use crate::support::{TestApp, TestMongo, spawn};

const USERS: usize = 4;
const QUESTIONS: usize = 10;

/// Question `q`'s deltas for option 1 and option 2 on `vec1`..`vec3`: big enough that clamping
/// happens and the order matters.
fn question_deltas(q: usize) -> [[f64; 3]; 2] {
    let a = [0.7, -0.45, 0.9, 0.35, -0.8, 0.6, -0.25, 0.55, 0.95, -0.7][q];
    let b = [-0.3, 0.65, 0.4, -0.9, 0.5, -0.15, 0.85, -0.6, 0.2, 0.75][q];
    [[a, b, 0.0], [-b, 0.0, a]]
}

fn delta_body(d: [f64; 3]) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    for (i, value) in d.iter().enumerate().filter(|(_, v)| **v != 0.0) {
        body.insert(format!("vec{}", i + 1), json!(value));
    }
    body.into()
}

/// User `u`'s answers in the order they are posted: every question once, each user in an order
/// and with choices of their own.
fn plan(u: usize) -> Vec<(usize, usize)> {
    (0..QUESTIONS).map(|i| ((i * 3 + u * 7) % QUESTIONS, (i * i + u) % 2)).collect()
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_queue_through_a_mongodb_outage_and_apply_once_each_in_order(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(mongo) = PrivateMongo::start().await else { return };
    let database = TestMongo::on(&mongo.url());
    let url = database.url().to_owned();
    // `transaction` is asked for and overridden: MongoDB cannot join the answer's transaction.
    let Some(app) = spawn(backend, |c| {
        c.mongo.mongodb_url = Some(url);
        c.mongodb_timeout_millis = 1000;
        c.outbox_max_backoff_millis = 500;
    })
    .await
    else {
        return;
    };
    let app = Arc::new(app);
    let mut questions = Vec::new();
    for q in 0..QUESTIONS {
        let [one, two] = question_deltas(q);
        questions.push(app.question(json!({"vectorDeltas": {"1": delta_body(one), "2": delta_body(two)}})).await);
    }
    let users: Vec<TestUser> = (0..USERS).map(|_| TestUser::new(None)).collect();
    let (_, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert!(ready.to_string().contains("mongodb"), "readiness reports MongoDB: {ready}");

    // Answers arrive all along, round-robin over the users, each expecting 201.
    let posted = Arc::new(AtomicUsize::new(0));
    let answering = {
        let (app, users, questions, posted) = (app.clone(), users.clone(), questions.clone(), posted.clone());
        tokio::spawn(async move {
            for i in 0..QUESTIONS {
                for (u, me) in users.iter().enumerate() {
                    let (q, choice) = plan(u)[i];
                    app.answer(me, &questions[q], if choice == 0 { "1" } else { "2" }).await;
                    posted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        })
    };
    let total = USERS * QUESTIONS;
    let wait_posted = |n: usize| {
        let posted = posted.clone();
        async move {
            while posted.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };

    wait_posted(total / 5).await;
    mongo.stop().await;
    let down_at = posted.load(Ordering::SeqCst);
    // While MongoDB is down, a vector read is a 503 within a couple of seconds, and so is readiness.
    let started = Instant::now();
    let (status, body) = app.call(Method::GET, "/api/user-vectors/my-vector", Some(&users[0].token), None).await;
    let took = started.elapsed();
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE")), "{body}");
    assert!(took < Duration::from_millis(2500), "the 503 took {took:?}");
    let (status, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    // Some answers get their 201 while MongoDB is down.
    wait_posted(down_at + 2 * USERS).await;
    assert!(!app.store.pending_vector_updates(1000).await.unwrap().is_empty(), "their deltas wait in the outbox");
    mongo.resume().await;
    answering.await.expect("every answer got 201");

    // Drain: the outbox empties and every vector is what the answers make, applied once each.
    let vectors = MongoVectors::connect(database.url(), Duration::from_secs(2)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !app.store.pending_vector_updates(1000).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the outbox did not drain after MongoDB came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (u, me) in users.iter().enumerate() {
        let mut expected = [0.0_f64; 3];
        for (q, choice) in plan(u) {
            for (slot, delta) in expected.iter_mut().zip(question_deltas(q)[choice]) {
                *slot = (*slot + delta).clamp(-1.0, 1.0);
            }
        }
        let stored = vectors.get_vector(me.id).await.unwrap().expect("a vector for every user");
        assert_eq!(stored.applied_seq, QUESTIONS as i64, "user {u}: every answer applied once");
        for (k, want) in expected.iter().enumerate() {
            assert!((stored.vector.0[k] - want).abs() < 1e-9, "user {u} vec{}: {} != {want}", k + 1, stored.vector.0[k]);
        }
        assert!(stored.vector.0[3..].iter().all(|v| *v == 0.0));
        let served = app.get("/api/user-vectors/my-vector", me).await;
        assert!((served["vectors"]["vec1"].as_f64().unwrap() - expected[0]).abs() < 1e-9, "the API serves MongoDB's vector: {served}");
    }
    // Nothing went into the relational vectors.
    assert!(app.store.get_vector(users[0].id).await.unwrap().is_none());
}

/// The service on SQLite with its vectors in the MongoDB database `mongo`, and a store on it.
async fn on_mongo(mongo: &TestMongo) -> (TestApp, MongoVectors) {
    let url = mongo.url().to_owned();
    let app = spawn(Backend::Sqlite, |c| {
        c.mongo.mongodb_url = Some(url);
        c.mongodb_timeout_millis = 1000;
        c.outbox_max_backoff_millis = 300;
    })
    .await
    .expect("SQLite needs no server");
    (app, MongoVectors::connect(mongo.url(), Duration::from_secs(2)).await.unwrap())
}

async fn internal(app: &TestApp, method: Method, path: &str) -> (StatusCode, Value) {
    let res = app.http.request(method, app.url(path)).header("x-internal-token", TEST_INTERNAL_TOKEN).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Waits until the outbox is empty.
async fn drained(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !app.store.pending_vector_updates(1000).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_vector_endpoints_and_internal_reads_use_mongodb() {
    let Some(mongo) = TestMongo::wire() else { return };
    let (app, vectors) = on_mongo(&mongo).await;
    let me = TestUser::new(None);
    app.expect(Method::GET, "/api/user-vectors/my-vector", &me, None, StatusCode::NOT_FOUND).await;
    app.expect(Method::POST, "/api/user-vectors", &me, None, StatusCode::CREATED).await;
    let conflict = app.expect(Method::POST, "/api/user-vectors", &me, None, StatusCode::CONFLICT).await;
    assert_eq!(conflict["error"]["code"], "VECTOR_EXISTS");
    let put = json!({"vectors": {"vec2": 0.5, "vec50": -1}});
    app.expect(Method::PUT, "/api/user-vectors/my-vector", &me, Some(put), StatusCode::OK).await;
    app.expect(Method::PUT, "/api/user-vectors/my-vector/vec3?value=-0.25", &me, None, StatusCode::OK).await;
    let stored = vectors.get_vector(me.id).await.unwrap().expect("the vector is in MongoDB");
    assert_eq!((stored.vector.0[1], stored.vector.0[2], stored.vector.0[49]), (0.5, -0.25, -1.0));
    assert_eq!(app.store.get_vector(me.id).await.unwrap(), None, "and not in the relational store");
    let served = app.get("/api/user-vectors/my-vector", &me).await;
    assert_eq!((served["vectors"]["vec2"].as_f64(), served["vectors"]["vec3"].as_f64()), (Some(0.5), Some(-0.25)));

    // An answer reaches the MongoDB vector through the outbox (the configuration asked for
    // nothing: MongoDB implies it).
    let q = app.question(json!({"vectorDeltas": {"1": {"vec2": 0.75}}})).await;
    app.answer(&me, &q, "1").await;
    drained(&app).await;
    let (status, body) = internal(&app, Method::GET, &format!("/internal/user-vectors/{}", me.id)).await;
    assert_eq!((status, body["data"]["vectors"]["vec2"].as_f64()), (StatusCode::OK, Some(1.0)), "0.5 + 0.75, clamped: {body}");
    let other = TestUser::new(None);
    app.expect(Method::PUT, "/api/user-vectors/my-vector/vec1?value=0.5", &other, None, StatusCode::OK).await;
    let batch = format!("/internal/user-vectors?userIds={},{},{}", me.id, other.id, uuid::Uuid::now_v7());
    let (status, body) = internal(&app, Method::GET, &batch).await;
    assert_eq!((status, body["data"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{body}");

    app.expect(Method::DELETE, "/api/user-vectors/my-vector", &me, None, StatusCode::OK).await;
    assert_eq!(vectors.get_vector(me.id).await.unwrap(), None);
    let (status, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
}

#[tokio::test]
async fn erasure_removes_the_mongodb_vector_and_the_queued_updates_even_across_an_outage() {
    let Some(server) = PrivateMongo::start().await else { return };
    let mongo = TestMongo::on(&server.url());
    let (app, vectors) = on_mongo(&mongo).await;
    let (me, other) = (TestUser::new(None), TestUser::new(None));
    let q = app.question(json!({"vectorDeltas": {"1": {"vec5": 0.5}}})).await;
    app.answer(&me, &q, "1").await;
    app.answer(&other, &q, "1").await;
    drained(&app).await;
    assert!(vectors.get_vector(me.id).await.unwrap().is_some());

    // While MongoDB is down, more answers queue; erasure clears them but cannot reach the
    // document: 503, and the caller (user-couple's outbox) tries again.
    server.stop().await;
    let q2 = app.question(json!({"vectorDeltas": {"1": {"vec5": 0.25}}})).await;
    app.answer(&me, &q2, "1").await;
    app.answer(&other, &q2, "1").await;
    let erase = format!("/internal/users/{}", me.id);
    let (status, _) = internal(&app, Method::DELETE, &erase).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let pending = app.store.pending_vector_updates(1000).await.unwrap();
    assert!(pending.iter().all(|e| e.user_id == other.id) && pending.len() == 1, "only the other user's update waits: {pending:?}");

    server.resume().await;
    let (status, _) = internal(&app, Method::DELETE, &erase).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    drained(&app).await;
    assert_eq!(vectors.get_vector(me.id).await.unwrap(), None, "erased, and nothing queued brought it back");
    let theirs = vectors.get_vector(other.id).await.unwrap().unwrap();
    assert_eq!((theirs.vector.0[4], theirs.applied_seq), (0.75, 2), "the other user's vector is untouched");
    app.expect(Method::GET, "/api/user-vectors/my-vector", &me, None, StatusCode::NOT_FOUND).await;
}
