//! The SQL both backends run, written to the common subset of PostgreSQL and SQLite (`$n`
//! parameters, `RETURNING`, `ON CONFLICT`, joins on `VALUES`), so one macro implements [`Store`] for each
//! pool type; the few fragments the dialects cannot share are chosen with
//! `Self::BACKEND.pick(postgres, sqlite)`.
//!
//! Appending is where the backends differ in substance. On PostgreSQL several replicas write, so a
//! batch first locks the rows of all its rooms, in id order (two batches touching the same rooms
//! wait for each other instead of deadlocking), and reads their `last_seq` under that lock. On
//! SQLite there is one writer at a time: the transaction starts as a write (`BEGIN IMMEDIATE`), so
//! no other append can read the same `last_seq` before this one commits.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Appended, Marked, MessageRecord, NewMessage, ReadMarker, RoomRecord, RoomView, Store, StoreError, StoreResult, Window};

couple_common::sql_store! {
    /// Chat on PostgreSQL: several replicas share it.
    pub struct PgStore(postgres, "migrations/postgres");
    /// Chat on a SQLite file: one replica.
    pub struct SqliteStore(sqlite, "migrations/sqlite");
    /// Opens the store the URL names.
    pub async fn connect -> dyn Store;
}

const ROOM_COLUMNS: &str = "id, couple_id, name, is_default, created_by, created_at, last_seq";
const MESSAGE_COLUMNS: &str = "id, room_id, seq, sender_id, nickname, message, parent_id, client_id, created_at";
/// [`MESSAGE_COLUMNS`] of the table aliased `m`.
const M_MESSAGE_COLUMNS: &str = "m.id, m.room_id, m.seq, m.sender_id, m.nickname, m.message, m.parent_id, m.client_id, m.created_at";
const READ_COLUMNS: &str = "room_id, user_id, last_read_seq, last_read_id, updated_at";
/// Messages per `INSERT` (9 parameters each), well inside both backends' parameter limits.
const INSERT_CHUNK: usize = 64;
/// Idempotency keys per lookup (3 parameters each).
const LOOKUP_CHUNK: usize = 256;

/// A room with one member's counts, as the room list reads it.
#[derive(sqlx::FromRow)]
struct RoomViewRow {
    #[sqlx(flatten)]
    room: RoomRecord,
    unread: i64,
    last_read_seq: i64,
}

/// `($from, ..., $from+width-1), ...`: `rows` tuples of placeholders.
fn tuples(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", (1..=width).map(|c| format!("${}", r * width + c)).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A sender's idempotency key in a room.
type ClientKey = (Uuid, Uuid, String);

fn client_key(room_id: Uuid, sender_id: Uuid, client_id: Option<&str>) -> Option<ClientKey> {
    client_id.map(|c| (room_id, sender_id, c.to_owned()))
}

/// What a batch does, worked out from the rooms' `last_seq` (read under the lock) and the
/// messages already stored under the batch's idempotency keys.
#[derive(Debug, PartialEq)]
struct Plan {
    /// One per message of the batch, in order.
    results: Vec<Appended>,
    /// The new messages to insert, in order.
    inserts: Vec<MessageRecord>,
    /// The new `last_seq` of each room that gets messages.
    last_seq: Vec<(Uuid, i64)>,
}

/// Assigns each new message the next `seq` of its room; a repeat of a key stored before or earlier
/// in the batch gets that message back and consumes no `seq`. Every room of the batch must be in
/// `last_seq`.
fn plan(batch: &[NewMessage], mut last_seq: HashMap<Uuid, i64>, stored: Vec<MessageRecord>) -> StoreResult<Plan> {
    let mut known: HashMap<ClientKey, MessageRecord> =
        stored.into_iter().filter_map(|m| client_key(m.room_id, m.sender_id, m.client_id.as_deref()).map(|key| (key, m))).collect();
    let mut results = Vec::with_capacity(batch.len());
    let mut inserts = Vec::new();
    let mut bumped = BTreeSet::new();
    for m in batch {
        let key = client_key(m.room_id, m.sender_id, m.client_id.as_deref());
        if let Some(existing) = key.as_ref().and_then(|k| known.get(k)) {
            results.push(Appended::Existing(existing.clone()));
            continue;
        }
        // A missing room was erased after the logic found it: the batch fails (and is retried
        // one message at a time, so only this message fails).
        let seq = last_seq.get_mut(&m.room_id).ok_or(StoreError::Other(sqlx::Error::RowNotFound))?;
        *seq += 1;
        bumped.insert(m.room_id);
        let record = MessageRecord {
            id: m.id,
            room_id: m.room_id,
            seq: *seq,
            sender_id: m.sender_id,
            nickname: m.nickname.clone(),
            message: m.message.clone(),
            parent_id: m.parent_id,
            client_id: m.client_id.clone(),
            created_at: m.created_at,
        };
        if let Some(key) = key {
            known.insert(key, record.clone());
        }
        inserts.push(record.clone());
        results.push(Appended::New(record));
    }
    let last_seq = bumped.into_iter().map(|room| (room, last_seq[&room])).collect();
    Ok(Plan { results, inserts, last_seq })
}

macro_rules! impl_store {
    ($store:ident, $db:ty) => {
        impl $store {
            /// The rooms' `last_seq`, locked until the transaction ends on PostgreSQL (in id order,
            /// so concurrent batches never deadlock). `NO KEY UPDATE` is enough to serialize
            /// appends and, unlike `UPDATE`, lets read markers' foreign-key checks through.
            async fn lock_rooms(tx: &mut sqlx::Transaction<'static, $db>, rooms: &BTreeSet<Uuid>) -> StoreResult<HashMap<Uuid, i64>> {
                let sql = format!(
                    "SELECT id, last_seq FROM chat_rooms WHERE id IN ({}) ORDER BY id{}",
                    tuples(rooms.len(), 1),
                    Self::BACKEND.pick(" FOR NO KEY UPDATE", "")
                );
                let mut query = sqlx::query_as::<_, (Uuid, i64)>(&sql);
                for room in rooms {
                    query = query.bind(*room);
                }
                Ok(query.fetch_all(&mut **tx).await?.into_iter().collect())
            }

            /// Sets each room's `last_seq`, in one statement per chunk of rooms: a batch spans as
            /// many rooms as it has messages under load, and a round trip per room made the
            /// commit's cost grow with the batch on PostgreSQL.
            async fn raise_last_seq(tx: &mut sqlx::Transaction<'static, $db>, rooms: &[(Uuid, i64)]) -> StoreResult<()> {
                for chunk in rooms.chunks(LOOKUP_CHUNK) {
                    let sql = format!(
                        "UPDATE chat_rooms SET last_seq = v.column2 FROM (VALUES {}) AS v WHERE chat_rooms.id = v.column1",
                        tuples(chunk.len(), 2)
                    );
                    let mut query = sqlx::query(&sql);
                    for (room, seq) in chunk {
                        query = query.bind(*room).bind(*seq);
                    }
                    query.execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// The stored messages with any of the batch's idempotency keys.
            async fn stored_keys(tx: &mut sqlx::Transaction<'static, $db>, batch: &[NewMessage]) -> StoreResult<Vec<MessageRecord>> {
                let keyed: Vec<&NewMessage> = batch.iter().filter(|m| m.client_id.is_some()).collect();
                let mut stored = Vec::new();
                for chunk in keyed.chunks(LOOKUP_CHUNK) {
                    // A join rather than a row-value `IN`, which SQLite answers with a full index scan.
                    let sql = format!(
                        "SELECT {M_MESSAGE_COLUMNS} FROM (VALUES {}) AS k JOIN chat_messages m \
                         ON m.room_id = k.column1 AND m.sender_id = k.column2 AND m.client_id = k.column3",
                        tuples(chunk.len(), 3)
                    );
                    let mut query = sqlx::query_as::<_, MessageRecord>(&sql);
                    for m in chunk {
                        query = query.bind(m.room_id).bind(m.sender_id).bind(&m.client_id);
                    }
                    stored.extend(query.fetch_all(&mut **tx).await?);
                }
                Ok(stored)
            }

            async fn insert_messages(tx: &mut sqlx::Transaction<'static, $db>, messages: &[MessageRecord]) -> StoreResult<()> {
                for chunk in messages.chunks(INSERT_CHUNK) {
                    let sql = format!("INSERT INTO chat_messages ({MESSAGE_COLUMNS}) VALUES {}", tuples(chunk.len(), 9));
                    let mut query = sqlx::query(&sql);
                    for m in chunk {
                        query = query
                            .bind(m.id)
                            .bind(m.room_id)
                            .bind(m.seq)
                            .bind(m.sender_id)
                            .bind(&m.nickname)
                            .bind(&m.message)
                            .bind(m.parent_id)
                            .bind(&m.client_id)
                            .bind(m.created_at);
                    }
                    query.execute(&mut **tx).await?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            #[tracing::instrument(name = "store.create_room", skip_all)]
            async fn create_room(&self, room: &RoomRecord) -> StoreResult<()> {
                sqlx::query(&format!("INSERT INTO chat_rooms ({ROOM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                    .bind(room.id)
                    .bind(room.couple_id)
                    .bind(&room.name)
                    .bind(room.is_default)
                    .bind(room.created_by)
                    .bind(room.created_at)
                    .bind(room.last_seq)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.default_room", skip_all)]
            async fn default_room(&self, candidate: &RoomRecord) -> StoreResult<RoomRecord> {
                // The loser of a race inserts nothing and reads the winner's room.
                sqlx::query(&format!(
                    "INSERT INTO chat_rooms ({ROOM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 0) \
                     ON CONFLICT (couple_id) WHERE is_default DO NOTHING"
                ))
                .bind(candidate.id)
                .bind(candidate.couple_id)
                .bind(&candidate.name)
                .bind(true)
                .bind(candidate.created_by)
                .bind(candidate.created_at)
                .execute(&self.pool)
                .await?;
                let sql = format!("SELECT {ROOM_COLUMNS} FROM chat_rooms WHERE couple_id = $1 AND is_default");
                Ok(sqlx::query_as(&sql).bind(candidate.couple_id).fetch_one(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.room", skip_all)]
            async fn room(&self, id: Uuid) -> StoreResult<Option<RoomRecord>> {
                let sql = format!("SELECT {ROOM_COLUMNS} FROM chat_rooms WHERE id = $1");
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.count_rooms", skip_all)]
            async fn count_rooms(&self, couple_id: Uuid) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM chat_rooms WHERE couple_id = $1").bind(couple_id).fetch_one(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.rooms", skip_all)]
            async fn rooms(&self, couple_id: Uuid, user_id: Uuid) -> StoreResult<Vec<RoomView>> {
                // Unread: others' messages past the marker, counted on the (room_id, seq) index.
                let rows: Vec<RoomViewRow> = sqlx::query_as(
                    "SELECT r.id, r.couple_id, r.name, r.is_default, r.created_by, r.created_at, r.last_seq, \
                     COALESCE(rd.last_read_seq, 0) AS last_read_seq, \
                     (SELECT COUNT(*) FROM chat_messages m WHERE m.room_id = r.id AND m.seq > COALESCE(rd.last_read_seq, 0) \
                      AND m.sender_id <> $2) AS unread \
                     FROM chat_rooms r LEFT JOIN chat_reads rd ON rd.room_id = r.id AND rd.user_id = $2 \
                     WHERE r.couple_id = $1 ORDER BY r.is_default DESC, r.created_at, r.id",
                )
                .bind(couple_id)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                // A room's newest message is the one whose seq is the room's last_seq.
                let sql = format!(
                    "SELECT {M_MESSAGE_COLUMNS} FROM chat_messages m JOIN chat_rooms r ON r.id = m.room_id AND m.seq = r.last_seq \
                     WHERE r.couple_id = $1"
                );
                let latest: Vec<MessageRecord> = sqlx::query_as(&sql).bind(couple_id).fetch_all(&self.pool).await?;
                let mut latest: HashMap<Uuid, MessageRecord> = latest.into_iter().map(|m| (m.room_id, m)).collect();
                Ok(rows
                    .into_iter()
                    .map(|r| RoomView {
                        last_message: latest.remove(&r.room.id),
                        unread: r.unread,
                        last_read_seq: r.last_read_seq,
                        room: r.room,
                    })
                    .collect())
            }

            #[tracing::instrument(name = "store.append", skip_all, fields(messages = batch.len()))]
            async fn append(&self, batch: &[NewMessage]) -> StoreResult<Vec<Appended>> {
                if batch.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.pool.begin_with(Self::BACKEND.pick("BEGIN", "BEGIN IMMEDIATE")).await?;
                let rooms: BTreeSet<Uuid> = batch.iter().map(|m| m.room_id).collect();
                let last_seq = Self::lock_rooms(&mut tx, &rooms).await?;
                let stored = Self::stored_keys(&mut tx, batch).await?;
                let plan = plan(batch, last_seq, stored)?;
                Self::insert_messages(&mut tx, &plan.inserts).await?;
                Self::raise_last_seq(&mut tx, &plan.last_seq).await?;
                tx.commit().await?;
                Ok(plan.results)
            }

            #[tracing::instrument(name = "store.messages", skip_all)]
            async fn messages(&self, room_id: Uuid, window: Window, limit: usize) -> StoreResult<Vec<MessageRecord>> {
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let (condition, order, bound) = match window {
                    Window::Latest => ("", "DESC", None),
                    Window::Before(seq) => (" AND seq < $3", "DESC", Some(seq)),
                    Window::After(seq) => (" AND seq > $3", "", Some(seq)),
                };
                let sql =
                    format!("SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE room_id = $1{condition} ORDER BY seq {order} LIMIT $2");
                let mut query = sqlx::query_as::<_, MessageRecord>(&sql).bind(room_id).bind(limit);
                if let Some(seq) = bound {
                    query = query.bind(seq);
                }
                let mut messages = query.fetch_all(&self.pool).await?;
                if !order.is_empty() {
                    messages.reverse();
                }
                Ok(messages)
            }

            #[tracing::instrument(name = "store.message", skip_all)]
            async fn message(&self, room_id: Uuid, id: Uuid) -> StoreResult<Option<MessageRecord>> {
                let sql = format!("SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE room_id = $1 AND id = $2");
                Ok(sqlx::query_as(&sql).bind(room_id).bind(id).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.mark_read", skip_all)]
            async fn mark_read(&self, room_id: Uuid, user_id: Uuid, seq: i64, id: Uuid, now: DateTime<Utc>) -> StoreResult<Marked> {
                let mut tx = self.pool.begin().await?;
                // Only a later seq moves the marker (and its id and time with it).
                let written = sqlx::query(&format!(
                    "INSERT INTO chat_reads ({READ_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (room_id, user_id) DO UPDATE SET last_read_seq = excluded.last_read_seq, \
                     last_read_id = excluded.last_read_id, updated_at = excluded.updated_at \
                     WHERE excluded.last_read_seq > chat_reads.last_read_seq"
                ))
                .bind(room_id)
                .bind(user_id)
                .bind(seq)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let sql = format!("SELECT {READ_COLUMNS} FROM chat_reads WHERE room_id = $1 AND user_id = $2");
                let marker = sqlx::query_as(&sql).bind(room_id).bind(user_id).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok(Marked { marker, moved: written.rows_affected() > 0 })
            }

            #[tracing::instrument(name = "store.read_markers", skip_all)]
            async fn read_markers(&self, room_id: Uuid) -> StoreResult<Vec<ReadMarker>> {
                let sql = format!("SELECT {READ_COLUMNS} FROM chat_reads WHERE room_id = $1 ORDER BY user_id");
                Ok(sqlx::query_as(&sql).bind(room_id).fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.erase_user", skip_all)]
            async fn erase_user(&self, user_id: Uuid) -> StoreResult<()> {
                sqlx::query("DELETE FROM chat_reads WHERE user_id = $1").bind(user_id).execute(&self.pool).await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.erase_couple", skip_all)]
            async fn erase_couple(&self, couple_id: Uuid) -> StoreResult<Vec<Uuid>> {
                // Messages and read markers go with their rooms (ON DELETE CASCADE).
                Ok(sqlx::query_scalar("DELETE FROM chat_rooms WHERE couple_id = $1 RETURNING id")
                    .bind(couple_id)
                    .fetch_all(&self.pool)
                    .await?)
            }
        }
    };
}

impl_store!(PgStore, sqlx::Postgres);
impl_store!(SqliteStore, sqlx::Sqlite);

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn new(room_id: Uuid, sender_id: Uuid, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            id: Uuid::now_v7(),
            room_id,
            sender_id,
            nickname: None,
            message: "hi".into(),
            parent_id: None,
            client_id: client_id.map(Into::into),
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn placeholders_number_the_tuples_in_order() {
        assert_eq!(tuples(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(tuples(3, 1), "($1), ($2), ($3)");
    }

    #[test]
    fn a_plan_numbers_each_room_on_from_its_last_seq_and_repeats_burn_no_seq() {
        let (a, b, me) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let batch = [new(a, me, Some("x")), new(b, me, None), new(a, me, Some("x")), new(a, me, None)];
        let plan = plan(&batch, HashMap::from([(a, 5), (b, 0)]), Vec::new()).unwrap();
        let seqs: Vec<(bool, i64)> = plan.results.iter().map(|r| (matches!(r, Appended::New(_)), r.record().seq)).collect();
        assert_eq!(seqs, [(true, 6), (true, 1), (false, 6), (true, 7)]);
        assert_eq!(plan.results[2].record().id, batch[0].id, "the repeat is the first message");
        assert_eq!(plan.inserts.len(), 3);
        let mut expected = vec![(a, 7), (b, 1)];
        expected.sort();
        assert_eq!(plan.last_seq, expected);
    }

    #[test]
    fn a_plan_with_a_room_it_could_not_lock_fails() {
        let me = Uuid::now_v7();
        let err = plan(&[new(Uuid::now_v7(), me, None)], HashMap::new(), Vec::new()).unwrap_err();
        assert!(matches!(err, StoreError::Other(sqlx::Error::RowNotFound)));
    }
}
