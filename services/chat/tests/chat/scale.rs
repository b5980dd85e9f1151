//! Scale-out: hubs (and, with the store, whole replicas) that deliver to each other's sockets
//! through Redis pub/sub, and what they do while Redis is away.

use std::{sync::Arc, time::Duration};

use chat::{
    Chat, Config,
    hub::{Event, Hub, Subscription, redis::RedisFanout},
    store::MessageRecord,
};
use couple_common::{
    Role,
    config::{DatabaseConfig, RedisConfig},
    shutdown::{self, ShutdownTrigger},
    test_util::{self, TestDatabase, TestServer},
};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::{
    net::TcpStream,
    time::{Instant, sleep, timeout},
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};
use uuid::Uuid;

/// How long anything here may take to arrive.
const PATIENCE: Duration = Duration::from_secs(20);

/// A hub with its own fan-out, as one replica has; both stop when the trigger drops.
struct Replica {
    hub: Arc<Hub>,
    fanout: Arc<RedisFanout>,
    _stop: ShutdownTrigger,
}

fn replica(url: &str, prefix: &str) -> Replica {
    let (stop, shutdown) = shutdown::channel();
    let hub = Hub::new(1024);
    let fanout = RedisFanout::attach(&hub, url, prefix, shutdown).expect("a well-formed Redis URL");
    Replica { hub, fanout, _stop: stop }
}

fn message(room_id: Uuid, seq: i64) -> Event {
    Event::Message(MessageRecord {
        id: Uuid::now_v7(),
        room_id,
        seq,
        sender_id: Uuid::new_v4(),
        nickname: None,
        message: format!("message {seq}"),
        parent_id: None,
        client_id: None,
        created_at: chrono::Utc::now(),
    })
}

fn typing(room_id: Uuid) -> Event {
    Event::Typing { room_id, user_id: Uuid::new_v4(), nickname: None, expires_in_ms: 1000 }
}

async fn next(sub: &mut Subscription) -> Event {
    let event = timeout(PATIENCE, sub.recv()).await.expect("an event within the patience").expect("the subscription is open");
    (*event).clone()
}

/// What the subscription holds now, without waiting for more.
async fn drain(sub: &mut Subscription) -> Vec<Event> {
    let mut events = Vec::new();
    while let Ok(Some(event)) = timeout(Duration::from_millis(50), sub.recv()).await {
        events.push((*event).clone());
    }
    events
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within {PATIENCE:?}");
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_one_hub_reaches_the_other_once_and_in_order() {
    let Some(url) = test_util::redis_url() else { return };
    let prefix = test_util::redis_prefix();
    let (a, b) = (replica(&url, &prefix), replica(&url, &prefix));
    until("both subscribed", || a.fanout.is_subscribed() && b.fanout.is_subscribed()).await;
    let room = Uuid::new_v4();
    let (mut on_a, mut on_b) = (a.hub.subscribe(room, Uuid::new_v4()), b.hub.subscribe(room, Uuid::new_v4()));

    let sent: Vec<Event> = (1..=100).map(|seq| message(room, seq)).collect();
    for event in &sent {
        a.hub.publish(event.clone());
    }
    let mut seen_on_b = Vec::new();
    for _ in &sent {
        seen_on_b.push(next(&mut on_b).await);
    }
    assert_eq!(seen_on_b, sent, "b gets a's events in a's order");
    // Redis delivers one channel in the order it took the PUBLISHes: b's fence reaches a after
    // any echo of a's own events, and a's fence reaches b after any second copy of a's events.
    let fence_b = typing(room);
    b.hub.publish(fence_b.clone());
    let mut seen_on_a = Vec::new();
    loop {
        let event = next(&mut on_a).await;
        seen_on_a.push(event.clone());
        if event == fence_b {
            break;
        }
    }
    assert_eq!(seen_on_a[..sent.len()], sent[..], "a's own sockets get its events at once, in order");
    assert_eq!(seen_on_a.len(), sent.len() + 1, "a ignores its own events coming back from Redis");
    let fence_a = typing(room);
    a.hub.publish(fence_a.clone());
    assert_eq!(next(&mut on_b).await, fence_b, "b's own event, delivered at once");
    assert_eq!(next(&mut on_b).await, fence_a, "nothing of a's arrived twice, nor b's own back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_redis_at_the_url_publishing_neither_blocks_nor_stops_local_delivery() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let a = replica(&format!("redis://127.0.0.1:{port}"), &test_util::redis_prefix());
    let (room, elsewhere) = (Uuid::new_v4(), Uuid::new_v4());
    let mut sub = a.hub.subscribe(room, Uuid::new_v4());
    let started = Instant::now();
    // Far more than the publish queue holds, in a room without sockets here.
    for seq in 1..=20_000 {
        a.hub.publish(message(elsewhere, seq));
    }
    let sent: Vec<Event> = (1..=10).map(|seq| message(room, seq)).collect();
    for event in &sent {
        a.hub.publish(event.clone());
    }
    assert!(started.elapsed() < Duration::from_secs(2), "publishing waited for Redis: {:?}", started.elapsed());
    assert_eq!(drain(&mut sub).await, sent);
    assert!(!a.fanout.is_subscribed() && !a.fanout.is_publishing());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_redis_outage_local_delivery_goes_on_sockets_resync_and_the_fanout_resumes() {
    // A private Redis: the shared one serves other tests and must not be stopped.
    let Some(redis) = test_util::PrivateRedis::start().await else { return };
    let prefix = test_util::redis_prefix();
    let (a, b) = (replica(&redis.url(), &prefix), replica(&redis.url(), &prefix));
    until("both subscribed", || a.fanout.is_subscribed() && b.fanout.is_subscribed()).await;
    let room = Uuid::new_v4();
    let (mut on_a, mut on_b) = (a.hub.subscribe(room, Uuid::new_v4()), b.hub.subscribe(room, Uuid::new_v4()));
    let first = message(room, 1);
    a.hub.publish(first.clone());
    assert_eq!(next(&mut on_b).await, first);

    redis.stop().await;
    until("both see Redis gone", || !a.fanout.is_subscribed() && !b.fanout.is_subscribed()).await;
    let started = Instant::now();
    let during: Vec<Event> = (2..=11).map(|seq| message(room, seq)).collect();
    for event in &during {
        a.hub.publish(event.clone());
    }
    assert!(started.elapsed() < Duration::from_millis(500), "publishing waited for Redis: {:?}", started.elapsed());
    let mut seen_on_a = drain(&mut on_a).await;
    seen_on_a.retain(|e| !matches!(e, Event::Resync { .. }));
    assert_eq!(seen_on_a[1..], during[..], "a's own sockets get its events at once: {seen_on_a:?}");
    // Meanwhile b's sockets are told to read the store every few seconds.
    assert_eq!(next(&mut on_b).await, Event::Resync { room_id: room }, "b's socket re-reads the store while Redis is down");

    redis.resume().await;
    until("both subscribed again", || a.fanout.is_subscribed() && b.fanout.is_subscribed()).await;
    // The events a dropped never arrive; b gets a resync instead (for being subscribed again, and
    // for the room whose messages a could not publish), then a's new events.
    let after = message(room, 12);
    let resumed = Instant::now();
    let mut resynced = false;
    'publishing: loop {
        assert!(resumed.elapsed() < PATIENCE, "a's events did not reach b again within {PATIENCE:?}");
        a.hub.publish(after.clone());
        while let Ok(Some(event)) = timeout(Duration::from_millis(200), on_b.recv()).await {
            match &*event {
                Event::Resync { room_id } if *room_id == room => resynced = true,
                event if *event == after => break 'publishing,
                event => assert!(!during.contains(event), "a message dropped during the outage came late: {event:?}"),
            }
        }
    }
    assert!(resynced, "b's socket was told to re-read the store once Redis was back");
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a socket to `room` on `server` (`?token=`, as a client without the gateway does) and
/// returns it once `chat.ready` says it is live, with the messages the catch-up sent before.
async fn open_socket(server: &TestServer, room: &str, token: &str, after: Option<&str>) -> (Socket, Vec<Value>) {
    let base = server.base.replace("http://", "ws://");
    let after = after.map(|id| format!("&after={id}")).unwrap_or_default();
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{base}/ws/chat/{room}/?token={token}{after}")).await.expect("the upgrade succeeds");
    let mut caught_up = Vec::new();
    loop {
        let frame = next_frame(&mut socket).await;
        match frame["type"].as_str() {
            Some("chat.ready") => return (socket, caught_up),
            Some("chat.message") => caught_up.push(frame),
            _ => {}
        }
    }
}

async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = timeout(PATIENCE, socket.next()).await.expect("a frame within the patience");
        match message.expect("the socket is open").expect("a readable frame") {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON frames"),
            Message::Close(close) => panic!("the socket closed: {close:?}"),
            _ => {}
        }
    }
}

/// The next `count` `chat.message` frames (other frames are skipped).
async fn messages(socket: &mut Socket, count: usize) -> Vec<Value> {
    let mut messages = Vec::with_capacity(count);
    while messages.len() < count {
        let frame = next_frame(socket).await;
        if frame["type"] == "chat.message" {
            messages.push(frame);
        }
    }
    messages
}

fn seqs(messages: &[Value]) -> Vec<i64> {
    messages.iter().map(|m| m["seq"].as_i64().expect("a seq")).collect()
}

fn client_ids<'a>(messages: &'a [Value], prefix: &str) -> Vec<&'a str> {
    messages.iter().filter_map(|m| m["clientId"].as_str()).filter(|id| id.starts_with(prefix)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_others_messages_in_order_and_a_resume_on_the_survivor_gets_everything() {
    let Some(redis) = test_util::redis_url() else { return };
    let Some(db) = TestDatabase::postgres().await else { return };
    let config = Config {
        database: DatabaseConfig::new(db.url()),
        redis: RedisConfig { redis_url: Some(redis), redis_prefix: test_util::redis_prefix() },
        ..Config::default()
    };
    let shared = test_util::shared_config();
    let one = TestServer::spawn::<Chat>(&config, &shared).await;
    let two = TestServer::spawn::<Chat>(&config, &shared).await;
    let couple = Uuid::new_v4();
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let (alice_token, bob_token) =
        (test_util::access_token(alice, Some(couple), Role::User), test_util::access_token(bob, Some(couple), Role::User));
    let (status, body) = one.call(Method::GET, "/api/chat/rooms/", Some(&alice_token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let room = body["data"][0]["id"].as_str().expect("the default room").to_owned();

    let (mut on_one, caught_up) = open_socket(&one, &room, &alice_token, None).await;
    assert!(caught_up.is_empty());
    let (mut on_two, _) = open_socket(&two, &room, &bob_token, None).await;
    // Interleaved: each replica commits its own while the other's arrive through Redis.
    for i in 0..50 {
        for (socket, who) in [(&mut on_one, "a"), (&mut on_two, "b")] {
            let frame = json!({"type": "chat.message", "message": format!("{who} {i}"), "clientId": format!("{who}-{i:02}")});
            socket.send(Message::text(frame.to_string())).await.unwrap();
        }
    }
    let (seen_on_one, seen_on_two) = (messages(&mut on_one, 100).await, messages(&mut on_two, 100).await);
    let all: Vec<i64> = (1..=100).collect();
    assert_eq!(seqs(&seen_on_one), all, "replica one's socket: every seq once, in order");
    assert_eq!(seqs(&seen_on_two), all, "replica two's socket: every seq once, in order");
    assert_eq!(seen_on_one, seen_on_two, "both sockets got the same messages");
    let sent = |who: &str| (0..50).map(|i| format!("{who}-{i:02}")).collect::<Vec<_>>();
    assert_eq!(client_ids(&seen_on_one, "a-"), sent("a"), "alice's messages in the order she sent them");
    assert_eq!(client_ids(&seen_on_one, "b-"), sent("b"), "bob's messages in the order he sent them");
    // One from alice alone: no message of bob's follows it to reveal a gap, only Redis brings it.
    on_one.send(Message::text(json!({"type": "chat.message", "message": "alone", "clientId": "a-alone"}).to_string())).await.unwrap();
    assert_eq!(seqs(&messages(&mut on_one, 1).await), [101]);
    assert_eq!(seqs(&messages(&mut on_two, 1).await), [101], "replica two's socket gets it through Redis");

    // Alice saw up to seq 40 when replica one stops; more is posted on two meanwhile.
    let seen = seen_on_one[39]["id"].as_str().unwrap().to_owned();
    drop(one);
    let closed = loop {
        match timeout(PATIENCE, on_one.next()).await.expect("replica one closes its socket") {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            other => panic!("the socket ended without a close: {other:?}"),
        }
    };
    assert_eq!(closed, Some(1001), "going away: reconnect with after");
    for i in 0..5 {
        let body = json!({"roomId": room, "message": format!("while away {i}"), "clientId": format!("c-{i}")});
        let (status, body) = two.call(Method::POST, "/api/chat/messages/", Some(&bob_token), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (mut resumed, caught_up) = open_socket(&two, &room, &alice_token, Some(&seen)).await;
    assert_eq!(seqs(&caught_up), (41..=106).collect::<Vec<_>>(), "everything after the message she had, once, in order");
    assert_eq!(caught_up[..60], seen_on_two[40..], "the same messages the other socket saw");
    let body = json!({"roomId": room, "message": "live again", "clientId": "c-live"});
    let (status, body) = two.call(Method::POST, "/api/chat/messages/", Some(&bob_token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(seqs(&messages(&mut resumed, 1).await), [107], "then live");
}
