//! The HTTP API, black-box: the real service on a free port on SQLite and on PostgreSQL, with
//! tokens the test issues and a clock it sets.

use std::collections::HashSet;

use chrono::TimeZone;
use couple_common::{
    Role,
    test_util::{Backend, TEST_INTERNAL_TOKEN, TestUser, test_couple},
};
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::spawn;

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

#[rstest]
#[tokio::test]
async fn every_api_route_needs_a_token(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    for path in ["/api/questions", "/api/questions/today", "/api/tags", "/api/user-answers/my-answers", "/api/user-vectors/traits"] {
        let (status, body) = app.call(Method::GET, path, None, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")), "{path}");
    }
}

#[rstest]
#[tokio::test]
async fn partners_share_todays_question_all_day_and_a_single_user_gets_their_own(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (a, b, _) = test_couple();
    // Both ask at the same instant.
    let (first_a, first_b) = tokio::join!(app.get("/api/questions/today", &a), app.get("/api/questions/today", &b));
    assert_eq!(first_a["id"], first_b["id"]);
    assert_eq!(first_a["day"], "2026-12-01");
    assert_eq!(first_a["answers"], json!({"state": "unanswered", "mine": null, "partner": null}));
    assert!(first_a["option1"].is_string() && first_a["tags"].is_array() && first_a["vectorDeltas"].is_object(), "{first_a}");
    app.clock.set(crate::support::noon() + chrono::Duration::hours(8));
    assert_eq!(app.get("/api/questions/today", &a).await["id"], first_a["id"], "stable all day");
    // A user without a couple has their own assignment, and a question they answered already is
    // not picked while unanswered ones remain.
    let single = TestUser::new(None);
    app.answer(&single, first_a["id"].as_str().unwrap(), "1").await;
    let theirs = app.get("/api/questions/today", &single).await;
    assert_ne!(theirs["id"], first_a["id"]);
    assert_eq!(theirs["day"], "2026-12-01");
    assert_eq!(app.get("/api/questions/today", &single).await["id"], theirs["id"]);
    assert_eq!(app.get("/api/questions/today", &b).await["id"], first_a["id"]);
}

#[rstest]
#[tokio::test]
async fn todays_question_turns_over_at_midnight_in_seoul(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (a, b, _) = test_couple();
    // 23:59 on 1 December in Seoul is 14:59 UTC.
    app.clock.set(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 14, 59, 0).unwrap());
    let yesterday = app.get("/api/questions/today", &a).await;
    assert_eq!(yesterday["day"], "2026-12-01");
    assert_eq!(app.get("/api/questions/today", &b).await["id"], yesterday["id"]);
    // 00:01 on 2 December in Seoul, still 1 December in UTC.
    app.clock.set(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 15, 1, 0).unwrap());
    let today = app.get("/api/questions/today", &b).await;
    assert_eq!(today["day"], "2026-12-02");
    assert_ne!(today["id"], yesterday["id"], "a new day, a new question");
    assert_eq!(app.get("/api/questions/today", &a).await["id"], today["id"]);
    assert_eq!(app.get("/api/questions/today", &b).await["id"], today["id"], "stable");
    // A question dated a day is everyone's question that day.
    let dated = app.question(json!({"date": "2026-12-03"})).await;
    app.clock.set(chrono::Utc.with_ymd_and_hms(2026, 12, 2, 15, 30, 0).unwrap());
    assert_eq!(app.get("/api/questions/today", &a).await["id"], dated.as_str());
    assert_eq!(app.get("/api/questions/today", &TestUser::new(None)).await["id"], dated.as_str());
}

#[rstest]
#[tokio::test]
async fn the_partners_answer_is_revealed_only_after_mine(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (a, b, _) = test_couple();
    let (outsider, _, _) = test_couple();
    for (first, second) in [(&a, &b), (&b, &a)] {
        let q = app.question(json!({})).await;
        let path = format!("/api/questions/{q}/answers");
        let first_answer = app.answer(first, &q, "1").await;
        assert_eq!(first_answer["selectedOption"], "1");
        let waiting = app.get(&path, first).await;
        assert_eq!((waiting["state"].as_str(), &waiting["mine"], &waiting["partner"]), (Some("waiting"), &first_answer, &Value::Null));
        let hidden = app.get(&path, second).await;
        assert_eq!(hidden, json!({"state": "unanswered", "mine": null, "partner": null}), "the partner's choice never shows first");
        assert_eq!(app.get(&path, &outsider).await, json!({"state": "unanswered", "mine": null, "partner": null}));
        let second_answer = app.answer(second, &q, "2").await;
        for (me, mine, theirs) in [(first, &first_answer, &second_answer), (second, &second_answer, &first_answer)] {
            let revealed = app.get(&path, me).await;
            assert_eq!(revealed, json!({"state": "revealed", "mine": mine, "partner": theirs}));
        }
        // Another couple's member who answers sees only their own answer.
        app.answer(&outsider, &q, "1").await;
        assert_eq!(app.get(&path, &outsider).await["state"], "waiting");
    }
    let (status, _) = app.call(Method::GET, &format!("/api/questions/{}/answers", Uuid::now_v7()), Some(&a.token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(Method::GET, "/api/questions/not-an-id/answers", Some(&a.token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[rstest]
#[tokio::test]
async fn answers_move_tag_scores_and_the_vector_by_exactly_the_deltas_clamped(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let tag = app.tag("weekend").await;
    let body = json!({"tags": [{"tagId": tag, "weight": 0.4}], "vectorDeltas": {"1": {"vec7": 0.4}, "2": {"vec8": -0.3}}});
    let questions: Vec<String> = futures_lite(&app, &body, 4).await;
    let me = TestUser::new(None);
    for q in &questions[..3] {
        app.answer(&me, q, "1").await;
    }
    let vector = app.get("/api/user-vectors/my-vector", &me).await;
    assert!(close(&vector["vectors"]["vec7"], 1.0), "0.4 three times stays at 1: {vector}");
    assert!(close(&vector["vectors"]["vec8"], 0.0));
    let profile = app.get("/api/user-tag-profiles/my-profiles", &me).await;
    assert_eq!(profile.as_array().unwrap().len(), 1);
    assert_eq!((profile[0]["tagId"].as_str(), profile[0]["tagName"].as_str()), (Some(tag.as_str()), Some("weekend")));
    assert!(close(&profile[0]["score"], 1.0), "{profile}");
    app.answer(&me, &questions[3], "2").await;
    let vector = app.get("/api/user-vectors/my-vector", &me).await;
    assert!(close(&vector["vectors"]["vec7"], 1.0) && close(&vector["vectors"]["vec8"], -0.3), "{vector}");
    assert!(close(&app.get("/api/user-tag-profiles/my-profiles", &me).await[0]["score"], 0.6));
    // A second answer to the same question is refused and changes nothing.
    let again = json!({"questionId": questions[3], "selectedOption": "2"});
    let body = app.expect(Method::POST, "/api/user-answers", &me, Some(again), StatusCode::CONFLICT).await;
    assert_eq!(body["error"]["code"], "ALREADY_ANSWERED");
    assert!(close(&app.get("/api/user-vectors/my-vector", &me).await["vectors"]["vec8"], -0.3));
    assert!(close(&app.get("/api/user-tag-profiles/my-profiles", &me).await[0]["score"], 0.6));
    // Unknown questions and bad bodies.
    let unknown = json!({"questionId": Uuid::now_v7(), "selectedOption": "1"});
    app.expect(Method::POST, "/api/user-answers", &me, Some(unknown), StatusCode::NOT_FOUND).await;
    let bad =
        app.expect(Method::POST, "/api/user-answers", &me, Some(json!({"selectedOption": "3"})), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(bad["error"]["fields"].as_object().unwrap().len(), 2, "{bad}");
}

/// `n` questions made from `body`.
async fn futures_lite(app: &crate::support::TestApp, body: &Value, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(app.question(body.clone()).await);
    }
    ids
}

#[rstest]
#[tokio::test]
async fn only_admins_author_questions_and_tags(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let member = TestUser::new(None);
    let question = json!({"question": "Tea or coffee?", "option1": "Tea", "option2": "Coffee"});
    let body = app.expect(Method::POST, "/api/questions", &member, Some(question.clone()), StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"]["code"], "ADMIN_ONLY");
    app.expect(Method::POST, "/api/tags", &member, Some(json!({"name": "drinks"})), StatusCode::FORBIDDEN).await;
    let tag = app.tag("drinks").await;
    let dup = app.expect(Method::POST, "/api/tags", &app.admin, Some(json!({"name": " drinks "})), StatusCode::CONFLICT).await;
    assert_eq!(dup["error"]["code"], "TAG_NAME_TAKEN");
    assert!(app.get("/api/tags", &member).await.as_array().unwrap().iter().any(|t| t["id"] == tag.as_str() && t["name"] == "drinks"));
    let mut dated = question.clone();
    dated["date"] = json!("2027-01-01");
    dated["tags"] = json!([{"tagId": tag, "weight": 1.0}]);
    dated["vectorDeltas"] = json!({"1": {"vec1": -1.0}, "2": {"vec50": 1}});
    let created = app.expect(Method::POST, "/api/questions", &app.admin, Some(dated.clone()), StatusCode::CREATED).await["data"].clone();
    assert_eq!((created["date"].as_str(), created["tags"][0]["tagName"].as_str()), (Some("2027-01-01"), Some("drinks")));
    assert_eq!(created["vectorDeltas"], json!({"1": {"vec1": -1.0}, "2": {"vec50": 1.0}}));
    let path = format!("/api/questions/{}", created["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &app.admin).await, created);
    assert_eq!(app.call(Method::GET, &path, Some(&member.token), None).await.0, StatusCode::NOT_FOUND, "a user waits for its day");
    let taken = app.expect(Method::POST, "/api/questions", &app.admin, Some(dated), StatusCode::CONFLICT).await;
    assert_eq!(taken["error"]["code"], "DATE_TAKEN");
    app.expect(Method::GET, &format!("/api/questions/{}", Uuid::now_v7()), &member, None, StatusCode::NOT_FOUND).await;
}

#[rstest]
#[tokio::test]
async fn a_bad_question_gets_one_422_naming_every_field(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let body = json!({
        "question": "", "option2": "x".repeat(201), "date": "tomorrow",
        "tags": [{"tagId": Uuid::now_v7(), "weight": 0.5}, {"tagId": "x", "weight": 2}],
        "vectorDeltas": {"1": {"vec0": 0.1}, "2": {"vec3": -1.5}, "9": {}}
    });
    let err = app.expect(Method::POST, "/api/questions", &app.admin, Some(body), StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields = err["error"]["fields"].as_object().unwrap();
    for field in [
        "question",
        "option1",
        "option2",
        "date",
        "tags[0].tagId",
        "tags[1].tagId",
        "tags[1].weight",
        "vectorDeltas.1.vec0",
        "vectorDeltas.2.vec3",
        "vectorDeltas.9",
    ] {
        assert!(fields.contains_key(field), "{field} missing from {fields:?}");
    }
    let (status, _) = app.call(Method::POST, "/api/questions", Some(&app.admin.token), Some(json!({"question": 5}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .http
        .post(app.url("/api/questions"))
        .bearer_auth(&app.admin.token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[rstest]
#[tokio::test]
async fn lists_page_with_an_opaque_cursor(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let me = TestUser::new(None);
    let mut seen = HashSet::new();
    let mut path = "/api/questions?limit=50".to_owned();
    let mut pages = 0;
    loop {
        let body = app.expect(Method::GET, &path, &me, None, StatusCode::OK).await;
        pages += 1;
        for q in body["data"].as_array().unwrap() {
            assert!(seen.insert(q["id"].as_str().unwrap().to_owned()), "{} served twice", q["id"]);
        }
        match body["page"]["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/questions?limit=50&cursor={cursor}"),
            None => break,
        }
    }
    let total = question_answer::seed::shipped().unwrap().questions.len();
    assert_eq!((seen.len(), pages), (total, total.div_ceil(50)));
    for (query, status) in [("limit=0", 422), ("limit=201", 422), ("limit=ten", 400), ("cursor=not-a-cursor", 400)] {
        let (got, body) = app.call(Method::GET, &format!("/api/questions?{query}"), Some(&me.token), None).await;
        assert_eq!(got.as_u16(), status, "{query}: {body}");
    }
    // My answers, newest first, two per page.
    let questions = app.get("/api/questions?limit=3", &me).await;
    let mut answered = Vec::new();
    for q in questions.as_array().unwrap() {
        answered.push(app.answer(&me, q["id"].as_str().unwrap(), "1").await["id"].clone());
    }
    let first = app.expect(Method::GET, "/api/user-answers/my-answers?limit=2", &me, None, StatusCode::OK).await;
    assert_eq!(
        first["data"].as_array().unwrap().iter().map(|a| a["id"].clone()).collect::<Vec<_>>(),
        [answered[2].clone(), answered[1].clone()]
    );
    let cursor = first["page"]["nextCursor"].as_str().unwrap();
    let rest = app.expect(Method::GET, &format!("/api/user-answers/my-answers?limit=2&cursor={cursor}"), &me, None, StatusCode::OK).await;
    assert_eq!(rest["data"].as_array().unwrap().iter().map(|a| a["id"].clone()).collect::<Vec<_>>(), [answered[0].clone()]);
    assert!(rest.get("page").is_none(), "{rest}");
}

#[rstest]
#[tokio::test]
async fn users_manage_their_own_vector(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let me = TestUser::new(None);
    let traits = app.get("/api/user-vectors/traits", &me).await;
    assert_eq!(traits.as_array().unwrap().len(), 50);
    assert_eq!(traits[6]["key"], "vec7");
    for field in ["name", "low", "high", "lowKo", "highKo"] {
        assert!(traits[0][field].is_string(), "{field}");
    }
    app.expect(Method::GET, "/api/user-vectors/my-vector", &me, None, StatusCode::NOT_FOUND).await;
    let created = app.expect(Method::POST, "/api/user-vectors", &me, None, StatusCode::CREATED).await["data"].clone();
    assert_eq!(created["userId"], me.id.to_string());
    let values = created["vectors"].as_object().unwrap();
    assert!(values.len() == 50 && values.values().all(|v| close(v, 0.0)));
    app.expect(Method::POST, "/api/user-vectors", &me, None, StatusCode::CONFLICT).await;
    let put = json!({"vectors": {"vec2": 0.5, "vec50": -1}});
    let updated = app.expect(Method::PUT, "/api/user-vectors/my-vector", &me, Some(put), StatusCode::OK).await["data"].clone();
    assert!(
        close(&updated["vectors"]["vec2"], 0.5) && close(&updated["vectors"]["vec50"], -1.0) && close(&updated["vectors"]["vec1"], 0.0)
    );
    let bad = json!({"vectors": {"vec51": 0.1, "vec3": 1.01, "speed": 0}});
    let err = app.expect(Method::PUT, "/api/user-vectors/my-vector", &me, Some(bad), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(err["error"]["fields"].as_object().unwrap().len(), 3, "{err}");
    let one = app.expect(Method::PUT, "/api/user-vectors/my-vector/vec3?value=-0.25", &me, None, StatusCode::OK).await;
    assert!(close(&one["data"]["vectors"]["vec3"], -0.25) && close(&one["data"]["vectors"]["vec2"], 0.5));
    for (path, status) in [
        ("vec3?value=abc", 400),
        ("vec3", 400),
        ("vec3?value=1.5", 422),
        ("vec3?value=NaN", 422),
        ("vec51?value=0.1", 422),
        ("speed?value=0.1", 422),
    ] {
        let (got, body) = app.call(Method::PUT, &format!("/api/user-vectors/my-vector/{path}"), Some(&me.token), None).await;
        assert_eq!(got.as_u16(), status, "{path}: {body}");
    }
    app.expect(Method::DELETE, "/api/user-vectors/my-vector", &me, None, StatusCode::OK).await;
    app.expect(Method::GET, "/api/user-vectors/my-vector", &me, None, StatusCode::NOT_FOUND).await;
    // Setting a trait creates the vector when there is none.
    app.expect(Method::PUT, "/api/user-vectors/my-vector/vec9?value=1", &me, None, StatusCode::OK).await;
    assert!(close(&app.get("/api/user-vectors/my-vector", &me).await["vectors"]["vec9"], 1.0));
}

async fn internal(app: &crate::support::TestApp, method: Method, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(token) = token {
        req = req.header("x-internal-token", token);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[rstest]
#[tokio::test]
async fn internal_reads_and_erasure_need_the_internal_token(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (me, partner, _) = test_couple();
    let q = app.question(json!({"vectorDeltas": {"1": {"vec4": 0.3}, "2": {"vec4": -0.3}}})).await;
    app.answer(&me, &q, "1").await;
    app.answer(&partner, &q, "2").await;
    app.get("/api/questions/today", &TestUser::new(None)).await;
    let vector_path = format!("/internal/user-vectors/{}", me.id);
    for token in [None, Some("wrong-token")] {
        let (status, body) = internal(&app, Method::GET, &vector_path, token).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("INVALID_INTERNAL_TOKEN")));
        let (status, _) = internal(&app, Method::DELETE, &format!("/internal/users/{}", me.id), token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = internal(&app, Method::GET, &vector_path, Some(TEST_INTERNAL_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(close(&body["data"]["vectors"]["vec4"], 0.3));
    let batch = format!("/internal/user-vectors?userIds={},{},{}", me.id, partner.id, Uuid::now_v7());
    let (status, body) = internal(&app, Method::GET, &batch, Some(TEST_INTERNAL_TOKEN)).await;
    assert_eq!((status, body["data"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{body}");
    let eleven = (0..11).map(|_| Uuid::now_v7().to_string()).collect::<Vec<_>>().join(",");
    for (query, status) in
        [(format!("userIds={eleven}"), 422), ("userIds=".to_owned(), 422), ("userIds=x".to_owned(), 400), (String::new(), 400)]
    {
        let (got, body) = internal(&app, Method::GET, &format!("/internal/user-vectors?{query}"), Some(TEST_INTERNAL_TOKEN)).await;
        assert_eq!(got.as_u16(), status, "{query}: {body}");
    }

    let erase = format!("/internal/users/{}", me.id);
    for _ in 0..2 {
        let (status, _) = internal(&app, Method::DELETE, &erase, Some(TEST_INTERNAL_TOKEN)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "idempotent");
    }
    assert_eq!(internal(&app, Method::GET, &vector_path, Some(TEST_INTERNAL_TOKEN)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/user-answers/my-answers", &me).await, json!([]));
    assert_eq!(app.get("/api/user-tag-profiles/my-profiles", &me).await, json!([]));
    app.expect(Method::GET, "/api/user-vectors/my-vector", &me, None, StatusCode::NOT_FOUND).await;
    // The partner keeps their own data; my answer no longer shows to them.
    let theirs = app.get(&format!("/api/questions/{q}/answers"), &partner).await;
    assert_eq!((theirs["state"].as_str(), &theirs["partner"]), (Some("waiting"), &Value::Null));
    assert!(app.store.get_vector(partner.id).await.unwrap().is_some());
}

#[rstest]
#[tokio::test]
async fn erasing_a_couple_takes_its_question_rotation(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (me, partner, _) = test_couple();
    let couple_id = me.couple_id.unwrap();
    let first = app.get("/api/questions/today", &me).await["id"].clone();
    app.clock.set(crate::support::noon() + chrono::Duration::days(1));
    let second = app.get("/api/questions/today", &me).await["id"].clone();
    assert_ne!(first, second);
    let erase = format!("/internal/couples/{couple_id}");
    for token in [None, Some("wrong-token")] {
        assert_eq!(internal(&app, Method::DELETE, &erase, token).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(internal(&app, Method::DELETE, "/internal/couples/not-a-uuid", Some(TEST_INTERNAL_TOKEN)).await.0, StatusCode::BAD_REQUEST);
    for _ in 0..2 {
        let (status, _) = internal(&app, Method::DELETE, &erase, Some(TEST_INTERNAL_TOKEN)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "idempotent");
    }
    assert_eq!(app.get("/api/questions/today", &partner).await["id"], first, "the rotation starts over");
}

#[tokio::test]
async fn without_an_internal_token_configured_the_internal_api_does_not_exist() {
    let db = couple_common::test_util::TestDatabase::sqlite();
    let mut config = question_answer::Config::default();
    config.database.database_url = db.url().to_owned();
    let mut shared = couple_common::test_util::shared_config();
    shared.internal_token = None;
    let server = couple_common::test_util::TestServer::spawn::<question_answer::QuestionAnswer>(&config, &shared).await;
    for (method, path) in [
        (Method::GET, format!("/internal/user-vectors/{}", Uuid::now_v7())),
        (Method::DELETE, format!("/internal/users/{}", Uuid::now_v7())),
        (Method::DELETE, format!("/internal/couples/{}", Uuid::now_v7())),
    ] {
        let res = server.http.request(method, server.url(&path)).header("x-internal-token", TEST_INTERNAL_TOKEN).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_its_references_resolve() {
    let app = spawn(Backend::Sqlite, |_| {}).await.expect("SQLite needs no server");
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/questions",
        "/api/questions/today",
        "/api/questions/{id}",
        "/api/questions/{id}/answers",
        "/api/user-answers",
        "/api/user-answers/my-answers",
        "/api/tags",
        "/api/user-tag-profiles/my-profiles",
        "/api/user-vectors",
        "/api/user-vectors/traits",
        "/api/user-vectors/my-vector",
        "/api/user-vectors/my-vector/{key}",
        "/internal/user-vectors",
        "/internal/user-vectors/{user_id}",
        "/internal/users/{id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    assert_eq!(couple_common::test_util::dangling_refs(&doc), Vec::<String>::new());
}

#[rstest]
#[tokio::test]
async fn a_question_dated_after_today_is_hidden_from_users_until_its_day(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (a, _, _) = test_couple();
    let admin = TestUser::with_role(None, Role::Admin);
    // The clock is at noon on 1 December in Seoul; the question is for 3 December.
    let dated = app.question(json!({"date": "2026-12-03"})).await;
    let path = format!("/api/questions/{dated}");
    let answers = format!("{path}/answers");
    for (method, path, body) in [
        (Method::GET, path.as_str(), None),
        (Method::GET, answers.as_str(), None),
        (Method::POST, "/api/user-answers", Some(json!({"questionId": dated, "selectedOption": "1"}))),
    ] {
        let (status, body) = app.call(method.clone(), path, Some(&a.token), body).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("QUESTION_NOT_FOUND")), "{method} {path}");
    }
    let listed = |token: String| {
        let (app, dated) = (&app, &dated);
        async move {
            let (status, body) = app.call(Method::GET, "/api/questions?limit=200", Some(&token), None).await;
            assert_eq!(status, StatusCode::OK);
            body["data"].as_array().unwrap().iter().any(|q| q["id"] == dated.as_str())
        }
    };
    assert!(!listed(a.token.clone()).await, "a user's list leaves it out");
    assert!(listed(admin.token.clone()).await, "an admin sees it");
    assert_eq!(app.call(Method::GET, &path, Some(&admin.token), None).await.0, StatusCode::OK);
    // On its day it is everyone's.
    app.clock.set(chrono::Utc.with_ymd_and_hms(2026, 12, 3, 3, 0, 0).unwrap());
    assert_eq!(app.call(Method::GET, &path, Some(&a.token), None).await.0, StatusCode::OK);
    assert!(listed(a.token.clone()).await);
    app.answer(&a, &dated, "1").await;
}
