//! The outbox mode: answers queue vector deltas and a worker applies them to the vector store,
//! in order and exactly once; here the relational store stands in for the external one.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use couple_common::{
    clock::Clock,
    shutdown,
    test_util::{Backend, TestUser},
};
use question_answer::{
    VectorUpdates,
    domain::{Choice, VectorDeltas},
    store::{AnswerEffects, StoreError, StoreResult, VectorRecord, VectorStore, VectorWrite},
    vectors::outbox::OutboxWorker,
};
use rstest::rstest;
use serde_json::json;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    store::{answer, deltas, open, question},
    support::spawn,
};

#[rstest]
#[tokio::test]
async fn answers_reach_the_vector_through_the_outbox_in_order(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |c| c.vector_updates = VectorUpdates::Outbox).await else { return };
    let me = TestUser::new(None);
    // In order: 0.8, 1 (clamped), 0.5. Out of order the result would differ.
    let mut ids = Vec::new();
    for delta in [0.8, 0.8, -0.5] {
        ids.push(app.question(json!({"vectorDeltas": {"1": {"vec3": delta}}})).await);
    }
    for q in &ids {
        app.answer(&me, q, "1").await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(vector) = app.store.get_vector(me.id).await.unwrap()
            && vector.applied_seq == 3
        {
            assert_eq!(vector.vector.0[2], 0.5);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the worker did not apply the updates");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(app.store.pending_vector_updates(10).await.unwrap().is_empty());
}

fn worker(store: Arc<dyn question_answer::store::Store>, vectors: Arc<dyn VectorStore>) -> OutboxWorker {
    OutboxWorker::new(store, vectors, Clock::System, Arc::new(Notify::new()), Duration::from_millis(10), Duration::from_millis(200))
}

#[rstest]
#[tokio::test]
async fn workers_running_twice_or_at_once_apply_each_update_once(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let user = Uuid::now_v7();
    let mut expected = 0.0_f64;
    for delta in [0.3, 0.3, 0.3, -0.2] {
        let q = question(store.as_ref(), None, vec![], deltas(&[("vec10", delta)])).await;
        let effects = AnswerEffects { tag_deltas: vec![], vector_deltas: deltas(&[("vec10", delta)]), vector: VectorWrite::Outbox };
        store.submit_answer(answer(user, None, q, Choice::One), effects).await.unwrap();
        expected = (expected + delta).clamp(-1.0, 1.0);
    }
    assert!(store.get_vector(user).await.unwrap().is_none(), "nothing applied inside the answer's transaction");
    let (a, b) = (worker(store.clone(), store.clone()), worker(store.clone(), store.clone()));
    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
    assert!(ra.unwrap() + rb.unwrap() >= 4);
    assert_eq!(a.run_once().await.unwrap(), 0, "nothing left");
    let vector = store.get_vector(user).await.unwrap().unwrap();
    assert_eq!(vector.applied_seq, 4);
    assert!((vector.vector.0[9] - expected).abs() < 1e-9, "{} != {expected}", vector.vector.0[9]);
}

/// The real store behind a switch that makes it fail, as an unreachable vector store would, and
/// one that erases the user just before an update is applied, as a concurrent erasure may.
struct Flaky {
    inner: Arc<dyn question_answer::store::Store>,
    failures_left: AtomicUsize,
    erase_before_apply: bool,
}

impl Flaky {
    fn fail(&self) -> StoreResult<()> {
        let left = self.failures_left.load(Ordering::SeqCst);
        if left > 0 {
            self.failures_left.store(left - 1, Ordering::SeqCst);
            return Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut));
        }
        Ok(())
    }
}

#[async_trait]
impl VectorStore for Flaky {
    async fn get_vector(&self, user_id: Uuid) -> StoreResult<Option<VectorRecord>> {
        self.inner.get_vector(user_id).await
    }
    async fn get_vectors(&self, user_ids: &[Uuid]) -> StoreResult<Vec<VectorRecord>> {
        self.inner.get_vectors(user_ids).await
    }
    async fn create_vector(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<VectorRecord> {
        self.inner.create_vector(user_id, now).await
    }
    async fn put_vector(&self, user_id: Uuid, values: &VectorDeltas, now: DateTime<Utc>) -> StoreResult<VectorRecord> {
        self.inner.put_vector(user_id, values, now).await
    }
    async fn delete_vector(&self, user_id: Uuid) -> StoreResult<bool> {
        self.inner.delete_vector(user_id).await
    }
    async fn apply_deltas(&self, user_id: Uuid, seq: i64, deltas: &VectorDeltas, now: DateTime<Utc>) -> StoreResult<bool> {
        self.fail()?;
        if self.erase_before_apply {
            self.inner.erase_user(user_id).await?;
        }
        self.inner.apply_deltas(user_id, seq, deltas, now).await
    }
    async fn ping_vectors(&self) -> StoreResult<()> {
        self.fail()
    }
}

#[rstest]
#[tokio::test]
async fn the_worker_retries_while_the_vector_store_fails(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let user = Uuid::now_v7();
    let q = question(store.as_ref(), None, vec![], deltas(&[("vec2", 0.4)])).await;
    let effects = AnswerEffects { tag_deltas: vec![], vector_deltas: deltas(&[("vec2", 0.4)]), vector: VectorWrite::Outbox };
    store.submit_answer(answer(user, None, q, Choice::One), effects).await.unwrap();
    let flaky = Arc::new(Flaky { inner: store.clone(), failures_left: AtomicUsize::new(3), erase_before_apply: false });
    assert!(worker(store.clone(), flaky.clone()).run_once().await.is_err(), "a failing store is an error, not a silent skip");
    let (stop, shutdown) = shutdown::channel();
    let running = worker(store.clone(), flaky.clone()).spawn(shutdown);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.get_vector(user).await.unwrap().is_none_or(|v| v.applied_seq < 1) {
        assert!(tokio::time::Instant::now() < deadline, "the worker gave up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(flaky.failures_left.load(Ordering::SeqCst), 0);
    assert_eq!(store.get_vector(user).await.unwrap().unwrap().vector.0[1], 0.4);
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("the worker stops on shutdown").unwrap();
}

#[rstest]
#[tokio::test]
async fn an_update_applied_while_its_user_is_erased_leaves_no_vector(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let user = Uuid::now_v7();
    let q = question(store.as_ref(), None, vec![], deltas(&[("vec6", 0.4)])).await;
    let effects = AnswerEffects { tag_deltas: vec![], vector_deltas: deltas(&[("vec6", 0.4)]), vector: VectorWrite::Outbox };
    store.submit_answer(answer(user, None, q, Choice::One), effects).await.unwrap();
    let erasing = Arc::new(Flaky { inner: store.clone(), failures_left: AtomicUsize::new(0), erase_before_apply: true });
    // The worker read the update before the erasure; applying it creates the vector again.
    assert_eq!(worker(store.clone(), erasing).run_once().await.unwrap(), 1);
    assert_eq!(store.get_vector(user).await.unwrap(), None, "the worker erased the vector it re-created");
    assert!(store.pending_vector_updates(10).await.unwrap().is_empty());
}
