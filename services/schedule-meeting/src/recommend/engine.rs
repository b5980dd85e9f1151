//! The date-course recommender as a pure function: the catalogue, both partners' trait vectors,
//! keywords, the day's weather and a time window in; up to three candidate courses out. No I/O,
//! no clock, no randomness: the same input gives the same courses, ties broken by place id.
//!
//! The window is split into slots of about 105 minutes (80-130). Every place gets a score for each
//! slot from five parts, each in -1..=1 and weighted: how well its trait profile fits both
//! partners (a place both like beats one only one of them likes), the keywords it matches, how
//! it suits the time of day, the weather (rain or snow: indoor places up, outdoor ones down), and
//! its rating; from the second slot on, the walk from the previous stop counts too. A course
//! starts at one of the best first stops (within `near` when given) and walks on, slot by slot,
//! to the best place within [`WALK_KM`] that is not already in the course and not of the
//! previous stop's category, backtracking (within a small budget) out of dead ends. The three
//! courses start at different places, in different areas when the catalogue allows. Each slot
//! also offers up to two alternatives that fit between the same neighbours.
//!
//! Cost per call: one pass over the catalogue for the slot-independent parts, then a few
//! hundred candidate scorings over the neighbour lists [`PlaceIndex`] precomputes once.

use std::{cmp::Ordering, collections::HashSet, fmt::Write as _, sync::LazyLock};

use chrono::{NaiveTime, TimeDelta, Timelike};
use couple_common::traits::{TRAIT_COUNT, traits};
use uuid::Uuid;

use crate::{
    domain::{LatLon, Weather},
    places::{CataloguePlace, Category},
};

/// One partner's position on every trait, `vec1` first, each in -1..=1.
pub type TraitVector = [f64; TRAIT_COUNT];

/// Consecutive stops are at most this far apart (km, as the crow flies): a walk.
pub const WALK_KM: f64 = 1.5;
/// Courses returned at most.
pub const MAX_COURSES: usize = 3;
/// Slots a window is split into at most.
pub const MAX_SLOTS: usize = 5;
/// Places per slot: the pick and up to two alternatives.
pub const PLACES_PER_SLOT: usize = 3;

/// The slot length aimed at, in minutes: windows split into slots of about 80-130 minutes.
const SLOT_MINUTES: f64 = 105.0;
/// First stops of two courses at least this far apart (km) when the catalogue allows, so that
/// the courses explore different areas.
const AREA_KM: f64 = 1.0;
/// First stops tried at most per slot count; bounds the work when routes keep failing.
const MAX_FIRST_STOPS: usize = 40;
/// Candidate stops tried at most while routing one course (backtracking budget).
const ROUTE_BUDGET: usize = 64;

/// The weights of the score's parts. Rain outweighs the keywords, and the keywords a mild
/// trait preference; the time of day tips the balance between places that fit alike.
const W_TRAITS: f64 = 0.45;
const W_KEYWORDS: f64 = 0.30;
const W_TIME: f64 = 0.25;
const W_WEATHER: f64 = 0.5;
const W_RATING: f64 = 0.10;
const W_WALK: f64 = 0.15;
/// A place "has" a trait end in its reasons from this magnitude on, and a partner "leans" one.
const MARKED: f64 = 0.3;

/// Where the first stop must be: within `radius_km` of `at`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    /// The starting point.
    pub at: LatLon,
    /// How far the first stop may be, in km.
    pub radius_km: f64,
}

/// What a recommendation is asked for.
#[derive(Debug, Clone, Copy)]
pub struct CourseQuery<'a> {
    /// Both partners' vectors; a missing one counts as neutral (all zeros).
    pub partners: [Option<TraitVector>; 2],
    /// Theme words, matched case-insensitively against names, keywords and category.
    pub keywords: &'a [String],
    /// The day's weather; `None` (unknown) ranks as dry.
    pub weather: Option<Weather>,
    /// Start of the window.
    pub start: NaiveTime,
    /// End of the window (after `start`, same day).
    pub end: NaiveTime,
    /// Restricts the first stop, and so the area.
    pub near: Option<Near>,
    /// Places never proposed (visited in the couple's last meetings).
    pub exclude: &'a HashSet<Uuid>,
}

/// A candidate course: one entry per slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Course<'c> {
    /// The slots, in time order.
    pub slots: Vec<Slot<'c>>,
}

/// A part of the window and the places proposed for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot<'c> {
    /// When it starts.
    pub start: NaiveTime,
    /// When it ends.
    pub end: NaiveTime,
    /// The pick first, then up to two alternatives that fit between the same neighbours.
    pub places: Vec<Scored<'c>>,
}

/// A place with its score and the reasons for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored<'c> {
    /// The place.
    pub place: &'c CataloguePlace,
    /// 0..=1, higher is better, rounded to three decimals.
    pub score: f64,
    /// Short English sentences saying why.
    pub reasons: Vec<String>,
}

/// The catalogue prepared for recommendations, built once at start: trait profiles by index,
/// lower-cased search text, and each place's neighbours within [`WALK_KM`].
#[derive(Debug)]
pub struct PlaceIndex {
    places: Vec<CataloguePlace>,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    id: Uuid,
    at: LatLon,
    category: Category,
    indoor: bool,
    rating: f64,
    /// `(trait index, value)` for the traits the place has.
    profile: Vec<(usize, f64)>,
    /// Sum of the profile's magnitudes: the trait fit is an average weighted by them.
    profile_weight: f64,
    /// The place's `morning_night` value (0 when it has none).
    morning_night: f64,
    /// Names, keywords and category words, lower-cased, separated by a unit separator.
    search: String,
    /// `(entry, km)` within [`WALK_KM`], nearest first, then by id.
    neighbours: Vec<(usize, f64)>,
}

impl PlaceIndex {
    /// Indexes `places`. Profile entries naming no trait are ignored (the catalogue's own checks
    /// refuse them).
    pub fn new(places: Vec<CataloguePlace>) -> Self {
        let morning_night = trait_index("morning_night");
        let mut entries: Vec<Entry> = places
            .iter()
            .map(|place| {
                let mut profile: Vec<(usize, f64)> =
                    place.profile.iter().filter_map(|(name, &value)| Some((trait_index(name)?, value.clamp(-1.0, 1.0)))).collect();
                profile.sort_by_key(|&(index, _)| index);
                Entry {
                    id: place.id(),
                    at: place.location(),
                    category: place.category,
                    indoor: place.indoor,
                    rating: place.rating,
                    profile_weight: profile.iter().map(|(_, v)| v.abs()).sum(),
                    morning_night: morning_night.and_then(|mn| profile.iter().find(|(i, _)| *i == mn)).map_or(0.0, |&(_, v)| v),
                    profile,
                    search: search_text(place),
                    neighbours: Vec::new(),
                }
            })
            .collect();
        link_neighbours(&mut entries);
        Self { places, entries }
    }

    /// The places, in catalogue order.
    pub fn places(&self) -> &[CataloguePlace] {
        &self.places
    }

    fn distance(&self, a: usize, b: usize) -> f64 {
        self.entries[a].at.distance_km(self.entries[b].at)
    }
}

fn trait_index(name: &str) -> Option<usize> {
    traits().iter().position(|t| t.name == name)
}

const SEPARATOR: char = '\u{1f}';

fn search_text(place: &CataloguePlace) -> String {
    let category = place.category.as_str();
    let mut parts = vec![place.name.as_str(), place.name_en.as_str(), category];
    parts.extend(place.keywords.iter().map(String::as_str));
    let spaced = category.replace('_', " ");
    parts.push(&spaced);
    parts.extend(korean_category_words(place.category));
    let mut text = String::new();
    for part in parts {
        text.push_str(&part.to_lowercase());
        text.push(SEPARATOR);
    }
    text
}

/// What Korean users type for each category.
fn korean_category_words(category: Category) -> &'static [&'static str] {
    match category {
        Category::Cafe => &["카페"],
        Category::Restaurant => &["맛집", "식당", "레스토랑"],
        Category::Park => &["공원"],
        Category::Museum => &["박물관"],
        Category::Exhibition => &["전시", "미술관", "갤러리"],
        Category::Walk => &["산책"],
        Category::NightView => &["야경"],
        Category::Activity => &["체험", "액티비티"],
        Category::Shopping => &["쇼핑"],
        Category::Bar => &["술집", "바"],
        Category::Theater => &["공연", "극장", "영화관"],
    }
}

/// Fills every entry's neighbours: a sweep over the places sorted by latitude, so only pairs
/// less than [`WALK_KM`] apart in latitude are measured.
fn link_neighbours(entries: &mut [Entry]) {
    // A degree of latitude is at least 110.5 km; this span is a little wider than WALK_KM.
    let span = WALK_KM / 110.5;
    let mut by_lat: Vec<usize> = (0..entries.len()).collect();
    by_lat.sort_by(|&a, &b| entries[a].at.lat.total_cmp(&entries[b].at.lat));
    for (pos, &a) in by_lat.iter().enumerate() {
        for &b in &by_lat[pos + 1..] {
            if entries[b].at.lat - entries[a].at.lat > span {
                break;
            }
            let km = entries[a].at.distance_km(entries[b].at);
            if km <= WALK_KM {
                entries[a].neighbours.push((b, km));
                entries[b].neighbours.push((a, km));
            }
        }
    }
    let ids: Vec<Uuid> = entries.iter().map(|e| e.id).collect();
    for entry in entries.iter_mut() {
        entry.neighbours.sort_by(|a, b| a.1.total_cmp(&b.1).then(ids[a.0].cmp(&ids[b.0])));
    }
}

/// Up to [`MAX_COURSES`] candidate courses for `query`, best first. Empty when the window is
/// empty or no place can be a first stop (empty catalogue, all excluded, nothing within `near`).
/// When no course can fill every slot within walking distance, the window is split into fewer,
/// longer slots.
pub fn recommend<'c>(index: &'c PlaceIndex, query: &CourseQuery<'_>) -> Vec<Course<'c>> {
    let minutes = (query.end - query.start).num_minutes();
    if minutes <= 0 {
        return Vec::new();
    }
    let ranker = Ranker::new(index, query);
    let firsts: Vec<usize> = (0..index.entries.len()).filter(|&i| ranker.eligible[i] && ranker.near_enough(i)).collect();
    if firsts.is_empty() {
        return Vec::new();
    }
    for count in (1..=slot_count(minutes)).rev() {
        let slots = split_window(query.start, minutes, count);
        let courses = ranker.courses(&slots, &firsts);
        if !courses.is_empty() {
            return courses.iter().map(|picks| ranker.render(&slots, picks, &firsts)).collect();
        }
    }
    Vec::new()
}

/// How many slots a window of `minutes` gets: one under an hour, then about one per 105 minutes,
/// at most [`MAX_SLOTS`].
pub fn slot_count(minutes: i64) -> usize {
    if minutes < 60 {
        return 1;
    }
    // In 1..=MAX_SLOTS, so the cast is exact.
    (minutes as f64 / SLOT_MINUTES).round().clamp(1.0, MAX_SLOTS as f64) as usize
}

/// The time of day a slot falls in, by its middle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Morning,
    Lunch,
    Afternoon,
    Dinner,
    Night,
}

impl Period {
    fn of(minute_of_day: f64) -> Self {
        match minute_of_day {
            m if m < 10.5 * 60.0 => Period::Morning,
            m if m < 14.0 * 60.0 => Period::Lunch,
            m if m < 17.5 * 60.0 => Period::Afternoon,
            m if m < 20.5 * 60.0 => Period::Dinner,
            _ => Period::Night,
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Period::Morning => "good in the morning",
            Period::Lunch => "good at lunchtime",
            Period::Afternoon => "good in the afternoon",
            Period::Dinner => "good at dinnertime",
            Period::Night => "good at night",
        }
    }
}

/// How well a category suits a time of day, -1..=1: night views and bars in the evening, cafes
/// and brunch earlier, restaurants at meal times, museums while they are open.
fn category_fit(category: Category, period: Period) -> f64 {
    use Category::*;
    use Period::*;
    match (category, period) {
        (Cafe, Morning | Afternoon) => 0.8,
        (Cafe, Lunch) => 0.3,
        (Cafe, Dinner) => -0.2,
        (Cafe, Night) => -0.4,
        (Restaurant, Lunch | Dinner) => 1.0,
        (Restaurant, Night) => 0.2,
        (Restaurant, Morning) => -0.3,
        (Restaurant, Afternoon) => -0.4,
        (Park, Morning | Afternoon) => 0.6,
        (Park, Lunch) => 0.3,
        (Park, Dinner) => 0.0,
        (Park, Night) => -0.5,
        (Museum | Exhibition, Morning) => 0.4,
        (Museum | Exhibition, Lunch) => 0.3,
        (Museum | Exhibition, Afternoon) => 0.7,
        (Museum | Exhibition, Dinner) => -0.4,
        (Museum | Exhibition, Night) => -1.0,
        (Walk, Morning | Afternoon) => 0.5,
        (Walk, Lunch) => 0.2,
        (Walk, Dinner) => 0.2,
        (Walk, Night) => -0.2,
        (NightView, Morning) => -0.8,
        (NightView, Lunch) => -0.6,
        (NightView, Afternoon) => -0.3,
        (NightView, Dinner) => 0.6,
        (NightView, Night) => 1.0,
        (Activity, Morning) => 0.0,
        (Activity, Lunch) => 0.2,
        (Activity, Afternoon) => 0.7,
        (Activity, Dinner) => 0.3,
        (Activity, Night) => 0.0,
        (Shopping, Morning) => -0.2,
        (Shopping, Lunch) => 0.3,
        (Shopping, Afternoon) => 0.7,
        (Shopping, Dinner) => 0.3,
        (Shopping, Night) => -0.3,
        (Bar, Morning) => -1.0,
        (Bar, Lunch) => -0.8,
        (Bar, Afternoon) => -0.5,
        (Bar, Dinner) => 0.4,
        (Bar, Night) => 1.0,
        (Theater, Morning) => -0.5,
        (Theater, Lunch) => 0.0,
        (Theater, Afternoon) => 0.5,
        (Theater, Dinner | Night) => 0.6,
    }
}

/// One slot of the window.
#[derive(Debug, Clone, Copy)]
struct SlotTime {
    start: NaiveTime,
    end: NaiveTime,
    period: Period,
    /// -1 (10:00 or earlier) to +1 (20:00 or later): how far into the evening it is, to meet the
    /// places' `morning_night`.
    lateness: f64,
}

/// Splits `minutes` from `start` into `count` contiguous slots, inner boundaries on 5 minutes.
fn split_window(start: NaiveTime, minutes: i64, count: usize) -> Vec<SlotTime> {
    let start_minute = i64::from(start.num_seconds_from_midnight() / 60);
    let count_i = i64::try_from(count).unwrap_or(1);
    let boundary = |i: i64| -> i64 {
        if i == 0 || i == count_i {
            return start_minute + minutes * i / count_i;
        }
        let exact = start_minute as f64 + (minutes * i) as f64 / count_i as f64;
        ((exact / 5.0).round() * 5.0) as i64
    };
    (0..count_i)
        .map(|i| {
            let (from, to) = (boundary(i), boundary(i + 1));
            let middle = (from + to) as f64 / 2.0;
            SlotTime {
                start: start + TimeDelta::minutes(from - start_minute),
                end: start + TimeDelta::minutes(to - start_minute),
                period: Period::of(middle),
                lateness: ((middle / 60.0 - 15.0) / 5.0).clamp(-1.0, 1.0),
            }
        })
        .collect()
}

/// The label of a trait end: the words before the colon of its description (`Outdoors`),
/// lower-cased but for proper adjectives.
fn end_label(description: &str) -> String {
    let label = description.split(':').next().unwrap_or(description).trim();
    if label.starts_with("Korean") {
        return label.to_owned();
    }
    let mut chars = label.chars();
    chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// `(low, high)` labels of every trait.
static END_LABELS: LazyLock<Vec<(String, String)>> =
    LazyLock::new(|| traits().iter().map(|t| (end_label(&t.low), end_label(&t.high))).collect());

fn label(index: usize, high: bool) -> &'static str {
    let (low, high_label) = &END_LABELS[index];
    if high { high_label } else { low }
}

/// Best first, then by id: the one order every ranking uses.
fn by_score_then_id(a: &(usize, f64), b: &(usize, f64), entries: &[Entry]) -> Ordering {
    b.1.total_cmp(&a.1).then_with(|| entries[a.0].id.cmp(&entries[b.0].id))
}

/// The per-call scoring state.
struct Ranker<'c, 'q> {
    index: &'c PlaceIndex,
    query: &'q CourseQuery<'q>,
    /// Keywords lower-cased for matching, with the text as typed for the reasons.
    keywords: Vec<(String, &'q str)>,
    /// Not excluded.
    eligible: Vec<bool>,
    /// The slot-independent part of each place's score: weighted sum and total weight.
    fixed: Vec<(f64, f64)>,
}

impl<'c, 'q> Ranker<'c, 'q> {
    fn new(index: &'c PlaceIndex, query: &'q CourseQuery<'q>) -> Self {
        let mut keywords: Vec<(String, &str)> = Vec::new();
        for typed in query.keywords {
            let lower = typed.trim().to_lowercase();
            if !lower.is_empty() && !keywords.iter().any(|(k, _)| *k == lower) {
                keywords.push((lower, typed.trim()));
            }
        }
        let mut ranker = Self { index, query, keywords, eligible: Vec::new(), fixed: Vec::new() };
        ranker.eligible = index.entries.iter().map(|e| !query.exclude.contains(&e.id)).collect();
        ranker.fixed = (0..index.entries.len()).map(|i| ranker.fixed_part(i)).collect();
        ranker
    }

    fn near_enough(&self, i: usize) -> bool {
        self.query.near.is_none_or(|near| near.at.distance_km(self.index.entries[i].at) <= near.radius_km)
    }

    /// One partner's fit with a place: the partner's values along the place's traits, averaged
    /// with the weights of the place's magnitudes, -1..=1.
    fn partner_fit(entry: &Entry, partner: Option<&TraitVector>) -> f64 {
        match partner {
            Some(vector) if entry.profile_weight > 0.0 => {
                entry.profile.iter().map(|&(i, p)| p * vector[i].clamp(-1.0, 1.0)).sum::<f64>() / entry.profile_weight
            }
            _ => 0.0,
        }
    }

    /// The couple's fit: the mean of both partners' fits, less a quarter of their difference,
    /// so that a place both like beats one only one of them likes as much.
    fn couple_fit(&self, entry: &Entry) -> f64 {
        let [a, b] = self.query.partners.each_ref().map(|p| Self::partner_fit(entry, p.as_ref()));
        (a + b) / 2.0 - (a - b).abs() / 4.0
    }

    fn keyword_hits<'s>(&'s self, entry: &'s Entry) -> impl Iterator<Item = &'q str> + 's {
        self.keywords.iter().filter(|(k, _)| entry.search.contains(k.as_str())).map(|(_, typed)| *typed)
    }

    fn wet(&self) -> bool {
        self.query.weather.is_some_and(Weather::is_wet)
    }

    fn fixed_part(&self, i: usize) -> (f64, f64) {
        let entry = &self.index.entries[i];
        let mut sum = W_TRAITS * self.couple_fit(entry) + W_RATING * ((entry.rating - 3.5) / 1.5).clamp(-1.0, 1.0);
        let mut weight = W_TRAITS + W_RATING;
        if !self.keywords.is_empty() {
            let share = self.keyword_hits(entry).count() as f64 / self.keywords.len() as f64;
            sum += W_KEYWORDS * (2.0 * share - 1.0);
            weight += W_KEYWORDS;
        }
        if self.wet() {
            sum += W_WEATHER * if entry.indoor { 1.0 } else { -1.0 };
            weight += W_WEATHER;
        }
        (sum, weight)
    }

    /// The place's score in `slot`, 0..=1; `walk_km` from the previous stop, if any.
    fn score(&self, i: usize, slot: &SlotTime, walk_km: Option<f64>) -> f64 {
        let entry = &self.index.entries[i];
        let (mut sum, mut weight) = self.fixed[i];
        sum += W_TIME * (0.7 * category_fit(entry.category, slot.period) + 0.3 * entry.morning_night * slot.lateness);
        weight += W_TIME;
        if let Some(km) = walk_km {
            sum += W_WALK * (1.0 - 2.0 * km / WALK_KM);
            weight += W_WALK;
        }
        ((sum / weight + 1.0) / 2.0).clamp(0.0, 1.0)
    }

    /// The first stops of up to three courses and their routes: the best first stops, in
    /// different areas first, then any other.
    fn courses(&self, slots: &[SlotTime], firsts: &[usize]) -> Vec<Vec<usize>> {
        let mut ranked: Vec<(usize, f64)> = firsts.iter().map(|&i| (i, self.score(i, &slots[0], None))).collect();
        ranked.sort_by(|a, b| by_score_then_id(a, b, &self.index.entries));
        let mut courses: Vec<Vec<usize>> = Vec::new();
        let mut failed: HashSet<usize> = HashSet::new();
        let mut tried = 0;
        for spread in [true, false] {
            for &(first, _) in &ranked {
                if courses.len() == MAX_COURSES || tried == MAX_FIRST_STOPS {
                    return courses;
                }
                if failed.contains(&first)
                    || courses.iter().any(|c| c[0] == first)
                    || (spread && courses.iter().any(|c| self.index.distance(c[0], first) < AREA_KM))
                {
                    continue;
                }
                tried += 1;
                match self.route(first, slots) {
                    Some(picks) => courses.push(picks),
                    None => {
                        failed.insert(first);
                    }
                }
            }
        }
        courses
    }

    /// A full route from `first`, or `None` when the budget runs out first.
    fn route(&self, first: usize, slots: &[SlotTime]) -> Option<Vec<usize>> {
        let mut path = Vec::with_capacity(slots.len());
        path.push(first);
        let mut budget = ROUTE_BUDGET;
        self.extend(&mut path, slots, &mut budget).then_some(path)
    }

    fn extend(&self, path: &mut Vec<usize>, slots: &[SlotTime], budget: &mut usize) -> bool {
        let k = path.len();
        if k == slots.len() {
            return true;
        }
        let prev = path[k - 1];
        let prev_category = self.index.entries[prev].category;
        let mut candidates: Vec<(usize, f64)> = self.index.entries[prev]
            .neighbours
            .iter()
            .filter(|&&(j, _)| self.eligible[j] && self.index.entries[j].category != prev_category && !path.contains(&j))
            .map(|&(j, km)| (j, self.score(j, &slots[k], Some(km))))
            .collect();
        candidates.sort_by(|a, b| by_score_then_id(a, b, &self.index.entries));
        for (j, _) in candidates {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            path.push(j);
            if self.extend(path, slots, budget) {
                return true;
            }
            path.pop();
        }
        false
    }

    /// The course of `picks`, with up to two alternatives per slot: places not otherwise in the
    /// course that keep it valid (within a walk of both neighbours, of neither neighbour's
    /// category, within `near` for the first slot), scoring no higher than the pick.
    fn render(&self, slots: &[SlotTime], picks: &[usize], firsts: &[usize]) -> Course<'c> {
        let entries = &self.index.entries;
        let mut used: HashSet<usize> = picks.iter().copied().collect();
        let slots = slots
            .iter()
            .enumerate()
            .map(|(k, slot)| {
                let pick = picks[k];
                let prev = k.checked_sub(1).map(|p| picks[p]);
                let next = picks.get(k + 1).copied();
                let walk = |j: usize| prev.map(|p| self.index.distance(p, j));
                let pick_score = self.score(pick, slot, walk(pick));
                let pool: Vec<usize> = match (prev, next) {
                    (Some(anchor), _) | (None, Some(anchor)) => entries[anchor].neighbours.iter().map(|&(j, _)| j).collect(),
                    (None, None) => firsts.to_vec(),
                };
                let fits_beside = |j: usize, neighbour: Option<usize>| {
                    neighbour.is_none_or(|n| entries[j].category != entries[n].category && self.index.distance(j, n) <= WALK_KM)
                };
                let mut alternatives: Vec<(usize, f64)> = pool
                    .into_iter()
                    .filter(|&j| self.eligible[j] && !used.contains(&j) && fits_beside(j, prev) && fits_beside(j, next))
                    .filter(|&j| k > 0 || self.near_enough(j))
                    .map(|j| (j, self.score(j, slot, walk(j))))
                    .filter(|&(_, score)| score <= pick_score)
                    .collect();
                alternatives.sort_by(|a, b| by_score_then_id(a, b, entries));
                alternatives.truncate(PLACES_PER_SLOT - 1);
                used.extend(alternatives.iter().map(|&(j, _)| j));
                let places = std::iter::once((pick, pick_score))
                    .chain(alternatives)
                    .map(|(j, score)| Scored {
                        place: &self.index.places[j],
                        score: (score * 1000.0).round() / 1000.0,
                        reasons: self.reasons(j, slot, walk(j), k == 0),
                    })
                    .collect();
                Slot { start: slot.start, end: slot.end, places }
            })
            .collect();
        Course { slots }
    }

    /// Why place `i` ranks where it does in `slot`: traits, keywords, time of day, weather,
    /// the walk, the rating.
    fn reasons(&self, i: usize, slot: &SlotTime, walk_km: Option<f64>, first: bool) -> Vec<String> {
        let entry = &self.index.entries[i];
        let mut reasons = self.trait_reasons(entry);
        let hits: Vec<&str> = self.keyword_hits(entry).collect();
        if !hits.is_empty() {
            let quoted: Vec<String> = hits.iter().map(|k| format!("\"{k}\"")).collect();
            let noun = if hits.len() == 1 { "keyword" } else { "keywords" };
            reasons.push(format!("matches your {noun} {}", quoted.join(", ")));
        }
        if category_fit(entry.category, slot.period) >= 0.8 {
            reasons.push(slot.period.phrase().to_owned());
        } else if entry.morning_night.abs() >= 0.5 && entry.morning_night * slot.lateness >= 0.4 {
            reasons.push(if entry.morning_night > 0.0 { "best after dark" } else { "best in daylight" }.to_owned());
        }
        if let Some(weather) = self.query.weather.filter(|w| w.is_wet()) {
            let (day, forecast) = if weather == Weather::Snow { ("a snowy day", "snow") } else { ("a rainy day", "rain") };
            reasons.push(if entry.indoor { format!("indoors, good on {day}") } else { format!("outdoors, though {forecast} is forecast") });
        }
        if let Some(km) = walk_km {
            reasons.push(if km < 0.05 {
                "right next to the previous stop".to_owned()
            } else {
                format!("{} walk from the previous stop", distance(km))
            });
        } else if let (true, Some(near)) = (first, self.query.near) {
            reasons.push(format!("{} from your starting point", distance(near.at.distance_km(entry.at))));
        }
        // A high rating is worth saying; any rating is, when nothing else is.
        if entry.rating >= 4.5 || reasons.is_empty() {
            reasons.push(format!("rated {:.1}", entry.rating));
        }
        reasons
    }

    /// Up to two trait ends the place has and a partner leans towards ("you both lean outdoors"
    /// before "one of you leans lively"), and the strongest one both partners lean away from.
    fn trait_reasons(&self, entry: &Entry) -> Vec<String> {
        let partners: Vec<&TraitVector> = self.query.partners.iter().flatten().collect();
        let mut shared: Vec<(u8, f64, usize, bool)> = Vec::new();
        let mut against: Option<(f64, usize, bool)> = None;
        for &(index, value) in &entry.profile {
            if value.abs() < MARKED {
                continue;
            }
            let high = value > 0.0;
            let leans: Vec<f64> = partners.iter().map(|v| v[index] * value.signum()).collect();
            let towards = leans.iter().filter(|&&l| l >= MARKED).count();
            let away = leans.iter().filter(|&&l| l <= -MARKED).count();
            let strength = value.abs() * leans.iter().map(|l| l.abs()).sum::<f64>();
            match (towards, away) {
                (2, _) => shared.push((0, strength, index, high)),
                (1, 0) => shared.push((1, strength, index, high)),
                (0, 2) if against.is_none_or(|(s, _, _)| strength > s) => against = Some((strength, index, high)),
                _ => {}
            }
        }
        shared.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut reasons: Vec<String> = shared
            .iter()
            .take(2)
            .map(|&(who, _, index, high)| {
                let end = label(index, high);
                if who == 0 { format!("you both lean {end}") } else { format!("one of you leans {end}") }
            })
            .collect();
        if let Some((_, index, high)) = against {
            reasons.push(format!("{}, though you both lean {}", label(index, high), label(index, !high)));
        }
        reasons
    }
}

/// `650 m` (to 10 m) below a kilometre, `1.2 km` from there.
fn distance(km: f64) -> String {
    let mut text = String::new();
    if km < 0.995 {
        let _ = write!(text, "{} m", ((km * 100.0).round() * 10.0) as i64);
    } else {
        let _ = write!(text, "{km:.1} km");
    }
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::places;

    fn trait_vector(values: &[(&str, f64)]) -> TraitVector {
        let mut vector = [0.0; TRAIT_COUNT];
        for &(name, value) in values {
            vector[trait_index(name).unwrap()] = value;
        }
        vector
    }

    fn outdoor_lively() -> TraitVector {
        trait_vector(&[("indoor_outdoor", 0.9), ("quiet_lively", 0.8)])
    }

    fn indoor_quiet() -> TraitVector {
        trait_vector(&[("indoor_outdoor", -0.9), ("quiet_lively", -0.8)])
    }

    struct Kind {
        category: Category,
        indoor: bool,
        keywords: &'static [&'static str],
        profile: &'static [(&'static str, f64)],
    }

    /// The venues of one fixture neighbourhood, each at a (north, east) offset in metres.
    const KINDS: [(&str, Kind, (f64, f64)); 11] = [
        (
            "park",
            Kind {
                category: Category::Park,
                indoor: false,
                keywords: &["공원", "picnic"],
                profile: &[("indoor_outdoor", 0.9), ("quiet_lively", 0.3), ("morning_night", -0.3), ("city_nature", 0.8)],
            },
            (0.0, 0.0),
        ),
        (
            "garden",
            Kind {
                category: Category::Park,
                indoor: false,
                keywords: &["garden"],
                profile: &[("indoor_outdoor", 0.9), ("quiet_lively", 0.2), ("city_nature", 0.9)],
            },
            (300.0, 400.0),
        ),
        (
            "riverside",
            Kind {
                category: Category::Walk,
                indoor: false,
                keywords: &["산책", "river"],
                profile: &[("indoor_outdoor", 0.8), ("quiet_lively", 0.4), ("morning_night", -0.2)],
            },
            (-300.0, 200.0),
        ),
        (
            "tower",
            Kind {
                category: Category::NightView,
                indoor: false,
                keywords: &["야경", "romantic"],
                profile: &[("indoor_outdoor", 0.6), ("quiet_lively", 0.5), ("morning_night", 0.9), ("interior_view", 0.9)],
            },
            (500.0, -300.0),
        ),
        (
            "cafe",
            Kind {
                category: Category::Cafe,
                indoor: true,
                keywords: &["coffee", "브런치"],
                profile: &[("indoor_outdoor", -0.8), ("quiet_lively", -0.6), ("morning_night", -0.3)],
            },
            (100.0, 300.0),
        ),
        (
            "tea-house",
            Kind {
                category: Category::Cafe,
                indoor: true,
                keywords: &["tea"],
                profile: &[("indoor_outdoor", -0.9), ("quiet_lively", -0.8), ("traditional_modern", -0.7)],
            },
            (-200.0, -200.0),
        ),
        (
            "museum",
            Kind {
                category: Category::Museum,
                indoor: true,
                keywords: &["history"],
                profile: &[("indoor_outdoor", -0.9), ("quiet_lively", -0.7), ("fun_learning", 0.8), ("morning_night", -0.5)],
            },
            (200.0, -500.0),
        ),
        (
            "bistro",
            Kind {
                category: Category::Restaurant,
                indoor: true,
                keywords: &["pasta"],
                profile: &[("indoor_outdoor", -0.7), ("quiet_lively", 0.2)],
            },
            (-400.0, -100.0),
        ),
        (
            "wine-bar",
            Kind {
                category: Category::Bar,
                indoor: true,
                keywords: &["wine"],
                profile: &[("indoor_outdoor", -0.9), ("quiet_lively", -0.5), ("morning_night", 0.8), ("sober_drinking", 0.8)],
            },
            (0.0, 600.0),
        ),
        (
            "pub",
            Kind {
                category: Category::Bar,
                indoor: true,
                keywords: &["beer"],
                profile: &[("indoor_outdoor", -0.6), ("quiet_lively", 0.9), ("morning_night", 0.9)],
            },
            (-600.0, 300.0),
        ),
        (
            "cinema",
            Kind {
                category: Category::Theater,
                indoor: true,
                keywords: &["movie"],
                profile: &[("indoor_outdoor", -1.0), ("quiet_lively", -0.2), ("morning_night", 0.5)],
            },
            (400.0, 500.0),
        ),
    ];

    /// Three neighbourhoods (Hongdae-, Jongno- and Jamsil-like centres, 5-14 km apart), each with
    /// every kind of venue within a few hundred metres.
    const AREAS: [(&str, f64, f64); 3] = [("west", 37.5560, 126.9230), ("north", 37.5760, 126.9850), ("east", 37.5110, 127.1000)];

    pub(crate) fn fixture() -> Vec<CataloguePlace> {
        let mut places = Vec::new();
        for (area, lat, lon) in AREAS {
            for (name, kind, (north_m, east_m)) in &KINDS {
                places.push(CataloguePlace {
                    slug: format!("{area}-{name}"),
                    name: format!("{area} {name}"),
                    name_en: format!("The {area} {name}"),
                    city: "Seoul".into(),
                    address: "서울".into(),
                    category: kind.category,
                    rating: 4.3,
                    latitude: lat + north_m / 111_000.0,
                    longitude: lon + east_m / 88_000.0,
                    indoor: kind.indoor,
                    keywords: kind.keywords.iter().map(|k| (*k).to_owned()).collect(),
                    profile: kind.profile.iter().map(|&(n, v)| (n.to_owned(), v)).collect::<BTreeMap<_, _>>(),
                });
            }
        }
        places
    }

    fn time(text: &str) -> NaiveTime {
        NaiveTime::parse_from_str(text, "%H:%M").unwrap()
    }

    fn query<'a>(partners: [Option<TraitVector>; 2], window: (&str, &str), exclude: &'a HashSet<Uuid>) -> CourseQuery<'a> {
        CourseQuery { partners, keywords: &[], weather: None, start: time(window.0), end: time(window.1), near: None, exclude }
    }

    fn picks<'c>(course: &Course<'c>) -> Vec<&'c CataloguePlace> {
        course.slots.iter().map(|s| s.places[0].place).collect()
    }

    /// Every rule a course must keep, whatever the input.
    fn assert_valid(courses: &[Course<'_>], query: &CourseQuery<'_>) {
        assert!(courses.len() <= MAX_COURSES);
        let mut firsts = HashSet::new();
        for course in courses {
            assert!(!course.slots.is_empty() && course.slots.len() <= MAX_SLOTS);
            assert_eq!((course.slots[0].start, course.slots.last().unwrap().end), (query.start, query.end));
            let mut seen = HashSet::new();
            for (k, slot) in course.slots.iter().enumerate() {
                assert!(slot.start < slot.end);
                if k > 0 {
                    assert_eq!(slot.start, course.slots[k - 1].end, "slots are contiguous");
                }
                assert!(!slot.places.is_empty() && slot.places.len() <= PLACES_PER_SLOT);
                for (n, scored) in slot.places.iter().enumerate() {
                    let place = scored.place;
                    assert!((0.0..=1.0).contains(&scored.score), "{}", scored.score);
                    assert!(!scored.reasons.is_empty(), "{} has no reasons", place.slug);
                    assert!(!query.exclude.contains(&place.id()), "{} is excluded", place.slug);
                    assert!(seen.insert(place.id()), "{} twice in a course", place.slug);
                    if n > 0 {
                        assert!(scored.score <= slot.places[0].score, "an alternative outscores the pick");
                    }
                    // The pick and every alternative keep the course walkable and varied.
                    for neighbour in [k.checked_sub(1), Some(k + 1)].into_iter().flatten().filter_map(|j| course.slots.get(j)) {
                        let other = neighbour.places[0].place;
                        let km = place.location().distance_km(other.location());
                        assert!(km <= WALK_KM, "{} to {}: {km} km", place.slug, other.slug);
                        assert_ne!(place.category, other.category, "{} beside {}", place.slug, other.slug);
                    }
                    if let (0, Some(near)) = (k, query.near) {
                        assert!(near.at.distance_km(place.location()) <= near.radius_km, "{} is outside near", place.slug);
                    }
                }
            }
            assert!(firsts.insert(course.slots[0].places[0].place.id()), "two courses start at the same place");
        }
    }

    #[test]
    fn windows_split_into_slots_of_about_ninety_to_one_hundred_twenty_minutes() {
        let cases = [
            ("14:00", "14:45", 1),
            ("14:00", "15:30", 1),
            ("14:00", "17:00", 2),
            ("16:00", "22:00", 3),
            ("10:00", "17:00", 4),
            ("09:00", "23:30", 5),
        ];
        for (from, to, count) in cases {
            let minutes = (time(to) - time(from)).num_minutes();
            assert_eq!(slot_count(minutes), count, "{from}-{to}");
            let slots = split_window(time(from), minutes, count);
            assert_eq!((slots[0].start, slots.last().unwrap().end), (time(from), time(to)));
            for pair in slots.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(pair[0].end.minute() % 5, 0, "inner boundaries fall on 5 minutes");
            }
        }
        let evening = split_window(time("16:00"), 360, 3);
        assert_eq!(evening.iter().map(|s| s.period).collect::<Vec<_>>(), [Period::Afternoon, Period::Dinner, Period::Night]);
    }

    #[test]
    fn a_couple_who_both_lean_outdoors_and_lively_get_parks_and_night_views() {
        let index = PlaceIndex::new(fixture());
        let none = HashSet::new();
        let q = query([Some(outdoor_lively()), Some(outdoor_lively())], ("16:00", "22:00"), &none);
        let courses = recommend(&index, &q);
        assert_valid(&courses, &q);
        assert_eq!(courses.len(), 3);
        for course in &courses {
            let categories: Vec<Category> = picks(course).iter().map(|p| p.category).collect();
            assert!(matches!(categories[0], Category::Park | Category::Walk), "{categories:?}");
            assert!(categories[1..].contains(&Category::NightView), "{categories:?}");
            assert!(!categories.iter().any(|c| matches!(c, Category::Cafe | Category::Museum)), "{categories:?}");
            assert!(picks(course).iter().filter(|p| !p.indoor).count() >= 2, "{categories:?}");
        }
        let first = &courses[0].slots[0].places[0];
        assert!(first.reasons.contains(&"you both lean outdoors".to_owned()), "{:?}", first.reasons);
    }

    #[test]
    fn the_opposite_couple_gets_quiet_indoor_places_instead() {
        let index = PlaceIndex::new(fixture());
        let none = HashSet::new();
        let q = query([Some(indoor_quiet()), Some(indoor_quiet())], ("16:00", "22:00"), &none);
        let courses = recommend(&index, &q);
        assert_valid(&courses, &q);
        assert_eq!(courses.len(), 3);
        for course in &courses {
            assert!(picks(course).iter().all(|p| p.indoor), "{:?}", picks(course).iter().map(|p| &p.slug).collect::<Vec<_>>());
            assert!(picks(course).iter().all(|p| !matches!(p.category, Category::Park | Category::NightView)));
        }
        let first = &courses[0].slots[0].places[0];
        assert!(first.reasons.contains(&"you both lean indoors".to_owned()), "{:?}", first.reasons);
        let pub_ = index.entries.iter().find(|e| e.search.starts_with("west pub")).unwrap();
        let reasons = Ranker::new(&index, &q).trait_reasons(pub_);
        assert_eq!(reasons, ["you both lean indoors", "lively, though you both lean quiet"], "what speaks against a place is said too");
    }

    #[test]
    fn a_place_both_partners_like_beats_one_only_one_of_them_likes() {
        let index = PlaceIndex::new(fixture());
        let none = HashSet::new();
        let museum = index.entries.iter().position(|e| e.category == Category::Museum).unwrap();
        let fit = |partners: [Option<TraitVector>; 2]| {
            let q = query(partners, ("14:00", "15:30"), &none);
            Ranker::new(&index, &q).couple_fit(&index.entries[museum])
        };
        let learning = |value: f64| Some(trait_vector(&[("fun_learning", value)]));
        // The same mean leaning, shared or all on one side.
        assert!(fit([learning(0.5), learning(0.5)]) > fit([learning(1.0), learning(0.0)]));
        assert!(fit([learning(0.5), learning(0.5)]) > 0.0);
        assert_eq!(fit([None, None]), 0.0, "neutral partners fit nothing either way");
    }

    #[test]
    fn rain_puts_indoor_places_first() {
        let index = PlaceIndex::new(fixture());
        let none = HashSet::new();
        let dry = query([Some(outdoor_lively()), Some(outdoor_lively())], ("14:00", "18:00"), &none);
        let dry_courses = recommend(&index, &dry);
        assert!(dry_courses.iter().flat_map(picks).any(|p| !p.indoor), "dry: outdoor places rank");
        for weather in [Weather::Rain, Weather::Snow] {
            let wet = CourseQuery { weather: Some(weather), ..dry };
            let courses = recommend(&index, &wet);
            assert_valid(&courses, &wet);
            assert!(!courses.is_empty());
            for course in &courses {
                assert!(
                    picks(course).iter().all(|p| p.indoor),
                    "{weather:?}: {:?}",
                    picks(course).iter().map(|p| &p.slug).collect::<Vec<_>>()
                );
            }
            let word = if weather == Weather::Snow { "snowy" } else { "rainy" };
            assert!(courses[0].slots[0].places[0].reasons.contains(&format!("indoors, good on a {word} day")));
        }
        let unknown = CourseQuery { weather: None, ..dry };
        assert_eq!(recommend(&index, &unknown), dry_courses, "unknown weather ranks as dry");
    }

    #[test]
    fn keywords_pull_matching_places_up() {
        let index = PlaceIndex::new(fixture());
        let none = HashSet::new();
        let plain = query([None, None], ("11:00", "12:30"), &none);
        let top = |q: &CourseQuery| recommend(&index, q)[0].slots[0].places[0].place.category;
        assert_ne!(top(&plain), Category::Museum);
        let keywords = vec!["HISTORY".to_owned()];
        let asked = CourseQuery { keywords: &keywords, ..plain };
        let courses = recommend(&index, &asked);
        assert_eq!(top(&asked), Category::Museum, "matched case-insensitively in the keywords");
        assert!(courses[0].slots[0].places[0].reasons.contains(&"matches your keyword \"HISTORY\"".to_owned()));
        for korean in ["야경", "공원", "The North"] {
            let keywords = vec![korean.to_owned()];
            let courses = recommend(&index, &CourseQuery { keywords: &keywords, ..plain });
            let place = courses[0].slots[0].places[0].place;
            let text = search_text(place);
            assert!(text.contains(&korean.to_lowercase()), "{korean} -> {}", place.slug);
        }
    }

    #[test]
    fn excluded_places_never_appear() {
        let index = PlaceIndex::new(fixture());
        let none = HashSet::new();
        let q = query([Some(outdoor_lively()), Some(outdoor_lively())], ("16:00", "22:00"), &none);
        let before = recommend(&index, &q);
        let mut exclude: HashSet<Uuid> =
            index.places().iter().filter(|p| p.category == Category::NightView).map(CataloguePlace::id).collect();
        exclude.insert(before[0].slots[0].places[0].place.id());
        let q = CourseQuery { exclude: &exclude, ..q };
        let courses = recommend(&index, &q);
        assert!(!courses.is_empty());
        assert_valid(&courses, &q);
        let everything = index.places().iter().map(CataloguePlace::id).collect();
        assert!(recommend(&index, &CourseQuery { exclude: &everything, ..q }).is_empty());
    }

    #[test]
    fn near_restricts_the_first_stop_and_courses_start_in_different_places() {
        let index = PlaceIndex::new(fixture());
        let none = HashSet::new();
        let north = LatLon::new(AREAS[1].1, AREAS[1].2).unwrap();
        let q = CourseQuery { near: Some(Near { at: north, radius_km: 1.0 }), ..query([None, None], ("12:00", "18:00"), &none) };
        let courses = recommend(&index, &q);
        assert_valid(&courses, &q);
        assert_eq!(courses.len(), 3, "three different first stops in the area");
        assert!(courses[0].slots[0].places[0].reasons.iter().any(|r| r.ends_with("from your starting point")));
        let far = CourseQuery { near: Some(Near { at: LatLon::new(35.1798, 129.0750).unwrap(), radius_km: 5.0 }), ..q };
        assert!(recommend(&index, &far).is_empty(), "nothing within the radius");
        let anywhere = query([None, None], ("12:00", "18:00"), &none);
        let spread = recommend(&index, &anywhere);
        let starts: Vec<LatLon> = spread.iter().map(|c| c.slots[0].places[0].place.location()).collect();
        assert!(starts[0].distance_km(starts[1]) >= AREA_KM && starts[1].distance_km(starts[2]) >= AREA_KM, "different areas");
    }

    #[test]
    fn consecutive_stops_are_a_walk_apart_with_the_distance_in_the_reasons() {
        let index = PlaceIndex::new(fixture());
        let none = HashSet::new();
        let q = query([Some(outdoor_lively()), None], ("10:00", "22:00"), &none);
        let courses = recommend(&index, &q);
        assert_valid(&courses, &q);
        let second = &courses[0].slots[1].places[0];
        assert!(second.reasons.iter().any(|r| r.ends_with(" m walk from the previous stop")), "{:?}", second.reasons);
        assert!(second.reasons.iter().any(|r| r == "one of you leans outdoors" || r == "one of you leans lively"), "{:?}", second.reasons);
    }

    #[test]
    fn the_same_input_gives_the_same_courses() {
        let index = PlaceIndex::new(fixture());
        let none = HashSet::new();
        let keywords = vec!["romantic".to_owned()];
        let q = CourseQuery {
            keywords: &keywords,
            weather: Some(Weather::Overcast),
            ..query([Some(outdoor_lively()), Some(indoor_quiet())], ("13:00", "21:00"), &none)
        };
        let again = PlaceIndex::new(fixture().into_iter().rev().collect());
        assert_eq!(recommend(&index, &q), recommend(&index, &q));
        assert_eq!(recommend(&index, &q), recommend(&again, &q), "catalogue order does not matter");
    }

    #[test]
    fn missing_vectors_count_as_neutral() {
        let index = PlaceIndex::new(fixture());
        let none = HashSet::new();
        let q = query([None, None], ("14:00", "20:00"), &none);
        let courses = recommend(&index, &q);
        assert_valid(&courses, &q);
        assert_eq!(courses.len(), 3);
        let reasons: Vec<&String> = courses.iter().flat_map(|c| &c.slots).flat_map(|s| &s.places).flat_map(|p| &p.reasons).collect();
        assert!(!reasons.iter().any(|r| r.contains("you both") || r.contains("one of you")));
        let neutral = query([Some([0.0; TRAIT_COUNT]), Some([0.0; TRAIT_COUNT])], ("14:00", "20:00"), &none);
        assert_eq!(recommend(&index, &neutral), courses, "a missing vector is a vector of zeros");
    }

    #[test]
    fn nothing_to_recommend_is_an_empty_list() {
        let none = HashSet::new();
        let q = query([None, None], ("14:00", "20:00"), &none);
        assert!(recommend(&PlaceIndex::new(Vec::new()), &q).is_empty());
        let backwards = query([None, None], ("20:00", "14:00"), &none);
        assert!(recommend(&PlaceIndex::new(fixture()), &backwards).is_empty());
    }

    #[test]
    fn isolated_places_give_fewer_longer_slots() {
        // Two places 5 km apart: no walk between them, so the window becomes one slot.
        let places: Vec<CataloguePlace> = fixture().into_iter().filter(|p| p.slug.ends_with("-museum")).take(2).collect();
        let index = PlaceIndex::new(places);
        let none = HashSet::new();
        let q = query([None, None], ("14:00", "20:00"), &none);
        let courses = recommend(&index, &q);
        assert_valid(&courses, &q);
        assert_eq!(courses.len(), 2);
        assert!(courses.iter().all(|c| c.slots.len() == 1));
    }

    #[test]
    fn distances_read_naturally() {
        assert_eq!(distance(0.6504), "650 m");
        assert_eq!(distance(0.996), "1.0 km");
        assert_eq!(distance(1.23), "1.2 km");
        assert_eq!(end_label("Outdoors: parks, hikes"), "outdoors");
        assert_eq!(end_label("Korean: Korean food"), "Korean");
        assert_eq!(end_label("Just the two of us: time alone together"), "just the two of us");
    }

    #[test]
    fn every_course_over_the_shipped_catalogue_is_valid() {
        let index = PlaceIndex::new(places::shipped().unwrap());
        let none = HashSet::new();
        let keywords = vec!["야경".to_owned(), "cafe".to_owned()];
        let seoul = Near { at: LatLon::new(37.5665, 126.9780).unwrap(), radius_km: 3.0 };
        let couples = [[Some(outdoor_lively()), Some(outdoor_lively())], [Some(indoor_quiet()), None], [None, None]];
        for partners in couples {
            for window in [("09:00", "12:00"), ("11:30", "12:10"), ("13:00", "22:00"), ("18:00", "23:59")] {
                for weather in [None, Some(Weather::Rain)] {
                    let base = query(partners, window, &none);
                    for q in [base, CourseQuery { weather, keywords: &keywords, near: Some(seoul), ..base }] {
                        let courses = recommend(&index, &q);
                        assert!(!courses.is_empty(), "{window:?} {weather:?}");
                        assert_valid(&courses, &q);
                    }
                }
            }
        }
    }
}
