//! The gateway's route table, `<app>-gateway-routes`: the gateway's own JSON format
//! (`gateway::RouteTable`, read from `GATEWAY_ROUTES_FILE`) with the registry's routes of the
//! enabled services only, so a disabled service's paths answer 404 at the gateway instead of 502.
//! Public paths are not rendered: the gateway takes them from the registry, and a gateway one
//! version older rejects unknown fields in this file.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::Serialize;

use super::{Component, Platform};

/// The key (and file name) of the route table in the ConfigMap.
pub const ROUTES_KEY: &str = "routes.json";

/// The file format, field for field (camelCase, optional timeouts left out). Only fields every
/// supported gateway version accepts.
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
        routes: enabled
            .iter()
            .filter_map(|service| service.spec())
            .flat_map(|spec| spec.routes.iter().map(|prefix| Route { prefix, upstream: spec.name }))
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

    fn json(app: &crate::crd::CoupleApp) -> serde_json::Value {
        let config_map = build_gateway_routes(&Platform::new(app).unwrap());
        serde_json::from_str(&config_map.data.unwrap()[ROUTES_KEY]).unwrap()
    }

    fn table(app: &crate::crd::CoupleApp) -> gateway::RouteTable {
        serde_json::from_value(json(app)).expect("the gateway reads the operator's route file")
    }

    /// Sorted, so that the result does not depend on serde_json's `preserve_order`.
    fn keys(object: &serde_json::Value) -> Vec<&str> {
        let mut keys: Vec<&str> = object.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn the_routes_are_the_registrys_pointed_at_the_cluster_services() {
        let table = table(&fixtures::managed());
        let routes: Vec<_> = table.routes.iter().map(|r| (r.prefix.as_str(), r.upstream.as_str())).collect();
        let registry: Vec<_> =
            couple_registry::SERVICES.iter().flat_map(|s| s.routes.iter().map(move |prefix| (*prefix, s.name))).collect();
        assert_eq!(routes, registry, "every service's prefixes, in start order");
        assert!(table.routes.iter().all(|r| r.timeout_ms.is_none()));
        let mut names: Vec<_> = couple_registry::SERVICES.iter().map(|s| s.name).collect();
        names.sort_unstable();
        assert_eq!(table.upstreams.keys().collect::<Vec<_>>(), names);
        assert_eq!(table.upstreams["user-couple"].url, "http://demo-user-couple.couple.svc:8081");
        assert_eq!(table.upstreams["question-answer"].url, "http://demo-question-answer.couple.svc:8086");
        assert_eq!(table.upstreams["chat"].url, "http://demo-chat.couple.svc:8000");
    }

    #[test]
    fn the_file_holds_only_fields_the_previous_gateway_accepts() {
        let json = json(&fixtures::managed());
        assert_eq!(keys(&json), ["routes", "upstreams"]);
        let accepted = |object: &serde_json::Value, allowed: &[&str]| keys(object).iter().all(|k| allowed.contains(k));
        for upstream in json["upstreams"].as_object().unwrap().values() {
            assert!(accepted(upstream, &["url", "timeoutMs"]), "{upstream}");
        }
        let routes = json["routes"].as_array().unwrap();
        assert!(!routes.is_empty());
        for route in routes {
            assert!(accepted(route, &["prefix", "upstream", "timeoutMs"]), "{route}");
        }
    }

    #[test]
    fn a_disabled_service_gets_no_upstream_and_no_route() {
        let app = fixtures::with_services(serde_json::json!({"questionAnswer": {"enabled": false}}));
        let table = table(&app);
        assert!(!table.upstreams.contains_key("question-answer"));
        assert!(table.routes.iter().all(|r| r.upstream != "question-answer"));
        assert!(table.routes.iter().any(|r| r.prefix == "/api/users"));
    }
}
