//! Persistence behind one trait, with a PostgreSQL and a SQLite backend chosen by the database
//! URL. A room belongs to one couple; every read that a caller's request drives names the room,
//! and the logic checks the room's couple first, so another couple's rooms are simply not found.
//!
//! Order within a room is its `seq`: assigned when a message is committed, one more than the
//! room's last, under the room row's lock, so it is gap-free and increases in commit order also
//! when several replicas write to one PostgreSQL. Ids (UUID v7) are what clients hold; `seq` is
//! how the store pages and how sockets detect a gap.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
pub use couple_common::db::{Database, StoreError, StoreResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod sql;

pub use sql::{PgStore, SqliteStore, connect};

/// A chat room.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoomRecord {
    /// Id (v7).
    pub id: Uuid,
    /// The couple it belongs to.
    pub couple_id: Uuid,
    /// Display name.
    pub name: String,
    /// The couple's default room, created on first use (one per couple).
    pub is_default: bool,
    /// Who created it; `None` for the default room.
    pub created_by: Option<Uuid>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The `seq` of its newest message, 0 when it has none.
    pub last_seq: i64,
}

/// A stored message (serialized as the hub's events carry it between replicas).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    /// Id (v7), chosen by the service before the commit.
    pub id: Uuid,
    /// Its room.
    pub room_id: Uuid,
    /// Its place in the room, from 1, assigned at commit.
    pub seq: i64,
    /// Who sent it.
    pub sender_id: Uuid,
    /// The sender's display name when it was sent, if known.
    pub nickname: Option<String>,
    /// The text.
    pub message: String,
    /// The message it answers, in the same room.
    pub parent_id: Option<Uuid>,
    /// The sender's own id for it: a resend with the same one returns this message.
    pub client_id: Option<String>,
    /// When it was committed.
    pub created_at: DateTime<Utc>,
}

/// A message to commit; `seq` is assigned by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Id (v7).
    pub id: Uuid,
    /// Its room (which exists: the logic checked it).
    pub room_id: Uuid,
    /// Who sends it.
    pub sender_id: Uuid,
    /// The sender's display name, if known.
    pub nickname: Option<String>,
    /// The text, already validated.
    pub message: String,
    /// The message it answers (the logic checked it is in the same room).
    pub parent_id: Option<Uuid>,
    /// The sender's idempotency key.
    pub client_id: Option<String>,
    /// The commit time.
    pub created_at: DateTime<Utc>,
}

/// What appending one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Committed now, with its `seq`.
    New(MessageRecord),
    /// The same sender already sent this `clientId` in this room: that message, unchanged.
    Existing(MessageRecord),
}

impl Appended {
    /// The message either way.
    pub fn record(&self) -> &MessageRecord {
        match self {
            Appended::New(m) | Appended::Existing(m) => m,
        }
    }
}

/// Which part of a room's history to read, in `seq` order. Each returns at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The newest `limit`, returned oldest first.
    Latest,
    /// The `limit` just before this `seq` (exclusive), returned oldest first.
    Before(i64),
    /// The `limit` just after this `seq` (exclusive), returned oldest first.
    After(i64),
}

/// A room as one member sees it in the room list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    /// The room.
    pub room: RoomRecord,
    /// Messages from others after this member's read marker.
    pub unread: i64,
    /// The `seq` this member has read up to, 0 when none.
    pub last_read_seq: i64,
    /// The newest message, if any.
    pub last_message: Option<MessageRecord>,
}

/// A member's read marker in a room.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadMarker {
    /// The room.
    pub room_id: Uuid,
    /// The reader.
    pub user_id: Uuid,
    /// Read up to and including this `seq`.
    pub last_read_seq: i64,
    /// The message with that `seq`.
    pub last_read_id: Uuid,
    /// When it last moved.
    pub updated_at: DateTime<Utc>,
}

/// What [`Store::mark_read`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    /// The marker afterwards.
    pub marker: ReadMarker,
    /// Whether this call moved it (so the room is told).
    pub moved: bool,
}

/// Everything the service keeps.
#[async_trait]
pub trait Store: Database {
    /// Creates a room. A second default room for a couple is `StoreError::Conflict`.
    async fn create_room(&self, room: &RoomRecord) -> StoreResult<()>;

    /// The couple's default room, created from `candidate` (its id, name and time) when it has
    /// none; two concurrent calls (also on two replicas) return the same room.
    async fn default_room(&self, candidate: &RoomRecord) -> StoreResult<RoomRecord>;

    /// A room by id, whichever couple it belongs to (the logic checks).
    async fn room(&self, id: Uuid) -> StoreResult<Option<RoomRecord>>;

    /// How many rooms the couple has.
    async fn count_rooms(&self, couple_id: Uuid) -> StoreResult<i64>;

    /// The couple's rooms as `user_id` sees them: the default room first, then by creation.
    async fn rooms(&self, couple_id: Uuid, user_id: Uuid) -> StoreResult<Vec<RoomView>>;

    /// Commits `batch` in one transaction, in order: each message gets the next `seq` of its
    /// room, except a repeat of a `(room, sender, clientId)` already stored (or earlier in the
    /// batch), which returns the stored message. One result per message, in the same order.
    /// A failure fails the whole batch and commits none of it.
    async fn append(&self, batch: &[NewMessage]) -> StoreResult<Vec<Appended>>;

    /// Part of a room's history, oldest first.
    async fn messages(&self, room_id: Uuid, window: Window, limit: usize) -> StoreResult<Vec<MessageRecord>>;

    /// One message of a room by id (`None` if it is not in that room).
    async fn message(&self, room_id: Uuid, id: Uuid) -> StoreResult<Option<MessageRecord>>;

    /// Moves `user_id`'s read marker in the room to `seq` (the message `id`) if that is later
    /// than where it is; returns the marker as it is afterwards and whether this call moved it.
    /// Never moves backwards.
    async fn mark_read(&self, room_id: Uuid, user_id: Uuid, seq: i64, id: Uuid, now: DateTime<Utc>) -> StoreResult<Marked>;

    /// The read markers of a room (one per member who has read anything).
    async fn read_markers(&self, room_id: Uuid) -> StoreResult<Vec<ReadMarker>>;

    /// Erases what is the user's alone: their read markers. What they wrote belongs to the couple
    /// and stays until the couple is erased. Idempotent.
    async fn erase_user(&self, user_id: Uuid) -> StoreResult<()>;

    /// Deletes the couple's rooms, messages and read markers. Idempotent; returns the ids of the
    /// rooms deleted, so open sockets in them can be closed.
    async fn erase_couple(&self, couple_id: Uuid) -> StoreResult<Vec<Uuid>>;
}
