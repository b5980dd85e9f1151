use axum::http::StatusCode;
use couple_common::{net::INTERNAL_TOKEN_HEADER, telemetry::CapturedLogs};
use couple_registry::SCHEDULE_MEETING;
use serde_json::Value;

use crate::support::{self, assert_error, send};

#[tokio::test]
async fn requests_go_to_the_upstream_of_their_prefix_with_path_and_query() {
    let (_, user_couple) = support::user_couple().await;
    let schedule = support::serve(support::echo("schedule-meeting")).await;
    let gateway = support::start(support::config_with(&user_couple, &SCHEDULE_MEETING, &schedule)).await;
    let (_, _, token) = gateway.token();

    let (status, _, body) = send(gateway.get("/api/users/me").bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["upstream"].as_str(), body["path"].as_str()), (Some("user-couple"), Some("/api/users/me")));

    let (status, _, body) = send(gateway.get("/api/calendar/2026/11?view=month&x=%2F").bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["upstream"], "schedule-meeting");
    assert_eq!(body["path"], "/api/calendar/2026/11");
    assert_eq!(body["query"], "view=month&x=%2F");
    assert_eq!(body["headers"]["host"].as_str().map(|h| h.starts_with("127.0.0.1:")), Some(true), "Host names the upstream");
    assert_eq!(body["headers"]["x-forwarded-host"].as_str(), Some(gateway.addr.to_string().as_str()));
}

#[tokio::test]
async fn prefixes_match_whole_segments_and_unknown_paths_get_404_in_the_envelope() {
    let (upstream, user_couple) = support::user_couple().await;
    let gateway = support::start(support::config(&user_couple)).await;
    let (_, _, token) = gateway.token();
    for path in ["/api/usersX", "/api", "/nowhere", "/api/users/../internal/users"] {
        let (status, _, body) = send(gateway.get(path).bearer_auth(&token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error(&body, "NOT_FOUND");
    }
    assert_eq!(upstream.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn internal_paths_are_never_routed_even_with_a_valid_token() {
    let (upstream, user_couple) = support::user_couple().await;
    let gateway = support::start(support::config(&user_couple)).await;
    let (user, _, token) = gateway.token();
    let lookups_before = upstream.lookups.load(std::sync::atomic::Ordering::SeqCst);
    let path = format!("/internal/users/{user}/token-version");
    let (status, _, body) =
        send(gateway.get(&path).bearer_auth(&token).header(INTERNAL_TOKEN_HEADER, "test-internal-token-0123456789abcdef")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "NOT_FOUND");
    assert_eq!(upstream.lookups.load(std::sync::atomic::Ordering::SeqCst), lookups_before);
}

#[tokio::test]
async fn signup_login_refresh_and_the_gateway_endpoints_need_no_token() {
    let (_, user_couple) = support::user_couple().await;
    let gateway = support::start(support::config(&user_couple)).await;
    for path in ["/api/users/signup", "/api/users/login", "/api/users/token/refresh"] {
        let (status, _, body) = send(gateway.post(path).json(&serde_json::json!({"email": "a@b.c"}))).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["path"], path);
        assert_eq!(body["bodyLength"], 17);
    }
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let (status, _, _) = send(gateway.get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (_, _, ready) = send(gateway.get("/readyz")).await;
    assert_eq!(ready["data"]["checks"]["routes"], "ok");
    // The same paths with another method are not public.
    let (status, _, body) = send(gateway.get("/api/users/login")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_route_file_replaces_the_default_table() {
    let (_, user_couple) = support::user_couple().await;
    let extra = support::serve(support::echo("extra")).await;
    let file = support::routes_file(&serde_json::json!({
        "upstreams": {"user-couple": {"url": user_couple}, "extra": {"url": extra, "timeoutMs": 2000}},
        "routes": [{"prefix": "/api/users", "upstream": "user-couple"}, {"prefix": "/api/extra/", "upstream": "extra"}]
    }));
    let gateway = support::start(support::Config { routes_file: Some(file), ..support::config(support::DEAD) }).await;
    let (_, _, token) = gateway.token();
    let (status, _, body) = send(gateway.get("/api/extra/thing").bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["upstream"], "extra");
    let (status, _, _) = send(gateway.get("/api/schedules").bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the default routes are gone");
    let (status, _, body) = send(gateway.get("/api/users/me").bearer_auth(&token)).await;
    assert_eq!((status, body["upstream"].clone()), (StatusCode::OK, Value::from("user-couple")));
    let (status, _, body) = send(gateway.post("/api/users/login")).await;
    assert_eq!((status, body["upstream"].clone()), (StatusCode::OK, Value::from("user-couple")), "without `public`, the registry's");
}

#[tokio::test]
async fn the_public_list_of_a_route_file_decides_which_requests_need_no_token() {
    let (_, user_couple) = support::user_couple().await;
    let extra = support::serve(support::echo("extra")).await;
    let file = support::routes_file(&serde_json::json!({
        "upstreams": {"user-couple": {"url": user_couple}, "extra": {"url": extra}},
        "routes": [{"prefix": "/api/users", "upstream": "user-couple"}, {"prefix": "/api/extra", "upstream": "extra"}],
        "public": [{"method": "GET", "path": "/api/extra/open"}]
    }));
    let gateway = support::start(support::Config { routes_file: Some(file), ..support::config(support::DEAD) }).await;
    for path in ["/api/extra/open", "/api/extra/open/"] {
        let (status, _, body) = send(gateway.get(path)).await;
        assert_eq!((status, body["upstream"].clone()), (StatusCode::OK, Value::from("extra")), "{path}");
    }
    for request in [gateway.post("/api/extra/open"), gateway.get("/api/extra/closed"), gateway.post("/api/users/login")] {
        let (status, _, body) = send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_error(&body, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn the_calendar_feed_needs_no_token_and_its_secret_never_reaches_the_log() {
    let logs = CapturedLogs::start();
    let (_, user_couple) = support::user_couple().await;
    let schedule = support::serve(support::echo("schedule-meeting")).await;
    let gateway = support::start(support::config_with(&user_couple, &SCHEDULE_MEETING, &schedule)).await;
    let secret = "s3cr3t-Zm9vYmFyYmF6";
    let feed = format!("/api/calendar/feeds/{secret}.ics");

    let (status, _, body) = send(gateway.get(&feed)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["upstream"].as_str(), body["path"].as_str()), (Some("schedule-meeting"), Some(feed.as_str())));
    assert!(body["headers"].get("authorization").is_none() && body["headers"].get("x-user-id").is_none(), "{body}");
    // Its neighbours are the couple's own API: they need a token (and a mistyped feed URL is
    // masked in the log all the same).
    for request in
        [gateway.get("/api/calendar/feeds"), gateway.post("/api/calendar/feeds"), gateway.get(&format!("/api/calendar/feeds/{secret}"))]
    {
        let (status, _, body) = send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_error(&body, "UNAUTHENTICATED");
    }
    let (status, _, _) = send(gateway.http.delete(format!("{}{feed}", gateway.url))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "only GET is public");

    let text = logs.text();
    assert!(text.contains(r#""path":"/api/calendar/feeds/***.ics""#), "the access log names the masked path: {text}");
    assert!(text.contains(r#""path":"/api/calendar/feeds/***""#), "{text}");
    assert!(!text.contains(secret), "{text}");
}
