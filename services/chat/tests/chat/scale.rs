//! Scale-out: hubs (and, with the store, whole replicas) that deliver to each other's sockets
//! through Redis pub/sub, and what they do while Redis is away.

use std::{sync::Arc, time::Duration};

use chat::{
    hub::{Event, Hub, Subscription, redis::RedisFanout},
    store::MessageRecord,
};
use couple_common::{
    shutdown::{self, ShutdownTrigger},
    test_util,
};
use tokio::time::{Instant, sleep, timeout};
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
