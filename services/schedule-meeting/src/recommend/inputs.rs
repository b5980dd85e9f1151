//! [`CourseInputs`] as the service has them: user-couple and question-answer through
//! [`Peers`], the KMA forecast through [`Forecasts`], the couple's past meetings from the store.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use chrono::NaiveDate;
use couple_common::peers::{CoupleInfo, PeerError};
use uuid::Uuid;

use super::{CourseInputs, engine::TraitVector};
use crate::{
    domain::{LatLon, Weather},
    peers::Peers,
    store::{Store, StoreError},
    weather::{Forecasts, WeatherError},
};

/// The live inputs of a recommendation.
pub struct ServiceInputs {
    peers: Peers,
    forecasts: Arc<Forecasts>,
    store: Arc<dyn Store>,
}

impl ServiceInputs {
    /// Inputs read from `peers`, `forecasts` and `store`.
    pub fn new(peers: Peers, forecasts: Arc<Forecasts>, store: Arc<dyn Store>) -> Self {
        Self { peers, forecasts, store }
    }
}

#[async_trait]
impl CourseInputs for ServiceInputs {
    async fn couple(&self, couple: Uuid) -> Result<Arc<CoupleInfo>, PeerError> {
        self.peers.user_couple.couple(couple).await
    }

    async fn vectors(&self, users: &[Uuid]) -> Result<HashMap<Uuid, TraitVector>, PeerError> {
        self.peers.question_answer.vectors(users).await
    }

    /// Any weather error is "unknown": recommendations never fail for the forecast. Only a
    /// failing KMA is worth a warning; no key and a point off the grid are how things are.
    async fn weather(&self, at: LatLon, date: NaiveDate) -> Option<Weather> {
        match self.forecasts.day(at, date).await {
            Ok(weather) => weather,
            Err(err @ WeatherError::Kma(_)) => {
                tracing::warn!(%err, "recommending without the forecast");
                None
            }
            Err(WeatherError::NotConfigured | WeatherError::OutsideGrid) => None,
        }
    }

    async fn recent_meeting_place_ids(&self, couple: Uuid, date: NaiveDate, meetings: usize) -> Result<Vec<Uuid>, StoreError> {
        self.store.recent_meeting_place_ids(couple, date, meetings).await
    }
}
