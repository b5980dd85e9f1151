//! The query and body of `GET /api/meetings/weather-cards`.

use chrono::NaiveDate;
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{LatLon, Weather};

/// `?lat=&lon=`: where the weather is wanted.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WeatherQuery {
    /// Latitude, -90..=90 (WGS 84 degrees).
    #[param(minimum = -90.0, maximum = 90.0)]
    pub lat: f64,
    /// Longitude, -180..=180.
    #[param(minimum = -180.0, maximum = 180.0)]
    pub lon: f64,
}

impl TryFrom<WeatherQuery> for LatLon {
    type Error = FieldErrors;

    fn try_from(query: WeatherQuery) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        if !(query.lat.is_finite() && (-90.0..=90.0).contains(&query.lat)) {
            f.record("lat", "must be between -90 and 90");
        }
        if !(query.lon.is_finite() && (-180.0..=180.0).contains(&query.lon)) {
            f.record("lon", "must be between -180 and 180");
        }
        f.finish(|| LatLon::new(query.lat, query.lon))
    }
}

/// One day's card.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WeatherCard {
    /// The day (the platform's calendar).
    pub date: NaiveDate,
    /// The day's weather: the highest of snow > rain > overcast > some cloud > clear over its
    /// hours; `null` when neither the village nor the mid-term forecast covers the day (the
    /// mid-term forecast is not out yet or failed).
    pub weather: Option<Weather>,
}

impl From<(NaiveDate, Option<Weather>)> for WeatherCard {
    fn from((date, weather): (NaiveDate, Option<Weather>)) -> Self {
        Self { date, weather }
    }
}
