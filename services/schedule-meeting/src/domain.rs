//! Values that parse: a point on the map and the weather of a day, and the texts, days, times
//! and keyword lists of schedules and meetings.

use chrono::{DateTime, NaiveDate, NaiveTime, SubsecRound, Utc};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A point on the map (WGS 84 degrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LatLon {
    /// Latitude, -90..=90.
    pub lat: f64,
    /// Longitude, -180..=180.
    pub lon: f64,
}

impl LatLon {
    /// Mean Earth radius for the haversine distance, in km.
    const EARTH_RADIUS_KM: f64 = 6371.0088;

    /// A point, if both coordinates are finite and in range.
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        let valid = lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        valid.then_some(Self { lat, lon })
    }

    /// Parses the `near` query form `lat,lon` (`37.5665,126.978`).
    pub fn parse(text: &str) -> Option<Self> {
        let (lat, lon) = text.split_once(',')?;
        Self::new(lat.trim().parse().ok()?, lon.trim().parse().ok()?)
    }

    /// Great-circle distance in km (haversine).
    pub fn distance_km(self, other: LatLon) -> f64 {
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let (dphi, dlambda) = ((other.lat - self.lat).to_radians(), (other.lon - self.lon).to_radians());
        let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        2.0 * Self::EARTH_RADIUS_KM * a.sqrt().asin()
    }
}

/// The weather of one day, folded from the forecast (api.md: priority snow > rain > overcast >
/// some cloud > clear). Serialised as the Korean words the original used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub enum Weather {
    /// 맑음.
    #[serde(rename = "맑음")]
    Clear,
    /// 구름 조금.
    #[serde(rename = "구름 조금")]
    SomeCloud,
    /// 흐림.
    #[serde(rename = "흐림")]
    Overcast,
    /// 비.
    #[serde(rename = "비")]
    Rain,
    /// 눈.
    #[serde(rename = "눈")]
    Snow,
}

impl Weather {
    /// Rain or snow: recommendations prefer indoor places.
    pub fn is_wet(self) -> bool {
        matches!(self, Weather::Rain | Weather::Snow)
    }

    /// The Korean word, as serialised.
    pub fn label(self) -> &'static str {
        match self {
            Weather::Clear => "맑음",
            Weather::SomeCloud => "구름 조금",
            Weather::Overcast => "흐림",
            Weather::Rain => "비",
            Weather::Snow => "눈",
        }
    }
}

/// The part of the map within some distance of a point, as latitude and longitude ranges for an
/// indexed range query; the exact distance is checked afterwards. `None` longitudes: every
/// longitude (near a pole or across the antimeridian).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    /// Southern and northern edges.
    pub lat: (f64, f64),
    /// Western and eastern edges, unless the box spans every longitude.
    pub lon: Option<(f64, f64)>,
}

impl LatLon {
    /// The smallest latitude/longitude box holding every point within `radius_km` (the widest
    /// longitude span of a circle lies north or south of its centre: `asin(sin r / cos lat)`).
    pub fn bounding_box(self, radius_km: f64) -> BoundingBox {
        let angle = radius_km / Self::EARTH_RADIUS_KM;
        let dlat = angle.to_degrees();
        let lat = ((self.lat - dlat).max(-90.0), (self.lat + dlat).min(90.0));
        let ratio = angle.sin() / self.lat.to_radians().cos();
        let lon = (angle < std::f64::consts::FRAC_PI_2 && ratio < 1.0)
            .then(|| ratio.asin().to_degrees())
            .map(|dlon| (self.lon - dlon, self.lon + dlon))
            .filter(|(west, east)| *west >= -180.0 && *east <= 180.0);
        BoundingBox { lat, lon }
    }
}

/// A one-line text field: trimmed, not empty, at most `max` characters, no control characters
/// (PostgreSQL refuses NUL in text, and a name has no use for line breaks).
pub fn parse_text(raw: &str, max: usize) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        Err("must not be empty".into())
    } else if text.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else if text.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(text.to_owned())
    }
}

/// A date, exactly `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Result<NaiveDate, &'static str> {
    let ok = raw.len() == 10 && raw.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    ok.then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()).flatten().ok_or("must be a date (YYYY-MM-DD)")
}

/// A time of day, exactly `HH:MM` (00:00 to 23:59).
pub fn parse_time(raw: &str) -> Result<NaiveTime, &'static str> {
    let ok = raw.len() == 5 && raw.bytes().enumerate().all(|(i, b)| if i == 2 { b == b':' } else { b.is_ascii_digit() });
    ok.then(|| NaiveTime::parse_from_str(raw, "%H:%M").ok()).flatten().ok_or("must be a time of day (HH:MM)")
}

/// An instant in RFC 3339 with an offset, kept in UTC to the microsecond (what PostgreSQL keeps).
pub fn parse_instant(raw: &str) -> Result<DateTime<Utc>, &'static str> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|at| at.with_timezone(&Utc).trunc_subsecs(6))
        .map_err(|_| "must be an RFC 3339 date-time with an offset (2026-12-01T19:00:00+09:00)")
}

/// The first instant of `date` in `zone` (after a gap, when midnight does not exist that day).
pub fn day_start(date: NaiveDate, zone: &TimeZone) -> DateTime<Utc> {
    use chrono::Datelike;
    let civil = jiff::civil::Date::new(date.year() as i16, date.month() as i8, date.day() as i8);
    let start = civil.and_then(|d| d.to_zoned(zone.clone())).map(|z| z.timestamp().as_second());
    // Only dates outside jiff's years (-9999..=9999) fail, which no parsed date is; UTC midnight then.
    start.ok().and_then(|secs| DateTime::from_timestamp(secs, 0)).unwrap_or_else(|| date.and_time(NaiveTime::MIN).and_utc())
}

/// The instants of the days `from..=to` in `zone`, as a half-open range: each end, if given.
pub fn days_to_instants(from: Option<NaiveDate>, to: Option<NaiveDate>, zone: &TimeZone) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let end = to.map(|to| to.succ_opt().map_or(DateTime::<Utc>::MAX_UTC, |next| day_start(next, zone)));
    (from.map(|from| day_start(from, zone)), end)
}

/// `?from=&to=`: days, each end optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DateRangeQuery {
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`.
    pub to: Option<String>,
}

/// The days `from..=to`, each end optional, `from` not after `to`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    /// First day.
    pub from: Option<NaiveDate>,
    /// Last day.
    pub to: Option<NaiveDate>,
}

impl DateRangeQuery {
    /// The range: 400 when a date does not parse, 422 when `from` is after `to`.
    pub fn parse(self) -> Result<DateRange, crate::error::Error> {
        let day = |name: &str, raw: Option<String>| {
            raw.map(|raw| {
                parse_date(&raw).map_err(|problem| {
                    couple_common::ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        couple_common::error::codes::INVALID_QUERY,
                        format!("{name} {problem}"),
                    )
                })
            })
            .transpose()
        };
        let (from, to) = (day("from", self.from)?, day("to", self.to)?);
        if from.zip(to).is_some_and(|(from, to)| from > to) {
            return Err(crate::error::Error::field("from", "must not be after to"));
        }
        Ok(DateRange { from, to })
    }
}

/// Most keywords on a meeting (or a recommendation request).
pub const MAX_KEYWORDS: usize = 10;
/// Longest keyword, in characters.
pub const MAX_KEYWORD_CHARS: usize = 30;

/// Free theme words: at most ten, each trimmed to 1 to 30 characters; repeats (ignoring case)
/// are dropped, the first spelling kept.
pub fn parse_keywords(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > MAX_KEYWORDS {
        return Err(format!("at most {MAX_KEYWORDS} keywords"));
    }
    let mut keywords: Vec<String> = Vec::with_capacity(raw.len());
    for word in raw {
        let word = parse_text(word, MAX_KEYWORD_CHARS).map_err(|problem| format!("each keyword {problem}"))?;
        if !keywords.iter().any(|k| k.to_lowercase() == word.to_lowercase()) {
            keywords.push(word);
        }
    }
    Ok(keywords)
}

/// Serialises a time of day as `HH:MM`.
pub mod hh_mm {
    use chrono::NaiveTime;
    use serde::Serializer;

    /// `HH:MM`.
    pub fn serialize<S: Serializer>(time: &NaiveTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&time.format("%H:%M"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_and_measure() {
        let city_hall = LatLon::parse("37.5665, 126.9780").unwrap();
        let busan = LatLon::parse("35.1798,129.0750").unwrap();
        let km = city_hall.distance_km(busan);
        assert!((320.0..330.0).contains(&km), "{km}");
        assert_eq!(LatLon::parse("91,0"), None);
        assert_eq!(LatLon::parse("37.5"), None);
        assert_eq!(LatLon::parse("NaN,1"), None);
    }

    #[test]
    fn weather_orders_by_priority_and_serialises_in_korean() {
        assert!(Weather::Snow > Weather::Rain && Weather::Rain > Weather::Overcast && Weather::SomeCloud > Weather::Clear);
        assert_eq!(serde_json::to_value(Weather::SomeCloud).unwrap(), "구름 조금");
        assert!(Weather::Snow.is_wet() && !Weather::Overcast.is_wet());
    }
}

#[cfg(test)]
mod parse_tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn texts_dates_and_times_parse_strictly() {
        assert_eq!(parse_text("  Dinner ", 100).unwrap(), "Dinner");
        assert!(parse_text("   ", 100).is_err());
        assert!(parse_text("a\u{0}b", 100).is_err() && parse_text("a\nb", 100).is_err());
        assert_eq!(parse_text(&"가".repeat(100), 100).unwrap().chars().count(), 100);
        assert!(parse_text(&"가".repeat(101), 100).is_err());
        assert_eq!(parse_date("2026-12-02").unwrap(), NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
        for bad in ["2026-2-02", "2026-02-30", "+2026-12-02", "20261202", ""] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_time("09:05").unwrap(), NaiveTime::from_hms_opt(9, 5, 0).unwrap());
        for bad in ["9:05", "24:00", "12:60", "12:00:00", "ab:cd"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_keep_their_moment_in_utc() {
        let at = parse_instant("2026-12-02T01:00:00.1234567+09:00").unwrap();
        assert_eq!(at, Utc.with_ymd_and_hms(2026, 12, 1, 16, 0, 0).unwrap() + chrono::Duration::microseconds(123_456));
        assert!(parse_instant("2026-12-02T01:00:00").is_err(), "an offset is required");
        assert!(parse_instant("tomorrow").is_err());
    }

    #[test]
    fn days_begin_at_midnight_in_the_zone() {
        let seoul = couple_common::clock::zone("Asia/Seoul").unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(day_start(day, &seoul), Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap());
        let (from, to) = days_to_instants(Some(day), Some(day), &seoul);
        assert_eq!(
            (from.unwrap(), to.unwrap()),
            (Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap())
        );
        assert_eq!(days_to_instants(None, None, &seoul), (None, None));
        // São Paulo skipped midnight on 4 November 2018: the day began at 01:00 local time.
        let sao_paulo = couple_common::clock::zone("America/Sao_Paulo").unwrap();
        let gap = NaiveDate::from_ymd_opt(2018, 11, 4).unwrap();
        assert_eq!(day_start(gap, &sao_paulo), Utc.with_ymd_and_hms(2018, 11, 4, 3, 0, 0).unwrap());
    }

    #[test]
    fn keywords_are_trimmed_bounded_and_deduplicated() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_keywords(&words(&[" 야경 ", "Night", "night", "야경"])).unwrap(), ["야경", "Night"]);
        assert!(parse_keywords(&words(&["ok", " "])).is_err());
        assert!(parse_keywords(&words(&[&"x".repeat(31)])).is_err());
        assert!(parse_keywords(&words(&["a"; 11])).is_err());
        assert_eq!(parse_keywords(&[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_bounding_box_holds_the_whole_circle() {
        let centre = LatLon::new(37.5665, 126.978).unwrap();
        let area = centre.bounding_box(5.0);
        let (west, east) = area.lon.unwrap();
        // Points 5 km away in every direction lie inside.
        for bearing in (0..360).step_by(5) {
            let b = f64::from(bearing).to_radians();
            let (dlat, dlon) = (5.0 / 111.195 * b.cos(), 5.0 / (111.195 * centre.lat.to_radians().cos()) * b.sin());
            let p = LatLon::new(centre.lat + dlat * 0.999, centre.lon + dlon * 0.999).unwrap();
            assert!(p.distance_km(centre) <= 5.0);
            assert!((area.lat.0..=area.lat.1).contains(&p.lat) && (west..=east).contains(&p.lon), "{bearing}");
        }
        assert!(east - west < 0.2 && area.lat.1 - area.lat.0 < 0.1, "and not much more: {area:?}");
        assert_eq!(LatLon::new(89.99, 0.0).unwrap().bounding_box(5.0).lon, None, "at the pole, every longitude");
        assert_eq!(LatLon::new(0.0, 179.99).unwrap().bounding_box(5.0).lon, None, "across the antimeridian");
    }
}
