//! `GET /api/meetings/weather-cards`.

use std::sync::Arc;

use axum::{Router, extract::State, routing::get};
use couple_common::{ApiResponse, Query};

use super::{
    Forecasts,
    dto::{WeatherCard, WeatherQuery},
};
use crate::{AppState, domain::LatLon, error::Result, member::CoupleMember};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/meetings/weather-cards", get(weather_cards))
}

/// The weather of today and the next four days at a point, from the KMA forecasts.
#[utoipa::path(get, path = "/api/meetings/weather-cards", tag = "meetings", security(("bearer" = [])), params(WeatherQuery),
    responses((status = 200, body = ApiResponse<Vec<WeatherCard>>, description = "five cards, today first; a day no forecast covers has `weather: null`"),
        (status = 400, description = "`lat` or `lon` is missing or not a number"),
        (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 422, description = "`lat` or `lon` is out of range, or the point is outside the KMA forecast grid"),
        (status = 503, description = "`WEATHER_UNAVAILABLE`: no KMA key is configured, or KMA failed (timeout, error answer, rejected key, open circuit)")))]
pub async fn weather_cards(
    State(forecasts): State<Arc<Forecasts>>,
    _member: CoupleMember,
    Query(query): Query<WeatherQuery>,
) -> Result<ApiResponse<Vec<WeatherCard>>> {
    let at = LatLon::try_from(query)?;
    let cards = forecasts.cards(at, forecasts.today()).await?;
    Ok(ApiResponse::ok(cards.into_iter().map(WeatherCard::from).collect()))
}
