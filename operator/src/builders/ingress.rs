//! The gateway's Ingress (`networking.k8s.io/v1`), only when `spec.gateway.ingress` is present
//! and enabled: every path of the host goes to the gateway, which does the routing itself.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec, IngressTLS,
    ServiceBackendPort,
};

use super::{Component, Platform};

/// `<app>-gateway`, or `None` when no Ingress is asked for.
pub fn build_gateway_ingress(platform: &Platform) -> Option<Ingress> {
    let gateway = &platform.app.spec.gateway;
    let ingress = gateway.ingress.as_ref().filter(|i| i.enabled)?;
    let service = platform.object_name(Component::Gateway.name());
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: service.clone(),
            port: Some(ServiceBackendPort { number: Some(gateway.service.port), name: None }),
        }),
        resource: None,
    };
    let rule = IngressRule {
        host: Some(ingress.host.clone()),
        http: Some(HTTPIngressRuleValue {
            paths: vec![HTTPIngressPath { path: Some("/".to_owned()), path_type: "Prefix".to_owned(), backend }],
        }),
    };
    let tls = ingress
        .tls_secret_name
        .as_ref()
        .map(|secret| vec![IngressTLS { hosts: Some(vec![ingress.host.clone()]), secret_name: Some(secret.clone()) }]);
    Some(Ingress {
        metadata: platform.meta(service, Component::Gateway),
        spec: Some(IngressSpec { ingress_class_name: ingress.class_name.clone(), rules: Some(vec![rule]), tls, default_backend: None }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn the_ingress_routes_the_host_to_the_gateway_with_tls() {
        let app = fixtures::managed();
        let ingress = build_gateway_ingress(&Platform::new(&app).unwrap()).unwrap();
        assert_eq!(ingress.metadata.name.as_deref(), Some("demo-gateway"));
        let spec = ingress.spec.unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        let rule = &spec.rules.unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some("couple.example.com"));
        let backend = rule.http.as_ref().unwrap().paths[0].backend.service.clone().unwrap();
        assert_eq!((backend.name.as_str(), backend.port.unwrap().number), ("demo-gateway", Some(80)));
        let tls = &spec.tls.unwrap()[0];
        assert_eq!(tls.secret_name.as_deref(), Some("couple-tls"));
    }

    #[test]
    fn no_ingress_when_absent_or_disabled() {
        assert!(build_gateway_ingress(&Platform::new(&fixtures::external()).unwrap()).is_none());
        let app = fixtures::app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "gateway": {"ingress": {"enabled": false, "host": "couple.example.com"}},
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}
        }));
        assert!(build_gateway_ingress(&Platform::new(&app).unwrap()).is_none());
    }
}
