//! End to end: the real chat service next to the real user-couple service, behind the real
//! gateway. Partners who signed up and paired through the gateway chat over WebSockets and REST
//! through it, as a client would; behind it only to check what erasure left. The same backend
//! matrix as `e2e.rs`: SQLite without Redis, PostgreSQL with Redis (chat fans out through it).

use std::time::{Duration, Instant};

use chat::Chat;
use couple_common::{
    db::PoolSettings,
    test_util::{
        self, Backend, TestDatabase,
        chat_socket::{Socket, WAIT, close_code, expect, next, open, ready, say, send, seqs},
    },
};
use couple_registry::{CHAT, USER_COUPLE};
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, handshake::client::Request};
use user_couple::store::ErasureKind;
use uuid::Uuid;

use crate::{
    e2e::{self, Restartable},
    support,
};

/// The browser origin the gateway allows.
const APP_ORIGIN: &str = "https://app.example";

/// The platform of `e2e.rs` with chat behind the gateway too, and user-couple erasing deleted
/// accounts and couples in it. Dropped in order: gateway and user-couple, then chat.
struct Platform {
    base: e2e::Platform,
    chat: Restartable<Chat>,
}

impl std::ops::Deref for Platform {
    type Target = e2e::Platform;

    fn deref(&self) -> &e2e::Platform {
        &self.base
    }
}

/// Starts the platform; `None` (skip) when the servers are not running.
async fn start(backend: Backend) -> Option<Platform> {
    let database = TestDatabase::create(backend).await?;
    let redis_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(test_util::redis_url()?),
    };
    // chat's address first: user-couple erases in it and the gateway routes to it, and it calls
    // user-couple, which starts with the gateway.
    let (listener, chat_url) = support::listener().await;
    let at_chat = |peers: &mut couple_common::config::PeerUrls| *peers = std::mem::take(peers).with(&CHAT, chat_url.clone());
    let base = e2e::start_with(
        backend,
        |c| {
            at_chat(&mut c.peers);
            c.erasure_services = CHAT.name.to_owned();
            // Retry a refused erasure every second rather than backing off to minutes.
            c.erasure_retry_max_secs = 1;
        },
        |c| {
            at_chat(&mut c.peers);
            c.allowed_origins = vec![APP_ORIGIN.into()];
        },
    )
    .await?;
    let mut config = chat::Config::default();
    config.database.database_url = database.url().to_owned();
    config.redis.redis_url = redis_url;
    config.redis.redis_prefix = test_util::redis_prefix();
    config.peers = couple_common::config::PeerUrls::default().with(&USER_COUPLE, base.user_couple.base.clone());
    let chat = Restartable::serve(listener, config, database).await;
    Some(Platform { base, chat })
}

/// A member of a couple: access token and user id.
struct Member {
    token: String,
    id: String,
}

impl Platform {
    /// A new couple: its members (the code's creator first) and its id.
    async fn members(&self) -> (Member, Member, String) {
        let ((a, a_id), (b, b_id), couple) = self.couple().await;
        (Member { token: a, id: a_id }, Member { token: b, id: b_id }, couple)
    }

    /// The `data` of a call through the gateway that must answer `status`.
    async fn expect(&self, method: Method, path: &str, token: &str, body: Option<Value>, status: StatusCode) -> Value {
        let (got, body) = self.call(method.clone(), path, Some(token), body).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        body["data"].clone()
    }

    /// The error code of a call through the gateway that must answer `status`.
    async fn refused(&self, method: Method, path: &str, token: &str, body: Option<Value>, status: StatusCode) -> String {
        let (got, body) = self.call(method.clone(), path, Some(token), body).await;
        assert_eq!((got, &body["success"]), (status, &json!(false)), "{method} {path}: {body}");
        body["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// `GET /api/chat/rooms/` as `token`.
    async fn rooms(&self, token: &str) -> Vec<Value> {
        self.expect(Method::GET, "/api/chat/rooms/", token, None, StatusCode::OK).await.as_array().expect("a list").clone()
    }

    /// The couple's default room as `token` sees it in the room list.
    async fn default_room(&self, token: &str) -> Value {
        let rooms = self.rooms(token).await;
        assert_eq!(rooms[0]["isDefault"], true, "the default room comes first: {rooms:?}");
        rooms[0].clone()
    }

    /// A WebSocket request to the gateway for `path_and_query`.
    fn ws(&self, path_and_query: &str) -> Request {
        format!("ws://{}{path_and_query}", self.gateway.addr).into_client_request().unwrap()
    }

    /// A socket through the gateway to `room` with the token in the query (as browsers do).
    async fn connect(&self, room: &str, token: &str, after: Option<&str>) -> Socket {
        let after = after.map(|id| format!("&after={id}")).unwrap_or_default();
        open(self.ws(&format!("/ws/chat/{room}/?token={token}{after}"))).await
    }

    /// chat's store, to check what erasure left behind the gateway.
    async fn chat_store(&self) -> std::sync::Arc<dyn chat::store::Store> {
        chat::store::connect(self.chat.database.url(), PoolSettings::default()).await.unwrap()
    }
}

/// The status with which the gateway refused the upgrade (no socket at all), and its error code.
async fn refused_upgrade(request: Request) -> (StatusCode, String) {
    match timeout(WAIT, tokio_tungstenite::connect_async(request)).await.expect("an answer in time") {
        Err(tungstenite::Error::Http(response)) => {
            let body: Value = response.body().as_deref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
            (response.status(), body["error"]["code"].as_str().unwrap_or_default().to_owned())
        }
        Ok(_) => panic!("the upgrade must be refused"),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// The next `n` frames, which must all be messages.
async fn messages(socket: &mut Socket, n: usize) -> Vec<Value> {
    let mut frames = Vec::new();
    for _ in 0..n {
        frames.push(expect(socket, "chat.message").await);
    }
    frames
}

fn ids(frames: &[Value]) -> Vec<String> {
    frames.iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect()
}

/// The unread count and read marker of the default room in `token`'s room list.
async fn unread(p: &Platform, token: &str) -> (i64, Value) {
    let room = p.default_room(token).await;
    (room["unread"].as_i64().unwrap(), room["lastReadId"].clone())
}

#[rstest]
#[tokio::test]
async fn partners_chat_through_the_gateway_with_echoes_typing_and_read_receipts(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(p) = start(backend).await else { return };
    let (mina, joon, couple) = p.members().await;
    let room = p.default_room(&mina.token).await;
    assert_eq!((&room["coupleId"], room["unread"].as_i64(), &room["lastSeq"]), (&json!(couple), Some(0), &json!(0)), "{room}");
    let room = room["id"].as_str().unwrap().to_owned();
    assert_eq!(p.default_room(&joon.token).await["id"], room.as_str(), "both partners share the default room");

    // Mina as a browser: the token in the query, from the allowed origin. Joon as an app: the
    // token in Authorization, on the seed's path.
    let mut request = p.ws(&format!("/ws/chat/{room}/?token={}", mina.token));
    request.headers_mut().insert("origin", APP_ORIGIN.parse().unwrap());
    let mut sm = open(request).await;
    let mut request = p.ws(&format!("/ws/chat/{room}/chat/"));
    request.headers_mut().insert("authorization", format!("Bearer {}", joon.token).parse().unwrap());
    let mut sj = open(request).await;
    assert!(ready(&mut sm).await.is_empty());
    assert!(ready(&mut sj).await.is_empty());

    for i in 0..3 {
        say(&mut sm, &format!("mina {i}"), &format!("m-{i}")).await;
        say(&mut sj, &format!("joon {i}"), &format!("j-{i}")).await;
    }
    let (seen_m, seen_j) = (messages(&mut sm, 6).await, messages(&mut sj, 6).await);
    assert_eq!(seqs(&seen_m), (1..=6).collect::<Vec<_>>(), "every message once, in seq order");
    assert_eq!(seen_m, seen_j, "both partners see the same messages in the same order");
    for (prefix, sender) in [("m", &mina.id), ("j", &joon.id)] {
        let own: Vec<&Value> = seen_m.iter().filter(|f| f["senderId"] == sender.as_str()).collect();
        let client_ids: Vec<&str> = own.iter().map(|f| f["clientId"].as_str().unwrap()).collect();
        assert_eq!(client_ids, (0..3).map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>(), "each echo in the order sent");
        assert!(own.iter().all(|f| f["roomId"] == room.as_str()), "{own:?}");
    }

    // Typing reaches the partner, not the typist: Joon's next frame is Mina's next message.
    send(&mut sj, json!({"type": "chat.typing"})).await;
    let typing = expect(&mut sm, "chat.typing").await;
    assert_eq!((&typing["userId"], &typing["roomId"]), (&json!(joon.id), &json!(room)), "{typing}");
    assert!(typing["expiresInMs"].as_u64().is_some_and(|ms| ms > 0), "{typing}");
    // Names come from user-couple (every test user signs up as Mina).
    assert_eq!(typing["nickname"], "Mina", "{typing}");
    say(&mut sm, "mina 3", "m-3").await;
    let seventh = expect(&mut sj, "chat.message").await;
    assert_eq!((seventh["seq"].as_i64(), &seventh["clientId"]), (Some(7), &json!("m-3")), "{seventh}");
    assert_eq!(seventh["nickname"], "Mina", "{seventh}");
    assert_eq!(expect(&mut sm, "chat.message").await, seventh);
    let all: Vec<Value> = seen_m.into_iter().chain([seventh]).collect();
    let from = |sender: &str, after: i64| {
        let count = all.iter().filter(|f| f["senderId"] == sender && f["seq"].as_i64().unwrap() > after).count();
        i64::try_from(count).unwrap()
    };

    // Unread: the partner's messages after the marker; it follows the read receipts.
    assert_eq!(unread(&p, &mina.token).await, (from(&joon.id, 0), Value::Null));
    assert_eq!(unread(&p, &joon.token).await, (from(&mina.id, 0), Value::Null));
    let third = &all[2];
    send(&mut sj, json!({"type": "chat.read", "lastReadId": third["id"]})).await;
    for socket in [&mut sm, &mut sj] {
        let receipt = expect(socket, "chat.read").await;
        assert_eq!((&receipt["userId"], &receipt["lastReadId"], &receipt["seq"]), (&json!(joon.id), &third["id"], &json!(3)), "{receipt}");
    }
    assert_eq!(unread(&p, &joon.token).await, (from(&mina.id, 3), third["id"].clone()));
    let last = &all[6];
    send(&mut sm, json!({"type": "chat.read", "lastReadId": last["id"]})).await;
    for socket in [&mut sj, &mut sm] {
        let receipt = expect(socket, "chat.read").await;
        assert_eq!((&receipt["userId"], &receipt["seq"]), (&json!(mina.id), &json!(7)), "{receipt}");
    }
    assert_eq!(unread(&p, &mina.token).await, (0, last["id"].clone()));
    assert_eq!(unread(&p, &joon.token).await.0, from(&mina.id, 3), "Mina's receipt moves only hers");
}

#[rstest]
#[tokio::test]
async fn a_message_posted_over_rest_reaches_both_sockets_once(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(p) = start(backend).await else { return };
    let (mina, joon, _) = p.members().await;
    let room = p.default_room(&mina.token).await["id"].as_str().unwrap().to_owned();
    let (mut sm, mut sj) = (p.connect(&room, &mina.token, None).await, p.connect(&room, &joon.token, None).await);
    ready(&mut sm).await;
    ready(&mut sj).await;

    let body = json!({"roomId": room, "message": "from the app", "clientId": "rest-1"});
    let posted = p.expect(Method::POST, "/api/chat/messages/", &mina.token, Some(body.clone()), StatusCode::CREATED).await;
    for socket in [&mut sm, &mut sj] {
        let frame = expect(socket, "chat.message").await;
        assert_eq!((&frame["id"], &frame["seq"], &frame["clientId"]), (&posted["id"], &json!(1), &json!("rest-1")), "{frame}");
        assert_eq!(frame["senderId"], mina.id.as_str());
    }
    let again = p.expect(Method::POST, "/api/chat/messages/", &mina.token, Some(body), StatusCode::OK).await;
    assert_eq!(again, posted, "a resend answers the stored message");
    // No second frame for the resend, and no seq burnt: the next frame is the next message.
    say(&mut sj, "after", "j-1").await;
    for socket in [&mut sm, &mut sj] {
        let frame = expect(socket, "chat.message").await;
        assert_eq!((&frame["seq"], &frame["clientId"]), (&json!(2), &json!("j-1")), "{frame}");
    }
    let history = p.expect(Method::GET, &format!("/api/chat/rooms/{room}/messages/"), &joon.token, None, StatusCode::OK).await;
    assert_eq!(seqs(history.as_array().unwrap()), [1, 2], "{history}");
}

#[rstest]
#[tokio::test]
async fn a_partner_who_reconnects_with_after_gets_exactly_what_was_missed_then_live_messages(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(p) = start(backend).await else { return };
    let (mina, joon, _) = p.members().await;
    let room = p.default_room(&mina.token).await["id"].as_str().unwrap().to_owned();
    let (mut sm, mut sj) = (p.connect(&room, &mina.token, None).await, p.connect(&room, &joon.token, None).await);
    ready(&mut sm).await;
    ready(&mut sj).await;
    say(&mut sm, "before", "m-0").await;
    let seen = expect(&mut sj, "chat.message").await;
    expect(&mut sm, "chat.message").await;

    sj.close(None).await.unwrap();
    drop(sj);
    for i in 1..=5 {
        say(&mut sm, &format!("missed {i}"), &format!("m-{i}")).await;
    }
    let missed = messages(&mut sm, 5).await;
    assert_eq!(seqs(&missed), [2, 3, 4, 5, 6]);

    let mut sj = p.connect(&room, &joon.token, seen["id"].as_str()).await;
    let caught_up = ready(&mut sj).await;
    assert_eq!(ids(&caught_up), ids(&missed), "exactly the missed messages, in order");
    assert_eq!(caught_up, missed);
    say(&mut sm, "live", "m-6").await;
    let live = expect(&mut sj, "chat.message").await;
    assert_eq!((&live["seq"], &live["clientId"]), (&json!(7), &json!("m-6")), "{live}");
    // Joon answers on the resumed socket; Mina gets it after her own echo.
    say(&mut sj, "back", "j-1").await;
    assert_eq!(seqs(&messages(&mut sm, 2).await), [7, 8]);
    assert_eq!(expect(&mut sj, "chat.message").await["seq"], 8);
}

#[rstest]
#[tokio::test]
async fn only_the_couple_reaches_its_room_and_the_gateway_refuses_upgrades_without_a_good_token_or_origin(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(p) = start(backend).await else { return };
    let (mina, _, _) = p.members().await;
    let (other, _, _) = p.members().await;
    let (single, _, _) = p.user().await;
    let room = p.default_room(&mina.token).await["id"].as_str().unwrap().to_owned();
    let mut sm = p.connect(&room, &mina.token, None).await;
    ready(&mut sm).await;
    say(&mut sm, "ours", "m-1").await;
    let ours = expect(&mut sm, "chat.message").await;

    // Another couple: the room and its messages are not found, and the socket closes 4003.
    for path in [format!("/api/chat/rooms/{room}/"), format!("/api/chat/rooms/{room}/messages/")] {
        assert_eq!(p.refused(Method::GET, &path, &other.token, None, StatusCode::NOT_FOUND).await, "NOT_FOUND", "{path}");
    }
    let body = json!({"roomId": room, "message": "intruding"});
    p.refused(Method::POST, "/api/chat/messages/", &other.token, Some(body), StatusCode::NOT_FOUND).await;
    let read = json!({"lastReadId": ours["id"]});
    p.refused(Method::PUT, &format!("/api/chat/rooms/{room}/read/"), &other.token, Some(read), StatusCode::NOT_FOUND).await;
    assert_eq!(close_code(&mut p.connect(&room, &other.token, None).await).await, Some(4003), "another couple's room");
    assert_eq!(close_code(&mut p.connect(&Uuid::now_v7().to_string(), &mina.token, None).await).await, Some(4003), "no such room");

    // A user without a couple: 403 on REST, 4003 on the socket.
    assert_eq!(p.refused(Method::GET, "/api/chat/rooms/", &single, None, StatusCode::FORBIDDEN).await, "NO_COUPLE");
    assert_eq!(close_code(&mut p.connect(&room, &single, None).await).await, Some(4003), "no couple");

    // Refused by the gateway before chat sees anything: no token, a bad one, a foreign origin.
    assert_eq!(refused_upgrade(p.ws(&format!("/ws/chat/{room}/"))).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(refused_upgrade(p.ws(&format!("/ws/chat/{room}/?token=not.a.token"))).await.0, StatusCode::UNAUTHORIZED);
    let mut request = p.ws(&format!("/ws/chat/{room}/?token={}", mina.token));
    request.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(refused_upgrade(request).await, (StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED".into()));

    // None of it reached the room.
    say(&mut sm, "still ours", "m-2").await;
    assert_eq!(expect(&mut sm, "chat.message").await["seq"], 2);
    let history = p.expect(Method::GET, &format!("/api/chat/rooms/{room}/messages/"), &mina.token, None, StatusCode::OK).await;
    assert_eq!(seqs(history.as_array().unwrap()), [1, 2], "{history}");
}

#[rstest]
#[tokio::test]
async fn after_logout_the_gateway_refuses_a_new_upgrade_with_the_old_token_within_a_second(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(p) = start(backend).await else { return };
    let (mina, _, _) = p.members().await;
    let room = p.default_room(&mina.token).await["id"].as_str().unwrap().to_owned();
    let mut before = p.connect(&room, &mina.token, None).await;
    ready(&mut before).await;
    before.close(None).await.unwrap();

    p.expect(Method::POST, "/api/users/logout", &mina.token, None, StatusCode::OK).await;
    let started = Instant::now();
    loop {
        match timeout(WAIT, tokio_tungstenite::connect_async(p.ws(&format!("/ws/chat/{room}/?token={}", mina.token)))).await.unwrap() {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap_or_default();
                assert_eq!(body["error"]["code"], "TOKEN_REVOKED", "{body}");
                break;
            }
            Ok((mut socket, _)) => {
                socket.close(None).await.ok();
                assert!(started.elapsed() < Duration::from_secs(1), "the old token still opens sockets after a second");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    // The header form is refused alike.
    let mut request = p.ws(&format!("/ws/chat/{room}/"));
    request.headers_mut().insert("authorization", format!("Bearer {}", mina.token).parse().unwrap());
    assert_eq!(refused_upgrade(request).await, (StatusCode::UNAUTHORIZED, "TOKEN_REVOKED".into()));
}

/// Whether chat serves while the couple's members delete their accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChatDuringDeletion {
    Running,
    Stopped,
}

#[rstest]
#[tokio::test]
async fn a_couples_rooms_are_erased_once_its_last_member_deletes_the_account(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    #[values(ChatDuringDeletion::Running, ChatDuringDeletion::Stopped)] chat: ChatDuringDeletion,
) {
    let Some(mut p) = start(backend).await else { return };
    let (mina, joon, couple) = p.members().await;
    let (other, _, other_couple) = p.members().await;
    let room = p.default_room(&mina.token).await["id"].as_str().unwrap().to_owned();
    let extra = p.expect(Method::POST, "/api/chat/rooms/", &joon.token, Some(json!({"name": "Trips"})), StatusCode::CREATED).await;
    let extra = extra["id"].as_str().unwrap().to_owned();
    for (token, room, text) in [(&mina.token, &room, "hi"), (&joon.token, &room, "hello"), (&joon.token, &extra, "Jeju?")] {
        let body = json!({"roomId": room, "message": text});
        p.expect(Method::POST, "/api/chat/messages/", token, Some(body), StatusCode::CREATED).await;
    }
    let first = p.expect(Method::GET, &format!("/api/chat/rooms/{room}/messages/"), &mina.token, None, StatusCode::OK).await;
    for member in [&mina, &joon] {
        let body = json!({"lastReadId": first[1]["id"]});
        p.expect(Method::PUT, &format!("/api/chat/rooms/{room}/read/"), &member.token, Some(body), StatusCode::OK).await;
    }
    let theirs = p.default_room(&other.token).await["id"].as_str().unwrap().to_owned();
    p.expect(Method::POST, "/api/chat/messages/", &other.token, Some(json!({"roomId": theirs, "message": "ours"})), StatusCode::CREATED)
        .await;
    let joon_email = p.expect(Method::GET, "/api/users/me", &joon.token, None, StatusCode::OK).await["email"].clone();
    // Joon's socket stays open across both deletions while chat runs: the erasure closes it.
    let mut sj = p.connect(&room, &joon.token, None).await;
    ready(&mut sj).await;

    let store = p.chat_store().await;
    let outbox = user_couple::store::connect(p.user_couple_db.url(), PoolSettings::default()).await.unwrap();
    let pending = async |kind| outbox.pending_erasures(kind, CHAT.name).await.unwrap();
    let room_id: Uuid = room.parse().unwrap();
    let readers = async || {
        let mut readers: Vec<String> = store.read_markers(room_id).await.unwrap().iter().map(|m| m.user_id.to_string()).collect();
        readers.sort();
        readers
    };
    let mut both = vec![mina.id.clone(), joon.id.clone()];
    both.sort();
    assert_eq!(readers().await, both);

    if chat == ChatDuringDeletion::Stopped {
        p.chat.stop().await;
        assert_eq!(next(&mut sj).await, Err(Some(1001)), "going away: reconnect with after");
    }
    let (status, body) = p.call(Method::DELETE, "/api/users/me", Some(&mina.token), None).await;
    assert!(status.is_success(), "{status}: {body}");
    if chat == ChatDuringDeletion::Running {
        // What is Mina's alone (her read marker) goes at once; the couple's rooms stay for Joon.
        support::wait_until("Mina's erasure confirmed", async || pending(ErasureKind::User).await == 0).await;
        assert_eq!(readers().await, std::slice::from_ref(&joon.id));
        assert!(store.room(room_id).await.unwrap().is_some(), "the room stays while Joon has an account");
    }
    let (status, login) =
        p.call(Method::POST, "/api/users/login", None, Some(json!({"email": joon_email, "password": "password-123"}))).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let (status, body) = p.call(Method::DELETE, "/api/users/me", login["data"]["accessToken"].as_str(), None).await;
    assert!(status.is_success(), "{status}: {body}");

    if chat == ChatDuringDeletion::Stopped {
        // Attempts fail while chat is down; the rows stay until it is back.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!((pending(ErasureKind::User).await, pending(ErasureKind::Couple).await), (2, 1), "queued while chat is down");
        assert!(store.room(room_id).await.unwrap().is_some());
        p.chat.restart().await;
    } else {
        assert_eq!(next(&mut sj).await, Err(Some(4003)), "the open socket of an erased room closes");
    }
    support::wait_until("the couple erased in chat", async || pending(ErasureKind::User).await + pending(ErasureKind::Couple).await == 0)
        .await;
    for id in [&room, &extra] {
        let id: Uuid = id.parse().unwrap();
        assert_eq!(store.room(id).await.unwrap(), None, "room {id} erased");
        assert_eq!(store.messages(id, chat::store::Window::Latest, 10).await.unwrap(), [], "messages of {id} erased");
    }
    assert_eq!(readers().await, Vec::<String>::new());
    assert!(store.rooms(couple.parse().unwrap(), joon.id.parse().unwrap()).await.unwrap().is_empty());
    // Another couple's room and messages stay.
    let theirs = store.rooms(other_couple.parse().unwrap(), other.id.parse().unwrap()).await.unwrap();
    assert_eq!(theirs.iter().map(|v| v.room.last_seq).collect::<Vec<_>>(), [1]);
}
