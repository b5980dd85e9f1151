//! The month calendar and the calendar feeds, black-box on both backends, with birthdays and the
//! start date from a local stand-in of user-couple (`peers`), and the feed read back with a real
//! iCalendar parser.

use std::io::BufReader;

use couple_common::test_util::{Backend, TestUser, test_couple};
use ical::parser::ical::component::IcalCalendar;
use reqwest::{Method, StatusCode, header};
use rstest::rstest;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    peers::{Peers, down_urls},
    support::{TestApp, spawn_with},
};

const BASE_URL: &str = "https://couple.example.com";

/// The service with both peers served by a stand-in, feeds handed out under [`BASE_URL`].
async fn spawn(backend: Backend) -> Option<(TestApp, Peers)> {
    let peers = Peers::start().await;
    let app = spawn_with(backend, |config| {
        config.peers = peers.urls();
        config.public_base_url = format!("{BASE_URL}/");
    })
    .await?;
    Some((app, peers))
}

/// A couple user-couple knows: together since 2026-09-05 (D+100 is 2026-12-13), 민수 born on
/// Christmas Eve 1996, 지영 on 1997-02-28.
fn known_couple(peers: &Peers) -> (TestUser, TestUser, Uuid) {
    let (a, b, id) = test_couple();
    peers.couple(id, "우리, 둘", "2026-09-05", &[(a.id, "민수", "1996-12-24"), (b.id, "지영", "1997-02-28")]);
    (a, b, id)
}

/// December's schedules and a Christmas Eve date, made by `a`: one schedule at 00:30 on 1 December
/// Seoul time (30 November in UTC), one late on 30 November (November, in Seoul), one on New
/// Year's Eve.
async fn december(app: &TestApp, a: &TestUser) -> (Value, Value, Value) {
    let first = app.schedule(a, "첫 눈 보기", "2026-12-01T00:30:00+09:00").await;
    app.schedule(a, "11월 마지막", "2026-11-30T23:30:00+09:00").await;
    let last = app.schedule(a, "새해; 카운트다운, 함께", "2026-12-31T23:59:00+09:00").await;
    let meeting =
        app.meeting(a, json!({"name": "크리스마스 데이트", "date": "2026-12-24", "startTime": "17:00", "endTime": "21:00"})).await;
    (first, last, meeting)
}

fn day(date: &str, items: Value) -> Value {
    json!({"date": date, "items": items})
}

#[rstest]
#[tokio::test]
async fn the_month_merges_schedules_meetings_birthdays_and_the_next_anniversary_by_seoul_day(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((app, peers)) = spawn(backend).await else { return };
    let (a, b, _) = known_couple(&peers);
    let (first, last, meeting) = december(&app, &a).await;
    let expected = json!({
        "year": 2026, "month": 12, "partial": false, "missing": [],
        "days": [
            day("2026-12-01", json!([{"type": "schedule", "id": first["id"], "title": "첫 눈 보기", "time": "00:30"}])),
            day("2026-12-13", json!([{"type": "anniversary", "id": "anniversary-d100", "title": "D+100"}])),
            day("2026-12-24", json!([
                {"type": "birthday", "id": format!("birthday-{}", a.id), "title": "민수 생일"},
                {"type": "meeting", "id": meeting["id"], "title": "크리스마스 데이트", "startTime": "17:00", "endTime": "21:00"},
            ])),
            day("2026-12-31", json!([{"type": "schedule", "id": last["id"], "title": "새해; 카운트다운, 함께", "time": "23:59"}])),
        ],
    });
    // Both partners see the same month.
    assert_eq!(app.get("/api/schedules/calendar?year=2026&month=12", &a).await, expected);
    assert_eq!(app.get("/api/schedules/calendar?year=2026&month=12", &b).await, expected);
    // November holds the late schedule; February 2027 지영's birthday; March 2027 D+200.
    let november = app.get("/api/schedules/calendar?year=2026&month=11", &b).await;
    assert_eq!(november["days"].as_array().unwrap().len(), 1);
    assert_eq!(
        (november["days"][0]["date"].as_str(), november["days"][0]["items"][0]["time"].as_str()),
        (Some("2026-11-30"), Some("23:30"))
    );
    let february = app.get("/api/schedules/calendar?year=2027&month=02", &a).await;
    assert_eq!(
        february["days"],
        json!([day("2027-02-28", json!([{"type": "birthday", "id": format!("birthday-{}", b.id), "title": "지영 생일"}]))])
    );
    let march = app.get("/api/schedules/calendar?year=2027&month=3", &a).await;
    assert_eq!(march["days"], json!([day("2027-03-23", json!([{"type": "anniversary", "id": "anniversary-d200", "title": "D+200"}]))]));
    let september = app.get("/api/schedules/calendar?year=2027&month=9", &a).await;
    assert_eq!(september["days"][0], day("2027-09-05", json!([{"type": "anniversary", "id": "anniversary-y1", "title": "1주년"}])));
    // Another couple sees their own anniversary (D+700 from 2025-01-01) and nothing of this couple's.
    let (c, d, other) = test_couple();
    peers.couple(other, "", "2025-01-01", &[(c.id, "철수", "1990-06-01"), (d.id, "영희", "1991-07-01")]);
    let theirs = app.get("/api/schedules/calendar?year=2026&month=12", &c).await;
    assert_eq!(theirs["days"], json!([day("2026-12-01", json!([{"type": "anniversary", "id": "anniversary-d700", "title": "D+700"}]))]));
}

#[rstest]
#[tokio::test]
async fn with_user_couple_down_the_month_has_schedules_and_meetings_and_says_it_is_partial(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((app, peers)) = spawn(backend).await else { return };
    let (a, _, _) = known_couple(&peers);
    let (first, last, meeting) = december(&app, &a).await;
    // Another instance of the service on the same data, with user-couple not running.
    let down = app.another(|config| config.peers = down_urls()).await;
    let (status, body) = down.call(Method::GET, "/api/schedules/calendar?year=2026&month=12", Some(&a.token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let month = &body["data"];
    assert_eq!((month["partial"].clone(), month["missing"].clone()), (json!(true), json!(["birthdays", "anniversaries"])));
    let ids: Vec<&Value> =
        month["days"].as_array().unwrap().iter().flat_map(|d| d["items"].as_array().unwrap()).map(|i| &i["id"]).collect();
    assert_eq!(ids, [&first["id"], &meeting["id"], &last["id"]]);
    // A stand-in answering 503 is the same: partial, not an error.
    let (c, _, _) = known_couple(&peers);
    peers.go_down();
    let partial = app.get("/api/schedules/calendar?year=2026&month=12", &c).await;
    assert_eq!((partial["partial"].clone(), partial["days"].clone()), (json!(true), json!([])));
}

#[rstest]
#[tokio::test]
async fn the_month_needs_a_couple_and_a_valid_year_and_month(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((app, peers)) = spawn(backend).await else { return };
    let (a, _, _) = known_couple(&peers);
    for query in ["", "?year=2026", "?month=3", "?year=abc&month=3", "?year=2026&month=march", "?year=2026&month=1.5"] {
        let body = app.expect(Method::GET, &format!("/api/schedules/calendar{query}"), &a, None, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["error"]["code"], "INVALID_QUERY", "{query}: {body}");
    }
    assert_eq!(app.invalid(Method::GET, "/api/schedules/calendar?year=2026&month=13", &a, None).await, ["month"]);
    assert_eq!(app.invalid(Method::GET, "/api/schedules/calendar?year=1969&month=0", &a, None).await, ["month", "year"]);
    assert_eq!(app.invalid(Method::GET, "/api/schedules/calendar?year=2101&month=1", &a, None).await, ["year"]);
    let single = TestUser::new(None);
    let body = app.expect(Method::GET, "/api/schedules/calendar?year=2026&month=12", &single, None, StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"]["code"], "NO_COUPLE");
    // A couple in the token that user-couple does not know, or not with this user, is no couple.
    let (stranger, _, _) = test_couple();
    let body = app.expect(Method::GET, "/api/schedules/calendar?year=2026&month=12", &stranger, None, StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"]["code"], "NO_COUPLE");
    let (status, _) = app.call(Method::GET, "/api/schedules/calendar?year=2026&month=12", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// `GET` of a feed URL with no token: the status, the content type and the body.
async fn fetch(app: &TestApp, url: &str) -> (StatusCode, String, String) {
    let path = url.strip_prefix(BASE_URL).expect("the URL is under the public base URL");
    let response = app.http.get(app.url(path)).send().await.unwrap();
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (response.status(), content_type, response.text().await.unwrap())
}

fn parse(text: &str) -> IcalCalendar {
    ical::IcalParser::new(BufReader::new(text.as_bytes())).next().expect("a calendar").expect("the feed parses")
}

fn prop<'a>(props: &'a [ical::property::Property], name: &str) -> Option<&'a str> {
    props.iter().find(|p| p.name == name).and_then(|p| p.value.as_deref())
}

/// UID → SUMMARY of every event.
fn summaries(calendar: &IcalCalendar) -> Vec<(String, String)> {
    calendar
        .events
        .iter()
        .map(|e| (prop(&e.properties, "UID").unwrap().to_owned(), prop(&e.properties, "SUMMARY").unwrap().to_owned()))
        .collect()
}

#[rstest]
#[tokio::test]
async fn partners_create_list_and_revoke_feeds_and_a_feed_is_the_couples_calendar_in_icalendar(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let logs = couple_common::telemetry::CapturedLogs::start();
    let Some((app, peers)) = spawn(backend).await else { return };
    let (a, b, couple_id) = known_couple(&peers);
    let (first, _, meeting) = december(&app, &a).await;
    let feed = app.expect(Method::POST, "/api/calendar/feeds", &a, None, StatusCode::CREATED).await["data"].clone();
    let url = feed["url"].as_str().unwrap().to_owned();
    let secret = url.strip_prefix(&format!("{BASE_URL}/api/calendar/feeds/")).and_then(|s| s.strip_suffix(".ics")).unwrap().to_owned();
    assert_eq!(secret.len(), 43, "{url}");
    assert_eq!((feed["createdBy"].as_str(), feed["createdAt"].as_str()), (Some(a.id.to_string().as_str()), Some("2026-12-01T03:00:00Z")));
    assert_eq!(app.get("/api/calendar/feeds", &b).await, json!([feed]), "the partner sees it too");

    let (status, content_type, text) = fetch(&app, &url).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "text/calendar; charset=utf-8"));
    let calendar = parse(&text);
    assert_eq!(prop(&calendar.properties, "X-WR-CALNAME"), Some("우리\\, 둘"));
    let events = summaries(&calendar);
    let has = |uid: String, summary: &str| events.contains(&(format!("{uid}@couple-platform"), summary.to_owned()));
    assert!(has(format!("schedule-{}", first["id"].as_str().unwrap()), "첫 눈 보기"), "{events:?}");
    assert!(events.iter().any(|(_, s)| s == "새해\\; 카운트다운\\, 함께"), "escaped: {events:?}");
    assert!(has(format!("meeting-{}", meeting["id"].as_str().unwrap()), "크리스마스 데이트"));
    assert!(has(format!("birthday-{}", a.id), "민수 생일") && has(format!("birthday-{}", b.id), "지영 생일"));
    assert!(has(format!("anniversary-d100-{couple_id}"), "D+100") && has(format!("anniversary-yearly-{couple_id}"), "1주년"));
    let christmas = calendar.events.iter().find(|e| prop(&e.properties, "SUMMARY") == Some("크리스마스 데이트")).unwrap();
    // 17:00 to 21:00 in Seoul.
    assert_eq!(
        (prop(&christmas.properties, "DTSTART"), prop(&christmas.properties, "DTEND")),
        (Some("20261224T080000Z"), Some("20261224T120000Z"))
    );
    assert!(prop(&christmas.properties, "LOCATION").is_some_and(|l| !l.is_empty()));

    // Another couple can neither see nor revoke it.
    let (c, _, other) = test_couple();
    peers.couple(other, "그들", "2025-01-01", &[(c.id, "철수", "1990-06-01")]);
    assert_eq!(app.get("/api/calendar/feeds", &c).await, json!([]));
    let feed_path = format!("/api/calendar/feeds/{}", feed["id"].as_str().unwrap());
    app.expect(Method::DELETE, &feed_path, &c, None, StatusCode::NOT_FOUND).await;
    assert_eq!(fetch(&app, &url).await.0, StatusCode::OK);

    // The partner revokes it: the URL stops working at once.
    app.expect(Method::DELETE, &feed_path, &b, None, StatusCode::NO_CONTENT).await;
    let (status, _, body) = fetch(&app, &url).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(app.get("/api/calendar/feeds", &a).await, json!([]));
    app.expect(Method::DELETE, &feed_path, &a, None, StatusCode::NOT_FOUND).await;

    // The secret is in no log line; the feed's requests are logged.
    let logs = logs.text();
    assert!(logs.contains("/api/calendar/feeds/{segment}"), "the feed's requests are in the access log: {logs}");
    assert!(logs.contains("/api/calendar/feeds/***.ics"), "the access log names the feed's path with the secret masked: {logs}");
    assert!(!logs.contains(&secret), "a log line holds the feed's secret: {logs}");
}

#[rstest]
#[tokio::test]
async fn unknown_secrets_other_paths_and_ended_couples_get_404_and_user_couple_down_503(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((app, peers)) = spawn(backend).await else { return };
    let (a, _, couple_id) = known_couple(&peers);
    let feed = app.expect(Method::POST, "/api/calendar/feeds", &a, None, StatusCode::CREATED).await["data"].clone();
    let url = feed["url"].as_str().unwrap();
    let unknown = format!("{BASE_URL}/api/calendar/feeds/{}.ics", "A".repeat(43));
    for other in
        [unknown.as_str(), &url.replace(".ics", ""), &url.replace(".ics", ".ical"), &format!("{BASE_URL}/api/calendar/feeds/x.ics")]
    {
        let (status, _, body) = fetch(&app, other).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{other}: {body}");
    }
    let (status, _, body) = fetch(&app, &format!("{BASE_URL}/api/calendar/feeds/{}", feed["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an id is no secret: {body}");
    // user-couple not running: 503, so that subscribed calendars keep their last copy.
    let down = app.another(|config| config.peers = down_urls()).await;
    let path = url.strip_prefix(BASE_URL).unwrap();
    let response = down.http.get(down.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "PEER_UNAVAILABLE");
    // The couple ends: its feed stops serving (a fresh instance, past the couple cache).
    peers.end(couple_id);
    let fresh = app.another(|_| {}).await;
    let response = fresh.http.get(fresh.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[rstest]
#[tokio::test]
async fn a_couple_has_at_most_five_active_feeds_and_feeds_need_a_couple(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((app, peers)) = spawn(backend).await else { return };
    let (a, b, _) = known_couple(&peers);
    let mut ids = Vec::new();
    for made_by in [&a, &b, &a, &b, &a] {
        ids.push(app.expect(Method::POST, "/api/calendar/feeds", made_by, None, StatusCode::CREATED).await["data"]["id"].clone());
    }
    let listed: Vec<Value> = app.get("/api/calendar/feeds", &a).await.as_array().unwrap().iter().map(|f| f["id"].clone()).collect();
    assert_eq!(listed, ids, "oldest first");
    let body = app.expect(Method::POST, "/api/calendar/feeds", &b, None, StatusCode::CONFLICT).await;
    assert_eq!(body["error"]["code"], "FEED_LIMIT");
    app.expect(Method::DELETE, &format!("/api/calendar/feeds/{}", ids[0].as_str().unwrap()), &a, None, StatusCode::NO_CONTENT).await;
    app.expect(Method::POST, "/api/calendar/feeds", &b, None, StatusCode::CREATED).await;
    // No couple: 403 on every feed route; no token: 401; a revoke path that is no id: 404.
    let single = TestUser::new(None);
    for (method, path) in [(Method::GET, "/api/calendar/feeds"), (Method::POST, "/api/calendar/feeds")] {
        let body = app.expect(method.clone(), path, &single, None, StatusCode::FORBIDDEN).await;
        assert_eq!(body["error"]["code"], "NO_COUPLE", "{method} {path}");
        assert_eq!(app.call(method, path, None, None).await.0, StatusCode::UNAUTHORIZED);
    }
    app.expect(Method::DELETE, "/api/calendar/feeds/not-an-id", &a, None, StatusCode::NOT_FOUND).await;
}
