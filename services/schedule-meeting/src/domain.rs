//! Values that parse: a point on the map and the weather of a day.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A point on the map (WGS 84 degrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LatLon {
    /// Latitude, -90..=90.
    pub lat: f64,
    /// Longitude, -180..=180.
    pub lon: f64,
}

impl LatLon {
    /// Mean Earth radius for the haversine distance, in km.
    const EARTH_RADIUS_KM: f64 = 6371.0088;

    /// A point, if both coordinates are finite and in range.
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        let valid = lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        valid.then_some(Self { lat, lon })
    }

    /// Parses the `near` query form `lat,lon` (`37.5665,126.978`).
    pub fn parse(text: &str) -> Option<Self> {
        let (lat, lon) = text.split_once(',')?;
        Self::new(lat.trim().parse().ok()?, lon.trim().parse().ok()?)
    }

    /// Great-circle distance in km (haversine).
    pub fn distance_km(self, other: LatLon) -> f64 {
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let (dphi, dlambda) = ((other.lat - self.lat).to_radians(), (other.lon - self.lon).to_radians());
        let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        2.0 * Self::EARTH_RADIUS_KM * a.sqrt().asin()
    }
}

/// The weather of one day, folded from the forecast (api.md: priority snow > rain > overcast >
/// some cloud > clear). Serialised as the Korean words the original used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub enum Weather {
    /// 맑음.
    #[serde(rename = "맑음")]
    Clear,
    /// 구름 조금.
    #[serde(rename = "구름 조금")]
    SomeCloud,
    /// 흐림.
    #[serde(rename = "흐림")]
    Overcast,
    /// 비.
    #[serde(rename = "비")]
    Rain,
    /// 눈.
    #[serde(rename = "눈")]
    Snow,
}

impl Weather {
    /// Rain or snow: recommendations prefer indoor places.
    pub fn is_wet(self) -> bool {
        matches!(self, Weather::Rain | Weather::Snow)
    }

    /// The Korean word, as serialised.
    pub fn label(self) -> &'static str {
        match self {
            Weather::Clear => "맑음",
            Weather::SomeCloud => "구름 조금",
            Weather::Overcast => "흐림",
            Weather::Rain => "비",
            Weather::Snow => "눈",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_and_measure() {
        let city_hall = LatLon::parse("37.5665, 126.9780").unwrap();
        let busan = LatLon::parse("35.1798,129.0750").unwrap();
        let km = city_hall.distance_km(busan);
        assert!((320.0..330.0).contains(&km), "{km}");
        assert_eq!(LatLon::parse("91,0"), None);
        assert_eq!(LatLon::parse("37.5"), None);
        assert_eq!(LatLon::parse("NaN,1"), None);
    }

    #[test]
    fn weather_orders_by_priority_and_serialises_in_korean() {
        assert!(Weather::Snow > Weather::Rain && Weather::Rain > Weather::Overcast && Weather::SomeCloud > Weather::Clear);
        assert_eq!(serde_json::to_value(Weather::SomeCloud).unwrap(), "구름 조금");
        assert!(Weather::Snow.is_wet() && !Weather::Overcast.is_wet());
    }
}
