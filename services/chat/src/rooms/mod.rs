//! Rooms: a couple's rooms, the default one created on first use, and the access rule every
//! other part relies on ([`Rooms::room_for`]): a room is found only by a member of its couple.

pub mod dto;
pub mod http;

use std::sync::Arc;

use couple_common::{Identity, clock::Clock};
use uuid::Uuid;

use crate::{
    domain::RoomName,
    error::{Error, Result},
    store::{RoomRecord, RoomView, Store},
};

/// The default room's name.
pub const DEFAULT_ROOM_NAME: &str = "우리 둘";

/// Room logic.
pub struct Rooms {
    store: Arc<dyn Store>,
    clock: Clock,
    max_rooms: usize,
}

impl Rooms {
    /// Rooms on `store`, at most `max_rooms` per couple.
    pub fn new(store: Arc<dyn Store>, clock: Clock, max_rooms: usize) -> Self {
        Self { store, clock, max_rooms }
    }

    /// The caller's couple, or 403 `NO_COUPLE`.
    pub fn couple_of(identity: &Identity) -> Result<Uuid> {
        identity.couple_id.ok_or(Error::NoCouple)
    }

    /// The room `id` if it belongs to the caller's couple; 404 otherwise (also for another
    /// couple's room, whose existence is not revealed).
    #[tracing::instrument(skip_all, fields(room_id = %id))]
    pub async fn room_for(&self, identity: &Identity, id: Uuid) -> Result<RoomRecord> {
        let couple = Self::couple_of(identity)?;
        match self.store.room(id).await? {
            Some(room) if room.couple_id == couple => Ok(room),
            _ => Err(Error::NotFound("room")),
        }
    }

    /// The couple's default room, created now if it has none.
    #[tracing::instrument(skip_all)]
    pub async fn default_room(&self, couple_id: Uuid) -> Result<RoomRecord> {
        let candidate = RoomRecord {
            id: Uuid::now_v7(),
            couple_id,
            name: DEFAULT_ROOM_NAME.to_owned(),
            is_default: true,
            created_by: None,
            created_at: self.clock.now(),
            last_seq: 0,
        };
        Ok(self.store.default_room(&candidate).await?)
    }

    /// The caller's couple's rooms as the caller sees them (unread counts are theirs), the
    /// default room first; it is created on this first use.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, identity: &Identity) -> Result<Vec<RoomView>> {
        let couple = Self::couple_of(identity)?;
        self.default_room(couple).await?;
        Ok(self.store.rooms(couple, identity.user_id).await?)
    }

    /// Creates a room for the caller's couple (409 `ROOM_LIMIT` past the limit).
    #[tracing::instrument(skip_all)]
    pub async fn create(&self, identity: &Identity, name: RoomName) -> Result<RoomRecord> {
        let couple = Self::couple_of(identity)?;
        self.default_room(couple).await?;
        if self.store.count_rooms(couple).await? >= self.max_rooms as i64 {
            return Err(Error::RoomLimit(self.max_rooms));
        }
        let room = RoomRecord {
            id: Uuid::now_v7(),
            couple_id: couple,
            name: name.as_str().to_owned(),
            is_default: false,
            created_by: Some(identity.user_id),
            created_at: self.clock.now(),
            last_seq: 0,
        };
        self.store.create_room(&room).await?;
        Ok(room)
    }
}
