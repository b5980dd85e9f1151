//! The vector-store contract, one suite run against every implementation: the relational store on
//! SQLite and PostgreSQL, and MongoDB on the nx-27017 wire server and, when `TEST_MONGODB_URL`
//! is set, a real MongoDB. Each test gets a database of its own.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use couple_common::test_util::Backend;
use mongodb::bson::{Bson, doc};
use question_answer::store::{MongoVectors, StoreError, VectorStore};
use rstest::rstest;
use uuid::Uuid;

use crate::{
    store::{deltas, open},
    support::TestMongo,
};

/// Where the vectors live.
#[derive(Debug, Clone, Copy)]
pub enum Vectors {
    Sqlite,
    Postgres,
    MongoWire,
    MongoReal,
}

/// What keeps a test's database alive; only dropped, never read.
#[allow(dead_code)]
pub enum Keep {
    Sql(couple_common::test_util::TestDatabase),
    Mongo(TestMongo),
}

/// An empty vector store of the kind `kind`; `None` when its server is not configured.
pub async fn vector_store(kind: Vectors) -> Option<(Arc<dyn VectorStore>, Keep)> {
    let mongo = match kind {
        Vectors::Sqlite | Vectors::Postgres => {
            let (store, db) = open(if matches!(kind, Vectors::Sqlite) { Backend::Sqlite } else { Backend::Postgres }).await?;
            return Some((store, Keep::Sql(db)));
        }
        Vectors::MongoWire => TestMongo::wire()?,
        Vectors::MongoReal => TestMongo::real()?,
    };
    let store = MongoVectors::connect(mongo.url(), Duration::from_secs(2)).await.unwrap();
    store.ensure_index().await.unwrap();
    Some((Arc::new(store), Keep::Mongo(mongo)))
}

/// Whole seconds: PostgreSQL keeps microseconds and BSON milliseconds.
fn at(offset_seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + offset_seconds, 0).unwrap()
}

#[rstest]
#[tokio::test]
async fn create_makes_zeros_once_and_get_finds_only_what_exists(
    #[values(Vectors::Sqlite, Vectors::Postgres, Vectors::MongoWire, Vectors::MongoReal)] kind: Vectors,
) {
    let Some((store, _keep)) = vector_store(kind).await else { return };
    let user = Uuid::now_v7();
    assert_eq!(store.get_vector(user).await.unwrap(), None, "no vector yet");
    let created = store.create_vector(user, at(0)).await.unwrap();
    assert_eq!((created.user_id, created.vector.0, created.applied_seq, created.updated_at), (user, [0.0; 50], 0, at(0)));
    assert_eq!(store.get_vector(user).await.unwrap(), Some(created.clone()));
    let again = store.create_vector(user, at(1)).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    assert_eq!(store.get_vector(user).await.unwrap(), Some(created), "the refused create changed nothing");
    assert_eq!(store.get_vector(Uuid::now_v7()).await.unwrap(), None);
}

#[rstest]
#[tokio::test]
async fn put_sets_only_the_named_traits_creating_the_vector(
    #[values(Vectors::Sqlite, Vectors::Postgres, Vectors::MongoWire, Vectors::MongoReal)] kind: Vectors,
) {
    let Some((store, _keep)) = vector_store(kind).await else { return };
    let user = Uuid::now_v7();
    let put = store.put_vector(user, &deltas(&[("vec1", 0.5), ("vec50", -1.0)]), at(0)).await.unwrap();
    let mut expected = [0.0; 50];
    (expected[0], expected[49]) = (0.5, -1.0);
    assert_eq!((put.vector.0, put.applied_seq, put.updated_at), (expected, 0, at(0)));
    // Setting one trait keeps the others.
    let one = store.put_vector(user, &deltas(&[("vec7", 0.25)]), at(5)).await.unwrap();
    expected[6] = 0.25;
    assert_eq!((one.vector.0, one.updated_at), (expected, at(5)));
    assert_eq!(store.get_vector(user).await.unwrap(), Some(one));
}

#[rstest]
#[tokio::test]
async fn delete_says_whether_there_was_a_vector(
    #[values(Vectors::Sqlite, Vectors::Postgres, Vectors::MongoWire, Vectors::MongoReal)] kind: Vectors,
) {
    let Some((store, _keep)) = vector_store(kind).await else { return };
    let (user, other) = (Uuid::now_v7(), Uuid::now_v7());
    store.create_vector(user, at(0)).await.unwrap();
    store.create_vector(other, at(0)).await.unwrap();
    assert!(store.delete_vector(user).await.unwrap());
    assert!(!store.delete_vector(user).await.unwrap());
    assert_eq!(store.get_vector(user).await.unwrap(), None);
    assert!(store.get_vector(other).await.unwrap().is_some(), "only that user's");
    store.create_vector(user, at(1)).await.expect("a deleted vector can be created again");
}

#[rstest]
#[tokio::test]
async fn updates_apply_in_order_once_each_clamped_at_one(
    #[values(Vectors::Sqlite, Vectors::Postgres, Vectors::MongoWire, Vectors::MongoReal)] kind: Vectors,
) {
    let Some((store, _keep)) = vector_store(kind).await else { return };
    let user = Uuid::now_v7();
    // vec1: 0.7, 1 (clamped), 0.4; vec2: -0.6, -1 (clamped), -1. In another order vec1 would end
    // elsewhere (-0.6 first: 0.1, 0.8, 1).
    let updates = [deltas(&[("vec1", 0.7), ("vec2", -0.6)]), deltas(&[("vec1", 0.7), ("vec2", -0.6)]), deltas(&[("vec1", -0.6)])];
    for (seq, update) in (1..).zip(&updates) {
        assert!(store.apply_deltas(user, seq, update, at(seq)).await.unwrap(), "update {seq} applies (the first creates the vector)");
        assert!(!store.apply_deltas(user, seq, update, at(seq + 10)).await.unwrap(), "update {seq} again is a no-op");
    }
    assert!(!store.apply_deltas(user, 1, &updates[0], at(30)).await.unwrap(), "an older update after a newer one is a no-op");
    let vector = store.get_vector(user).await.unwrap().unwrap();
    assert!((vector.vector.0[0] - 0.4).abs() < 1e-9 && vector.vector.0[1] == -1.0, "{:?}", &vector.vector.0[..3]);
    assert_eq!((vector.vector.0[2], vector.applied_seq, vector.updated_at), (0.0, 3, at(3)));
}

#[rstest]
#[tokio::test]
async fn a_gap_is_applied_since_only_a_recreated_vector_has_one(
    #[values(Vectors::Sqlite, Vectors::Postgres, Vectors::MongoWire, Vectors::MongoReal)] kind: Vectors,
) {
    let Some((store, _keep)) = vector_store(kind).await else { return };
    let user = Uuid::now_v7();
    let up = deltas(&[("vec9", 0.5)]);
    assert!(store.apply_deltas(user, 1, &up, at(1)).await.unwrap());
    assert!(store.apply_deltas(user, 2, &up, at(2)).await.unwrap());
    // The user deletes their vector and makes a new one: its count restarts at 0 while the
    // outbox goes on at 3.
    assert!(store.delete_vector(user).await.unwrap());
    store.put_vector(user, &deltas(&[("vec9", -0.2)]), at(3)).await.unwrap();
    assert!(store.apply_deltas(user, 3, &up, at(4)).await.unwrap(), "applied, not held back for good");
    assert!(!store.apply_deltas(user, 3, &up, at(5)).await.unwrap());
    let vector = store.get_vector(user).await.unwrap().unwrap();
    assert!((vector.vector.0[8] - 0.3).abs() < 1e-9 && vector.applied_seq == 3, "{vector:?}");
}

#[rstest]
#[tokio::test]
async fn concurrent_applications_of_one_update_apply_it_once(
    #[values(Vectors::Sqlite, Vectors::Postgres, Vectors::MongoWire, Vectors::MongoReal)] kind: Vectors,
) {
    let Some((store, _keep)) = vector_store(kind).await else { return };
    let user = Uuid::now_v7();
    for seq in 1..=3 {
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.apply_deltas(user, seq, &deltas(&[("vec4", 0.3)]), at(seq)).await.unwrap() })
            })
            .collect();
        let mut applied = 0;
        for run in runs {
            applied += usize::from(run.await.unwrap());
        }
        assert_eq!(applied, 1, "update {seq}");
    }
    let vector = store.get_vector(user).await.unwrap().unwrap();
    assert!((vector.vector.0[3] - 0.9).abs() < 1e-9 && vector.applied_seq == 3, "{vector:?}");
}

#[rstest]
#[tokio::test]
async fn a_put_racing_an_update_loses_neither(
    #[values(Vectors::Sqlite, Vectors::Postgres, Vectors::MongoWire, Vectors::MongoReal)] kind: Vectors,
) {
    let Some((store, _keep)) = vector_store(kind).await else { return };
    let user = Uuid::now_v7();
    store.create_vector(user, at(0)).await.unwrap();
    let mut runs = Vec::new();
    for seq in 1..=10 {
        let applying = store.clone();
        runs.push(tokio::spawn(async move { applying.apply_deltas(user, seq, &deltas(&[("vec1", 0.05)]), at(seq)).await.map(|_| ()) }));
        let store = store.clone();
        let key = format!("vec{}", seq + 1);
        runs.push(tokio::spawn(async move { store.put_vector(user, &deltas(&[(key.as_str(), -0.5)]), at(seq)).await.map(|_| ()) }));
    }
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let vector = store.get_vector(user).await.unwrap().unwrap();
    // Updates are applied once each whatever their order here (seq 10 may land before 9, which is
    // then a no-op), so vec1 is a multiple of 0.05 up to 0.5; every put is there.
    assert!(vector.vector.0[1..=10].iter().all(|v| *v == -0.5), "{:?}", &vector.vector.0[..12]);
    assert_eq!(vector.applied_seq, 10);
    let steps = vector.vector.0[0] / 0.05;
    assert!((1.0..=10.0).contains(&steps.round()) && (steps - steps.round()).abs() < 1e-6, "vec1 = {}", vector.vector.0[0]);
}

#[rstest]
#[tokio::test]
async fn clamping_holds_at_both_ends(#[values(Vectors::Sqlite, Vectors::Postgres, Vectors::MongoWire, Vectors::MongoReal)] kind: Vectors) {
    let Some((store, _keep)) = vector_store(kind).await else { return };
    let user = Uuid::now_v7();
    store.put_vector(user, &deltas(&[("vec1", 0.9), ("vec2", -0.9)]), at(0)).await.unwrap();
    store.apply_deltas(user, 1, &deltas(&[("vec1", 1.0), ("vec2", -1.0), ("vec3", -1.0)]), at(1)).await.unwrap();
    store.apply_deltas(user, 2, &deltas(&[("vec3", -0.5)]), at(2)).await.unwrap();
    assert_eq!(&store.get_vector(user).await.unwrap().unwrap().vector.0[..4], &[1.0, -1.0, -1.0, 0.0]);
    store.apply_deltas(user, 3, &deltas(&[("vec1", -0.25), ("vec3", 0.25)]), at(3)).await.unwrap();
    assert_eq!(&store.get_vector(user).await.unwrap().unwrap().vector.0[..3], &[0.75, -1.0, -0.75], "from the clamped values");
}

#[rstest]
#[tokio::test]
async fn a_batch_read_returns_the_vectors_that_exist(
    #[values(Vectors::Sqlite, Vectors::Postgres, Vectors::MongoWire, Vectors::MongoReal)] kind: Vectors,
) {
    let Some((store, _keep)) = vector_store(kind).await else { return };
    let users: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let mut stored = Vec::new();
    for (i, user) in users.iter().enumerate() {
        stored.push(store.put_vector(*user, &deltas(&[("vec2", 0.1 * (i + 1) as f64)]), at(0)).await.unwrap());
    }
    store.create_vector(Uuid::now_v7(), at(0)).await.unwrap();
    let mut got = store.get_vectors(&[users[2], Uuid::now_v7(), users[0]]).await.unwrap();
    got.sort_by_key(|v| v.user_id);
    assert_eq!(got, vec![stored[0].clone(), stored[2].clone()]);
    assert!(store.get_vectors(&[]).await.unwrap().is_empty());
    assert!(store.get_vectors(&[Uuid::now_v7()]).await.unwrap().is_empty());
    store.ping_vectors().await.unwrap();
}

#[rstest]
#[tokio::test]
async fn mongodb_keeps_one_plain_document_per_user_under_a_unique_index(#[values(Vectors::MongoWire, Vectors::MongoReal)] kind: Vectors) {
    let mongo = match kind {
        Vectors::MongoReal => TestMongo::real(),
        _ => TestMongo::wire(),
    };
    let Some(mongo) = mongo else { return };
    let store = MongoVectors::connect(mongo.url(), Duration::from_secs(2)).await.unwrap();
    assert_eq!(store.database_name(), mongo.name(), "the database comes from the URL");
    store.ensure_index().await.unwrap();
    store.ensure_index().await.expect("creating the index again is a no-op");
    let user = Uuid::now_v7();
    store.apply_deltas(user, 1, &deltas(&[("vec3", 0.5)]), at(0)).await.unwrap();
    let collection = mongo.database().await.collection::<mongodb::bson::Document>("user_vectors");
    let document = collection.find_one(doc! { "userId": user.to_string() }).await.unwrap().unwrap();
    let vectors = document.get_document("vectors").unwrap();
    assert_eq!((vectors.len(), vectors.get("vec3"), vectors.get("vec50")), (50, Some(&Bson::Double(0.5)), Some(&Bson::Double(0.0))));
    assert_eq!(document.get("appliedSeq").and_then(Bson::as_i64).or_else(|| document.get_i32("appliedSeq").ok().map(i64::from)), Some(1));
    if matches!(kind, Vectors::MongoReal) {
        // nx-27017 keeps a date written by `$set` as text, which the store reads too.
        assert_eq!(document.get_datetime("updatedAt").unwrap().timestamp_millis(), at(0).timestamp_millis());
    }
    // The unique index: a second document for the user is refused by the server itself.
    let duplicate = collection.insert_one(doc! { "userId": user.to_string(), "vectors": {}, "appliedSeq": 0_i64 }).await;
    assert!(duplicate.is_err(), "the userId index is unique");
    assert_eq!(collection.count_documents(doc! {}).await.unwrap(), 1);
}
