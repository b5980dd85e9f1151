//! The couple's calendar: the month view (`GET /api/schedules/calendar`) and the iCalendar feed
//! phones subscribe to (`/api/calendar/feeds`). Both are pure over [`days::Sources`]: schedules
//! and meetings from the store, the start date and birthdays from user-couple.

pub mod days;
pub mod ics;

pub use days::{MeetingEntry, Member, ScheduleEntry, Sources, YearMonth};
