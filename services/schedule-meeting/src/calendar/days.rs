//! The days of a couple's calendar, as pure functions: anniversaries of the start date, both
//! partners' birthdays, and the month view that merges them with schedules and meetings. Days are
//! civil dates in the platform's time zone.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use jiff::tz::TimeZone;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{self, LatLon};

/// A month the calendar can show: years 1970..=2100 (the range the API accepts), months 1..=12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct YearMonth {
    year: i32,
    month: u32,
}

impl YearMonth {
    /// The years the calendar serves.
    pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=2100;

    /// The month, if both parts are in range.
    pub fn new(year: i32, month: u32) -> Option<Self> {
        (Self::YEARS.contains(&year) && (1..=12).contains(&month)).then_some(Self { year, month })
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month, 1..=12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a valid YearMonth has a first day")
    }

    /// Its last day.
    pub fn last_day(self) -> NaiveDate {
        let next = if self.month == 12 { (self.year + 1, 1) } else { (self.year, self.month + 1) };
        let first_of_next = NaiveDate::from_ymd_opt(next.0, next.1, 1).expect("the next month has a first day");
        first_of_next.pred_opt().expect("the day before a first of the month exists")
    }

    /// The instants the month spans in `zone`, `[start, end)`: what to ask the store for so that
    /// a schedule at 00:30 Seoul time on the 1st (15:30 UTC the day before) is in.
    pub fn bounds(self, zone: &TimeZone) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = self.last_day().succ_opt().expect("the day after a supported month exists");
        (domain::day_start(self.first_day(), zone), domain::day_start(end, zone))
    }
}

/// A schedule as the calendar needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleEntry {
    /// The schedule's id.
    pub id: Uuid,
    /// Its name (the title shown).
    pub name: String,
    /// Its message, if any.
    pub message: Option<String>,
    /// When it is.
    pub date_time: DateTime<Utc>,
    /// Last change (the feed's DTSTAMP).
    pub updated_at: DateTime<Utc>,
}

/// A planned date (meeting) as the calendar needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingEntry {
    /// The meeting's id.
    pub id: Uuid,
    /// Its name (the title shown).
    pub name: String,
    /// The day, in the platform's time zone.
    pub date: NaiveDate,
    /// Start, local time of `date`.
    pub start_time: NaiveTime,
    /// End, local time of `date`.
    pub end_time: NaiveTime,
    /// The course, in order.
    pub places: Vec<CoursePlace>,
    /// Theme words.
    pub keywords: Vec<String>,
    /// Last change (the feed's DTSTAMP).
    pub updated_at: DateTime<Utc>,
}

/// One stop of a meeting's course.
#[derive(Debug, Clone, PartialEq)]
pub struct CoursePlace {
    /// The place's name.
    pub name: String,
    /// Its street address.
    pub address: String,
    /// Where it is.
    pub location: LatLon,
}

/// A partner, for birthdays.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The user's id (a birthday's id is `birthday-{userId}`).
    pub user_id: Uuid,
    /// The name shown (`{name} 생일`).
    pub name: String,
    /// Date of birth, if the user gave one.
    pub birth: Option<NaiveDate>,
}

/// Everything a couple's calendar is made of. `start_date` and `members` come from user-couple;
/// while it cannot be reached they are empty and the calendar is partial.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    /// Schedules (those outside the range asked for are ignored).
    pub schedules: Vec<ScheduleEntry>,
    /// Meetings (likewise).
    pub meetings: Vec<MeetingEntry>,
    /// The couple's start date: day 1 of the D+N count and the base of yearly anniversaries.
    pub start_date: Option<NaiveDate>,
    /// Both partners.
    pub members: Vec<Member>,
}

/// An anniversary of the couple's start date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Anniversary {
    /// D+N, N a multiple of 100, counting the start date as day 1.
    Days(u32),
    /// The N-th yearly anniversary (N >= 1).
    Years(u32),
}

impl Anniversary {
    /// The calendar item's id: `anniversary-d100`, `anniversary-y1`.
    pub fn id(self) -> String {
        match self {
            Anniversary::Days(n) => format!("anniversary-d{n}"),
            Anniversary::Years(n) => format!("anniversary-y{n}"),
        }
    }

    /// The title: `D+100`, `1주년`.
    pub fn title(self) -> String {
        match self {
            Anniversary::Days(n) => format!("D+{n}"),
            Anniversary::Years(n) => format!("{n}주년"),
        }
    }
}

/// The step of the D+N anniversaries.
const DAYS_STEP: u32 = 100;

/// Which day of the couple `date` is, counting `start` as day 1 (so the day before is day 0).
pub fn day_number(start: NaiveDate, date: NaiveDate) -> i64 {
    (date - start).num_days() + 1
}

/// The day of year `year` with the month and day of `date`; February 29 falls on February 28 in
/// years without one (birthdays and anniversaries then stay in February).
pub fn same_day_in(date: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, date.month(), date.day()).or_else(|| NaiveDate::from_ymd_opt(year, date.month(), date.day() - 1))
}

/// The anniversaries of `start` in `from..=to`, by date: D+100, D+200, ... (D+100 is 99 days
/// after the start date) and the yearly ones on the same month and day.
pub fn anniversaries(start: NaiveDate, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, Anniversary)> {
    let mut found = Vec::new();
    if from > to {
        return found;
    }
    // The first multiple of the step whose day is on or after `from`, then every step to `to`.
    let step = i64::from(DAYS_STEP);
    let first_day = day_number(start, from).max(1);
    let mut n = (first_day + step - 1) / step * step;
    while let Some(date) = start.checked_add_days(Days::new((n - 1) as u64)).filter(|d| *d <= to) {
        found.push((date, Anniversary::Days(n as u32)));
        n += step;
    }
    for year in from.year().max(start.year() + 1)..=to.year() {
        if let Some(date) = same_day_in(start, year).filter(|d| (from..=to).contains(d)) {
            found.push((date, Anniversary::Years((year - start.year()) as u32)));
        }
    }
    found.sort();
    found
}

/// The birthdays of `members` in `from..=to`, by date: from each one's first birthday on.
pub fn birthdays(members: &[Member], from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, &Member)> {
    let mut found = Vec::new();
    for member in members {
        let Some(birth) = member.birth else { continue };
        for year in from.year().max(birth.year() + 1)..=to.year() {
            if let Some(date) = same_day_in(birth, year).filter(|d| (from..=to).contains(d)) {
                found.push((date, member));
            }
        }
    }
    found.sort_by(|a, b| (a.0, &a.1.name, a.1.user_id).cmp(&(b.0, &b.1.name, b.1.user_id)));
    found
}

/// What a calendar item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemType {
    /// A schedule.
    Schedule,
    /// A planned date.
    Meeting,
    /// A partner's birthday.
    Birthday,
    /// An anniversary of the couple's start date.
    Anniversary,
}

/// One entry of a calendar day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarItem {
    /// `schedule`, `meeting`, `birthday` or `anniversary`.
    #[serde(rename = "type")]
    pub kind: ItemType,
    /// The schedule's or meeting's UUID; `birthday-{userId}` for a birthday; `anniversary-d100`
    /// or `anniversary-y1` for an anniversary.
    pub id: String,
    /// The schedule's or meeting's name, `{name} 생일`, `D+100` or `1주년`.
    pub title: String,
    /// A schedule's time of day (`HH:MM`, platform time zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "19:30")]
    pub time: Option<String>,
    /// A meeting's start (`HH:MM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "13:00")]
    pub start_time: Option<String>,
    /// A meeting's end (`HH:MM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "18:00")]
    pub end_time: Option<String>,
}

/// One day of the month view with everything on it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CalendarDay {
    /// The day (`YYYY-MM-DD`).
    pub date: NaiveDate,
    /// In order: anniversaries, birthdays, then schedules and meetings by time.
    pub items: Vec<CalendarItem>,
}

/// The days of `month` that have anything on them (days without items are left out), in date
/// order. Schedules fall on their instant's day in `zone`.
pub fn month_view(month: YearMonth, sources: &Sources, zone: &TimeZone) -> Vec<CalendarDay> {
    let (from, to) = (month.first_day(), month.last_day());
    let mut entries: Vec<(NaiveDate, SortKey, CalendarItem)> = Vec::new();
    if let Some(start) = sources.start_date {
        for (date, anniversary) in anniversaries(start, from, to) {
            let item = item(ItemType::Anniversary, anniversary.id(), anniversary.title());
            entries.push((date, SortKey::Anniversary(anniversary), item));
        }
    }
    for (date, member) in birthdays(&sources.members, from, to) {
        let item = item(ItemType::Birthday, format!("birthday-{}", member.user_id), format!("{} 생일", member.name));
        entries.push((date, SortKey::Birthday, item));
    }
    for schedule in &sources.schedules {
        let local = local_date_time(schedule.date_time, zone);
        if !(from..=to).contains(&local.date()) {
            continue;
        }
        let item =
            CalendarItem { time: Some(hh_mm(local.time())), ..item(ItemType::Schedule, schedule.id.to_string(), schedule.name.clone()) };
        entries.push((local.date(), SortKey::Timed(local.time()), item));
    }
    for meeting in sources.meetings.iter().filter(|m| (from..=to).contains(&m.date)) {
        let item = CalendarItem {
            start_time: Some(hh_mm(meeting.start_time)),
            end_time: Some(hh_mm(meeting.end_time)),
            ..item(ItemType::Meeting, meeting.id.to_string(), meeting.name.clone())
        };
        entries.push((meeting.date, SortKey::Timed(meeting.start_time), item));
    }
    // Within a day: anniversaries, birthdays, then by time; ties by type, title and id so that the
    // order never depends on the store's.
    entries
        .sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)).then_with(|| (a.2.kind, &a.2.title, &a.2.id).cmp(&(b.2.kind, &b.2.title, &b.2.id))));
    let mut days: Vec<CalendarDay> = Vec::new();
    for (date, _, item) in entries {
        match days.last_mut() {
            Some(day) if day.date == date => day.items.push(item),
            _ => days.push(CalendarDay { date, items: vec![item] }),
        }
    }
    days
}

/// How items of one day are ordered.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Anniversary(Anniversary),
    Birthday,
    Timed(NaiveTime),
}

fn item(kind: ItemType, id: String, title: String) -> CalendarItem {
    CalendarItem { kind, id, title, time: None, start_time: None, end_time: None }
}

/// `HH:MM`.
pub fn hh_mm(time: NaiveTime) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// The civil date and time of `at` in `zone`.
pub fn local_date_time(at: DateTime<Utc>, zone: &TimeZone) -> NaiveDateTime {
    let civil = jiff::Timestamp::new(at.timestamp(), at.timestamp_subsec_nanos() as i32).map(|ts| ts.to_zoned(zone.clone()).datetime());
    // Every instant the service stores is within jiff's range; fall back to UTC if not.
    civil
        .ok()
        .and_then(|dt| {
            let date = NaiveDate::from_ymd_opt(i32::from(dt.year()), dt.month() as u32, dt.day() as u32)?;
            date.and_hms_nano_opt(dt.hour() as u32, dt.minute() as u32, dt.second() as u32, dt.subsec_nanosecond() as u32)
        })
        .unwrap_or_else(|| at.naive_utc())
}

/// The instant a civil date and time of `zone` names (the later reading of a time a
/// daylight-saving change skips or repeats, as `jiff`'s compatible disambiguation does).
pub fn instant_of(date: NaiveDate, time: NaiveTime, zone: &TimeZone) -> DateTime<Utc> {
    let civil = jiff::civil::DateTime::new(
        date.year() as i16,
        date.month() as i8,
        date.day() as i8,
        time.hour() as i8,
        time.minute() as i8,
        time.second() as i8,
        0,
    );
    civil
        .and_then(|dt| dt.to_zoned(zone.clone()))
        .ok()
        .and_then(|zoned| DateTime::from_timestamp(zoned.timestamp().as_second(), 0))
        .unwrap_or_else(|| date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn seoul() -> TimeZone {
        couple_common::clock::zone("Asia/Seoul").unwrap()
    }

    fn member(n: u128, name: &str, birth: Option<NaiveDate>) -> Member {
        Member { user_id: Uuid::from_u128(n), name: name.into(), birth }
    }

    fn schedule(n: u128, name: &str, at: DateTime<Utc>) -> ScheduleEntry {
        ScheduleEntry { id: Uuid::from_u128(n), name: name.into(), message: None, date_time: at, updated_at: at }
    }

    fn meeting(n: u128, name: &str, on: NaiveDate, start: NaiveTime, end: NaiveTime) -> MeetingEntry {
        let updated_at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        MeetingEntry {
            id: Uuid::from_u128(n),
            name: name.into(),
            date: on,
            start_time: start,
            end_time: end,
            places: vec![],
            keywords: vec![],
            updated_at,
        }
    }

    #[test]
    fn the_start_date_is_day_one_so_d_100_is_99_days_later() {
        let start = date(2024, 1, 1);
        assert_eq!(day_number(start, start), 1);
        assert_eq!(day_number(start, date(2023, 12, 31)), 0);
        let found = anniversaries(start, date(2024, 1, 1), date(2024, 12, 31));
        let days: Vec<_> = found.iter().filter(|(_, a)| matches!(a, Anniversary::Days(_))).collect();
        assert_eq!(days[0], &(date(2024, 4, 9), Anniversary::Days(100)));
        assert_eq!(date(2024, 4, 9) - start, chrono::Duration::days(99));
        assert_eq!(days[1], &(date(2024, 7, 18), Anniversary::Days(200)));
        // 2024 has 366 days: D+300 on 26 October, nothing else in the year but the first
        // anniversary is in 2025.
        assert_eq!(days.len(), 3);
        assert!(found.iter().all(|(_, a)| !matches!(a, Anniversary::Years(_))));
    }

    #[test]
    fn anniversaries_in_a_window_are_exactly_those_that_fall_in_it() {
        let start = date(2024, 1, 1);
        // D+100 is 2024-04-09: a window starting on it includes it, one starting the day after not.
        assert_eq!(anniversaries(start, date(2024, 4, 9), date(2024, 4, 9)), vec![(date(2024, 4, 9), Anniversary::Days(100))]);
        assert_eq!(anniversaries(start, date(2024, 4, 10), date(2024, 7, 17)), vec![]);
        assert_eq!(anniversaries(start, date(2024, 4, 10), date(2024, 4, 9)), vec![], "an empty range");
        // Nothing before the start (no D+0, no 0th anniversary).
        assert_eq!(anniversaries(start, date(2020, 1, 1), date(2024, 4, 8)), vec![]);
        // Ten years later: D+3700 and the tenth anniversary, ordered by date.
        let later = anniversaries(start, date(2034, 1, 1), date(2034, 2, 28));
        assert_eq!(later, vec![(date(2034, 1, 1), Anniversary::Years(10)), (date(2034, 2, 16), Anniversary::Days(3700))]);
        assert_eq!(day_number(start, date(2034, 2, 16)), 3700);
    }

    #[test]
    fn a_february_29_start_has_its_yearly_anniversary_on_february_28_in_common_years() {
        let start = date(2024, 2, 29);
        let years = |y| {
            anniversaries(start, date(y, 2, 1), date(y, 3, 31))
                .into_iter()
                .filter(|(_, a)| matches!(a, Anniversary::Years(_)))
                .collect::<Vec<_>>()
        };
        assert_eq!(years(2025), vec![(date(2025, 2, 28), Anniversary::Years(1))]);
        assert_eq!(years(2028), vec![(date(2028, 2, 29), Anniversary::Years(4))]);
        assert_eq!(same_day_in(date(2024, 2, 29), 2100), Some(date(2100, 2, 28)), "2100 is no leap year");
        assert_eq!(same_day_in(date(2023, 3, 1), 2024), Some(date(2024, 3, 1)));
    }

    #[test]
    fn d_n_days_cross_a_leap_day_by_counting_days_not_months() {
        // From 2023-12-01, D+100 is 2024-03-09: December 31 + January 31 + February 29 = 91 days
        // to 1 March, then 8 more.
        let found = anniversaries(date(2023, 12, 1), date(2024, 3, 1), date(2024, 3, 31));
        assert_eq!(found, vec![(date(2024, 3, 9), Anniversary::Days(100))]);
        let common = anniversaries(date(2022, 12, 1), date(2023, 3, 1), date(2023, 3, 31));
        assert_eq!(common, vec![(date(2023, 3, 10), Anniversary::Days(100))]);
    }

    #[test]
    fn anniversaries_have_stable_ids_and_korean_titles() {
        assert_eq!((Anniversary::Days(100).id(), Anniversary::Days(100).title()), ("anniversary-d100".into(), "D+100".into()));
        assert_eq!((Anniversary::Years(1).id(), Anniversary::Years(1).title()), ("anniversary-y1".into(), "1주년".into()));
    }

    #[test]
    fn birthdays_repeat_yearly_from_the_first_and_leap_day_births_move_to_february_28() {
        let members = [member(1, "민수", Some(date(1996, 2, 29))), member(2, "지영", Some(date(1997, 12, 31))), member(3, "무명", None)];
        let names = |from, to| birthdays(&members, from, to).into_iter().map(|(d, m)| (d, m.name.as_str())).collect::<Vec<_>>();
        assert_eq!(names(date(2025, 1, 1), date(2025, 12, 31)), vec![(date(2025, 2, 28), "민수"), (date(2025, 12, 31), "지영")]);
        assert_eq!(names(date(2024, 2, 1), date(2024, 2, 29)), vec![(date(2024, 2, 29), "민수")]);
        // A window across the new year sees both years' days; the day of birth itself is no birthday.
        assert_eq!(names(date(1997, 12, 1), date(1998, 3, 1)), vec![(date(1998, 2, 28), "민수")]);
        assert_eq!(names(date(2025, 12, 31), date(2026, 2, 28)), vec![(date(2025, 12, 31), "지영"), (date(2026, 2, 28), "민수")]);
    }

    #[test]
    fn months_know_their_edges_and_their_instants_in_the_zone() {
        assert_eq!(YearMonth::new(2024, 2).unwrap().last_day(), date(2024, 2, 29));
        assert_eq!(YearMonth::new(2023, 2).unwrap().last_day(), date(2023, 2, 28));
        assert_eq!(YearMonth::new(2100, 12).unwrap().last_day(), date(2100, 12, 31));
        assert_eq!(YearMonth::new(2024, 13), None);
        assert_eq!(YearMonth::new(2024, 0), None);
        assert_eq!(YearMonth::new(1969, 12), None);
        assert_eq!(YearMonth::new(2101, 1), None);
        let (start, end) = YearMonth::new(2026, 12).unwrap().bounds(&seoul());
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 12, 31, 15, 0, 0).unwrap());
    }

    #[test]
    fn zone_conversions_round_trip_and_follow_daylight_saving() {
        let berlin = couple_common::clock::zone("Europe/Berlin").unwrap();
        let summer = instant_of(date(2026, 7, 1), time(12, 0), &berlin);
        let winter = instant_of(date(2026, 1, 1), time(12, 0), &berlin);
        assert_eq!(
            (summer, winter),
            (Utc.with_ymd_and_hms(2026, 7, 1, 10, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0).unwrap())
        );
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 15, 30, 45).unwrap();
        assert_eq!(local_date_time(at, &seoul()), date(2026, 12, 1).and_hms_opt(0, 30, 45).unwrap());
        assert_eq!(instant_of(date(2026, 12, 1), NaiveTime::from_hms_opt(0, 30, 45).unwrap(), &seoul()), at);
    }

    #[test]
    fn a_schedule_belongs_to_its_day_in_the_platform_zone() {
        let december = YearMonth::new(2026, 12).unwrap();
        let november = YearMonth::new(2026, 11).unwrap();
        // 15:30 UTC on 30 November is 00:30 on 1 December in Seoul; 14:59 UTC is still 30 November.
        let sources = Sources {
            schedules: vec![
                schedule(1, "자정 넘어", Utc.with_ymd_and_hms(2026, 11, 30, 15, 30, 0).unwrap()),
                schedule(2, "자정 전", Utc.with_ymd_and_hms(2026, 11, 30, 14, 59, 0).unwrap()),
            ],
            ..Sources::default()
        };
        let dec = month_view(december, &sources, &seoul());
        assert_eq!(dec.len(), 1);
        assert_eq!(
            (dec[0].date, dec[0].items[0].title.as_str(), dec[0].items[0].time.as_deref()),
            (date(2026, 12, 1), "자정 넘어", Some("00:30"))
        );
        let nov = month_view(november, &sources, &seoul());
        assert_eq!((nov[0].date, nov[0].items[0].time.as_deref()), (date(2026, 11, 30), Some("23:59")));
        // In UTC both fall on 30 November.
        assert_eq!(month_view(november, &sources, &TimeZone::UTC)[0].items.len(), 2);
    }

    #[test]
    fn a_month_merges_everything_in_a_stable_order_and_leaves_out_empty_days() {
        let start = date(2025, 12, 4); // D+100 on 2026-03-13; 0 years on 2025-12-04
        let sources = Sources {
            schedules: vec![
                schedule(10, "저녁 약속", Utc.with_ymd_and_hms(2026, 3, 13, 10, 30, 0).unwrap()), // 19:30 Seoul
                schedule(11, "아침 운동", Utc.with_ymd_and_hms(2026, 3, 12, 22, 0, 0).unwrap()),  // 07:00 on the 13th
                schedule(12, "다음 달", Utc.with_ymd_and_hms(2026, 3, 31, 15, 0, 0).unwrap()),    // 1 April, Seoul
            ],
            meetings: vec![
                meeting(20, "데이트", date(2026, 3, 13), time(13, 0), time(18, 0)),
                meeting(21, "지난 달", date(2026, 2, 28), time(13, 0), time(18, 0)),
            ],
            start_date: Some(start),
            members: vec![member(2, "지영", Some(date(1997, 3, 13))), member(1, "민수", Some(date(1996, 3, 1)))],
        };
        let days = month_view(YearMonth::new(2026, 3).unwrap(), &sources, &seoul());
        let dates: Vec<_> = days.iter().map(|d| d.date).collect();
        assert_eq!(dates, vec![date(2026, 3, 1), date(2026, 3, 13)]);
        assert_eq!(
            days[0].items,
            vec![CalendarItem {
                kind: ItemType::Birthday,
                id: format!("birthday-{}", Uuid::from_u128(1)),
                title: "민수 생일".into(),
                time: None,
                start_time: None,
                end_time: None
            }]
        );
        let thirteenth: Vec<_> = days[1].items.iter().map(|i| (i.kind, i.title.as_str())).collect();
        assert_eq!(
            thirteenth,
            vec![
                (ItemType::Anniversary, "D+100"),
                (ItemType::Birthday, "지영 생일"),
                (ItemType::Schedule, "아침 운동"),
                (ItemType::Meeting, "데이트"),
                (ItemType::Schedule, "저녁 약속"),
            ]
        );
        let json = serde_json::to_value(&days[1].items).unwrap();
        assert_eq!(json[0], serde_json::json!({"type": "anniversary", "id": "anniversary-d100", "title": "D+100"}));
        assert_eq!(
            json[2],
            serde_json::json!({"type": "schedule", "id": Uuid::from_u128(11).to_string(), "title": "아침 운동", "time": "07:00"})
        );
        assert_eq!(
            json[3],
            serde_json::json!({"type": "meeting", "id": Uuid::from_u128(20).to_string(), "title": "데이트", "startTime": "13:00", "endTime": "18:00"})
        );
        // The order does not depend on the order of the inputs.
        let mut shuffled = sources.clone();
        shuffled.schedules.reverse();
        shuffled.members.reverse();
        shuffled.meetings.reverse();
        assert_eq!(month_view(YearMonth::new(2026, 3).unwrap(), &shuffled, &seoul()), days);
    }

    #[test]
    fn without_user_couple_the_month_still_has_schedules_and_meetings() {
        let sources =
            Sources { meetings: vec![meeting(1, "데이트", date(2026, 3, 13), time(13, 0), time(18, 0))], ..Sources::default() };
        let days = month_view(YearMonth::new(2026, 3).unwrap(), &sources, &seoul());
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].items[0].kind, ItemType::Meeting);
        assert!(month_view(YearMonth::new(2026, 4).unwrap(), &sources, &seoul()).is_empty());
    }

    #[test]
    fn a_year_boundary_month_shows_the_yearly_anniversary() {
        let sources = Sources { start_date: Some(date(2024, 12, 31)), ..Sources::default() };
        let december = month_view(YearMonth::new(2025, 12).unwrap(), &sources, &seoul());
        let last = december.last().unwrap();
        assert_eq!((last.date, last.items[0].id.as_str(), last.items[0].title.as_str()), (date(2025, 12, 31), "anniversary-y1", "1주년"));
        assert!(
            month_view(YearMonth::new(2026, 1).unwrap(), &sources, &seoul())
                .iter()
                .all(|d| d.items.iter().all(|i| i.id != "anniversary-y1"))
        );
    }

    #[test]
    fn anniversaries_on_one_day_put_the_day_count_first() {
        let mut keys = vec![
            SortKey::Timed(time(0, 0)),
            SortKey::Birthday,
            SortKey::Anniversary(Anniversary::Years(1)),
            SortKey::Anniversary(Anniversary::Days(400)),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                SortKey::Anniversary(Anniversary::Days(400)),
                SortKey::Anniversary(Anniversary::Years(1)),
                SortKey::Birthday,
                SortKey::Timed(time(0, 0))
            ]
        );
    }
}
