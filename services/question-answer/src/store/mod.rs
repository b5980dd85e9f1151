//! Persistence behind traits, with a PostgreSQL and a SQLite backend chosen by the database URL.
//! [`Store`] is the relational data; [`VectorStore`] the user vectors, which the relational
//! backends also serve and the MongoDB backend ([`MongoVectors`]) serves instead when configured.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
pub use couple_common::db::{Database, StoreError, StoreResult};
use uuid::Uuid;

use crate::domain::{Choice, OptionDeltas, TraitVector, VectorDeltas};

mod mongo;
mod sql;

pub use mongo::MongoVectors;
pub use sql::{PgStore, SqliteStore, connect};

/// A tag.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TagRecord {
    /// Tag id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A tag of a question with its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionTag {
    /// Tag id.
    pub tag_id: Uuid,
    /// Tag name.
    pub tag_name: String,
    /// In (0, 1]: option 1 adds it to the tag score, option 2 subtracts it.
    pub weight: f64,
}

/// A question with its tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// Question id.
    pub id: Uuid,
    /// The question.
    pub question: String,
    /// Option 1.
    pub option1: String,
    /// Option 2.
    pub option2: String,
    /// The day it is everyone's question, if dated.
    pub date: Option<NaiveDate>,
    /// Its tags.
    pub tags: Vec<QuestionTag>,
    /// What each option does to the vector.
    pub vector_deltas: OptionDeltas,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A question to store; `seed_key` for the seed's, `None` for an admin's.
#[derive(Debug, Clone)]
pub struct NewQuestion {
    /// Question id (v7).
    pub id: Uuid,
    /// The seed's stable key.
    pub seed_key: Option<String>,
    /// The question.
    pub question: String,
    /// Option 1.
    pub option1: String,
    /// Option 2.
    pub option2: String,
    /// The day it is everyone's question.
    pub date: Option<NaiveDate>,
    /// Tags and weights.
    pub tags: Vec<(Uuid, f64)>,
    /// What each option does to the vector.
    pub vector_deltas: OptionDeltas,
    /// Creation time.
    pub now: DateTime<Utc>,
}

/// A seed tag: upserted by its key.
#[derive(Debug, Clone)]
pub struct SeedTag {
    /// Stable key.
    pub key: String,
    /// Display name.
    pub name: String,
}

/// A seed question: upserted by its key, its tags named by their keys.
#[derive(Debug, Clone)]
pub struct SeedQuestion {
    /// Stable key.
    pub key: String,
    /// The question.
    pub question: String,
    /// Option 1.
    pub option1: String,
    /// Option 2.
    pub option2: String,
    /// Tag keys and weights.
    pub tags: Vec<(String, f64)>,
    /// What each option does to the vector.
    pub vector_deltas: OptionDeltas,
}

/// An answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRecord {
    /// Answer id.
    pub id: Uuid,
    /// Who answered.
    pub user_id: Uuid,
    /// The question.
    pub question_id: Uuid,
    /// The answerer's couple at the time.
    pub couple_id: Option<Uuid>,
    /// The option chosen.
    pub choice: Choice,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// What an answer changes besides storing itself, in the same transaction.
#[derive(Debug, Clone)]
pub struct AnswerEffects {
    /// Added to the user's tag scores (clamped), creating missing rows.
    pub tag_deltas: Vec<(Uuid, f64)>,
    /// The chosen option's vector deltas.
    pub vector_deltas: VectorDeltas,
    /// Whether the deltas go into the vector now or into the outbox.
    pub vector: VectorWrite,
}

/// Where an answer's vector deltas go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorWrite {
    /// Into the relational `user_vectors` row, in the answer's transaction.
    InTransaction,
    /// Into the outbox, for the worker to apply to the vector store.
    Outbox,
}

/// A user's score on a tag.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TagScoreRecord {
    /// Tag id.
    pub tag_id: Uuid,
    /// Tag name.
    pub tag_name: String,
    /// In [-1, 1].
    pub score: f64,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A user's vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorRecord {
    /// Owner.
    pub user_id: Uuid,
    /// The 50 traits.
    pub vector: TraitVector,
    /// The last outbox sequence number applied.
    pub applied_seq: i64,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Vector deltas waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Owner.
    pub user_id: Uuid,
    /// Per-user sequence number, from 1.
    pub seq: i64,
    /// What to add.
    pub deltas: VectorDeltas,
}

/// Whose question of the day: a couple's (both partners share it) or a single user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// The asking user.
    pub user_id: Uuid,
    /// Their couple, if any.
    pub couple_id: Option<Uuid>,
}

impl Scope {
    /// The id assignments are stored under: the couple's, else the user's.
    pub fn id(&self) -> Uuid {
        self.couple_id.unwrap_or(self.user_id)
    }
}

/// Where user vectors live. Each method is one atomic step, so a store outside the relational
/// database (MongoDB) can implement it with single-document operations.
#[async_trait]
pub trait VectorStore: Send + Sync + 'static {
    /// A user's vector.
    async fn get_vector(&self, user_id: Uuid) -> StoreResult<Option<VectorRecord>>;
    /// The vectors of several users (those that exist).
    async fn get_vectors(&self, user_ids: &[Uuid]) -> StoreResult<Vec<VectorRecord>>;
    /// Creates a zero vector; [`StoreError::Conflict`] if one exists.
    async fn create_vector(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<VectorRecord>;
    /// Sets the traits `values` names, creating the vector (zeros elsewhere) if missing.
    async fn put_vector(&self, user_id: Uuid, values: &VectorDeltas, now: DateTime<Utc>) -> StoreResult<VectorRecord>;
    /// Deletes the vector; whether there was one.
    async fn delete_vector(&self, user_id: Uuid) -> StoreResult<bool>;
    /// Adds `deltas` (clamped) unless update `seq` or a later one was applied already, creating
    /// the vector if missing: compare-and-set on the applied sequence number, so a repeated
    /// application is a no-op. Whether it applied.
    ///
    /// A gap (`seq` beyond the applied number + 1) is applied, not refused: the outbox worker
    /// hands each user's updates over in order and never skips one, so a gap only means the
    /// vector was deleted and created again since (its count restarts at 0), and refusing would
    /// hold that user's updates back for good.
    async fn apply_deltas(&self, user_id: Uuid, seq: i64, deltas: &VectorDeltas, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Checks the store answers.
    async fn ping_vectors(&self) -> StoreResult<()>;
}

/// Everything the service keeps in its relational database (migrations and ping come with
/// [`Database`], the vectors with [`VectorStore`]).
#[async_trait]
pub trait Store: Database + VectorStore {
    /// Creates a tag; [`StoreError::Conflict`] when the name is taken.
    async fn create_tag(&self, id: Uuid, name: &str, now: DateTime<Utc>) -> StoreResult<TagRecord>;
    /// Every tag, by name.
    async fn tags(&self) -> StoreResult<Vec<TagRecord>>;

    /// Creates a question; [`StoreError::Conflict`] when another is dated the same day.
    async fn create_question(&self, question: NewQuestion) -> StoreResult<Question>;
    /// A question.
    async fn question(&self, id: Uuid) -> StoreResult<Option<Question>>;
    /// Questions by id (creation order) after `after`, at most `limit`.
    async fn questions(&self, after: Option<Uuid>, limit: usize, dated_until: Option<NaiveDate>) -> StoreResult<Vec<Question>>;
    /// Inserts or updates the seed's tags and questions by their keys, in one transaction.
    async fn load_seed(&self, tags: &[SeedTag], questions: &[SeedQuestion], now: DateTime<Utc>) -> StoreResult<()>;

    /// The question of `day` for `scope`: the one dated that day (then recorded as the scope's),
    /// else the one assigned to the scope for that day, else a new assignment (see the
    /// implementation for the choice). Two callers at once get the same. `None` when there is no
    /// question at all.
    async fn daily_question(&self, scope: Scope, day: NaiveDate, now: DateTime<Utc>) -> StoreResult<Option<Uuid>>;

    /// Stores an answer with its effects in one transaction; [`StoreError::Conflict`] (and
    /// nothing changed) when the user answered the question already.
    async fn submit_answer(&self, answer: AnswerRecord, effects: AnswerEffects) -> StoreResult<AnswerRecord>;
    /// A user's answer to a question.
    async fn answer_of(&self, user_id: Uuid, question_id: Uuid) -> StoreResult<Option<AnswerRecord>>;
    /// The answer to a question by another member of `couple_id`.
    async fn partner_answer(&self, couple_id: Uuid, user_id: Uuid, question_id: Uuid) -> StoreResult<Option<AnswerRecord>>;
    /// A user's answers, newest first, before `before`, at most `limit`.
    async fn answers_of(&self, user_id: Uuid, before: Option<Uuid>, limit: usize) -> StoreResult<Vec<AnswerRecord>>;
    /// A user's tag scores, by tag name.
    async fn tag_scores(&self, user_id: Uuid) -> StoreResult<Vec<TagScoreRecord>>;

    /// Outbox entries not applied yet, oldest first per user, at most `limit`.
    async fn pending_vector_updates(&self, limit: usize) -> StoreResult<Vec<OutboxEntry>>;
    /// Marks an outbox entry applied; whether it is still there (`false`: the user was erased
    /// after it was read).
    async fn vector_update_done(&self, user_id: Uuid, seq: i64, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Erases what belongs to the user: answers, tag scores, the relational vector, outbox
    /// entries and personal daily assignments. Idempotent.
    async fn erase_user(&self, user_id: Uuid) -> StoreResult<()>;
    /// Erases what belongs to the couple: its daily assignments (the rotation). Its members'
    /// answers go with their accounts. Idempotent.
    async fn erase_couple(&self, couple_id: Uuid) -> StoreResult<()>;
}
