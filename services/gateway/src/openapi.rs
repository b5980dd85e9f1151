//! `/openapi.json`: one document for the whole platform, merged from each upstream's own
//! `/openapi.json`, so clients and the API fuzzer see exactly what the gateway serves.
//!
//! Only paths the gateway routes to the upstream that documents them are kept (never
//! `/internal/**`, nor a service's own health endpoints). Upstreams that do not answer are left out
//! and asked again soon; the document is served even when none answers.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use couple_common::openapi::error_response;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::{
    GatewayState,
    proxy::{HttpClient, describe},
    routes::{Routes, Upstream},
};

/// Bound on fetching one upstream's document.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// How soon to ask again when an upstream did not answer.
const INCOMPLETE_TTL: Duration = Duration::from_secs(5);
const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// The HTTP methods an OpenAPI path item can hold operations under.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// What the gateway itself may answer instead of the upstream, by status.
const GATEWAY_RESPONSES: [(&str, &str); 4] = [
    ("429", "rate limited by the gateway; retry after `Retry-After` seconds"),
    ("502", "the service answered something that is not HTTP"),
    ("503", "the service is unreachable or its circuit is open; retry after `Retry-After` seconds"),
    ("504", "the service did not answer in time"),
];

/// The merged document, rebuilt at most once per TTL.
pub(crate) struct OpenApiCache {
    ttl: Duration,
    // Held across the rebuild, so concurrent requests wait for one rebuild instead of each
    // fetching every upstream.
    document: Mutex<Option<(Instant, Duration, Bytes)>>,
}

impl OpenApiCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, document: Mutex::new(None) }
    }

    async fn get(&self, client: &HttpClient, routes: &Routes) -> Bytes {
        let mut cached = self.document.lock().await;
        if let Some((built, ttl, document)) = &*cached
            && built.elapsed() < *ttl
        {
            return document.clone();
        }
        let fetched = futures_util::future::join_all(routes.upstreams.iter().map(|u| fetch(client, u))).await;
        let complete = fetched.iter().all(Option::is_some);
        let documents = routes.upstreams.iter().zip(fetched).filter_map(|(u, doc)| Some((u.name.as_ref(), doc?))).collect();
        let merged = merge(routes, documents);
        // Serialising a `Value` cannot fail.
        let bytes = Bytes::from(serde_json::to_vec(&merged).unwrap_or_default());
        let ttl = if complete { self.ttl } else { self.ttl.min(INCOMPLETE_TTL) };
        *cached = Some((Instant::now(), ttl, bytes.clone()));
        bytes
    }
}

/// `GET /openapi.json`.
pub(crate) async fn serve(State(gateway): State<Arc<GatewayState>>) -> Response {
    let document = gateway.openapi.get(&gateway.client, &gateway.routes).await;
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], document).into_response()
}

async fn fetch(client: &HttpClient, upstream: &Upstream) -> Option<Value> {
    let result = tokio::time::timeout(FETCH_TIMEOUT, async {
        let uri = upstream.uri(axum::http::uri::PathAndQuery::from_static("/openapi.json"));
        let request = hyper::Request::get(uri).body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
        let response = client.request(request).await.map_err(|e| describe(&e))?;
        if response.status() != StatusCode::OK {
            return Err(format!("status {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES).collect().await.map_err(|e| e.to_string())?.to_bytes();
        serde_json::from_slice::<Value>(&body).map_err(|e| format!("not JSON: {e}"))
    })
    .await
    .unwrap_or_else(|_| Err("timed out".into()));
    match result {
        Ok(document) => Some(document),
        Err(cause) => {
            tracing::info!(upstream = %upstream.name, %cause, "OpenAPI document unavailable; left out of the merged one");
            None
        }
    }
}

/// Merges the upstreams' documents (by upstream name) into the gateway's.
pub(crate) fn merge(routes: &Routes, documents: Vec<(&str, Value)>) -> Value {
    let mut paths = Map::new();
    let mut components: Map<String, Value> = Map::new();
    let mut tags: Vec<Value> = Vec::new();
    for (upstream, document) in documents {
        let Value::Object(mut document) = document else { continue };
        if let Some(Value::Object(upstream_paths)) = document.remove("paths") {
            for (path, item) in upstream_paths {
                let routed_here = routes.find(&path).is_some_and(|route| &*route.upstream.name == upstream);
                if routed_here && !paths.contains_key(&path) {
                    paths.insert(path, item);
                }
            }
        }
        if let Some(Value::Object(upstream_components)) = document.remove("components") {
            for (kind, entries) in upstream_components {
                // The gateway states how to authenticate; services may name their schemes otherwise.
                let (false, Value::Object(entries)) = (kind == "securitySchemes", entries) else { continue };
                let Value::Object(target) = components.entry(kind).or_insert_with(|| Value::Object(Map::new())) else { continue };
                for (name, entry) in entries {
                    // Services share the envelope schemas; the first definition wins.
                    target.entry(name).or_insert(entry);
                }
            }
        }
        if let Some(Value::Array(upstream_tags)) = document.remove("tags") {
            for tag in upstream_tags {
                if !tags.iter().any(|t| t.get("name") == tag.get("name")) {
                    tags.push(tag);
                }
            }
        }
    }
    for (path, item) in &mut paths {
        for method in METHODS {
            if let Some(Value::Object(operation)) = item.get_mut(method) {
                state_gateway_behaviour(routes, method, path, operation);
            }
        }
    }
    components.insert(
        "securitySchemes".into(),
        json!({"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "The access token from login or refresh."}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Couple platform API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every service of the couple platform, served through the gateway on one origin.",
        },
        "paths": paths,
        "components": components,
        "security": [{"bearerAuth": []}],
        "tags": tags,
    })
}

/// Makes an operation say what the gateway does on its route: whether it needs a token (in the
/// gateway's security scheme, whatever the service named its own) and the errors the gateway
/// answers itself.
fn state_gateway_behaviour(routes: &Routes, method: &str, path: &str, operation: &mut Map<String, Value>) {
    let public = method.to_ascii_uppercase().parse::<axum::http::Method>().is_ok_and(|m| routes.is_public(&m, path));
    operation.insert("security".into(), if public { json!([]) } else { json!([{"bearerAuth": []}]) });
    let mut statuses: Vec<(&str, &str)> = GATEWAY_RESPONSES.to_vec();
    if !public {
        statuses.push(("401", "no bearer token, or it is invalid, expired or revoked"));
    }
    if operation.contains_key("requestBody") {
        statuses.push(("413", "the body is over the size limit"));
    }
    let Value::Object(responses) = operation.entry("responses").or_insert_with(|| json!({})) else { return };
    for (status, description) in statuses {
        responses.entry(status).or_insert_with(|| serde_json::to_value(error_response(description)).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, RouteTable};

    #[test]
    fn paths_are_kept_only_where_the_gateway_routes_them_to_their_service() {
        let routes = RouteTable::defaults(&Config::default()).compile(&Config::default()).unwrap();
        let user_couple = json!({
            "openapi": "3.1.0",
            "paths": {
                "/api/users/login": {"post": {"security": [{"bearer": []}]}},
                "/api/users/me": {"get": {}},
                "/internal/users/{id}/token-version": {"get": {}},
                "/healthz": {"get": {}},
                "/api/schedules": {"get": {}}
            },
            "components": {"schemas": {"User": {"type": "object"}, "ErrorEnvelope": {"title": "first"}}, "securitySchemes": {"x": {}}},
            "tags": [{"name": "users"}]
        });
        let schedule = json!({
            "paths": {
                "/api/schedules": {"get": {"summary": "list"}},
                "/api/calendar/feeds/{secret}.ics": {"get": {}},
                "/api/calendar/feeds/{id}": {"delete": {}}
            },
            "components": {"schemas": {"Schedule": {}, "ErrorEnvelope": {"title": "second"}}},
            "tags": [{"name": "users"}, {"name": "schedules"}]
        });
        let merged = merge(&routes, vec![("user-couple", user_couple), ("schedule-meeting", schedule)]);
        let paths = merged["paths"].as_object().unwrap();
        let mut names: Vec<_> = paths.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["/api/calendar/feeds/{id}", "/api/calendar/feeds/{secret}.ics", "/api/schedules", "/api/users/login", "/api/users/me"]
        );
        assert_eq!(paths["/api/calendar/feeds/{secret}.ics"]["get"]["security"], json!([]), "the feed is public");
        assert_eq!(paths["/api/calendar/feeds/{id}"]["delete"]["security"], json!([{"bearerAuth": []}]));
        assert_eq!(paths["/api/schedules"]["get"]["summary"], "list", "a path comes from the service it is routed to");
        assert_eq!(paths["/api/users/login"]["post"]["security"], json!([]));
        let me = &paths["/api/users/me"]["get"];
        assert_eq!(me["security"], json!([{"bearerAuth": []}]), "the gateway's scheme replaces the service's");
        let statuses = |op: &Value| {
            let mut keys = op["responses"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            keys.sort_unstable();
            keys
        };
        assert_eq!(statuses(me), ["401", "429", "502", "503", "504"], "the gateway's own answers are documented");
        assert!(!statuses(&paths["/api/users/login"]["post"]).contains(&"401".to_owned()), "a public route never gets the gateway's 401");
        assert_eq!(me["responses"]["401"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorEnvelope");
        let schemas = &merged["components"]["schemas"];
        assert!(schemas.get("User").is_some() && schemas.get("Schedule").is_some());
        assert_eq!(schemas["ErrorEnvelope"]["title"], "first");
        assert_eq!(merged["components"]["securitySchemes"].as_object().unwrap().keys().collect::<Vec<_>>(), ["bearerAuth"]);
        assert_eq!(merged["tags"].as_array().unwrap().len(), 2);
        assert_eq!(merged["info"]["title"], "Couple platform API");
    }

    #[test]
    fn with_no_upstream_the_document_is_still_valid() {
        let routes = RouteTable::defaults(&Config::default()).compile(&Config::default()).unwrap();
        let merged = merge(&routes, Vec::new());
        assert_eq!(merged["paths"], json!({}));
        assert_eq!(merged["openapi"], "3.1.0");
    }
}
