//! One socket's session, written against a `Sink` of frames and a `Stream` of frames so tests
//! drive it through in-memory channels.
//!
//! The session keeps `last`, the highest `seq` it has sent. It first catches up from the store
//! (`Window::After(last)`, page by page), says `chat.ready`, then delivers live events by the
//! rule: a message at or below `last` was sent already; `last + 1` is next; anything newer
//! means messages are missing between (in flight from another replica, or lost by Redis) and
//! are read from the store first; so is everything after `last` when the hub says the room
//! resyncs (the Redis fan-out was away). The subscription was made before the handshake, so nothing
//! committed after it can fall between the catch-up and the live events.

use std::{collections::HashSet, fmt::Display, sync::Arc};

use axum::extract::ws::{CloseFrame, Message};
use couple_common::{Identity, shutdown::Shutdown};
use futures_util::{Sink, SinkExt, Stream, StreamExt, future::BoxFuture};
use tokio::time::{Duration, Instant, timeout};
use tracing::Instrument;
use uuid::Uuid;

use super::{
    close,
    frames::{ClientFrame, ErrorCode, ErrorFrame, ServerFrame},
};
use crate::{
    Config,
    error::Error,
    hub::{Event, Hub, Subscription},
    messages::{Messages, PostMessage},
    people::People,
    store::{Appended, MessageRecord, ReadMarker, RoomRecord, StoreError, Window},
};

/// How often the server pings; a client silent for two of these is gone.
pub const PING_EVERY: Duration = Duration::from_secs(30);
/// The longest one frame may take to leave: a client that stops reading is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing socket waits for the client's close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// At most one typing indicator per member per this long is relayed.
const TYPING_EVERY: Duration = Duration::from_secs(1);

/// A frame the client sent that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Larger than the configured limit: the socket closes with 1009.
    TooLarge,
    /// The connection broke or spoke something else than WebSocket.
    Broken(String),
}

impl From<axum::Error> for ReadError {
    fn from(err: axum::Error) -> Self {
        let inner = err.into_inner();
        match inner.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Capacity(_)) => ReadError::TooLarge,
            _ => ReadError::Broken(inner.to_string()),
        }
    }
}

/// How long until a token expiring at `exp` (seconds since the epoch) is no longer valid.
fn token_lifetime_left(exp: i64) -> Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    Duration::from_secs(u64::try_from(exp).unwrap_or(0).saturating_sub(now))
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The server closed it with this code.
    Closed(u16),
    /// The client closed it.
    ByClient,
    /// The connection broke (or the client stopped reading or answering pings).
    Gone,
}

/// The reason a session stops, before the close is sent.
enum Stop {
    Close(u16, &'static str),
    ByClient,
    Gone,
}

impl From<StoreError> for Stop {
    fn from(err: StoreError) -> Self {
        tracing::warn!(%err, "a socket could not read the room's history");
        Stop::Close(close::INTERNAL, "the chat store is unavailable: reconnect with after")
    }
}

/// What a request to the logic that the session waits for answered.
enum Reply {
    Posted { client_id: Option<String>, result: crate::error::Result<Appended> },
    Read(crate::error::Result<ReadMarker>),
}

/// A session: who is connected to which room, and what it needs.
pub struct Session {
    /// Posting, history, read markers.
    pub messages: Arc<Messages>,
    /// This replica's sockets.
    pub hub: Arc<Hub>,
    /// Sizes and timings.
    pub config: Arc<Config>,
    /// The verified caller.
    pub identity: Identity,
    /// Their room (access checked).
    pub room: RoomRecord,
    /// Nicknames, for the caller's typing and presence.
    pub people: Arc<People>,
    /// Fires when the service shuts down: the session closes with 1001.
    pub shutdown: Shutdown,
}

/// The sending half, with the send timeout.
struct Out<S> {
    sink: S,
}

impl<S> Out<S>
where
    S: Sink<Message> + Unpin,
    S::Error: Display,
{
    async fn send(&mut self, message: Message) -> Result<(), Stop> {
        match timeout(SEND_TIMEOUT, self.sink.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                tracing::debug!(%err, "socket send failed");
                Err(Stop::Gone)
            }
            Err(_) => {
                tracing::info!("a socket took no frame for {SEND_TIMEOUT:?}: dropped");
                Err(Stop::Gone)
            }
        }
    }

    async fn frame(&mut self, frame: &ServerFrame<'_>) -> Result<(), Stop> {
        self.send(Message::Text(frame.to_json().into())).await
    }
}

/// Sends `Close(code, reason)`, then waits a little for the client's close frame so the close
/// reaches it before the connection ends.
pub async fn close_with<S, R, E>(sink: &mut S, stream: &mut R, code: u16, reason: &str)
where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    metrics::counter!("chat_socket_closes_total", "code" => code.to_string()).increment(1);
    let frame = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
    if timeout(SEND_TIMEOUT, sink.send(frame)).await.is_ok_and(|sent| sent.is_ok()) {
        let _ = timeout(CLOSE_LINGER, async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

impl Session {
    /// Runs the session until the socket closes. `subscription` was made before the handshake;
    /// `last` is the `seq` the client has (the `after` message's, or the room's newest).
    pub async fn run<S, R, E>(self, mut subscription: Subscription, last: i64, sink: S, mut stream: R) -> Ended
    where
        S: Sink<Message> + Unpin,
        S::Error: Display,
        R: Stream<Item = Result<Message, E>> + Unpin,
        E: Into<ReadError>,
    {
        let span = tracing::info_span!("socket", room_id = %self.room.id, user_id = %self.identity.user_id);
        let mut out = Out { sink };
        let stop = self.serve(&mut subscription, last, &mut out, &mut stream).instrument(span.clone()).await;
        let _entered = span.enter();
        match stop {
            Stop::Close(code, reason) => {
                tracing::debug!(code, reason, "closing the socket");
                close_with(&mut out.sink, &mut stream, code, reason).await;
                Ended::Closed(code)
            }
            Stop::ByClient => {
                // tungstenite answered the client's close; flushing sends the answer.
                let _ = timeout(CLOSE_LINGER, out.sink.flush()).await;
                Ended::ByClient
            }
            Stop::Gone => Ended::Gone,
        }
    }

    async fn serve<S, R, E>(&self, subscription: &mut Subscription, mut last: i64, out: &mut Out<S>, stream: &mut R) -> Stop
    where
        S: Sink<Message> + Unpin,
        S::Error: Display,
        R: Stream<Item = Result<Message, E>> + Unpin,
        E: Into<ReadError>,
    {
        let shutdown = self.shutdown.clone().wait();
        tokio::pin!(shutdown);
        let going_away = || Stop::Close(close::GOING_AWAY, "going away: reconnect with after");

        // Presence: the others here now; later joins and leaves come through the hub and are
        // checked against this set, so one seen in both is told once.
        let nickname = self.people.nickname(self.room.couple_id, self.identity.user_id).await;
        let mut present: HashSet<Uuid> = HashSet::new();
        for member in self.hub.enter(subscription, nickname.clone()) {
            present.insert(member.user_id);
            if let Err(stop) = out.frame(&ServerFrame::Join(&member)).await {
                return stop;
            }
        }

        let caught_up = tokio::select! {
            biased;
            () = &mut shutdown => return going_away(),
            caught_up = self.fill(out, &mut last, None) => caught_up,
        };
        if let Err(stop) = caught_up {
            return stop;
        }
        if let Err(stop) = out.frame(&ServerFrame::Ready { room_id: self.room.id, last_seq: last }).await {
            return stop;
        }

        // A socket lives no longer than the token it opened with, so a logout, password change,
        // break-up or deleted account (which revoke tokens at the gateway) ends it within one
        // token lifetime; the client reconnects with a fresh token and `after`.
        let expiry = tokio::time::sleep(token_lifetime_left(self.identity.claims.exp));
        tokio::pin!(expiry);
        let mut pending: Option<BoxFuture<'_, Reply>> = None;
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut heard = Instant::now();
        loop {
            let step = tokio::select! {
                biased;
                () = &mut shutdown => Err(going_away()),
                () = &mut expiry => Err(Stop::Close(close::UNAUTHENTICATED, "TOKEN_EXPIRED: reconnect with a fresh token and after")),
                event = subscription.recv() => match event {
                    Some(event) => self.on_event(out, &mut last, &mut present, &event).await,
                    None if subscription.overflowed() => Err(Stop::Close(close::SLOW_CONSUMER, "too slow: reconnect with after")),
                    None => Err(going_away()),
                },
                reply = async { pending.as_mut().expect("polled only while pending").await }, if pending.is_some() => {
                    pending = None;
                    self.on_reply(out, reply).await
                }
                // One request to the logic at a time: a socket's messages commit in the order sent.
                frame = stream.next(), if pending.is_none() => {
                    heard = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => self.on_frame(out, &text, &mut pending).await,
                        Some(Ok(Message::Binary(_))) => {
                            out.frame(&ServerFrame::Error(ErrorFrame::new(ErrorCode::InvalidFrame, "frames are JSON text"))).await
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                        Some(Ok(Message::Close(_))) | None => Err(Stop::ByClient),
                        Some(Err(err)) => match err.into() {
                            ReadError::TooLarge => Err(Stop::Close(close::TOO_BIG, "frame too large")),
                            ReadError::Broken(err) => {
                                tracing::debug!(%err, "socket read failed");
                                Err(Stop::Gone)
                            }
                        },
                    }
                }
                _ = ping.tick() => {
                    if heard.elapsed() > 2 * PING_EVERY {
                        tracing::info!("a socket answered no ping: dropped");
                        Err(Stop::Gone)
                    } else {
                        out.send(Message::Ping(Default::default())).await
                    }
                }
            };
            if let Err(stop) = step {
                return stop;
            }
        }
    }

    /// Sends the room's messages after `last` from the store until `until` is sent (or, without
    /// it, until the newest), advancing `last`.
    async fn fill<S>(&self, out: &mut Out<S>, last: &mut i64, until: Option<i64>) -> Result<(), Stop>
    where
        S: Sink<Message> + Unpin,
        S::Error: Display,
    {
        let page = self.config.resume_page.max(1);
        loop {
            let messages = self.messages.history(&self.room, Window::After(*last), page).await.map_err(store_stop)?;
            for message in &messages {
                self.send_message(out, last, message).await?;
            }
            if messages.len() < page || until.is_some_and(|until| *last >= until) {
                return Ok(());
            }
        }
    }

    /// Sends `message` if it is newer than `last`.
    async fn send_message<S>(&self, out: &mut Out<S>, last: &mut i64, message: &MessageRecord) -> Result<(), Stop>
    where
        S: Sink<Message> + Unpin,
        S::Error: Display,
    {
        if message.seq > *last {
            out.frame(&ServerFrame::Message(message.clone().into())).await?;
            *last = message.seq;
        }
        Ok(())
    }

    async fn on_event<S>(&self, out: &mut Out<S>, last: &mut i64, present: &mut HashSet<Uuid>, event: &Event) -> Result<(), Stop>
    where
        S: Sink<Message> + Unpin,
        S::Error: Display,
    {
        let me = self.identity.user_id;
        match event {
            Event::Message(message) => {
                if message.seq > *last + 1 {
                    metrics::counter!("chat_socket_gaps_total").increment(1);
                    self.fill(out, last, Some(message.seq - 1)).await?;
                }
                self.send_message(out, last, message).await
            }
            Event::Typing { room_id, user_id, nickname, expires_in_ms } if *user_id != me => {
                let frame = ServerFrame::Typing {
                    room_id: *room_id,
                    user_id: *user_id,
                    nickname: nickname.as_deref(),
                    expires_in_ms: *expires_in_ms,
                };
                out.frame(&frame).await
            }
            Event::Read(marker) => out.frame(&ServerFrame::Read(marker.clone().into())).await,
            Event::Join(member) if member.user_id != me && present.insert(member.user_id) => out.frame(&ServerFrame::Join(member)).await,
            Event::Leave(member) if member.user_id != me && present.remove(&member.user_id) => out.frame(&ServerFrame::Leave(member)).await,
            Event::Closed { .. } => Err(Stop::Close(close::FORBIDDEN, "the room was erased")),
            // The fan-out may have missed other replicas' messages: whatever the store has after
            // `last` is sent now, as for a gap.
            Event::Resync { .. } => self.fill(out, last, None).await,
            Event::Typing { .. } | Event::Join(_) | Event::Leave(_) => Ok(()),
        }
    }

    async fn on_frame<'s, S>(&'s self, out: &mut Out<S>, text: &str, pending: &mut Option<BoxFuture<'s, Reply>>) -> Result<(), Stop>
    where
        S: Sink<Message> + Unpin,
        S::Error: Display,
    {
        match ClientFrame::parse(text, self.config.max_message_chars) {
            Err(error) => out.frame(&ServerFrame::Error(error)).await,
            Ok(ClientFrame::Message(post)) => {
                *pending = Some(Box::pin(self.post(post)));
                Ok(())
            }
            Ok(ClientFrame::Read { last_read_id }) => {
                *pending =
                    Some(Box::pin(async move { Reply::Read(self.messages.mark_read(&self.identity, &self.room, last_read_id).await) }));
                Ok(())
            }
            Ok(ClientFrame::Typing) => {
                let (room_id, user_id) = (self.room.id, self.identity.user_id);
                if self.hub.may_relay_typing(room_id, user_id, Instant::now(), TYPING_EVERY) {
                    let nickname = self.hub.nickname(room_id, user_id);
                    self.hub.publish(Event::Typing { room_id, user_id, nickname, expires_in_ms: self.config.typing_ttl_millis });
                }
                Ok(())
            }
        }
    }

    async fn post(&self, post: PostMessage) -> Reply {
        let client_id = post.client_id.as_ref().map(|id| id.clone().into_inner());
        Reply::Posted { client_id, result: self.messages.post(&self.identity, &self.room, post).await }
    }

    async fn on_reply<S>(&self, out: &mut Out<S>, reply: Reply) -> Result<(), Stop>
    where
        S: Sink<Message> + Unpin,
        S::Error: Display,
    {
        match reply {
            // The hub brings the new message back to every socket, this one included.
            Reply::Posted { result: Ok(Appended::New(_)), .. } | Reply::Read(Ok(_)) => Ok(()),
            // A resend: the stored message, to this socket only.
            Reply::Posted { result: Ok(Appended::Existing(message)), .. } => out.frame(&ServerFrame::Message(message.into())).await,
            Reply::Posted { client_id, result: Err(err) } => {
                out.frame(&ServerFrame::Error(error_frame(err).with_client_id(client_id))).await
            }
            Reply::Read(Err(err)) => out.frame(&ServerFrame::Error(error_frame(err))).await,
        }
    }
}

fn store_stop(err: Error) -> Stop {
    match err {
        Error::Store(err) => err.into(),
        err => {
            tracing::error!(%err, "unexpected error reading a room's history");
            Stop::Close(close::INTERNAL, "internal error: reconnect with after")
        }
    }
}

/// The `chat.error` for a refused request: the socket's side of the one error type.
pub fn error_frame(err: Error) -> ErrorFrame {
    match err {
        Error::Validation(fields) => ErrorFrame::validation(fields),
        Error::NotFound(what) => ErrorFrame::new(ErrorCode::NotFound, format!("no such {what} in this room")),
        Error::ShuttingDown => ErrorFrame::new(ErrorCode::ShuttingDown, "the chat service is restarting: send again after reconnecting"),
        Error::Store(StoreError::Unavailable(err)) => {
            tracing::warn!(%err, "a socket's request found the store unavailable");
            ErrorFrame::new(ErrorCode::Unavailable, "not stored: the chat store is unavailable; send again with the same clientId")
        }
        err => {
            tracing::error!(%err, "a socket's request failed");
            ErrorFrame::new(ErrorCode::InternalError, "internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    //! The session driven through in-memory channels, on the real SQLite store.

    use std::pin::Pin;

    use couple_common::{
        Role,
        clock::Clock,
        db::PoolSettings,
        identity::authenticate,
        shutdown::{self, ShutdownTrigger},
        test_util::{self, TestDatabase},
    };
    use serde_json::{Value, json};
    use tokio::sync::mpsc;

    use super::*;
    use crate::{
        domain::{ClientId, MessageText},
        messages::committer::Committer,
        people::People,
        rooms::Rooms,
        store::{Database, NewMessage, SqliteStore, Store},
    };

    const WAIT: Duration = Duration::from_secs(5);

    struct Harness {
        hub: Arc<Hub>,
        messages: Arc<Messages>,
        store: Arc<SqliteStore>,
        config: Arc<Config>,
        room: RoomRecord,
        a: Identity,
        b: Identity,
        stop: ShutdownTrigger,
        shutdown: Shutdown,
        _db: TestDatabase,
    }

    fn identity(user_id: Uuid, couple_id: Uuid) -> Identity {
        let token = test_util::access_token(user_id, Some(couple_id), Role::User);
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(axum::http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        authenticate(&headers, &couple_common::JwtKeys::from_config(&test_util::shared_config())).unwrap()
    }

    async fn harness(tweak: impl FnOnce(&mut Config)) -> Harness {
        let db = TestDatabase::sqlite();
        let pool = couple_common::db::sqlite_pool(db.url(), PoolSettings::default()).await.unwrap();
        let store = Arc::new(SqliteStore::new(pool));
        store.migrate().await.unwrap();
        let mut config = Config { typing_ttl_millis: 1234, ..Config::default() };
        tweak(&mut config);
        let hub = Hub::new(config.send_queue);
        let dyn_store: Arc<dyn Store> = store.clone();
        let (stop, shutdown) = shutdown::channel();
        let committer = Committer::spawn(dyn_store.clone(), hub.clone(), config.commit_batch, shutdown.clone());
        let messages = Arc::new(Messages::new(dyn_store.clone(), committer, hub.clone(), Arc::new(People::default()), Clock::System));
        let couple = Uuid::now_v7();
        let room = Rooms::new(dyn_store, Clock::System, 20).default_room(couple).await.unwrap();
        Harness {
            hub,
            messages,
            store,
            config: Arc::new(config),
            room,
            a: identity(Uuid::now_v7(), couple),
            b: identity(Uuid::now_v7(), couple),
            stop,
            shutdown,
            _db: db,
        }
    }

    /// One socket: what the test sends in, what the session sent out.
    struct Client {
        input: Option<mpsc::Sender<Result<Message, ReadError>>>,
        output: mpsc::Receiver<Message>,
        session: tokio::task::JoinHandle<Ended>,
    }

    type TestSink = Pin<Box<dyn Sink<Message, Error = &'static str> + Send>>;

    impl Harness {
        /// A socket of `who` that the client has up to `last`; `buffer` frames fit in its pipe.
        fn connect_with(&self, who: &Identity, last: Option<i64>, buffer: usize) -> Client {
            let subscription = self.hub.subscribe(self.room.id, who.user_id);
            let (input, mut input_rx) = mpsc::channel::<Result<Message, ReadError>>(16);
            let (output_tx, output) = mpsc::channel(buffer);
            let sink: TestSink =
                Box::pin(futures_util::sink::unfold(output_tx, |tx, m| async move { tx.send(m).await.map(|()| tx).map_err(|_| "closed") }));
            let stream = futures_util::stream::poll_fn(move |cx| input_rx.poll_recv(cx));
            let session = Session {
                messages: self.messages.clone(),
                hub: self.hub.clone(),
                config: self.config.clone(),
                identity: who.clone(),
                room: self.room.clone(),
                people: Arc::new(People::default()),
                shutdown: self.shutdown.clone(),
            };
            let last = last.unwrap_or(self.room.last_seq);
            Client { input: Some(input), output, session: tokio::spawn(session.run(subscription, last, sink, stream)) }
        }

        fn connect(&self, who: &Identity, last: Option<i64>) -> Client {
            self.connect_with(who, last, 1024)
        }

        /// Commits `n` messages of `who` without delivering them.
        async fn commit_quietly(&self, who: &Identity, n: usize) -> Vec<MessageRecord> {
            let batch: Vec<NewMessage> = (0..n)
                .map(|i| NewMessage {
                    id: Uuid::now_v7(),
                    room_id: self.room.id,
                    sender_id: who.user_id,
                    nickname: None,
                    message: format!("quiet {i}"),
                    parent_id: None,
                    client_id: None,
                    created_at: chrono::Utc::now(),
                })
                .collect();
            self.store.append(&batch).await.unwrap().iter().map(|a| a.record().clone()).collect()
        }

        async fn post(&self, who: &Identity, text: &str, client_id: Option<&str>) -> Appended {
            let post = PostMessage {
                message: MessageText::parse(text, 100).unwrap(),
                parent_id: None,
                client_id: client_id.map(|c| ClientId::parse(c).unwrap()),
            };
            self.messages.post(who, &self.room, post).await.unwrap()
        }
    }

    impl Client {
        async fn send(&self, frame: Value) {
            self.input.as_ref().unwrap().send(Ok(Message::Text(frame.to_string().into()))).await.unwrap();
        }

        async fn next(&mut self) -> Message {
            timeout(WAIT, self.output.recv()).await.expect("a frame in time").expect("the session is open")
        }

        /// The next text frame as JSON (pings skipped).
        async fn json(&mut self) -> Value {
            loop {
                match self.next().await {
                    Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                    Message::Ping(_) => {}
                    other => panic!("expected a text frame, got {other:?}"),
                }
            }
        }

        /// The next frame of type `kind`, skipping presence frames.
        async fn expect(&mut self, kind: &str) -> Value {
            loop {
                let frame = self.json().await;
                if frame["type"] == kind {
                    return frame;
                }
                assert!(frame["type"].as_str().unwrap().starts_with("chat.user."), "expected {kind}, got {frame}");
            }
        }

        /// Until `chat.ready`: the messages' seqs before it.
        async fn ready(&mut self) -> Vec<i64> {
            let mut seqs = Vec::new();
            loop {
                let frame = self.json().await;
                match frame["type"].as_str().unwrap() {
                    "chat.ready" => return seqs,
                    "chat.message" => seqs.push(frame["seq"].as_i64().unwrap()),
                    _ => {}
                }
            }
        }

        /// Nothing arrives for a moment; with `presence`, nothing but presence frames.
        async fn quiet_but(&mut self, presence: bool) {
            while let Ok(Some(frame)) = timeout(Duration::from_millis(200), self.output.recv()).await {
                let is_presence = matches!(&frame, Message::Text(t) if t.as_str().contains(r#""type":"chat.user."#));
                assert!(presence && is_presence, "expected nothing, got {frame:?}");
            }
        }

        async fn quiet(&mut self) {
            self.quiet_but(false).await;
        }

        /// The close frame's code, after any other frames.
        async fn close_code(&mut self) -> u16 {
            loop {
                if let Message::Close(frame) = self.next().await {
                    return frame.expect("a close frame with a code").code;
                }
            }
        }

        /// The client goes away.
        async fn hang_up(mut self) -> Ended {
            self.input = None;
            timeout(WAIT, self.session).await.unwrap().unwrap()
        }
    }

    #[tokio::test]
    async fn resuming_sends_the_history_then_live_messages_without_a_gap_or_a_duplicate_at_the_seam() {
        let h = Arc::new(harness(|c| c.resume_page = 7).await);
        let history = h.commit_quietly(&h.a, 30).await;
        let after = history[9].seq;
        // Live messages are committed and published while the catch-up pages through the store.
        let poster = {
            let h = h.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    h.post(&h.b, &format!("live {i}"), None).await;
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut client = h.connect(&h.a, Some(after));
        let mut seqs = client.ready().await;
        assert!(seqs.len() >= 20, "at least the stored ones came as history: {seqs:?}");
        poster.await.unwrap();
        while seqs.last() != Some(&70) {
            seqs.push(client.expect("chat.message").await["seq"].as_i64().unwrap());
        }
        assert_eq!(seqs, (after + 1..=70).collect::<Vec<_>>());
        client.quiet().await;
    }

    #[tokio::test]
    async fn without_after_a_socket_starts_at_the_newest_message() {
        let h = harness(|_| {}).await;
        h.commit_quietly(&h.a, 3).await;
        let last = h.store.room(h.room.id).await.unwrap().unwrap().last_seq;
        let mut client = h.connect(&h.a, Some(last));
        assert_eq!(client.ready().await, Vec::<i64>::new());
        h.post(&h.b, "hi", None).await;
        assert_eq!(client.expect("chat.message").await["seq"], 4);
    }

    #[tokio::test]
    async fn a_live_message_past_a_gap_brings_the_missing_ones_from_the_store_first() {
        let h = harness(|_| {}).await;
        let mut client = h.connect(&h.a, None);
        assert!(client.ready().await.is_empty());
        // Committed, but only the last one is delivered (as when another replica's publish is
        // still in flight, or Redis dropped some).
        let quiet = h.commit_quietly(&h.b, 3).await;
        h.hub.publish(Event::Message(quiet[2].clone()));
        for expected in &quiet {
            let frame = client.expect("chat.message").await;
            assert_eq!((frame["seq"].as_i64(), frame["id"].as_str()), (Some(expected.seq), Some(expected.id.to_string().as_str())));
        }
        // The late ones, arriving now, were sent already.
        h.hub.publish(Event::Message(quiet[0].clone()));
        h.hub.publish(Event::Message(quiet[1].clone()));
        client.quiet().await;
    }

    #[tokio::test]
    async fn a_resync_sends_what_the_store_has_after_the_last_seq_sent() {
        let h = harness(|_| {}).await;
        let mut client = h.connect(&h.a, None);
        assert!(client.ready().await.is_empty());
        // Committed on another replica while the fan-out was away: nothing was delivered.
        let missed = h.commit_quietly(&h.b, 3).await;
        client.quiet().await;
        h.hub.resync_all();
        for expected in &missed {
            assert_eq!(client.expect("chat.message").await["seq"].as_i64(), Some(expected.seq));
        }
        // A second resync finds nothing new.
        h.hub.resync_all();
        client.quiet().await;
    }

    #[tokio::test]
    async fn a_slow_consumer_gets_its_queued_messages_then_4008() {
        let h = harness(|c| c.send_queue = 4).await;
        let mut client = h.connect_with(&h.a, None, 1);
        assert!(client.ready().await.is_empty());
        // The client stops reading: the session blocks on its pipe and the hub queue fills.
        for i in 0..20 {
            h.post(&h.b, &format!("m{i}"), None).await;
        }
        let mut seqs = Vec::new();
        let code = loop {
            match client.next().await {
                Message::Text(text) => seqs.push(serde_json::from_str::<Value>(&text).unwrap()["seq"].as_i64().unwrap()),
                Message::Close(frame) => break frame.unwrap().code,
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(code, close::SLOW_CONSUMER);
        assert!(!seqs.is_empty() && seqs.len() < 20, "{seqs:?}");
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "in order, none skipped");
        assert_eq!(timeout(WAIT, client.session).await.unwrap().unwrap(), Ended::Closed(close::SLOW_CONSUMER));
    }

    #[tokio::test]
    async fn shutdown_closes_every_session_with_1001() {
        let h = harness(|_| {}).await;
        let mut a = h.connect(&h.a, None);
        let mut b = h.connect(&h.b, None);
        a.ready().await;
        b.ready().await;
        h.stop.trigger();
        assert_eq!(a.close_code().await, close::GOING_AWAY);
        assert_eq!(b.close_code().await, close::GOING_AWAY);
    }

    #[tokio::test]
    async fn a_session_ends_with_its_token_with_4001() {
        let h = harness(|_| {}).await;
        let mut short = h.a.clone();
        short.claims.exp = chrono::Utc::now().timestamp() + 1;
        let mut a = h.connect(&short, None);
        let mut b = h.connect(&h.b, None);
        a.ready().await;
        b.ready().await;
        assert_eq!(a.close_code().await, close::UNAUTHENTICATED, "the token expired: reconnect with a fresh one");
        b.send(json!({"type": "chat.message", "message": "still here", "clientId": "b-1"})).await;
        assert_eq!(b.expect("chat.message").await["message"], "still here", "the partner's socket lives on");
    }

    #[tokio::test]
    async fn bad_frames_get_an_error_and_the_socket_stays() {
        let h = harness(|c| c.max_message_chars = 5).await;
        let mut a = h.connect(&h.a, None);
        a.ready().await;
        a.send(json!("not an object")).await;
        assert_eq!(a.expect("chat.error").await["code"], "INVALID_FRAME");
        a.input.as_ref().unwrap().send(Ok(Message::Binary(vec![1, 2].into()))).await.unwrap();
        assert_eq!(a.expect("chat.error").await["code"], "INVALID_FRAME");
        a.send(json!({"type": "chat.message", "message": "too long", "clientId": "c-1"})).await;
        let err = a.expect("chat.error").await;
        assert_eq!(
            (&err["code"], &err["clientId"], &err["fields"]["message"]),
            (&json!("VALIDATION_FAILED"), &json!("c-1"), &json!("must be at most 5 characters"))
        );
        a.send(json!({"type": "chat.message", "message": "hi", "parentId": Uuid::now_v7()})).await;
        assert_eq!(a.expect("chat.error").await["code"], "VALIDATION_FAILED", "a parent outside the room");
        a.send(json!({"type": "chat.read", "lastReadId": Uuid::now_v7()})).await;
        assert_eq!(a.expect("chat.error").await["code"], "NOT_FOUND");
        a.send(json!({"type": "chat.message", "message": "hi", "clientId": "c-2"})).await;
        let echo = a.expect("chat.message").await;
        assert_eq!((&echo["message"], &echo["clientId"], &echo["seq"]), (&json!("hi"), &json!("c-2"), &json!(1)));
    }

    #[tokio::test]
    async fn oversize_frames_close_with_1009() {
        let h = harness(|_| {}).await;
        let mut a = h.connect(&h.a, None);
        a.ready().await;
        a.input.as_ref().unwrap().send(Err(ReadError::TooLarge)).await.unwrap();
        assert_eq!(a.close_code().await, close::TOO_BIG);
    }

    #[tokio::test]
    async fn typing_reaches_the_others_at_most_once_a_second_per_user() {
        let h = harness(|_| {}).await;
        let mut a = h.connect(&h.a, None);
        let mut a2 = h.connect(&h.a, None);
        let mut b = h.connect(&h.b, None);
        for c in [&mut a, &mut a2, &mut b] {
            c.ready().await;
        }
        a.send(json!({"type": "chat.typing"})).await;
        a2.send(json!({"type": "chat.typing"})).await;
        a.send(json!({"type": "chat.typing"})).await;
        let typing = b.expect("chat.typing").await;
        assert_eq!(
            typing,
            json!({"type": "chat.typing", "roomId": h.room.id, "userId": h.a.user_id, "nickname": null, "expiresInMs": 1234})
        );
        b.quiet_but(true).await;
        a.quiet_but(true).await;
        tokio::time::sleep(TYPING_EVERY).await;
        a2.send(json!({"type": "chat.typing"})).await;
        assert_eq!(b.expect("chat.typing").await["userId"], json!(h.a.user_id));
    }

    #[tokio::test]
    async fn a_read_marker_is_stored_and_relayed() {
        let h = harness(|_| {}).await;
        let mut a = h.connect(&h.a, None);
        let mut b = h.connect(&h.b, None);
        a.ready().await;
        b.ready().await;
        let posted = h.post(&h.b, "read me", None).await.record().clone();
        assert_eq!(a.expect("chat.message").await["id"], json!(posted.id));
        assert_eq!(b.expect("chat.message").await["id"], json!(posted.id));
        a.send(json!({"type": "chat.read", "lastReadId": posted.id})).await;
        let read = b.expect("chat.read").await;
        assert_eq!((&read["userId"], &read["lastReadId"], &read["seq"]), (&json!(h.a.user_id), &json!(posted.id), &json!(posted.seq)));
        let markers = h.store.read_markers(h.room.id).await.unwrap();
        assert_eq!(markers.iter().map(|m| (m.user_id, m.last_read_id)).collect::<Vec<_>>(), [(h.a.user_id, posted.id)]);
        assert_eq!(a.expect("chat.read").await["lastReadId"], json!(posted.id), "the reader's own socket is told too");
        // The same message again moves nothing, so the room is not told again.
        a.send(json!({"type": "chat.read", "lastReadId": posted.id})).await;
        b.quiet().await;
    }

    #[tokio::test]
    async fn members_join_with_their_first_socket_and_leave_with_their_last() {
        let h = harness(|_| {}).await;
        let mut a = h.connect(&h.a, None);
        a.ready().await;
        let mut b1 = h.connect(&h.b, None);
        let join = a.json().await;
        assert_eq!(join, json!({"type": "chat.user.join", "roomId": h.room.id, "userId": h.b.user_id, "nickname": null}));
        // The newcomer is told who is here already.
        assert_eq!(b1.json().await["userId"], json!(h.a.user_id));
        b1.ready().await;
        let mut b2 = h.connect(&h.b, None);
        assert_eq!(b2.json().await, json!({"type": "chat.user.join", "roomId": h.room.id, "userId": h.a.user_id, "nickname": null}));
        b2.ready().await;
        a.quiet().await;
        assert_eq!(b1.hang_up().await, Ended::ByClient);
        a.quiet().await;
        b2.hang_up().await;
        assert_eq!(a.json().await, json!({"type": "chat.user.leave", "roomId": h.room.id, "userId": h.b.user_id, "nickname": null}));
    }

    #[tokio::test]
    async fn a_repeated_client_id_returns_the_stored_message_to_the_sender_only() {
        let h = harness(|_| {}).await;
        let mut a = h.connect(&h.a, None);
        let mut b = h.connect(&h.b, None);
        a.ready().await;
        b.ready().await;
        a.send(json!({"type": "chat.message", "message": "once", "clientId": "c-1"})).await;
        let first = a.expect("chat.message").await;
        assert_eq!(b.expect("chat.message").await, first);
        a.send(json!({"type": "chat.message", "message": "once", "clientId": "c-1"})).await;
        assert_eq!(a.expect("chat.message").await, first, "the same message, same id and seq");
        a.send(json!({"type": "chat.message", "message": "twice", "clientId": "c-2"})).await;
        let second = b.expect("chat.message").await;
        assert_eq!((&second["clientId"], &second["seq"]), (&json!("c-2"), &json!(2)), "the repeat burned no seq and b never saw it");
    }

    #[tokio::test]
    async fn a_store_outage_refuses_the_message_with_its_client_id() {
        let h = harness(|_| {}).await;
        let mut a = h.connect(&h.a, None);
        a.ready().await;
        h.store.pool().close().await;
        a.send(json!({"type": "chat.message", "message": "lost?", "clientId": "c-7"})).await;
        let err = a.expect("chat.error").await;
        assert_eq!((&err["code"], &err["clientId"]), (&json!("UNAVAILABLE"), &json!("c-7")));
    }

    #[tokio::test]
    async fn the_server_pings_and_drops_a_client_that_stays_silent() {
        let h = harness(|_| {}).await;
        let mut a = h.connect(&h.a, None);
        a.ready().await;
        tokio::time::pause();
        // Paused, the clock jumps to each timer the idle session waits for.
        let started = Instant::now();
        assert!(matches!(a.output.recv().await, Some(Message::Ping(_))));
        assert_eq!(started.elapsed().as_secs(), PING_EVERY.as_secs());
        a.input.as_ref().unwrap().send(Ok(Message::Pong(Default::default()))).await.unwrap();
        assert!(matches!(a.output.recv().await, Some(Message::Ping(_))), "an answered ping keeps the socket");
        // No answer to this one or the next: gone, without a close frame to a dead peer.
        assert!(matches!(a.output.recv().await, Some(Message::Ping(_))));
        assert_eq!(a.output.recv().await, None);
        assert_eq!(a.session.await.unwrap(), Ended::Gone);
    }

    #[tokio::test]
    async fn an_erased_room_closes_its_sockets_with_4003() {
        let h = harness(|_| {}).await;
        let mut a = h.connect(&h.a, None);
        a.ready().await;
        h.hub.publish(Event::Closed { room_id: h.room.id });
        assert_eq!(a.close_code().await, close::FORBIDDEN);
        assert_eq!(timeout(WAIT, a.session).await.unwrap().unwrap(), Ended::Closed(close::FORBIDDEN));
    }
}
