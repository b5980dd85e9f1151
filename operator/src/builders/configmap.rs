//! The gateway's route table, `<app>-gateway-routes`: the gateway's own JSON format
//! (`gateway::RouteTable`, read from `GATEWAY_ROUTES_FILE`), listing only the enabled services, so
//! a disabled service's paths answer 404 at the gateway instead of 502.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::Serialize;

use super::{Component, Platform};

/// The key (and file name) of the route table in the ConfigMap.
pub const ROUTES_KEY: &str = "routes.json";

/// Path prefixes and the service behind each: the gateway's default table
/// (`RouteTable::defaults`), which a test keeps in step.
pub const ROUTES: [(&str, Component); 13] = [
    ("/api/users", Component::UserCouple),
    ("/api/couples", Component::UserCouple),
    ("/api/schedules", Component::ScheduleMeeting),
    ("/api/meetings", Component::ScheduleMeeting),
    ("/api/places", Component::ScheduleMeeting),
    ("/api/calendar", Component::ScheduleMeeting),
    ("/api/questions", Component::QuestionAnswer),
    ("/api/user-answers", Component::QuestionAnswer),
    ("/api/user-vectors", Component::QuestionAnswer),
    ("/api/tags", Component::QuestionAnswer),
    ("/api/user-tag-profiles", Component::QuestionAnswer),
    ("/api/chat", Component::Chat),
    ("/ws", Component::Chat),
];

/// The file format, field for field (camelCase, optional timeouts left out).
#[derive(Serialize)]
struct RouteTable {
    upstreams: BTreeMap<&'static str, Upstream>,
    routes: Vec<Route>,
}

#[derive(Serialize)]
struct Upstream {
    url: String,
}

#[derive(Serialize)]
struct Route {
    prefix: &'static str,
    upstream: &'static str,
}

/// The route table JSON: one upstream per enabled service at its cluster-local URL, and the
/// routes to those upstreams. Pretty-printed, so `kubectl get cm -o yaml` is readable.
pub fn routes_json(platform: &Platform) -> String {
    let enabled = platform.enabled_services();
    let table = RouteTable {
        upstreams: enabled.iter().map(|s| (s.name(), Upstream { url: platform.service_url(*s) })).collect(),
        routes: ROUTES
            .iter()
            .filter(|(_, service)| enabled.contains(service))
            .map(|(prefix, service)| Route { prefix, upstream: service.name() })
            .collect(),
    };
    serde_json::to_string_pretty(&table).expect("the route table serialises")
}

/// `<app>-gateway-routes`.
pub fn build_gateway_routes(platform: &Platform) -> ConfigMap {
    ConfigMap {
        metadata: platform.meta(platform.object_name("gateway-routes"), Component::Gateway),
        data: Some(BTreeMap::from([(ROUTES_KEY.to_owned(), routes_json(platform))])),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    fn table(app: &crate::crd::CoupleApp) -> gateway::RouteTable {
        let config_map = build_gateway_routes(&Platform::new(app).unwrap());
        serde_json::from_str(&config_map.data.unwrap()[ROUTES_KEY]).expect("the gateway reads the operator's route file")
    }

    #[test]
    fn the_routes_are_the_gateways_defaults_pointed_at_the_cluster_services() {
        let table = table(&fixtures::managed());
        let defaults = gateway::RouteTable::defaults(&gateway::Config::default());
        assert_eq!(table.routes, defaults.routes, "same prefixes and upstream names as the gateway's own table");
        assert_eq!(table.upstreams.keys().collect::<Vec<_>>(), defaults.upstreams.keys().collect::<Vec<_>>());
        assert_eq!(table.upstreams["user-couple"].url, "http://demo-user-couple.couple.svc:8081");
        assert_eq!(table.upstreams["question-answer"].url, "http://demo-question-answer.couple.svc:8086");
        assert_eq!(table.upstreams["chat"].url, "http://demo-chat.couple.svc:8000");
    }

    #[test]
    fn a_disabled_service_gets_no_upstream_and_no_route() {
        let app = fixtures::app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "services": {"questionAnswer": {"enabled": false}},
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}
        }));
        let table = table(&app);
        assert!(!table.upstreams.contains_key("question-answer"));
        assert!(table.routes.iter().all(|r| r.upstream != "question-answer"));
        assert!(table.routes.iter().any(|r| r.prefix == "/api/users"));
    }
}
