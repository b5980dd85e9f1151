//! Forecast items to one [`Weather`] per day: the village forecast's hourly precipitation type
//! (`PTY`) and sky state (`SKY`), and the mid-term forecast's `wf` phrases, each folded to the
//! highest priority over the day (snow > rain > overcast > some cloud > clear, the order of
//! [`Weather`]). Also which mid-term land region a point belongs to.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use serde::Deserialize;

use crate::domain::{LatLon, Weather};

/// One day's weather per date.
pub type DailyWeather = BTreeMap<NaiveDate, Weather>;

/// A village-forecast item (one category at one hour); the fields the fold reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VillageItem {
    /// `PTY`, `SKY`, `TMP`...
    pub category: String,
    /// `YYYYMMDD`.
    pub fcst_date: String,
    /// The value, always a string (`"1"`, `"강수없음"`).
    pub fcst_value: String,
}

/// The weather one village item says, if it says any: `PTY` 3 (snow) or 2 (rain and snow) is
/// snow, 1 (rain) or 4 (shower) is rain; `SKY` 4 is overcast, 3 (mostly cloudy) some cloud,
/// 1 clear. Every other category and value (`PTY` 0, no precipitation) says nothing.
pub fn village_weather(category: &str, value: &str) -> Option<Weather> {
    match (category, value.trim()) {
        ("PTY", "2" | "3") => Some(Weather::Snow),
        ("PTY", "1" | "4") => Some(Weather::Rain),
        ("SKY", "4") => Some(Weather::Overcast),
        ("SKY", "3") => Some(Weather::SomeCloud),
        ("SKY", "1") => Some(Weather::Clear),
        _ => None,
    }
}

/// The village forecast folded per day. An hour with precipitation outranks any sky state, so the
/// day's value is the highest over all of its items; a day no item speaks of is absent.
pub fn fold_village(items: &[VillageItem]) -> DailyWeather {
    let mut days = DailyWeather::new();
    for item in items {
        let Some(weather) = village_weather(&item.category, &item.fcst_value) else { continue };
        let Ok(date) = NaiveDate::parse_from_str(&item.fcst_date, "%Y%m%d") else { continue };
        days.entry(date).and_modify(|w| *w = (*w).max(weather)).or_insert(weather);
    }
    days
}

/// The weather a mid-term `wf` phrase names (`맑음`, `구름많고 비`, `흐리고 비/눈`...): any snow
/// (also mixed with rain, as `PTY` 2) is snow, rain or showers rain, then the sky.
pub fn mid_weather(phrase: &str) -> Option<Weather> {
    if phrase.contains('눈') {
        Some(Weather::Snow)
    } else if phrase.contains('비') || phrase.contains("소나기") {
        Some(Weather::Rain)
    } else if phrase.contains("흐") {
        Some(Weather::Overcast)
    } else if phrase.contains("구름") {
        Some(Weather::SomeCloud)
    } else if phrase.contains('맑') {
        Some(Weather::Clear)
    } else {
        None
    }
}

/// A mid-term land forecast item folded per day. `wf{N}Am`/`wf{N}Pm` and the single `wf{N}` are
/// for `N` days after the issue's date, whichever day the issue starts at (`wf3Am` in older
/// issues, `wf4Am` in newer ones); a day is the higher of its morning and afternoon.
pub fn fold_mid(issued: NaiveDate, item: &serde_json::Map<String, serde_json::Value>) -> DailyWeather {
    let mut days = DailyWeather::new();
    for (key, value) in item {
        let Some(rest) = key.strip_prefix("wf") else { continue };
        let digits = rest.trim_end_matches("Am").trim_end_matches("Pm");
        let (Ok(offset), Some(phrase)) = (digits.parse::<u64>(), value.as_str()) else { continue };
        let (Some(date), Some(weather)) = (issued.checked_add_days(Days::new(offset)), mid_weather(phrase)) else { continue };
        days.entry(date).and_modify(|w| *w = (*w).max(weather)).or_insert(weather);
    }
    days
}

/// A mid-term land forecast region (`regId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(pub &'static str);

/// Cities of each land region; a point belongs to the region of the nearest one. Coarse near
/// the borders between regions, which share most of their weather anyway.
const REGION_POINTS: [(&str, f64, f64); 27] = [
    ("11B00000", 37.5665, 126.9780), // Seoul (Seoul, Incheon, Gyeonggi)
    ("11B00000", 37.4563, 126.7052), // Incheon
    ("11B00000", 37.2636, 127.0286), // Suwon
    ("11B00000", 37.7381, 127.0337), // Uijeongbu
    ("11D10000", 37.8813, 127.7298), // Chuncheon (Gangwon west)
    ("11D10000", 37.3422, 127.9202), // Wonju
    ("11D20000", 37.7519, 128.8761), // Gangneung (Gangwon east)
    ("11D20000", 38.2070, 128.5918), // Sokcho
    ("11D20000", 37.5247, 129.1143), // Donghae
    ("11C20000", 36.3504, 127.3845), // Daejeon (Daejeon, Sejong, Chungnam)
    ("11C20000", 36.8151, 127.1139), // Cheonan
    ("11C20000", 36.7848, 126.4503), // Seosan
    ("11C10000", 36.6424, 127.4890), // Cheongju (Chungbuk)
    ("11C10000", 36.9910, 127.9259), // Chungju
    ("11F20000", 35.1595, 126.8526), // Gwangju (Gwangju, Jeonnam)
    ("11F20000", 34.8118, 126.3922), // Mokpo
    ("11F20000", 34.7604, 127.6622), // Yeosu
    ("11F10000", 35.8242, 127.1480), // Jeonju (Jeonbuk)
    ("11F10000", 35.9676, 126.7366), // Gunsan
    ("11H10000", 35.8714, 128.6014), // Daegu (Daegu, Gyeongbuk)
    ("11H10000", 36.5684, 128.7294), // Andong
    ("11H10000", 36.0190, 129.3435), // Pohang
    ("11H20000", 35.1796, 129.0756), // Busan (Busan, Ulsan, Gyeongnam)
    ("11H20000", 35.5384, 129.3114), // Ulsan
    ("11H20000", 35.2280, 128.6811), // Changwon
    ("11G00000", 33.4996, 126.5312), // Jeju
    ("11G00000", 33.2541, 126.5600), // Seogwipo
];

/// The mid-term land region of `at`: that of the nearest city in the table. Only meaningful on
/// the village grid (callers check [`super::grid::cell`] first).
pub fn region(at: LatLon) -> Region {
    let nearest = REGION_POINTS
        .iter()
        .map(|&(id, lat, lon)| (id, at.distance_km(LatLon { lat, lon })))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(REGION_POINTS[0].0, |(id, _)| id);
    Region(nearest)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(category: &str, date: &str, value: &str) -> VillageItem {
        VillageItem { category: category.into(), fcst_date: date.into(), fcst_value: value.into() }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    #[test]
    fn each_village_code_has_its_weather() {
        assert_eq!(village_weather("PTY", "3"), Some(Weather::Snow));
        assert_eq!(village_weather("PTY", "2"), Some(Weather::Snow));
        assert_eq!(village_weather("PTY", "1"), Some(Weather::Rain));
        assert_eq!(village_weather("PTY", "4"), Some(Weather::Rain));
        assert_eq!(village_weather("PTY", "0"), None);
        assert_eq!(village_weather("SKY", "4"), Some(Weather::Overcast));
        assert_eq!(village_weather("SKY", "3"), Some(Weather::SomeCloud));
        assert_eq!(village_weather("SKY", "1"), Some(Weather::Clear));
        assert_eq!(village_weather("PCP", "강수없음"), None);
        assert_eq!(village_weather("TMP", "4"), None);
    }

    #[test]
    fn a_day_takes_the_highest_priority_of_its_hours() {
        let items = [
            // 1 Dec: clear all day but one overcast hour.
            item("SKY", "20261201", "1"),
            item("PTY", "20261201", "0"),
            item("SKY", "20261201", "4"),
            item("SKY", "20261201", "1"),
            // 2 Dec: cloud, and one hour of showers under a clear sky.
            item("SKY", "20261202", "3"),
            item("SKY", "20261202", "1"),
            item("PTY", "20261202", "4"),
            // 3 Dec: rain, then rain and snow.
            item("PTY", "20261203", "1"),
            item("PTY", "20261203", "2"),
            item("SKY", "20261203", "4"),
            // 4 Dec: only clear.
            item("SKY", "20261204", "1"),
            item("TMP", "20261204", "-3"),
            // 5 Dec: nothing the fold reads.
            item("TMP", "20261205", "2"),
            item("SKY", "not a date", "4"),
        ];
        let days = fold_village(&items);
        let expected =
            [(day(1), Weather::Overcast), (day(2), Weather::Rain), (day(3), Weather::Snow), (day(4), Weather::Clear)].into_iter().collect();
        assert_eq!(days, expected);
    }

    #[test]
    fn mid_term_phrases_fold_like_the_codes() {
        assert_eq!(mid_weather("맑음"), Some(Weather::Clear));
        assert_eq!(mid_weather("구름많음"), Some(Weather::SomeCloud));
        assert_eq!(mid_weather("흐림"), Some(Weather::Overcast));
        assert_eq!(mid_weather("구름많고 비"), Some(Weather::Rain));
        assert_eq!(mid_weather("흐리고 소나기"), Some(Weather::Rain));
        assert_eq!(mid_weather("구름많고 소나기"), Some(Weather::Rain));
        assert_eq!(mid_weather("흐리고 눈"), Some(Weather::Snow));
        assert_eq!(mid_weather("구름많고 비/눈"), Some(Weather::Snow));
        assert_eq!(mid_weather("흐리고 비/눈"), Some(Weather::Snow));
        assert_eq!(mid_weather(""), None);
    }

    #[test]
    fn mid_term_days_count_from_the_issue_whichever_day_it_starts_at() {
        let older = json!({"regId": "11B00000", "rnSt3Am": 20, "wf3Am": "맑음", "wf3Pm": "구름많고 비", "wf4Am": "흐림", "wf4Pm": "맑음",
            "wf7Am": "구름많음", "wf7Pm": "구름많음", "wf8": "흐리고 눈", "wf10": "맑음", "wf9": 3});
        let days = fold_mid(day(1), older.as_object().unwrap());
        let expected = [
            (day(4), Weather::Rain),
            (day(5), Weather::Overcast),
            (day(8), Weather::SomeCloud),
            (day(9), Weather::Snow),
            (day(11), Weather::Clear),
        ];
        assert_eq!(days, expected.into_iter().collect());
        let newer = json!({"regId": "11B00000", "wf4Am": "흐리고 비/눈", "wf4Pm": "맑음", "wf5Am": "맑음", "wf5Pm": "구름많음"});
        let days = fold_mid(day(1), newer.as_object().unwrap());
        assert_eq!(days, [(day(5), Weather::Snow), (day(6), Weather::SomeCloud)].into_iter().collect());
    }

    #[test]
    fn points_belong_to_the_region_of_the_nearest_city() {
        let region = |lat, lon| region(LatLon::new(lat, lon).unwrap()).0;
        assert_eq!(region(37.5665, 126.9780), "11B00000", "Seoul City Hall");
        assert_eq!(region(35.1798, 129.0750), "11H20000", "Busan City Hall");
        assert_eq!(region(33.4996, 126.5312), "11G00000", "Jeju City Hall");
        assert_eq!(region(33.2500, 126.4100), "11G00000", "Jungmun, Seogwipo");
        assert_eq!(region(37.7900, 128.9200), "11D20000", "Gyeongpo beach, Gangneung");
        assert_eq!(region(37.4700, 126.6200), "11B00000", "Incheon");
        assert_eq!(region(35.1500, 126.9200), "11F20000", "Gwangju");
        assert_eq!(region(36.4800, 127.2900), "11C20000", "Sejong");
    }
}
