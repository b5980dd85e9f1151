//! The service with its vectors in MongoDB rides out a MongoDB outage: answers keep getting 201
//! (they queue in the relational outbox), vector reads answer 503 fast, and once MongoDB is back
//! every user's vector is their answers' deltas applied once each, in order, clamped.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use couple_common::{
    Role,
    test_util::{Backend, PrivateMongo},
};
use question_answer::store::{MongoVectors, VectorStore};
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::json;

use crate::support::{TestMongo, User, spawn, user};

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
    let users: Vec<User> = (0..USERS).map(|_| user(None, Role::User)).collect();
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
