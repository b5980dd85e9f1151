//! The bodies of `/api/schedules*`.

use chrono::{DateTime, Utc};
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain,
    store::{SchedulePatch, ScheduleRecord},
};

/// Longest schedule name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// `POST /api/schedules`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateScheduleRequest {
    /// Title, 1 to 100 characters.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 100, pattern = r"\S", example = "Dinner with her parents")]
    pub name: Option<String>,
    /// Free text, up to 2000 characters (empty when left out).
    #[schema(nullable = false, max_length = 2000)]
    pub message: Option<String>,
    /// When, RFC 3339 with an offset.
    #[schema(required = true, nullable = false, format = DateTime, example = "2026-12-24T19:00:00+09:00")]
    pub date_time: Option<String>,
}

/// `PUT /api/schedules/{id}`: any of the fields; those left out (or null) keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateScheduleRequest {
    /// New title, 1 to 100 characters.
    #[schema(nullable = false, min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// New text, up to 2000 characters; empty clears it.
    #[schema(nullable = false, max_length = 2000)]
    pub message: Option<String>,
    /// New instant, RFC 3339 with an offset.
    #[schema(nullable = false, format = DateTime)]
    pub date_time: Option<String>,
}

/// A valid new schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    /// Title.
    pub name: String,
    /// Text.
    pub message: String,
    /// When.
    pub date_time: DateTime<Utc>,
}

/// Free text: trimmed, possibly empty, lines allowed but no other control characters.
fn parse_message(raw: &str) -> Result<String, String> {
    let message = raw.trim();
    if message.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err("must not contain control characters other than line breaks and tabs".into());
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(format!("must be at most {MAX_MESSAGE_CHARS} characters"));
    }
    Ok(message.to_owned())
}

impl TryFrom<CreateScheduleRequest> for NewSchedule {
    type Error = FieldErrors;

    fn try_from(req: CreateScheduleRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let name = f.required("name", req.name, |v| domain::parse_text(v, MAX_NAME_CHARS));
        let message = f.optional("message", req.message, parse_message);
        let date_time = f.required("dateTime", req.date_time, domain::parse_instant);
        f.finish(|| Some(Self { name: name?, message: message.unwrap_or_default(), date_time: date_time? }))
    }
}

impl TryFrom<UpdateScheduleRequest> for SchedulePatch {
    type Error = FieldErrors;

    fn try_from(req: UpdateScheduleRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        if req.name.is_none() && req.message.is_none() && req.date_time.is_none() {
            f.record("body", "give at least one of name, message, dateTime");
        }
        let name = f.optional("name", req.name, |v| domain::parse_text(v, MAX_NAME_CHARS));
        let message = f.optional("message", req.message, parse_message);
        let date_time = f.optional("dateTime", req.date_time, domain::parse_instant);
        f.finish(|| Some(Self { name, message, date_time }))
    }
}

/// A schedule.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// Schedule id.
    pub id: Uuid,
    /// Title.
    pub name: String,
    /// Free text, possibly empty.
    pub message: String,
    /// When (UTC).
    pub date_time: DateTime<Utc>,
    /// The partner who made it.
    pub created_by: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<ScheduleRecord> for Schedule {
    fn from(s: ScheduleRecord) -> Self {
        Self {
            id: s.id,
            name: s.name,
            message: s.message,
            date_time: s.date_time,
            created_by: s.created_by,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_schedule_names_every_bad_field() {
        let bad = CreateScheduleRequest { name: Some(" ".into()), message: Some("x".repeat(2001)), date_time: Some("tomorrow".into()) };
        let fields = NewSchedule::try_from(bad).unwrap_err();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["dateTime", "message", "name"]);
        let nul = CreateScheduleRequest {
            name: Some("x".into()),
            message: Some("a\u{0}".into()),
            date_time: Some("2026-12-24T19:00:00Z".into()),
        };
        assert_eq!(NewSchedule::try_from(nul).unwrap_err().keys().collect::<Vec<_>>(), ["message"]);
        let lines = CreateScheduleRequest {
            name: Some("x".into()),
            message: Some("a\n\tb".into()),
            date_time: Some("2026-12-24T19:00:00Z".into()),
        };
        assert_eq!(NewSchedule::try_from(lines).unwrap().message, "a\n\tb");
        let missing = NewSchedule::try_from(CreateScheduleRequest::default()).unwrap_err();
        assert_eq!(missing.keys().collect::<Vec<_>>(), ["dateTime", "name"]);
        let ok =
            CreateScheduleRequest { name: Some(" 저녁 ".into()), message: None, date_time: Some("2026-12-24T19:00:00+09:00".into()) };
        let ok = NewSchedule::try_from(ok).unwrap();
        assert_eq!((ok.name.as_str(), ok.message.as_str(), ok.date_time.to_rfc3339()), ("저녁", "", "2026-12-24T10:00:00+00:00".into()));
    }

    #[test]
    fn an_update_needs_one_field_and_keeps_the_rest() {
        assert!(SchedulePatch::try_from(UpdateScheduleRequest::default()).unwrap_err().contains_key("body"));
        let patch = SchedulePatch::try_from(UpdateScheduleRequest { message: Some(String::new()), ..Default::default() }).unwrap();
        assert_eq!(patch, SchedulePatch { message: Some(String::new()), ..Default::default() });
        let bad = UpdateScheduleRequest { name: Some(String::new()), ..Default::default() };
        assert_eq!(SchedulePatch::try_from(bad).unwrap_err().keys().collect::<Vec<_>>(), ["name"]);
    }
}
