//! Which forecast issue KMA has published at an instant. KMA's clock is Korea time whatever the
//! platform's `COUPLE_TIME_ZONE` says: Korea has kept UTC+9 without summer time since 1988, so a
//! fixed offset is Asia/Seoul for every instant the service will see.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Timelike, Utc};

/// The village forecast's base hours (Korea time).
const VILLAGE_HOURS: [u32; 8] = [2, 5, 8, 11, 14, 17, 20, 23];
/// The mid-term forecast's issue hours (Korea time).
const MID_HOURS: [u32; 2] = [6, 18];
/// An issue becomes available about 10 minutes after its hour.
const PUBLISH_DELAY_MINUTES: i64 = 10;

/// Korea Standard Time.
fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset")
}

/// One issue of a forecast: the day and hour (Korea time) it was made at, as KMA names it in
/// `base_date`/`base_time` (village) or `tmFc` (mid-term).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Issue {
    /// Korea's date of the issue.
    pub date: NaiveDate,
    /// Its hour, 0..=23.
    pub hour: u32,
}

impl Issue {
    /// `base_date` and `tmFc`'s date part: `YYYYMMDD`.
    pub fn base_date(self) -> String {
        self.date.format("%Y%m%d").to_string()
    }

    /// `base_time`: `HH00`.
    pub fn base_time(self) -> String {
        format!("{:02}00", self.hour)
    }

    /// `tmFc`: `YYYYMMDDHH00`.
    pub fn tm_fc(self) -> String {
        format!("{}{}", self.base_date(), self.base_time())
    }

    /// The village forecast issue before this one (three hours earlier).
    pub fn previous_village(self) -> Self {
        previous(self, &VILLAGE_HOURS)
    }

    /// The mid-term issue before this one (twelve hours earlier).
    pub fn previous_mid(self) -> Self {
        previous(self, &MID_HOURS)
    }
}

/// The latest village forecast (`getVilageFcst`) already published at `at`.
pub fn village_issue(at: DateTime<Utc>) -> Issue {
    latest(at, &VILLAGE_HOURS)
}

/// The latest mid-term forecast (`getMidLandFcst`) already published at `at`.
pub fn mid_issue(at: DateTime<Utc>) -> Issue {
    latest(at, &MID_HOURS)
}

/// The latest of `hours` (ascending) that is at least [`PUBLISH_DELAY_MINUTES`] old at `at`;
/// before the day's first, the previous day's last.
fn latest(at: DateTime<Utc>, hours: &[u32]) -> Issue {
    let published_by = (at - Duration::minutes(PUBLISH_DELAY_MINUTES)).with_timezone(&kst());
    let date = published_by.date_naive();
    match hours.iter().rev().find(|&&h| h <= published_by.hour()) {
        Some(&hour) => Issue { date, hour },
        None => Issue { date: date.pred_opt().unwrap_or(date), hour: hours[hours.len() - 1] },
    }
}

fn previous(issue: Issue, hours: &[u32]) -> Issue {
    match hours.iter().rev().find(|&&h| h < issue.hour) {
        Some(&hour) => Issue { hour, ..issue },
        None => Issue { date: issue.date.pred_opt().unwrap_or(issue.date), hour: hours[hours.len() - 1] },
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// `hh:mm` on 2 December 2026 in Korea.
    fn seoul(hour: u32, minute: u32) -> DateTime<Utc> {
        kst().with_ymd_and_hms(2026, 12, 2, hour, minute, 0).unwrap().with_timezone(&Utc)
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    #[test]
    fn a_village_issue_counts_ten_minutes_after_its_hour() {
        assert_eq!(village_issue(seoul(2, 9)), Issue { date: day(1), hour: 23 }, "02:09: yesterday's 2300");
        assert_eq!(village_issue(seoul(2, 11)), Issue { date: day(2), hour: 2 }, "02:11: today's 0200");
        assert_eq!(village_issue(seoul(0, 30)), Issue { date: day(1), hour: 23 });
        assert_eq!(village_issue(seoul(23, 15)), Issue { date: day(2), hour: 23 });
        assert_eq!(village_issue(seoul(23, 5)), Issue { date: day(2), hour: 20 });
        assert_eq!(village_issue(seoul(13, 0)), Issue { date: day(2), hour: 11 });
    }

    #[test]
    fn korea_time_decides_whatever_the_utc_date() {
        // 16:30 UTC on 1 December is 01:30 on 2 December in Korea.
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 16, 30, 0).unwrap();
        assert_eq!(village_issue(at), Issue { date: day(1), hour: 23 });
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 17, 30, 0).unwrap();
        assert_eq!(village_issue(at), Issue { date: day(2), hour: 2 });
    }

    #[test]
    fn mid_term_issues_are_at_six_and_eighteen() {
        assert_eq!(mid_issue(seoul(2, 11)), Issue { date: day(1), hour: 18 });
        assert_eq!(mid_issue(seoul(6, 9)), Issue { date: day(1), hour: 18 });
        assert_eq!(mid_issue(seoul(6, 11)), Issue { date: day(2), hour: 6 });
        assert_eq!(mid_issue(seoul(18, 30)), Issue { date: day(2), hour: 18 });
        assert_eq!(mid_issue(seoul(23, 59)).tm_fc(), "202612021800");
    }

    #[test]
    fn issues_name_themselves_as_kma_does_and_step_back() {
        let issue = village_issue(seoul(2, 11));
        assert_eq!((issue.base_date().as_str(), issue.base_time().as_str()), ("20261202", "0200"));
        assert_eq!(issue.previous_village(), Issue { date: day(1), hour: 23 });
        assert_eq!(Issue { date: day(2), hour: 14 }.previous_village(), Issue { date: day(2), hour: 11 });
        assert_eq!(Issue { date: day(2), hour: 6 }.previous_mid(), Issue { date: day(1), hour: 18 });
        assert_eq!(Issue { date: day(2), hour: 18 }.previous_mid().tm_fc(), "202612020600");
    }
}
