//! The store contract, run against both backends: SQLite (embedded) and PostgreSQL (the server
//! `make test` starts).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use couple_common::{
    db::PoolSettings,
    test_util::{Backend, TestDatabase},
};
use question_answer::{
    domain::{Choice, OptionDeltas, VectorDeltas},
    store::{self, AnswerEffects, AnswerRecord, NewQuestion, Scope, Store, StoreError, VectorWrite},
};
use rstest::rstest;
use uuid::Uuid;

/// A migrated, empty store over a throwaway database on `backend`.
pub async fn open(backend: Backend) -> Option<(Arc<dyn Store>, TestDatabase)> {
    let db = TestDatabase::create(backend).await?;
    let store = store::connect(db.url(), PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, db))
}

pub fn deltas(entries: &[(&str, f64)]) -> VectorDeltas {
    VectorDeltas::parse(entries.iter().copied()).unwrap()
}

pub async fn question(store: &dyn Store, date: Option<NaiveDate>, tags: Vec<(Uuid, f64)>, one: VectorDeltas) -> Uuid {
    let q = NewQuestion {
        id: Uuid::now_v7(),
        seed_key: None,
        question: "?".into(),
        option1: "a".into(),
        option2: "b".into(),
        date,
        tags,
        vector_deltas: OptionDeltas { one, two: VectorDeltas::default() },
        now: Utc::now(),
    };
    store.create_question(q).await.unwrap().id
}

pub fn answer(user_id: Uuid, couple_id: Option<Uuid>, question_id: Uuid, choice: Choice) -> AnswerRecord {
    AnswerRecord { id: Uuid::now_v7(), user_id, question_id, couple_id, choice, created_at: Utc::now() }
}

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, n).unwrap()
}

#[rstest]
#[tokio::test]
async fn daily_questions_cycle_through_all_before_repeating(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let scope = Scope { user_id: Uuid::now_v7(), couple_id: Some(Uuid::now_v7()) };
    assert_eq!(store.daily_question(scope, day(1), Utc::now()).await.unwrap(), None, "no questions, nothing to ask");
    let undated = [
        question(store.as_ref(), None, vec![], VectorDeltas::default()).await,
        question(store.as_ref(), None, vec![], VectorDeltas::default()).await,
        question(store.as_ref(), None, vec![], VectorDeltas::default()).await,
    ];
    let future = question(store.as_ref(), Some(day(20)), vec![], VectorDeltas::default()).await;
    let mut first_cycle = Vec::new();
    for n in 1..=3 {
        first_cycle.push(store.daily_question(scope, day(n), Utc::now()).await.unwrap().unwrap());
    }
    let mut sorted = first_cycle.clone();
    sorted.sort();
    assert_eq!(sorted, undated, "each undated question once, never the future-dated one");
    for n in 4..=6 {
        let again = store.daily_question(scope, day(n), Utc::now()).await.unwrap().unwrap();
        assert_eq!(again, first_cycle[n as usize - 4], "the next cycle starts with the least recently asked");
    }
    assert_eq!(store.daily_question(scope, day(2), Utc::now()).await.unwrap(), Some(first_cycle[1]), "a day keeps its question");
    assert_eq!(store.daily_question(scope, day(20), Utc::now()).await.unwrap(), Some(future), "the dated day");
    assert_eq!(
        store.daily_question(scope, day(21), Utc::now()).await.unwrap(),
        Some(first_cycle[0]),
        "once asked on its day, the dated question counts as recently asked"
    );
}

#[rstest]
#[tokio::test]
async fn partners_asking_at_once_get_one_question_not_yet_answered(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let couple = Some(Uuid::now_v7());
    let (a, b) = (Scope { user_id: Uuid::now_v7(), couple_id: couple }, Scope { user_id: Uuid::now_v7(), couple_id: couple });
    let first = question(store.as_ref(), None, vec![], VectorDeltas::default()).await;
    let second = question(store.as_ref(), None, vec![], VectorDeltas::default()).await;
    let effects = AnswerEffects { tag_deltas: vec![], vector_deltas: VectorDeltas::default(), vector: VectorWrite::InTransaction };
    // The partner answered the first one already (while in this couple).
    store.submit_answer(answer(b.user_id, couple, first, Choice::One), effects).await.unwrap();
    let asks = (0..8).map(|i| {
        let store = store.clone();
        let scope = if i % 2 == 0 { a } else { b };
        tokio::spawn(async move { store.daily_question(scope, day(1), Utc::now()).await.unwrap() })
    });
    let mut picked = Vec::new();
    for ask in asks {
        picked.push(ask.await.unwrap());
    }
    assert!(picked.iter().all(|p| *p == Some(second)), "{picked:?}");
}

#[rstest]
#[tokio::test]
async fn erasing_a_couple_restarts_its_rotation_and_leaves_others_alone(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let mut questions = Vec::new();
    for _ in 0..2 {
        questions.push(question(store.as_ref(), None, vec![], VectorDeltas::default()).await);
    }
    questions.sort();
    let (gone, other) = (
        Scope { user_id: Uuid::now_v7(), couple_id: Some(Uuid::now_v7()) },
        Scope { user_id: Uuid::now_v7(), couple_id: Some(Uuid::now_v7()) },
    );
    let today = async |scope: Scope, n| store.daily_question(scope, day(n), Utc::now()).await.unwrap().unwrap();
    for scope in [gone, other] {
        assert_eq!((today(scope, 1).await, today(scope, 2).await), (questions[0], questions[1]));
    }
    for _ in 0..2 {
        store.erase_couple(gone.couple_id.unwrap()).await.unwrap();
    }
    assert_eq!(today(gone, 2).await, questions[0], "no assignment left: the rotation starts over");
    assert_eq!(today(other, 2).await, questions[1], "another couple keeps its own");
}

#[rstest]
#[tokio::test]
async fn an_answer_and_its_effects_commit_together_once(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let tag = store.create_tag(Uuid::now_v7(), "food", Utc::now()).await.unwrap();
    assert!(matches!(store.create_tag(Uuid::now_v7(), "food", Utc::now()).await, Err(StoreError::Conflict)));
    let q = question(store.as_ref(), None, vec![(tag.id, 0.7)], deltas(&[("vec1", 0.7)])).await;
    let user = Uuid::now_v7();
    let effects =
        AnswerEffects { tag_deltas: vec![(tag.id, 0.7)], vector_deltas: deltas(&[("vec1", 0.7)]), vector: VectorWrite::InTransaction };
    let stored = store.submit_answer(answer(user, None, q, Choice::One), effects.clone()).await.unwrap();
    assert_eq!(store.answer_of(user, q).await.unwrap(), Some(stored));
    let again = store.submit_answer(answer(user, None, q, Choice::Two), effects.clone()).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    let q2 = question(store.as_ref(), None, vec![(tag.id, 0.7)], deltas(&[("vec1", 0.7)])).await;
    store.submit_answer(answer(user, None, q2, Choice::One), effects).await.unwrap();
    let scores = store.tag_scores(user).await.unwrap();
    assert_eq!((scores.len(), scores[0].score), (1, 1.0), "0.7 twice is clamped to 1 and the refused answer added nothing");
    assert_eq!(store.get_vector(user).await.unwrap().unwrap().vector.0[0], 1.0);

    store.erase_user(user).await.unwrap();
    assert!(store.answer_of(user, q).await.unwrap().is_none());
    assert!(store.tag_scores(user).await.unwrap().is_empty());
    assert!(store.get_vector(user).await.unwrap().is_none());
}

#[rstest]
#[tokio::test]
async fn applying_an_update_twice_is_a_no_op(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let user = Uuid::now_v7();
    let up = deltas(&[("vec5", 0.25)]);
    assert!(store.apply_deltas(user, 1, &up, Utc::now()).await.unwrap(), "creates the vector");
    assert!(!store.apply_deltas(user, 1, &up, Utc::now()).await.unwrap());
    assert!(store.apply_deltas(user, 2, &up, Utc::now()).await.unwrap());
    assert!(!store.apply_deltas(user, 1, &up, Utc::now()).await.unwrap(), "an older update is not applied after a newer one");
    let vector = store.get_vector(user).await.unwrap().unwrap();
    assert_eq!((vector.vector.0[4], vector.applied_seq), (0.5, 2));
    // The other vector operations.
    assert!(matches!(store.create_vector(user, Utc::now()).await, Err(StoreError::Conflict)));
    // Whole seconds: PostgreSQL keeps microseconds only.
    let later = DateTime::from_timestamp(Utc::now().timestamp() + 5, 0).unwrap();
    let put = store.put_vector(user, &deltas(&[("vec1", -1.0)]), later).await.unwrap();
    assert_eq!((put.vector.0[0], put.vector.0[4], put.applied_seq, put.updated_at), (-1.0, 0.5, 2, later));
    assert_eq!(store.get_vectors(&[user, Uuid::now_v7()]).await.unwrap(), vec![put]);
    assert!(store.delete_vector(user).await.unwrap());
    assert!(!store.delete_vector(user).await.unwrap());
}
