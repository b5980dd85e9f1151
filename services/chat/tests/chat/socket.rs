//! The WebSocket protocol against the real service (a real client, both backends): delivery
//! with echo, refusals by close code, resume with `after`, the frame limit, REST posts reaching
//! sockets, and a restart in the middle of a conversation that loses and duplicates nothing.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use chat::{Chat, Config};
use couple_common::test_util::{self, Backend, TestDatabase, TestServer, TestUser, test_couple};
use futures_util::SinkExt;
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};
use tokio::{
    sync::watch,
    time::{Instant, timeout},
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

pub(crate) use couple_common::test_util::chat_socket::{Socket, WAIT, close_code, expect, next, open, ready, say};

use crate::support::spawn_with;

fn config(db: &TestDatabase) -> Config {
    let mut config = Config::default();
    config.database.database_url = db.url().to_owned();
    config
}

async fn server(config: &Config) -> TestServer {
    TestServer::spawn::<Chat>(config, &test_util::shared_config()).await
}

/// The couple's default room on the service at `base`, created by listing the rooms.
pub(crate) async fn default_room(base: &str, user: &TestUser) -> Uuid {
    let (status, body) = test_util::call(&reqwest::Client::new(), base, Method::GET, "/api/chat/rooms/", Some(&user.token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"][0]["id"].as_str().unwrap().parse().unwrap()
}

fn ws_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.replacen("http://", "ws://", 1))
}

/// A socket to `room` as `user` with the token in the query (`after` optional).
pub(crate) async fn connect(base: &str, room: Uuid, user: &TestUser, after: Option<&str>) -> Socket {
    let mut path = format!("/ws/chat/{room}/?token={}", user.token);
    if let Some(after) = after {
        path.push_str(&format!("&after={after}"));
    }
    open(ws_url(base, &path)).await
}

#[rstest]
#[tokio::test]
async fn partners_exchange_messages_both_ways_in_order_with_an_echo(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(server) = spawn_with(backend, |_| {}).await else { return };
    let (a, b, _) = test_couple();
    let room = default_room(&server.base, &a).await;
    let mut sa = connect(&server.base, room, &a, None).await;
    // One partner with the token in the header (as through the gateway), on the seed's path.
    let mut request = ws_url(&server.base, &format!("/ws/chat/{room}/chat")).into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {}", b.token).parse().unwrap());
    let mut sb = open(request).await;
    assert!(ready(&mut sa).await.is_empty());
    assert!(ready(&mut sb).await.is_empty());

    for i in 0..5 {
        say(&mut sa, &format!("a{i}"), &format!("a-{i}")).await;
        say(&mut sb, &format!("b{i}"), &format!("b-{i}")).await;
    }
    let mut seen = HashMap::new();
    for (name, socket) in [("a", &mut sa), ("b", &mut sb)] {
        let mut frames = Vec::new();
        for _ in 0..10 {
            frames.push(expect(socket, "chat.message").await);
        }
        let seqs: Vec<i64> = frames.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "{name} sees every message once, in order");
        seen.insert(name, frames);
    }
    assert_eq!(seen["a"], seen["b"], "both see the same messages");
    for (prefix, sender) in [("a", a.id), ("b", b.id)] {
        let own: Vec<&Value> = seen["a"].iter().filter(|f| f["senderId"] == json!(sender)).collect();
        let ids: Vec<String> = own.iter().map(|f| f["clientId"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids, (0..5).map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>(), "each sender's in the order sent, echoed");
        assert!(own.iter().all(|f| f["message"].as_str().unwrap().starts_with(prefix) && f["roomId"] == json!(room)));
    }
}

#[rstest]
#[tokio::test]
async fn refused_sockets_close_with_their_code(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(server) = spawn_with(backend, |_| {}).await else { return };
    let (a, b, _) = test_couple();
    let (stranger, _, _) = test_couple();
    let room = default_room(&server.base, &a).await;
    let other_room = default_room(&server.base, &stranger).await;
    let mut sa = connect(&server.base, room, &a, None).await;
    ready(&mut sa).await;
    say(&mut sa, "first", "c-1").await;
    let first = expect(&mut sa, "chat.message").await;

    let mut no_token = open(ws_url(&server.base, &format!("/ws/chat/{room}/"))).await;
    assert_eq!(close_code(&mut no_token).await, Some(4001));
    let mut bad_token = open(ws_url(&server.base, &format!("/ws/chat/{room}/?token=not.a.token"))).await;
    assert_eq!(close_code(&mut bad_token).await, Some(4001));
    let mut theirs = connect(&server.base, other_room, &a, None).await;
    assert_eq!(close_code(&mut theirs).await, Some(4003), "another couple's room");
    let mut nowhere = connect(&server.base, Uuid::now_v7(), &a, None).await;
    assert_eq!(close_code(&mut nowhere).await, Some(4003));
    let mut not_an_id = connect(&server.base, room, &b, Some("yesterday")).await;
    assert_eq!(close_code(&mut not_an_id).await, Some(4400));
    let foreign = Uuid::now_v7().to_string();
    let mut not_here = connect(&server.base, room, &b, Some(&foreign)).await;
    assert_eq!(close_code(&mut not_here).await, Some(4400));
    // A message of this room is a good `after`.
    let mut fine = connect(&server.base, room, &b, Some(first["id"].as_str().unwrap())).await;
    assert!(ready(&mut fine).await.is_empty());

    let (status, body) = server.call(Method::GET, &format!("/ws/chat/{room}/"), Some(&a.token), None).await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(body["error"]["code"], "WEBSOCKET_REQUIRED");
}

#[rstest]
#[tokio::test]
async fn a_socket_resumed_with_after_gets_exactly_what_it_missed(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(server) = spawn_with(backend, |c| c.resume_page = 3).await else { return };
    let (a, b, _) = test_couple();
    let room = default_room(&server.base, &a).await;
    let mut sa = connect(&server.base, room, &a, None).await;
    let mut sb = connect(&server.base, room, &b, None).await;
    ready(&mut sa).await;
    ready(&mut sb).await;
    for i in 0..3 {
        say(&mut sb, &format!("before {i}"), &format!("x-{i}")).await;
    }
    let mut last = Value::Null;
    for _ in 0..3 {
        last = expect(&mut sa, "chat.message").await;
        expect(&mut sb, "chat.message").await;
    }
    sa.close(None).await.unwrap();
    drop(sa);

    let mut missed = Vec::new();
    for i in 0..8 {
        say(&mut sb, &format!("missed {i}"), &format!("y-{i}")).await;
        missed.push(expect(&mut sb, "chat.message").await);
    }
    let mut back = connect(&server.base, room, &a, Some(last["id"].as_str().unwrap())).await;
    assert_eq!(ready(&mut back).await, missed);
    say(&mut sb, "live", "z").await;
    assert_eq!(expect(&mut back, "chat.message").await["seq"], 12);
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_with_1009() {
    let Some(server) = spawn_with(Backend::Sqlite, |c| c.max_frame_bytes = 1024).await else { return };
    let (a, _, _) = test_couple();
    let room = default_room(&server.base, &a).await;
    let mut sa = connect(&server.base, room, &a, None).await;
    ready(&mut sa).await;
    say(&mut sa, &"가".repeat(200), "fits").await;
    assert_eq!(expect(&mut sa, "chat.message").await["clientId"], "fits");
    say(&mut sa, &"x".repeat(2000), "too-big").await;
    assert_eq!(close_code(&mut sa).await, Some(1009));
}

#[rstest]
#[tokio::test]
async fn a_message_posted_over_rest_reaches_the_sockets(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(server) = spawn_with(backend, |_| {}).await else { return };
    let (a, b, _) = test_couple();
    let room = default_room(&server.base, &a).await;
    let mut sa = connect(&server.base, room, &a, None).await;
    ready(&mut sa).await;
    let body = json!({"roomId": room, "message": "over REST", "clientId": "r-1"});
    let (status, posted) = server.call(Method::POST, "/api/chat/messages/", Some(&b.token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    let mut frame = expect(&mut sa, "chat.message").await;
    frame.as_object_mut().unwrap().remove("type");
    assert_eq!(frame, posted["data"], "the frame is the REST message with a type");
}

/// One partner's side of a conversation across a restart: sends `count` messages one by one,
/// each acknowledged by its echo; when the server goes away it reconnects to the next one with
/// `after` and sends again what was not acknowledged, with the same `clientId`.
pub(crate) struct Chatter {
    user: TestUser,
    name: &'static str,
    /// Every message frame in the order received, with the connection it came on.
    received: Vec<(usize, Value)>,
    /// The close codes the server sent, and when each came.
    pub closes: Vec<(Option<u16>, Instant)>,
    acknowledged: BTreeSet<String>,
}

impl Chatter {
    async fn run(
        mut self,
        room: Uuid,
        mut servers: watch::Receiver<String>,
        count: usize,
        start: Arc<tokio::sync::Barrier>,
        progress: Arc<tokio::sync::Semaphore>,
    ) -> Self {
        let mut connection = 0;
        let mut i = 0;
        'connections: loop {
            let base = servers.borrow_and_update().clone();
            let after = self.received.last().map(|(_, f)| f["id"].as_str().unwrap().to_owned());
            let mut socket = connect(&base, room, &self.user, after.as_deref()).await;
            connection += 1;
            match timeout(WAIT, ready(&mut socket)).await {
                Ok(history) => self.received.extend(history.into_iter().map(|f| (connection, f))),
                Err(_) => panic!("{}: no chat.ready", self.name),
            }
            if connection == 1 {
                // Both listen before either speaks.
                start.wait().await;
            }
            while i < count {
                let client_id = format!("{}-{i}", self.name);
                say(&mut socket, &format!("{} says {i}", self.name), &client_id).await;
                loop {
                    match next(&mut socket).await {
                        Ok(frame) if frame["type"] == "chat.message" => {
                            let echo = frame["clientId"] == json!(client_id);
                            self.received.push((connection, frame));
                            if echo {
                                break;
                            }
                        }
                        Ok(frame) => panic!("{}: unexpected {frame}", self.name),
                        Err(code) => {
                            self.closes.push((code, Instant::now()));
                            // Sends tungstenite's answer to the close and lets the connection
                            // go, as a client does: the stopping server waits for that.
                            let _ = socket.flush().await;
                            drop(socket);
                            // The next server.
                            timeout(WAIT, servers.changed()).await.expect("a new server").unwrap();
                            continue 'connections;
                        }
                    }
                }
                self.acknowledged.insert(client_id);
                progress.add_permits(1);
                i += 1;
            }
            return self;
        }
    }
}

/// Two partners converse, 40 messages each, through the service at `first`; when half are
/// acknowledged, `restart` stops it and returns the base URL of its successor on the same
/// database. Checks that the stop said going away, that no acknowledged message was lost or
/// stored twice, and that each partner saw every message once, in order; the partners, for
/// more checks.
pub(crate) async fn converse_across_a_restart(first: &str, restart: impl AsyncFnOnce() -> String) -> Vec<Chatter> {
    const COUNT: usize = 40;
    let (a, b, _) = test_couple();
    let room = default_room(first, &a).await;
    let (servers_tx, servers) = watch::channel(first.to_owned());
    let progress = Arc::new(tokio::sync::Semaphore::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(2));
    let chatters = [(a, "a"), (b, "b")].map(|(user, name)| {
        let chatter = Chatter { user, name, received: Vec::new(), closes: Vec::new(), acknowledged: BTreeSet::new() };
        tokio::spawn(chatter.run(room, servers.clone(), COUNT, start.clone(), progress.clone()))
    });

    // Mid-conversation: the server stops, its successor starts on the same database.
    timeout(WAIT, progress.acquire_many(COUNT as u32 / 2)).await.unwrap().unwrap().forget();
    let second = restart().await;
    servers_tx.send(second.clone()).unwrap();

    let mut results = Vec::new();
    for chatter in chatters {
        results.push(timeout(Duration::from_secs(60), chatter).await.expect("the conversation ends").unwrap());
    }
    let path = format!("/api/chat/rooms/{room}/messages/?limit=200");
    let (status, history) = test_util::call(&reqwest::Client::new(), &second, Method::GET, &path, Some(&results[0].user.token), None).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let stored: Vec<&Value> = history["data"].as_array().unwrap().iter().collect();
    let stored_ids: Vec<&str> = stored.iter().map(|m| m["clientId"].as_str().unwrap()).collect();
    assert_eq!(stored.len(), 2 * COUNT, "every message stored once: {stored_ids:?}");
    assert_eq!(stored.iter().map(|m| m["seq"].as_i64().unwrap()).collect::<Vec<_>>(), (1..=2 * COUNT as i64).collect::<Vec<_>>());
    assert_eq!(stored_ids.iter().collect::<BTreeSet<_>>().len(), 2 * COUNT, "no clientId twice");
    for chatter in &results {
        let codes: Vec<Option<u16>> = chatter.closes.iter().map(|(code, _)| *code).collect();
        assert_eq!(codes, [Some(1001)], "{}: the first server said going away", chatter.name);
        assert_eq!(chatter.acknowledged.len(), COUNT, "{}", chatter.name);
        assert!(
            chatter.acknowledged.iter().all(|id| stored_ids.contains(&id.as_str())),
            "{}: every acknowledged one is stored",
            chatter.name
        );
        // In seq order without gaps; the one repeat allowed is the answer to a resend, which
        // repeats a message already received.
        let mut seqs = Vec::new();
        for (_, frame) in &chatter.received {
            let seq = frame["seq"].as_i64().unwrap();
            if seqs.last().is_some_and(|last| seq <= *last) {
                assert_eq!(frame["senderId"], json!(chatter.user.id), "{}: only its own resend comes back again: {frame}", chatter.name);
                continue;
            }
            seqs.push(seq);
        }
        let last_seen = *seqs.last().unwrap();
        assert_eq!(seqs, (1..=last_seen).collect::<Vec<_>>(), "{}: every message once, in order", chatter.name);
    }
    results
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_conversation_closes_with_1001_and_resuming_loses_and_duplicates_nothing(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(db) = TestDatabase::create(backend).await else { return };
    let config = config(&db);
    let first = server(&config).await;
    let mut second = None;
    converse_across_a_restart(&first.base.clone(), async || {
        drop(first);
        tokio::time::sleep(Duration::from_millis(200)).await;
        second.insert(server(&config).await).base.clone()
    })
    .await;
}

#[tokio::test]
async fn with_the_database_down_a_message_is_refused_with_its_client_id_and_new_sockets_close_with_1011() {
    let Some(postgres) = test_util::PrivatePostgres::start().await else { return };
    let mut config = Config::default();
    config.database.database_url = postgres.url();
    let server = server(&config).await;
    let (a, _, _) = test_couple();
    let room = default_room(&server.base, &a).await;
    let mut sa = connect(&server.base, room, &a, None).await;
    ready(&mut sa).await;
    say(&mut sa, "before", "o-1").await;
    let first = expect(&mut sa, "chat.message").await;

    postgres.stop().await;
    say(&mut sa, "during", "o-2").await;
    let refused = expect(&mut sa, "chat.error").await;
    assert_eq!((&refused["code"], &refused["clientId"]), (&json!("UNAVAILABLE"), &json!("o-2")), "{refused}");
    let mut late = connect(&server.base, room, &a, Some(first["id"].as_str().unwrap())).await;
    assert_eq!(close_code(&mut late).await, Some(1011));

    postgres.resume().await;
    // The same socket, sent again with the same key once the database is back.
    let mut stored = None;
    for _ in 0..50 {
        say(&mut sa, "during", "o-2").await;
        match next(&mut sa).await.expect("the socket stays open") {
            frame if frame["type"] == "chat.message" => {
                stored = Some(frame);
                break;
            }
            frame => assert_eq!(frame["code"], "UNAVAILABLE", "{frame}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = stored.expect("stored once the database is back");
    assert_eq!((&stored["clientId"], &stored["seq"]), (&json!("o-2"), &json!(2)));
    let mut back = connect(&server.base, room, &a, Some(first["id"].as_str().unwrap())).await;
    assert_eq!(ready(&mut back).await, [stored]);
}
