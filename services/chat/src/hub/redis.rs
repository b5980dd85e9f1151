//! The fan-out between replicas over Redis pub/sub: every replica publishes its hub's events on
//! one channel, `<prefix>chat:events`, and hands the other replicas' events to its own sockets.
//!
//! Redis is a courier here, not a store: a message is committed before it is published, so an
//! event lost on the way costs latency, never data. Publishing never blocks the caller: events
//! wait in a bounded queue that one task drains into pipelined `PUBLISH`es. While the queue is
//! full or Redis is down they are dropped and counted (`chat_fanout_dropped_total`), and the
//! rooms of dropped messages are announced with [`Event::Resync`] once Redis answers again. The
//! subscriber reconnects with backoff; once subscribed again it has every local socket re-read
//! the store ([`Hub::resync_all`]), and while Redis stays down it does so every few seconds, so
//! other replicas' messages still arrive, only later.
//!
//! Readiness ignores Redis on purpose: without it a replica still serves its own sockets from a
//! complete store. `chat_redis_connected{link}` and one log line per outage tell the operator.

use std::{
    collections::HashSet,
    fmt::Display,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use ::redis::{AsyncConnectionConfig, Client, RedisError, Value, aio::PubSub};
use couple_common::shutdown::Shutdown;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::{
    sync::mpsc,
    time::{Instant, sleep, sleep_until, timeout},
};
use uuid::Uuid;

use super::{Event, Fanout, Hub};

/// Events waiting to be published; more are dropped (and recovered through the store).
const QUEUE: usize = 4096;
/// The most events sent in one pipeline.
const BATCH: usize = 256;
/// The longest a connection attempt, a pipeline or a ping may take.
const TIMEOUT: Duration = Duration::from_secs(1);
/// The first wait before reconnecting; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the subscriber checks its connection still answers (a silent channel says nothing).
const PING_EVERY: Duration = Duration::from_secs(5);
/// How often local sockets re-read the store while the subscriber has no Redis.
const RESYNC_WHILE_DOWN: Duration = Duration::from_secs(5);
/// The largest payload accepted from the channel.
const MAX_PAYLOAD: usize = 256 * 1024;
/// The most rooms remembered for a resync after dropped events.
const MAX_MISSED_ROOMS: usize = 10_000;
/// The least time between two warnings about dropped or unreadable events.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What goes on the channel: the event and the replica it comes from, which ignores its own.
#[derive(Serialize)]
struct Outgoing<'a> {
    origin: Uuid,
    event: &'a Event,
}

/// [`Outgoing`] as read back.
#[derive(Deserialize)]
struct Incoming {
    origin: Uuid,
    event: Event,
}

/// This replica's end of the Redis fan-out; [`RedisFanout::attach`] plugs it into a hub.
pub struct RedisFanout {
    queue: mpsc::Sender<Event>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisFanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFanout").field("origin", &self.shared.origin).finish_non_exhaustive()
    }
}

/// What the caller side and the two tasks share.
struct Shared {
    /// This replica's id on the channel (random per start).
    origin: Uuid,
    /// Rooms whose durable events were dropped: each gets an [`Event::Resync`] once publishing
    /// works again.
    missed: Mutex<HashSet<Uuid>>,
    publisher: Link,
    subscriber: Link,
    drop_warning: Throttle,
    invalid_warning: Throttle,
}

impl RedisFanout {
    /// Starts the publisher and the subscriber for Redis at `url` on `<prefix>chat:events` and
    /// makes `hub` publish through them. Connects in the background: Redis may be down now and
    /// come later. Both tasks end when `shutdown` fires. Fails only on a malformed URL.
    pub fn attach(hub: &Arc<Hub>, url: &str, prefix: &str, shutdown: Shutdown) -> Result<Arc<Self>, RedisError> {
        let client = Client::open(url)?;
        let channel = format!("{prefix}chat:events");
        let shared = Arc::new(Shared::new());
        let (queue, rx) = mpsc::channel(QUEUE);
        let publisher = Publisher { client: client.clone(), channel: channel.clone(), shared: shared.clone() };
        tokio::spawn(publisher.run(rx, shutdown.clone()));
        let subscriber = Subscriber { client, channel, shared: shared.clone(), hub: Arc::downgrade(hub) };
        tokio::spawn(subscriber.run(shutdown));
        let fanout = Arc::new(Self { queue, shared });
        hub.set_fanout(fanout.clone());
        Ok(fanout)
    }

    /// Whether the subscriber is subscribed now (other replicas' events arrive).
    pub fn is_subscribed(&self) -> bool {
        self.shared.subscriber.is_up()
    }

    /// Whether the last attempt to publish reached Redis.
    pub fn is_publishing(&self) -> bool {
        self.shared.publisher.is_up()
    }
}

impl Fanout for RedisFanout {
    fn publish(&self, event: &Event) {
        match self.queue.try_send(event.clone()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => self.shared.dropped(&[event], "the publish queue is full"),
            // The publisher ended: the service is shutting down and its sockets are closing.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl Shared {
    fn new() -> Self {
        Self {
            origin: Uuid::new_v4(),
            missed: Mutex::default(),
            publisher: Link::new("publish"),
            subscriber: Link::new("subscribe"),
            drop_warning: Throttle::default(),
            invalid_warning: Throttle::default(),
        }
    }

    /// Counts `events` as not published and remembers the rooms of the durable ones.
    fn dropped(&self, events: &[Event], why: &str) {
        let mut missed = self.missed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for event in events.iter().filter(|e| e.is_durable()) {
            if missed.len() < MAX_MISSED_ROOMS {
                missed.insert(event.room_id());
            }
        }
        drop(missed);
        metrics::counter!("chat_fanout_dropped_total").increment(events.len() as u64);
        if self.drop_warning.ready() {
            tracing::warn!(dropped = events.len(), why, "chat fan-out dropped events; other replicas' sockets catch up from the store");
        }
    }

    /// Resyncs for the rooms whose events were dropped, forgetting them.
    fn take_missed(&self) -> Vec<Event> {
        let mut missed = self.missed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        missed.drain().map(|room_id| Event::Resync { room_id }).collect()
    }

    fn has_missed(&self) -> bool {
        !self.missed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_empty()
    }
}

/// The task that publishes queued events.
struct Publisher {
    client: Client,
    channel: String,
    shared: Arc<Shared>,
}

impl Publisher {
    async fn run(self, mut rx: mpsc::Receiver<Event>, shutdown: Shutdown) {
        let stop = shutdown.wait();
        tokio::pin!(stop);
        let config = AsyncConnectionConfig::new().set_connection_timeout(TIMEOUT).set_response_timeout(TIMEOUT);
        let mut conn = None;
        let mut backoff = Backoff::new();
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            // While disconnected with rooms to announce, retry on the backoff's schedule even
            // when nothing new is posted here.
            let retry = conn.is_none() && self.shared.has_missed();
            tokio::select! {
                biased;
                () = &mut stop => return,
                received = rx.recv_many(&mut batch, BATCH) => if received == 0 { return },
                () = sleep_until(backoff.next), if retry => {}
            }
            if conn.is_none() && backoff.is_due() {
                match self.client.get_multiplexed_async_connection_with_config(&config).await {
                    Ok(connected) => {
                        conn = Some(connected);
                        backoff.reset();
                    }
                    Err(err) => {
                        self.shared.publisher.down(&err);
                        backoff.failed();
                    }
                }
            }
            let Some(connection) = conn.as_mut() else {
                self.shared.dropped(&batch, "Redis is unreachable");
                batch.clear();
                continue;
            };
            let mut events = self.shared.take_missed();
            events.append(&mut batch);
            if events.is_empty() {
                continue;
            }
            let mut pipe = ::redis::pipe();
            for event in &events {
                match serde_json::to_string(&Outgoing { origin: self.shared.origin, event }) {
                    Ok(payload) => {
                        pipe.cmd("PUBLISH").arg(&self.channel).arg(payload).ignore();
                    }
                    Err(err) => tracing::error!(%err, "could not serialize a chat event"),
                }
            }
            let outcome = match timeout(TIMEOUT, pipe.query_async::<()>(connection)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => Err(err.to_string()),
                Err(_) => Err("PUBLISH timed out".to_owned()),
            };
            match outcome {
                Ok(()) => {
                    self.shared.publisher.up();
                    metrics::counter!("chat_fanout_published_total").increment(events.len() as u64);
                }
                Err(err) => {
                    conn = None;
                    self.shared.publisher.down(&err);
                    backoff.failed();
                    self.shared.dropped(&events, "Redis is unreachable");
                }
            }
        }
    }
}

/// The task that receives the other replicas' events.
struct Subscriber {
    client: Client,
    channel: String,
    shared: Arc<Shared>,
    hub: Weak<Hub>,
}

/// Why a subscription ended.
enum Ended {
    /// The connection broke or stopped answering.
    Lost(String),
    /// The hub is gone: nothing left to deliver to.
    HubGone,
}

impl Subscriber {
    async fn run(self, shutdown: Shutdown) {
        let stop = shutdown.wait();
        tokio::pin!(stop);
        let mut backoff = Backoff::new();
        let mut last_resync = Instant::now();
        loop {
            let attempt = async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(&self.channel).await?;
                Ok::<_, RedisError>(pubsub)
            };
            let subscribed = tokio::select! {
                () = &mut stop => return,
                attempt = timeout(TIMEOUT, attempt) => attempt,
            };
            match subscribed {
                Ok(Ok(pubsub)) => {
                    self.shared.subscriber.up();
                    backoff.reset();
                    // What other replicas sent before this subscription reached only the store.
                    let Some(hub) = self.hub.upgrade() else { return };
                    hub.resync_all();
                    drop(hub);
                    last_resync = Instant::now();
                    let ended = tokio::select! {
                        () = &mut stop => return,
                        ended = self.listen(pubsub) => ended,
                    };
                    match ended {
                        Ended::Lost(err) => self.shared.subscriber.down(&err),
                        Ended::HubGone => return,
                    }
                }
                Ok(Err(err)) => self.shared.subscriber.down(&err),
                Err(_) => self.shared.subscriber.down(&"connecting timed out"),
            }
            let wait = backoff.failed();
            tokio::select! {
                () = &mut stop => return,
                () = sleep(wait) => {}
            }
            // Without Redis, other replicas' messages reach this one's sockets only from the store.
            if last_resync.elapsed() >= RESYNC_WHILE_DOWN {
                let Some(hub) = self.hub.upgrade() else { return };
                hub.resync_all();
                last_resync = Instant::now();
            }
        }
    }

    /// Delivers the channel's events until the connection breaks or stops answering pings.
    async fn listen(&self, pubsub: PubSub) -> Ended {
        let (mut sink, mut stream) = pubsub.split();
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else { return Ended::Lost("the connection closed".into()) };
                    let Some(hub) = self.hub.upgrade() else { return Ended::HubGone };
                    self.receive(&hub, message.get_payload_bytes());
                }
                _ = ping.tick() => match timeout(TIMEOUT, sink.ping::<Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => return Ended::Lost(err.to_string()),
                    Err(_) => return Ended::Lost("PING timed out".into()),
                },
            }
        }
    }

    /// Hands another replica's event to this replica's sockets; ignores this replica's own.
    fn receive(&self, hub: &Hub, payload: &[u8]) {
        let parsed = if payload.len() > MAX_PAYLOAD {
            Err(format!("a payload of {} bytes", payload.len()))
        } else {
            serde_json::from_slice::<Incoming>(payload).map_err(|e| e.to_string())
        };
        match parsed {
            Ok(incoming) if incoming.origin == self.shared.origin => {}
            Ok(incoming) => {
                metrics::counter!("chat_fanout_received_total").increment(1);
                hub.deliver_local(incoming.event);
            }
            Err(err) => {
                metrics::counter!("chat_fanout_invalid_total").increment(1);
                if self.shared.invalid_warning.ready() {
                    tracing::warn!(%err, channel = %self.channel, "ignoring an unreadable chat event");
                }
            }
        }
    }
}

/// One connection's state, logged once per change and exported as `chat_redis_connected`.
struct Link {
    name: &'static str,
    state: AtomicU8,
}

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

impl Link {
    fn new(name: &'static str) -> Self {
        Self { name, state: AtomicU8::new(UNKNOWN) }
    }

    fn up(&self) {
        if self.state.swap(UP, Ordering::AcqRel) != UP {
            metrics::gauge!("chat_redis_connected", "link" => self.name).set(1.0);
            tracing::info!(link = self.name, "chat fan-out connected to Redis");
        }
    }

    fn down(&self, err: &dyn Display) {
        if self.state.swap(DOWN, Ordering::AcqRel) != DOWN {
            metrics::gauge!("chat_redis_connected", "link" => self.name).set(0.0);
            tracing::warn!(
                link = self.name,
                %err,
                "chat fan-out lost Redis: each replica serves its own sockets, others' messages come from the store"
            );
        }
    }

    fn is_up(&self) -> bool {
        self.state.load(Ordering::Acquire) == UP
    }
}

/// Reconnection delays: doubling from [`BACKOFF_FIRST`] up to [`BACKOFF_MAX`].
struct Backoff {
    delay: Duration,
    next: Instant,
}

impl Backoff {
    fn new() -> Self {
        Self { delay: BACKOFF_FIRST, next: Instant::now() }
    }

    fn is_due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Records a failure; returns how long to wait before the next attempt.
    fn failed(&mut self) -> Duration {
        let wait = self.delay;
        self.next = Instant::now() + wait;
        self.delay = (wait * 2).min(BACKOFF_MAX);
        wait
    }

    fn reset(&mut self) {
        self.delay = BACKOFF_FIRST;
        self.next = Instant::now();
    }
}

/// Lets a warning through at most once per [`WARN_EVERY`].
#[derive(Default)]
struct Throttle(Mutex<Option<Instant>>);

impl Throttle {
    fn ready(&self) -> bool {
        let mut last = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new();
        assert!(backoff.is_due());
        let waits: Vec<Duration> = (0..8).map(|_| backoff.failed()).collect();
        assert_eq!(waits[..3], [BACKOFF_FIRST, BACKOFF_FIRST * 2, BACKOFF_FIRST * 4]);
        assert_eq!(waits[7], BACKOFF_MAX);
        assert!(!backoff.is_due());
        backoff.reset();
        assert!(backoff.is_due());
        assert_eq!(backoff.failed(), BACKOFF_FIRST);
    }

    #[test]
    fn a_throttled_warning_passes_once_per_period() {
        let throttle = Throttle::default();
        assert!(throttle.ready());
        assert!(!throttle.ready());
    }

    #[test]
    fn dropped_messages_are_remembered_for_a_resync_and_ephemeral_events_are_not() {
        let shared = Shared::new();
        let (closed, typed) = (Uuid::new_v4(), Uuid::new_v4());
        let typing = Event::Typing { room_id: typed, user_id: Uuid::new_v4(), nickname: None, expires_in_ms: 1 };
        shared.dropped(&[Event::Closed { room_id: closed }, typing], "test");
        assert_eq!(shared.take_missed(), vec![Event::Resync { room_id: closed }]);
        assert!(!shared.has_missed());
    }
}
