//! The MongoDB vector store: one document per user in `user_vectors`,
//! `{userId: "<uuid>", vectors: {vec1: f64, ..., vec50: f64}, appliedSeq: i64, updatedAt: Date}`,
//! with a unique index on `userId`.
//!
//! Every method is a plain single-document operation (find, insert, `$set` on dotted fields,
//! find-one-and-update, delete): no transactions, aggregation or array-index updates, so the
//! nx-27017 wire server the tests run serves it exactly as MongoDB does. Updates that depend on
//! what was read are compare-and-set: the filter repeats the values read, and a write that
//! matches nothing lost a race and starts over.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use couple_common::traits::key_of;
use mongodb::{
    Client, Collection, Database, IndexModel,
    bson::{self, Bson, Document, doc},
    error::{ErrorKind, WriteFailure},
    options::{ClientOptions, IndexOptions, ReturnDocument},
};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::{StoreError, StoreResult, VectorRecord, VectorStore};
use crate::domain::{TraitVector, VectorDeltas, clamp};

/// The collection of user vectors.
pub const COLLECTION: &str = "user_vectors";

/// The database when the URL names none.
pub const DEFAULT_DATABASE: &str = "question_answer";

/// How often a compare-and-set that lost a race is tried again before the call fails (the
/// outbox worker then retries later).
const CAS_ATTEMPTS: usize = 16;

/// MongoDB's duplicate-key error code.
const DUPLICATE_KEY: i32 = 11000;

/// A stored vector document.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VectorDocument {
    user_id: String,
    vectors: Document,
    applied_seq: i64,
    /// A BSON date; read as [`Bson`] since nx-27017 keeps a date written by `$set` as text.
    updated_at: Bson,
}

impl VectorDocument {
    fn zeros(user_id: Uuid, now: DateTime<Utc>) -> Self {
        Self {
            user_id: user_id.to_string(),
            vectors: vectors_document(&TraitVector::default()),
            applied_seq: 0,
            updated_at: Bson::DateTime(date(now)),
        }
    }

    /// The record; a missing or non-numeric trait reads as 0, as the relational store reads a
    /// damaged vector, rather than failing every request.
    fn into_record(self) -> StoreResult<VectorRecord> {
        let user_id = Uuid::parse_str(&self.user_id).map_err(|e| other(format!("stored userId {:?}: {e}", self.user_id)))?;
        let mut vector = TraitVector::default();
        for (index, slot) in vector.0.iter_mut().enumerate() {
            *slot = self.vectors.get(key_of(index)).and_then(number).map_or(0.0, clamp);
        }
        let updated_at =
            read_date(&self.updated_at).ok_or_else(|| other(format!("stored updatedAt {:?} is not a date", self.updated_at)))?;
        Ok(VectorRecord { user_id, vector, applied_seq: self.applied_seq, updated_at })
    }
}

fn number(value: &Bson) -> Option<f64> {
    match value {
        Bson::Double(v) => Some(*v),
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        _ => None,
    }
}

fn vectors_document(vector: &TraitVector) -> Document {
    vector.0.iter().enumerate().map(|(index, value)| (key_of(index).to_string(), Bson::Double(*value))).collect()
}

/// A stored date: a BSON date, or the text nx-27017 makes of one written by `$set`
/// (`2026-12-01 03:00:00.123000`, UTC).
fn read_date(value: &Bson) -> Option<DateTime<Utc>> {
    match value {
        Bson::DateTime(at) => DateTime::from_timestamp_millis(at.timestamp_millis()),
        Bson::String(text) => chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|at| at.and_utc()),
        _ => None,
    }
}

/// BSON dates keep milliseconds.
fn date(at: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(at.timestamp_millis())
}

fn by_user(user_id: Uuid) -> Document {
    doc! { "userId": user_id.to_string() }
}

/// The dotted path of a trait inside the document.
fn trait_path(index: usize) -> String {
    format!("vectors.{}", key_of(index))
}

/// The driver's errors as the store's, decided here only: the server out of reach (no server
/// selected in time, a broken connection, a pool cleared by one) is [`StoreError::Unavailable`]
/// (503, and the outbox retries); a duplicate key is [`StoreError::Conflict`]; anything else is
/// [`StoreError::Other`]. `StoreError` carries `sqlx` errors, so the driver's error rides inside
/// an I/O or a protocol one, with its text.
fn store_error(err: mongodb::error::Error) -> StoreError {
    let duplicate = match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    };
    if duplicate {
        return StoreError::Conflict;
    }
    let unavailable = matches!(
        err.kind.as_ref(),
        ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. } | ErrorKind::DnsResolve { .. }
    ) || err.contains_label("RetryableWriteError");
    if unavailable { StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(err))) } else { other(format!("MongoDB: {err}")) }
}

fn other(message: String) -> StoreError {
    StoreError::Other(sqlx::Error::Protocol(message))
}

/// User vectors in MongoDB.
pub struct MongoVectors {
    database: Database,
    vectors: Collection<VectorDocument>,
    /// Set once the unique index is known to exist.
    index: OnceCell<()>,
}

impl MongoVectors {
    /// A store on the database the URL names (else [`DEFAULT_DATABASE`]). Connecting is lazy:
    /// this fails only on a malformed URL. `timeout` bounds server selection and connecting, so
    /// while MongoDB is down calls fail with [`StoreError::Unavailable`] after about that long
    /// instead of hanging.
    pub async fn connect(url: &str, timeout: Duration) -> StoreResult<Self> {
        let mut options = ClientOptions::parse(url).await.map_err(store_error)?;
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout = Some(timeout);
        options.app_name.get_or_insert_with(|| "question-answer".to_owned());
        let name = options.default_database.clone().unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let database = Client::with_options(options).map_err(store_error)?.database(&name);
        Ok(Self { vectors: database.collection(COLLECTION), database, index: OnceCell::new() })
    }

    /// The database's name.
    pub fn database_name(&self) -> &str {
        self.database.name()
    }

    /// Creates the unique index on `userId` (a no-op when it exists). Writes call it first, so a
    /// service that started while MongoDB was down gets its index once MongoDB is back.
    pub async fn ensure_index(&self) -> StoreResult<()> {
        self.index
            .get_or_try_init(|| async {
                let options = IndexOptions::builder().unique(true).name("userId_unique".to_owned()).build();
                let index = IndexModel::builder().keys(doc! { "userId": 1 }).options(options).build();
                self.vectors.create_index(index).await.map_err(store_error)?;
                Ok(())
            })
            .await
            .copied()
    }

    async fn find(&self, user_id: Uuid) -> StoreResult<Option<VectorRecord>> {
        self.vectors.find_one(by_user(user_id)).await.map_err(store_error)?.map(VectorDocument::into_record).transpose()
    }

    /// Inserts a zero vector; [`StoreError::Conflict`] when the user has one.
    async fn insert_zeros(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<VectorRecord> {
        self.ensure_index().await?;
        let document = VectorDocument::zeros(user_id, now);
        self.vectors.insert_one(&document).await.map_err(store_error)?;
        document.into_record()
    }

    /// Inserts a zero vector unless one exists (someone else's concurrent insert included).
    async fn ensure_exists(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        match self.insert_zeros(user_id, now).await {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn contention(user_id: Uuid) -> StoreError {
    other(format!("the vector of {user_id} kept changing; gave up after {CAS_ATTEMPTS} attempts"))
}

#[async_trait]
impl VectorStore for MongoVectors {
    #[tracing::instrument(name = "mongo.get_vector", skip_all)]
    async fn get_vector(&self, user_id: Uuid) -> StoreResult<Option<VectorRecord>> {
        self.find(user_id).await
    }

    #[tracing::instrument(name = "mongo.get_vectors", skip_all)]
    async fn get_vectors(&self, user_ids: &[Uuid]) -> StoreResult<Vec<VectorRecord>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = user_ids.iter().map(Uuid::to_string).collect();
        let mut cursor = self.vectors.find(doc! { "userId": { "$in": ids } }).await.map_err(store_error)?;
        let mut records = Vec::new();
        while cursor.advance().await.map_err(store_error)? {
            records.push(cursor.deserialize_current().map_err(store_error)?.into_record()?);
        }
        Ok(records)
    }

    #[tracing::instrument(name = "mongo.create_vector", skip_all)]
    async fn create_vector(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<VectorRecord> {
        self.insert_zeros(user_id, now).await
    }

    #[tracing::instrument(name = "mongo.put_vector", skip_all)]
    async fn put_vector(&self, user_id: Uuid, values: &VectorDeltas, now: DateTime<Utc>) -> StoreResult<VectorRecord> {
        let mut set = doc! { "updatedAt": date(now) };
        for &(index, value) in values.entries() {
            set.insert(trait_path(index), clamp(value));
        }
        // Absolute values need no compare-and-set: one `$set` on the existing document, else
        // create it and set again (a delete in between just means one more round).
        for _ in 0..CAS_ATTEMPTS {
            let updated = self
                .vectors
                .find_one_and_update(by_user(user_id), doc! { "$set": set.clone() })
                .return_document(ReturnDocument::After)
                .await
                .map_err(store_error)?;
            match updated {
                Some(document) => return document.into_record(),
                None => self.ensure_exists(user_id, now).await?,
            }
        }
        Err(contention(user_id))
    }

    #[tracing::instrument(name = "mongo.delete_vector", skip_all)]
    async fn delete_vector(&self, user_id: Uuid) -> StoreResult<bool> {
        Ok(self.vectors.delete_one(by_user(user_id)).await.map_err(store_error)?.deleted_count > 0)
    }

    /// Reads the vector, then writes the changed traits and `appliedSeq: seq` under a filter that
    /// repeats the `appliedSeq` and the values read: a repeat, or a concurrent worker or
    /// `put_vector` that got there first, makes the filter match nothing, and the next round sees
    /// the update applied (no-op) or recomputes from the new values.
    #[tracing::instrument(name = "mongo.apply_deltas", skip_all, fields(seq))]
    async fn apply_deltas(&self, user_id: Uuid, seq: i64, deltas: &VectorDeltas, now: DateTime<Utc>) -> StoreResult<bool> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(current) = self.find(user_id).await? else {
                self.ensure_exists(user_id, now).await?;
                continue;
            };
            if current.applied_seq >= seq {
                return Ok(false);
            }
            let mut next = current.vector;
            next.apply(deltas);
            let mut filter = doc! { "userId": user_id.to_string(), "appliedSeq": current.applied_seq };
            let mut set = doc! { "appliedSeq": seq, "updatedAt": date(now) };
            for &(index, _) in deltas.entries() {
                filter.insert(trait_path(index), current.vector.0[index]);
                set.insert(trait_path(index), next.0[index]);
            }
            if self.vectors.update_one(filter, doc! { "$set": set }).await.map_err(store_error)?.matched_count == 1 {
                return Ok(true);
            }
        }
        Err(contention(user_id))
    }

    async fn ping_vectors(&self) -> StoreResult<()> {
        self.database.run_command(doc! { "ping": 1 }).await.map_err(store_error)?;
        self.ensure_index().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_reads_into_a_record_whatever_number_type_it_holds() {
        let user_id = Uuid::now_v7();
        let mut document = VectorDocument::zeros(user_id, DateTime::from_timestamp_millis(1_700_000_000_123).unwrap());
        document.vectors.insert("vec1", Bson::Int32(1));
        document.vectors.insert("vec2", Bson::Int64(-1));
        document.vectors.insert("vec3", Bson::Double(0.25));
        document.vectors.insert("vec4", Bson::String("damaged".into()));
        document.vectors.remove("vec5");
        document.vectors.insert("vec6", Bson::Double(7.0));
        document.applied_seq = 4;
        let record = document.into_record().unwrap();
        assert_eq!(&record.vector.0[..6], &[1.0, -1.0, 0.25, 0.0, 0.0, 1.0]);
        assert_eq!((record.user_id, record.applied_seq, record.updated_at.timestamp_millis()), (user_id, 4, 1_700_000_000_123));
    }

    #[test]
    fn dates_read_as_bson_dates_or_as_the_text_nx_27017_makes_of_them() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        assert_eq!(read_date(&Bson::DateTime(date(at))), Some(at));
        assert_eq!(read_date(&Bson::String("2023-11-14 22:13:20.123000".into())), Some(at));
        assert_eq!(read_date(&Bson::String("2023-11-14 22:13:20".into())), DateTime::from_timestamp_millis(1_700_000_000_000));
        assert_eq!(read_date(&Bson::String("yesterday".into())), None);
        assert_eq!(read_date(&Bson::Int64(5)), None);
    }

    #[tokio::test]
    async fn the_url_names_the_database_and_a_malformed_one_is_refused_before_any_connection() {
        let err = MongoVectors::connect("http://nope", Duration::from_secs(1)).await.err().unwrap();
        assert!(matches!(err, StoreError::Other(_)), "{err:?}");
        let store = MongoVectors::connect("mongodb://127.0.0.1:1/votes", Duration::from_secs(1)).await.unwrap();
        assert_eq!(store.database_name(), "votes");
        let store = MongoVectors::connect("mongodb://127.0.0.1:1", Duration::from_secs(1)).await.unwrap();
        assert_eq!(store.database_name(), DEFAULT_DATABASE);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_within_the_timeout() {
        let store = MongoVectors::connect("mongodb://127.0.0.1:1", Duration::from_millis(300)).await.unwrap();
        let started = std::time::Instant::now();
        let err = store.get_vector(Uuid::now_v7()).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        assert!(matches!(store.ping_vectors().await, Err(StoreError::Unavailable(_))));
    }
}
