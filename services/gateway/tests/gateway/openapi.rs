use std::sync::atomic::Ordering;

use axum::http::StatusCode;

use crate::support::{self, send};

#[tokio::test]
async fn the_merged_document_has_the_services_routed_paths_and_survives_dead_upstreams() {
    let (upstream, user_couple) = support::user_couple().await;
    let gateway = support::start(support::config(&user_couple)).await;

    let (status, headers, document) = send(gateway.get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(document["info"]["title"], "Couple platform API");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/users/me"), "{document}");
    assert!(!paths.contains_key("/internal/users/{id}/token-version"));
    assert!(!paths.contains_key("/healthz"), "the service's own health endpoint is not the gateway's");
    assert_eq!(paths["/api/users/login"]["post"]["security"], serde_json::json!([]));
    assert_eq!(document["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    assert!(document["components"]["schemas"]["User"].is_object());

    let (status, _, _) = send(gateway.get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.documents.load(Ordering::SeqCst), 1, "the merged document is cached");
}

#[tokio::test]
async fn with_every_upstream_down_the_document_is_still_served() {
    let gateway = support::start(support::config(support::DEAD)).await;
    let (status, _, document) = send(gateway.get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["paths"], serde_json::json!({}));
    assert_eq!(document["openapi"], "3.1.0");
}
