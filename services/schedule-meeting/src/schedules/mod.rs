//! Schedules: a couple's dated events. Every read and write is scoped to the caller's couple, so
//! another couple's schedule is not found; list days are counted in the platform's time zone.

pub mod dto;
pub mod http;

use std::sync::Arc;

use couple_common::{PageQuery, clock::Clock};
use jiff::tz::TimeZone;
use uuid::Uuid;

use crate::{
    domain::{self, DateRange},
    error::{Error, Result},
    member::CoupleMember,
    store::{InstantRange, ScheduleKey, SchedulePatch, ScheduleRecord, Store},
};

use dto::{NewSchedule, Schedule};

/// The schedules of the service.
pub struct Schedules {
    store: Arc<dyn Store>,
    clock: Clock,
    zone: TimeZone,
}

impl Schedules {
    /// Schedules on `store`, timestamps from `clock`, days counted in `zone`.
    pub fn new(store: Arc<dyn Store>, clock: Clock, zone: TimeZone) -> Self {
        Self { store, clock, zone }
    }

    /// Adds a schedule to the caller's couple.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn create(&self, member: &CoupleMember, new: NewSchedule) -> Result<Schedule> {
        let now = self.clock.now();
        let record = ScheduleRecord {
            id: Uuid::now_v7(),
            couple_id: member.couple_id,
            name: new.name,
            message: new.message,
            date_time: new.date_time,
            created_by: member.user_id,
            created_at: now,
            updated_at: now,
        };
        self.store.create_schedule(&record).await?;
        Ok(record.into())
    }

    /// A page of the couple's schedules on the days of `range`, by time.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn list(&self, member: &CoupleMember, range: DateRange, page: &PageQuery) -> Result<(Vec<Schedule>, Option<String>)> {
        let (from, to) = domain::days_to_instants(range.from, range.to, &self.zone);
        let after: Option<ScheduleKey> = page.after()?;
        let found = self.store.schedules(member.couple_id, InstantRange { from, to }, after, page.fetch()).await?;
        let (found, next) = page.page(found, |s| (s.date_time, s.id));
        Ok((found.into_iter().map(Into::into).collect(), next))
    }

    /// One of the couple's schedules.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn get(&self, member: &CoupleMember, id: Uuid) -> Result<Schedule> {
        Ok(self.store.schedule(member.couple_id, id).await?.ok_or(Error::NotFound("schedule"))?.into())
    }

    /// Changes the fields `patch` gives.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn update(&self, member: &CoupleMember, id: Uuid, patch: SchedulePatch) -> Result<Schedule> {
        let updated = self.store.update_schedule(member.couple_id, id, &patch, self.clock.now()).await?;
        Ok(updated.ok_or(Error::NotFound("schedule"))?.into())
    }

    /// Deletes one of the couple's schedules.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn delete(&self, member: &CoupleMember, id: Uuid) -> Result<()> {
        if self.store.delete_schedule(member.couple_id, id).await? { Ok(()) } else { Err(Error::NotFound("schedule")) }
    }
}
