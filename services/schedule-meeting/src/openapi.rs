//! The service's OpenAPI document, served at `/openapi.json` (with the shared error bodies,
//! bearer scheme and standard responses added by `server::app`) and merged by the gateway.

use utoipa::OpenApi;

use crate::{
    calendar::http as calendar, internal, meetings::http as meetings, places::http as places, recommend::http as recommend,
    schedules::http as schedules, weather::http as weather,
};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Schedule-Meeting service", description = "The couple's calendar: schedules, planned dates with places, recommendations, weather and calendar feeds."),
    paths(
        schedules::create, schedules::list, schedules::schedule, schedules::update, schedules::delete,
        meetings::create, meetings::list, meetings::meeting, meetings::update, meetings::delete,
        places::search, places::place,
        weather::weather_cards,
        calendar::month, calendar::feeds, calendar::create_feed, calendar::revoke_feed, calendar::ics,
        recommend::recommend,
        internal::erase_user, internal::erase_couple,
    ),
    tags((name = "schedules", description = "Schedules and the month calendar"), (name = "meetings", description = "Planned dates, recommendations and weather"),
        (name = "places", description = "The places catalogue"), (name = "calendar", description = "Calendar feeds (iCalendar)"),
        (name = "internal", description = "Service-to-service; never routed by the gateway")),
)]
pub struct ApiDoc;
