//! Messages: posting (validated, committed, then delivered), history, and read markers. The REST
//! handlers and the socket sessions both go through [`Messages`], so a message posted either way
//! is stored the same way before any socket sees it.

pub mod committer;
pub mod dto;
pub mod http;

use std::sync::Arc;

use couple_common::{Identity, clock::Clock, validate::Fields};
use uuid::Uuid;

use self::committer::Committer;
use crate::{
    domain::{ClientId, MessageText},
    error::{Error, Result},
    hub::{Event, Hub},
    people::People,
    store::{Appended, MessageRecord, NewMessage, ReadMarker, RoomRecord, RoomView, Store, Window},
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

impl PostMessage {
    /// Parses a post's fields as a REST body or a socket frame carries them, recording each
    /// problem in `f` under the field's wire name. `parent_id` must be a UUID here; whether it
    /// is a message of the room is checked when posting.
    pub fn parse(
        f: &mut Fields,
        message: Option<&str>,
        parent_id: Option<&str>,
        client_id: Option<&str>,
        max_chars: usize,
    ) -> Option<Self> {
        let message = f.required("message", message, |raw| MessageText::parse(raw, max_chars));
        let parent_id = f.optional("parentId", parent_id, |raw| Uuid::parse_str(raw).map_err(|_| "must be a message id (a UUID)"));
        let client_id = f.optional("clientId", client_id, ClientId::parse);
        Some(Self { message: message?, parent_id, client_id })
    }
}

/// Where a page of history starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The newest messages.
    Latest,
    /// The messages just before this one.
    Before(Uuid),
    /// The messages just after this one.
    After(Uuid),
}

/// A page of history, oldest first, and the id to pass as the same parameter (`before` for the
/// newest page) for the next page when more remain in that direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// The messages, oldest first.
    pub messages: Vec<MessageRecord>,
    /// The next page's anchor, if any.
    pub next: Option<Uuid>,
}

/// Message logic.
pub struct Messages {
    store: Arc<dyn Store>,
    committer: Committer,
    hub: Arc<Hub>,
    people: Arc<People>,
    clock: Clock,
}

impl Messages {
    /// Messages on `store`, committed through `committer` (which delivers them through `hub`,
    /// as read receipts are), signed with nicknames from `people`.
    pub fn new(store: Arc<dyn Store>, committer: Committer, hub: Arc<Hub>, people: Arc<People>, clock: Clock) -> Self {
        Self { store, committer, hub, people, clock }
    }

    /// Commits the caller's message to `room` (which [`crate::rooms::Rooms::room_for`] returned)
    /// in the next group commit, which then delivers it. A repeated `clientId` returns the stored
    /// message and delivers nothing.
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
        self.committer.commit(new).await
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

    /// A page of `limit` messages of the room from `anchor` (404 if the anchor is not one of the
    /// room's messages).
    #[tracing::instrument(skip_all, fields(room_id = %room.id))]
    pub async fn page(&self, room: &RoomRecord, anchor: Anchor, limit: usize) -> Result<HistoryPage> {
        let window = match anchor {
            Anchor::Latest => Window::Latest,
            Anchor::Before(id) => Window::Before(self.seq_of(room, id).await?),
            Anchor::After(id) => Window::After(self.seq_of(room, id).await?),
        };
        // One more than asked tells whether another page follows.
        let mut messages = self.store.messages(room.id, window, limit + 1).await?;
        let more = messages.len() > limit;
        let next = match window {
            Window::After(_) => {
                messages.truncate(limit);
                more.then(|| messages.last().map(|m| m.id)).flatten()
            }
            Window::Latest | Window::Before(_) => {
                if more {
                    messages.drain(..messages.len() - limit);
                }
                more.then(|| messages.first().map(|m| m.id)).flatten()
            }
        };
        Ok(HistoryPage { messages, next })
    }

    /// The id of the message each room's viewer has read up to (`None` where nothing is read),
    /// in the order of `views`.
    #[tracing::instrument(skip_all)]
    pub async fn last_read_ids(&self, identity: &Identity, views: &[RoomView]) -> Result<Vec<Option<Uuid>>> {
        let mut ids = Vec::with_capacity(views.len());
        for view in views {
            let id = if view.last_read_seq > 0 {
                let markers = self.store.read_markers(view.room.id).await?;
                markers.into_iter().find(|m| m.user_id == identity.user_id).map(|m| m.last_read_id)
            } else {
                None
            };
            ids.push(id);
        }
        Ok(ids)
    }

    /// Moves the caller's read marker to message `last_read_id` (never backwards) and tells the
    /// room.
    #[tracing::instrument(skip_all, fields(room_id = %room.id))]
    pub async fn mark_read(&self, identity: &Identity, room: &RoomRecord, last_read_id: Uuid) -> Result<ReadMarker> {
        let seq = self.seq_of(room, last_read_id).await?;
        let marked = self.store.mark_read(room.id, identity.user_id, seq, last_read_id, self.clock.now()).await?;
        if marked.moved {
            self.hub.publish(Event::Read(marked.marker.clone()));
        }
        Ok(marked.marker)
    }
}
