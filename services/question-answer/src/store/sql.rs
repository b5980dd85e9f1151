//! The SQL both backends run, written to the common subset of PostgreSQL and SQLite (`$n`
//! parameters, `RETURNING`, `ON CONFLICT`), so one macro implements [`Store`] and [`VectorStore`]
//! for each pool type; the few statements the dialects cannot share are chosen with
//! `Self::BACKEND.pick(postgres, sqlite)`.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{
    AnswerEffects, AnswerRecord, NewQuestion, OutboxEntry, Question, QuestionTag, Scope, SeedQuestion, SeedTag, Store, StoreError,
    StoreResult, TagRecord, TagScoreRecord, VectorRecord, VectorStore, VectorWrite,
};
use crate::domain::{Choice, OptionDeltas, TraitVector, VectorDeltas};

couple_common::sql_store! {
    /// The PostgreSQL backend, for production and scaled-out deployments.
    pub struct PgStore(postgres, "migrations/postgres");
    /// The SQLite backend, the embedded default for a single instance.
    pub struct SqliteStore(sqlite, "migrations/sqlite");
    /// Opens the store the URL names (`postgres://...` or `sqlite:...`).
    pub async fn connect -> dyn Store;
}

const QUESTION_COLUMNS: &str = "id, question, option1, option2, date, vector_deltas, created_at";
const ANSWER_COLUMNS: &str = "id, user_id, question_id, couple_id, selected_option, created_at";
const VECTOR_COLUMNS: &str = "user_id, vectors, applied_seq, updated_at";

/// Creates a zero vector unless one exists; being a write, it also makes SQLite take the write
/// lock before the row is read.
const INSERT_ZERO_VECTOR: &str =
    "INSERT INTO user_vectors (user_id, vectors, applied_seq, updated_at) VALUES ($1, $2, 0, $3) ON CONFLICT (user_id) DO NOTHING";
const UPDATE_VECTOR: &str = "UPDATE user_vectors SET vectors = $2, applied_seq = $3, updated_at = $4 WHERE user_id = $1";

/// The choice of a new question of the day for a scope (`$1` scope id, `$2` day, `$3` user,
/// `$4` couple): never a future-dated question; first the questions never assigned to the scope,
/// those neither partner answered before the others; once all were assigned, the least recently
/// assigned (a new cycle in the same order).
const PICK_DAILY: &str = "SELECT q.id FROM questions q \
     LEFT JOIN (SELECT question_id, MAX(day) AS last_day FROM daily_questions WHERE scope_id = $1 GROUP BY question_id) d \
       ON d.question_id = q.id \
     WHERE q.date IS NULL OR q.date < $2 \
     ORDER BY CASE WHEN d.last_day IS NULL THEN 0 ELSE 1 END, d.last_day, \
       CASE WHEN EXISTS (SELECT 1 FROM user_answers a WHERE a.question_id = q.id AND (a.user_id = $3 OR a.couple_id = $4)) THEN 1 ELSE 0 END, \
       q.id \
     LIMIT 1";

#[derive(sqlx::FromRow)]
struct QuestionRow {
    id: Uuid,
    question: String,
    option1: String,
    option2: String,
    date: Option<NaiveDate>,
    vector_deltas: String,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct QuestionTagRow {
    question_id: Uuid,
    tag_id: Uuid,
    tag_name: String,
    weight: f64,
}

#[derive(sqlx::FromRow)]
struct AnswerRow {
    id: Uuid,
    user_id: Uuid,
    question_id: Uuid,
    couple_id: Option<Uuid>,
    selected_option: i32,
    created_at: DateTime<Utc>,
}

impl From<AnswerRow> for AnswerRecord {
    fn from(r: AnswerRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            question_id: r.question_id,
            couple_id: r.couple_id,
            choice: Choice::from_number(r.selected_option),
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct VectorRow {
    user_id: Uuid,
    vectors: String,
    applied_seq: i64,
    updated_at: DateTime<Utc>,
}

impl From<VectorRow> for VectorRecord {
    fn from(r: VectorRow) -> Self {
        Self { user_id: r.user_id, vector: TraitVector::from_json(&r.vectors), applied_seq: r.applied_seq, updated_at: r.updated_at }
    }
}

/// `$from, $from+1, ...`: `n` placeholders for an `IN` list.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn parse_deltas(raw: &str) -> OptionDeltas {
    serde_json::from_str(raw).unwrap_or_else(|err| {
        tracing::error!(%err, "stored vector deltas do not parse; treating them as none");
        OptionDeltas::default()
    })
}

/// Joins question rows with their tags, keeping the rows' order.
fn assemble(rows: Vec<QuestionRow>, tags: Vec<QuestionTagRow>) -> Vec<Question> {
    let mut by_question: HashMap<Uuid, Vec<QuestionTag>> = HashMap::new();
    for t in tags {
        by_question.entry(t.question_id).or_default().push(QuestionTag { tag_id: t.tag_id, tag_name: t.tag_name, weight: t.weight });
    }
    rows.into_iter()
        .map(|r| Question {
            tags: by_question.remove(&r.id).unwrap_or_default(),
            vector_deltas: parse_deltas(&r.vector_deltas),
            id: r.id,
            question: r.question,
            option1: r.option1,
            option2: r.option2,
            date: r.date,
            created_at: r.created_at,
        })
        .collect()
}

macro_rules! impl_store {
    ($store:ident, $db:ty) => {
        impl $store {
            /// The questions of `rows` with their tags.
            async fn with_tags<'c, E>(executor: E, rows: Vec<QuestionRow>) -> StoreResult<Vec<Question>>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT qt.question_id, qt.tag_id, t.name AS tag_name, qt.weight FROM question_tags qt JOIN tags t ON t.id = qt.tag_id \
                     WHERE qt.question_id IN ({}) ORDER BY t.name",
                    placeholders(1, rows.len())
                );
                let mut query = sqlx::query_as::<_, QuestionTagRow>(&sql);
                for row in &rows {
                    query = query.bind(row.id);
                }
                let tags = query.fetch_all(executor).await?;
                Ok(assemble(rows, tags))
            }

            /// Reads a user's vector inside `tx` (creating a zero one when missing and, on
            /// PostgreSQL, locking the row), lets `change` modify it, and writes it back when
            /// `change` says it changed. Returns the vector and whether it was written.
            async fn change_vector(
                tx: &mut sqlx::Transaction<'static, $db>,
                user_id: Uuid,
                now: DateTime<Utc>,
                change: impl FnOnce(&mut VectorRecord) -> bool,
            ) -> StoreResult<(VectorRecord, bool)> {
                sqlx::query(INSERT_ZERO_VECTOR).bind(user_id).bind(TraitVector::default().to_json()).bind(now).execute(&mut **tx).await?;
                let select = format!("SELECT {VECTOR_COLUMNS} FROM user_vectors WHERE user_id = $1{}", Self::BACKEND.pick(" FOR UPDATE", ""));
                let mut vector: VectorRecord = sqlx::query_as::<_, VectorRow>(&select).bind(user_id).fetch_one(&mut **tx).await?.into();
                let changed = change(&mut vector);
                if changed {
                    vector.updated_at = now;
                    sqlx::query(UPDATE_VECTOR)
                        .bind(user_id)
                        .bind(vector.vector.to_json())
                        .bind(vector.applied_seq)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok((vector, changed))
            }
        }

        #[async_trait]
        impl VectorStore for $store {
            #[tracing::instrument(name = "store.get_vector", skip_all)]
            async fn get_vector(&self, user_id: Uuid) -> StoreResult<Option<VectorRecord>> {
                let sql = format!("SELECT {VECTOR_COLUMNS} FROM user_vectors WHERE user_id = $1");
                Ok(sqlx::query_as::<_, VectorRow>(&sql).bind(user_id).fetch_optional(&self.pool).await?.map(Into::into))
            }

            #[tracing::instrument(name = "store.get_vectors", skip_all)]
            async fn get_vectors(&self, user_ids: &[Uuid]) -> StoreResult<Vec<VectorRecord>> {
                if user_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!("SELECT {VECTOR_COLUMNS} FROM user_vectors WHERE user_id IN ({})", placeholders(1, user_ids.len()));
                let mut query = sqlx::query_as::<_, VectorRow>(&sql);
                for id in user_ids {
                    query = query.bind(*id);
                }
                Ok(query.fetch_all(&self.pool).await?.into_iter().map(Into::into).collect())
            }

            #[tracing::instrument(name = "store.create_vector", skip_all)]
            async fn create_vector(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<VectorRecord> {
                let sql = format!("INSERT INTO user_vectors (user_id, vectors, applied_seq, updated_at) VALUES ($1, $2, 0, $3) RETURNING {VECTOR_COLUMNS}");
                let row: VectorRow = sqlx::query_as(&sql).bind(user_id).bind(TraitVector::default().to_json()).bind(now).fetch_one(&self.pool).await?;
                Ok(row.into())
            }

            #[tracing::instrument(name = "store.put_vector", skip_all)]
            async fn put_vector(&self, user_id: Uuid, values: &VectorDeltas, now: DateTime<Utc>) -> StoreResult<VectorRecord> {
                let mut tx = self.pool.begin().await?;
                let (vector, _) = Self::change_vector(&mut tx, user_id, now, |v| {
                    v.vector.set(values);
                    true
                })
                .await?;
                tx.commit().await?;
                Ok(vector)
            }

            #[tracing::instrument(name = "store.delete_vector", skip_all)]
            async fn delete_vector(&self, user_id: Uuid) -> StoreResult<bool> {
                let deleted = sqlx::query("DELETE FROM user_vectors WHERE user_id = $1").bind(user_id).execute(&self.pool).await?.rows_affected();
                Ok(deleted > 0)
            }

            #[tracing::instrument(name = "store.apply_deltas", skip_all, fields(seq))]
            async fn apply_deltas(&self, user_id: Uuid, seq: i64, deltas: &VectorDeltas, now: DateTime<Utc>) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                let (_, applied) = Self::change_vector(&mut tx, user_id, now, |v| {
                    if v.applied_seq >= seq {
                        return false;
                    }
                    v.vector.apply(deltas);
                    v.applied_seq = seq;
                    true
                })
                .await?;
                tx.commit().await?;
                Ok(applied)
            }

            async fn ping_vectors(&self) -> StoreResult<()> {
                couple_common::db::Database::ping(self).await
            }
        }

        #[async_trait]
        impl Store for $store {
            #[tracing::instrument(name = "store.create_tag", skip_all)]
            async fn create_tag(&self, id: Uuid, name: &str, now: DateTime<Utc>) -> StoreResult<TagRecord> {
                Ok(sqlx::query_as("INSERT INTO tags (id, name, created_at) VALUES ($1, $2, $3) RETURNING id, name, created_at")
                    .bind(id)
                    .bind(name)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?)
            }

            #[tracing::instrument(name = "store.tags", skip_all)]
            async fn tags(&self) -> StoreResult<Vec<TagRecord>> {
                Ok(sqlx::query_as("SELECT id, name, created_at FROM tags ORDER BY name").fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.create_question", skip_all)]
            async fn create_question(&self, q: NewQuestion) -> StoreResult<Question> {
                let deltas = serde_json::to_string(&q.vector_deltas).unwrap_or_default();
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO questions (id, seed_key, question, option1, option2, date, vector_deltas, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(q.id)
                .bind(&q.seed_key)
                .bind(&q.question)
                .bind(&q.option1)
                .bind(&q.option2)
                .bind(q.date)
                .bind(&deltas)
                .bind(q.now)
                .execute(&mut *tx)
                .await?;
                for (tag_id, weight) in &q.tags {
                    sqlx::query("INSERT INTO question_tags (question_id, tag_id, weight) VALUES ($1, $2, $3)")
                        .bind(q.id)
                        .bind(tag_id)
                        .bind(weight)
                        .execute(&mut *tx)
                        .await?;
                }
                let sql = format!("SELECT {QUESTION_COLUMNS} FROM questions WHERE id = $1");
                let row: QuestionRow = sqlx::query_as(&sql).bind(q.id).fetch_one(&mut *tx).await?;
                let question = Self::with_tags(&mut *tx, vec![row]).await?.pop().ok_or(StoreError::Other(sqlx::Error::RowNotFound))?;
                tx.commit().await?;
                Ok(question)
            }

            #[tracing::instrument(name = "store.question", skip_all)]
            async fn question(&self, id: Uuid) -> StoreResult<Option<Question>> {
                let sql = format!("SELECT {QUESTION_COLUMNS} FROM questions WHERE id = $1");
                let rows: Vec<QuestionRow> = sqlx::query_as(&sql).bind(id).fetch_all(&self.pool).await?;
                Ok(Self::with_tags(&self.pool, rows).await?.pop())
            }

            #[tracing::instrument(name = "store.questions", skip_all)]
            async fn questions(&self, after: Option<Uuid>, limit: usize, dated_until: Option<NaiveDate>) -> StoreResult<Vec<Question>> {
                // `$2 IS NULL` keeps every question; a day keeps those undated or dated up to it.
                let sql = format!(
                    "SELECT {QUESTION_COLUMNS} FROM questions \
                     WHERE ($1 IS NULL OR id > $1) AND ($2 IS NULL OR date IS NULL OR date <= $2) ORDER BY id LIMIT $3"
                );
                let rows: Vec<QuestionRow> =
                    sqlx::query_as(&sql).bind(after).bind(dated_until).bind(limit as i64).fetch_all(&self.pool).await?;
                Self::with_tags(&self.pool, rows).await
            }

            #[tracing::instrument(name = "store.load_seed", skip_all)]
            async fn load_seed(&self, tags: &[SeedTag], questions: &[SeedQuestion], now: DateTime<Utc>) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                let mut tag_ids = HashMap::new();
                for tag in tags {
                    // A tag an admin made under this name before the seed had it becomes the seed's.
                    sqlx::query("UPDATE tags SET seed_key = $1 WHERE name = $2 AND seed_key IS NULL")
                        .bind(&tag.key)
                        .bind(&tag.name)
                        .execute(&mut *tx)
                        .await?;
                    let id: Uuid = sqlx::query_scalar(
                        "INSERT INTO tags (id, seed_key, name, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (seed_key) DO UPDATE SET name = excluded.name RETURNING id",
                    )
                    .bind(Uuid::now_v7())
                    .bind(&tag.key)
                    .bind(&tag.name)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    tag_ids.insert(tag.key.as_str(), id);
                }
                for q in questions {
                    let question_id: Uuid = sqlx::query_scalar(
                        "INSERT INTO questions (id, seed_key, question, option1, option2, date, vector_deltas, created_at) \
                         VALUES ($1, $2, $3, $4, $5, NULL, $6, $7) \
                         ON CONFLICT (seed_key) DO UPDATE SET question = excluded.question, option1 = excluded.option1, \
                         option2 = excluded.option2, vector_deltas = excluded.vector_deltas RETURNING id",
                    )
                    .bind(Uuid::now_v7())
                    .bind(&q.key)
                    .bind(&q.question)
                    .bind(&q.option1)
                    .bind(&q.option2)
                    .bind(serde_json::to_string(&q.vector_deltas).unwrap_or_default())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    let mut wanted = HashSet::new();
                    for (key, weight) in &q.tags {
                        let Some(tag_id) = tag_ids.get(key.as_str()) else { continue };
                        wanted.insert(*tag_id);
                        sqlx::query(
                            "INSERT INTO question_tags (question_id, tag_id, weight) VALUES ($1, $2, $3) \
                             ON CONFLICT (question_id, tag_id) DO UPDATE SET weight = excluded.weight",
                        )
                        .bind(question_id)
                        .bind(tag_id)
                        .bind(weight)
                        .execute(&mut *tx)
                        .await?;
                    }
                    let current: Vec<Uuid> =
                        sqlx::query_scalar("SELECT tag_id FROM question_tags WHERE question_id = $1").bind(question_id).fetch_all(&mut *tx).await?;
                    for stale in current.into_iter().filter(|id| !wanted.contains(id)) {
                        sqlx::query("DELETE FROM question_tags WHERE question_id = $1 AND tag_id = $2")
                            .bind(question_id)
                            .bind(stale)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.daily_question", skip_all, fields(scope = %scope.id(), %day))]
            async fn daily_question(&self, scope: Scope, day: NaiveDate, now: DateTime<Utc>) -> StoreResult<Option<Uuid>> {
                const ASSIGNED: &str = "SELECT question_id FROM daily_questions WHERE scope_id = $1 AND day = $2";
                let dated: Option<Uuid> = sqlx::query_scalar("SELECT id FROM questions WHERE date = $1").bind(day).fetch_optional(&self.pool).await?;
                let assigned: Option<Uuid> = sqlx::query_scalar(ASSIGNED).bind(scope.id()).bind(day).fetch_optional(&self.pool).await?;
                if let Some(dated) = dated {
                    // Recorded as the scope's question of the day, so the rotation counts it as
                    // asked once its day has passed.
                    if assigned != Some(dated) {
                        sqlx::query(
                            "INSERT INTO daily_questions (scope_id, day, question_id, created_at) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (scope_id, day) DO UPDATE SET question_id = excluded.question_id",
                        )
                        .bind(scope.id())
                        .bind(day)
                        .bind(dated)
                        .bind(now)
                        .execute(&self.pool)
                        .await?;
                    }
                    return Ok(Some(dated));
                }
                if assigned.is_some() {
                    return Ok(assigned);
                }
                let picked: Option<Uuid> = sqlx::query_scalar(PICK_DAILY)
                    .bind(scope.id())
                    .bind(day)
                    .bind(scope.user_id)
                    .bind(scope.couple_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(picked) = picked else { return Ok(None) };
                // The primary key settles a race with the partner: whoever inserts first wins and
                // both read the winner.
                sqlx::query(
                    "INSERT INTO daily_questions (scope_id, day, question_id, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (scope_id, day) DO NOTHING",
                )
                .bind(scope.id())
                .bind(day)
                .bind(picked)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(sqlx::query_scalar(ASSIGNED).bind(scope.id()).bind(day).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.submit_answer", skip_all)]
            async fn submit_answer(&self, a: AnswerRecord, effects: AnswerEffects) -> StoreResult<AnswerRecord> {
                let mut tx = self.pool.begin().await?;
                // First, so a repeated answer fails on the unique key before anything changes.
                let sql = format!(
                    "INSERT INTO user_answers (id, user_id, question_id, couple_id, selected_option, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ANSWER_COLUMNS}"
                );
                let row: AnswerRow = sqlx::query_as(&sql)
                    .bind(a.id)
                    .bind(a.user_id)
                    .bind(a.question_id)
                    .bind(a.couple_id)
                    .bind(a.choice.number())
                    .bind(a.created_at)
                    .fetch_one(&mut *tx)
                    .await?;
                let upsert_score = Self::BACKEND.pick(
                    "INSERT INTO user_tag_profiles (user_id, tag_id, score, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, tag_id) DO UPDATE SET score = GREATEST(-1.0, LEAST(1.0, user_tag_profiles.score + excluded.score)), \
                     updated_at = excluded.updated_at",
                    "INSERT INTO user_tag_profiles (user_id, tag_id, score, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, tag_id) DO UPDATE SET score = MAX(-1.0, MIN(1.0, user_tag_profiles.score + excluded.score)), \
                     updated_at = excluded.updated_at",
                );
                // In tag order, so two answers of one user at once lock the rows in the same order.
                let mut tag_deltas = effects.tag_deltas.clone();
                tag_deltas.sort_by_key(|(tag_id, _)| *tag_id);
                for (tag_id, delta) in &tag_deltas {
                    sqlx::query(upsert_score)
                        .bind(a.user_id)
                        .bind(tag_id)
                        .bind(crate::domain::clamp(*delta))
                        .bind(a.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
                if !effects.vector_deltas.is_empty() {
                    match effects.vector {
                        VectorWrite::InTransaction => {
                            Self::change_vector(&mut tx, a.user_id, a.created_at, |v| {
                                v.vector.apply(&effects.vector_deltas);
                                true
                            })
                            .await?;
                        }
                        VectorWrite::Outbox => {
                            let seq: i64 = sqlx::query_scalar(
                                "INSERT INTO vector_outbox_seq (user_id, last_seq) VALUES ($1, 1) \
                                 ON CONFLICT (user_id) DO UPDATE SET last_seq = vector_outbox_seq.last_seq + 1 RETURNING last_seq",
                            )
                            .bind(a.user_id)
                            .fetch_one(&mut *tx)
                            .await?;
                            sqlx::query("INSERT INTO vector_outbox (user_id, seq, deltas, created_at) VALUES ($1, $2, $3, $4)")
                                .bind(a.user_id)
                                .bind(seq)
                                .bind(serde_json::to_string(&effects.vector_deltas).unwrap_or_default())
                                .bind(a.created_at)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(row.into())
            }

            #[tracing::instrument(name = "store.answer_of", skip_all)]
            async fn answer_of(&self, user_id: Uuid, question_id: Uuid) -> StoreResult<Option<AnswerRecord>> {
                let sql = format!("SELECT {ANSWER_COLUMNS} FROM user_answers WHERE user_id = $1 AND question_id = $2");
                Ok(sqlx::query_as::<_, AnswerRow>(&sql).bind(user_id).bind(question_id).fetch_optional(&self.pool).await?.map(Into::into))
            }

            #[tracing::instrument(name = "store.partner_answer", skip_all)]
            async fn partner_answer(&self, couple_id: Uuid, user_id: Uuid, question_id: Uuid) -> StoreResult<Option<AnswerRecord>> {
                let sql = format!(
                    "SELECT {ANSWER_COLUMNS} FROM user_answers WHERE couple_id = $1 AND question_id = $2 AND user_id <> $3 ORDER BY id LIMIT 1"
                );
                Ok(sqlx::query_as::<_, AnswerRow>(&sql)
                    .bind(couple_id)
                    .bind(question_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Into::into))
            }

            #[tracing::instrument(name = "store.answers_of", skip_all)]
            async fn answers_of(&self, user_id: Uuid, before: Option<Uuid>, limit: usize) -> StoreResult<Vec<AnswerRecord>> {
                let rows: Vec<AnswerRow> = match before {
                    Some(before) => {
                        let sql = format!("SELECT {ANSWER_COLUMNS} FROM user_answers WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3");
                        sqlx::query_as(&sql).bind(user_id).bind(before).bind(limit as i64).fetch_all(&self.pool).await?
                    }
                    None => {
                        let sql = format!("SELECT {ANSWER_COLUMNS} FROM user_answers WHERE user_id = $1 ORDER BY id DESC LIMIT $2");
                        sqlx::query_as(&sql).bind(user_id).bind(limit as i64).fetch_all(&self.pool).await?
                    }
                };
                Ok(rows.into_iter().map(Into::into).collect())
            }

            #[tracing::instrument(name = "store.tag_scores", skip_all)]
            async fn tag_scores(&self, user_id: Uuid) -> StoreResult<Vec<TagScoreRecord>> {
                Ok(sqlx::query_as(
                    "SELECT p.tag_id, t.name AS tag_name, p.score, p.updated_at FROM user_tag_profiles p JOIN tags t ON t.id = p.tag_id \
                     WHERE p.user_id = $1 ORDER BY t.name",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(name = "store.pending_vector_updates", skip_all)]
            async fn pending_vector_updates(&self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
                let rows: Vec<(Uuid, i64, String)> =
                    sqlx::query_as("SELECT user_id, seq, deltas FROM vector_outbox WHERE done_at IS NULL ORDER BY user_id, seq LIMIT $1")
                        .bind(limit as i64)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(user_id, seq, deltas)| OutboxEntry {
                        user_id,
                        seq,
                        deltas: serde_json::from_str(&deltas).unwrap_or_else(|err| {
                            tracing::error!(%err, %user_id, seq, "outbox deltas do not parse; applying none");
                            VectorDeltas::default()
                        }),
                    })
                    .collect())
            }

            #[tracing::instrument(name = "store.vector_update_done", skip_all)]
            async fn vector_update_done(&self, user_id: Uuid, seq: i64, now: DateTime<Utc>) -> StoreResult<bool> {
                let found = sqlx::query("UPDATE vector_outbox SET done_at = COALESCE(done_at, $3) WHERE user_id = $1 AND seq = $2")
                    .bind(user_id)
                    .bind(seq)
                    .bind(now)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(found > 0)
            }

            #[tracing::instrument(name = "store.erase_user", skip_all)]
            async fn erase_user(&self, user_id: Uuid) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                for table in ["user_answers", "user_tag_profiles", "user_vectors", "vector_outbox", "vector_outbox_seq"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1")).bind(user_id).execute(&mut *tx).await?;
                }
                sqlx::query("DELETE FROM daily_questions WHERE scope_id = $1").bind(user_id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.erase_couple", skip_all)]
            async fn erase_couple(&self, couple_id: Uuid) -> StoreResult<()> {
                sqlx::query("DELETE FROM daily_questions WHERE scope_id = $1").bind(couple_id).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

impl_store!(PgStore, sqlx::Postgres);
impl_store!(SqliteStore, sqlx::Sqlite);
