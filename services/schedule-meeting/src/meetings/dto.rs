//! The bodies of `/api/meetings*`.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain,
    places::Category,
    store::{MeetingPatch, MeetingRecord, MeetingStop},
};

/// Longest meeting name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Most places in a course.
pub const MAX_PLACES: usize = 10;

/// `POST /api/meetings`: a planned date and its course of places.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateMeetingRequest {
    /// Title, 1 to 100 characters.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 100, pattern = r"\S", example = "Namsan at dusk")]
    pub name: Option<String>,
    /// The day, `YYYY-MM-DD`.
    #[schema(required = true, nullable = false, format = Date, example = "2026-12-24")]
    pub date: Option<String>,
    /// Start, `HH:MM`.
    #[schema(required = true, nullable = false, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "17:00")]
    pub start_time: Option<String>,
    /// End, `HH:MM`, after the start.
    #[schema(required = true, nullable = false, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "21:30")]
    pub end_time: Option<String>,
    /// Place ids from the catalogue in visiting order, 1 to 10, the same place never twice in a row.
    #[schema(required = true, nullable = false, min_items = 1, max_items = 10)]
    pub places: Option<Vec<String>>,
    /// Theme words, up to 10 of 1 to 30 characters (repeats dropped).
    #[schema(nullable = false, max_items = 10)]
    pub keywords: Option<Vec<String>>,
}

/// `PUT /api/meetings/{id}`: any of the fields; those left out (or null) keep their value, and
/// `places` replaces the whole course.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateMeetingRequest {
    /// New title, 1 to 100 characters.
    #[schema(nullable = false, min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// New day, `YYYY-MM-DD`.
    #[schema(nullable = false, format = Date)]
    pub date: Option<String>,
    /// New start, `HH:MM`, before the end (given or stored).
    #[schema(nullable = false, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start_time: Option<String>,
    /// New end, `HH:MM`, after the start (given or stored).
    #[schema(nullable = false, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end_time: Option<String>,
    /// New course: place ids in visiting order, 1 to 10.
    #[schema(nullable = false, min_items = 1, max_items = 10)]
    pub places: Option<Vec<String>>,
    /// New theme words, up to 10.
    #[schema(nullable = false, max_items = 10)]
    pub keywords: Option<Vec<String>>,
}

/// A valid new meeting (its places still to be found in the catalogue).
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingInput {
    /// Title.
    pub name: String,
    /// The day.
    pub date: NaiveDate,
    /// Start.
    pub start_time: NaiveTime,
    /// End, after the start.
    pub end_time: NaiveTime,
    /// Place ids in visiting order.
    pub place_ids: Vec<Uuid>,
    /// Theme words.
    pub keywords: Vec<String>,
}

/// A course: 1 to 10 place ids, never the same twice in a row (a return later is fine).
fn parse_course(raw: &[String]) -> Result<Vec<Uuid>, String> {
    if raw.is_empty() || raw.len() > MAX_PLACES {
        return Err(format!("must list 1 to {MAX_PLACES} places"));
    }
    let bad: Vec<&str> = raw.iter().filter(|id| Uuid::parse_str(id).is_err()).map(String::as_str).collect();
    if !bad.is_empty() {
        return Err(format!("not place ids: {}", bad.join(", ")));
    }
    let ids: Vec<Uuid> = raw.iter().filter_map(|id| Uuid::parse_str(id).ok()).collect();
    if ids.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err("must not list the same place twice in a row".into());
    }
    Ok(ids)
}

/// Records that the end is not after the start, when both are known.
fn check_order(f: &mut Fields, start: Option<NaiveTime>, end: Option<NaiveTime>) {
    if start.zip(end).is_some_and(|(start, end)| start >= end) {
        f.record("endTime", "must be after startTime");
    }
}

impl TryFrom<CreateMeetingRequest> for MeetingInput {
    type Error = FieldErrors;

    fn try_from(req: CreateMeetingRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let name = f.required("name", req.name, |v| domain::parse_text(v, MAX_NAME_CHARS));
        let date = f.required("date", req.date, domain::parse_date);
        let start_time = f.required("startTime", req.start_time, domain::parse_time);
        let end_time = f.required("endTime", req.end_time, domain::parse_time);
        check_order(&mut f, start_time, end_time);
        let place_ids = f.present("places", req.places).and_then(|raw| f.check("places", parse_course(&raw)));
        let keywords = f.check("keywords", domain::parse_keywords(&req.keywords.unwrap_or_default()));
        f.finish(|| {
            Some(Self {
                name: name?,
                date: date?,
                start_time: start_time?,
                end_time: end_time?,
                place_ids: place_ids?,
                keywords: keywords?,
            })
        })
    }
}

impl TryFrom<UpdateMeetingRequest> for MeetingPatch {
    type Error = FieldErrors;

    fn try_from(req: UpdateMeetingRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let given = [req.name.is_some(), req.date.is_some(), req.start_time.is_some(), req.end_time.is_some()];
        if !given.into_iter().any(|g| g) && req.places.is_none() && req.keywords.is_none() {
            f.record("body", "give at least one of name, date, startTime, endTime, places, keywords");
        }
        let name = f.optional("name", req.name, |v| domain::parse_text(v, MAX_NAME_CHARS));
        let date = f.optional("date", req.date, domain::parse_date);
        let start_time = f.optional("startTime", req.start_time, domain::parse_time);
        let end_time = f.optional("endTime", req.end_time, domain::parse_time);
        check_order(&mut f, start_time, end_time);
        let place_ids = req.places.and_then(|raw| f.check("places", parse_course(&raw)));
        let keywords = req.keywords.and_then(|raw| f.check("keywords", domain::parse_keywords(&raw)));
        f.finish(|| Some(Self { name, date, start_time, end_time, keywords, place_ids }))
    }
}

/// A stop of a meeting's course.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingPlace {
    /// Place id.
    pub id: Uuid,
    /// Korean name.
    pub name: String,
    /// Street address.
    pub address: String,
    /// Kind of venue.
    pub category: Category,
    /// WGS 84 latitude.
    pub latitude: f64,
    /// WGS 84 longitude.
    pub longitude: f64,
    /// Position in the course, from 1.
    pub sequence: u32,
}

impl From<MeetingStop> for MeetingPlace {
    fn from(s: MeetingStop) -> Self {
        let p = s.place;
        Self {
            id: p.id,
            name: p.name,
            address: p.address,
            category: p.category,
            latitude: p.latitude,
            longitude: p.longitude,
            sequence: s.sequence,
        }
    }
}

/// A meeting: a planned date with its course.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Meeting {
    /// Meeting id.
    pub id: Uuid,
    /// Title.
    pub name: String,
    /// The day.
    pub date: NaiveDate,
    /// Start, `HH:MM`.
    #[serde(serialize_with = "domain::hh_mm::serialize")]
    #[schema(value_type = String, example = "17:00")]
    pub start_time: NaiveTime,
    /// End, `HH:MM`.
    #[serde(serialize_with = "domain::hh_mm::serialize")]
    #[schema(value_type = String, example = "21:30")]
    pub end_time: NaiveTime,
    /// The course, in visiting order.
    pub places: Vec<MeetingPlace>,
    /// Theme words.
    #[schema(max_items = 10)]
    pub keywords: Vec<String>,
    /// The partner who made it.
    pub created_by: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<MeetingRecord> for Meeting {
    fn from(m: MeetingRecord) -> Self {
        Self {
            id: m.id,
            name: m.name,
            date: m.date,
            start_time: m.start_time,
            end_time: m.end_time,
            places: m.places.into_iter().map(Into::into).collect(),
            keywords: m.keywords,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> CreateMeetingRequest {
        CreateMeetingRequest {
            name: Some("Namsan".into()),
            date: Some("2026-12-24".into()),
            start_time: Some("17:00".into()),
            end_time: Some("21:30".into()),
            places: Some(vec![Uuid::now_v7().to_string()]),
            keywords: Some(vec!["야경".into(), "야경 ".into()]),
        }
    }

    fn fields(result: Result<MeetingInput, FieldErrors>) -> Vec<String> {
        result.unwrap_err().into_keys().collect()
    }

    #[test]
    fn a_meeting_parses_and_drops_repeated_keywords() {
        let input = MeetingInput::try_from(body()).unwrap();
        assert_eq!((input.keywords, input.place_ids.len()), (vec!["야경".to_owned()], 1));
        let no_keywords = MeetingInput::try_from(CreateMeetingRequest { keywords: None, ..body() }).unwrap();
        assert!(no_keywords.keywords.is_empty());
    }

    #[test]
    fn every_bad_field_is_named_and_the_times_must_be_in_order() {
        let bad = CreateMeetingRequest {
            name: Some("".into()),
            date: Some("24.12.2026".into()),
            start_time: Some("21:30".into()),
            end_time: Some("17:00".into()),
            places: Some(vec![]),
            keywords: Some(vec!["x".repeat(31)]),
        };
        assert_eq!(fields(MeetingInput::try_from(bad)), ["date", "endTime", "keywords", "name", "places"]);
        let same = CreateMeetingRequest { end_time: Some("17:00".into()), ..body() };
        assert_eq!(fields(MeetingInput::try_from(same)), ["endTime"]);
        assert_eq!(fields(MeetingInput::try_from(CreateMeetingRequest::default())), ["date", "endTime", "name", "places", "startTime"]);
    }

    #[test]
    fn a_course_has_1_to_10_places_never_twice_in_a_row() {
        let (a, b) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
        assert_eq!(parse_course(&[a.clone(), b.clone(), a.clone()]).unwrap().len(), 3, "coming back later is fine");
        assert!(parse_course(&[a.clone(), a.clone()]).unwrap_err().contains("twice in a row"));
        assert!(parse_course(&vec![a.clone(); 11]).unwrap_err().contains("1 to 10"));
        assert_eq!(parse_course(&[a, "nope".into()]).unwrap_err(), "not place ids: nope");
    }

    #[test]
    fn an_update_checks_what_it_is_given() {
        assert!(MeetingPatch::try_from(UpdateMeetingRequest::default()).unwrap_err().contains_key("body"));
        let times = UpdateMeetingRequest { start_time: Some("12:00".into()), end_time: Some("11:00".into()), ..Default::default() };
        assert!(MeetingPatch::try_from(times).unwrap_err().contains_key("endTime"));
        let start_only = UpdateMeetingRequest { start_time: Some("12:00".into()), ..Default::default() };
        assert_eq!(MeetingPatch::try_from(start_only).unwrap().start_time, NaiveTime::from_hms_opt(12, 0, 0));
        let clear_keywords = UpdateMeetingRequest { keywords: Some(vec![]), ..Default::default() };
        assert_eq!(MeetingPatch::try_from(clear_keywords).unwrap().keywords, Some(vec![]));
    }
}
