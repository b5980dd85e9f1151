//! Messages: posting (validated, committed, then delivered), history, and read markers. The REST
//! handlers and the socket sessions both go through [`Messages`], so a message posted either way
//! is stored the same way before any socket sees it.

pub mod dto;
pub mod http;

use std::sync::Arc;

use couple_common::{Identity, clock::Clock};
use uuid::Uuid;

use crate::{
    domain::{ClientId, MessageText},
    error::{Error, Result},
    hub::{Event, Hub},
    people::People,
    store::{Appended, MessageRecord, NewMessage, ReadMarker, RoomRecord, Store, Window},
};

/// A message to post, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostMessage {
    /// The text.
    pub message: MessageText,
    /// The message it answers, in the same room.
    pub parent_id: Option<Uuid>,
    /// The sender's idempotency key.
    pub client_id: Option<ClientId>,
}

/// Message logic.
pub struct Messages {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    people: Arc<People>,
    clock: Clock,
}

impl Messages {
    /// Messages on `store`, delivered through `hub`, signed with nicknames from `people`.
    pub fn new(store: Arc<dyn Store>, hub: Arc<Hub>, people: Arc<People>, clock: Clock) -> Self {
        Self { store, hub, people, clock }
    }

    /// Commits the caller's message to `room` (which [`crate::rooms::Rooms::room_for`] returned),
    /// then delivers it. A repeated `clientId` returns the stored message and delivers nothing.
    #[tracing::instrument(skip_all, fields(room_id = %room.id))]
    pub async fn post(&self, identity: &Identity, room: &RoomRecord, post: PostMessage) -> Result<Appended> {
        if let Some(parent) = post.parent_id
            && self.store.message(room.id, parent).await?.is_none()
        {
            return Err(Error::field("parentId", "is not a message of this room"));
        }
        let nickname = self.people.nickname(room.couple_id, identity.user_id).await;
        let new = NewMessage {
            id: Uuid::now_v7(),
            room_id: room.id,
            sender_id: identity.user_id,
            nickname,
            message: post.message.into_inner(),
            parent_id: post.parent_id,
            client_id: post.client_id.map(ClientId::into_inner),
            created_at: self.clock.now(),
        };
        let appended = self.store.append(std::slice::from_ref(&new)).await?.pop().ok_or(Error::NotFound("message"))?;
        if let Appended::New(record) = &appended {
            metrics::counter!("chat_messages_total").increment(1);
            self.hub.publish(Event::Message(record.clone()));
        }
        Ok(appended)
    }

    /// The `seq` of message `id` in `room` (404 if it is not one of the room's).
    pub async fn seq_of(&self, room: &RoomRecord, id: Uuid) -> Result<i64> {
        Ok(self.store.message(room.id, id).await?.ok_or(Error::NotFound("message"))?.seq)
    }

    /// Part of the room's history, oldest first.
    #[tracing::instrument(skip_all, fields(room_id = %room.id))]
    pub async fn history(&self, room: &RoomRecord, window: Window, limit: usize) -> Result<Vec<MessageRecord>> {
        Ok(self.store.messages(room.id, window, limit).await?)
    }

    /// Moves the caller's read marker to message `last_read_id` (never backwards) and tells the
    /// room.
    #[tracing::instrument(skip_all, fields(room_id = %room.id))]
    pub async fn mark_read(&self, identity: &Identity, room: &RoomRecord, last_read_id: Uuid) -> Result<ReadMarker> {
        let seq = self.seq_of(room, last_read_id).await?;
        let before = self.clock.now();
        let marker = self.store.mark_read(room.id, identity.user_id, seq, last_read_id, before).await?;
        if marker.last_read_id == last_read_id && marker.updated_at == before {
            self.hub.publish(Event::Read(marker.clone()));
        }
        Ok(marker)
    }
}
