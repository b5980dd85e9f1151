//! The bodies of `POST /api/meetings/recommend`.

use chrono::{NaiveDate, NaiveTime};
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::engine::{self, Near};
use crate::{
    domain::{LatLon, Weather, parse_date, parse_keywords, parse_time},
    places::{CataloguePlace, Category},
};

/// How far the first stop may be from `near` when `radiusKm` is not given.
pub const DEFAULT_RADIUS_KM: f64 = 3.0;
/// The largest `radiusKm`.
pub const MAX_RADIUS_KM: f64 = 50.0;

/// `POST /api/meetings/recommend`: the day, the time window and what the couple is in the mood for.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecommendBody {
    /// The day of the date (`YYYY-MM-DD`): its forecast counts, and the places of meetings
    /// before it are left out.
    #[schema(required = true, nullable = false, format = Date, example = "2026-05-16")]
    pub date: Option<String>,
    /// `HH:MM`.
    #[schema(required = true, nullable = false, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "14:00")]
    pub start_time: Option<String>,
    /// `HH:MM`, after `startTime` on the same day.
    #[schema(required = true, nullable = false, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "21:00")]
    pub end_time: Option<String>,
    /// Up to 10 theme words of 1-30 characters (`야경`, `museum`), matched against place
    /// names, keywords and categories.
    #[schema(nullable = false, max_items = 10, example = json!(["야경", "romantic"]))]
    pub keywords: Option<Vec<String>>,
    /// Where to start, `lat,lon`: the first stop lies within `radiusKm` of it.
    #[schema(nullable = false, example = "37.5665,126.9780")]
    pub near: Option<String>,
    /// With `near` only: how far the first stop may be, more than 0 and at most 50 km (default 3).
    #[schema(nullable = false, exclusive_minimum = 0, maximum = 50, example = 2.0)]
    pub radius_km: Option<f64>,
}

/// A valid recommendation request.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendRequest {
    /// The day.
    pub date: NaiveDate,
    /// Start of the window.
    pub start: NaiveTime,
    /// End of the window, after `start`.
    pub end: NaiveTime,
    /// Trimmed, deduplicated case-insensitively, in the order given.
    pub keywords: Vec<String>,
    /// Where the first stop must be.
    pub near: Option<Near>,
}

impl TryFrom<RecommendBody> for RecommendRequest {
    type Error = FieldErrors;

    fn try_from(body: RecommendBody) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let date = f.required("date", body.date, parse_date);
        let start = f.required("startTime", body.start_time, parse_time);
        let end = f.required("endTime", body.end_time, parse_time);
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            f.record("endTime", "must be after startTime");
        }
        let keywords = f.check("keywords", parse_keywords(body.keywords.as_deref().unwrap_or_default()));
        let near_given = body.near.is_some();
        let at = f.optional("near", body.near, |v| {
            LatLon::parse(v).ok_or("must be \"lat,lon\" with a latitude in -90..=90 and a longitude in -180..=180")
        });
        let radius_km = match body.radius_km {
            Some(_) if !near_given => Err("is only allowed with near".to_owned()),
            Some(r) if !(r > 0.0 && r <= MAX_RADIUS_KM) => Err(format!("must be more than 0 and at most {MAX_RADIUS_KM}")),
            radius => Ok(radius.unwrap_or(DEFAULT_RADIUS_KM)),
        };
        let radius_km = f.check("radiusKm", radius_km);
        f.finish(|| {
            let near = match at {
                Some(at) => Some(Near { at, radius_km: radius_km? }),
                None => None,
            };
            Some(Self { date: date?, start: start?, end: end?, keywords: keywords?, near })
        })
    }
}

/// What the recommender found: up to three candidate courses, best first, and the weather they
/// were ranked for. Nothing is saved; `POST /api/meetings` saves a chosen course.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendations {
    /// Up to three courses, each starting at a different place (in a different area when the
    /// catalogue allows); empty when no place fits (nothing within `near`, or all visited lately).
    pub courses: Vec<Course>,
    /// The forecast for that day.
    pub weather: Option<Weather>,
    /// What the ranking had to do without.
    pub notes: Vec<String>,
}

impl Recommendations {
    /// The response's data, as api.md shapes it: the courses, each carrying the day's weather
    /// and the notes.
    pub fn into_courses(self) -> Vec<Course> {
        let (weather, notes) = (self.weather, self.notes);
        self.courses.into_iter().map(|course| Course { weather, notes: notes.clone(), ..course }).collect()
    }
}

/// A candidate course: the window split into slots, each with its places.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Course {
    /// In time order; together they cover the window.
    pub slots: Vec<Slot>,
    /// The forecast for that day at `near` (or central Seoul), folded as for the weather cards;
    /// null when unknown (no weather key configured, the forecast service failing, or a day it
    /// does not cover): the courses are then ranked as for dry weather. The same in every course.
    pub weather: Option<Weather>,
    /// What the ranking had to do without, in plain English (a partner's trait vector missing,
    /// a peer service unreachable, no forecast); empty when it had everything. The same in every
    /// course.
    pub notes: Vec<String>,
}

/// A part of the window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    /// `HH:MM`.
    #[schema(example = "14:00")]
    pub start_time: String,
    /// `HH:MM`.
    #[schema(example = "15:45")]
    pub end_time: String,
    /// The pick first, then up to two alternatives that fit between the same neighbouring stops.
    pub places: Vec<Scored>,
}

/// A place proposed for a slot.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Scored {
    /// The place.
    pub place: CoursePlace,
    /// 0..=1, higher is better.
    #[schema(minimum = 0, maximum = 1, example = 0.82)]
    pub score: f64,
    /// Why, in short English sentences (`you both lean outdoors`, `650 m walk from the previous stop`).
    pub reasons: Vec<String>,
}

/// A catalogue place as a course shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoursePlace {
    /// Place id (stable across installs).
    pub id: Uuid,
    /// Korean name.
    pub name: String,
    /// Latin name.
    pub name_en: String,
    /// Street address, in Korean.
    pub address: String,
    /// What kind of venue.
    pub category: Category,
    /// WGS 84.
    pub latitude: f64,
    /// WGS 84.
    pub longitude: f64,
    /// Under a roof.
    pub indoor: bool,
    /// 0..=5.
    pub rating: f64,
}

impl From<&CataloguePlace> for CoursePlace {
    fn from(p: &CataloguePlace) -> Self {
        Self {
            id: p.id(),
            name: p.name.clone(),
            name_en: p.name_en.clone(),
            address: p.address.clone(),
            category: p.category,
            latitude: p.latitude,
            longitude: p.longitude,
            indoor: p.indoor,
            rating: p.rating,
        }
    }
}

impl From<engine::Course<'_>> for Course {
    fn from(course: engine::Course<'_>) -> Self {
        let hhmm = |t: NaiveTime| t.format("%H:%M").to_string();
        Self {
            slots: course
                .slots
                .into_iter()
                .map(|slot| Slot {
                    start_time: hhmm(slot.start),
                    end_time: hhmm(slot.end),
                    places: slot.places.into_iter().map(|s| Scored { place: s.place.into(), score: s.score, reasons: s.reasons }).collect(),
                })
                .collect(),
            weather: None,
            notes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: serde_json::Value) -> Result<RecommendRequest, FieldErrors> {
        RecommendRequest::try_from(serde_json::from_value::<RecommendBody>(body).unwrap())
    }

    #[test]
    fn a_full_body_parses() {
        let request = parse(json!({"date": "2026-05-16", "startTime": "14:00", "endTime": "21:30",
            "keywords": [" 야경 ", "Romantic", "romantic"], "near": "37.5665, 126.9780", "radiusKm": 2.5}))
        .unwrap();
        assert_eq!(request.date, NaiveDate::from_ymd_opt(2026, 5, 16).unwrap());
        assert_eq!((request.start, request.end), (NaiveTime::from_hms_opt(14, 0, 0).unwrap(), NaiveTime::from_hms_opt(21, 30, 0).unwrap()));
        assert_eq!(request.keywords, ["야경", "Romantic"], "trimmed, deduplicated case-insensitively");
        assert_eq!(request.near, Some(Near { at: LatLon { lat: 37.5665, lon: 126.978 }, radius_km: 2.5 }));
    }

    #[test]
    fn the_optional_fields_default() {
        let request = parse(json!({"date": "2026-05-16", "startTime": "09:00", "endTime": "09:30"})).unwrap();
        assert!(request.keywords.is_empty() && request.near.is_none());
        let near = parse(json!({"date": "2026-05-16", "startTime": "09:00", "endTime": "09:30", "near": "35.1,129.0"})).unwrap();
        assert_eq!(near.near.unwrap().radius_km, DEFAULT_RADIUS_KM);
    }

    #[test]
    fn every_bad_field_is_named_in_one_answer() {
        let fields = parse(json!({"date": "2026-13-01", "startTime": "9:00", "endTime": "24:00",
            "keywords": ["ok", ""], "near": "91,0", "radiusKm": 0}))
        .unwrap_err();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["date", "endTime", "keywords", "near", "radiusKm", "startTime"]);
        let missing = parse(json!({})).unwrap_err();
        assert_eq!(missing.keys().collect::<Vec<_>>(), ["date", "endTime", "startTime"]);
    }

    #[test]
    fn the_end_must_come_after_the_start() {
        for end in ["14:00", "13:59"] {
            let fields = parse(json!({"date": "2026-05-16", "startTime": "14:00", "endTime": end})).unwrap_err();
            assert_eq!(fields["endTime"], "must be after startTime");
            assert_eq!(fields.len(), 1);
        }
    }

    #[test]
    fn keywords_are_bounded() {
        let eleven: Vec<String> = (0..11).map(|n| format!("k{n}")).collect();
        let base = json!({"date": "2026-05-16", "startTime": "14:00", "endTime": "18:00"});
        let with = |keywords: serde_json::Value| {
            let mut body = base.clone();
            body["keywords"] = keywords;
            parse(body)
        };
        assert_eq!(with(json!(eleven)).unwrap_err()["keywords"], "at most 10 keywords");
        assert!(with(json!(["가".repeat(31)])).unwrap_err().contains_key("keywords"));
        assert_eq!(with(json!(["가".repeat(30)])).unwrap().keywords.len(), 1, "characters, not bytes");
        assert!(with(json!(["   "])).unwrap_err().contains_key("keywords"));
    }

    #[test]
    fn radius_needs_near_and_a_sane_size() {
        let base = |extra: serde_json::Value| {
            let mut body = json!({"date": "2026-05-16", "startTime": "14:00", "endTime": "18:00"});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            parse(body)
        };
        assert_eq!(base(json!({"radiusKm": 2})).unwrap_err()["radiusKm"], "is only allowed with near");
        for bad in [json!(-1), json!(0), json!(50.01)] {
            assert!(base(json!({"near": "37.5,127.0", "radiusKm": bad})).unwrap_err().contains_key("radiusKm"), "{bad}");
        }
        assert_eq!(base(json!({"near": "37.5,127.0", "radiusKm": 50})).unwrap().near.unwrap().radius_km, 50.0);
        let fields = base(json!({"near": "here", "radiusKm": 1})).unwrap_err();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["near"], "a valid radius is not blamed for a bad near");
    }

    #[test]
    fn every_course_carries_the_weather_and_the_notes() {
        let empty = Recommendations { courses: Vec::new(), weather: None, notes: vec!["no forecast".into()] };
        assert_eq!(serde_json::to_value(empty.into_courses()).unwrap(), json!([]));
        let slot = Slot { start_time: "14:00".into(), end_time: "15:45".into(), places: Vec::new() };
        let course = Course { slots: vec![slot], weather: None, notes: Vec::new() };
        let rainy = Recommendations { courses: vec![course.clone(), course], weather: Some(Weather::Rain), notes: vec!["note".into()] };
        let json = serde_json::to_value(rainy.into_courses()).unwrap();
        for course in json.as_array().unwrap() {
            assert_eq!(
                course,
                &json!({"slots": [{"startTime": "14:00", "endTime": "15:45", "places": []}], "weather": "비", "notes": ["note"]})
            );
        }
    }
}
