//! With a real Redis (`TEST_REDIS_URL`, which `make test` provides), and one of the test's own that
//! it stops and starts again.

use std::{sync::atomic::Ordering, time::Duration};

use axum::http::StatusCode;
use couple_common::{
    Role,
    config::RedisConfig,
    jwt::TokenSubject,
    kv::{Kv, RedisKv},
    revocation::version_key,
    test_util,
};
use uuid::Uuid;

use crate::support::{self, Config, TestGateway, assert_error, send};

/// A gateway configuration on the shared test Redis; `None` (skip) when it is not running.
fn redis_config(user_couple: &str, prefix: &str) -> Option<Config> {
    Some(Config {
        redis: RedisConfig { redis_url: Some(test_util::redis_url()?), redis_prefix: prefix.to_owned() },
        ..support::config(user_couple)
    })
}

/// The gateway marks Redis usable once a background probe has answered; the first request starts it.
async fn warm_up(gateway: &TestGateway) {
    let (_, _, token) = gateway.token();
    send(gateway.get("/api/users/me").bearer_auth(&token)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn token_versions_are_read_from_redis_under_the_shared_prefix() {
    let (upstream, user_couple) = support::user_couple().await;
    let prefix = test_util::redis_prefix();
    let Some(config) = redis_config(&user_couple, &prefix) else { return };
    let gateway = support::start(config).await;
    warm_up(&gateway).await;
    let lookups = upstream.lookups.load(Ordering::SeqCst);

    let user = Uuid::now_v7();
    let redis = RedisKv::new(&test_util::redis_url().unwrap()).unwrap().with_prefix(&prefix);
    redis.set(&version_key(user), "3", Some(Duration::from_secs(60))).await.unwrap();
    let token = |version| gateway.keys.issue(TokenSubject { user_id: user, couple_id: None, role: Role::User, version }).0;

    let (status, _, body) = send(gateway.get("/api/users/me").bearer_auth(token(2))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "TOKEN_REVOKED");
    let (status, _, _) = send(gateway.get("/api/users/me").bearer_auth(token(3))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.lookups.load(Ordering::SeqCst), lookups, "Redis answered; the service was not asked");
}

#[tokio::test]
async fn replicas_share_one_rate_limit_bucket_through_redis() {
    let (_, user_couple) = support::user_couple().await;
    let prefix = test_util::redis_prefix();
    let Some(shared) = redis_config(&user_couple, &prefix) else { return };
    let config = || Config { rate_limit_per_sec: 0.5, rate_limit_burst: 4, ..shared.clone() };
    let (a, b) = (support::start(config()).await, support::start(config()).await);
    warm_up(&a).await;
    warm_up(&b).await;

    let (user, _, token) = a.token();
    let (same_user, _) = b.keys.issue(TokenSubject { user_id: user, couple_id: None, role: Role::User, version: 0 });
    for gateway in [&a, &b, &a, &b] {
        let token = if std::ptr::eq(gateway, &a) { &token } else { &same_user };
        let (status, _, _) = send(gateway.get("/api/users/me").bearer_auth(token)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, body) = send(b.get("/api/users/me").bearer_auth(&same_user)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(headers.contains_key("retry-after"));
}

/// Sends a fresh user's requests to `a`, `b`, `a`, `b`, then `a`: whether the statuses show one
/// bucket shared through Redis (burst 4 spent across both, the fifth limited).
async fn one_bucket_is_shared(a: &TestGateway, b: &TestGateway) -> bool {
    let (user, _, on_a) = a.token();
    let (on_b, _) = b.keys.issue(TokenSubject { user_id: user, couple_id: None, role: Role::User, version: 0 });
    let mut statuses = Vec::new();
    for (gateway, token) in [(a, &on_a), (b, &on_b), (a, &on_a), (b, &on_b), (a, &on_a)] {
        statuses.push(send(gateway.get("/api/users/me").bearer_auth(token)).await.0);
    }
    statuses == [StatusCode::OK, StatusCode::OK, StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_the_gateway_keeps_serving_and_uses_it_again() {
    // A private Redis: the shared one serves other tests and must not be stopped.
    let Some(redis) = test_util::PrivateRedis::start().await else { return };
    let (upstream, user_couple) = support::user_couple().await;
    let prefix = test_util::redis_prefix();
    let config = || Config {
        redis: RedisConfig { redis_url: Some(redis.url()), redis_prefix: prefix.clone() },
        rate_limit_per_sec: 0.5,
        rate_limit_burst: 4,
        ..support::config(&user_couple)
    };
    let (a, b) = (support::start(config()).await, support::start(config()).await);
    warm_up(&a).await;
    warm_up(&b).await;
    assert!(one_bucket_is_shared(&a, &b).await, "with Redis up the replicas share one bucket");

    redis.stop().await;
    let stopped = std::time::Instant::now();
    let lookups = upstream.lookups.load(Ordering::SeqCst);
    // Still serving, each replica counting alone: a's burst is spent, b's is untouched.
    let (user, _, on_a) = a.token();
    let (on_b, _) = b.keys.issue(TokenSubject { user_id: user, couple_id: None, role: Role::User, version: 0 });
    for _ in 0..4 {
        let (status, _, body) = send(a.get("/api/users/me").bearer_auth(&on_a)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, headers, body) = send(a.get("/api/users/me").bearer_auth(&on_a)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(headers.contains_key("retry-after"));
    let (status, _, body) = send(b.get("/api/users/me").bearer_auth(&on_b)).await;
    assert_eq!(status, StatusCode::OK, "b limits on its own while Redis is down: {body}");
    let outage = stopped.elapsed();
    assert!(outage < Duration::from_secs(2), "no request waits for the dead Redis: 6 requests took {outage:?}");
    assert!(upstream.lookups.load(Ordering::SeqCst) > lookups, "token versions came from the service instead");

    redis.resume().await;
    let resumed = std::time::Instant::now();
    // The probes (every 2 s) find it again; then both replicas share one bucket once more.
    while !one_bucket_is_shared(&a, &b).await {
        assert!(resumed.elapsed() < Duration::from_secs(15), "the replicas did not go back to Redis within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("Redis outage served in {outage:?}; shared limits again {:?} after Redis answered", resumed.elapsed());
}
