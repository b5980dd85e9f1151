//! The run: connect every socket, send on an open-loop schedule, match each received message
//! to its send, then wait for stragglers and count what never arrived.
//!
//! Each message carries an id `{run}-{sender}-{n}` (in `clientId`, or at the start of the text
//! when the server echoes only the text). The sender stamps `sent_at[sender][n]` just before
//! writing the frame; the partner's receiver looks the stamp up, so latency needs no clock but
//! this process's. Each receiver keeps its own histograms and marks; nothing is locked.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::{net::TcpStream, sync::watch, time::MissedTickBehavior};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::{
    report::{self, Summary},
    rooms::{self, Identity, Room},
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Our frame; the original's is `{"type":"chat.message","message":"{message}"}`.
const OURS_FRAME: &str = r#"{"type":"chat.message","message":"{message}","clientId":"{id}"}"#;

/// How a socket says who it is.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum IdentityMode {
    /// `Authorization: Bearer <token>` (through our gateway).
    Bearer,
    /// `?token=<token>` (straight to our chat, as browsers do).
    TokenQuery,
    /// `X-User-ID` and `X-Nickname` headers (the original).
    Headers,
    /// `?user_id=&nickname=` (the original).
    Query,
}

/// The field of a received `chat.message` that identifies it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum MatchField {
    /// `clientId` (ours echoes the sender's).
    ClientId,
    /// `message`, whose first word is the id (a server that echoes the text unchanged).
    Message,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RoomSource {
    /// Couples from `--accounts` (see `chat-load accounts`), their default rooms from `--api`.
    Platform,
    /// Rooms created with `POST --rooms-url {"name"}`.
    Rest,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Sockets to open, two per room.
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Messages per second each socket sends.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Seconds to wait after the last send for messages still in flight; later ones are lost.
    #[arg(long, default_value_t = 5.0)]
    grace_secs: f64,
    /// Seconds between the last socket connecting and the first send.
    #[arg(long, default_value_t = 1.0)]
    settle_secs: f64,
    /// Socket URL with `{room}`, e.g. ws://127.0.0.1:8080/ws/chat/{room}/. Give two to put each
    /// room's partners on different servers (partner k uses the k-th, modulo the count).
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    #[arg(long, value_enum, default_value = "bearer")]
    identity: IdentityMode,
    /// The frame sent, with `{message}` and `{id}` replaced.
    #[arg(long, default_value = OURS_FRAME)]
    frame: String,
    #[arg(long = "match", value_enum, default_value = "client-id")]
    match_on: MatchField,
    #[arg(long, value_enum, default_value = "platform")]
    rooms: RoomSource,
    /// Gateway base URL for listing rooms (`--rooms platform`).
    #[arg(long)]
    api: Option<String>,
    /// Tokens written by `chat-load accounts` (`--rooms platform`).
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// Where rooms are created (`--rooms rest`), e.g. http://127.0.0.1:8000/api/chat/rooms/.
    #[arg(long)]
    rooms_url: Option<String>,
    /// A server process whose CPU time and memory to report (repeat for several).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Sockets opened at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Length of each message's text (the id, a space, then filler).
    #[arg(long, default_value_t = 48)]
    message_bytes: usize,
    /// A name for this run in the output.
    #[arg(long, default_value = "run")]
    label: String,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What every task shares: the clock origin and the send stamps.
struct Shared {
    base: Instant,
    run: String,
    /// Per socket, per message number: microseconds since `base` plus one; 0 = not sent.
    sent_at: Vec<Box<[AtomicU64]>>,
    sent: AtomicU64,
    delivered: AtomicU64,
    /// Microseconds since `base` of the latest delivery to a partner.
    last_delivery_us: AtomicU64,
}

impl Shared {
    fn now_us(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// What one socket's receiver saw.
struct Received {
    /// Send to the partner's receipt, microseconds (merged into one histogram at the end: a
    /// histogram per socket would cost more memory than the samples).
    partner: Vec<u64>,
    /// Send to the sender's own echo (the acknowledgement), when the server echoes.
    echo: Vec<u64>,
    /// Which of the partner's messages arrived.
    got: Vec<bool>,
    duplicates: u64,
    /// Messages of neither this socket nor its partner: another room's, which must never come.
    foreign: u64,
    /// `chat.error` frames, by code.
    error_frames: BTreeMap<String, u64>,
    /// How the socket ended before it was told to stop (close code, or "error"/"eof").
    ended: Option<String>,
}

pub async fn run(args: RunArgs) -> Result<()> {
    if args.sockets < 2 || !args.sockets.is_multiple_of(2) {
        bail!("--sockets must be even and at least 2 (two partners per room)");
    }
    if !(args.rate > 0.0 && args.secs > 0.0) {
        bail!("--rate and --secs must be positive");
    }
    if !args.frame.contains("{message}") || (matches!(args.match_on, MatchField::ClientId) && !args.frame.contains("{id}")) {
        bail!("--frame must contain {{message}}, and {{id}} when matching on clientId");
    }
    let n_rooms = args.sockets / 2;
    let rooms = match args.rooms {
        RoomSource::Platform => {
            let api = args.api.as_deref().context("--rooms platform needs --api")?;
            let accounts = args.accounts.as_deref().context("--rooms platform needs --accounts")?;
            rooms::platform_rooms(api, accounts, n_rooms).await?
        }
        RoomSource::Rest => rooms::rest_rooms(args.rooms_url.as_deref().context("--rooms rest needs --rooms-url")?, n_rooms).await?,
    };

    // Whole rooms are left out when either partner cannot connect: a message to a socket that is
    // not there would count as lost.
    let started = Instant::now();
    let mut sockets: Vec<Option<Ws>> = (0..args.sockets).map(|_| None).collect();
    let mut connect_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut connects = stream::iter(0..args.sockets)
        .map(|s| {
            let room = &rooms[s / 2];
            let url = &args.urls[(s % 2) % args.urls.len()];
            async move { (s, connect(url, room, &room.partners[s % 2], args.identity).await) }
        })
        .buffer_unordered(args.connect_concurrency.max(1));
    while let Some((s, result)) = connects.next().await {
        match result {
            Ok(ws) => sockets[s] = Some(ws),
            Err(e) => *connect_errors.entry(format!("{e:#}")).or_default() += 1,
        }
    }
    drop(connects);
    let connect_secs = started.elapsed().as_secs_f64();
    for room in 0..n_rooms {
        if sockets[2 * room].is_none() || sockets[2 * room + 1].is_none() {
            sockets[2 * room] = None;
            sockets[2 * room + 1] = None;
        }
    }
    let active = sockets.iter().filter(|s| s.is_some()).count();
    for (e, n) in &connect_errors {
        eprintln!("chat-load: {n} sockets failed to connect: {e}");
    }
    if active == 0 {
        bail!("no room had both partners connected");
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;

    let per_socket = (args.rate * args.secs).floor().max(1.0) as usize;
    let shared = Arc::new(Shared {
        base: Instant::now(),
        run: rooms::short_id(),
        sent_at: (0..args.sockets).map(|_| (0..per_socket).map(|_| AtomicU64::new(0)).collect()).collect(),
        sent: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        last_delivery_us: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let t0 = tokio::time::Instant::now() + Duration::from_millis(100);
    let before = report::sample(&args.server_pids);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (s, ws) in sockets.into_iter().enumerate() {
        let Some(ws) = ws else { continue };
        let (sink, stream) = ws.split();
        // Spread the sockets' first sends over one period, so sends do not come in bursts.
        let first = t0 + period.mul_f64(s as f64 / args.sockets as f64);
        let template = args.frame.clone();
        senders.push(tokio::spawn(send(shared.clone(), s, sink, first, period, per_socket, template, args.message_bytes, stop_rx.clone())));
        receivers.push((s, tokio::spawn(receive(shared.clone(), s, stream, per_socket, args.match_on, stop_rx.clone()))));
    }

    // Sending ends on schedule; then wait for what is in flight, up to the grace period.
    let send_end = t0 + period.mul_f64(per_socket as f64);
    tokio::time::sleep_until(send_end).await;
    let grace_end = tokio::time::Instant::now() + Duration::from_secs_f64(args.grace_secs);
    // Senders that fell behind still have sends to make; they count in `sent` once made.
    while tokio::time::Instant::now() < grace_end {
        let sent = shared.sent.load(Relaxed);
        if sent as usize == active * per_socket && shared.delivered.load(Relaxed) >= sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let window = t0.elapsed().as_secs_f64();
    let after = report::sample(&args.server_pids);

    stop_tx.send_replace(true);
    let mut send_errors = 0;
    for sender in senders {
        send_errors += sender.await.context("a sender panicked")?;
    }
    // Microseconds from 1 µs to an hour, 3 significant figures.
    let mut partner = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut echo = partner.clone();
    let (mut lost, mut duplicates, mut foreign, mut unacked) = (0u64, 0u64, 0u64, 0u64);
    let mut error_frames: BTreeMap<String, u64> = BTreeMap::new();
    let mut ended: BTreeMap<String, u64> = BTreeMap::new();
    let mut acked_by_socket = vec![0u64; args.sockets];
    for (s, receiver) in receivers {
        let r = receiver.await.context("a receiver panicked")?;
        r.partner.iter().for_each(|&us| partner.saturating_record(us));
        r.echo.iter().for_each(|&us| echo.saturating_record(us));
        acked_by_socket[s] = r.echo.len() as u64;
        let mate = s ^ 1;
        lost += shared.sent_at[mate].iter().zip(&r.got).filter(|(at, got)| at.load(Relaxed) != 0 && !**got).count() as u64;
        duplicates += r.duplicates;
        foreign += r.foreign;
        for (code, n) in r.error_frames {
            *error_frames.entry(code).or_default() += n;
        }
        if let Some(how) = r.ended {
            *ended.entry(how).or_default() += 1;
        }
    }
    // Both servers echo to the sender; one that does not would show every message unacked.
    for (s, acked) in acked_by_socket.iter().enumerate() {
        let sent = shared.sent_at[s].iter().filter(|at| at.load(Relaxed) != 0).count() as u64;
        unacked += sent.saturating_sub(*acked);
    }

    let sent = shared.sent.load(Relaxed);
    let delivered = shared.delivered.load(Relaxed);
    let delivery_span = (shared.last_delivery_us.load(Relaxed) as f64 / 1e6
        - t0.duration_since(tokio::time::Instant::from_std(shared.base)).as_secs_f64())
    .max(1e-3);
    let summary = Summary {
        label: args.label.clone(),
        sockets: args.sockets,
        connected: active,
        rate: args.rate,
        secs: args.secs,
        connect_secs,
        sent,
        delivered,
        lost,
        duplicates,
        unacked,
        foreign,
        send_errors,
        connect_errors: connect_errors.values().sum(),
        error_frames,
        ended,
        sent_per_sec: sent as f64 / (per_socket as f64 * period.as_secs_f64()),
        delivered_per_sec: delivered as f64 / delivery_span,
        latency: report::Latency::of(&partner),
        echo: report::Latency::of(&echo),
        servers: report::usage(&before, &after, window),
    };
    summary.print(args.out.as_deref())
}

/// Opens one socket: the room in the URL, the identity as the mode says.
async fn connect(url: &str, room: &Room, who: &Identity, mode: IdentityMode) -> Result<Ws> {
    let mut url = url.replace("{room}", &room.id);
    let mut query = |pairs: &[(&str, &str)]| {
        for (k, v) in pairs {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{k}={}", percent(v)));
        }
    };
    let token = || who.token.as_deref().context("this identity mode needs tokens (--rooms platform)");
    match mode {
        IdentityMode::TokenQuery => query(&[("token", token()?)]),
        IdentityMode::Query => query(&[("user_id", &who.user_id), ("nickname", &who.nickname)]),
        IdentityMode::Bearer | IdentityMode::Headers => {}
    }
    let mut request = url.as_str().into_client_request().with_context(|| format!("bad URL {url}"))?;
    let headers = request.headers_mut();
    match mode {
        IdentityMode::Bearer => {
            headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {}", token()?))?);
        }
        IdentityMode::Headers => {
            headers.insert("x-user-id", HeaderValue::from_str(&who.user_id)?);
            headers.insert("x-nickname", HeaderValue::from_str(&who.nickname)?);
        }
        IdentityMode::TokenQuery | IdentityMode::Query => {}
    }
    let (ws, _) =
        tokio::time::timeout(Duration::from_secs(15), connect_async(request)).await.context("connect timed out")?.context("connect")?;
    Ok(ws)
}

/// Escapes what a query value cannot carry as is (our ids and tokens never need it).
fn percent(value: &str) -> String {
    value
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Sends `count` messages, one per `period` from `first`; then waits for the stop to close the
/// socket. Returns the failed sends (a failure ends its sending).
#[allow(clippy::too_many_arguments)]
async fn send(
    shared: Arc<Shared>,
    s: usize,
    mut sink: futures_util::stream::SplitSink<Ws, Message>,
    first: tokio::time::Instant,
    period: Duration,
    count: usize,
    template: String,
    message_bytes: usize,
    mut stop: watch::Receiver<bool>,
) -> u64 {
    let mut ticks = tokio::time::interval_at(first, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut errors = 0;
    for n in 0..count {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        let id = format!("{}-{s}-{n}", shared.run);
        let filler = message_bytes.saturating_sub(id.len() + 1);
        let text = format!("{id} {}", "x".repeat(filler));
        let frame = template.replace("{message}", &text).replace("{id}", &id);
        shared.sent_at[s][n].store(shared.now_us() + 1, Relaxed);
        if sink.send(Message::text(frame)).await.is_err() {
            shared.sent_at[s][n].store(0, Relaxed);
            errors += 1;
            break;
        }
        shared.sent.fetch_add(1, Relaxed);
    }
    let _ = stop.wait_for(|stop| *stop).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
    errors
}

/// Reads until told to stop: each `chat.message` is matched to its send.
async fn receive(
    shared: Arc<Shared>,
    s: usize,
    mut stream: futures_util::stream::SplitStream<Ws>,
    count: usize,
    match_on: MatchField,
    mut stop: watch::Receiver<bool>,
) -> Received {
    let mut r = Received {
        partner: Vec::with_capacity(count),
        echo: Vec::with_capacity(count),
        got: vec![false; count],
        duplicates: 0,
        foreign: 0,
        error_frames: BTreeMap::new(),
        ended: None,
    };
    let mate = s ^ 1;
    let field = match match_on {
        MatchField::ClientId => "clientId",
        MatchField::Message => "message",
    };
    loop {
        let frame = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            frame = stream.next() => frame,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                r.ended = Some(close.map_or("close without code".into(), |c| format!("close {}", u16::from(c.code))));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                r.ended = Some(format!("error: {e}"));
                break;
            }
            None => {
                r.ended = Some("closed".into());
                break;
            }
        };
        let now = shared.now_us();
        let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
        match value["type"].as_str() {
            Some("chat.message") => {}
            Some("chat.error") => {
                *r.error_frames.entry(value["code"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
                continue;
            }
            _ => continue,
        }
        let Some(key) = value[field].as_str().and_then(|v| v.split(' ').next()) else { continue };
        let Some((run, sender, n)) = parse_id(key) else { continue };
        if run != shared.run {
            continue;
        }
        let Some(at) = shared.sent_at.get(sender).and_then(|at| at.get(n)).map(|at| at.load(Relaxed)) else { continue };
        let latency = now.saturating_sub(at.saturating_sub(1)).max(1);
        if sender == s {
            r.echo.push(latency);
        } else if sender == mate {
            if r.got[n] {
                r.duplicates += 1;
            } else {
                r.got[n] = true;
                r.partner.push(latency);
                shared.delivered.fetch_add(1, Relaxed);
                shared.last_delivery_us.fetch_max(now, Relaxed);
            }
        } else {
            r.foreign += 1;
        }
    }
    // A close we asked for is no fault of the server.
    if *stop.borrow() && r.ended.as_deref().is_some_and(|e| e.starts_with("close")) {
        r.ended = None;
    }
    r
}

/// `{run}-{sender}-{n}`.
fn parse_id(key: &str) -> Option<(&str, usize, usize)> {
    let mut parts = key.splitn(3, '-');
    let run = parts.next()?;
    Some((run, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_strangers() {
        assert_eq!(parse_id("a1b2c3-17-4"), Some(("a1b2c3", 17, 4)));
        assert_eq!(parse_id("a1b2c3-x-4"), None);
        assert_eq!(parse_id("hello"), None);
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(percent("ab-c_1.~"), "ab-c_1.~");
        assert_eq!(percent("a b&c"), "a%20b%26c");
    }
}
