//! The HTTP API, black-box: the real service on a free port on SQLite and on PostgreSQL, with
//! tokens the test issues and a clock it sets. Place searches are checked against the shipped
//! catalogue itself, so they hold whatever it lists.

use chrono::Duration;
use couple_common::test_util::{Backend, TEST_INTERNAL_TOKEN, TestUser, test_couple};
use reqwest::{Method, StatusCode};
use rstest::rstest;
use schedule_meeting::{
    domain::LatLon,
    places::{self, CataloguePlace, Category, place_id},
    store::FeedRecord,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, field, noon, spawn};

fn ids(items: &[Value]) -> Vec<String> {
    field(items, "id").into_iter().map(|id| id.as_str().unwrap().to_owned()).collect()
}

fn catalogue() -> Vec<CataloguePlace> {
    places::shipped().unwrap()
}

/// The shipped places `keep` selects, best rated first, then by name (code points), then id.
fn by_rating(keep: impl Fn(&CataloguePlace) -> bool) -> Vec<String> {
    let mut places: Vec<CataloguePlace> = catalogue().into_iter().filter(|p| keep(p)).collect();
    places.sort_by(|a, b| b.rating.total_cmp(&a.rating).then_with(|| a.name.cmp(&b.name)).then_with(|| a.id().cmp(&b.id())));
    places.iter().map(|p| p.id().to_string()).collect()
}

fn named(text: &str) -> impl Fn(&CataloguePlace) -> bool {
    let text = text.to_lowercase();
    move |p| p.name.to_lowercase().contains(&text) || p.name_en.to_lowercase().contains(&text)
}

/// `DELETE /internal/...` with `token`.
async fn internal_delete(app: &TestApp, path: &str, token: Option<&str>) -> StatusCode {
    let mut req = app.http.delete(app.url(path));
    if let Some(token) = token {
        req = req.header("x-internal-token", token);
    }
    req.send().await.unwrap().status()
}

#[rstest]
#[tokio::test]
async fn every_route_needs_a_token_and_a_couple(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let single = TestUser::new(None);
    let some = Uuid::now_v7();
    let routes = [
        (Method::GET, "/api/schedules".to_owned(), None),
        (Method::POST, "/api/schedules".to_owned(), Some(json!({"name": "x", "dateTime": "2026-12-24T19:00:00Z"}))),
        (Method::GET, format!("/api/schedules/{some}"), None),
        (Method::PUT, format!("/api/schedules/{some}"), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/api/schedules/{some}"), None),
        (Method::GET, "/api/meetings".to_owned(), None),
        (Method::POST, "/api/meetings".to_owned(), Some(json!({}))),
        (Method::GET, format!("/api/meetings/{some}"), None),
        (Method::PUT, format!("/api/meetings/{some}"), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/api/meetings/{some}"), None),
        (Method::GET, "/api/places?q=tower".to_owned(), None),
        (Method::GET, format!("/api/places/{}", place_id("n-seoul-tower")), None),
    ];
    for (method, path, body) in routes {
        let (status, answer) = app.call(method.clone(), &path, None, body.clone()).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")), "{method} {path}");
        let answer = app.expect(method.clone(), &path, &single, body, StatusCode::FORBIDDEN).await;
        assert_eq!(answer["error"]["code"], "NO_COUPLE", "{method} {path}");
    }
}

#[rstest]
#[tokio::test]
async fn partners_share_schedules_and_another_couple_gets_404s(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let (a, b, _) = test_couple();
    let (outsider, _, _) = test_couple();
    let created = app.schedule(&a, " Dinner with her parents ", "2026-12-24T19:00:00+09:00").await;
    let id = created["id"].as_str().unwrap();
    let created_at = noon().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(
        created,
        json!({"id": id, "name": "Dinner with her parents", "message": "", "dateTime": "2026-12-24T10:00:00Z", "createdBy": a.id,
            "createdAt": created_at, "updatedAt": created_at})
    );
    let path = format!("/api/schedules/{id}");
    assert_eq!(app.get(&path, &b).await, created, "the partner sees it");
    for (method, body) in [(Method::GET, None), (Method::PUT, Some(json!({"name": "mine now"}))), (Method::DELETE, None)] {
        let answer = app.expect(method.clone(), &path, &outsider, body, StatusCode::NOT_FOUND).await;
        assert_eq!(answer["error"]["code"], "NOT_FOUND", "{method}");
    }
    assert_eq!(app.get("/api/schedules", &outsider).await, json!([]));
    assert_eq!(app.get(&path, &a).await["name"], "Dinner with her parents", "unchanged by the outsider");

    app.clock.set(noon() + Duration::hours(1));
    let updated = app.expect(Method::PUT, &path, &b, Some(json!({"message": " bring wine "})), StatusCode::OK).await["data"].clone();
    assert_eq!((&updated["name"], &updated["message"], &updated["createdBy"]), (&created["name"], &json!("bring wine"), &json!(a.id)));
    assert_eq!((&updated["createdAt"], updated["updatedAt"].as_str()), (&created["createdAt"], Some("2026-12-01T04:00:00Z")));
    let moved = app.expect(Method::PUT, &path, &a, Some(json!({"dateTime": "2026-12-25T00:00:00Z", "message": ""})), StatusCode::OK).await;
    assert_eq!((&moved["data"]["dateTime"], &moved["data"]["message"]), (&json!("2026-12-25T00:00:00Z"), &json!("")));

    app.expect(Method::DELETE, &path, &b, None, StatusCode::NO_CONTENT).await;
    app.expect(Method::GET, &path, &a, None, StatusCode::NOT_FOUND).await;
    app.expect(Method::DELETE, &path, &a, None, StatusCode::NOT_FOUND).await;
    app.expect(Method::GET, "/api/schedules/not-an-id", &a, None, StatusCode::NOT_FOUND).await;
}

#[rstest]
#[tokio::test]
async fn schedule_bodies_are_checked_field_by_field(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let (a, _, _) = test_couple();
    assert_eq!(app.invalid(Method::POST, "/api/schedules", &a, Some(json!({}))).await, ["dateTime", "name"]);
    let bad = json!({"name": " ", "message": "x".repeat(2001), "dateTime": "2026-12-24 19:00"});
    assert_eq!(app.invalid(Method::POST, "/api/schedules", &a, Some(bad)).await, ["dateTime", "message", "name"]);
    let long = json!({"name": "가".repeat(101), "dateTime": "2026-12-24T19:00:00Z"});
    assert_eq!(app.invalid(Method::POST, "/api/schedules", &a, Some(long)).await, ["name"]);
    let no_offset = json!({"name": "x", "dateTime": "2026-12-24T19:00:00"});
    assert_eq!(app.invalid(Method::POST, "/api/schedules", &a, Some(no_offset)).await, ["dateTime"]);
    let (status, _) = app.call(Method::POST, "/api/schedules", Some(&a.token), Some(json!({"name": 5, "dateTime": true}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "wrong types");
    let res =
        app.http.post(app.url("/api/schedules")).bearer_auth(&a.token).header("content-type", "application/json").body("{").send().await;
    assert_eq!(res.unwrap().status(), StatusCode::BAD_REQUEST);

    let created = app.schedule(&a, "x", "2026-12-24T19:00:00Z").await;
    let path = format!("/api/schedules/{}", created["id"].as_str().unwrap());
    assert_eq!(app.invalid(Method::PUT, &path, &a, Some(json!({}))).await, ["body"]);
    let nul = json!({"name": "a\u{0}b", "message": "\u{0}"});
    assert_eq!(app.invalid(Method::PUT, &path, &a, Some(nul)).await, ["message", "name"], "PostgreSQL refuses NUL: a 422, never a 500");
    assert_eq!(app.invalid(Method::PUT, &path, &a, Some(json!({"name": "", "dateTime": "soon"}))).await, ["dateTime", "name"]);
    assert_eq!(app.get(&path, &a).await, created, "a refused update changes nothing");
}

#[rstest]
#[tokio::test]
async fn schedules_list_in_time_order_by_day_in_seoul_and_page_with_cursors(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn(backend).await else { return };
    let (a, b, _) = test_couple();
    // Written out of order; two at the same instant.
    for (name, at) in [
        ("dec5-a", "2026-12-05T00:00:00Z"),
        ("dec3-midnight", "2026-12-02T15:00:00Z"),
        ("dec2-late", "2026-12-02T14:59:59Z"),
        ("dec2-early", "2026-12-01T16:00:00Z"),
        ("dec1-late", "2026-12-01T14:59:00Z"),
        ("dec5-b", "2026-12-05T09:00:00+09:00"),
    ] {
        app.schedule(&a, name, at).await;
    }
    let all = app.get("/api/schedules", &b).await;
    let names: Vec<String> = field(all.as_array().unwrap(), "name").iter().map(|n| n.as_str().unwrap().to_owned()).collect();
    let mut dec5 = vec!["dec5-a", "dec5-b"];
    // The tie at the same instant goes by id (creation order: v7 ids).
    dec5.sort_by_key(|n| all.as_array().unwrap().iter().find(|s| s["name"] == *n).unwrap()["id"].as_str().unwrap().to_owned());
    assert_eq!(names, [&["dec1-late", "dec2-early", "dec2-late", "dec3-midnight"][..], &dec5].concat());
    // Days are Seoul days: 16:00 UTC on 1 December is already 2 December there.
    let names_of = |list: Value| field(list.as_array().unwrap(), "name");
    assert_eq!(names_of(app.get("/api/schedules?from=2026-12-02&to=2026-12-02", &a).await), [json!("dec2-early"), json!("dec2-late")]);
    assert_eq!(names_of(app.get("/api/schedules?to=2026-12-01", &a).await), [json!("dec1-late")]);
    assert_eq!(names_of(app.get("/api/schedules?from=2026-12-03&to=2026-12-04", &a).await), [json!("dec3-midnight")]);
    assert_eq!(app.get("/api/schedules?from=2026-12-06", &a).await, json!([]));

    let (paged, sizes) = app.all_pages("/api/schedules", &a, 2).await;
    assert_eq!((ids(&paged), sizes), (ids(all.as_array().unwrap()), vec![2, 2, 2]));
    let (paged, sizes) = app.all_pages("/api/schedules?from=2026-12-02", &a, 5).await;
    assert_eq!((paged.len(), sizes), (5, vec![5]), "no cursor when nothing follows");

    assert_eq!(app.invalid(Method::GET, "/api/schedules?from=2026-12-03&to=2026-12-02", &a, None).await, ["from"]);
    assert_eq!(app.invalid(Method::GET, "/api/schedules?limit=0", &a, None).await, ["limit"]);
    for bad in ["from=yesterday", "to=2026-13-01", "from=2026-12-1", "cursor=nonsense", "limit=ten"] {
        let answer = app.expect(Method::GET, &format!("/api/schedules?{bad}"), &a, None, StatusCode::BAD_REQUEST).await;
        assert_eq!(answer["error"]["code"], "INVALID_QUERY", "{bad}");
    }
    // A cursor from another list does not fit this one.
    app.meeting(&a, json!({})).await;
    app.meeting(&a, json!({})).await;
    let meetings = app.expect(Method::GET, "/api/meetings?limit=1", &a, None, StatusCode::OK).await;
    let foreign = meetings["page"]["nextCursor"].as_str().unwrap();
    app.expect(Method::GET, &format!("/api/schedules?cursor={foreign}"), &a, None, StatusCode::BAD_REQUEST).await;
}

#[rstest]
#[tokio::test]
async fn a_meeting_is_a_course_of_catalogue_places(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let (a, b, _) = test_couple();
    let (outsider, _, _) = test_couple();
    let shipped = catalogue();
    let (p0, p1) = (&shipped[0], &shipped[1 % shipped.len()]);
    let body = json!({"name": "Namsan at dusk", "date": "2026-12-24", "startTime": "17:00", "endTime": "21:30",
        "places": [p0.id(), p1.id(), p0.id()], "keywords": [" 야경 ", "야경", "walk"]});
    let created = app.expect(Method::POST, "/api/meetings", &a, Some(body), StatusCode::CREATED).await["data"].clone();
    let stop = |p: &CataloguePlace, sequence: u32| {
        json!({"id": p.id(), "name": p.name, "address": p.address, "category": p.category, "latitude": p.latitude,
            "longitude": p.longitude, "sequence": sequence})
    };
    let id = created["id"].as_str().unwrap().to_owned();
    let at = noon().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(
        created,
        json!({"id": id, "name": "Namsan at dusk", "date": "2026-12-24", "startTime": "17:00", "endTime": "21:30",
            "places": [stop(p0, 1), stop(p1, 2), stop(p0, 3)], "keywords": ["야경", "walk"], "createdBy": a.id, "createdAt": at, "updatedAt": at})
    );
    let path = format!("/api/meetings/{id}");
    assert_eq!(app.get(&path, &b).await, created);
    for (method, body) in [(Method::GET, None), (Method::PUT, Some(json!({"name": "ours"}))), (Method::DELETE, None)] {
        app.expect(method, &path, &outsider, body, StatusCode::NOT_FOUND).await;
    }
    let unknown = Uuid::now_v7();
    let answer = app.expect(Method::PUT, &path, &outsider, Some(json!({"places": [unknown]})), StatusCode::NOT_FOUND).await;
    assert_eq!(answer["error"]["code"], "NOT_FOUND", "another couple's meeting is not found, whatever the body");

    // Places must exist, and not twice in a row; times in order.
    let answer = app
        .expect(
            Method::POST,
            "/api/meetings",
            &a,
            Some(json!({"name": "x", "date": "2026-12-24", "startTime": "10:00",
        "endTime": "11:00", "places": [p0.id(), unknown]})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(answer["error"]["fields"]["places"].as_str().unwrap().contains(&unknown.to_string()), "{answer}");
    let twice = json!({"name": "x", "date": "2026-12-24", "startTime": "10:00", "endTime": "11:00", "places": [p0.id(), p0.id()]});
    assert_eq!(app.invalid(Method::POST, "/api/meetings", &a, Some(twice)).await, ["places"]);
    let backwards =
        json!({"name": "x", "date": "2026-12-24", "startTime": "11:00", "endTime": "10:00", "places": [p0.id()], "keywords": [""]});
    assert_eq!(app.invalid(Method::POST, "/api/meetings", &a, Some(backwards)).await, ["endTime", "keywords"]);
    assert_eq!(app.invalid(Method::POST, "/api/meetings", &a, Some(json!({}))).await, ["date", "endTime", "name", "places", "startTime"]);

    // Updates: a new course replaces the old; a start after the stored end is refused.
    app.clock.set(noon() + Duration::minutes(5));
    let moved = app.expect(Method::PUT, &path, &b, Some(json!({"places": [p1.id()]})), StatusCode::OK).await["data"].clone();
    assert_eq!(
        (&moved["places"], &moved["name"], &moved["updatedAt"]),
        (&json!([stop(p1, 1)]), &created["name"], &json!("2026-12-01T03:05:00Z"))
    );
    assert_eq!(app.invalid(Method::PUT, &path, &a, Some(json!({"startTime": "22:00"}))).await, ["endTime"]);
    assert_eq!(app.invalid(Method::PUT, &path, &a, Some(json!({"places": [unknown]}))).await, ["places"]);
    assert_eq!(app.get(&path, &a).await, moved, "refused updates change nothing");
    let later =
        app.expect(Method::PUT, &path, &a, Some(json!({"startTime": "22:00", "endTime": "23:30", "keywords": []})), StatusCode::OK).await;
    assert_eq!(
        (&later["data"]["startTime"], &later["data"]["endTime"], &later["data"]["keywords"]),
        (&json!("22:00"), &json!("23:30"), &json!([]))
    );

    app.expect(Method::DELETE, &path, &b, None, StatusCode::NO_CONTENT).await;
    app.expect(Method::GET, &path, &a, None, StatusCode::NOT_FOUND).await;
}

#[rstest]
#[tokio::test]
async fn meetings_list_by_date_then_start_time_with_ranges_and_pages(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let (a, b, _) = test_couple();
    let (outsider, _, _) = test_couple();
    for (date, start) in
        [("2026-12-24", "17:00"), ("2026-12-03", "18:00"), ("2026-12-03", "09:30"), ("2026-12-31", "10:00"), ("2026-12-03", "09:00")]
    {
        app.meeting(&a, json!({"name": format!("{date} {start}"), "date": date, "startTime": start, "endTime": "23:00"})).await;
    }
    app.meeting(&outsider, json!({"date": "2026-12-03", "startTime": "08:00"})).await;
    let all = app.get("/api/meetings", &b).await;
    let names = field(all.as_array().unwrap(), "name");
    let expected = ["2026-12-03 09:00", "2026-12-03 09:30", "2026-12-03 18:00", "2026-12-24 17:00", "2026-12-31 10:00"];
    assert_eq!(names, expected.map(|n| json!(n)));
    let ranged = app.get("/api/meetings?from=2026-12-03&to=2026-12-24", &a).await;
    assert_eq!(field(ranged.as_array().unwrap(), "name"), expected[..4].iter().map(|n| json!(n)).collect::<Vec<_>>());
    let (paged, sizes) = app.all_pages("/api/meetings", &a, 2).await;
    assert_eq!((ids(&paged), sizes), (ids(all.as_array().unwrap()), vec![2, 2, 1]));
    assert_eq!(app.invalid(Method::GET, "/api/meetings?from=2026-12-25&to=2026-12-24", &a, None).await, ["from"]);
    app.expect(Method::GET, "/api/meetings?to=christmas", &a, None, StatusCode::BAD_REQUEST).await;
}

#[rstest]
#[tokio::test]
async fn places_are_found_by_name_in_either_script_and_any_case_by_category_and_by_distance(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn(backend).await else { return };
    let (a, _, _) = test_couple();
    let tower = place_id("n-seoul-tower").to_string();
    let (app, a) = (&app, &a);
    let search = |query: &str| {
        let path = format!("/api/places?{query}");
        async move { ids(app.get(&path, a).await.as_array().unwrap()) }
    };
    let korean = search("q=%ED%83%80%EC%9B%8C").await; // 타워
    assert_eq!(korean, by_rating(named("타워")));
    assert!(korean.contains(&tower), "N서울타워 is found by 타워");
    for latin in ["tower", "TOWER", "ToWeR"] {
        assert_eq!(search(&format!("q={latin}")).await, by_rating(named("tower")), "{latin}");
    }
    assert!(search("q=seoul%20tower").await.contains(&tower));
    // `%` and `_` are literal characters, not wildcards.
    assert_eq!(search("q=%25").await, by_rating(named("%")));
    assert_eq!(search("q=_").await, by_rating(named("_")));
    assert_eq!(search("category=museum").await, by_rating(|p| p.category == Category::Museum));
    assert_eq!(search("category=night_view&q=tower").await, by_rating(|p| p.category == Category::NightView && named("tower")(p)));

    // Everything, best rated first, page by page: the whole catalogue was loaded at start.
    let (paged, _) = app.all_pages("/api/places", a, 2).await;
    assert_eq!(ids(&paged), by_rating(|_| true));

    // Nearest first within the radius, each with its distance.
    let centre = LatLon::new(37.5512, 126.9882).unwrap();
    let mut near: Vec<(f64, String)> =
        catalogue().iter().map(|p| (centre.distance_km(p.location()), p.id().to_string())).filter(|(km, _)| *km <= 3.0).collect();
    near.sort_by(|x, y| x.0.total_cmp(&y.0).then_with(|| x.1.cmp(&y.1)));
    let found = app.get("/api/places?near=37.5512,126.9882&radiusKm=3", a).await;
    let found = found.as_array().unwrap();
    assert_eq!(ids(found), near.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>());
    assert_eq!((found[0]["id"].as_str(), found[0]["distanceKm"].as_f64()), (Some(tower.as_str()), Some(0.0)));
    for (place, (km, _)) in found.iter().zip(&near) {
        assert!((place["distanceKm"].as_f64().unwrap() - km).abs() < 0.001, "{place}");
    }
    let (paged, sizes) = app.all_pages("/api/places?near=37.5512,126.9882&radiusKm=3", a, 1).await;
    assert_eq!((ids(&paged), sizes.len()), (ids(found), found.len().max(1)));
    let (default_radius, _) = app.all_pages("/api/places?near=37.5512,126.9882", a, 200).await;
    assert_eq!(default_radius.len(), catalogue().iter().filter(|p| centre.distance_km(p.location()) <= 5.0).count(), "5 km by default");
    let far = app.get("/api/places?near=35.1796,129.0756&radiusKm=1&q=zzz-nothing", a).await;
    assert_eq!(far, json!([]));

    for (query, fields) in [
        ("category=zoo", vec!["category"]),
        ("near=91,0", vec!["near"]),
        ("radiusKm=2", vec!["radiusKm"]),
        ("near=37.5,127&radiusKm=60", vec!["radiusKm"]),
        ("near=37.5,127&radiusKm=0", vec!["radiusKm"]),
        ("near=37.5,181&category=zoo", vec!["category", "near"]),
    ] {
        assert_eq!(app.invalid(Method::GET, &format!("/api/places?{query}"), a, None).await, fields, "{query}");
    }
    let zoo = app.expect(Method::GET, "/api/places?category=zoo", a, None, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(zoo["error"]["fields"]["category"].as_str().unwrap().contains("night_view"), "the allowed categories are listed");
    // A cursor of the right shape carrying a NUL, which PostgreSQL would refuse.
    let forged = couple_common::paging::encode_cursor(&json!({"rating": 4.0, "name": "a\u{0}", "id": Uuid::now_v7()}));
    let forged = format!("cursor={forged}");
    for bad in ["near=seoul", "near=37.5", "radiusKm=far&near=37.5,127", "cursor=zzz", &forged] {
        app.expect(Method::GET, &format!("/api/places?{bad}"), a, None, StatusCode::BAD_REQUEST).await;
    }

    let one = app.get(&format!("/api/places/{tower}"), a).await;
    let expected = catalogue().into_iter().find(|p| p.slug == "n-seoul-tower").unwrap();
    assert_eq!(
        one,
        json!({"id": tower, "name": expected.name, "nameEn": expected.name_en, "address": expected.address, "city": expected.city,
            "category": expected.category, "rating": expected.rating, "latitude": expected.latitude, "longitude": expected.longitude,
            "indoor": expected.indoor, "keywords": expected.keywords})
    );
    app.expect(Method::GET, &format!("/api/places/{}", Uuid::now_v7()), a, None, StatusCode::NOT_FOUND).await;
    app.expect(Method::GET, "/api/places/n-seoul-tower", a, None, StatusCode::NOT_FOUND).await;
}

#[rstest]
#[tokio::test]
async fn erasure_needs_the_internal_token_is_idempotent_and_takes_only_what_it_should(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn(backend).await else { return };
    let (a, b, couple_id) = test_couple();
    let (outsider, _, outsider_couple) = test_couple();
    let schedule = app.schedule(&a, "ours", "2026-12-24T19:00:00Z").await;
    let meeting = app.meeting(&a, json!({})).await;
    let theirs = app.schedule(&outsider, "theirs", "2026-12-24T19:00:00Z").await;
    let feed = |couple_id, created_by| FeedRecord {
        id: Uuid::now_v7(),
        couple_id,
        secret: Uuid::new_v4().simple().to_string(),
        created_by,
        created_at: noon(),
        revoked_at: None,
    };
    let (a_feed, b_feed) = (feed(couple_id, a.id), feed(couple_id, b.id));
    app.store.create_feed(&a_feed).await.unwrap();
    app.store.create_feed(&b_feed).await.unwrap();

    let user_path = format!("/internal/users/{}", a.id);
    let couple_path = format!("/internal/couples/{couple_id}");
    for path in [&user_path, &couple_path] {
        assert_eq!(internal_delete(&app, path, None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(internal_delete(&app, path, Some("wrong-token")).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.store.active_feeds(couple_id).await.unwrap().len(), 2, "nothing happened");
    assert_eq!(internal_delete(&app, "/internal/users/not-an-id", Some(TEST_INTERNAL_TOKEN)).await, StatusCode::BAD_REQUEST);

    for _ in 0..2 {
        assert_eq!(internal_delete(&app, &user_path, Some(TEST_INTERNAL_TOKEN)).await, StatusCode::NO_CONTENT);
    }
    assert_eq!(app.store.active_feeds(couple_id).await.unwrap(), [b_feed], "the user's feed stops working");
    assert_eq!(app.get(&format!("/api/schedules/{}", schedule["id"].as_str().unwrap()), &b).await, schedule, "the couple's data stays");

    for _ in 0..2 {
        assert_eq!(internal_delete(&app, &couple_path, Some(TEST_INTERNAL_TOKEN)).await, StatusCode::NO_CONTENT);
    }
    assert_eq!(app.get("/api/schedules", &b).await, json!([]));
    assert_eq!(app.get("/api/meetings", &b).await, json!([]));
    app.expect(Method::GET, &format!("/api/meetings/{}", meeting["id"].as_str().unwrap()), &b, None, StatusCode::NOT_FOUND).await;
    assert!(app.store.active_feeds(couple_id).await.unwrap().is_empty());
    assert_eq!(app.get("/api/schedules", &outsider).await, json!([theirs]), "another couple keeps theirs");
    let nobody = format!("/internal/couples/{}", Uuid::now_v7());
    assert_eq!(internal_delete(&app, &nobody, Some(TEST_INTERNAL_TOKEN)).await, StatusCode::NO_CONTENT, "nothing there is fine");
    assert!(app.store.active_feeds(outsider_couple).await.unwrap().is_empty());
}

#[tokio::test]
async fn without_an_internal_token_configured_the_internal_api_does_not_exist() {
    let db = couple_common::test_util::TestDatabase::sqlite();
    let mut config = schedule_meeting::Config::default();
    config.database.database_url = db.url().to_owned();
    let mut shared = couple_common::test_util::shared_config();
    shared.internal_token = None;
    let server = couple_common::test_util::TestServer::spawn::<schedule_meeting::ScheduleMeeting>(&config, &shared).await;
    for path in [format!("/internal/users/{}", Uuid::now_v7()), format!("/internal/couples/{}", Uuid::now_v7())] {
        let res = server.http.delete(server.url(&path)).header("x-internal-token", TEST_INTERNAL_TOKEN).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_its_references_resolve() {
    let app = spawn(Backend::Sqlite).await.expect("SQLite needs no server");
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for (path, methods) in [
        ("/api/schedules", &["get", "post"][..]),
        ("/api/schedules/{id}", &["get", "put", "delete"]),
        ("/api/meetings", &["get", "post"]),
        ("/api/meetings/{id}", &["get", "put", "delete"]),
        ("/api/places", &["get"]),
        ("/api/places/{id}", &["get"]),
        ("/api/schedules/calendar", &["get"]),
        ("/api/calendar/feeds", &["get", "post"]),
        ("/api/calendar/feeds/{id}", &["delete"]),
        ("/api/calendar/feeds/{secret}.ics", &["get"]),
        ("/api/meetings/recommend", &["post"]),
        ("/internal/users/{id}", &["delete"]),
        ("/internal/couples/{id}", &["delete"]),
    ] {
        for method in methods {
            assert!(doc["paths"][path][method].is_object(), "{method} {path} is not documented");
        }
    }
    assert!(doc["paths"]["/api/schedules/{id}"]["get"]["responses"]["403"].is_object());
    // The feed is public: its secret is the credential.
    let feed = &doc["paths"]["/api/calendar/feeds/{secret}.ics"]["get"];
    assert!(feed["security"].as_array().is_none_or(|s| s.is_empty()), "{feed}");
    assert!(feed["responses"]["200"]["content"]["text/calendar"].is_object(), "{feed}");
    assert_eq!(couple_common::test_util::dangling_refs(&doc), Vec::<String>::new());
}

#[rstest]
#[tokio::test]
async fn migrate_leaves_the_database_ready_to_serve_with_the_catalogue(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    use couple_common::kit::ServiceMain;
    let Some(db) = couple_common::test_util::TestDatabase::create(backend).await else { return };
    let mut config = schedule_meeting::Config::default();
    config.database.database_url = db.url().to_owned();
    config.auto_migrate = false;
    for _ in 0..2 {
        schedule_meeting::ScheduleMeeting::migrate(&config).await.unwrap();
    }
    let store = schedule_meeting::open_store(&config).await.unwrap();
    let ids: Vec<Uuid> = catalogue().iter().map(CataloguePlace::id).collect();
    assert_eq!(store.places_by_ids(&ids).await.unwrap().len(), ids.len(), "every shipped place, once");
    // The pods run with migrations off and serve from what the Job left.
    let server = couple_common::test_util::TestServer::spawn::<schedule_meeting::ScheduleMeeting>(
        &config,
        &couple_common::test_util::shared_config(),
    )
    .await;
    let (a, _, _) = test_couple();
    let (status, body) = server.call(Method::GET, "/api/places?limit=200", Some(&a.token), None).await;
    assert_eq!((status, body["data"].as_array().map(Vec::len)), (StatusCode::OK, Some(ids.len().min(200))));
    let (status, body) = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((status, &body["data"]["checks"]["database"]), (StatusCode::OK, &json!("ok")), "{body}");
}
