//! "Now" and "today" for the services: the system clock in production, a clock a test sets
//! (so it can ask at 23:59 and at 00:01), and days counted in the platform's time zone
//! (`COUPLE_TIME_ZONE`, zone data built into the binary).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use jiff::tz::TimeZone;

/// Where the current time comes from. Cloning shares the clock.
#[derive(Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that stands still until [`Clock::set`] moves it (tests).
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::System => f.write_str("Clock::System"),
            Self::Manual(at) => write!(f, "Clock::Manual({:?})", *at.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }
}

impl Clock {
    /// A manual clock showing `at`.
    pub fn manual(at: DateTime<Utc>) -> Self {
        Self::Manual(Arc::new(Mutex::new(at)))
    }

    /// Moves a manual clock to `at` (every clone sees it); the system clock ignores it.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Self::Manual(now) = self {
            *now.lock().unwrap_or_else(|e| e.into_inner()) = at;
        }
    }

    /// The current time, to the microsecond: the precision PostgreSQL keeps, so what a service
    /// answers right after a write is what it reads back later.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now().trunc_subsecs(6),
            Self::Manual(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Today's date in `zone`.
    pub fn today(&self, zone: &TimeZone) -> NaiveDate {
        date_in(self.now(), zone)
    }
}

/// The date an instant falls on in `zone`.
pub fn date_in(at: DateTime<Utc>, zone: &TimeZone) -> NaiveDate {
    let civil = jiff::Timestamp::from_second(at.timestamp()).map(|ts| ts.to_zoned(zone.clone()).date());
    // Every chrono timestamp in the supported years is also a jiff one; fall back to UTC if not.
    civil
        .ok()
        .and_then(|d| NaiveDate::from_ymd_opt(i32::from(d.year()), u32::from(d.month() as u8), u32::from(d.day() as u8)))
        .unwrap_or_else(|| at.date_naive())
}

/// The zone named `name` (an IANA name such as `Asia/Seoul`) from the bundled database.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|e| format!("unknown time zone {name:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn seoul_days_begin_at_15_00_utc() {
        let seoul = zone("Asia/Seoul").unwrap();
        let before = Utc.with_ymd_and_hms(2026, 11, 30, 14, 59, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 30, 15, 1, 0).unwrap();
        assert_eq!(date_in(before, &seoul), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        assert_eq!(date_in(after, &seoul), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(date_in(after, &TimeZone::UTC), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
    }

    #[test]
    fn a_manual_clock_moves_for_every_clone_and_unknown_zones_are_refused() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = Clock::manual(start);
        let shared = clock.clone();
        shared.set(start + chrono::Duration::hours(1));
        assert_eq!(clock.now(), start + chrono::Duration::hours(1));
        assert!(zone("Mars/Olympus").is_err());
        assert!(zone("Europe/Berlin").is_ok());
        assert_eq!(Clock::System.now().timestamp_subsec_nanos() % 1000, 0, "whole microseconds");
    }
}
