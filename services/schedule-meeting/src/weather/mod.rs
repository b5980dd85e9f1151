//! The weather of the coming days from the KMA forecasts: the village forecast (5 km grid, about
//! three days ahead) first, the mid-term land forecast (per region, up to ten days ahead) for
//! the days it does not reach. The weather cards and the recommender both ask [`Forecasts`].

pub mod client;
pub mod dto;
pub mod fold;
pub mod grid;
pub mod http;
pub mod schedule;

use std::time::Duration;

use chrono::{Days, NaiveDate};
use couple_common::clock::Clock;
use jiff::tz::TimeZone;

use crate::{
    config::Config,
    domain::{LatLon, Weather},
};
use client::{Breaker, KmaClient, KmaError};
use fold::DailyWeather;
use grid::GridCell;

/// How many days the cards show: today and the next four.
pub const CARD_DAYS: u64 = 5;
/// The mid-term forecast's last day, counted from today; later days have no forecast at all.
const LAST_FORECAST_DAY: u64 = 10;

/// Why there is no weather.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeatherError {
    /// No KMA key is configured (503).
    #[error("the weather service is not configured: set SCHEDULE_MEETING_WEATHER_API_KEY")]
    NotConfigured,
    /// The point is off the KMA grid: KMA forecasts only around Korea (422).
    #[error("outside the KMA forecast grid: weather is forecast only in and around Korea")]
    OutsideGrid,
    /// KMA failed (503).
    #[error("the KMA forecast service failed: {0}")]
    Kma(#[from] KmaError),
}

/// The forecasts, as the handlers and the recommender use them.
#[derive(Debug)]
pub struct Forecasts {
    kma: Option<KmaClient>,
    clock: Clock,
    zone: TimeZone,
}

impl Forecasts {
    /// Forecasts from the KMA services `config` names; without a key every call answers
    /// [`WeatherError::NotConfigured`]. Days are the platform's, counted in `zone`.
    pub fn new(config: &Config, zone: TimeZone) -> anyhow::Result<Self> {
        let kma = match &config.weather_api_key {
            Some(key) => {
                let cooldown = Duration::from_secs(config.weather_breaker_cooldown_secs);
                let breaker = Breaker::new(config.weather_breaker_failures, cooldown, config.clock.clone());
                let timeout = Duration::from_millis(config.weather_timeout_millis.max(1));
                Some(KmaClient::new(&config.weather_base_url, key, timeout, breaker)?)
            }
            None => None,
        };
        Ok(Self { kma, clock: config.clock.clone(), zone })
    }

    /// The platform's today.
    pub fn today(&self) -> NaiveDate {
        self.clock.today(&self.zone)
    }

    /// The weather of `today` and the next four days at `at`. A day neither forecast covers
    /// (the mid-term forecast unpublished or failing while the village one answered) is `None`:
    /// the cards say "unknown" rather than fail when most of them are known.
    #[tracing::instrument(skip_all)]
    pub async fn cards(&self, at: LatLon, today: NaiveDate) -> Result<Vec<(NaiveDate, Option<Weather>)>, WeatherError> {
        let days: Vec<NaiveDate> = (0..CARD_DAYS).filter_map(|n| today.checked_add_days(Days::new(n))).collect();
        let known = self.forecast(at, &days).await?;
        Ok(days.into_iter().map(|day| (day, known.get(&day).copied())).collect())
    }

    /// The weather of `date` at `at`, for recommendations; `None` for a day no forecast covers
    /// (past days and days more than ten days ahead are answered without asking KMA).
    #[tracing::instrument(skip_all)]
    pub async fn day(&self, at: LatLon, date: NaiveDate) -> Result<Option<Weather>, WeatherError> {
        let today = self.today();
        let last = today.checked_add_days(Days::new(LAST_FORECAST_DAY)).unwrap_or(today);
        if !(today..=last).contains(&date) {
            self.source(at)?;
            return Ok(None);
        }
        Ok(self.forecast(at, &[date]).await?.get(&date).copied())
    }

    /// The client and the grid cell for `at`, or why there is no forecast there.
    fn source(&self, at: LatLon) -> Result<(&KmaClient, GridCell), WeatherError> {
        let kma = self.kma.as_ref().ok_or(WeatherError::NotConfigured)?;
        Ok((kma, grid::cell(at).ok_or(WeatherError::OutsideGrid)?))
    }

    /// The weather of the `wanted` days that the forecasts cover. The village forecast first (its
    /// latest issue, or the one before while the latest is not out: `NODATA`); its failure is the
    /// answer's. Then the mid-term forecast for the days it lacks: the latest issue, or the
    /// previous one while the latest is not out. A mid-term failure leaves its days unknown rather
    /// than failing the known ones (the previous issue is then used only if cached, so a failing
    /// KMA costs one timeout, not two).
    async fn forecast(&self, at: LatLon, wanted: &[NaiveDate]) -> Result<DailyWeather, WeatherError> {
        let (kma, cell) = self.source(at)?;
        let now = self.clock.now();
        let mut known = DailyWeather::new();
        let issue = schedule::village_issue(now);
        let village = match kma.village(cell, issue).await {
            Err(err) if err.is_no_data() => kma.village(cell, issue.previous_village()).await?,
            outcome => outcome?,
        };
        fill(&mut known, &village, wanted);
        let region = fold::region(at);
        let latest = schedule::mid_issue(now);
        if wanted.iter().any(|day| !known.contains_key(day)) {
            let previous = latest.previous_mid();
            let older = match kma.mid(region, latest).await {
                Ok(mid) => {
                    fill(&mut known, &mid, wanted);
                    None
                }
                Err(err) if err.is_no_data() => kma.mid(region, previous).await.ok(),
                Err(err) => {
                    tracing::warn!(%err, "the mid-term forecast failed: the days only it covers are unknown");
                    kma.cached_mid(region, previous)
                }
            };
            if let Some(older) = older {
                fill(&mut known, &older, wanted);
            }
        }
        Ok(known)
    }
}

/// Copies into `known` what `source` says of the `wanted` days `known` lacks.
fn fill(known: &mut DailyWeather, source: &DailyWeather, wanted: &[NaiveDate]) {
    for day in wanted {
        if let Some(&weather) = source.get(day) {
            known.entry(*day).or_insert(weather);
        }
    }
}
