//! The weather cards and `Forecasts`, black-box: the real service on a free port with a clock
//! the test sets, against the KMA stand-in (`kma`). The service's database is a throwaway SQLite
//! file: the weather does not store anything, so one backend is enough.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use couple_common::{
    JwtKeys, Role,
    clock::{self, Clock},
    config::SharedConfig,
    jwt::TokenSubject,
    test_util::{self, TestDatabase, TestServer},
};
use reqwest::{Method, StatusCode};
use schedule_meeting::{
    Config, ScheduleMeeting,
    domain::{LatLon, Weather},
    weather::{Forecasts, WeatherError},
};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::kma::{BAD_KEY_XML, Fault, KEY, Kma, Op, hours};

const SEOUL_CITY_HALL: (f64, f64) = (37.5665, 126.9780);

/// `hh:mm` Korea time on `day` December 2026.
fn kst(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(9 * 3600).unwrap().with_ymd_and_hms(2026, 12, day, hour, minute, 0).unwrap().with_timezone(&Utc)
}

fn dec(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, day).unwrap()
}

/// A token for a member of a couple (or of none).
fn token(couple: bool) -> String {
    let keys = JwtKeys::from_config(&test_util::shared_config());
    keys.issue(TokenSubject { user_id: Uuid::now_v7(), couple_id: couple.then(Uuid::now_v7), role: Role::User, version: 0 }).0
}

/// The service with its weather at `kma`, its clock at `at`, the stand-in's key configured.
struct App {
    server: TestServer,
    clock: Clock,
    token: String,
    _db: TestDatabase,
}

fn config(kma: &Kma, at: DateTime<Utc>, db: &TestDatabase) -> Config {
    let mut config = Config::default();
    config.database.database_url = db.url().to_owned();
    config.weather_api_key = Some(SecretString::from(KEY));
    config.weather_base_url = kma.url();
    config.clock = Clock::manual(at);
    config
}

async fn spawn(kma: &Kma, at: DateTime<Utc>, tweak: impl FnOnce(&mut Config, &mut SharedConfig)) -> App {
    let db = TestDatabase::sqlite();
    let mut config = config(kma, at, &db);
    let mut shared = test_util::shared_config();
    tweak(&mut config, &mut shared);
    let server = TestServer::spawn::<ScheduleMeeting>(&config, &shared).await;
    App { server, clock: config.clock, token: token(true), _db: db }
}

impl App {
    /// `GET /api/meetings/weather-cards` at `(lat, lon)` as a member of a couple.
    async fn cards(&self, (lat, lon): (f64, f64)) -> (StatusCode, Value) {
        self.server.call(Method::GET, &format!("/api/meetings/weather-cards?lat={lat}&lon={lon}"), Some(&self.token), None).await
    }

    /// The cards, expecting 200, as `(date, weather)`.
    async fn ok_cards(&self, at: (f64, f64)) -> Vec<(String, Value)> {
        let (status, body) = self.cards(at).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].as_array().unwrap().iter().map(|card| (card["date"].as_str().unwrap().to_owned(), card["weather"].clone())).collect()
    }

    /// The error, expecting 503 `WEATHER_UNAVAILABLE`: its message.
    async fn unavailable(&self, at: (f64, f64)) -> String {
        let (status, body) = self.cards(at).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("WEATHER_UNAVAILABLE")), "{body}");
        body["message"].as_str().unwrap().to_owned()
    }
}

fn cards(expected: &[(u32, Option<&str>)]) -> Vec<(String, Value)> {
    expected.iter().map(|&(day, weather)| (dec(day).to_string(), weather.map_or(Value::Null, |w| json!(w)))).collect()
}

/// A newer mid-term item: its days start at 4 (`wf4Am`).
fn mid_from_day_4(day4: (&str, &str), day5: (&str, &str)) -> Value {
    json!({"regId": "11B00000", "rnSt4Am": 20, "rnSt4Pm": 30, "rnSt5Am": 40, "rnSt5Pm": 60,
        "wf4Am": day4.0, "wf4Pm": day4.1, "wf5Am": day5.0, "wf5Pm": day5.1, "wf6Am": "맑음", "wf6Pm": "맑음",
        "wf7Am": "구름많음", "wf7Pm": "구름많음", "rnSt8": 20, "wf8": "맑음", "wf9": "흐림", "wf10": "흐리고 비"})
}

/// An older mid-term item: its days start at 3 (`wf3Am`).
fn mid_from_day_3(day3: (&str, &str), day4: (&str, &str)) -> Value {
    json!({"regId": "11B00000", "rnSt3Am": 20, "rnSt3Pm": 30, "wf3Am": day3.0, "wf3Pm": day3.1, "wf4Am": day4.0, "wf4Pm": day4.1,
        "wf5Am": "맑음", "wf5Pm": "맑음", "wf6Am": "맑음", "wf6Pm": "맑음", "wf7Am": "흐림", "wf7Pm": "흐림", "wf8": "맑음", "wf9": "맑음", "wf10": "맑음"})
}

/// The village forecast of the first test: each day a different fold.
fn four_days() -> Vec<(NaiveDate, [(u8, u8); 24])> {
    let mut overcast_hour = hours(1);
    overcast_hour[15] = (0, 4);
    let mut one_shower = hours(1);
    one_shower[9] = (4, 1);
    let mut rain_then_sleet = hours(4);
    rain_then_sleet[6] = (1, 4);
    rain_then_sleet[20] = (2, 4);
    vec![(dec(2), overcast_hour), (dec(3), one_shower), (dec(4), rain_then_sleet), (dec(5), hours(3))]
}

fn query<'a>(request: &'a (Op, std::collections::BTreeMap<String, String>), name: &str) -> &'a str {
    request.1.get(name).map_or("", String::as_str)
}

#[tokio::test]
async fn at_02_11_the_cards_fold_todays_0200_village_forecast_and_take_the_last_day_from_the_mid_term() {
    let kma = Kma::start().await;
    kma.village("20261202", "0200", four_days());
    kma.mid("202612011800", mid_from_day_4(("맑음", "맑음"), ("구름많음", "흐리고 비")));
    let app = spawn(&kma, kst(2, 2, 11), |_, _| {}).await;
    let expected = cards(&[(2, Some("흐림")), (3, Some("비")), (4, Some("눈")), (5, Some("구름 조금")), (6, Some("비"))]);
    assert_eq!(app.ok_cards(SEOUL_CITY_HALL).await, expected);
    let requests = kma.requests();
    // About 1,100 items: two pages of 1,000.
    assert_eq!(
        requests.iter().map(|r| (r.0, query(r, "pageNo"))).collect::<Vec<_>>(),
        [(Op::Village, "1"), (Op::Village, "2"), (Op::Mid, "1")]
    );
    for village in &requests[..2] {
        let asked = ["base_date", "base_time", "nx", "ny", "dataType", "serviceKey"].map(|name| query(village, name));
        assert_eq!(asked, ["20261202", "0200", "60", "127", "JSON", KEY]);
    }
    assert_eq!(
        [query(&requests[2], "regId"), query(&requests[2], "tmFc"), query(&requests[2], "dataType")],
        ["11B00000", "202612011800", "JSON"]
    );
}

#[tokio::test]
async fn at_02_09_the_previous_days_2300_issue_is_asked_for_and_serves_until_0200_is_out() {
    let kma = Kma::start().await;
    kma.village("20261201", "2300", vec![(dec(1), hours(4)), (dec(2), hours(1)), (dec(3), hours(3)), (dec(4), hours(4))]);
    kma.mid("202612011800", mid_from_day_4(("흐림", "구름많음"), ("구름많고 눈", "맑음")));
    let app = spawn(&kma, kst(2, 2, 9), |_, _| {}).await;
    let expected = cards(&[(2, Some("맑음")), (3, Some("구름 조금")), (4, Some("흐림")), (5, Some("흐림")), (6, Some("눈"))]);
    assert_eq!(app.ok_cards(SEOUL_CITY_HALL).await, expected);
    let village = kma.requests().into_iter().find(|r| r.0 == Op::Village).unwrap();
    assert_eq!([query(&village, "base_date"), query(&village, "base_time")], ["20261201", "2300"]);
    // Two minutes later today's 0200 is due; while KMA has no data for it, the 2300 issue (cached) serves.
    app.clock.set(kst(2, 2, 11));
    let before = kma.count();
    assert_eq!(app.ok_cards(SEOUL_CITY_HALL).await, expected);
    let asked: Vec<_> =
        kma.requests()[before..].iter().map(|r| (r.0, query(r, "base_date").to_owned(), query(r, "base_time").to_owned())).collect();
    assert_eq!(
        asked,
        [(Op::Village, "20261202".to_owned(), "0200".to_owned())],
        "asked once for 0200; 2300 and the mid-term came from the cache"
    );
    // Once it is out, it is used.
    kma.village("20261202", "0200", vec![(dec(2), hours(4)), (dec(3), hours(4)), (dec(4), hours(4)), (dec(5), hours(4))]);
    let now = app.ok_cards(SEOUL_CITY_HALL).await;
    assert_eq!(now[..4], cards(&[(2, Some("흐림")), (3, Some("흐림")), (4, Some("흐림")), (5, Some("흐림"))]));
}

#[tokio::test]
async fn an_older_mid_term_issue_starting_at_day_3_fills_the_days_the_village_forecast_lacks() {
    let kma = Kma::start().await;
    // At 14:00 the village issue is 1100 and the mid-term one 0600 of the same day.
    kma.village("20261202", "1100", vec![(dec(2), hours(1)), (dec(3), hours(1)), (dec(4), hours(1))]);
    kma.mid("202612020600", mid_from_day_3(("흐리고 소나기", "맑음"), ("구름많음", "구름많음")));
    let app = spawn(&kma, kst(2, 14, 0), |_, _| {}).await;
    let expected = cards(&[(2, Some("맑음")), (3, Some("맑음")), (4, Some("맑음")), (5, Some("비")), (6, Some("구름 조금"))]);
    assert_eq!(app.ok_cards(SEOUL_CITY_HALL).await, expected);
}

#[tokio::test]
async fn a_mid_term_issue_not_yet_out_falls_back_to_the_previous_one_and_a_failing_one_leaves_its_day_null() {
    let kma = Kma::start().await;
    kma.village("20261202", "0200", vec![(dec(2), hours(1)), (dec(3), hours(1)), (dec(4), hours(1))]);
    // 1800 is not out (NODATA); the 0600 issue of the day before reaches 5 and 6 December too.
    kma.mid("202612010600", mid_from_day_4(("흐림", "흐림"), ("흐리고 비/눈", "흐림")));
    let app = spawn(&kma, kst(2, 2, 11), |_, _| {}).await;
    let expected = cards(&[(2, Some("맑음")), (3, Some("맑음")), (4, Some("맑음")), (5, Some("흐림")), (6, Some("눈"))]);
    assert_eq!(app.ok_cards(SEOUL_CITY_HALL).await, expected);
    let mids: Vec<String> = kma.requests().iter().filter(|r| r.0 == Op::Mid).map(|r| query(r, "tmFc").to_owned()).collect();
    assert_eq!(mids, ["202612011800", "202612010600"]);
    // The latest issue failing: the previous one serves if it is cached, and is not asked again.
    kma.fail(Op::Mid, Fault::Status(500));
    assert_eq!(app.ok_cards(SEOUL_CITY_HALL).await, expected);
    let mids: Vec<String> = kma.requests().iter().filter(|r| r.0 == Op::Mid).map(|r| query(r, "tmFc").to_owned()).collect();
    assert_eq!(mids, ["202612011800", "202612010600", "202612011800"]);

    // The mid-term service failing: the village forecast's days are known, the others null.
    let kma = Kma::start().await;
    kma.village("20261202", "0200", vec![(dec(2), hours(1)), (dec(3), hours(1)), (dec(4), hours(1))]);
    kma.fail(Op::Mid, Fault::Status(500));
    let app = spawn(&kma, kst(2, 2, 11), |_, _| {}).await;
    assert_eq!(
        app.ok_cards(SEOUL_CITY_HALL).await,
        cards(&[(2, Some("맑음")), (3, Some("맑음")), (4, Some("맑음")), (5, None), (6, None)])
    );
}

#[tokio::test]
async fn the_days_are_the_platforms_and_the_issue_is_koreas_whatever_the_time_zone() {
    let kma = Kma::start().await;
    kma.village("20261202", "0200", four_days());
    kma.mid("202612011800", mid_from_day_4(("맑음", "맑음"), ("구름많음", "흐리고 비")));
    // 02:11 in Korea is still 1 December in UTC: the cards start then, KMA is asked for 0200 of 2 December.
    let app = spawn(&kma, kst(2, 2, 11), |_, shared| shared.time_zone = "UTC".into()).await;
    let expected = cards(&[(1, None), (2, Some("흐림")), (3, Some("비")), (4, Some("눈")), (5, Some("구름 조금"))]);
    assert_eq!(app.ok_cards(SEOUL_CITY_HALL).await, expected);
    let village = kma.requests().into_iter().find(|r| r.0 == Op::Village).unwrap();
    assert_eq!([query(&village, "base_date"), query(&village, "base_time")], ["20261202", "0200"]);
}

#[tokio::test]
async fn answers_are_cached_per_cell_and_issue_and_per_region_and_issue() {
    let kma = Kma::start().await;
    kma.village("20261202", "0200", four_days());
    kma.village("20261202", "0500", four_days());
    kma.mid("202612011800", mid_from_day_4(("맑음", "맑음"), ("맑음", "맑음")));
    let app = spawn(&kma, kst(2, 2, 11), |_, _| {}).await;
    let first = app.ok_cards(SEOUL_CITY_HALL).await;
    assert_eq!(kma.count(), 3, "two village pages and the mid-term");
    assert_eq!(app.ok_cards(SEOUL_CITY_HALL).await, first);
    assert_eq!(kma.count(), 3, "all from the cache");
    // Gangnam: another cell, the same region.
    app.ok_cards((37.4979, 127.0276)).await;
    let asked: Vec<_> = kma.requests()[3..].iter().map(|r| (r.0, query(r, "nx").to_owned(), query(r, "ny").to_owned())).collect();
    assert_eq!(asked, [(Op::Village, "61".to_owned(), "125".to_owned()), (Op::Village, "61".to_owned(), "125".to_owned())]);
    // A new village issue is a new key; the mid-term issue is still 1800.
    app.clock.set(kst(2, 5, 10));
    app.ok_cards(SEOUL_CITY_HALL).await;
    let asked: Vec<_> = kma.requests()[5..].iter().map(|r| (r.0, query(r, "base_time").to_owned())).collect();
    assert_eq!(asked, [(Op::Village, "0500".to_owned()), (Op::Village, "0500".to_owned())]);
}

#[tokio::test]
async fn the_circuit_opens_after_consecutive_failures_and_closes_after_the_cooldown() {
    let kma = Kma::start().await;
    kma.village("20261202", "0200", four_days());
    kma.mid("202612011800", mid_from_day_4(("맑음", "맑음"), ("맑음", "맑음")));
    kma.fail(Op::Village, Fault::Status(502));
    let app = spawn(&kma, kst(2, 2, 11), |config, _| {
        config.weather_breaker_failures = 3;
        config.weather_breaker_cooldown_secs = 60;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.unavailable(SEOUL_CITY_HALL).await, "the KMA forecast service failed: KMA answered HTTP 502");
    }
    assert_eq!(kma.count(), 3);
    let open = app
        .server
        .http
        .get(app.server.url("/api/meetings/weather-cards?lat=37.5665&lon=126.978"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!((open.status(), open.headers()["retry-after"].to_str().unwrap()), (StatusCode::SERVICE_UNAVAILABLE, "60"));
    let body: Value = open.json().await.unwrap();
    assert_eq!(
        body["message"],
        "the KMA forecast service failed: KMA failed 3 times in a row (last: KMA answered HTTP 502); not asking again for 60 s"
    );
    assert_eq!(kma.count(), 3, "an open circuit does not call KMA");
    // KMA recovers; the circuit lets calls through once the cool-down is over.
    kma.heal();
    app.clock.set(kst(2, 2, 11) + chrono::Duration::seconds(30));
    app.unavailable(SEOUL_CITY_HALL).await;
    assert_eq!(kma.count(), 3);
    app.clock.set(kst(2, 2, 12) + chrono::Duration::seconds(1));
    assert_eq!(app.ok_cards(SEOUL_CITY_HALL).await.len(), 5);
    assert_eq!(kma.count(), 6);
}

#[tokio::test]
async fn each_kma_failure_is_a_503_saying_what_failed_and_no_message_or_log_line_holds_the_key() {
    let logs = couple_common::telemetry::CapturedLogs::start();
    let prefix = "the KMA forecast service failed: ";
    let cases: Vec<(Option<Fault>, Option<&str>, String)> = vec![
        (
            Some(Fault::BadKey),
            None,
            "KMA refused the service key (SERVICE_KEY_IS_NOT_REGISTERED_ERROR): check SCHEDULE_MEETING_WEATHER_API_KEY".into(),
        ),
        (
            None,
            Some("not-the-key"),
            "KMA refused the service key (SERVICE_KEY_IS_NOT_REGISTERED_ERROR): check SCHEDULE_MEETING_WEATHER_API_KEY".into(),
        ),
        (
            Some(Fault::ResultCode("22", "LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR")),
            None,
            "KMA answered resultCode 22 (LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR)".into(),
        ),
        (Some(Fault::ResultCode("03", "NODATA_ERROR")), None, "KMA answered resultCode 03 (NODATA_ERROR)".into()),
        (Some(Fault::Status(500)), None, "KMA answered HTTP 500".into()),
        (Some(Fault::Garbage), None, "KMA's answer could not be read: EOF while parsing a value".into()),
        (Some(Fault::Slow(Duration::from_secs(5))), None, "KMA did not answer within 300 ms".into()),
        (Some(Fault::EchoKey), None, "KMA answered resultCode 10 (INVALID_REQUEST_PARAMETER_ERROR(serviceKey=*** ***))".into()),
    ];
    for (fault, key, message) in cases {
        let kma = Kma::start().await;
        kma.village("20261202", "0200", four_days());
        if let Some(fault) = fault.clone() {
            kma.fail(Op::Village, fault);
        }
        let app = spawn(&kma, kst(2, 2, 11), |config, _| {
            config.weather_timeout_millis = 300;
            if let Some(key) = key {
                config.weather_api_key = Some(SecretString::from(key));
            }
        })
        .await;
        let (status, body) = app.cards(SEOUL_CITY_HALL).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{fault:?}: {body}");
        assert_eq!(
            (body["error"]["code"].as_str(), body["message"].as_str()),
            (Some("WEATHER_UNAVAILABLE"), Some(format!("{prefix}{message}").as_str())),
            "{fault:?}"
        );
        assert!(!body.to_string().contains(KEY) && !body.to_string().contains("Tst%2BKey"), "{body}");
    }
    let logs = logs.text();
    assert!(logs.contains("KMA answered HTTP 500") && logs.contains("did not answer within 300 ms"), "the failures are logged: {logs}");
    for key in [KEY, "Tst%2BKey", "not-the-key"] {
        assert!(!logs.contains(key), "a log line holds the key {key}: {logs}");
    }
}

#[tokio::test]
async fn without_a_key_the_cards_say_how_to_configure_one() {
    let kma = Kma::start().await;
    let app = spawn(&kma, kst(2, 2, 11), |config, _| config.weather_api_key = None).await;
    assert_eq!(app.unavailable(SEOUL_CITY_HALL).await, "the weather service is not configured: set SCHEDULE_MEETING_WEATHER_API_KEY");
    assert_eq!(kma.count(), 0);
}

#[tokio::test]
async fn the_portals_url_encoded_key_works_as_well_as_the_decoded_one() {
    let kma = Kma::start().await;
    kma.village("20261202", "0200", four_days());
    kma.mid("202612011800", mid_from_day_4(("맑음", "맑음"), ("맑음", "맑음")));
    let encoded = KEY.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let app = spawn(&kma, kst(2, 2, 11), |config, _| config.weather_api_key = Some(SecretString::from(encoded))).await;
    assert_eq!(app.ok_cards(SEOUL_CITY_HALL).await.len(), 5);
    assert!(kma.requests().iter().all(|r| query(r, "serviceKey") == KEY));
    assert!(BAD_KEY_XML.contains("SERVICE_KEY_IS_NOT_REGISTERED_ERROR"));
}

#[tokio::test]
async fn the_cards_need_a_couple_and_a_point_on_the_kma_grid() {
    let kma = Kma::start().await;
    let app = spawn(&kma, kst(2, 2, 11), |_, _| {}).await;
    let path = "/api/meetings/weather-cards?lat=37.5665&lon=126.978";
    let (status, body) = app.server.call(Method::GET, path, None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")));
    let (status, body) = app.server.call(Method::GET, path, Some(&token(false)), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("NO_COUPLE")));
    for query in ["", "?lat=37.5", "?lon=127", "?lat=north&lon=127", "?lat=37.5&lon="] {
        let (status, body) = app.server.call(Method::GET, &format!("/api/meetings/weather-cards{query}"), Some(&app.token), None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_QUERY")), "{query}: {body}");
    }
    for (query, fields) in [
        ("lat=91&lon=127", json!({"lat": "must be between -90 and 90"})),
        ("lat=37&lon=-181", json!({"lon": "must be between -180 and 180"})),
        ("lat=NaN&lon=inf", json!({"lat": "must be between -90 and 90", "lon": "must be between -180 and 180"})),
    ] {
        let (status, body) = app.server.call(Method::GET, &format!("/api/meetings/weather-cards?{query}"), Some(&app.token), None).await;
        assert_eq!((status, &body["error"]["fields"]), (StatusCode::UNPROCESSABLE_ENTITY, &fields), "{query}: {body}");
    }
    // Paris is a valid point, but KMA forecasts only around Korea.
    let (status, body) = app.cards((48.8566, 2.3522)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"], "outside the KMA forecast grid: weather is forecast only in and around Korea");
    assert_eq!(body["error"]["fields"]["lat"], "is outside the KMA forecast grid");
    assert_eq!(kma.count(), 0, "nothing was asked of KMA");
}

#[tokio::test]
async fn the_weather_cards_are_documented_with_every_status() {
    let kma = Kma::start().await;
    let app = spawn(&kma, kst(2, 2, 11), |_, _| {}).await;
    let (status, doc) = app.server.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let operation = &doc["paths"]["/api/meetings/weather-cards"]["get"];
    let statuses: Vec<&str> = operation["responses"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(statuses, ["200", "400", "401", "403", "422", "503"]);
    let params: Vec<&str> = operation["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(params, ["lat", "lon"]);
    assert!(test_util::dangling_refs(&doc).is_empty(), "{:?}", test_util::dangling_refs(&doc));
}

/// `Forecasts` as the recommender uses it: one day's weather.
#[tokio::test]
async fn a_days_weather_comes_from_whichever_forecast_reaches_it() {
    let kma = Kma::start().await;
    kma.village("20261202", "0200", four_days());
    kma.mid("202612011800", mid_from_day_4(("맑음", "맑음"), ("구름많음", "흐리고 비")));
    let db = TestDatabase::sqlite();
    let config = config(&kma, kst(2, 2, 11), &db);
    let seoul = clock::zone("Asia/Seoul").unwrap();
    let forecasts = Forecasts::new(&config, seoul.clone()).unwrap();
    let at = LatLon::new(SEOUL_CITY_HALL.0, SEOUL_CITY_HALL.1).unwrap();
    assert_eq!(forecasts.today(), dec(2));
    assert_eq!(forecasts.day(at, dec(3)).await, Ok(Some(Weather::Rain)));
    assert_eq!(forecasts.day(at, dec(6)).await, Ok(Some(Weather::Rain)), "from the mid-term forecast");
    assert_eq!(forecasts.day(at, dec(8)).await, Ok(Some(Weather::SomeCloud)), "wf7");
    assert_eq!(forecasts.day(at, dec(11)).await, Ok(Some(Weather::Rain)), "wf10, the mid-term forecast's last day");
    assert_eq!(forecasts.day(at, dec(12)).await, Ok(None), "ten days ahead, one more than the issue of 1 December reaches");
    let asked = kma.count();
    assert_eq!(forecasts.day(at, dec(1)).await, Ok(None), "yesterday");
    assert_eq!(forecasts.day(at, dec(20)).await, Ok(None), "beyond the mid-term forecast");
    assert_eq!(kma.count(), asked, "days no forecast reaches are not asked for");
    let paris = LatLon::new(48.8566, 2.3522).unwrap();
    assert_eq!(forecasts.day(paris, dec(3)).await, Err(WeatherError::OutsideGrid));
    assert_eq!(forecasts.day(paris, dec(20)).await, Err(WeatherError::OutsideGrid));
    let unconfigured = Forecasts::new(&Config { weather_api_key: None, ..config }, seoul).unwrap();
    assert_eq!(unconfigured.day(at, dec(3)).await, Err(WeatherError::NotConfigured));
}
