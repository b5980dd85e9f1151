use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use couple_common::{
    JwtKeys, Role,
    config::{RedisConfig, SharedConfig},
    jwt::TokenSubject,
};
use couple_registry::SCHEDULE_MEETING;
use uuid::Uuid;

use crate::support::{self, assert_error, send};

#[tokio::test]
async fn missing_malformed_forged_unsigned_and_expired_tokens_get_401() {
    let (upstream, user_couple) = support::user_couple().await;
    let gateway = support::start(support::config(&user_couple)).await;
    let (_, _, valid) = gateway.token();
    let (_, mut claims) = gateway.keys.issue(TokenSubject { user_id: Uuid::now_v7(), couple_id: None, role: Role::User, version: 0 });
    let payload = valid.split('.').nth(1).unwrap();
    // base64url of {"alg":"none","typ":"JWT"}
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let forged = JwtKeys::from_config(&SharedConfig::with_secret("another-secret-0123456789abcdef-0123456789")).issue(TokenSubject {
        user_id: Uuid::now_v7(),
        couple_id: None,
        role: Role::Admin,
        version: 0,
    });
    claims.exp = claims.iat - 3600;
    let expired = gateway.keys.sign(&claims);

    let cases = [
        (None, "UNAUTHENTICATED"),
        (Some("Basic dXNlcjpwYXNz".to_owned()), "UNAUTHENTICATED"),
        (Some("Bearer not-a-jwt".to_owned()), "INVALID_TOKEN"),
        (Some(format!("Bearer {unsigned}")), "INVALID_TOKEN"),
        (Some(format!("Bearer {}", forged.0)), "INVALID_TOKEN"),
        (Some(format!("Bearer {expired}")), "TOKEN_EXPIRED"),
    ];
    for (authorization, code) in cases {
        let mut request = gateway.get("/api/users/me");
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        let (status, headers, body) = send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_error(&body, code);
        assert_eq!(headers["www-authenticate"], "Bearer");
        assert!(body["error"]["traceId"].is_string(), "{body}");
    }
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn client_identity_headers_are_replaced_by_the_verified_ones() {
    let (_, user_couple) = support::user_couple().await;
    let gateway = support::start(support::config(&user_couple)).await;
    let (user, couple, token) = gateway.token();
    let request = gateway
        .get("/api/couples/me")
        .bearer_auth(&token)
        .header("x-user-id", Uuid::now_v7().to_string())
        .header("x-couple-id", Uuid::now_v7().to_string())
        .header("x-nickname", "mallory")
        .header("x-email", "mallory@example.com")
        .header("x-forwarded-for", "203.0.113.66")
        .header("x-request-id", "req-42");
    let (status, headers, body) = send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = &body["headers"];
    assert_eq!(seen["x-user-id"], user.to_string());
    assert_eq!(seen["x-couple-id"], couple.to_string());
    assert!(seen.get("x-nickname").is_none() && seen.get("x-email").is_none(), "{seen}");
    assert_eq!(seen["authorization"], format!("Bearer {token}"));
    assert_eq!(seen["x-request-id"], "req-42");
    assert_eq!(headers["x-request-id"], "req-42");
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1", "an untrusted client cannot choose its address");

    // Without a couple there is no X-Couple-ID, even when the client sends one.
    let (token, _) = gateway.keys.issue(TokenSubject { user_id: user, couple_id: None, role: Role::User, version: 0 });
    let (_, _, body) = send(gateway.get("/api/users/me").bearer_auth(&token).header("x-couple-id", couple.to_string())).await;
    assert!(body["headers"].get("x-couple-id").is_none(), "{body}");
    assert!(body["headers"]["x-request-id"].is_string(), "a request id is generated when absent");

    // Public requests lose client identity headers too.
    let (_, _, body) = send(gateway.post("/api/users/login").header("x-user-id", user.to_string()).json(&serde_json::json!({}))).await;
    assert!(body["headers"].get("x-user-id").is_none(), "{body}");
}

#[tokio::test]
async fn a_revoked_token_is_refused_within_a_second() {
    let (upstream, user_couple) = support::user_couple().await;
    let gateway = support::start(support::config(&user_couple)).await;
    let (user, couple, token) = gateway.token();
    for _ in 0..20 {
        let (status, _, _) = send(gateway.get("/api/users/me").bearer_auth(&token)).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(upstream.lookups.load(Ordering::SeqCst) <= 2, "versions are cached between requests");

    upstream.set_version(user, 1);
    let revoked_at = Instant::now();
    loop {
        let (status, _, body) = send(gateway.get("/api/users/me").bearer_auth(&token)).await;
        if status == StatusCode::UNAUTHORIZED {
            assert_error(&body, "TOKEN_REVOKED");
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(revoked_at.elapsed() < Duration::from_secs(1), "still accepted a second after revocation");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (fresh, _) = gateway.keys.issue(TokenSubject { user_id: user, couple_id: Some(couple), role: Role::User, version: 1 });
    let (status, _, _) = send(gateway.get("/api/users/me").bearer_auth(&fresh)).await;
    assert_eq!(status, StatusCode::OK, "a token at the current version passes");

    // A deleted user's tokens are revoked (the internal endpoint answers 404).
    let (gone, _, gone_token) = gateway.token();
    upstream.delete(gone);
    let (status, _, body) = send(gateway.get("/api/users/me").bearer_auth(&gone_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "TOKEN_REVOKED");
}

#[tokio::test]
async fn when_no_source_can_tell_the_token_version_requests_fail_closed_with_503() {
    let echo = support::serve(support::echo("schedule-meeting")).await;
    let gateway = support::start(support::Config {
        redis: RedisConfig { redis_url: Some("redis://127.0.0.1:1".into()), ..Default::default() },
        ..support::config_with(support::DEAD, &SCHEDULE_MEETING, &echo)
    })
    .await;
    let (_, _, token) = gateway.token();
    let (status, headers, body) = send(gateway.get("/api/schedules").bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error(&body, "SERVICE_UNAVAILABLE");
    assert!(headers.contains_key("retry-after"));
}
