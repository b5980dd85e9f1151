//! Date-course recommendations: gathers what the pure [`engine`] needs (both partners' trait
//! vectors, the day's weather, the places of the couple's last meetings) through
//! [`CourseInputs`], runs it, and answers with the courses and what had to be done without.
//!
//! Only the couple itself is required. Everything else degrades instead of failing: without
//! question-answer the partners count as neutral, without user-couple only the caller's own
//! vector counts, without a forecast the day ranks as dry; each is said in `notes`.

pub mod dto;
pub mod engine;
pub mod http;
pub mod inputs;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use async_trait::async_trait;
use chrono::NaiveDate;
use couple_common::{
    db::StoreError,
    peers::{CoupleInfo, PeerError},
};
use uuid::Uuid;

use crate::{
    domain::{LatLon, Weather},
    error::{Error, Result},
};

use dto::{RecommendRequest, Recommendations};
use engine::{CourseQuery, PlaceIndex, TraitVector};

/// How many of the couple's latest meetings' places are left out.
pub const RECENT_MEETINGS: usize = 3;

/// Where the weather is looked up when the request names no `near`: Seoul City Hall, the middle
/// of most of the catalogue.
pub const DEFAULT_WEATHER_AT: LatLon = LatLon { lat: 37.5665, lon: 126.9780 };

/// The lookups a recommendation needs, so that [`Recommender`] can be tested without the store
/// or the peers. The service implements it with `peers::Peers`, the weather client and the store.
#[async_trait]
pub trait CourseInputs: Send + Sync {
    /// The couple and its members (user-couple, cached).
    async fn couple(&self, couple: Uuid) -> Result<Arc<CoupleInfo>, PeerError>;
    /// The trait vectors of `users` that exist (question-answer).
    async fn vectors(&self, users: &[Uuid]) -> Result<HashMap<Uuid, TraitVector>, PeerError>;
    /// The weather of `date` at `at`; `None` when unknown for any reason (no key, the forecast
    /// service failing, a day out of its range).
    async fn weather(&self, at: LatLon, date: NaiveDate) -> Option<Weather>;
    /// The places of the couple's last `meetings` meetings on or before `date`.
    async fn recent_meeting_place_ids(&self, couple: Uuid, date: NaiveDate, meetings: usize) -> Result<Vec<Uuid>, StoreError>;
}

/// Recommends date courses over the catalogue.
pub struct Recommender {
    index: Arc<PlaceIndex>,
    inputs: Arc<dyn CourseInputs>,
}

/// The partners' vectors and what was missing.
struct Partners {
    vectors: [Option<TraitVector>; 2],
    notes: Vec<String>,
}

impl Recommender {
    /// Recommends over `index`, reading through `inputs`.
    pub fn new(index: Arc<PlaceIndex>, inputs: Arc<dyn CourseInputs>) -> Self {
        Self { index, inputs }
    }

    /// Up to three courses for the couple of `caller` (a member of `couple`). The weather, the
    /// recent places and the partners' vectors are read concurrently. Fails only when the couple
    /// is unknown to user-couple, no longer active or not the caller's (`NoCouple`), or the
    /// store fails.
    #[tracing::instrument(skip_all, fields(couple_id = %couple))]
    pub async fn recommend(&self, couple: Uuid, caller: Uuid, request: &RecommendRequest) -> Result<Recommendations> {
        let at = request.near.map_or(DEFAULT_WEATHER_AT, |near| near.at);
        let (partners, weather, visited) = tokio::join!(
            self.partners(couple, caller),
            self.inputs.weather(at, request.date),
            self.inputs.recent_meeting_place_ids(couple, request.date, RECENT_MEETINGS),
        );
        let Partners { vectors, mut notes } = partners?;
        let exclude: HashSet<Uuid> = visited?.into_iter().collect();
        if weather.is_none() {
            notes.push("No forecast for that day: ranked as for dry weather.".into());
        }
        let query = CourseQuery {
            partners: vectors,
            keywords: &request.keywords,
            weather,
            start: request.start,
            end: request.end,
            near: request.near,
            exclude: &exclude,
        };
        let courses = engine::recommend(&self.index, &query).into_iter().map(Into::into).collect();
        Ok(Recommendations { courses, weather, notes })
    }

    /// The caller's vector first, then the partner's. A peer that is down leaves vectors out
    /// (neutral) with a note; an unknown or inactive couple, or one without the caller, is
    /// `NoCouple`.
    async fn partners(&self, couple: Uuid, caller: Uuid) -> Result<Partners> {
        let mut notes = Vec::new();
        let members: Vec<Uuid> = match self.inputs.couple(couple).await {
            Ok(info) if info.active && info.members.iter().any(|m| m.user_id == caller) => {
                let partner = info.members.iter().map(|m| m.user_id).find(|&id| id != caller);
                std::iter::once(caller).chain(partner).collect()
            }
            Ok(_) | Err(PeerError::NotFound(_)) => return Err(Error::NoCouple),
            Err(err @ PeerError::Unavailable { .. }) => {
                tracing::warn!(%err, "recommending without the partner's vector");
                notes.push("Your partner's tastes could not be read just now: only yours count.".into());
                vec![caller]
            }
        };
        let mut vectors = [None, None];
        match self.inputs.vectors(&members).await {
            Ok(found) => {
                for (slot, member) in vectors.iter_mut().zip(&members) {
                    *slot = found.get(member).copied();
                }
                if vectors[0].is_none() {
                    notes.push("You have no trait profile yet (answer the daily questions): your tastes count as neutral.".into());
                }
                if members.len() > 1 && vectors[1].is_none() {
                    notes.push("Your partner has no trait profile yet: their tastes count as neutral.".into());
                }
            }
            Err(err) => {
                tracing::warn!(%err, "recommending with neutral tastes");
                notes = vec!["Your trait profiles could not be read just now: the courses rank as for neutral tastes.".into()];
            }
        }
        Ok(Partners { vectors, notes })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::NaiveTime;
    use couple_common::{peers::Member, traits::TRAIT_COUNT};

    use super::*;
    use crate::places::{self, CataloguePlace};

    const COUPLE: Uuid = Uuid::from_u128(0xc);
    const ME: Uuid = Uuid::from_u128(0xa);
    const PARTNER: Uuid = Uuid::from_u128(0xb);

    /// In-memory inputs: each lookup answers what the test set, and records what it was asked.
    struct Fixed {
        couple: Result<Arc<CoupleInfo>, PeerError>,
        vectors: Result<HashMap<Uuid, TraitVector>, PeerError>,
        weather: Option<Weather>,
        visited: Result<Vec<Uuid>, fn() -> StoreError>,
        asked: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl CourseInputs for Fixed {
        async fn couple(&self, couple: Uuid) -> Result<Arc<CoupleInfo>, PeerError> {
            self.asked.lock().unwrap().push(format!("couple {couple}"));
            self.couple.clone()
        }
        async fn vectors(&self, users: &[Uuid]) -> Result<HashMap<Uuid, TraitVector>, PeerError> {
            self.asked.lock().unwrap().push(format!("vectors {users:?}"));
            self.vectors.clone()
        }
        async fn weather(&self, at: LatLon, date: NaiveDate) -> Option<Weather> {
            self.asked.lock().unwrap().push(format!("weather {:.4},{:.4} {date}", at.lat, at.lon));
            self.weather
        }
        async fn recent_meeting_place_ids(&self, couple: Uuid, date: NaiveDate, meetings: usize) -> Result<Vec<Uuid>, StoreError> {
            self.asked.lock().unwrap().push(format!("visited {couple} {date} {meetings}"));
            self.visited.clone().map_err(|make| make())
        }
    }

    fn couple(active: bool, members: &[Uuid]) -> Arc<CoupleInfo> {
        let birth = NaiveDate::from_ymd_opt(1996, 5, 1).unwrap();
        Arc::new(CoupleInfo {
            id: COUPLE,
            name: "우리".into(),
            start_date: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            active,
            members: members.iter().map(|&user_id| Member { user_id, name: "x".into(), birth }).collect(),
        })
    }

    fn outdoors(value: f64) -> TraitVector {
        let mut v = [0.0; TRAIT_COUNT];
        v[0] = value;
        v
    }

    fn inputs() -> Fixed {
        Fixed {
            couple: Ok(couple(true, &[PARTNER, ME])),
            vectors: Ok(HashMap::from([(ME, outdoors(0.9)), (PARTNER, outdoors(0.8))])),
            weather: Some(Weather::Clear),
            visited: Ok(Vec::new()),
            asked: Mutex::default(),
        }
    }

    fn request() -> RecommendRequest {
        RecommendRequest {
            date: NaiveDate::from_ymd_opt(2026, 5, 16).unwrap(),
            start: NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
            keywords: Vec::new(),
            near: None,
        }
    }

    /// The engine's fixture: three neighbourhoods with every kind of venue.
    fn catalogue() -> Arc<PlaceIndex> {
        Arc::new(PlaceIndex::new(engine::tests::fixture()))
    }

    async fn recommend(inputs: Fixed) -> (Result<Recommendations>, Vec<String>) {
        let inputs = Arc::new(inputs);
        let result = Recommender::new(catalogue(), inputs.clone()).recommend(COUPLE, ME, &request()).await;
        let asked = inputs.asked.lock().unwrap().clone();
        (result, asked)
    }

    #[tokio::test]
    async fn both_vectors_the_weather_and_the_recent_places_reach_the_engine() {
        let (result, asked) = recommend(inputs()).await;
        let found = result.unwrap();
        assert!(!found.courses.is_empty());
        assert_eq!((found.weather, found.notes.len()), (Some(Weather::Clear), 0), "{:?}", found.notes);
        assert!(asked.contains(&format!("vectors {:?}", [ME, PARTNER])), "the caller first: {asked:?}");
        assert!(asked.contains(&"weather 37.5665,126.9780 2026-05-16".to_owned()), "{asked:?}");
        assert!(asked.contains(&format!("visited {COUPLE} 2026-05-16 {RECENT_MEETINGS}")), "{asked:?}");
        let reasons: Vec<&String> = found.courses.iter().flat_map(|c| &c.slots).flat_map(|s| &s.places).flat_map(|p| &p.reasons).collect();
        assert!(reasons.iter().any(|r| *r == "you both lean outdoors"), "both vectors counted");
    }

    #[tokio::test]
    async fn recently_visited_places_are_left_out() {
        let (first, _) = recommend(inputs()).await;
        let top = first.unwrap().courses[0].slots[0].places[0].place.id;
        let (again, _) = recommend(Fixed { visited: Ok(vec![top]), ..inputs() }).await;
        let ids: Vec<Uuid> = again.unwrap().courses.iter().flat_map(|c| &c.slots).flat_map(|s| &s.places).map(|p| p.place.id).collect();
        assert!(!ids.is_empty() && !ids.contains(&top));
    }

    #[tokio::test]
    async fn question_answer_down_ranks_as_neutral_and_says_so() {
        let down = PeerError::Unavailable { peer: "question-answer", cause: "could not connect".into() };
        let (result, _) = recommend(Fixed { vectors: Err(down), ..inputs() }).await;
        let found = result.unwrap();
        assert!(!found.courses.is_empty());
        assert_eq!(found.notes.len(), 1);
        assert!(found.notes[0].contains("neutral"));
        let (neutral, _) = recommend(Fixed { vectors: Ok(HashMap::new()), ..inputs() }).await;
        assert_eq!(neutral.unwrap().courses, found.courses, "the same as no vectors at all");
    }

    #[tokio::test]
    async fn a_missing_vector_is_neutral_and_noted() {
        let (result, _) = recommend(Fixed { vectors: Ok(HashMap::from([(ME, outdoors(0.9))])), ..inputs() }).await;
        let found = result.unwrap();
        assert_eq!(found.notes, ["Your partner has no trait profile yet: their tastes count as neutral."]);
        let reasons: Vec<&String> = found.courses.iter().flat_map(|c| &c.slots).flat_map(|s| &s.places).flat_map(|p| &p.reasons).collect();
        assert!(reasons.iter().any(|r| *r == "one of you leans outdoors") && !reasons.iter().any(|r| r.starts_with("you both")));
    }

    #[tokio::test]
    async fn user_couple_down_counts_the_callers_own_vector() {
        let down = PeerError::Unavailable { peer: "user-couple", cause: "timed out".into() };
        let (result, asked) = recommend(Fixed { couple: Err(down), ..inputs() }).await;
        let found = result.unwrap();
        assert!(!found.courses.is_empty());
        assert!(asked.contains(&format!("vectors {:?}", [ME])), "{asked:?}");
        assert_eq!(found.notes.len(), 1, "{:?}", found.notes);
    }

    #[tokio::test]
    async fn no_weather_ranks_as_dry_with_weather_null() {
        let (result, _) = recommend(Fixed { weather: None, ..inputs() }).await;
        let found = result.unwrap();
        assert_eq!(found.weather, None);
        assert!(found.notes[0].contains("dry weather"));
        let (rain, _) = recommend(Fixed { weather: Some(Weather::Rain), ..inputs() }).await;
        let rain = rain.unwrap();
        let picks: Vec<&dto::CoursePlace> = rain.courses.iter().flat_map(|c| &c.slots).map(|s| &s.places[0].place).collect();
        assert!(picks.iter().all(|p| p.indoor), "rain reaches the engine");
    }

    #[tokio::test]
    async fn an_unknown_inactive_or_foreign_couple_is_no_couple() {
        for couple in [Err(PeerError::NotFound("couple")), Ok(couple(false, &[ME, PARTNER])), Ok(couple(true, &[PARTNER]))] {
            let (result, _) = recommend(Fixed { couple, ..inputs() }).await;
            assert!(matches!(result, Err(Error::NoCouple)), "{result:?}");
        }
    }

    #[tokio::test]
    async fn a_store_failure_is_an_error_not_a_course() {
        let (result, _) = recommend(Fixed { visited: Err(|| StoreError::Unavailable(sqlx::Error::PoolTimedOut)), ..inputs() }).await;
        assert!(matches!(result, Err(Error::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn the_catalogue_place_shape_is_what_courses_show() {
        let place: &CataloguePlace = &places::shipped().unwrap()[0];
        let shown = serde_json::to_value(dto::CoursePlace::from(place)).unwrap();
        let keys: Vec<&str> = shown.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 9, "{keys:?}");
        assert_eq!(shown["nameEn"], place.name_en.as_str());
        assert_eq!(shown["id"], place.id().to_string());
    }
}
