use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use axum::{Router, http::StatusCode, routing::any};
use couple_registry::QUESTION_ANSWER;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, CircuitConfig, Config, assert_error, send};

#[tokio::test]
async fn an_unreachable_upstream_answers_503_at_once() {
    let (_, user_couple) = support::user_couple().await;
    let gateway = support::start(support::config(&user_couple)).await;
    let (_, _, token) = gateway.token();
    let started = Instant::now();
    let (status, headers, body) = send(gateway.get("/api/schedules").bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error(&body, "UPSTREAM_UNAVAILABLE");
    assert_eq!(headers["retry-after"], "1");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_slow_upstream_gets_504_within_the_route_timeout() {
    let (_, user_couple) = support::user_couple().await;
    let slow = support::serve(Router::new().fallback(any(|| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    })))
    .await;
    let file = support::routes_file(&serde_json::json!({
        "upstreams": {"user-couple": {"url": user_couple}, "slow": {"url": slow}},
        "routes": [{"prefix": "/api/meetings", "upstream": "slow", "timeoutMs": 300}]
    }));
    let gateway = support::start(Config { routes_file: Some(file), ..support::config(&user_couple) }).await;
    let (_, _, token) = gateway.token();
    let started = Instant::now();
    let (status, _, body) = send(gateway.get("/api/meetings").bearer_auth(&token)).await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_error(&body, "UPSTREAM_TIMEOUT");
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(1500), "took {elapsed:?}");
}

#[tokio::test]
async fn an_idempotent_request_is_retried_after_a_dropped_connection_but_a_post_is_not() {
    let (_, user_couple) = support::user_couple().await;
    let flaky = support::flaky().await;
    let gateway = support::start(support::config_with(&user_couple, &QUESTION_ANSWER, &flaky.url)).await;
    let (_, _, token) = gateway.token();

    flaky.drop_next.store(1, Ordering::SeqCst);
    let (status, _, body) = send(gateway.get("/api/questions/today").bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((flaky.accepted.load(Ordering::SeqCst), flaky.served.load(Ordering::SeqCst)), (2, 1), "one dropped, one retried");

    flaky.drop_next.store(1, Ordering::SeqCst);
    let (status, _, body) = send(gateway.post("/api/user-answers").bearer_auth(&token).json(&serde_json::json!({"questionId": 1}))).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_error(&body, "BAD_GATEWAY");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!((flaky.accepted.load(Ordering::SeqCst), flaky.served.load(Ordering::SeqCst)), (3, 1), "a POST is sent once");
}

#[tokio::test]
async fn the_circuit_opens_after_consecutive_failures_and_closes_after_a_successful_trial() {
    let (_, user_couple) = support::user_couple().await;
    let flaky = support::flaky().await;
    let config = Config {
        circuit: CircuitConfig { failure_threshold: 3, open_secs: 1 },
        ..support::config_with(&user_couple, &QUESTION_ANSWER, &flaky.url)
    };
    let gateway = support::start(config).await;
    let (_, _, token) = gateway.token();
    let post = || gateway.post("/api/user-answers").bearer_auth(&token).json(&serde_json::json!({}));

    flaky.drop_next.store(1_000, Ordering::SeqCst);
    for _ in 0..3 {
        let (status, _, _) = send(post()).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
    }
    let started = Instant::now();
    let (status, headers, body) = send(post()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error(&body, "CIRCUIT_OPEN");
    assert_eq!(headers["retry-after"], "1");
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(flaky.accepted.load(Ordering::SeqCst), 3, "an open circuit does not touch the upstream");

    flaky.drop_next.store(0, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, body) = send(post()).await;
    assert_eq!(status, StatusCode::OK, "the trial request passes: {body}");
    let (status, _, _) = send(gateway.get("/api/questions").bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK, "and the circuit is closed again");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_whether_announced_or_streamed() {
    let (_, user_couple) = support::user_couple().await;
    let mut shared = support::shared();
    shared.body_limit_bytes = 1024;
    let gateway = support::start_with(support::config(&user_couple), shared).await;

    let (status, _, body) = send(gateway.post("/api/users/signup").header("content-type", "application/json").body(vec![b' '; 1024])).await;
    assert_eq!(status, StatusCode::OK, "a body at the limit passes: {body}");
    assert_eq!(body["bodyLength"], 1024);

    let (status, _, body) = send(gateway.post("/api/users/signup").header("content-type", "application/json").body(vec![b' '; 4096])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&body, "PAYLOAD_TOO_LARGE");

    // Chunked, so only counting the bytes can tell.
    let mut stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let mut request = b"POST /api/users/signup HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
    for _ in 0..4 {
        request.extend_from_slice(b"400\r\n");
        request.extend_from_slice(&[b' '; 0x400]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("PAYLOAD_TOO_LARGE"), "{response}");
}
