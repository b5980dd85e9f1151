//! A WebSocket client for chat's protocol, for the tests that talk to chat directly and through
//! the gateway: open a socket, read the next frame (presence and pings skipped), wait for
//! `chat.ready`, read the close code of a refused socket, send a message.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{net::TcpStream, time::timeout};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest},
};

/// A client socket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any one frame or handshake may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Completes the handshake (a socket chat refuses still completes it, then closes).
pub async fn open(request: impl IntoClientRequest + Unpin) -> Socket {
    timeout(WAIT, tokio_tungstenite::connect_async(request)).await.expect("the handshake in time").expect("the handshake succeeds").0
}

/// The next text frame as JSON, presence (`chat.user.*`) and pings skipped; the close code when
/// the socket closed instead.
pub async fn next(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        match timeout(WAIT, socket.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).expect("frames are JSON");
                if !frame["type"].as_str().unwrap_or_default().starts_with("chat.user.") {
                    return Ok(frame);
                }
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => {}
            Some(Err(err)) => panic!("the socket failed: {err}"),
            None => return Err(None),
        }
    }
}

/// The next frame, which must be of `kind`.
pub async fn expect(socket: &mut Socket, kind: &str) -> Value {
    let frame = next(socket).await.unwrap_or_else(|code| panic!("expected {kind}, the socket closed with {code:?}"));
    assert_eq!(frame["type"], kind, "{frame}");
    frame
}

/// The messages the socket catches up with, up to `chat.ready` (it is live from then on).
pub async fn ready(socket: &mut Socket) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let frame = next(socket).await.unwrap_or_else(|code| panic!("closed with {code:?} before chat.ready"));
        match frame["type"].as_str().unwrap_or_default() {
            "chat.ready" => return messages,
            "chat.message" => messages.push(frame),
            _ => panic!("unexpected {frame}"),
        }
    }
}

/// The code chat closes a refused socket with (after completing the handshake).
pub async fn close_code(socket: &mut Socket) -> Option<u16> {
    loop {
        match next(socket).await {
            Ok(frame) => assert_ne!(frame["type"], "chat.ready", "the socket was accepted: {frame}"),
            Err(code) => return code,
        }
    }
}

/// Sends `frame` as a text frame.
pub async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::text(frame.to_string())).await.expect("the frame is sent");
}

/// Sends a chat message with its `clientId`.
pub async fn say(socket: &mut Socket, text: &str, client_id: &str) {
    send(socket, json!({"type": "chat.message", "message": text, "clientId": client_id})).await;
}

/// The `seq` of each message frame.
pub fn seqs(frames: &[Value]) -> Vec<i64> {
    frames.iter().map(|f| f["seq"].as_i64().expect("a seq")).collect()
}
