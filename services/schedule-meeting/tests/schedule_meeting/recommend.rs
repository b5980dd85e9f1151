//! `POST /api/meetings/recommend`, black-box on both backends: both partners' vectors from a
//! stand-in of question-answer, the couple from a stand-in of user-couple (`peers`), the
//! couple's recent meetings from the store, and no weather key (weather null).

use couple_common::test_util::{Backend, TestServer, TestUser, test_couple};
use couple_registry::QUESTION_ANSWER;
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};

use crate::{
    peers::{Peers, down_urls, nobody},
    support::{TestApp, spawn_with},
};

async fn spawn(backend: Backend) -> Option<(TestApp, Peers)> {
    let peers = Peers::start().await;
    let app = spawn_with(backend, |config| config.peers = peers.urls()).await?;
    Some((app, peers))
}

/// A couple who both lean outdoors (`vec1`, indoor..outdoor) and lively (`vec2`, quiet..lively).
fn outdoor_couple(peers: &Peers) -> (TestUser, TestUser) {
    let (a, b, id) = test_couple();
    peers.couple(id, "우리", "2026-01-01", &[(a.id, "민수", "1996-12-24"), (b.id, "지영", "1997-02-28")]);
    peers.vector(a.id, &[("vec1", 0.9), ("vec2", 0.8)]);
    peers.vector(b.id, &[("vec1", 0.8), ("vec2", 0.7)]);
    (a, b)
}

fn request() -> Value {
    json!({"date": "2026-12-05", "startTime": "14:00", "endTime": "20:00", "near": "37.5665,126.9780", "radiusKm": 5})
}

async fn recommend(server: &TestServer, caller: &TestUser, body: Value) -> Value {
    let (status, body) = server.call(Method::POST, "/api/meetings/recommend", Some(&caller.token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // data is the list of courses, each with the day's weather and the notes: regrouped here as
    // courses (their slots) beside the weather and notes they share.
    let courses = body["data"].as_array().unwrap();
    for course in courses {
        assert_eq!((&course["weather"], &course["notes"]), (&courses[0]["weather"], &courses[0]["notes"]), "{body}");
    }
    let slots: Vec<Value> = courses.iter().map(|c| json!({"slots": c["slots"]})).collect();
    json!({"courses": slots, "weather": courses.first().map(|c| c["weather"].clone()), "notes": courses.first().map(|c| c["notes"].clone())})
}

fn reasons(found: &Value) -> Vec<String> {
    found["courses"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["slots"].as_array().unwrap())
        .flat_map(|s| s["places"].as_array().unwrap())
        .flat_map(|p| p["reasons"].as_array().unwrap())
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn place_ids(found: &Value) -> Vec<String> {
    found["courses"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["slots"].as_array().unwrap())
        .flat_map(|s| s["places"].as_array().unwrap())
        .map(|p| p["place"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[rstest]
#[tokio::test]
async fn a_couple_gets_courses_from_both_vectors_without_the_places_of_their_last_meetings(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((app, peers)) = spawn(backend).await else { return };
    let (a, b) = outdoor_couple(&peers);
    let found = recommend(&app, &a, request()).await;
    let courses = found["courses"].as_array().unwrap();
    assert!((1..=3).contains(&courses.len()), "{found}");
    assert!(courses[0]["slots"][0]["places"][0]["score"].is_number() && courses[0]["slots"][0]["startTime"] == "14:00", "{found}");
    assert_eq!(found["weather"], Value::Null, "no weather key: ranked as for dry weather");
    assert!(found["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("dry weather")), "{found}");
    assert!(reasons(&found).iter().any(|r| r == "you both lean outdoors"), "both partners' vectors count: {:?}", reasons(&found));
    // The same inputs give the same courses, whichever partner asks.
    assert_eq!(recommend(&app, &b, request()).await["courses"], found["courses"]);
    // A meeting at the top place before that day: it is not proposed again.
    let top = courses[0]["slots"][0]["places"][0]["place"]["id"].as_str().unwrap().to_owned();
    app.meeting(&a, json!({"date": "2026-12-03", "places": [top]})).await;
    let again = recommend(&app, &a, request()).await;
    assert!(!again["courses"].as_array().unwrap().is_empty());
    assert!(!place_ids(&again).contains(&top), "{top} was visited on 3 December");
}

#[rstest]
#[tokio::test]
async fn with_question_answer_down_the_courses_rank_as_for_neutral_tastes(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((app, peers)) = spawn(backend).await else { return };
    let (a, _) = outdoor_couple(&peers);
    let down = app.another(|config| config.peers = peers.urls().with(&QUESTION_ANSWER, nobody())).await;
    let found = recommend(&down, &a, request()).await;
    assert!(!found["courses"].as_array().unwrap().is_empty(), "{found}");
    assert!(found["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("neutral")), "{found}");
    assert!(!reasons(&found).iter().any(|r| r.contains("lean")), "no trait reasons without vectors");
    // Without vectors at all (a couple that never answered), the courses are the same.
    let (c, d, id) = test_couple();
    peers.couple(id, "그들", "2026-01-01", &[(c.id, "철수", "1990-06-01"), (d.id, "영희", "1991-07-01")]);
    assert_eq!(recommend(&app, &c, request()).await["courses"], found["courses"]);
    // user-couple down too: only the caller's own vector could count, and it cannot be read.
    let both_down = app.another(|config| config.peers = down_urls()).await;
    assert!(!recommend(&both_down, &a, request()).await["courses"].as_array().unwrap().is_empty());
}

#[rstest]
#[tokio::test]
async fn recommendations_validate_every_field_and_need_a_couple(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((app, peers)) = spawn(backend).await else { return };
    let (a, _) = outdoor_couple(&peers);
    let path = "/api/meetings/recommend";
    assert_eq!(app.invalid(Method::POST, path, &a, Some(json!({}))).await, ["date", "endTime", "startTime"]);
    let bad = json!({"date": "2026-13-01", "startTime": "20:00", "endTime": "14:00", "keywords": [""], "radiusKm": 3});
    assert_eq!(app.invalid(Method::POST, path, &a, Some(bad)).await, ["date", "endTime", "keywords", "radiusKm"]);
    let bad = json!({"date": "2026-12-05", "startTime": "14:00", "endTime": "20:00", "near": "91,0", "radiusKm": 0});
    assert_eq!(app.invalid(Method::POST, path, &a, Some(bad)).await, ["near", "radiusKm"]);
    let body = app.expect(Method::POST, path, &TestUser::new(None), Some(request()), StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"]["code"], "NO_COUPLE");
    // A couple user-couple does not know is no couple either.
    let (stranger, _, _) = test_couple();
    let body = app.expect(Method::POST, path, &stranger, Some(request()), StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"]["code"], "NO_COUPLE");
    let (status, _) = app.call(Method::POST, path, None, Some(request())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
