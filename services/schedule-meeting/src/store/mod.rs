//! Persistence behind one trait, with a PostgreSQL and a SQLite backend chosen by the database
//! URL. Everything a couple owns is read and written with its couple id, so another couple's
//! objects are simply not found.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
pub use couple_common::db::{Database, StoreError, StoreResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    domain::BoundingBox,
    places::{CataloguePlace, Category},
};

mod sql;

pub use sql::{PgStore, SqliteStore, connect};

/// A catalogue place as stored (its trait profile stays in the in-memory catalogue).
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceRecord {
    /// UUID v5 of the slug.
    pub id: Uuid,
    /// Stable key.
    pub slug: String,
    /// Korean name.
    pub name: String,
    /// Latin name.
    pub name_en: String,
    /// City.
    pub city: String,
    /// Street address.
    pub address: String,
    /// Kind of venue.
    pub category: Category,
    /// 0..=5.
    pub rating: f64,
    /// WGS 84 latitude.
    pub latitude: f64,
    /// WGS 84 longitude.
    pub longitude: f64,
    /// Under a roof.
    pub indoor: bool,
    /// Theme words.
    pub keywords: Vec<String>,
}

/// What a place search keeps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaceFilter {
    /// Part of the Korean or Latin name, any case; matched literally (`%` and `_` too).
    pub text: Option<String>,
    /// One category.
    pub category: Option<Category>,
}

/// Where a page of places by rating ended: the next page starts after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingKey {
    /// The last place's rating.
    pub rating: f64,
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: Uuid,
}

impl From<&PlaceRecord> for RatingKey {
    fn from(p: &PlaceRecord) -> Self {
        Self { rating: p.rating, name: p.name.clone(), id: p.id }
    }
}

/// A schedule.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ScheduleRecord {
    /// Id (v7).
    pub id: Uuid,
    /// The couple it belongs to.
    pub couple_id: Uuid,
    /// Title.
    pub name: String,
    /// Free text, possibly empty.
    pub message: String,
    /// When it happens.
    pub date_time: DateTime<Utc>,
    /// The partner who made it.
    pub created_by: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The fields a schedule update changes; `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulePatch {
    /// New title.
    pub name: Option<String>,
    /// New text.
    pub message: Option<String>,
    /// New instant.
    pub date_time: Option<DateTime<Utc>>,
}

/// Which schedules a list holds: the instants `from..to` (half-open), each end if given.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InstantRange {
    /// First instant kept.
    pub from: Option<DateTime<Utc>>,
    /// First instant no longer kept.
    pub to: Option<DateTime<Utc>>,
}

/// Where a page of schedules ended.
pub type ScheduleKey = (DateTime<Utc>, Uuid);

/// One stop of a meeting's course.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingStop {
    /// Position in the course, from 1.
    pub sequence: u32,
    /// The place.
    pub place: PlaceRecord,
}

/// A meeting (a planned date) with its course.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingRecord {
    /// Id (v7).
    pub id: Uuid,
    /// The couple it belongs to.
    pub couple_id: Uuid,
    /// Title.
    pub name: String,
    /// The day.
    pub date: NaiveDate,
    /// Start, local time of day.
    pub start_time: NaiveTime,
    /// End, after the start.
    pub end_time: NaiveTime,
    /// Theme words.
    pub keywords: Vec<String>,
    /// The places, in visiting order.
    pub places: Vec<MeetingStop>,
    /// The partner who made it.
    pub created_by: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A meeting to store; its places must exist.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMeeting {
    /// Id (v7).
    pub id: Uuid,
    /// The couple.
    pub couple_id: Uuid,
    /// Title.
    pub name: String,
    /// The day.
    pub date: NaiveDate,
    /// Start.
    pub start_time: NaiveTime,
    /// End, after the start.
    pub end_time: NaiveTime,
    /// Theme words.
    pub keywords: Vec<String>,
    /// Place ids in visiting order.
    pub place_ids: Vec<Uuid>,
    /// The partner making it.
    pub created_by: Uuid,
    /// Creation time.
    pub now: DateTime<Utc>,
}

/// The fields a meeting update changes; `None` keeps the stored value, and a new course
/// replaces the old one whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeetingPatch {
    /// New title.
    pub name: Option<String>,
    /// New day.
    pub date: Option<NaiveDate>,
    /// New start.
    pub start_time: Option<NaiveTime>,
    /// New end.
    pub end_time: Option<NaiveTime>,
    /// New theme words.
    pub keywords: Option<Vec<String>>,
    /// New course (place ids that exist).
    pub place_ids: Option<Vec<Uuid>>,
}

/// What a meeting update did.
#[derive(Debug, Clone, PartialEq)]
pub enum MeetingUpdate {
    /// Changed; the meeting as it is now.
    Updated(MeetingRecord),
    /// No such meeting in the couple.
    NotFound,
    /// Nothing changed: the start would not be before the end (checked against the stored
    /// times in the same statement, so two updates at once cannot break the rule).
    TimesOutOfOrder,
}

/// Where a page of meetings ended.
pub type MeetingKey = (NaiveDate, NaiveTime, Uuid);

/// A secret calendar feed URL of a couple.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FeedRecord {
    /// Id (v7).
    pub id: Uuid,
    /// The couple whose calendar it serves.
    pub couple_id: Uuid,
    /// The credential in the URL.
    pub secret: String,
    /// The partner who made it.
    pub created_by: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it stopped working, if it did.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Everything the service keeps (migrations and ping come with [`Database`]).
#[async_trait]
pub trait Store: Database {
    /// Inserts or updates the catalogue's places by id, in one transaction; places missing from
    /// `places` are kept (meetings name them).
    async fn load_places(&self, places: &[CataloguePlace]) -> StoreResult<()>;
    /// A place.
    async fn place(&self, id: Uuid) -> StoreResult<Option<PlaceRecord>>;
    /// The places of `ids` that exist, in no particular order.
    async fn places_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<PlaceRecord>>;
    /// Places matching `filter`, best rated first (then by name in code-point order, then id),
    /// after `after`, at most `limit`.
    async fn search_places(&self, filter: &PlaceFilter, after: Option<&RatingKey>, limit: usize) -> StoreResult<Vec<PlaceRecord>>;
    /// Every place matching `filter` inside `area`, in no particular order.
    async fn places_within(&self, filter: &PlaceFilter, area: &BoundingBox) -> StoreResult<Vec<PlaceRecord>>;

    /// Stores a new schedule.
    async fn create_schedule(&self, schedule: &ScheduleRecord) -> StoreResult<()>;
    /// A couple's schedule.
    async fn schedule(&self, couple_id: Uuid, id: Uuid) -> StoreResult<Option<ScheduleRecord>>;
    /// A couple's schedules in `range` by instant then id, after `after`, at most `limit`.
    async fn schedules(
        &self,
        couple_id: Uuid,
        range: InstantRange,
        after: Option<ScheduleKey>,
        limit: usize,
    ) -> StoreResult<Vec<ScheduleRecord>>;
    /// All of a couple's schedules at `from..to` (half-open), by instant then id: a month calendar.
    async fn schedules_between(&self, couple_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<ScheduleRecord>>;
    /// Changes the fields `patch` gives; the schedule as it is now, `None` when the couple has no such schedule.
    async fn update_schedule(
        &self,
        couple_id: Uuid,
        id: Uuid,
        patch: &SchedulePatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ScheduleRecord>>;
    /// Deletes a couple's schedule; whether there was one.
    async fn delete_schedule(&self, couple_id: Uuid, id: Uuid) -> StoreResult<bool>;

    /// Stores a new meeting with its course; the meeting as read back.
    async fn create_meeting(&self, meeting: &NewMeeting) -> StoreResult<MeetingRecord>;
    /// A couple's meeting.
    async fn meeting(&self, couple_id: Uuid, id: Uuid) -> StoreResult<Option<MeetingRecord>>;
    /// A couple's meetings on the days `from..=to` (each end if given) by date, start time and
    /// id, after `after`, at most `limit`.
    async fn meetings(
        &self,
        couple_id: Uuid,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        after: Option<MeetingKey>,
        limit: usize,
    ) -> StoreResult<Vec<MeetingRecord>>;
    /// All of a couple's meetings on the days `from..=to`, in list order: a month calendar.
    async fn meetings_between(&self, couple_id: Uuid, from: NaiveDate, to: NaiveDate) -> StoreResult<Vec<MeetingRecord>>;
    /// Changes the fields `patch` gives, in one transaction.
    async fn update_meeting(&self, couple_id: Uuid, id: Uuid, patch: &MeetingPatch, now: DateTime<Utc>) -> StoreResult<MeetingUpdate>;
    /// Deletes a couple's meeting and its course; whether there was one.
    async fn delete_meeting(&self, couple_id: Uuid, id: Uuid) -> StoreResult<bool>;
    /// The distinct places of the couple's last `meetings` meetings dated on or before `before`
    /// (latest first): what a recommendation should not propose again.
    async fn recent_meeting_place_ids(&self, couple_id: Uuid, before: NaiveDate, meetings: usize) -> StoreResult<Vec<Uuid>>;

    /// Stores a new feed; [`StoreError::Conflict`] if the secret is taken.
    async fn create_feed(&self, feed: &FeedRecord) -> StoreResult<()>;
    /// A couple's feeds that are not revoked, oldest first.
    async fn active_feeds(&self, couple_id: Uuid) -> StoreResult<Vec<FeedRecord>>;
    /// Revokes a couple's feed; whether there was an active one.
    async fn revoke_feed(&self, couple_id: Uuid, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool>;
    /// The active feed with this secret.
    async fn feed_by_secret(&self, secret: &str) -> StoreResult<Option<FeedRecord>>;
    /// Revokes every active feed `user_id` created; how many.
    async fn revoke_feeds_created_by(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Erases what belongs to a deleted account alone: the feeds they created stop working
    /// (schedules and meetings belong to the couple and stay). Idempotent.
    async fn erase_user(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;
    /// Deletes everything of a couple: schedules, meetings with their courses, feeds. Idempotent.
    async fn erase_couple(&self, couple_id: Uuid) -> StoreResult<()>;
}
