//! The HTTP API, black-box: the real service on a free port on SQLite and on PostgreSQL, with
//! tokens the test issues.

use couple_common::test_util::{Backend, TEST_INTERNAL_TOKEN, TestUser, test_couple};
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, field, spawn, spawn_with};

/// `DELETE /internal/...` with `token`.
async fn internal_delete(app: &TestApp, path: &str, token: Option<&str>) -> StatusCode {
    let mut req = app.http.delete(app.url(path));
    if let Some(token) = token {
        req = req.header("x-internal-token", token);
    }
    req.send().await.unwrap().status()
}

/// `count` messages `user` posts to `room`, `m1`, `m2`, ...; their bodies.
async fn posts(app: &TestApp, user: &TestUser, room: &str, count: usize) -> Vec<Value> {
    let mut posted = Vec::new();
    for i in 1..=count {
        posted.push(app.post(user, room, &format!("m{i}")).await);
    }
    posted
}

/// One page of history: its messages' texts and `page.nextCursor`.
async fn page(app: &TestApp, user: &TestUser, room: &str, query: &str) -> (Vec<Value>, Option<String>) {
    let body = app.expect(Method::GET, &format!("/api/chat/rooms/{room}/messages/?{query}"), user, None, StatusCode::OK).await;
    let next = body["page"]["nextCursor"].as_str().map(str::to_owned);
    (body["data"].as_array().unwrap().clone(), next)
}

fn texts(messages: &[Value]) -> Vec<String> {
    field(messages, "message").into_iter().map(|m| m.as_str().unwrap().to_owned()).collect()
}

#[rstest]
#[tokio::test]
async fn every_route_needs_a_token_and_a_couple(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let single = TestUser::new(None);
    let some = Uuid::now_v7();
    let routes = [
        (Method::GET, "/api/chat/rooms/".to_owned(), None),
        (Method::GET, "/api/chat/rooms".to_owned(), None),
        (Method::POST, "/api/chat/rooms/".to_owned(), Some(json!({"name": "x"}))),
        (Method::GET, format!("/api/chat/rooms/{some}/"), None),
        (Method::GET, format!("/api/chat/rooms/{some}/messages/"), None),
        (Method::PUT, format!("/api/chat/rooms/{some}/read/"), Some(json!({"lastReadId": some}))),
        (Method::POST, "/api/chat/messages/".to_owned(), Some(json!({"roomId": some, "message": "hi"}))),
    ];
    for (method, path, body) in routes {
        let (status, answer) = app.call(method.clone(), &path, None, body.clone()).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")), "{method} {path}");
        let answer = app.expect(method.clone(), &path, &single, body, StatusCode::FORBIDDEN).await;
        assert_eq!((answer["success"].as_bool(), answer["error"]["code"].as_str()), (Some(false), Some("NO_COUPLE")), "{method} {path}");
    }
}

#[rstest]
#[tokio::test]
async fn the_default_room_comes_first_and_created_rooms_follow(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let (a, b, couple_id) = test_couple();
    let first = app.rooms(&a).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let default = &first[0];
    assert_eq!(
        (&default["coupleId"], &default["name"], &default["isDefault"], &default["createdBy"], &default["lastSeq"]),
        (&json!(couple_id), &json!("우리 둘"), &json!(true), &Value::Null, &json!(0))
    );
    assert_eq!((&default["unread"], &default["lastReadId"], &default["lastMessage"]), (&json!(0), &Value::Null, &Value::Null));
    assert_eq!(app.rooms(&b).await, first, "the partner sees the same default room");

    let created = app.expect(Method::POST, "/api/chat/rooms/", &b, Some(json!({"name": " 여행 계획 "})), StatusCode::CREATED).await;
    assert_eq!(created["success"], true);
    let created = created["data"].clone();
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        created,
        json!({"id": id, "coupleId": couple_id, "name": "여행 계획", "isDefault": false, "createdBy": b.id,
            "createdAt": created["createdAt"], "lastSeq": 0})
    );
    let rooms = app.rooms(&a).await;
    assert_eq!(field(&rooms, "id"), [default["id"].clone(), json!(id)], "the default first, then by creation");
    for path in [format!("/api/chat/rooms/{id}/"), format!("/api/chat/rooms/{id}")] {
        assert_eq!(app.get(&path, &a).await, rooms[1], "{path}");
    }
    let made_without_slash = app.expect(Method::POST, "/api/chat/rooms", &a, Some(json!({"name": "둘째"})), StatusCode::CREATED).await;
    assert_eq!(made_without_slash["data"]["createdBy"], json!(a.id));
    assert_eq!(app.rooms(&b).await.len(), 3);
}

#[rstest]
#[tokio::test]
async fn a_couple_may_have_only_so_many_rooms(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn_with(backend, |config| config.max_rooms = 3).await else { return };
    let (a, _, _) = test_couple();
    for name in ["one", "two"] {
        app.expect(Method::POST, "/api/chat/rooms/", &a, Some(json!({"name": name})), StatusCode::CREATED).await;
    }
    let refused = app.expect(Method::POST, "/api/chat/rooms/", &a, Some(json!({"name": "three"})), StatusCode::CONFLICT).await;
    assert_eq!(refused["error"]["code"], "ROOM_LIMIT", "{refused}");
    assert_eq!(app.rooms(&a).await.len(), 3, "the default room counts");
    let (other, _, _) = test_couple();
    app.expect(Method::POST, "/api/chat/rooms/", &other, Some(json!({"name": "one"})), StatusCode::CREATED).await;
}

#[rstest]
#[tokio::test]
async fn another_couples_rooms_are_not_found(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let (a, _, _) = test_couple();
    let (outsider, _, _) = test_couple();
    let room = app.default_room(&a).await;
    let message = app.post(&a, &room, "ours").await;
    let message_id = message["id"].as_str().unwrap();
    let attempts = [
        (Method::GET, format!("/api/chat/rooms/{room}/"), None),
        (Method::GET, format!("/api/chat/rooms/{room}/messages/"), None),
        (Method::GET, format!("/api/chat/rooms/{room}/messages/?after={message_id}"), None),
        (Method::PUT, format!("/api/chat/rooms/{room}/read/"), Some(json!({"lastReadId": message_id}))),
        (Method::POST, "/api/chat/messages/".to_owned(), Some(json!({"roomId": room, "message": "theirs"}))),
        (Method::GET, "/api/chat/rooms/not-a-room/".to_owned(), None),
    ];
    for (method, path, body) in attempts {
        let answer = app.expect(method.clone(), &path, &outsider, body, StatusCode::NOT_FOUND).await;
        assert_eq!(answer["error"]["code"], "NOT_FOUND", "{method} {path}");
    }
    let theirs = app.rooms(&outsider).await;
    assert_eq!(theirs.len(), 1);
    assert_ne!(theirs[0]["id"], json!(room), "the outsider got a default room of their own");
    let (history, _) = page(&app, &a, &room, "").await;
    assert_eq!(texts(&history), ["ours"], "nothing of the outsider's reached the room");
}

#[rstest]
#[tokio::test]
async fn history_pages_walk_the_room_once_either_way(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let (a, b, _) = test_couple();
    let room = app.default_room(&a).await;
    let posted = posts(&app, &a, &room, 7).await;
    assert_eq!(field(&posted, "seq"), (1..=7).map(|s| json!(s)).collect::<Vec<_>>());
    let ids: Vec<String> = field(&posted, "id").into_iter().map(|id| id.as_str().unwrap().to_owned()).collect();

    let (all, next) = page(&app, &b, &room, "").await;
    assert_eq!((all, next), (posted.clone(), None), "50 by default: the whole room, oldest first, no next page");

    // Backwards from the newest page.
    let (mut walked, mut query, mut pages) = (Vec::new(), "limit=3".to_owned(), Vec::new());
    loop {
        let (messages, next) = page(&app, &b, &room, &query).await;
        pages.push(texts(&messages));
        walked.splice(0..0, messages);
        match next {
            Some(cursor) => query = format!("limit=3&before={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, [vec!["m5", "m6", "m7"], vec!["m2", "m3", "m4"], vec!["m1"]]);
    assert_eq!(walked, posted, "every message once, in order");

    // Forwards from the first message.
    let (mut walked, mut query, mut pages) = (vec![posted[0].clone()], format!("limit=3&after={}", ids[0]), Vec::new());
    loop {
        let (messages, next) = page(&app, &b, &room, &query).await;
        pages.push(texts(&messages));
        walked.extend(messages);
        match next {
            Some(cursor) => query = format!("limit=3&after={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, [vec!["m2", "m3", "m4"], vec!["m5", "m6", "m7"]]);
    assert_eq!(walked, posted);
    let (none, next) = page(&app, &b, &room, &format!("after={}", ids[6])).await;
    assert_eq!((none.len(), next), (0, None), "nothing after the newest");
    let (exact, next) = page(&app, &b, &room, &format!("before={}&limit=6", ids[6])).await;
    assert_eq!((texts(&exact).len(), next), (6, None), "a page that ends exactly at the first message has no next");

    let base = format!("/api/chat/rooms/{room}/messages");
    let both = app.expect(Method::GET, &format!("{base}/?before={}&after={}", ids[1], ids[0]), &b, None, StatusCode::BAD_REQUEST).await;
    assert!(both["message"].as_str().unwrap().contains("not both"), "{both}");
    for bad in ["before=nope", "after=1", "limit=ten"] {
        app.expect(Method::GET, &format!("{base}?{bad}"), &b, None, StatusCode::BAD_REQUEST).await;
    }
    for out_of_range in ["limit=0", "limit=201"] {
        let body = app.expect(Method::GET, &format!("{base}/?{out_of_range}"), &b, None, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(body["error"]["fields"]["limit"].is_string(), "{body}");
    }
    let unknown = app.expect(Method::GET, &format!("{base}/?before={}", Uuid::now_v7()), &b, None, StatusCode::NOT_FOUND).await;
    assert_eq!(unknown["message"], "no such message");
    let other_room = app.expect(Method::POST, "/api/chat/rooms/", &a, Some(json!({"name": "other"})), StatusCode::CREATED).await;
    let other_room = other_room["data"]["id"].as_str().unwrap();
    let elsewhere = format!("/api/chat/rooms/{other_room}/messages/?after={}", ids[0]);
    app.expect(Method::GET, &elsewhere, &b, None, StatusCode::NOT_FOUND).await;
}

#[rstest]
#[tokio::test]
async fn a_resent_client_id_returns_the_stored_message(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let (a, b, _) = test_couple();
    let room = app.default_room(&a).await;
    let body = json!({"roomId": room, "message": "저녁 뭐 먹을까?", "clientId": "c-1"});
    let first = app.expect(Method::POST, "/api/chat/messages/", &a, Some(body.clone()), StatusCode::CREATED).await["data"].clone();
    assert_eq!(
        first,
        json!({"id": first["id"], "roomId": room, "seq": 1, "senderId": a.id, "nickname": null, "message": "저녁 뭐 먹을까?",
            "parentId": null, "clientId": "c-1", "createdAt": first["createdAt"]})
    );
    let resend = json!({"roomId": room, "message": "changed my mind", "clientId": "c-1"});
    let again = app.expect(Method::POST, "/api/chat/messages", &a, Some(resend), StatusCode::OK).await;
    assert_eq!((again["success"].as_bool(), &again["data"]), (Some(true), &first), "the stored message, unchanged");
    let partners = app.expect(Method::POST, "/api/chat/messages/", &b, Some(body), StatusCode::CREATED).await["data"].clone();
    assert_eq!((&partners["seq"], &partners["senderId"]), (&json!(2), &json!(b.id)), "keys are the sender's own");
    let (history, _) = page(&app, &a, &room, "").await;
    assert_eq!(field(&history, "id"), [first["id"].clone(), partners["id"].clone()], "the resend stored nothing");
}

#[rstest]
#[tokio::test]
async fn bodies_are_checked_field_by_field(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn_with(backend, |config| config.max_message_chars = 10).await else { return };
    let (a, _, _) = test_couple();
    let room = app.default_room(&a).await;
    let post = "/api/chat/messages/";
    assert_eq!(app.invalid(Method::POST, post, &a, json!({})).await, ["message", "roomId"]);
    let bad = json!({"roomId": "room", "message": "x".repeat(11), "parentId": "first", "clientId": "has space"});
    assert_eq!(app.invalid(Method::POST, post, &a, bad).await, ["clientId", "message", "parentId", "roomId"]);
    for text in [" \n ", "a\u{0}b"] {
        assert_eq!(app.invalid(Method::POST, post, &a, json!({"roomId": room, "message": text})).await, ["message"], "{text:?}");
    }
    let long_key = json!({"roomId": room, "message": "hi", "clientId": "k".repeat(65)});
    assert_eq!(app.invalid(Method::POST, post, &a, long_key).await, ["clientId"]);
    let stray = json!({"roomId": room, "message": "hi", "parentId": Uuid::now_v7()});
    assert_eq!(app.invalid(Method::POST, post, &a, stray).await, ["parentId"]);
    let other = app.expect(Method::POST, "/api/chat/rooms/", &a, Some(json!({"name": "other"})), StatusCode::CREATED).await;
    let elsewhere = app.post(&a, other["data"]["id"].as_str().unwrap(), "elsewhere").await;
    let wrong_room = json!({"roomId": room, "message": "hi", "parentId": elsewhere["id"]});
    assert_eq!(app.invalid(Method::POST, post, &a, wrong_room).await, ["parentId"], "the parent must be in the same room");

    let first = app.post(&a, &room, "0123456789").await;
    let reply = json!({"roomId": room, "message": "답\n장", "parentId": first["id"]});
    let reply = app.expect(Method::POST, post, &a, Some(reply), StatusCode::CREATED).await["data"].clone();
    assert_eq!((&reply["parentId"], &reply["message"], &reply["seq"]), (&first["id"], &json!("답\n장"), &json!(2)));

    assert_eq!(app.invalid(Method::POST, "/api/chat/rooms/", &a, json!({})).await, ["name"]);
    assert_eq!(app.invalid(Method::POST, "/api/chat/rooms/", &a, json!({"name": "가".repeat(101)})).await, ["name"]);
    let read = format!("/api/chat/rooms/{room}/read/");
    assert_eq!(app.invalid(Method::PUT, &read, &a, json!({})).await, ["lastReadId"]);
    assert_eq!(app.invalid(Method::PUT, &read, &a, json!({"lastReadId": "first"})).await, ["lastReadId"]);
    let (status, malformed) = app.call(Method::POST, post, Some(&a.token), None).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{malformed}");
}

#[rstest]
#[tokio::test]
async fn read_markers_move_forward_and_drive_the_unread_counts(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let (a, b, _) = test_couple();
    let room = app.default_room(&a).await;
    let posted = posts(&app, &a, &room, 3).await;
    let view = |rooms: Vec<Value>| rooms.into_iter().find(|r| r["id"] == json!(room)).unwrap();
    let theirs = view(app.rooms(&b).await);
    assert_eq!(
        (&theirs["unread"], &theirs["lastReadId"], &theirs["lastMessage"], &theirs["lastSeq"]),
        (&json!(3), &Value::Null, &posted[2], &json!(3))
    );
    assert_eq!(view(app.rooms(&a).await)["unread"], 0, "one's own messages are not unread");

    let read = format!("/api/chat/rooms/{room}/read/");
    let marker = app.expect(Method::PUT, &read, &b, Some(json!({"lastReadId": posted[1]["id"]})), StatusCode::OK).await["data"].clone();
    assert_eq!(marker, json!({"roomId": room, "userId": b.id, "lastReadId": posted[1]["id"], "seq": 2, "readAt": marker["readAt"]}));
    let theirs = view(app.rooms(&b).await);
    assert_eq!((&theirs["unread"], &theirs["lastReadId"]), (&json!(1), &posted[1]["id"]));
    assert_eq!(app.get(&format!("/api/chat/rooms/{room}/"), &b).await, theirs, "the room shows what the list shows");

    let back = app.expect(Method::PUT, &read, &b, Some(json!({"lastReadId": posted[0]["id"]})), StatusCode::OK).await["data"].clone();
    assert_eq!(back, marker, "a marker never moves backwards");
    let unknown = app.expect(Method::PUT, &read, &b, Some(json!({"lastReadId": Uuid::now_v7()})), StatusCode::NOT_FOUND).await;
    assert_eq!(unknown["message"], "no such message");
    app.expect(Method::PUT, &read[..read.len() - 1], &b, Some(json!({"lastReadId": posted[2]["id"]})), StatusCode::OK).await;
    let theirs = view(app.rooms(&b).await);
    assert_eq!((&theirs["unread"], &theirs["lastReadId"]), (&json!(0), &posted[2]["id"]));
    assert_eq!(view(app.rooms(&a).await)["lastReadId"], Value::Null, "markers are each member's own");
}

#[rstest]
#[tokio::test]
async fn erasure_takes_the_internal_token_and_is_idempotent(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    let (a, b, couple_id) = test_couple();
    let room = app.default_room(&a).await;
    let posted = posts(&app, &a, &room, 2).await;
    let read = format!("/api/chat/rooms/{room}/read/");
    app.expect(Method::PUT, &read, &b, Some(json!({"lastReadId": posted[1]["id"]})), StatusCode::OK).await;

    let user_path = format!("/internal/users/{}", b.id);
    let couple_path = format!("/internal/couples/{couple_id}");
    for path in [&user_path, &couple_path] {
        assert_eq!(internal_delete(&app, path, None).await, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(internal_delete(&app, path, Some("wrong")).await, StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(internal_delete(&app, "/internal/users/not-a-uuid", Some(TEST_INTERNAL_TOKEN)).await, StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&format!("/api/chat/rooms/{room}/"), &b).await["unread"], 0, "nothing erased without the token");

    for _ in 0..2 {
        assert_eq!(internal_delete(&app, &user_path, Some(TEST_INTERNAL_TOKEN)).await, StatusCode::NO_CONTENT);
    }
    let theirs = app.get(&format!("/api/chat/rooms/{room}/"), &b).await;
    assert_eq!((&theirs["unread"], &theirs["lastReadId"]), (&json!(2), &Value::Null), "the user's marker is gone");
    let (history, _) = page(&app, &a, &room, "").await;
    assert_eq!(history, posted, "what they wrote belongs to the couple and stays");

    let (other, _, _) = test_couple();
    let others_room = app.default_room(&other).await;
    app.post(&other, &others_room, "untouched").await;
    for _ in 0..2 {
        assert_eq!(internal_delete(&app, &couple_path, Some(TEST_INTERNAL_TOKEN)).await, StatusCode::NO_CONTENT);
    }
    app.expect(Method::GET, &format!("/api/chat/rooms/{room}/"), &a, None, StatusCode::NOT_FOUND).await;
    app.expect(Method::GET, &format!("/api/chat/rooms/{room}/messages/"), &a, None, StatusCode::NOT_FOUND).await;
    let room_id: Uuid = room.parse().unwrap();
    assert_eq!(app.store.room(room_id).await.unwrap(), None, "the room is deleted");
    let message_id: Uuid = posted[0]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.store.message(room_id, message_id).await.unwrap(), None, "its messages too");
    let (kept, _) = page(&app, &other, &others_room, "").await;
    assert_eq!(texts(&kept), ["untouched"], "another couple keeps its rooms");
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_its_references_resolve() {
    let app = spawn(Backend::Sqlite).await.expect("SQLite needs no server");
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for (path, methods, statuses) in [
        ("/api/chat/rooms/", &["get", "post"][..], &["403"][..]),
        ("/api/chat/rooms/{id}/", &["get"], &["403", "404"]),
        ("/api/chat/rooms/{id}/messages/", &["get"], &["400", "403", "404", "422"]),
        ("/api/chat/rooms/{id}/read/", &["put"], &["403", "404", "422"]),
        ("/api/chat/messages/", &["post"], &["200", "201", "403", "404", "422", "503"]),
        ("/internal/users/{id}", &["delete"], &["204", "400", "401"]),
        ("/internal/couples/{id}", &["delete"], &["204", "400", "401"]),
    ] {
        for method in methods {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is not documented");
            for status in statuses {
                assert!(operation["responses"][status].is_object(), "{method} {path} does not document {status}");
            }
        }
    }
    assert!(doc["paths"]["/api/chat/rooms/"]["post"]["responses"]["409"].is_object());
    assert_eq!(couple_common::test_util::dangling_refs(&doc), Vec::<String>::new());
}
