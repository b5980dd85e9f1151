//! The SQL store on PostgreSQL and SQLite (placeholder: the store helper writes it).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Appended, MessageRecord, NewMessage, ReadMarker, RoomRecord, RoomView, Store, StoreResult, Window};

couple_common::sql_store! {
    /// Chat on PostgreSQL: several replicas share it.
    pub struct PgStore(postgres, "migrations/postgres");
    /// Chat on a SQLite file: one replica.
    pub struct SqliteStore(sqlite, "migrations/sqlite");
    /// Opens the store the URL names.
    pub async fn connect -> dyn Store;
}

macro_rules! placeholder {
    ($($store:ident),*) => {$(
        #[async_trait]
        impl Store for $store {
            async fn create_room(&self, _room: &RoomRecord) -> StoreResult<()> { unimplemented!() }
            async fn default_room(&self, _candidate: &RoomRecord) -> StoreResult<RoomRecord> { unimplemented!() }
            async fn room(&self, _id: Uuid) -> StoreResult<Option<RoomRecord>> { unimplemented!() }
            async fn count_rooms(&self, _couple_id: Uuid) -> StoreResult<i64> { unimplemented!() }
            async fn rooms(&self, _couple_id: Uuid, _user_id: Uuid) -> StoreResult<Vec<RoomView>> { unimplemented!() }
            async fn append(&self, _batch: &[NewMessage]) -> StoreResult<Vec<Appended>> { unimplemented!() }
            async fn messages(&self, _room_id: Uuid, _window: Window, _limit: usize) -> StoreResult<Vec<MessageRecord>> { unimplemented!() }
            async fn message(&self, _room_id: Uuid, _id: Uuid) -> StoreResult<Option<MessageRecord>> { unimplemented!() }
            async fn mark_read(&self, _room_id: Uuid, _user_id: Uuid, _seq: i64, _id: Uuid, _now: DateTime<Utc>) -> StoreResult<ReadMarker> { unimplemented!() }
            async fn read_markers(&self, _room_id: Uuid) -> StoreResult<Vec<ReadMarker>> { unimplemented!() }
            async fn erase_user(&self, _user_id: Uuid) -> StoreResult<()> { unimplemented!() }
            async fn erase_couple(&self, _couple_id: Uuid) -> StoreResult<Vec<Uuid>> { unimplemented!() }
        }
    )*};
}
placeholder!(PgStore, SqliteStore);
