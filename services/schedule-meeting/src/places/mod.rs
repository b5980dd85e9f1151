//! The places catalogue: well-known venues shipped with the service (`seed/places.json`), each
//! with a trait profile over the named dimensions of the trait space, so that recommendations can
//! compare a place with both partners' vectors. The catalogue is loaded into the database (for
//! search, and for meetings to name) and kept in memory ([`Catalogue`], for recommendations);
//! [`Places`] answers the search.

pub mod dto;
pub mod http;

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use couple_common::{ApiError, PageQuery};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::LatLon,
    error::{Error, Result},
    store::{PlaceFilter, PlaceRecord, RatingKey, Store},
};

/// What kind of venue a place is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Coffee, tea, dessert.
    Cafe,
    /// A meal.
    Restaurant,
    /// Parks and gardens.
    Park,
    /// Museums.
    Museum,
    /// Galleries and exhibitions.
    Exhibition,
    /// Walks: streets, trails, riversides.
    Walk,
    /// Viewpoints, best after dark.
    NightView,
    /// Something to do: climbing, workshops, games, theme parks.
    Activity,
    /// Shops, malls and markets.
    Shopping,
    /// Drinks.
    Bar,
    /// Stage shows, concerts and cinemas.
    Theater,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 11] = [
        Category::Cafe,
        Category::Restaurant,
        Category::Park,
        Category::Museum,
        Category::Exhibition,
        Category::Walk,
        Category::NightView,
        Category::Activity,
        Category::Shopping,
        Category::Bar,
        Category::Theater,
    ];

    /// The wire name (`night_view`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Cafe => "cafe",
            Category::Restaurant => "restaurant",
            Category::Park => "park",
            Category::Museum => "museum",
            Category::Exhibition => "exhibition",
            Category::Walk => "walk",
            Category::NightView => "night_view",
            Category::Activity => "activity",
            Category::Shopping => "shopping",
            Category::Bar => "bar",
            Category::Theater => "theater",
        }
    }

    /// The category with this wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// One venue of the catalogue, as the data file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CataloguePlace {
    /// Stable key (`n-seoul-tower`): the place's id is the UUID v5 of it, so ids survive
    /// reloads and are the same on every install.
    pub slug: String,
    /// The Korean name (`N서울타워`).
    pub name: String,
    /// The Latin name (`N Seoul Tower`).
    pub name_en: String,
    /// `Seoul`, `Busan` or `Jeju`.
    pub city: String,
    /// Street address, in Korean.
    pub address: String,
    /// What kind of venue.
    pub category: Category,
    /// 0.0..=5.0.
    pub rating: f64,
    /// WGS 84 latitude.
    pub latitude: f64,
    /// WGS 84 longitude.
    pub longitude: f64,
    /// Under a roof: preferred when it rains or snows.
    pub indoor: bool,
    /// Theme words for keyword matching, Korean and English (`야경`, `night view`).
    pub keywords: Vec<String>,
    /// Where the place sits on the trait dimensions it clearly has, by trait name
    /// (`indoor_outdoor`), each in -1.0..=1.0; traits it is neutral on are left out.
    pub profile: BTreeMap<String, f64>,
}

impl CataloguePlace {
    /// The place's id: UUID v5 of its slug in the catalogue's namespace.
    pub fn id(&self) -> Uuid {
        place_id(&self.slug)
    }

    /// Where it is.
    pub fn location(&self) -> LatLon {
        LatLon { lat: self.latitude, lon: self.longitude }
    }
}

/// The namespace of place ids (a fixed random UUID; changing it would change every place id).
const PLACE_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b1e_8d4a_4c3e_9a57_0b8e_2d41_c9f3);

/// The id of the catalogue place with this slug.
pub fn place_id(slug: &str) -> Uuid {
    Uuid::new_v5(&PLACE_NAMESPACE, slug.as_bytes())
}

/// The catalogue shipped with the service, compiled in.
const SHIPPED: &str = include_str!("../../seed/places.json");

/// Parses and checks the shipped catalogue: every slug unique, coordinates in Korea, ratings in
/// range, profile keys that are trait names with values in -1..=1.
pub fn shipped() -> Result<Vec<CataloguePlace>, String> {
    parse(SHIPPED)
}

/// Parses and checks a catalogue (see [`shipped`]).
pub fn parse(json: &str) -> Result<Vec<CataloguePlace>, String> {
    let places: Vec<CataloguePlace> = serde_json::from_str(json).map_err(|e| format!("the places catalogue does not parse: {e}"))?;
    let mut slugs = std::collections::BTreeSet::new();
    for place in &places {
        let fail = |what: &str| Err(format!("place {:?}: {what}", place.slug));
        if !slugs.insert(place.slug.as_str()) {
            return fail("duplicate slug");
        }
        if place.name.trim().is_empty() || place.name_en.trim().is_empty() || place.address.trim().is_empty() {
            return fail("empty name or address");
        }
        // South Korea, Jeju included, lies within this box.
        if !(33.0..=38.7).contains(&place.latitude) || !(124.5..=131.0).contains(&place.longitude) {
            return fail("coordinates outside South Korea");
        }
        if !(0.0..=5.0).contains(&place.rating) {
            return fail("rating outside 0..=5");
        }
        for (name, value) in &place.profile {
            if !couple_common::traits::traits().iter().any(|t| t.name == *name) {
                return fail(&format!("profile names an unknown trait {name:?}"));
            }
            if !(-1.0..=1.0).contains(value) {
                return fail(&format!("profile value {value} of {name} outside -1..=1"));
            }
        }
    }
    Ok(places)
}

/// The catalogue in memory: every shipped place with its profile, by id.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    places: Vec<CataloguePlace>,
    index: HashMap<Uuid, usize>,
}

impl Catalogue {
    /// A catalogue of `places` (checked already, see [`parse`]).
    pub fn new(places: Vec<CataloguePlace>) -> Self {
        let index = places.iter().enumerate().map(|(i, p)| (p.id(), i)).collect();
        Self { places, index }
    }

    /// The shipped catalogue; an error means the data file is broken (a bug).
    pub fn shipped() -> Result<Self, String> {
        shipped().map(Self::new)
    }

    /// Every place, in the data file's order.
    pub fn places(&self) -> &[CataloguePlace] {
        &self.places
    }

    /// The place with this id.
    pub fn get(&self, id: Uuid) -> Option<&CataloguePlace> {
        self.index.get(&id).map(|&i| &self.places[i])
    }

    /// How many places.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }
}

/// A place search, parsed from the query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaceSearch {
    /// Name and category filters.
    pub filter: PlaceFilter,
    /// Only places within this many km of this point, nearest first.
    pub near: Option<(LatLon, f64)>,
}

/// Where a page of places by distance ended: whole millimetres (so the cursor compares exactly),
/// then the id.
type DistanceKey = (u64, Uuid);

/// The place search.
pub struct Places {
    store: Arc<dyn Store>,
}

impl Places {
    /// Places on `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// A page of places: nearest first with `near` (found in a bounding box on the indexed
    /// coordinates, then measured exactly), else best rated first.
    #[tracing::instrument(skip_all)]
    pub async fn search(&self, search: &PlaceSearch, page: &PageQuery) -> Result<(Vec<dto::Place>, Option<String>)> {
        let Some((centre, radius_km)) = search.near else {
            let after: Option<RatingKey> = page.after()?;
            // A forged cursor must not reach the database with text it refuses.
            if after.as_ref().is_some_and(|key| key.name.contains('\0') || !key.rating.is_finite()) {
                let invalid = "the cursor is not valid for this list";
                return Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, couple_common::error::codes::INVALID_QUERY, invalid).into());
            }
            let found = self.store.search_places(&search.filter, after.as_ref(), page.fetch()).await?;
            let (found, next) = page.page(found, |p| RatingKey::from(p));
            return Ok((found.into_iter().map(|p| dto::Place::from_record(p, None)).collect(), next));
        };
        let after: Option<DistanceKey> = page.after()?;
        let candidates = self.store.places_within(&search.filter, &centre.bounding_box(radius_km)).await?;
        let mut near: Vec<(DistanceKey, f64, PlaceRecord)> = candidates
            .into_iter()
            .map(|p| (centre.distance_km(LatLon { lat: p.latitude, lon: p.longitude }), p))
            .filter(|(km, _)| *km <= radius_km)
            .map(|(km, p)| (((km * 1e6).round() as u64, p.id), km, p))
            .filter(|(key, _, _)| after.is_none_or(|after| *key > after))
            .collect();
        near.sort_by_key(|(key, _, _)| *key);
        near.truncate(page.fetch());
        let (near, next) = page.page(near, |(key, _, _)| *key);
        Ok((near.into_iter().map(|(_, km, p)| dto::Place::from_record(p, Some(km))).collect(), next))
    }

    /// One place.
    #[tracing::instrument(skip_all)]
    pub async fn get(&self, id: Uuid) -> Result<dto::Place> {
        let place = self.store.place(id).await?.ok_or(Error::NotFound("place"))?;
        Ok(dto::Place::from_record(place, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the shipped catalogue must hold beyond what [`parse`] checks for any catalogue: enough
    /// places, every category, both smaller cities, `indoor_outdoor` agreeing with `indoor` (rain
    /// favours indoor places through both), and no venue entered twice (same category, same spot).
    fn content_problems(places: &[CataloguePlace]) -> Vec<String> {
        let mut problems = Vec::new();
        if places.len() < 150 {
            problems.push(format!("only {} places", places.len()));
        }
        for category in Category::ALL {
            if !places.iter().any(|p| p.category == category) {
                problems.push(format!("no place is a {}", category.as_str()));
            }
        }
        for (city, least) in [("Busan", 12), ("Jeju", 10)] {
            let count = places.iter().filter(|p| p.city == city).count();
            if count < least {
                problems.push(format!("{count} places in {city}, expected at least {least}"));
            }
        }
        for place in places {
            if !["Seoul", "Busan", "Jeju"].contains(&place.city.as_str()) {
                problems.push(format!("{}: city {:?}", place.slug, place.city));
            }
            match place.profile.get("indoor_outdoor") {
                None => problems.push(format!("{}: no indoor_outdoor in its profile", place.slug)),
                Some(&value) if (value < 0.0) != place.indoor => {
                    problems.push(format!("{}: indoor_outdoor {value} disagrees with indoor {}", place.slug, place.indoor))
                }
                Some(_) => {}
            }
        }
        for (i, a) in places.iter().enumerate() {
            for b in &places[i + 1..] {
                let metres = a.location().distance_km(b.location()) * 1000.0;
                if a.category == b.category && metres < 20.0 {
                    problems.push(format!("{} and {} are both {} {metres:.0} m apart", a.slug, b.slug, a.category.as_str()));
                }
            }
        }
        problems
    }

    #[test]
    fn the_shipped_catalogue_is_valid() {
        let places = shipped().unwrap();
        assert_eq!(content_problems(&places), Vec::<String>::new());
    }

    #[test]
    fn the_content_rules_catch_bad_catalogues() {
        let shipped = shipped().unwrap();
        let problems_after = |change: &dyn Fn(&mut Vec<CataloguePlace>)| {
            let mut places = shipped.clone();
            change(&mut places);
            content_problems(&places).join("; ")
        };
        let twin = problems_after(&|places| {
            let mut twin = places[0].clone();
            twin.slug.push_str("-again");
            twin.latitude += 0.0001; // about 11 m north
            places.push(twin);
        });
        assert!(twin.contains("m apart"), "{twin}");
        let flipped = problems_after(&|places| places[0].indoor = !places[0].indoor);
        assert!(flipped.contains("disagrees with indoor"), "{flipped}");
        let missing = problems_after(&|places| {
            places[0].profile.remove("indoor_outdoor");
        });
        assert!(missing.contains("no indoor_outdoor"), "{missing}");
        let no_jeju = problems_after(&|places| places.retain(|p| p.city != "Jeju"));
        assert!(no_jeju.contains("in Jeju"), "{no_jeju}");
        let no_bars = problems_after(&|places| places.retain(|p| p.category != Category::Bar));
        assert!(no_bars.contains("no place is a bar"), "{no_bars}");
        let few = problems_after(&|places| places.truncate(100));
        assert!(few.contains("only 100 places"), "{few}");
    }

    #[test]
    fn ids_are_stable() {
        assert_eq!(place_id("n-seoul-tower"), place_id("n-seoul-tower"));
        assert_ne!(place_id("n-seoul-tower"), place_id("gyeongbokgung"));
        assert_eq!(place_id("n-seoul-tower").get_version_num(), 5);
    }

    #[test]
    fn bad_catalogues_are_refused() {
        let one = r#"{"slug":"x","name":"엑스","nameEn":"X","city":"Seoul","address":"서울","category":"cafe","rating":4.0,
            "latitude":37.5,"longitude":127.0,"indoor":true,"keywords":[],"profile":{"indoor_outdoor":-0.8}}"#;
        assert!(parse(&format!("[{one}]")).is_ok());
        assert!(parse(&format!("[{one},{one}]")).unwrap_err().contains("duplicate"));
        assert!(parse(&format!("[{}]", one.replace("indoor_outdoor", "nope"))).unwrap_err().contains("unknown trait"));
        assert!(parse(&format!("[{}]", one.replace("127.0", "2.0"))).unwrap_err().contains("outside South Korea"));
        assert!(parse(&format!("[{}]", one.replace("-0.8", "-1.5"))).unwrap_err().contains("outside -1..=1"));
    }
}
