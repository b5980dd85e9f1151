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
    /// The caller's display name, if known.
    pub nickname: Option<String>,
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
        let mut present: HashSet<Uuid> = HashSet::new();
        for member in self.hub.enter(subscription, self.nickname.clone()) {
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

        let mut pending: Option<BoxFuture<'_, Reply>> = None;
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut heard = Instant::now();
        loop {
            let step = tokio::select! {
                biased;
                () = &mut shutdown => Err(going_away()),
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
            out.frame(&ServerFrame::Message(message)).await?;
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
                let frame = ServerFrame::Typing { room_id: *room_id, user_id: *user_id, nickname: nickname.as_deref(), expires_in_ms: *expires_in_ms };
                out.frame(&frame).await
            }
            Event::Read(marker) => out.frame(&ServerFrame::Read(marker.into())).await,
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
                *pending = Some(Box::pin(async move { Reply::Read(self.messages.mark_read(&self.identity, &self.room, last_read_id).await) }));
                Ok(())
            }
            Ok(ClientFrame::Typing) => {
                let (room_id, user_id) = (self.room.id, self.identity.user_id);
                if self.hub.may_relay_typing(room_id, user_id, Instant::now(), TYPING_EVERY) {
                    let nickname = self.nickname.clone();
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
            Reply::Posted { result: Ok(Appended::Existing(message)), .. } => out.frame(&ServerFrame::Message(&message)).await,
            Reply::Posted { client_id, result: Err(err) } => out.frame(&ServerFrame::Error(error_frame(err).with_client_id(client_id))).await,
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
