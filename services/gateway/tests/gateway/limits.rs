use axum::http::StatusCode;
use couple_common::config::RedisConfig;

use crate::support::{self, Config, TestGateway, assert_error, send};

/// Three requests pass (the burst), the fourth is limited; another client is not.
async fn assert_limited_after_the_burst(gateway: &TestGateway) {
    let (_, _, alice) = gateway.token();
    for _ in 0..3 {
        let (status, _, body) = send(gateway.get("/api/users/me").bearer_auth(&alice)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, headers, body) = send(gateway.get("/api/users/me").bearer_auth(&alice)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(&body, "RATE_LIMITED");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");

    let (_, _, bob) = gateway.token();
    let (status, _, _) = send(gateway.get("/api/users/me").bearer_auth(&bob)).await;
    assert_eq!(status, StatusCode::OK, "each user has a bucket");

    // Unauthenticated requests are counted per address.
    for _ in 0..3 {
        let (status, _, _) = send(gateway.post("/api/users/login").json(&serde_json::json!({}))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _, _) = send(gateway.post("/api/users/login").json(&serde_json::json!({}))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn clients_over_their_burst_get_429_with_retry_after() {
    let (_, user_couple) = support::user_couple().await;
    let gateway = support::start(Config { rate_limit_per_sec: 0.5, rate_limit_burst: 3, ..support::config(&user_couple) }).await;
    assert_limited_after_the_burst(&gateway).await;
}

#[tokio::test]
async fn rate_limits_and_authentication_keep_working_when_redis_is_down() {
    let (_, user_couple) = support::user_couple().await;
    let config = Config {
        rate_limit_per_sec: 0.5,
        rate_limit_burst: 3,
        redis: RedisConfig { redis_url: Some("redis://127.0.0.1:1".into()), ..Default::default() },
        ..support::config(&user_couple)
    };
    let gateway = support::start(config).await;
    assert_limited_after_the_burst(&gateway).await;
}

#[tokio::test]
async fn cors_preflights_are_answered_for_allowed_origins_only() {
    let (_, user_couple) = support::user_couple().await;
    let gateway = support::start(Config { allowed_origins: vec!["https://app.example".into()], ..support::config(&user_couple) }).await;
    let preflight = |origin: &str| {
        gateway
            .http
            .request(reqwest::Method::OPTIONS, format!("{}/api/users/me", gateway.url))
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "authorization, content-type")
    };
    let (status, headers, _) = send(preflight("https://app.example")).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("PUT"));
    assert!(headers["access-control-allow-headers"].to_str().unwrap().contains("authorization"));

    let (_, headers, _) = send(preflight("https://evil.example")).await;
    assert!(!headers.contains_key("access-control-allow-origin"), "{headers:?}");

    let (_, _, token) = gateway.token();
    let (status, headers, _) = send(gateway.get("/api/users/me").bearer_auth(&token).header("origin", "https://app.example")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    assert!(headers["access-control-expose-headers"].to_str().unwrap().contains("x-request-id"));
}

#[tokio::test]
async fn without_allowed_origins_there_is_no_cross_origin_access() {
    let (_, user_couple) = support::user_couple().await;
    let gateway = support::start(support::config(&user_couple)).await;
    let (_, _, token) = gateway.token();
    let (_, headers, _) = send(gateway.get("/api/users/me").bearer_auth(&token).header("origin", "https://app.example")).await;
    assert!(!headers.contains_key("access-control-allow-origin"));
}
