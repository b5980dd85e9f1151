//! The bodies of `GET /api/schedules/calendar` and `/api/calendar/feeds`.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use couple_common::{ApiError, error::codes};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::days::{CalendarDay, YearMonth};
use crate::error::Error;

/// `?year=&month=`, both required.
#[derive(Debug, Default, Deserialize)]
pub struct MonthQuery {
    /// `2026`.
    pub year: Option<String>,
    /// `1` to `12` (`03` too).
    pub month: Option<String>,
}

impl MonthQuery {
    /// The month: 400 when a part is missing or not a whole number, 422 (naming each part) when
    /// the year is outside 1970..=2100 or the month outside 1..=12.
    pub fn parse(self) -> Result<YearMonth, Error> {
        let number = |name: &str, raw: Option<String>| -> Result<i64, Error> {
            let raw = raw.ok_or_else(|| bad_query(format!("{name} is required")))?;
            raw.trim().parse().map_err(|_| bad_query(format!("{name} must be a whole number")))
        };
        let (year, month) = (number("year", self.year)?, number("month", self.month)?);
        let mut fields = couple_common::FieldErrors::new();
        if !(i64::from(*YearMonth::YEARS.start())..=i64::from(*YearMonth::YEARS.end())).contains(&year) {
            fields.insert("year".into(), format!("must be in {}..={}", YearMonth::YEARS.start(), YearMonth::YEARS.end()));
        }
        if !(1..=12).contains(&month) {
            fields.insert("month".into(), "must be in 1..=12".into());
        }
        match (i32::try_from(year), u32::try_from(month)) {
            (Ok(year), Ok(month)) if fields.is_empty() => YearMonth::new(year, month).ok_or(Error::Validation(fields)),
            _ => Err(Error::Validation(fields)),
        }
    }
}

fn bad_query(message: String) -> Error {
    Error::Request(ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_QUERY, message))
}

/// What a partial calendar goes without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// The partners' birthdays.
    Birthdays,
    /// The anniversaries of the couple's start date.
    Anniversaries,
}

/// A month of the couple's calendar.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MonthCalendar {
    /// The year asked for.
    pub year: i32,
    /// The month asked for, 1..=12.
    pub month: u32,
    /// Only the days that have items, in date order (a client lays out the month grid itself).
    /// Within a day: anniversaries, birthdays, then schedules and meetings by time.
    pub days: Vec<CalendarDay>,
    /// True when part of the calendar could not be read just now (user-couple unreachable): the
    /// days then hold schedules and meetings only, and `missing` says what is left out. Asking
    /// again later gives the whole month.
    pub partial: bool,
    /// What is left out of a partial calendar (`birthdays`, `anniversaries`); empty otherwise.
    pub missing: Vec<Missing>,
}

/// A secret calendar feed of the couple.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarFeed {
    /// The feed's id (to revoke it).
    pub id: Uuid,
    /// The iCalendar URL to subscribe to. Anyone with it can read the couple's calendar, so it
    /// is shown to the couple only; revoke the feed if it leaks.
    #[schema(example = "https://couple.example.com/api/calendar/feeds/3q2-7wE0bA9Z1xYvT4r8m6n5s0k2j1h9g7f5d3s1a0c.ics")]
    pub url: String,
    /// The partner who created it.
    pub created_by: Uuid,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(year: Option<&str>, month: Option<&str>) -> MonthQuery {
        MonthQuery { year: year.map(Into::into), month: month.map(Into::into) }
    }

    fn status(result: Result<YearMonth, Error>) -> (StatusCode, Vec<String>) {
        let err = ApiError::from(result.unwrap_err());
        (err.status, err.fields.map(|f| f.keys().cloned().collect()).unwrap_or_default())
    }

    #[test]
    fn a_month_parses_from_whole_numbers() {
        assert_eq!(query(Some("2026"), Some("03")).parse().unwrap(), YearMonth::new(2026, 3).unwrap());
        assert_eq!(query(Some("1970"), Some("1")).parse().unwrap(), YearMonth::new(1970, 1).unwrap());
    }

    #[test]
    fn missing_or_unparseable_parts_are_400_and_out_of_range_ones_422() {
        for (year, month) in
            [(None, Some("3")), (Some("2026"), None), (Some("twenty"), Some("3")), (Some("2026"), Some("3.5")), (Some(""), Some("3"))]
        {
            assert_eq!(status(query(year, month).parse()).0, StatusCode::BAD_REQUEST, "{year:?} {month:?}");
        }
        assert_eq!(status(query(Some("2026"), Some("13")).parse()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["month".to_string()]));
        assert_eq!(status(query(Some("1969"), Some("0")).parse()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["month".into(), "year".into()]));
        assert_eq!(status(query(Some("99999999999"), Some("1")).parse()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["year".to_string()]));
    }
}
