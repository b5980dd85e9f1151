//! The couple's calendar as an iCalendar feed (RFC 5545), for phone calendars to subscribe to.
//!
//! Schedules are timed events in UTC; meetings run from their start to their end time, in the
//! platform's zone, written in UTC so that no VTIMEZONE is needed; birthdays and the yearly
//! anniversary are all-day events that repeat yearly (the yearly anniversary's instances in the
//! window carry their own `n주년` title); the D+N days are single all-day events.
//!
//! Written here rather than with the `icalendar` crate: its folding takes a character index for
//! a byte index, so long Korean lines could be folded right after a space, which readers that
//! trim each physical line (ical-rs among them) then lose; and it stamps events with the system
//! clock and random UIDs unless told otherwise. What a feed needs is small: escaping, folding
//! at 75 octets on a character boundary, and a fixed set of properties.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use jiff::tz::TimeZone;
use uuid::Uuid;

use super::days::{self, Anniversary, MeetingEntry, ScheduleEntry, Sources};

/// The feed's product identifier.
const PRODID: &str = "-//couple-platform//schedule-meeting//KO";

/// How often clients should fetch the feed again.
const REFRESH: &str = "PT1H";

/// The right-hand side of every UID: UIDs stay the same from one fetch to the next, so clients
/// update events in place instead of duplicating them.
const UID_DOMAIN: &str = "couple-platform";

/// The most octets on one line, the line break excluded (RFC 5545, 3.1).
const MAX_LINE_OCTETS: usize = 75;

/// What one feed shows, besides the couple's sources.
#[derive(Debug, Clone)]
pub struct Feed<'a> {
    /// The couple (part of the anniversaries' UIDs).
    pub couple_id: Uuid,
    /// The calendar's name in clients (`X-WR-CALNAME`).
    pub name: &'a str,
    /// The platform's time zone: meeting times are civil times in it.
    pub zone: &'a TimeZone,
    /// First day shown (schedules, meetings, D+N days, titled yearly anniversaries).
    pub from: NaiveDate,
    /// Last day shown.
    pub to: NaiveDate,
    /// When the feed is made (DTSTAMP of events that are not stored: birthdays, anniversaries).
    pub generated_at: DateTime<Utc>,
}

/// The days a feed covers around `today`: one year back and two years ahead, so the file stays
/// small however long the couple has been together.
pub fn window(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let from = today.checked_sub_months(Months::new(12)).unwrap_or(today);
    let to = today.checked_add_months(Months::new(24)).unwrap_or(today);
    (from, to)
}

/// The feed: a VCALENDAR with the couple's events in `feed`'s window, in a stable order (yearly
/// events, D+N days, schedules, meetings), with CRLF line ends.
pub fn render(sources: &Sources, feed: &Feed<'_>) -> String {
    let mut ics = Writer::default();
    ics.raw("BEGIN", "VCALENDAR");
    ics.text("PRODID", PRODID);
    ics.raw("VERSION", "2.0");
    ics.raw("CALSCALE", "GREGORIAN");
    ics.text("X-WR-CALNAME", feed.name);
    if let Some(zone) = feed.zone.iana_name() {
        ics.text("X-WR-TIMEZONE", zone);
    }
    ics.raw("REFRESH-INTERVAL;VALUE=DURATION", REFRESH);
    ics.raw("X-PUBLISHED-TTL", REFRESH);

    let mut members: Vec<_> = sources.members.iter().filter(|m| m.birth.is_some()).collect();
    members.sort_by_key(|m| m.user_id);
    for member in members {
        let Some(birth) = member.birth else { continue };
        let Some(first) = days::same_day_in(birth, birth.year() + 1) else { continue };
        ics.begin_event(&format!("birthday-{}", member.user_id), feed.generated_at);
        ics.all_day(first);
        ics.raw("RRULE", &yearly_rule(birth));
        ics.text("SUMMARY", &format!("{} 생일", member.name));
        ics.raw("TRANSP", "TRANSPARENT");
        ics.raw("END", "VEVENT");
    }

    if let Some(start) = sources.start_date {
        let anniversaries = days::anniversaries(start, feed.from, feed.to);
        let yearly_uid = format!("anniversary-yearly-{}", feed.couple_id);
        if let Some(first) = days::same_day_in(start, start.year() + 1) {
            ics.begin_event(&yearly_uid, feed.generated_at);
            ics.all_day(first);
            ics.raw("RRULE", &yearly_rule(start));
            ics.text("SUMMARY", "주년 기념일");
            ics.text("DESCRIPTION", &format!("{} 시작", start.format("%Y-%m-%d")));
            ics.raw("TRANSP", "TRANSPARENT");
            ics.raw("END", "VEVENT");
        }
        // Each instance in the window gets its own title ("3주년") through RECURRENCE-ID.
        for (date, anniversary) in &anniversaries {
            if let Anniversary::Years(_) = anniversary {
                ics.begin_event(&yearly_uid, feed.generated_at);
                ics.raw("RECURRENCE-ID;VALUE=DATE", &ics_date(*date));
                ics.all_day(*date);
                ics.text("SUMMARY", &anniversary.title());
                ics.raw("TRANSP", "TRANSPARENT");
                ics.raw("END", "VEVENT");
            }
        }
        for (date, anniversary) in &anniversaries {
            if let Anniversary::Days(n) = anniversary {
                ics.begin_event(&format!("anniversary-d{n}-{}", feed.couple_id), feed.generated_at);
                ics.all_day(*date);
                ics.text("SUMMARY", &anniversary.title());
                ics.raw("TRANSP", "TRANSPARENT");
                ics.raw("END", "VEVENT");
            }
        }
    }

    let mut schedules: Vec<&ScheduleEntry> = sources
        .schedules
        .iter()
        .filter(|s| (feed.from..=feed.to).contains(&days::local_date_time(s.date_time, feed.zone).date()))
        .collect();
    schedules.sort_by_key(|s| (s.date_time, s.id));
    for schedule in schedules {
        ics.begin_event(&format!("schedule-{}", schedule.id), schedule.updated_at);
        ics.raw("DTSTART", &ics_date_time(schedule.date_time));
        ics.text("SUMMARY", &schedule.name);
        if let Some(message) = schedule.message.as_deref().filter(|m| !m.trim().is_empty()) {
            ics.text("DESCRIPTION", message);
        }
        ics.raw("END", "VEVENT");
    }

    let mut meetings: Vec<&MeetingEntry> = sources.meetings.iter().filter(|m| (feed.from..=feed.to).contains(&m.date)).collect();
    meetings.sort_by_key(|m| (m.date, m.start_time, m.id));
    for meeting in meetings {
        let start = days::instant_of(meeting.date, meeting.start_time, feed.zone);
        // A course that ends before it starts runs past midnight.
        let end_date = if meeting.end_time < meeting.start_time { meeting.date.succ_opt().unwrap_or(meeting.date) } else { meeting.date };
        let end = days::instant_of(end_date, meeting.end_time, feed.zone);
        ics.begin_event(&format!("meeting-{}", meeting.id), meeting.updated_at);
        ics.raw("DTSTART", &ics_date_time(start));
        ics.raw("DTEND", &ics_date_time(end));
        ics.text("SUMMARY", &meeting.name);
        if let Some(first) = meeting.places.first() {
            ics.text("LOCATION", &format!("{} ({})", first.name, first.address));
            ics.raw("GEO", &format!("{:.6};{:.6}", first.location.lat, first.location.lon));
        }
        if let Some(description) = meeting_description(meeting) {
            ics.text("DESCRIPTION", &description);
        }
        ics.raw("END", "VEVENT");
    }

    ics.raw("END", "VCALENDAR");
    ics.out
}

/// The course, one stop a line, and the keywords.
fn meeting_description(meeting: &MeetingEntry) -> Option<String> {
    let mut lines: Vec<String> = meeting.places.iter().enumerate().map(|(i, p)| format!("{}. {} ({})", i + 1, p.name, p.address)).collect();
    if !meeting.keywords.is_empty() {
        lines.push(format!("키워드: {}", meeting.keywords.join(", ")));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Every year on the month and day of `date`; for February 29, the last day of February, which
/// is the 28th in common years (as the month view shows it).
fn yearly_rule(date: NaiveDate) -> String {
    if (date.month(), date.day()) == (2, 29) { "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1".into() } else { "FREQ=YEARLY".into() }
}

/// A DATE value: `20260313`.
fn ics_date(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// A UTC DATE-TIME value: `20260313T041500Z`.
fn ics_date_time(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Content lines, folded, with CRLF.
#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    /// A property whose value is written as is (dates, rules, names of things).
    fn raw(&mut self, name: &str, value: &str) {
        fold_into(&mut self.out, &format!("{name}:{value}"));
    }

    /// A TEXT property, escaped.
    fn text(&mut self, name: &str, value: &str) {
        self.raw(name, &escape_text(value));
    }

    fn begin_event(&mut self, uid: &str, stamp: DateTime<Utc>) {
        self.raw("BEGIN", "VEVENT");
        self.text("UID", &format!("{uid}@{UID_DOMAIN}"));
        self.raw("DTSTAMP", &ics_date_time(stamp));
    }

    /// An all-day event on `date` (DTEND is exclusive: the next day).
    fn all_day(&mut self, date: NaiveDate) {
        self.raw("DTSTART;VALUE=DATE", &ics_date(date));
        self.raw("DTEND;VALUE=DATE", &ics_date(date.succ_opt().unwrap_or(date)));
    }
}

/// Escapes a TEXT value (RFC 5545, 3.3.11): backslash, semicolon and comma get a backslash, line
/// breaks (`\r\n`, `\r`, `\n`) become `\n`, and other control characters, which TEXT cannot
/// hold, are dropped (a tab stays).
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded (RFC 5545, 3.1): no physical line longer than 75 octets, each
/// continuation starting with one space, never splitting a UTF-8 character. A piece never ends
/// in whitespace (the fold moves before it): some readers trim the end of each physical line.
pub fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    let mut limit = MAX_LINE_OCTETS;
    while rest.len() > limit {
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let trimmed = rest[..cut].trim_end_matches([' ', '\t']).len();
        if trimmed > 0 {
            cut = trimmed;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        // The leading space counts toward the next line's octets.
        limit = MAX_LINE_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use chrono::{NaiveTime, TimeZone as _};
    use ical::parser::ical::component::{IcalCalendar, IcalEvent};

    use super::*;
    use crate::{
        calendar::days::{CoursePlace, Member},
        domain::LatLon,
    };

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn seoul() -> TimeZone {
        couple_common::clock::zone("Asia/Seoul").unwrap()
    }

    const COUPLE: Uuid = Uuid::from_u128(0xc0);

    fn sources() -> Sources {
        let stamp = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        Sources {
            schedules: vec![
                ScheduleEntry {
                    id: Uuid::from_u128(10),
                    name: "병원, 치과; 검진".into(),
                    message: Some("첫 줄\r\n둘째 줄\\끝".into()),
                    date_time: Utc.with_ymd_and_hms(2026, 3, 13, 1, 30, 0).unwrap(),
                    updated_at: stamp,
                },
                ScheduleEntry {
                    id: Uuid::from_u128(11),
                    name: "오래된 일정".into(),
                    message: None,
                    date_time: Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap(),
                    updated_at: stamp,
                },
            ],
            meetings: vec![MeetingEntry {
                id: Uuid::from_u128(20),
                name: "성수 데이트".into(),
                date: date(2026, 3, 14),
                start_time: NaiveTime::from_hms_opt(13, 0, 0).unwrap(),
                end_time: NaiveTime::from_hms_opt(18, 30, 0).unwrap(),
                places: vec![
                    CoursePlace {
                        name: "서울숲".into(),
                        address: "서울 성동구 뚝섬로 273".into(),
                        location: LatLon { lat: 37.544, lon: 127.0374 },
                    },
                    CoursePlace {
                        name: "대림창고".into(),
                        address: "서울 성동구 성수이로 78".into(),
                        location: LatLon { lat: 37.5419, lon: 127.0566 },
                    },
                ],
                keywords: vec!["산책".into(), "카페".into()],
                updated_at: stamp,
            }],
            start_date: Some(date(2024, 2, 29)),
            members: vec![
                Member { user_id: Uuid::from_u128(2), name: "지영".into(), birth: Some(date(1997, 12, 31)) },
                Member { user_id: Uuid::from_u128(1), name: "민수".into(), birth: Some(date(1996, 2, 29)) },
                Member { user_id: Uuid::from_u128(3), name: "생일 모름".into(), birth: None },
            ],
        }
    }

    fn render_at(sources: &Sources, today: NaiveDate) -> String {
        let zone = seoul();
        let (from, to) = window(today);
        let feed = Feed {
            couple_id: COUPLE,
            name: "우리 캘린더",
            zone: &zone,
            from,
            to,
            generated_at: Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap(),
        };
        render(sources, &feed)
    }

    /// Parses with ical-rs, a reader written apart from this code.
    fn parse(text: &str) -> IcalCalendar {
        let mut calendars = ical::IcalParser::new(BufReader::new(text.as_bytes()));
        let calendar = calendars.next().expect("one calendar").expect("the feed parses");
        assert!(calendars.next().is_none(), "exactly one calendar");
        calendar
    }

    fn prop<'a>(props: &'a [ical::property::Property], name: &str) -> Option<&'a str> {
        props.iter().find(|p| p.name == name).and_then(|p| p.value.as_deref())
    }

    fn params(props: &[ical::property::Property], name: &str) -> Vec<(String, Vec<String>)> {
        props.iter().find(|p| p.name == name).and_then(|p| p.params.clone()).unwrap_or_default()
    }

    /// Reverses RFC 5545 TEXT escaping (ical-rs leaves values as written).
    fn unescape(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n' | 'N') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn events_with_uid<'a>(calendar: &'a IcalCalendar, uid: &str) -> Vec<&'a IcalEvent> {
        calendar.events.iter().filter(|e| prop(&e.properties, "UID") == Some(uid)).collect()
    }

    #[test]
    fn the_feed_is_one_calendar_with_the_required_properties() {
        let calendar = parse(&render_at(&sources(), date(2026, 3, 10)));
        let props = &calendar.properties;
        assert_eq!(prop(props, "VERSION"), Some("2.0"));
        assert_eq!(prop(props, "PRODID"), Some(PRODID));
        assert_eq!(prop(props, "CALSCALE"), Some("GREGORIAN"));
        assert_eq!(prop(props, "X-WR-CALNAME"), Some("우리 캘린더"));
        assert_eq!(prop(props, "X-WR-TIMEZONE"), Some("Asia/Seoul"));
        for event in &calendar.events {
            let uid = prop(&event.properties, "UID").unwrap();
            assert!(uid.ends_with("@couple-platform"), "{uid}");
            assert!(prop(&event.properties, "DTSTAMP").is_some_and(|s| s.len() == 16 && s.ends_with('Z')), "{uid}");
            assert!(prop(&event.properties, "DTSTART").is_some() && prop(&event.properties, "SUMMARY").is_some(), "{uid}");
        }
    }

    #[test]
    fn schedules_are_utc_events_with_their_text_escaped() {
        let text = render_at(&sources(), date(2026, 3, 10));
        let calendar = parse(&text);
        let schedule = events_with_uid(&calendar, &format!("schedule-{}@couple-platform", Uuid::from_u128(10)));
        let [schedule] = schedule.as_slice() else { panic!("one schedule event: {schedule:?}") };
        let props = &schedule.properties;
        assert_eq!(prop(props, "DTSTART"), Some("20260313T013000Z"));
        assert_eq!(prop(props, "DTSTAMP"), Some("20260301T090000Z"));
        assert_eq!(prop(props, "DTEND"), None, "a schedule is a moment");
        assert_eq!(prop(props, "SUMMARY"), Some("병원\\, 치과\\; 검진"));
        assert_eq!(unescape(prop(props, "SUMMARY").unwrap()), "병원, 치과; 검진");
        assert_eq!(unescape(prop(props, "DESCRIPTION").unwrap()), "첫 줄\n둘째 줄\\끝");
        assert!(text.contains("DESCRIPTION:첫 줄\\n둘째 줄\\\\끝\r\n"), "CRLF in the text became one \\n");
        // Outside the window (a year back): not in the feed.
        assert!(events_with_uid(&calendar, &format!("schedule-{}@couple-platform", Uuid::from_u128(11))).is_empty());
    }

    #[test]
    fn meetings_run_from_start_to_end_in_the_platform_zone_at_their_first_place() {
        let calendar = parse(&render_at(&sources(), date(2026, 3, 10)));
        let meeting = events_with_uid(&calendar, &format!("meeting-{}@couple-platform", Uuid::from_u128(20)));
        let [meeting] = meeting.as_slice() else { panic!("one meeting event") };
        let props = &meeting.properties;
        // 13:00 and 18:30 in Seoul (UTC+9).
        assert_eq!((prop(props, "DTSTART"), prop(props, "DTEND")), (Some("20260314T040000Z"), Some("20260314T093000Z")));
        assert_eq!(unescape(prop(props, "LOCATION").unwrap()), "서울숲 (서울 성동구 뚝섬로 273)");
        assert_eq!(prop(props, "GEO"), Some("37.544000;127.037400"));
        assert_eq!(
            unescape(prop(props, "DESCRIPTION").unwrap()),
            "1. 서울숲 (서울 성동구 뚝섬로 273)\n2. 대림창고 (서울 성동구 성수이로 78)\n키워드: 산책, 카페"
        );
    }

    #[test]
    fn birthdays_repeat_yearly_and_a_leap_day_one_on_the_last_day_of_february() {
        let calendar = parse(&render_at(&sources(), date(2026, 3, 10)));
        let minsu = events_with_uid(&calendar, &format!("birthday-{}@couple-platform", Uuid::from_u128(1)));
        let props = &minsu[0].properties;
        assert_eq!(minsu.len(), 1);
        assert_eq!(prop(props, "SUMMARY"), Some("민수 생일"));
        assert_eq!((prop(props, "DTSTART"), prop(props, "DTEND")), (Some("19970228"), Some("19970301")));
        assert_eq!(params(props, "DTSTART"), vec![("VALUE".to_string(), vec!["DATE".to_string()])]);
        assert_eq!(prop(props, "RRULE"), Some("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1"));
        let jiyoung = events_with_uid(&calendar, &format!("birthday-{}@couple-platform", Uuid::from_u128(2)));
        assert_eq!(prop(&jiyoung[0].properties, "RRULE"), Some("FREQ=YEARLY"));
        assert_eq!(prop(&jiyoung[0].properties, "DTSTART"), Some("19981231"));
        assert_eq!(prop(&jiyoung[0].properties, "DTEND"), Some("19990101"), "DTEND is the next day, across the year");
        assert!(calendar.events.iter().all(|e| prop(&e.properties, "SUMMARY") != Some("생일 모름 생일")));
    }

    #[test]
    fn anniversaries_are_a_yearly_event_titled_per_year_and_single_d_n_days_in_the_window() {
        // Start 2024-02-29; window 2025-03-10..=2028-03-10.
        let calendar = parse(&render_at(&sources(), date(2026, 3, 10)));
        let uid = format!("anniversary-yearly-{COUPLE}@couple-platform");
        let yearly = events_with_uid(&calendar, &uid);
        let master = yearly.iter().find(|e| prop(&e.properties, "RRULE").is_some()).unwrap();
        assert_eq!(prop(&master.properties, "DTSTART"), Some("20250228"));
        assert_eq!(prop(&master.properties, "RRULE"), Some("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1"));
        let overrides: Vec<_> = yearly
            .iter()
            .filter_map(|e| Some((prop(&e.properties, "RECURRENCE-ID")?, prop(&e.properties, "DTSTART")?, prop(&e.properties, "SUMMARY")?)))
            .collect();
        // The first anniversary (2025-02-28) is before the window.
        assert_eq!(
            overrides,
            vec![("20260228", "20260228", "2주년"), ("20270228", "20270228", "3주년"), ("20280229", "20280229", "4주년")]
        );
        let d_days: Vec<_> = calendar
            .events
            .iter()
            .filter(|e| prop(&e.properties, "UID").is_some_and(|u| u.starts_with("anniversary-d")))
            .map(|e| (prop(&e.properties, "SUMMARY").unwrap(), prop(&e.properties, "DTSTART").unwrap(), prop(&e.properties, "RRULE")))
            .collect();
        // Day 1 is 2024-02-29; day 400 is 2025-04-03 (after 2025-03-10), day 1400 is 2027-12-29.
        assert_eq!(d_days.first(), Some(&("D+400", "20250403", None)));
        assert_eq!(d_days.last(), Some(&("D+1400", "20271229", None)));
        assert_eq!(d_days.len(), 11);
        assert_eq!(
            prop(&events_with_uid(&calendar, &format!("anniversary-d400-{COUPLE}@couple-platform"))[0].properties, "TRANSP"),
            Some("TRANSPARENT")
        );
    }

    #[test]
    fn the_feed_is_the_same_for_the_same_data_in_any_order() {
        let sources = sources();
        let mut shuffled = sources.clone();
        shuffled.members.reverse();
        shuffled.schedules.reverse();
        assert_eq!(render_at(&sources, date(2026, 3, 10)), render_at(&shuffled, date(2026, 3, 10)));
    }

    #[test]
    fn long_korean_lines_fold_at_75_octets_on_character_boundaries_and_read_back_whole() {
        // 3-byte syllables and single spaces, so that some 75-octet cuts fall inside a character
        // and some right after a space.
        let title = "우리 둘이 처음 만난 성수동 골목의 작은 카페에서 다시 만나기로 한 날, 비가 오면 전시회; 맑으면 한강 공원 산책 🌸 끝"
            .to_string();
        let mut data = sources();
        data.schedules[0].name = title.clone();
        let text = render_at(&data, date(2026, 3, 10));
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        for line in text.split("\r\n") {
            assert!(line.len() <= MAX_LINE_OCTETS, "{} octets: {line}", line.len());
            assert!(!line.ends_with(' ') || line.trim().is_empty(), "a folded piece ends in a space: {line:?}");
            assert!(!line.contains('\n') && !line.contains('\r'));
        }
        let folded = text
            .split("\r\n")
            .skip_while(|l| !l.starts_with("SUMMARY:우리"))
            .take_while(|l| l.starts_with("SUMMARY") || l.starts_with(' '))
            .count();
        assert!(folded >= 3, "the title spans several lines");
        let calendar = parse(&text);
        let event = events_with_uid(&calendar, &format!("schedule-{}@couple-platform", Uuid::from_u128(10)));
        assert_eq!(unescape(prop(&event[0].properties, "SUMMARY").unwrap()), title);
    }

    #[test]
    fn folding_counts_octets_and_keeps_characters_whole() {
        let fold = |line: &str| {
            let mut out = String::new();
            fold_into(&mut out, line);
            out
        };
        let exact = "X".repeat(75);
        assert_eq!(fold(&exact), format!("{exact}\r\n"));
        assert_eq!(fold(&"X".repeat(76)), format!("{exact}\r\n X\r\n"));
        // 26 three-byte syllables = 78 octets: the first line holds 25 (75 octets).
        let syllables = "가".repeat(26);
        assert_eq!(fold(&syllables), format!("{}\r\n 가\r\n", "가".repeat(25)));
        // A 4-byte character straddling octet 75 moves whole to the next line.
        let emoji = format!("{}🌸", "X".repeat(73));
        assert_eq!(fold(&emoji), format!("{}\r\n 🌸\r\n", "X".repeat(73)));
        // A space at the cut starts the next line instead of ending this one.
        let spaced = format!("{} {}", "X".repeat(74), "Y".repeat(5));
        assert_eq!(fold(&spaced), format!("{}\r\n  {}\r\n", "X".repeat(74), "Y".repeat(5)));
        // Continuation lines hold 74 octets after their space.
        let long = fold(&"Z".repeat(75 + 74 + 1));
        assert_eq!(long.split("\r\n").map(str::len).collect::<Vec<_>>(), vec![75, 75, 2, 0]);
    }

    #[test]
    fn text_escaping_covers_the_rfc_specials_and_drops_control_characters() {
        assert_eq!(escape_text("a,b;c\\d\ne\r\nf\rg"), "a\\,b\\;c\\\\d\\ne\\nf\\ng");
        assert_eq!(escape_text("bell\u{7}\ttab"), "bell\ttab");
        assert_eq!(escape_text("콜론: 그대로"), "콜론: 그대로");
    }

    #[test]
    fn the_window_is_a_year_back_and_two_ahead() {
        assert_eq!(window(date(2026, 3, 10)), (date(2025, 3, 10), date(2028, 3, 10)));
        assert_eq!(window(date(2024, 2, 29)), (date(2023, 2, 28), date(2026, 2, 28)));
    }

    #[test]
    fn a_couple_with_nothing_yet_gets_an_empty_but_valid_calendar() {
        let calendar = parse(&render_at(&Sources::default(), date(2026, 3, 10)));
        assert!(calendar.events.is_empty());
        assert_eq!(prop(&calendar.properties, "VERSION"), Some("2.0"));
    }
}
