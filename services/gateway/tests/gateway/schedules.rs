//! End to end: the real schedule-meeting service next to the real user-couple and question-answer
//! services, behind the real gateway, called through the gateway as a client would (and behind it
//! only to check what erasure left). schedule-meeting calls the other two over their internal
//! endpoints, as it does in a cluster. The same backend matrix as `e2e.rs`: SQLite without Redis,
//! PostgreSQL with Redis.

use std::{collections::BTreeSet, time::Duration};

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use couple_common::{
    clock::{self, Clock},
    config::PeerUrls,
    db::PoolSettings,
    test_util::{self, Backend, TestDatabase, TestServer},
};
use couple_registry::{QUESTION_ANSWER, SCHEDULE_MEETING, USER_COUPLE};
use question_answer::QuestionAnswer;
use reqwest::{Method, StatusCode};
use rstest::rstest;
use schedule_meeting::ScheduleMeeting;
use serde_json::{Value, json};
use user_couple::store::ErasureKind;
use uuid::Uuid;

use crate::{
    e2e::{self, Restartable},
    questions,
    support::{self, TestGateway},
};

/// The platform of `e2e.rs` with question-answer and schedule-meeting behind the gateway too,
/// schedule-meeting calling user-couple and question-answer, and user-couple erasing deleted
/// accounts and couples in both. Dropped in order: gateway and user-couple, then the others.
struct Platform {
    base: e2e::Platform,
    schedule: Restartable<ScheduleMeeting>,
    qa: Restartable<QuestionAnswer>,
    /// The instant the test runs at: schedule-meeting's clock, and today's date below.
    now: DateTime<Utc>,
}

impl std::ops::Deref for Platform {
    type Target = e2e::Platform;

    fn deref(&self) -> &e2e::Platform {
        &self.base
    }
}

/// schedule-meeting's configuration over `database`, calling user-couple and question-answer at
/// their URLs, with its clock stopped at `now`.
fn schedule_config(database: &str, user_couple: &str, question_answer: &str, now: DateTime<Utc>) -> schedule_meeting::Config {
    let mut config = schedule_meeting::Config::default();
    config.database.database_url = database.to_owned();
    config.peers = PeerUrls::default().with(&USER_COUPLE, user_couple).with(&QUESTION_ANSWER, question_answer);
    // One day for the whole test, even across midnight in the platform's time zone.
    config.clock = Clock::manual(now);
    config
}

/// Starts the platform; `None` (skip) when the servers are not running.
async fn start(backend: Backend) -> Option<Platform> {
    let qa = questions::question_answer(backend).await?;
    let database = TestDatabase::create(backend).await?;
    // schedule-meeting's address first: user-couple erases in it and the gateway routes to it,
    // and it calls user-couple, which starts with the gateway.
    let (listener, schedule_url) = support::listener().await;
    let qa_url = qa.url();
    let peers = |peers: &mut PeerUrls| {
        *peers = std::mem::take(peers).with(&QUESTION_ANSWER, qa_url.clone()).with(&SCHEDULE_MEETING, schedule_url.clone())
    };
    let base = e2e::start_with(
        backend,
        |c| {
            peers(&mut c.peers);
            c.erasure_services = format!("{},{}", QUESTION_ANSWER.name, SCHEDULE_MEETING.name);
            // Retry a refused erasure every second rather than backing off to minutes.
            c.erasure_retry_max_secs = 1;
        },
        |c| peers(&mut c.peers),
    )
    .await?;
    let now = Clock::System.now();
    let mut config = schedule_config(database.url(), &base.user_couple.base, &qa_url, now);
    // Feed URLs are handed out under the gateway's address, as a client reaches it.
    config.public_base_url = base.gateway.url.clone();
    let schedule = Restartable::serve(listener, config, database).await;
    Some(Platform { base, schedule, qa, now })
}

impl Platform {
    /// Today in the platform's time zone, as schedule-meeting counts it.
    fn today(&self) -> NaiveDate {
        clock::date_in(self.now, &support::shared().time_zone())
    }

    /// A second schedule-meeting over the same database whose peers `adjust` changes (a peer made
    /// unreachable), and a gateway of its own in front of it (sharing user-couple): the same
    /// couples, tokens and data, seen through an instance that cannot reach everything.
    async fn degraded(&self, adjust: impl FnOnce(PeerUrls) -> PeerUrls) -> (TestServer, TestGateway) {
        let mut config = schedule_config(self.schedule.database.url(), &self.user_couple.base, &self.qa.url(), self.now);
        config.peers = adjust(config.peers);
        let server = TestServer::spawn::<ScheduleMeeting>(&config, &support::shared()).await;
        let gateway = support::start(support::config_with(&self.user_couple.base, &SCHEDULE_MEETING, &server.base)).await;
        (server, gateway)
    }

    /// schedule-meeting's store, to check what erasure left behind its API.
    async fn schedule_store(&self) -> std::sync::Arc<dyn schedule_meeting::store::Store> {
        schedule_meeting::store::connect(self.schedule.database.url(), PoolSettings::default()).await.unwrap()
    }
}

/// The `data` of a call through `gateway` that must answer `status`.
async fn expect(gateway: &TestGateway, method: Method, path: &str, token: Option<&str>, body: Option<Value>, status: StatusCode) -> Value {
    let (got, body) = test_util::call(&gateway.http, &gateway.url, method.clone(), path, token, body).await;
    assert_eq!(got, status, "{method} {path}: {body}");
    body["data"].clone()
}

async fn get(gateway: &TestGateway, path: &str, token: &str) -> Value {
    expect(gateway, Method::GET, path, Some(token), None, StatusCode::OK).await
}

async fn post(gateway: &TestGateway, path: &str, token: &str, body: Value) -> Value {
    expect(gateway, Method::POST, path, Some(token), Some(body), StatusCode::CREATED).await
}

/// The error code of a call through `gateway` that must answer `status`.
async fn refused(gateway: &TestGateway, method: Method, path: &str, token: &str, body: Option<Value>, status: StatusCode) -> String {
    let (got, body) = test_util::call(&gateway.http, &gateway.url, method.clone(), path, Some(token), body).await;
    assert_eq!((got, &body["success"]), (status, &json!(false)), "{method} {path}: {body}");
    body["error"]["code"].as_str().unwrap_or_default().to_owned()
}

/// The days a test plans around, from today in the platform's time zone.
#[derive(Debug, Clone, Copy)]
struct Dates {
    /// The planned date: a month ahead.
    date: NaiveDate,
    /// The first day of the month it falls in.
    month: NaiveDate,
    /// The couple's start date: its D+100 (99 days later, counting the start as day 1) is the
    /// 15th of that month, their next anniversary.
    start: NaiveDate,
}

impl Dates {
    fn from(today: NaiveDate) -> Self {
        let date = today + Days::new(30);
        let month = date.with_day(1).unwrap();
        // The 15th is at least two weeks ahead: the month starts no earlier than today.
        let start = month + Days::new(14) - Days::new(99);
        Self { date, month, start }
    }

    fn d100(&self) -> NaiveDate {
        self.month + Days::new(14)
    }

    /// The first day of the month after.
    fn next_month(&self) -> NaiveDate {
        self.month + Months::new(1)
    }

    /// `year=..&month=..` of the month starting at `first`.
    fn query(first: NaiveDate) -> String {
        format!("/api/schedules/calendar?year={}&month={}", first.year(), first.month())
    }
}

/// A birthday on `day` of the month starting at `first`, in `year`.
fn born(year: i32, first: NaiveDate, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, first.month(), day).unwrap()
}

/// A couple planning around [`Dates`]: Mina (the code's creator, born on the 3rd of the
/// planned month) and Joon (born on the 21st of the month after), together since `start`.
struct Couple {
    mina: String,
    mina_id: String,
    joon: String,
    joon_id: String,
    id: String,
    mina_birth: NaiveDate,
    joon_birth: NaiveDate,
}

async fn couple(p: &Platform, days: &Dates) -> Couple {
    let (mina_birth, joon_birth) = (born(1998, days.month, 3), born(1995, days.next_month(), 21));
    let person = |name: &str, gender: &str, birth: NaiveDate| {
        let email = format!("{}-{}@example.com", name.to_lowercase(), Uuid::new_v4().simple());
        json!({"email": email, "name": name, "gender": gender, "birth": birth.to_string()})
    };
    let mina = p.signup(person("Mina", "F", mina_birth)).await;
    let joon = p.signup(person("Joon", "M", joon_birth)).await;
    let ((mina, mina_id), (joon, joon_id), id) = p.pair(mina, joon, json!({"name": "우리", "startDate": days.start.to_string()})).await;
    Couple { mina, mina_id, joon, joon_id, id, mina_birth, joon_birth }
}

/// A calendar's items as (date, type, id, title), so that two calendars compare as sets.
fn items(calendar: &Value) -> BTreeSet<(String, String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_else(|| panic!("not a string: {v} in {calendar}")).to_owned();
    let mut found = BTreeSet::new();
    for day in calendar["days"].as_array().unwrap_or_else(|| panic!("no days: {calendar}")) {
        for item in day["items"].as_array().unwrap() {
            found.insert((text(&day["date"]), text(&item["type"]), text(&item["id"]), text(&item["title"])));
        }
    }
    found
}

fn item(date: NaiveDate, kind: &str, id: &str, title: &str) -> (String, String, String, String) {
    (date.to_string(), kind.to_owned(), id.to_owned(), title.to_owned())
}

fn recommend_body(date: NaiveDate) -> Value {
    json!({"date": date.to_string(), "startTime": "14:00", "endTime": "20:00"})
}

/// A recommendation through `gateway` for the afternoon and evening of `date`, which must
/// answer 200 with at least one course: the courses, and the day's weather and the notes (the
/// same in every course).
async fn recommend(gateway: &TestGateway, token: &str, date: NaiveDate) -> (Vec<Value>, Value, Vec<String>) {
    let data = expect(gateway, Method::POST, "/api/meetings/recommend", Some(token), Some(recommend_body(date)), StatusCode::OK).await;
    let courses = data.as_array().unwrap_or_else(|| panic!("not a list of courses: {data}")).clone();
    assert!(!courses.is_empty(), "no course: {data}");
    assert!(courses.iter().all(|c| c["weather"] == courses[0]["weather"] && c["notes"] == courses[0]["notes"]), "{data}");
    let notes = courses[0]["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect();
    let weather = courses[0]["weather"].clone();
    (courses, weather, notes)
}

/// The places proposed in every course and slot.
fn proposed(courses: &[Value]) -> impl Iterator<Item = &Value> {
    courses.iter().flat_map(|c| c["slots"].as_array().unwrap()).flat_map(|s| s["places"].as_array().unwrap())
}

/// Every reason given for any place proposed.
fn reasons(courses: &[Value]) -> Vec<String> {
    proposed(courses).flat_map(|p| p["reasons"].as_array().unwrap()).map(|r| r.as_str().unwrap().to_owned()).collect()
}

/// Two catalogue places to plan a date at.
async fn two_places(p: &Platform, token: &str) -> Vec<String> {
    let places = get(&p.gateway, "/api/places?limit=2", token).await;
    places.as_array().unwrap().iter().map(|place| place["id"].as_str().unwrap().to_owned()).collect()
}

/// A schedule at 10:00 in Seoul (01:00 UTC) on `date`, and a meeting that afternoon at `places`:
/// their ids.
async fn plan(p: &Platform, token: &str, date: NaiveDate, places: &[String]) -> (String, String) {
    let schedule = json!({"name": "Flowers for Mom", "message": "the florist by the station", "dateTime": format!("{date}T01:00:00Z")});
    let schedule = post(&p.gateway, "/api/schedules", token, schedule).await;
    let meeting = json!({"name": "Palace walk", "date": date.to_string(), "startTime": "13:00", "endTime": "17:30", "places": places});
    let meeting = post(&p.gateway, "/api/meetings", token, meeting).await;
    (schedule["id"].as_str().unwrap().to_owned(), meeting["id"].as_str().unwrap().to_owned())
}

#[rstest]
#[tokio::test]
async fn partners_plan_a_recommended_date_and_both_see_it_in_the_calendar_with_birthdays_and_the_anniversary(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(p) = start(backend).await else { return };
    let days = Dates::from(p.today());
    let c = couple(&p, &days).await;
    let gw = &p.gateway;
    // user-couple counts the same next anniversary that the calendar will show.
    let home = get(gw, "/api/couples/home", &c.joon).await;
    assert_eq!(home["nextAnniversary"]["date"], days.d100().to_string(), "{home}");

    // Both lean outdoors and lively (the first two traits).
    for token in [&c.mina, &c.joon] {
        let vectors = json!({"vectors": {"vec1": 0.9, "vec2": 0.8}});
        expect(gw, Method::PUT, "/api/user-vectors/my-vector", Some(token), Some(vectors), StatusCode::OK).await;
    }
    let (courses, weather, notes) = recommend(gw, &c.mina, days.date).await;
    // No weather key: ranked as for dry weather, and said so; both vectors came from
    // question-answer, so nothing else is missing.
    assert_eq!(weather, Value::Null);
    assert_eq!(notes, ["No forecast for that day: ranked as for dry weather."]);
    assert!(reasons(&courses).iter().any(|r| r == "you both lean outdoors"), "{courses:?}");

    // They save the first course's picks.
    let slots = courses[0]["slots"].as_array().unwrap();
    let picks: Vec<String> = slots.iter().map(|s| s["places"][0]["place"]["id"].as_str().unwrap().to_owned()).collect();
    let (start_time, end_time) = (&slots[0]["startTime"], &slots[slots.len() - 1]["endTime"]);
    let body = json!({"name": "Our D+100 walk", "date": days.date.to_string(), "startTime": start_time, "endTime": end_time,
        "places": picks, "keywords": ["outdoors"]});
    let meeting = post(gw, "/api/meetings", &c.mina, body).await;
    let meeting_id = meeting["id"].as_str().unwrap().to_owned();
    let stops: Vec<(&str, u64)> =
        meeting["places"].as_array().unwrap().iter().map(|s| (s["id"].as_str().unwrap(), s["sequence"].as_u64().unwrap())).collect();
    let expected: Vec<(&str, u64)> = picks.iter().map(String::as_str).zip(1..).collect();
    assert_eq!(stops, expected, "the course in the order saved");
    assert_eq!(meeting["createdBy"], c.mina_id.as_str());

    // Both see it, by id and in the list.
    let path = format!("/api/meetings/{meeting_id}");
    assert_eq!(get(gw, &path, &c.joon).await, meeting);
    let range = format!("/api/meetings?from={0}&to={0}", days.date);
    for token in [&c.mina, &c.joon] {
        assert_eq!(get(gw, &range, token).await, json!([meeting.clone()]));
    }
    // The places just planned are not proposed again for that day.
    let (again, _, _) = recommend(gw, &c.joon, days.date).await;
    let repeated: Vec<&Value> = proposed(&again).filter(|p| picks.iter().any(|id| p["place"]["id"] == id.as_str())).collect();
    assert!(repeated.is_empty(), "proposed again: {repeated:?}");

    // A schedule Joon makes, Mina sees.
    let schedule = json!({"name": "Dinner with the parents", "message": "bring flowers", "dateTime": format!("{}T01:00:00Z", days.date)});
    let schedule = post(gw, "/api/schedules", &c.joon, schedule).await;
    let schedule_id = schedule["id"].as_str().unwrap().to_owned();
    let seen = get(gw, &format!("/api/schedules/{schedule_id}"), &c.mina).await;
    assert_eq!((seen["createdBy"].as_str(), &seen), (Some(c.joon_id.as_str()), &schedule));
    let listed = get(gw, &format!("/api/schedules?from={0}&to={0}", days.date), &c.mina).await;
    assert_eq!(listed, json!([schedule.clone()]));

    // The planned month: the schedule (on its Seoul day), the meeting, Mina's birthday and the
    // D+100; Joon's birthday is in the month after. Both partners see the same.
    let month = get(gw, &Dates::query(days.month), &c.mina).await;
    assert_eq!(
        (month["year"].as_i64(), month["month"].as_u64()),
        (Some(i64::from(days.month.year())), Some(u64::from(days.month.month())))
    );
    let expected = BTreeSet::from([
        item(days.date, "schedule", &schedule_id, "Dinner with the parents"),
        item(days.date, "meeting", &meeting_id, "Our D+100 walk"),
        item(c.mina_birth.with_year(days.month.year()).unwrap(), "birthday", &format!("birthday-{}", c.mina_id), "Mina 생일"),
        item(days.d100(), "anniversary", "anniversary-d100", "D+100"),
    ]);
    assert_eq!(items(&month), expected, "{month}");
    assert_eq!(get(gw, &Dates::query(days.month), &c.joon).await, month);
    let scheduled =
        month["days"].as_array().unwrap().iter().flat_map(|d| d["items"].as_array().unwrap()).find(|i| i["id"] == schedule_id.as_str());
    assert_eq!(scheduled.unwrap()["time"], "10:00", "Seoul time");
    let next = get(gw, &Dates::query(days.next_month()), &c.joon).await;
    let joon_birthday = c.joon_birth.with_year(days.next_month().year()).unwrap();
    assert_eq!(items(&next), BTreeSet::from([item(joon_birthday, "birthday", &format!("birthday-{}", c.joon_id), "Joon 생일")]), "{next}");
}

#[rstest]
#[tokio::test]
async fn another_couple_sees_nothing_and_a_user_without_a_couple_is_refused(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(p) = start(backend).await else { return };
    let days = Dates::from(p.today());
    let c = couple(&p, &days).await;
    let gw = &p.gateway;
    let places = two_places(&p, &c.mina).await;
    let (schedule_id, meeting_id) = plan(&p, &c.mina, days.date, &places).await;
    let feed = post(gw, "/api/calendar/feeds", &c.joon, json!({})).await;
    let mine = get(gw, &Dates::query(days.month), &c.mina).await;

    let ours: BTreeSet<String> = items(&mine).into_iter().map(|(_, _, id, _)| id).collect();
    assert_eq!(ours.len(), 4, "a schedule, a meeting, a birthday and the D+100: {mine}");

    let ((other, _), (other_partner, _), _) = p.couple().await;
    let (single, _, _) = p.user().await;
    let feed_path = format!("/api/calendar/feeds/{}", feed["id"].as_str().unwrap());
    let foreign = [format!("/api/schedules/{schedule_id}"), format!("/api/meetings/{meeting_id}")];
    for path in &foreign {
        for (method, body) in [(Method::GET, None), (Method::PUT, Some(json!({"name": "Ours now"}))), (Method::DELETE, None)] {
            let code = refused(gw, method.clone(), path, &other, body, StatusCode::NOT_FOUND).await;
            assert_eq!(code, "NOT_FOUND", "{method} {path}");
        }
    }
    assert_eq!(refused(gw, Method::DELETE, &feed_path, &other_partner, None, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    for token in [&other, &other_partner] {
        assert_eq!(get(gw, "/api/schedules", token).await, json!([]));
        assert_eq!(get(gw, "/api/meetings", token).await, json!([]));
        assert_eq!(get(gw, "/api/calendar/feeds", token).await, json!([]));
        // Anniversary ids are the same for every couple; the rest name the first couple's own.
        let theirs = get(gw, &Dates::query(days.month), token).await;
        let leaked: Vec<_> = items(&theirs).into_iter().filter(|(_, kind, id, _)| kind != "anniversary" && ours.contains(id)).collect();
        assert!(leaked.is_empty(), "the first couple's items in another couple's calendar: {leaked:?}");
    }

    // Without a couple, nothing of this service answers.
    let month = Dates::query(days.month);
    let recommend = Some(recommend_body(days.date));
    let cases = [
        (Method::GET, "/api/schedules", None),
        (Method::POST, "/api/schedules", Some(json!({"name": "Solo", "dateTime": format!("{}T01:00:00Z", days.date)}))),
        (Method::GET, foreign[0].as_str(), None),
        (Method::GET, "/api/meetings", None),
        (Method::GET, foreign[1].as_str(), None),
        (Method::GET, month.as_str(), None),
        (Method::POST, "/api/meetings/recommend", recommend),
        (Method::GET, "/api/calendar/feeds", None),
        (Method::POST, "/api/calendar/feeds", Some(json!({}))),
    ];
    for (method, path, body) in cases {
        assert_eq!(refused(gw, method.clone(), path, &single, body, StatusCode::FORBIDDEN).await, "NO_COUPLE", "{method} {path}");
    }

    // Untouched by all of it.
    assert_eq!(get(gw, &foreign[0], &c.joon).await["name"], "Flowers for Mom");
    assert_eq!(get(gw, &foreign[1], &c.joon).await["name"], "Palace walk");
    assert_eq!(get(gw, &Dates::query(days.month), &c.joon).await, mine);
    assert_eq!(get(gw, "/api/calendar/feeds", &c.mina).await.as_array().map(Vec::len), Some(1));
}

/// The feed at `url` (under the gateway's address), without a token: status, content type, body.
async fn fetch_feed(gateway: &TestGateway, url: &str) -> (StatusCode, String, String) {
    assert!(url.starts_with(&format!("{}/api/calendar/feeds/", gateway.url)), "{url}");
    let response = gateway.http.get(url).send().await.unwrap();
    let status = response.status();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[rstest]
#[tokio::test]
async fn the_calendar_feed_is_public_at_its_secret_url_until_revoked(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(p) = start(backend).await else { return };
    let days = Dates::from(p.today());
    let c = couple(&p, &days).await;
    let gw = &p.gateway;
    let places = two_places(&p, &c.mina).await;
    plan(&p, &c.joon, days.date, &places).await;

    let (status, body) = test_util::call(&gw.http, &gw.url, Method::GET, "/api/calendar/feeds", None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")), "{body}");
    let (status, _) = test_util::call(&gw.http, &gw.url, Method::POST, "/api/calendar/feeds", None, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let feed = post(gw, "/api/calendar/feeds", &c.mina, json!({})).await;
    assert_eq!(feed["createdBy"], c.mina_id.as_str());
    let url = feed["url"].as_str().unwrap().to_owned();
    assert!(url.ends_with(".ics"), "{url}");
    // The partner sees it among the couple's feeds.
    assert_eq!(get(gw, "/api/calendar/feeds", &c.joon).await, json!([feed.clone()]));

    let (status, content_type, calendar) = fetch_feed(gw, &url).await;
    assert_eq!(status, StatusCode::OK, "{calendar}");
    assert!(content_type.starts_with("text/calendar"), "{content_type}");
    assert!(calendar.starts_with("BEGIN:VCALENDAR"), "{calendar}");
    for name in ["Palace walk", "Flowers for Mom", "Mina 생일", "Joon 생일"] {
        assert!(calendar.contains(name), "{name} missing from the feed:\n{calendar}");
    }

    expect(
        gw,
        Method::DELETE,
        &format!("/api/calendar/feeds/{}", feed["id"].as_str().unwrap()),
        Some(&c.joon),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (status, _, _) = fetch_feed(gw, &url).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a revoked feed");
    assert_eq!(get(gw, "/api/calendar/feeds", &c.mina).await, json!([]));
    // A secret of the same shape that was never handed out.
    let (head, secret) = url.rsplit_once('/').unwrap();
    let unknown = format!("{head}/{}{}", if secret.starts_with('A') { 'B' } else { 'A' }, &secret[1..]);
    let (status, _, _) = fetch_feed(gw, &unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unknown secret");
}

#[rstest]
#[tokio::test]
async fn without_user_couple_the_calendar_still_shows_schedules_and_meetings_and_says_what_is_missing(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(p) = start(backend).await else { return };
    let days = Dates::from(p.today());
    let c = couple(&p, &days).await;
    let places = two_places(&p, &c.mina).await;
    let (schedule_id, meeting_id) = plan(&p, &c.mina, days.date, &places).await;
    let whole = get(&p.gateway, &Dates::query(days.month), &c.mina).await;
    assert_eq!(items(&whole).len(), 4, "with birthdays and the anniversary: {whole}");

    let (_server, gw) = p.degraded(|peers| peers.with(&USER_COUPLE, support::DEAD)).await;
    let partial = get(&gw, &Dates::query(days.month), &c.mina).await;
    let expected = BTreeSet::from([
        item(days.date, "schedule", &schedule_id, "Flowers for Mom"),
        item(days.date, "meeting", &meeting_id, "Palace walk"),
    ]);
    assert_eq!(items(&partial), expected, "{partial}");
    assert_eq!((&partial["partial"], &partial["missing"]), (&json!(true), &json!(["birthdays", "anniversaries"])), "{partial}");
    assert_eq!((&whole["partial"], &whole["missing"]), (&json!(false), &json!([])), "{whole}");

    // Recommendations go on with the caller's own tastes.
    let (_, _, notes) = recommend(&gw, &c.joon, days.date).await;
    assert!(notes.iter().any(|n| n.contains("only yours count")), "{notes:?}");
    // The feed is not served partial (a subscribed phone would drop the birthdays it holds):
    // a 503 it retries, never a 500.
    let feed = post(&p.gateway, "/api/calendar/feeds", &c.mina, json!({})).await;
    let path = feed["url"].as_str().unwrap().strip_prefix(p.gateway.url.as_str()).unwrap().to_owned();
    let (status, body) = test_util::call(&gw.http, &gw.url, Method::GET, &path, None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("PEER_UNAVAILABLE")), "{body}");
    assert_eq!(fetch_feed(&p.gateway, feed["url"].as_str().unwrap()).await.0, StatusCode::OK, "served whole where user-couple answers");
}

#[rstest]
#[tokio::test]
async fn without_question_answer_recommendations_rank_as_neutral_and_say_so(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(p) = start(backend).await else { return };
    let days = Dates::from(p.today());
    let c = couple(&p, &days).await;
    for token in [&c.mina, &c.joon] {
        let vectors = json!({"vectors": {"vec1": 0.9, "vec2": 0.8}});
        expect(&p.gateway, Method::PUT, "/api/user-vectors/my-vector", Some(token), Some(vectors), StatusCode::OK).await;
    }
    let (healthy, _, _) = recommend(&p.gateway, &c.mina, days.date).await;
    assert!(reasons(&healthy).iter().any(|r| r.starts_with("you both lean")), "{healthy:?}");

    let (_server, gw) = p.degraded(|peers| peers.with(&QUESTION_ANSWER, support::DEAD)).await;
    let (neutral, weather, notes) = recommend(&gw, &c.mina, days.date).await;
    assert_eq!(weather, Value::Null);
    assert!(notes.iter().any(|n| n.contains("neutral")), "{notes:?}");
    let leaning: Vec<String> =
        reasons(&neutral).into_iter().filter(|r| r.contains("you both lean") || r.contains("one of you leans")).collect();
    assert!(leaning.is_empty(), "no tastes were read, yet: {leaning:?}");
}

/// Whether schedule-meeting is up while the accounts are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhileDeleting {
    Up,
    Down,
}

#[rstest]
#[tokio::test]
async fn a_couples_schedules_and_meetings_are_erased_once_neither_partner_has_an_account(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    #[values(WhileDeleting::Up, WhileDeleting::Down)] schedule_meeting: WhileDeleting,
) {
    let Some(mut p) = start(backend).await else { return };
    let days = Dates::from(p.today());
    let c = couple(&p, &days).await;
    let places = two_places(&p, &c.mina).await;
    let (schedule_id, meeting_id) = plan(&p, &c.mina, days.date, &places).await;
    let feed = post(&p.gateway, "/api/calendar/feeds", &c.mina, json!({})).await;
    let feed_url = feed["url"].as_str().unwrap().to_owned();
    let joon_email = get(&p.gateway, "/api/users/me", &c.joon).await["email"].as_str().unwrap().to_owned();
    let store = p.schedule_store().await;
    let (couple_id, schedule_id, meeting_id) = (c.id.parse().unwrap(), schedule_id.parse().unwrap(), meeting_id.parse().unwrap());
    let held = async || {
        (store.schedule(couple_id, schedule_id).await.unwrap().is_some(), store.meeting(couple_id, meeting_id).await.unwrap().is_some())
    };
    assert_eq!(held().await, (true, true));
    let outbox = user_couple::store::connect(p.user_couple_db.url(), PoolSettings::default()).await.unwrap();
    // Erasures queued for schedule-meeting and not yet confirmed: (users, couples).
    let pending = async || {
        let count = async |kind| outbox.pending_erasures(kind, SCHEDULE_MEETING.name).await.unwrap();
        (count(ErasureKind::User).await, count(ErasureKind::Couple).await)
    };

    if schedule_meeting == WhileDeleting::Down {
        p.schedule.stop().await;
    }
    let (status, body) = p.call(Method::DELETE, "/api/users/me", Some(&c.mina), None).await;
    assert!(status.is_success(), "{status}: {body}");
    if schedule_meeting == WhileDeleting::Up {
        support::wait_until("Mina's erasure delivered", async || pending().await == (0, 0)).await;
        // Joon still has an account: the couple's plans stay, only the feed Mina made stops.
        assert_eq!(held().await, (true, true));
        assert_eq!(fetch_feed(&p.gateway, &feed_url).await.0, StatusCode::NOT_FOUND, "the feed of a deleted account");
    }
    // Deleting Mina broke the couple up, which revoked Joon's token: he logs in again.
    let (status, login) =
        p.call(Method::POST, "/api/users/login", None, Some(json!({"email": joon_email, "password": "password-123"}))).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let (status, body) = p.call(Method::DELETE, "/api/users/me", login["data"]["accessToken"].as_str(), None).await;
    assert!(status.is_success(), "{status}: {body}");

    if schedule_meeting == WhileDeleting::Down {
        // Attempts fail while schedule-meeting is down; the rows stay, and so does the data.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(pending().await, (2, 1), "both accounts and the couple queued while schedule-meeting is down");
        assert_eq!(held().await, (true, true));
        p.schedule.restart().await;
    }
    support::wait_until("the couple erased in schedule-meeting", async || held().await == (false, false) && pending().await == (0, 0))
        .await;
    assert_eq!(fetch_feed(&p.gateway, &feed_url).await.0, StatusCode::NOT_FOUND);
}
