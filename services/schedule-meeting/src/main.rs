//! `schedule-meeting [serve|migrate]`: configuration comes from `SCHEDULE_MEETING_*` and `COUPLE_*`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    couple_common::kit::main::<schedule_meeting::ScheduleMeeting>().await
}
