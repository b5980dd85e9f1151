use axum::{
    Router,
    extract::{
        WebSocketUpgrade,
        ws::{Message, WebSocket},
    },
    http::{HeaderMap, StatusCode, Uri},
    routing::any,
};
use couple_registry::CHAT;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use crate::support::{self, Config, TestGateway};

/// A chat service that first tells what it received, then echoes.
fn chat() -> Router {
    Router::new().route(
        "/ws/{*rest}",
        any(|ws: WebSocketUpgrade, headers: HeaderMap, uri: Uri| async move {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let seen = json!({
                "path": uri.path(),
                "query": uri.query(),
                "userId": header("x-user-id"),
                "coupleId": header("x-couple-id"),
                "authorization": header("authorization"),
            });
            ws.on_upgrade(move |socket| echo(socket, seen))
        }),
    )
}

async fn echo(mut socket: WebSocket, seen: Value) {
    if socket.send(Message::Text(seen.to_string().into())).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_)) && socket.send(message).await.is_err() {
            return;
        }
    }
}

async fn gateway_with_chat() -> TestGateway {
    let (_, user_couple) = support::user_couple().await;
    let chat = support::serve(chat()).await;
    support::start(Config { allowed_origins: vec!["https://app.example".into()], ..support::config_with(&user_couple, &CHAT, &chat) }).await
}

fn ws_request(gateway: &TestGateway, path_and_query: &str) -> tungstenite::handshake::client::Request {
    format!("ws://{}{path_and_query}", gateway.addr).into_client_request().unwrap()
}

#[tokio::test]
async fn a_websocket_is_proxied_with_the_token_from_the_query() {
    let gateway = gateway_with_chat().await;
    let (user, couple, token) = gateway.token();
    let mut request = ws_request(&gateway, &format!("/ws/chat/room-1/?token={token}&after=5"));
    request.headers_mut().insert("origin", "https://app.example".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("the upgrade succeeds");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);

    let first = socket.next().await.unwrap().unwrap();
    let seen: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(seen["path"], "/ws/chat/room-1/");
    assert_eq!(seen["query"], "after=5", "the token never reaches the upstream's URL");
    assert_eq!(seen["userId"], user.to_string());
    assert_eq!(seen["coupleId"], couple.to_string());
    assert_eq!(seen["authorization"], format!("Bearer {token}"));

    for text in ["hello", "안녕"] {
        socket.send(tungstenite::Message::text(text)).await.unwrap();
        let echoed = socket.next().await.unwrap().unwrap();
        assert_eq!(echoed.to_text().unwrap(), text);
    }
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn a_websocket_with_the_token_in_the_authorization_header_and_no_origin_is_proxied() {
    let gateway = gateway_with_chat().await;
    let (user, _, token) = gateway.token();
    let mut request = ws_request(&gateway, "/ws/chat/room-1/");
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("the upgrade succeeds");
    let seen: Value = serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(seen["userId"], user.to_string());
}

#[tokio::test]
async fn a_websocket_from_the_gateway_s_own_origin_is_proxied_without_being_listed() {
    let gateway = gateway_with_chat().await;
    let (user, _, token) = gateway.token();
    let mut request = ws_request(&gateway, &format!("/ws/chat/room-1/?token={token}"));
    request.headers_mut().insert("origin", format!("http://{}", gateway.addr).parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("the upgrade succeeds");
    let seen: Value = serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(seen["userId"], user.to_string());
}

#[tokio::test]
async fn a_websocket_without_a_token_or_from_another_origin_is_refused() {
    let gateway = gateway_with_chat().await;
    let (_, _, token) = gateway.token();
    let refused = |request| async {
        match tokio_tungstenite::connect_async(request).await {
            Err(tungstenite::Error::Http(response)) => response.status(),
            Ok(_) => panic!("the upgrade must be refused"),
            Err(other) => panic!("unexpected error: {other}"),
        }
    };

    assert_eq!(refused(ws_request(&gateway, "/ws/chat/room-1/")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(refused(ws_request(&gateway, "/ws/chat/room-1/?token=garbage")).await, StatusCode::UNAUTHORIZED);

    let mut request = ws_request(&gateway, &format!("/ws/chat/room-1/?token={token}"));
    request.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(refused(request).await, StatusCode::FORBIDDEN);
    let mut request = ws_request(&gateway, &format!("/ws/chat/room-1/?token={token}"));
    let other_port = format!("http://{}:1", gateway.addr.ip());
    request.headers_mut().insert("origin", other_port.parse().unwrap());
    assert_eq!(refused(request).await, StatusCode::FORBIDDEN, "the gateway's host on another port is another origin");
}
