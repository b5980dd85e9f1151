//! The socket's JSON text frames, each with a `type`: what clients send, parsed into checked
//! values in one step, and what the server sends.

use couple_common::FieldErrors;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    domain::{ClientId, MessageText},
    hub::Presence,
    messages::{
        PostMessage,
        dto::{Message, ReadReceipt},
    },
};

/// A client frame, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// `{"type":"chat.message","message":"...","clientId":"c-1","parentId":null}`.
    Message(PostMessage),
    /// `{"type":"chat.typing"}`.
    Typing,
    /// `{"type":"chat.read","lastReadId":"<message id>"}`.
    Read {
        /// The newest message the reader has seen.
        last_read_id: Uuid,
    },
}

/// Every field any client frame has, loosely typed, so that one bad frame is answered with all
/// its problems at once (and with its `clientId` when that much could be read).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFrame {
    #[serde(rename = "type")]
    kind: String,
    message: Option<Value>,
    client_id: Option<Value>,
    parent_id: Option<Value>,
    last_read_id: Option<Value>,
}

impl ClientFrame {
    /// Parses a text frame; a message may hold at most `max_message_chars` characters.
    pub fn parse(text: &str, max_message_chars: usize) -> Result<Self, ErrorFrame> {
        let raw: RawFrame = serde_json::from_str(text)
            .map_err(|_| ErrorFrame::new(ErrorCode::InvalidFrame, "a frame is a JSON object with a known \"type\""))?;
        let mut fields = FieldErrors::new();
        let frame = match raw.kind.as_str() {
            "chat.message" => {
                let client_id = optional_string(&mut fields, "clientId", raw.client_id.as_ref())
                    .and_then(|raw| ClientId::parse(raw).map_err(|e| fields.insert("clientId".into(), e)).ok());
                let message = match raw.message.as_ref() {
                    Some(Value::String(text)) => {
                        MessageText::parse(text, max_message_chars).map_err(|e| fields.insert("message".into(), e)).ok()
                    }
                    Some(Value::Null) | None => {
                        fields.insert("message".into(), "is required".into());
                        None
                    }
                    Some(_) => {
                        fields.insert("message".into(), "must be a string".into());
                        None
                    }
                };
                let parent_id = optional_uuid(&mut fields, "parentId", raw.parent_id.as_ref());
                match message {
                    Some(message) if fields.is_empty() => ClientFrame::Message(PostMessage { message, parent_id, client_id }),
                    _ => {
                        // The sender matches the error to its message by the key, if it was readable.
                        let key = raw.client_id.as_ref().and_then(Value::as_str).filter(|k| ClientId::parse(k).is_ok());
                        return Err(ErrorFrame::validation(fields).with_client_id(key.map(str::to_owned)));
                    }
                }
            }
            "chat.typing" => ClientFrame::Typing,
            "chat.read" => match optional_uuid(&mut fields, "lastReadId", raw.last_read_id.as_ref()) {
                Some(last_read_id) => ClientFrame::Read { last_read_id },
                None => {
                    fields.entry("lastReadId".into()).or_insert_with(|| "is required".into());
                    return Err(ErrorFrame::validation(fields));
                }
            },
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(ErrorFrame::new(ErrorCode::InvalidFrame, format!("unknown frame type \"{shown}\"")));
            }
        };
        Ok(frame)
    }
}

/// A string field that may be absent or null; anything else is recorded in `fields`.
fn optional_string<'v>(fields: &mut FieldErrors, name: &str, value: Option<&'v Value>) -> Option<&'v str> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            fields.insert(name.into(), "must be a string".into());
            None
        }
    }
}

/// A message id field that may be absent or null.
fn optional_uuid(fields: &mut FieldErrors, name: &str, value: Option<&Value>) -> Option<Uuid> {
    let raw = optional_string(fields, name, value)?;
    Uuid::parse_str(raw).map_err(|_| fields.insert(name.into(), "must be a message id (UUID)".into())).ok()
}

/// A server frame.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum ServerFrame<'a> {
    /// A stored message, as REST shows it: to everyone in the room, the sender included (its
    /// acknowledgement).
    #[serde(rename = "chat.message")]
    Message(Message),
    /// Someone else is typing.
    #[serde(rename = "chat.typing", rename_all = "camelCase")]
    Typing {
        /// The room.
        room_id: Uuid,
        /// Who types.
        user_id: Uuid,
        /// Their display name, if known.
        nickname: Option<&'a str>,
        /// When the indicator goes away unless renewed.
        expires_in_ms: u64,
    },
    /// A member's read marker moved.
    #[serde(rename = "chat.read")]
    Read(ReadReceipt),
    /// A member's first socket in the room opened on this replica.
    #[serde(rename = "chat.user.join")]
    Join(&'a Presence),
    /// A member's last socket in the room closed on this replica.
    #[serde(rename = "chat.user.leave")]
    Leave(&'a Presence),
    /// The catch-up is over: what follows is live.
    #[serde(rename = "chat.ready", rename_all = "camelCase")]
    Ready {
        /// The room.
        room_id: Uuid,
        /// The `seq` of the newest message sent so far.
        last_seq: i64,
    },
    /// A frame was refused; the socket stays open.
    #[serde(rename = "chat.error")]
    Error(ErrorFrame),
}

impl ServerFrame<'_> {
    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }
}

/// `chat.error`'s codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Not JSON, or an unknown `type`.
    InvalidFrame,
    /// Invalid fields, named in `fields`.
    ValidationFailed,
    /// `parentId` or `lastReadId` is not a message of the room.
    NotFound,
    /// The store is down: the message was not stored; send it again with the same `clientId`.
    Unavailable,
    /// The service is shutting down: send again after reconnecting.
    ShuttingDown,
    /// A bug on the server's side (logged).
    InternalError,
}

/// `chat.error`'s payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorFrame {
    /// What went wrong.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
    /// The `clientId` of the message refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Field name to problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<FieldErrors>,
}

impl ErrorFrame {
    /// An error without fields.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), client_id: None, fields: None }
    }

    /// `VALIDATION_FAILED` naming `fields`.
    pub fn validation(fields: FieldErrors) -> Self {
        Self { fields: Some(fields), ..Self::new(ErrorCode::ValidationFailed, "validation failed") }
    }

    /// The same error, about the message with `client_id`.
    pub fn with_client_id(self, client_id: Option<String>) -> Self {
        Self { client_id, ..self }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> Result<ClientFrame, ErrorFrame> {
        ClientFrame::parse(&v.to_string(), 10)
    }

    #[test]
    fn client_frames_parse_into_checked_values() {
        let parent = Uuid::now_v7();
        let frame = parse(json!({"type": "chat.message", "message": "안녕", "clientId": "c-1", "parentId": parent})).unwrap();
        let ClientFrame::Message(post) = frame else { panic!("a message: {frame:?}") };
        assert_eq!(
            (post.message.into_inner(), post.client_id.unwrap().into_inner(), post.parent_id),
            ("안녕".into(), "c-1".into(), Some(parent))
        );
        let bare = parse(json!({"type": "chat.message", "message": "hi", "parentId": null})).unwrap();
        assert!(matches!(bare, ClientFrame::Message(PostMessage { client_id: None, parent_id: None, .. })));
        assert_eq!(parse(json!({"type": "chat.typing"})).unwrap(), ClientFrame::Typing);
        assert_eq!(parse(json!({"type": "chat.read", "lastReadId": parent})).unwrap(), ClientFrame::Read { last_read_id: parent });
    }

    #[test]
    fn a_bad_message_names_every_field_and_keeps_its_client_id() {
        let err = parse(json!({"type": "chat.message", "message": "x".repeat(11), "clientId": "c-9", "parentId": "nope"})).unwrap_err();
        assert_eq!((err.code, err.client_id.as_deref()), (ErrorCode::ValidationFailed, Some("c-9")));
        let fields = err.fields.unwrap();
        assert_eq!(fields.keys().map(String::as_str).collect::<Vec<_>>(), ["message", "parentId"]);
        let err = parse(json!({"type": "chat.message", "message": 5, "clientId": "bad key"})).unwrap_err();
        assert_eq!(err.client_id, None, "an unusable key is not echoed");
        assert_eq!(err.fields.unwrap().keys().map(String::as_str).collect::<Vec<_>>(), ["clientId", "message"]);
        let err = parse(json!({"type": "chat.read"})).unwrap_err();
        assert_eq!(err.fields.unwrap()["lastReadId"], "is required");
    }

    #[test]
    fn unreadable_frames_are_invalid() {
        for text in ["not json", "[]", "{}", r#"{"type":"chat.dance"}"#, r#"{"type":7}"#] {
            assert_eq!(ClientFrame::parse(text, 10).unwrap_err().code, ErrorCode::InvalidFrame, "{text}");
        }
    }

    #[test]
    fn server_frames_carry_their_type_and_camel_case_fields() {
        let room_id = Uuid::now_v7();
        let ready = serde_json::to_value(ServerFrame::Ready { room_id, last_seq: 3 }).unwrap();
        assert_eq!(ready, json!({"type": "chat.ready", "roomId": room_id, "lastSeq": 3}));
        let err =
            serde_json::to_value(ServerFrame::Error(ErrorFrame::new(ErrorCode::Unavailable, "down").with_client_id(Some("c".into()))))
                .unwrap();
        assert_eq!(err, json!({"type": "chat.error", "code": "UNAVAILABLE", "message": "down", "clientId": "c"}));
        let user_id = Uuid::now_v7();
        let typing = serde_json::to_value(ServerFrame::Typing { room_id, user_id, nickname: None, expires_in_ms: 5000 }).unwrap();
        assert_eq!(typing, json!({"type": "chat.typing", "roomId": room_id, "userId": user_id, "nickname": null, "expiresInMs": 5000}));
        let join = serde_json::to_value(ServerFrame::Join(&Presence { room_id, user_id, nickname: Some("a".into()) })).unwrap();
        assert_eq!(join, json!({"type": "chat.user.join", "roomId": room_id, "userId": user_id, "nickname": "a"}));
    }
}
