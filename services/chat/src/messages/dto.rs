//! The bodies of `/api/chat/messages/`, a room's history and its read marker.

use chrono::{DateTime, Utc};
use couple_common::{ApiError, FieldErrors, error::codes, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Anchor, PostMessage};
use crate::store::{MessageRecord, ReadMarker};

/// `POST /api/chat/messages/`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostMessageRequest {
    /// The room (one of the caller's couple).
    #[schema(required = true, nullable = false, format = Uuid)]
    pub room_id: Option<String>,
    /// The text: not blank, at most `CHAT_MAX_MESSAGE_CHARS` characters (2000 by default); line
    /// breaks are kept.
    #[schema(required = true, nullable = false, min_length = 1, pattern = r"\S", example = "저녁 뭐 먹을까?")]
    pub message: Option<String>,
    /// The message this one answers, in the same room.
    #[schema(format = Uuid)]
    pub parent_id: Option<String>,
    /// The sender's idempotency key: a resend with the same one returns the stored message.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._:-]{1,64}$", example = "c-1")]
    pub client_id: Option<String>,
}

impl PostMessageRequest {
    /// The room and the post, or every invalid field; texts up to `max_chars` characters.
    pub fn parse(self, max_chars: usize) -> Result<(Uuid, PostMessage), FieldErrors> {
        let mut f = Fields::default();
        let room_id = f.required("roomId", self.room_id, |raw| Uuid::parse_str(raw).map_err(|_| "must be a room id (a UUID)"));
        let post = PostMessage::parse(&mut f, self.message.as_deref(), self.parent_id.as_deref(), self.client_id.as_deref(), max_chars);
        f.finish(|| Some((room_id?, post?)))
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Message id.
    pub id: Uuid,
    /// Its room.
    pub room_id: Uuid,
    /// Its place in the room, from 1, without gaps.
    pub seq: i64,
    /// Who sent it.
    pub sender_id: Uuid,
    /// The sender's display name when it was sent, if known.
    pub nickname: Option<String>,
    /// The text.
    pub message: String,
    /// The message it answers.
    pub parent_id: Option<Uuid>,
    /// The sender's idempotency key, if one was given.
    pub client_id: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl From<MessageRecord> for Message {
    fn from(m: MessageRecord) -> Self {
        Self {
            id: m.id,
            room_id: m.room_id,
            seq: m.seq,
            sender_id: m.sender_id,
            nickname: m.nickname,
            message: m.message,
            parent_id: m.parent_id,
            client_id: m.client_id,
            created_at: m.created_at,
        }
    }
}

/// `?before=` or `?after=` of a room's history (`?limit=` is the shared paging parameter).
#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    /// The page just before this message.
    pub before: Option<Uuid>,
    /// The page just after this message.
    pub after: Option<Uuid>,
}

impl HistoryQuery {
    /// Where the page starts; 400 when both are given.
    pub fn anchor(&self) -> Result<Anchor, ApiError> {
        match (self.before, self.after) {
            (Some(_), Some(_)) => Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                codes::INVALID_QUERY,
                "give `before` or `after`, not both: a page goes one way",
            )),
            (Some(id), None) => Ok(Anchor::Before(id)),
            (None, Some(id)) => Ok(Anchor::After(id)),
            (None, None) => Ok(Anchor::Latest),
        }
    }
}

/// `PUT /api/chat/rooms/{id}/read/`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarkReadRequest {
    /// The newest message the caller has read.
    #[schema(required = true, nullable = false, format = Uuid)]
    pub last_read_id: Option<String>,
}

impl TryFrom<MarkReadRequest> for Uuid {
    type Error = FieldErrors;

    fn try_from(req: MarkReadRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let id = f.required("lastReadId", req.last_read_id, |raw| Uuid::parse_str(raw).map_err(|_| "must be a message id (a UUID)"));
        f.finish(|| id)
    }
}

/// A member's read marker in a room (what a `chat.read` frame says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadReceipt {
    /// The room.
    pub room_id: Uuid,
    /// The reader.
    pub user_id: Uuid,
    /// Read up to and including this message.
    pub last_read_id: Uuid,
    /// That message's `seq`.
    pub seq: i64,
    /// When the marker last moved.
    pub read_at: DateTime<Utc>,
}

impl From<ReadMarker> for ReadReceipt {
    fn from(m: ReadMarker) -> Self {
        Self { room_id: m.room_id, user_id: m.user_id, last_read_id: m.last_read_id, seq: m.last_read_seq, read_at: m.updated_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(req: PostMessageRequest, max: usize) -> Vec<String> {
        req.parse(max).unwrap_err().into_keys().collect()
    }

    #[test]
    fn a_post_names_every_bad_field() {
        assert_eq!(fields(PostMessageRequest::default(), 10), ["message", "roomId"]);
        let bad = PostMessageRequest {
            room_id: Some("room".into()),
            message: Some("x".repeat(11)),
            parent_id: Some("1".into()),
            client_id: Some("no spaces".into()),
        };
        assert_eq!(fields(bad, 10), ["clientId", "message", "parentId", "roomId"]);
        let room = Uuid::now_v7();
        let parent = Uuid::now_v7();
        let ok = PostMessageRequest {
            room_id: Some(room.to_string()),
            message: Some("안녕\n".into()),
            parent_id: Some(parent.to_string()),
            client_id: Some("c-1".into()),
        };
        let (got_room, post) = ok.parse(10).unwrap();
        assert_eq!((got_room, post.parent_id, post.message.into_inner()), (room, Some(parent), "안녕\n".to_owned()));
        assert_eq!(post.client_id.map(crate::domain::ClientId::into_inner).as_deref(), Some("c-1"));
    }

    #[test]
    fn a_history_page_goes_one_way() {
        let id = Uuid::now_v7();
        assert_eq!(HistoryQuery::default().anchor().unwrap(), Anchor::Latest);
        assert_eq!(HistoryQuery { before: Some(id), after: None }.anchor().unwrap(), Anchor::Before(id));
        assert_eq!(HistoryQuery { before: None, after: Some(id) }.anchor().unwrap(), Anchor::After(id));
        let both = HistoryQuery { before: Some(id), after: Some(id) }.anchor().unwrap_err();
        assert_eq!(both.status, axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_read_marker_needs_a_message_id() {
        assert!(Uuid::try_from(MarkReadRequest::default()).unwrap_err().contains_key("lastReadId"));
        assert!(Uuid::try_from(MarkReadRequest { last_read_id: Some("x".into()) }).is_err());
        let id = Uuid::now_v7();
        assert_eq!(Uuid::try_from(MarkReadRequest { last_read_id: Some(id.to_string()) }).unwrap(), id);
    }
}
