//! The SQL both backends run, written to the common subset of PostgreSQL and SQLite (`$n`
//! parameters, `RETURNING`, `ON CONFLICT`, row values), so one macro implements [`Store`] for each
//! pool type; the few fragments the dialects cannot share are chosen with
//! `Self::BACKEND.pick(postgres, sqlite)`.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use uuid::Uuid;

use super::{
    FeedRecord, InstantRange, MeetingKey, MeetingPatch, MeetingRecord, MeetingStop, MeetingUpdate, NewMeeting, PlaceFilter, PlaceRecord,
    RatingKey, ScheduleKey, SchedulePatch, ScheduleRecord, Store, StoreError, StoreResult,
};
use crate::{
    domain::BoundingBox,
    places::{CataloguePlace, Category},
};

couple_common::sql_store! {
    /// The PostgreSQL backend, for production and scaled-out deployments.
    pub struct PgStore(postgres, "migrations/postgres");
    /// The SQLite backend, the embedded default for a single instance.
    pub struct SqliteStore(sqlite, "migrations/sqlite");
    /// Opens the store the URL names (`postgres://...` or `sqlite:...`).
    pub async fn connect -> dyn Store;
}

const PLACE_COLUMNS: &str =
    "p.id, p.slug, p.name, p.name_en, p.city, p.address, p.category, p.rating, p.latitude, p.longitude, p.indoor, p.keywords";
const SCHEDULE_COLUMNS: &str = "id, couple_id, name, message, date_time, created_by, created_at, updated_at";
const MEETING_COLUMNS: &str = "id, couple_id, name, date, start_time, end_time, keywords, created_by, created_at, updated_at";
const FEED_COLUMNS: &str = "id, couple_id, secret, created_by, created_at, revoked_at";
/// No limit, in a statement that takes one.
const ALL: usize = i64::MAX as usize;

#[derive(sqlx::FromRow)]
struct PlaceRow {
    id: Uuid,
    slug: String,
    name: String,
    name_en: String,
    city: String,
    address: String,
    category: String,
    rating: f64,
    latitude: f64,
    longitude: f64,
    indoor: bool,
    keywords: String,
}

impl TryFrom<PlaceRow> for PlaceRecord {
    type Error = StoreError;

    fn try_from(r: PlaceRow) -> StoreResult<Self> {
        let category = Category::parse(&r.category).ok_or_else(|| {
            StoreError::Other(sqlx::Error::Decode(format!("place {} has an unknown category {:?}", r.slug, r.category).into()))
        })?;
        Ok(Self {
            id: r.id,
            slug: r.slug,
            name: r.name,
            name_en: r.name_en,
            city: r.city,
            address: r.address,
            category,
            rating: r.rating,
            latitude: r.latitude,
            longitude: r.longitude,
            indoor: r.indoor,
            keywords: json_list(&r.keywords),
        })
    }
}

fn places(rows: Vec<PlaceRow>) -> StoreResult<Vec<PlaceRecord>> {
    rows.into_iter().map(PlaceRecord::try_from).collect()
}

#[derive(sqlx::FromRow)]
struct MeetingRow {
    id: Uuid,
    couple_id: Uuid,
    name: String,
    date: NaiveDate,
    start_time: NaiveTime,
    end_time: NaiveTime,
    keywords: String,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct StopRow {
    meeting_id: Uuid,
    sequence: i32,
    #[sqlx(flatten)]
    place: PlaceRow,
}

/// A stored JSON list of words; a broken one (never written by this code) reads as empty.
fn json_list(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_else(|err| {
        tracing::error!(%err, "a stored keyword list does not parse; reading it as empty");
        Vec::new()
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Lists of strings and maps of numbers always serialise.
    serde_json::to_string(value).unwrap_or_default()
}

/// `$from, $from+1, ...`: `n` placeholders for an `IN` list.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A `LIKE` pattern matching `text` anywhere in the lower-cased search column, with the
/// pattern's own characters taken literally (escaped with `\`).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The search column: both names, lower-cased.
fn search_text(place: &CataloguePlace) -> String {
    format!("{}\n{}", place.name, place.name_en).to_lowercase()
}

/// Joins meeting rows with their stops, keeping the rows' order.
fn assemble(rows: Vec<MeetingRow>, stops: Vec<StopRow>) -> StoreResult<Vec<MeetingRecord>> {
    let mut by_meeting: HashMap<Uuid, Vec<MeetingStop>> = HashMap::new();
    for stop in stops {
        let sequence = u32::try_from(stop.sequence).unwrap_or_default();
        by_meeting.entry(stop.meeting_id).or_default().push(MeetingStop { sequence, place: stop.place.try_into()? });
    }
    Ok(rows
        .into_iter()
        .map(|r| MeetingRecord {
            places: by_meeting.remove(&r.id).unwrap_or_default(),
            keywords: json_list(&r.keywords),
            id: r.id,
            couple_id: r.couple_id,
            name: r.name,
            date: r.date,
            start_time: r.start_time,
            end_time: r.end_time,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// The `WHERE` conditions of a place filter from parameter `$next` on; the values are bound in
/// the same order by `bind_filter!`.
fn filter_conditions(filter: &PlaceFilter, next: &mut usize) -> String {
    let mut sql = String::new();
    if filter.text.is_some() {
        sql += &format!(" AND p.search LIKE ${next} ESCAPE '\\'");
        *next += 1;
    }
    if filter.category.is_some() {
        sql += &format!(" AND p.category = ${next}");
        *next += 1;
    }
    sql
}

macro_rules! bind_filter {
    ($query:ident, $filter:expr) => {
        if let Some(text) = &$filter.text {
            $query = $query.bind(contains_pattern(text));
        }
        if let Some(category) = $filter.category {
            $query = $query.bind(category.as_str());
        }
    };
}

macro_rules! impl_store {
    ($store:ident, $db:ty) => {
        impl $store {
            /// `rows` with their stops.
            async fn with_stops<'c, E>(executor: E, rows: Vec<MeetingRow>) -> StoreResult<Vec<MeetingRecord>>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT mp.meeting_id, mp.sequence, {PLACE_COLUMNS} FROM meeting_places mp JOIN places p ON p.id = mp.place_id \
                     WHERE mp.meeting_id IN ({}) ORDER BY mp.meeting_id, mp.sequence",
                    placeholders(1, rows.len())
                );
                let mut query = sqlx::query_as::<_, StopRow>(&sql);
                for row in &rows {
                    query = query.bind(row.id);
                }
                let stops = query.fetch_all(executor).await?;
                assemble(rows, stops)
            }

            /// Writes a meeting's course, numbered from 1.
            async fn insert_stops(tx: &mut sqlx::Transaction<'static, $db>, meeting_id: Uuid, place_ids: &[Uuid]) -> StoreResult<()> {
                for (sequence, place_id) in (1i32..).zip(place_ids) {
                    sqlx::query("INSERT INTO meeting_places (meeting_id, sequence, place_id) VALUES ($1, $2, $3)")
                        .bind(meeting_id)
                        .bind(sequence)
                        .bind(place_id)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            /// A couple's meetings on `from..=to`, in list order, after `after`, at most `limit`.
            async fn meetings_page(
                &self,
                couple_id: Uuid,
                from: Option<NaiveDate>,
                to: Option<NaiveDate>,
                after: Option<MeetingKey>,
                limit: usize,
            ) -> StoreResult<Vec<MeetingRecord>> {
                let mut sql = format!("SELECT {MEETING_COLUMNS} FROM meetings WHERE couple_id = $1");
                let mut next = 2;
                if from.is_some() {
                    sql += &format!(" AND date >= ${next}");
                    next += 1;
                }
                if to.is_some() {
                    sql += &format!(" AND date <= ${next}");
                    next += 1;
                }
                if after.is_some() {
                    sql += &format!(" AND (date, start_time, id) > (${}, ${}, ${})", next, next + 1, next + 2);
                    next += 3;
                }
                sql += &format!(" ORDER BY date, start_time, id LIMIT ${next}");
                let mut query = sqlx::query_as::<_, MeetingRow>(&sql).bind(couple_id);
                if let Some(from) = from {
                    query = query.bind(from);
                }
                if let Some(to) = to {
                    query = query.bind(to);
                }
                if let Some((date, start, id)) = after {
                    query = query.bind(date).bind(start).bind(id);
                }
                let rows = query.bind(limit.min(ALL) as i64).fetch_all(&self.pool).await?;
                Self::with_stops(&self.pool, rows).await
            }

            /// A couple's schedules in `range`, in list order, after `after`, at most `limit`.
            async fn schedules_page(
                &self,
                couple_id: Uuid,
                range: InstantRange,
                after: Option<ScheduleKey>,
                limit: usize,
            ) -> StoreResult<Vec<ScheduleRecord>> {
                let mut sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE couple_id = $1");
                let mut next = 2;
                if range.from.is_some() {
                    sql += &format!(" AND date_time >= ${next}");
                    next += 1;
                }
                if range.to.is_some() {
                    sql += &format!(" AND date_time < ${next}");
                    next += 1;
                }
                if after.is_some() {
                    sql += &format!(" AND (date_time, id) > (${}, ${})", next, next + 1);
                    next += 2;
                }
                sql += &format!(" ORDER BY date_time, id LIMIT ${next}");
                let mut query = sqlx::query_as::<_, ScheduleRecord>(&sql).bind(couple_id);
                if let Some(from) = range.from {
                    query = query.bind(from);
                }
                if let Some(to) = range.to {
                    query = query.bind(to);
                }
                if let Some((at, id)) = after {
                    query = query.bind(at).bind(id);
                }
                Ok(query.bind(limit.min(ALL) as i64).fetch_all(&self.pool).await?)
            }
        }

        #[async_trait]
        impl Store for $store {
            #[tracing::instrument(name = "store.load_places", skip_all, fields(places = catalogue.len()))]
            async fn load_places(&self, catalogue: &[CataloguePlace]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                for place in catalogue {
                    sqlx::query(
                        "INSERT INTO places (id, slug, name, name_en, search, city, address, category, rating, latitude, longitude, indoor, \
                         keywords, profile) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                         ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, name = excluded.name, name_en = excluded.name_en, \
                         search = excluded.search, city = excluded.city, address = excluded.address, category = excluded.category, \
                         rating = excluded.rating, latitude = excluded.latitude, longitude = excluded.longitude, indoor = excluded.indoor, \
                         keywords = excluded.keywords, profile = excluded.profile",
                    )
                    .bind(place.id())
                    .bind(&place.slug)
                    .bind(&place.name)
                    .bind(&place.name_en)
                    .bind(search_text(place))
                    .bind(&place.city)
                    .bind(&place.address)
                    .bind(place.category.as_str())
                    .bind(place.rating)
                    .bind(place.latitude)
                    .bind(place.longitude)
                    .bind(place.indoor)
                    .bind(to_json(&place.keywords))
                    .bind(to_json(&place.profile))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.place", skip_all)]
            async fn place(&self, id: Uuid) -> StoreResult<Option<PlaceRecord>> {
                let sql = format!("SELECT {PLACE_COLUMNS} FROM places p WHERE p.id = $1");
                let row: Option<PlaceRow> = sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?;
                row.map(PlaceRecord::try_from).transpose()
            }

            #[tracing::instrument(name = "store.places_by_ids", skip_all)]
            async fn places_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<PlaceRecord>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!("SELECT {PLACE_COLUMNS} FROM places p WHERE p.id IN ({})", placeholders(1, ids.len()));
                let mut query = sqlx::query_as::<_, PlaceRow>(&sql);
                for id in ids {
                    query = query.bind(*id);
                }
                places(query.fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.search_places", skip_all)]
            async fn search_places(&self, filter: &PlaceFilter, after: Option<&RatingKey>, limit: usize) -> StoreResult<Vec<PlaceRecord>> {
                // Names compare by code point on both backends (SQLite's default), so pages follow
                // the same order everywhere.
                let name = Self::BACKEND.pick("p.name COLLATE \"C\"", "p.name");
                let mut next = 1;
                let mut sql = format!("SELECT {PLACE_COLUMNS} FROM places p WHERE 1 = 1{}", filter_conditions(filter, &mut next));
                if after.is_some() {
                    let (r, n, i) = (next, next + 1, next + 2);
                    sql += &format!(" AND (p.rating < ${r} OR (p.rating = ${r} AND ({name} > ${n} OR (p.name = ${n} AND p.id > ${i}))))");
                    next += 3;
                }
                sql += &format!(" ORDER BY p.rating DESC, {name}, p.id LIMIT ${next}");
                let mut query = sqlx::query_as::<_, PlaceRow>(&sql);
                bind_filter!(query, filter);
                if let Some(key) = after {
                    query = query.bind(key.rating).bind(&key.name).bind(key.id);
                }
                places(query.bind(limit.min(ALL) as i64).fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.places_within", skip_all)]
            async fn places_within(&self, filter: &PlaceFilter, area: &BoundingBox) -> StoreResult<Vec<PlaceRecord>> {
                let mut next = 3;
                let mut sql = format!("SELECT {PLACE_COLUMNS} FROM places p WHERE p.latitude BETWEEN $1 AND $2");
                if area.lon.is_some() {
                    sql += &format!(" AND p.longitude BETWEEN ${} AND ${}", next, next + 1);
                    next += 2;
                }
                sql += &filter_conditions(filter, &mut next);
                let mut query = sqlx::query_as::<_, PlaceRow>(&sql).bind(area.lat.0).bind(area.lat.1);
                if let Some((west, east)) = area.lon {
                    query = query.bind(west).bind(east);
                }
                bind_filter!(query, filter);
                places(query.fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.create_schedule", skip_all)]
            async fn create_schedule(&self, s: &ScheduleRecord) -> StoreResult<()> {
                sqlx::query(&format!("INSERT INTO schedules ({SCHEDULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                    .bind(s.id)
                    .bind(s.couple_id)
                    .bind(&s.name)
                    .bind(&s.message)
                    .bind(s.date_time)
                    .bind(s.created_by)
                    .bind(s.created_at)
                    .bind(s.updated_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.schedule", skip_all)]
            async fn schedule(&self, couple_id: Uuid, id: Uuid) -> StoreResult<Option<ScheduleRecord>> {
                let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE couple_id = $1 AND id = $2");
                Ok(sqlx::query_as(&sql).bind(couple_id).bind(id).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.schedules", skip_all)]
            async fn schedules(
                &self,
                couple_id: Uuid,
                range: InstantRange,
                after: Option<ScheduleKey>,
                limit: usize,
            ) -> StoreResult<Vec<ScheduleRecord>> {
                self.schedules_page(couple_id, range, after, limit).await
            }

            #[tracing::instrument(name = "store.schedules_between", skip_all)]
            async fn schedules_between(&self, couple_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<ScheduleRecord>> {
                self.schedules_page(couple_id, InstantRange { from: Some(from), to: Some(to) }, None, ALL).await
            }

            #[tracing::instrument(name = "store.update_schedule", skip_all)]
            async fn update_schedule(
                &self,
                couple_id: Uuid,
                id: Uuid,
                patch: &SchedulePatch,
                now: DateTime<Utc>,
            ) -> StoreResult<Option<ScheduleRecord>> {
                let sql = format!(
                    "UPDATE schedules SET name = COALESCE($3, name), message = COALESCE($4, message), \
                     date_time = COALESCE($5, date_time), updated_at = $6 WHERE couple_id = $1 AND id = $2 RETURNING {SCHEDULE_COLUMNS}"
                );
                Ok(sqlx::query_as(&sql)
                    .bind(couple_id)
                    .bind(id)
                    .bind(&patch.name)
                    .bind(&patch.message)
                    .bind(patch.date_time)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            #[tracing::instrument(name = "store.delete_schedule", skip_all)]
            async fn delete_schedule(&self, couple_id: Uuid, id: Uuid) -> StoreResult<bool> {
                let deleted =
                    sqlx::query("DELETE FROM schedules WHERE couple_id = $1 AND id = $2").bind(couple_id).bind(id).execute(&self.pool).await?;
                Ok(deleted.rows_affected() > 0)
            }

            #[tracing::instrument(name = "store.create_meeting", skip_all)]
            async fn create_meeting(&self, m: &NewMeeting) -> StoreResult<MeetingRecord> {
                let mut tx = self.pool.begin().await?;
                let sql = format!("INSERT INTO meetings ({MEETING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {MEETING_COLUMNS}");
                let row: MeetingRow = sqlx::query_as(&sql)
                    .bind(m.id)
                    .bind(m.couple_id)
                    .bind(&m.name)
                    .bind(m.date)
                    .bind(m.start_time)
                    .bind(m.end_time)
                    .bind(to_json(&m.keywords))
                    .bind(m.created_by)
                    .bind(m.now)
                    .fetch_one(&mut *tx)
                    .await?;
                Self::insert_stops(&mut tx, m.id, &m.place_ids).await?;
                let meeting = Self::with_stops(&mut *tx, vec![row]).await?.pop().ok_or(StoreError::Other(sqlx::Error::RowNotFound))?;
                tx.commit().await?;
                Ok(meeting)
            }

            #[tracing::instrument(name = "store.meeting", skip_all)]
            async fn meeting(&self, couple_id: Uuid, id: Uuid) -> StoreResult<Option<MeetingRecord>> {
                let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings WHERE couple_id = $1 AND id = $2");
                let rows: Vec<MeetingRow> = sqlx::query_as(&sql).bind(couple_id).bind(id).fetch_all(&self.pool).await?;
                Ok(Self::with_stops(&self.pool, rows).await?.pop())
            }

            #[tracing::instrument(name = "store.meetings", skip_all)]
            async fn meetings(
                &self,
                couple_id: Uuid,
                from: Option<NaiveDate>,
                to: Option<NaiveDate>,
                after: Option<MeetingKey>,
                limit: usize,
            ) -> StoreResult<Vec<MeetingRecord>> {
                self.meetings_page(couple_id, from, to, after, limit).await
            }

            #[tracing::instrument(name = "store.meetings_between", skip_all)]
            async fn meetings_between(&self, couple_id: Uuid, from: NaiveDate, to: NaiveDate) -> StoreResult<Vec<MeetingRecord>> {
                self.meetings_page(couple_id, Some(from), Some(to), None, ALL).await
            }

            #[tracing::instrument(name = "store.update_meeting", skip_all)]
            async fn update_meeting(&self, couple_id: Uuid, id: Uuid, patch: &MeetingPatch, now: DateTime<Utc>) -> StoreResult<MeetingUpdate> {
                let mut tx = self.pool.begin().await?;
                // The times are checked against the stored ones in the statement that writes them.
                let sql = format!(
                    "UPDATE meetings SET name = COALESCE($3, name), date = COALESCE($4, date), start_time = COALESCE($5, start_time), \
                     end_time = COALESCE($6, end_time), keywords = COALESCE($7, keywords), updated_at = $8 \
                     WHERE couple_id = $1 AND id = $2 AND COALESCE($5, start_time) < COALESCE($6, end_time) RETURNING {MEETING_COLUMNS}"
                );
                let row: Option<MeetingRow> = sqlx::query_as(&sql)
                    .bind(couple_id)
                    .bind(id)
                    .bind(&patch.name)
                    .bind(patch.date)
                    .bind(patch.start_time)
                    .bind(patch.end_time)
                    .bind(patch.keywords.as_ref().map(to_json))
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM meetings WHERE couple_id = $1 AND id = $2")
                        .bind(couple_id)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    return Ok(if exists.is_some() { MeetingUpdate::TimesOutOfOrder } else { MeetingUpdate::NotFound });
                };
                if let Some(place_ids) = &patch.place_ids {
                    sqlx::query("DELETE FROM meeting_places WHERE meeting_id = $1").bind(id).execute(&mut *tx).await?;
                    Self::insert_stops(&mut tx, id, place_ids).await?;
                }
                let meeting = Self::with_stops(&mut *tx, vec![row]).await?.pop().ok_or(StoreError::Other(sqlx::Error::RowNotFound))?;
                tx.commit().await?;
                Ok(MeetingUpdate::Updated(meeting))
            }

            #[tracing::instrument(name = "store.delete_meeting", skip_all)]
            async fn delete_meeting(&self, couple_id: Uuid, id: Uuid) -> StoreResult<bool> {
                let deleted =
                    sqlx::query("DELETE FROM meetings WHERE couple_id = $1 AND id = $2").bind(couple_id).bind(id).execute(&self.pool).await?;
                Ok(deleted.rows_affected() > 0)
            }

            #[tracing::instrument(name = "store.recent_meeting_place_ids", skip_all)]
            async fn recent_meeting_place_ids(&self, couple_id: Uuid, before: NaiveDate, meetings: usize) -> StoreResult<Vec<Uuid>> {
                let ids: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT mp.place_id FROM meeting_places mp JOIN \
                     (SELECT id, date, start_time FROM meetings WHERE couple_id = $1 AND date <= $2 \
                      ORDER BY date DESC, start_time DESC, id DESC LIMIT $3) m ON m.id = mp.meeting_id \
                     ORDER BY m.date DESC, m.start_time DESC, m.id DESC, mp.sequence",
                )
                .bind(couple_id)
                .bind(before)
                .bind(meetings.min(ALL) as i64)
                .fetch_all(&self.pool)
                .await?;
                let mut distinct = Vec::with_capacity(ids.len());
                for id in ids {
                    if !distinct.contains(&id) {
                        distinct.push(id);
                    }
                }
                Ok(distinct)
            }

            #[tracing::instrument(name = "store.create_feed", skip_all)]
            async fn create_feed(&self, f: &FeedRecord) -> StoreResult<()> {
                sqlx::query(&format!("INSERT INTO calendar_feeds ({FEED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                    .bind(f.id)
                    .bind(f.couple_id)
                    .bind(&f.secret)
                    .bind(f.created_by)
                    .bind(f.created_at)
                    .bind(f.revoked_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.active_feeds", skip_all)]
            async fn active_feeds(&self, couple_id: Uuid) -> StoreResult<Vec<FeedRecord>> {
                let sql = format!("SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE couple_id = $1 AND revoked_at IS NULL ORDER BY created_at, id");
                Ok(sqlx::query_as(&sql).bind(couple_id).fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.revoke_feed", skip_all)]
            async fn revoke_feed(&self, couple_id: Uuid, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
                let revoked = sqlx::query("UPDATE calendar_feeds SET revoked_at = $3 WHERE couple_id = $1 AND id = $2 AND revoked_at IS NULL")
                    .bind(couple_id)
                    .bind(id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(revoked.rows_affected() > 0)
            }

            #[tracing::instrument(name = "store.feed_by_secret", skip_all)]
            async fn feed_by_secret(&self, secret: &str) -> StoreResult<Option<FeedRecord>> {
                let sql = format!("SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE secret = $1 AND revoked_at IS NULL");
                Ok(sqlx::query_as(&sql).bind(secret).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.revoke_feeds_created_by", skip_all)]
            async fn revoke_feeds_created_by(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<u64> {
                let revoked = sqlx::query("UPDATE calendar_feeds SET revoked_at = $2 WHERE created_by = $1 AND revoked_at IS NULL")
                    .bind(user_id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(revoked.rows_affected())
            }

            #[tracing::instrument(name = "store.erase_user", skip_all)]
            async fn erase_user(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
                self.revoke_feeds_created_by(user_id, now).await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.erase_couple", skip_all)]
            async fn erase_couple(&self, couple_id: Uuid) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                // Meetings take their courses with them (ON DELETE CASCADE).
                for table in ["meetings", "schedules", "calendar_feeds"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE couple_id = $1")).bind(couple_id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

impl_store!(PgStore, sqlx::Postgres);
impl_store!(SqliteStore, sqlx::Sqlite);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(contains_pattern("Tower"), "%tower%");
        assert_eq!(contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
        assert_eq!(contains_pattern("타워"), "%타워%");
    }
}
