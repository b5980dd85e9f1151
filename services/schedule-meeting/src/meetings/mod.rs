//! Meetings: a couple's planned dates, each an ordered course of catalogue places. Every read
//! and write is scoped to the caller's couple, so another couple's meeting is not found.

pub mod dto;
pub mod http;

use std::{collections::HashSet, sync::Arc};

use couple_common::{PageQuery, clock::Clock};
use uuid::Uuid;

use crate::{
    domain::DateRange,
    error::{Error, Result},
    member::CoupleMember,
    store::{MeetingKey, MeetingPatch, MeetingUpdate, NewMeeting, Store},
};

use dto::{Meeting, MeetingInput};

/// The meetings of the service.
pub struct Meetings {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl Meetings {
    /// Meetings on `store`, timestamps from `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// 422 naming the ids of `course` that are not in the catalogue. Places are never deleted,
    /// so a course checked here still exists when it is written.
    async fn check_places(&self, course: &[Uuid]) -> Result<()> {
        let wanted: Vec<Uuid> = course.iter().copied().collect::<HashSet<_>>().into_iter().collect();
        let found: HashSet<Uuid> = self.store.places_by_ids(&wanted).await?.into_iter().map(|p| p.id).collect();
        let unknown: Vec<String> = course.iter().filter(|id| !found.contains(id)).map(Uuid::to_string).collect();
        if unknown.is_empty() { Ok(()) } else { Err(Error::field("places", format!("no such places: {}", unknown.join(", ")))) }
    }

    /// Saves a planned date for the caller's couple.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn create(&self, member: &CoupleMember, input: MeetingInput) -> Result<Meeting> {
        self.check_places(&input.place_ids).await?;
        let meeting = NewMeeting {
            id: Uuid::now_v7(),
            couple_id: member.couple_id,
            name: input.name,
            date: input.date,
            start_time: input.start_time,
            end_time: input.end_time,
            keywords: input.keywords,
            place_ids: input.place_ids,
            created_by: member.user_id,
            now: self.clock.now(),
        };
        Ok(self.store.create_meeting(&meeting).await?.into())
    }

    /// A page of the couple's meetings on the days of `range`, by date and start time.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn list(&self, member: &CoupleMember, range: DateRange, page: &PageQuery) -> Result<(Vec<Meeting>, Option<String>)> {
        let after: Option<MeetingKey> = page.after()?;
        let found = self.store.meetings(member.couple_id, range.from, range.to, after, page.fetch()).await?;
        let (found, next) = page.page(found, |m| (m.date, m.start_time, m.id));
        Ok((found.into_iter().map(Into::into).collect(), next))
    }

    /// One of the couple's meetings.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn get(&self, member: &CoupleMember, id: Uuid) -> Result<Meeting> {
        Ok(self.store.meeting(member.couple_id, id).await?.ok_or(Error::NotFound("meeting"))?.into())
    }

    /// Changes the fields `patch` gives; a new course replaces the old one. The start must stay
    /// before the end, given or stored.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn update(&self, member: &CoupleMember, id: Uuid, patch: MeetingPatch) -> Result<Meeting> {
        if let Some(course) = &patch.place_ids {
            // A course naming unknown places is a 422 only for a meeting the caller may see.
            self.store.meeting(member.couple_id, id).await?.ok_or(Error::NotFound("meeting"))?;
            self.check_places(course).await?;
        }
        match self.store.update_meeting(member.couple_id, id, &patch, self.clock.now()).await? {
            MeetingUpdate::Updated(meeting) => Ok(meeting.into()),
            MeetingUpdate::NotFound => Err(Error::NotFound("meeting")),
            MeetingUpdate::TimesOutOfOrder => Err(Error::field("endTime", "must be after startTime")),
        }
    }

    /// Deletes one of the couple's meetings with its course.
    #[tracing::instrument(skip_all, fields(couple_id = %member.couple_id))]
    pub async fn delete(&self, member: &CoupleMember, id: Uuid) -> Result<()> {
        if self.store.delete_meeting(member.couple_id, id).await? { Ok(()) } else { Err(Error::NotFound("meeting")) }
    }
}
