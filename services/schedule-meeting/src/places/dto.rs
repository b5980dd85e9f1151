//! The query and body of `/api/places*`.

use couple_common::{ApiError, error::codes, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Category, PlaceSearch};
use crate::{
    domain::LatLon,
    error::Result,
    store::{PlaceFilter, PlaceRecord},
};

/// Longest name search, in characters.
pub const MAX_QUERY_CHARS: usize = 100;
/// The search radius when `near` comes alone, in km.
pub const DEFAULT_RADIUS_KM: f64 = 5.0;
/// The largest search radius, in km.
pub const MAX_RADIUS_KM: f64 = 50.0;

/// `GET /api/places` filters (paging comes separately).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacesQuery {
    /// Part of the Korean or Latin name, any case.
    pub q: Option<String>,
    /// One category.
    pub category: Option<String>,
    /// `lat,lon`.
    pub near: Option<String>,
    /// Radius around `near`, in km.
    pub radius_km: Option<f64>,
}

impl PlacesQuery {
    /// The search: 400 when `near` is not two numbers, 422 naming every value out of range.
    pub fn parse(self) -> Result<PlaceSearch> {
        let near = match self.near.as_deref() {
            None => None,
            Some(raw) => Some(parse_point(raw).ok_or_else(|| {
                ApiError::new(axum::http::StatusCode::BAD_REQUEST, codes::INVALID_QUERY, "near must be two numbers: lat,lon")
            })?),
        };
        let mut f = Fields::default();
        let text = self.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
        if text.as_ref().is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
            f.record("q", format!("must be at most {MAX_QUERY_CHARS} characters"));
        } else if text.as_ref().is_some_and(|q| q.chars().any(char::is_control)) {
            f.record("q", "must not contain control characters");
        }
        let category = f.optional("category", self.category, |c| {
            Category::parse(c).ok_or_else(|| {
                let all: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                format!("must be one of {}", all.join(", "))
            })
        });
        let centre = near.and_then(|(lat, lon)| {
            f.check("near", LatLon::new(lat, lon).ok_or("must be a latitude in -90..=90 and a longitude in -180..=180"))
        });
        let radius = match (near, self.radius_km) {
            (None, Some(_)) => {
                f.record("radiusKm", "needs near");
                None
            }
            (_, Some(r)) if !(r > 0.0 && r <= MAX_RADIUS_KM) => {
                f.record("radiusKm", format!("must be more than 0 and at most {MAX_RADIUS_KM}"));
                None
            }
            (_, r) => Some(r.unwrap_or(DEFAULT_RADIUS_KM)),
        };
        Ok(f.finish(|| Some(PlaceSearch { filter: PlaceFilter { text, category }, near: centre.zip(radius) }))?)
    }
}

/// `lat,lon` as two numbers, in range or not.
fn parse_point(raw: &str) -> Option<(f64, f64)> {
    let (lat, lon) = raw.split_once(',')?;
    Some((lat.trim().parse().ok()?, lon.trim().parse().ok()?))
}

/// A place of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Place {
    /// Place id (stable across installs).
    pub id: Uuid,
    /// Korean name.
    #[schema(example = "N서울타워")]
    pub name: String,
    /// Latin name.
    #[schema(example = "N Seoul Tower")]
    pub name_en: String,
    /// Street address.
    pub address: String,
    /// `Seoul`, `Busan` or `Jeju`.
    pub city: String,
    /// Kind of venue.
    pub category: Category,
    /// 0 to 5.
    pub rating: f64,
    /// WGS 84 latitude.
    pub latitude: f64,
    /// WGS 84 longitude.
    pub longitude: f64,
    /// Under a roof.
    pub indoor: bool,
    /// Theme words.
    pub keywords: Vec<String>,
    /// Distance from `near` in km (to the metre), on searches with `near`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

impl Place {
    /// The place, with its distance from the search's centre when there is one.
    pub fn from_record(p: PlaceRecord, distance_km: Option<f64>) -> Self {
        Self {
            id: p.id,
            name: p.name,
            name_en: p.name_en,
            address: p.address,
            city: p.city,
            category: p.category,
            rating: p.rating,
            latitude: p.latitude,
            longitude: p.longitude,
            indoor: p.indoor,
            keywords: p.keywords,
            distance_km: distance_km.map(|km| (km * 1000.0).round() / 1000.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn query(q: &[(&str, &str)]) -> Result<PlaceSearch> {
        let mut query = PlacesQuery::default();
        for (key, value) in q {
            match *key {
                "q" => query.q = Some(value.to_string()),
                "category" => query.category = Some(value.to_string()),
                "near" => query.near = Some(value.to_string()),
                _ => query.radius_km = Some(value.parse().unwrap()),
            }
        }
        query.parse()
    }

    fn status(result: Result<PlaceSearch>) -> (StatusCode, Vec<String>) {
        let err = ApiError::from(result.unwrap_err());
        (err.status, err.fields.unwrap_or_default().into_keys().collect())
    }

    #[test]
    fn a_search_parses_with_defaults() {
        let search = query(&[("q", "  타워 "), ("category", "night_view"), ("near", "37.55, 126.98")]).unwrap();
        assert_eq!(search.filter, PlaceFilter { text: Some("타워".into()), category: Some(Category::NightView) });
        assert_eq!(search.near, Some((LatLon { lat: 37.55, lon: 126.98 }, DEFAULT_RADIUS_KM)));
        assert_eq!(query(&[("q", " ")]).unwrap(), PlaceSearch::default(), "a blank search is no filter");
    }

    #[test]
    fn garbage_is_400_and_values_out_of_range_are_422_together() {
        assert_eq!(status(query(&[("near", "seoul")])).0, StatusCode::BAD_REQUEST);
        assert_eq!(status(query(&[("near", "37.5")])).0, StatusCode::BAD_REQUEST);
        let (code, fields) = status(query(&[("near", "95,10"), ("category", "zoo"), ("radiusKm", "51")]));
        assert_eq!((code, fields), (StatusCode::UNPROCESSABLE_ENTITY, vec!["category".to_owned(), "near".into(), "radiusKm".into()]));
        let err = ApiError::from(query(&[("category", "zoo")]).unwrap_err());
        assert!(err.fields.unwrap()["category"].contains("night_view"), "the message lists the categories");
        assert_eq!(status(query(&[("radiusKm", "3")])).1, ["radiusKm"], "a radius needs near");
        assert_eq!(status(query(&[("near", "37,127"), ("radiusKm", "0")])).1, ["radiusKm"]);
        assert_eq!(status(query(&[("q", &"x".repeat(101))])).1, ["q"]);
        assert_eq!(status(query(&[("q", "a\u{0}")])).1, ["q"]);
    }
}
