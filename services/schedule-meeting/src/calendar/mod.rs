//! The couple's calendar: the month view (`GET /api/schedules/calendar`) and the secret
//! iCalendar feeds phones subscribe to (`/api/calendar/feeds`). Both are pure functions over
//! [`days::Sources`]: schedules and meetings from the store, the start date and both birthdays
//! from user-couple (cached briefly by [`UserCouple`]).
//!
//! A feed's secret is its only credential: it is made of 32 random bytes, never logged (the
//! access log masks it, and nothing here records it), and a revoked or unknown one is a 404.

pub mod days;
pub mod dto;
pub mod http;
pub mod ics;

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use couple_common::{
    clock::Clock,
    peers::{CoupleInfo, PeerError, UserCouple},
};
use jiff::tz::TimeZone;
use rand::RngCore;
use uuid::Uuid;

pub use days::{MeetingEntry, Member, ScheduleEntry, Sources, YearMonth};

use crate::{
    domain,
    error::{Error, Result},
    member::CoupleMember,
    store::{FeedRecord, MeetingRecord, ScheduleRecord, Store},
};
use dto::{CalendarFeed, Missing, MonthCalendar};

/// How many active feeds a couple may have: one per device is plenty, and a bound keeps a
/// leaked-then-recreated habit from piling up live credentials.
pub const MAX_FEEDS: usize = 5;

/// Random bytes in a feed secret.
const SECRET_BYTES: usize = 32;

/// The calendar of the service.
pub struct Calendar {
    store: Arc<dyn Store>,
    user_couple: UserCouple,
    clock: Clock,
    zone: TimeZone,
    /// `{public base URL}/api/calendar/feeds/`: a feed's URL is this, its secret and `.ics`.
    feed_base: String,
}

impl Calendar {
    /// The calendar over `store` and user-couple, days in `zone`, feed URLs under
    /// `public_base_url` (the gateway's public address).
    pub fn new(store: Arc<dyn Store>, user_couple: UserCouple, clock: Clock, zone: TimeZone, public_base_url: &str) -> Self {
        let feed_base = format!("{}/api/calendar/feeds/", public_base_url.trim_end_matches('/'));
        Self { store, user_couple, clock, zone, feed_base }
    }

    /// The month view of the caller's couple. With user-couple unreachable it still answers,
    /// with schedules and meetings only and `partial` set; a couple user-couple does not know
    /// (any more), or one without the caller, is `NoCouple`, as everywhere.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn month(&self, member: &CoupleMember, month: YearMonth) -> Result<MonthCalendar> {
        let (from, to) = month.bounds(&self.zone);
        let (schedules, meetings, couple) = tokio::join!(
            self.store.schedules_between(member.couple_id, from, to),
            self.store.meetings_between(member.couple_id, month.first_day(), month.last_day()),
            self.user_couple.couple(member.couple_id),
        );
        let mut sources = Sources {
            schedules: schedules?.iter().map(ScheduleEntry::from).collect(),
            meetings: meetings?.iter().map(MeetingEntry::from).collect(),
            ..Sources::default()
        };
        let missing = match couple {
            Ok(info) if info.active && info.members.iter().any(|m| m.user_id == member.user_id) => {
                add_couple(&mut sources, &info);
                Vec::new()
            }
            Ok(_) | Err(PeerError::NotFound(_)) => return Err(Error::NoCouple),
            Err(err @ PeerError::Unavailable { .. }) => {
                tracing::warn!(%err, "the month calendar goes without birthdays and anniversaries");
                vec![Missing::Birthdays, Missing::Anniversaries]
            }
        };
        let days = days::month_view(month, &sources, &self.zone);
        Ok(MonthCalendar { year: month.year(), month: month.month(), days, partial: !missing.is_empty(), missing })
    }

    /// The couple's active feeds, oldest first.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn feeds(&self, member: &CoupleMember) -> Result<Vec<CalendarFeed>> {
        Ok(self.store.active_feeds(member.couple_id).await?.into_iter().map(|f| self.feed(f)).collect())
    }

    /// A new feed for the couple, unless it has [`MAX_FEEDS`] active ones already (checked
    /// before the insert, so two creations at the same instant could pass it by one).
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn create_feed(&self, member: &CoupleMember) -> Result<CalendarFeed> {
        if self.store.active_feeds(member.couple_id).await?.len() >= MAX_FEEDS {
            return Err(Error::FeedLimit(MAX_FEEDS));
        }
        let record = FeedRecord {
            id: Uuid::now_v7(),
            couple_id: member.couple_id,
            secret: new_secret(),
            created_by: member.user_id,
            created_at: self.clock.now(),
            revoked_at: None,
        };
        self.store.create_feed(&record).await?;
        Ok(self.feed(record))
    }

    /// Revokes one of the couple's feeds: its URL stops working at once.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id, feed_id = %id))]
    pub async fn revoke_feed(&self, member: &CoupleMember, id: Uuid) -> Result<()> {
        if self.store.revoke_feed(member.couple_id, id, self.clock.now()).await? { Ok(()) } else { Err(Error::NotFound("calendar feed")) }
    }

    /// The iCalendar file of the feed with `secret`, over [`ics::window`] around today. Unlike
    /// the month view it does not degrade: with user-couple down it answers 503, so that
    /// subscribed calendars keep their last copy instead of dropping every birthday and
    /// anniversary until the next refresh. A couple that has ended serves no feed (404).
    #[tracing::instrument(skip_all, fields(couple_id = tracing::field::Empty))]
    pub async fn ics(&self, secret: &str) -> Result<String> {
        let unknown = || Error::NotFound("calendar feed");
        // Anything that is not shaped like a secret this service makes is not looked up.
        if secret.len() != URL_SAFE_NO_PAD.encode([0; SECRET_BYTES]).len() || URL_SAFE_NO_PAD.decode(secret).is_err() {
            return Err(unknown());
        }
        let feed = self.store.feed_by_secret(secret).await?.ok_or_else(unknown)?;
        let couple_id = feed.couple_id;
        tracing::Span::current().record("couple_id", tracing::field::display(couple_id));
        let (from, to) = ics::window(self.clock.today(&self.zone));
        let end = to.succ_opt().map_or(chrono::DateTime::<chrono::Utc>::MAX_UTC, |next| domain::day_start(next, &self.zone));
        let (schedules, meetings, couple) = tokio::join!(
            self.store.schedules_between(couple_id, domain::day_start(from, &self.zone), end),
            self.store.meetings_between(couple_id, from, to),
            self.user_couple.couple(couple_id),
        );
        let info = match couple {
            Ok(info) if info.active => info,
            Ok(_) | Err(PeerError::NotFound(_)) => return Err(unknown()),
            Err(err) => return Err(err.into()),
        };
        let mut sources = Sources {
            schedules: schedules?.iter().map(ScheduleEntry::from).collect(),
            meetings: meetings?.iter().map(MeetingEntry::from).collect(),
            ..Sources::default()
        };
        add_couple(&mut sources, &info);
        let name = if info.name.trim().is_empty() { "커플 캘린더" } else { info.name.as_str() };
        let feed = ics::Feed { couple_id, name, zone: &self.zone, from, to, generated_at: self.clock.now() };
        Ok(ics::render(&sources, &feed))
    }

    fn feed(&self, record: FeedRecord) -> CalendarFeed {
        CalendarFeed {
            id: record.id,
            url: format!("{}{}.ics", self.feed_base, record.secret),
            created_by: record.created_by,
            created_at: record.created_at,
        }
    }
}

/// A feed secret: 32 bytes from the operating system's generator, base64url without padding
/// (43 characters, safe in a URL path).
fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The start date and the members' birthdays.
fn add_couple(sources: &mut Sources, info: &CoupleInfo) {
    sources.start_date = Some(info.start_date);
    sources.members = info.members.iter().map(|m| Member { user_id: m.user_id, name: m.name.clone(), birth: Some(m.birth) }).collect();
}

impl From<&ScheduleRecord> for ScheduleEntry {
    fn from(s: &ScheduleRecord) -> Self {
        Self {
            id: s.id,
            name: s.name.clone(),
            message: Some(s.message.clone()).filter(|m| !m.is_empty()),
            date_time: s.date_time,
            updated_at: s.updated_at,
        }
    }
}

impl From<&MeetingRecord> for MeetingEntry {
    fn from(m: &MeetingRecord) -> Self {
        let mut stops: Vec<_> = m.places.iter().collect();
        stops.sort_by_key(|stop| stop.sequence);
        Self {
            id: m.id,
            name: m.name.clone(),
            date: m.date,
            start_time: m.start_time,
            end_time: m.end_time,
            places: stops
                .into_iter()
                .map(|stop| days::CoursePlace {
                    name: stop.place.name.clone(),
                    address: stop.place.address.clone(),
                    location: domain::LatLon { lat: stop.place.latitude, lon: stop.place.longitude },
                })
                .collect(),
            keywords: m.keywords.clone(),
            updated_at: m.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_43_url_safe_characters_and_never_repeat() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{a}");
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), SECRET_BYTES);
        assert_ne!(a, b);
    }
}
