//! The bodies of `/api/chat/rooms*`.

use chrono::{DateTime, Utc};
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::RoomName,
    messages::dto::Message,
    store::{RoomRecord, RoomView},
};

/// `POST /api/chat/rooms/`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomRequest {
    /// The room's name, 1 to 100 characters once trimmed.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 100, pattern = r"\S", example = "여행 계획")]
    pub name: Option<String>,
}

impl TryFrom<CreateRoomRequest> for RoomName {
    type Error = FieldErrors;

    fn try_from(req: CreateRoomRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let name = f.required("name", req.name, RoomName::parse);
        f.finish(|| name)
    }
}

/// A chat room of the caller's couple.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Room {
    /// Room id.
    pub id: Uuid,
    /// The couple it belongs to.
    pub couple_id: Uuid,
    /// Display name.
    pub name: String,
    /// The couple's default room, created on first use.
    pub is_default: bool,
    /// Who created it; null for the default room.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The `seq` of its newest message, 0 when it has none.
    pub last_seq: i64,
}

impl From<RoomRecord> for Room {
    fn from(r: RoomRecord) -> Self {
        Self {
            id: r.id,
            couple_id: r.couple_id,
            name: r.name,
            is_default: r.is_default,
            created_by: r.created_by,
            created_at: r.created_at,
            last_seq: r.last_seq,
        }
    }
}

/// A room as the caller sees it in the list: the room, what they have not read, the newest message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomOverview {
    /// The room.
    #[serde(flatten)]
    pub room: Room,
    /// Messages from the partner after the caller's read marker.
    pub unread: i64,
    /// The message the caller has read up to; null when none.
    pub last_read_id: Option<Uuid>,
    /// The newest message; null in an empty room.
    pub last_message: Option<Message>,
}

impl RoomOverview {
    /// The view, with the id of the message at its read marker.
    pub fn new(view: RoomView, last_read_id: Option<Uuid>) -> Self {
        Self { room: view.room.into(), unread: view.unread, last_read_id, last_message: view.last_message.map(Into::into) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_name_is_required_and_checked() {
        assert_eq!(RoomName::try_from(CreateRoomRequest { name: Some(" 여행 ".into()) }).unwrap().as_str(), "여행");
        for bad in [None, Some(String::new()), Some("가".repeat(101))] {
            assert_eq!(RoomName::try_from(CreateRoomRequest { name: bad }).unwrap_err().keys().collect::<Vec<_>>(), ["name"]);
        }
    }
}
