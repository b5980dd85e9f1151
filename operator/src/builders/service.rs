//! Services: headless ones for the managed databases (stable DNS for a StatefulSet), ClusterIP
//! ones for the services, and the gateway's, typed and numbered as the spec asks.

use k8s_openapi::{
    api::core::v1::{Service, ServicePort, ServiceSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::{Component, Platform};
use crate::crd::ServiceType;

fn port(name: &str, port: i32, target: IntOrString) -> ServicePort {
    ServicePort { name: Some(name.to_owned()), port, target_port: Some(target), protocol: Some("TCP".to_owned()), ..ServicePort::default() }
}

fn service(platform: &Platform, component: Component, spec: ServiceSpec) -> Service {
    Service {
        metadata: platform.meta(platform.object_name(component.name()), component),
        spec: Some(ServiceSpec { selector: Some(platform.selector(component)), ..spec }),
        status: None,
    }
}

/// `<app>-postgres` / `-redis` / `-mongodb`: headless, the StatefulSet's governing Service;
/// clients resolve it straight to the single pod.
pub fn build_database_service(platform: &Platform, database: Component) -> Service {
    let spec = ServiceSpec {
        cluster_ip: Some("None".to_owned()),
        ports: Some(vec![port(database.name(), database.port(), IntOrString::Int(database.port()))]),
        ..ServiceSpec::default()
    };
    service(platform, database, spec)
}

/// `<app>-<service>`: ClusterIP on the service's own port, reached by the gateway.
pub fn build_service_service(platform: &Platform, component: Component) -> Service {
    let spec = ServiceSpec {
        type_: Some("ClusterIP".to_owned()),
        ports: Some(vec![port("http", component.port(), IntOrString::String("http".to_owned()))]),
        ..ServiceSpec::default()
    };
    service(platform, component, spec)
}

/// `<app>-gateway`: the spec's type and port, to the gateway's 8080.
pub fn build_gateway_service(platform: &Platform) -> Service {
    let spec = &platform.app.spec.gateway.service;
    let type_ = match spec.type_ {
        ServiceType::ClusterIP => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
    };
    let service_spec = ServiceSpec {
        type_: Some(type_.to_owned()),
        ports: Some(vec![port("http", spec.port, IntOrString::Int(Component::Gateway.port()))]),
        ..ServiceSpec::default()
    };
    service(platform, Component::Gateway, service_spec)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn database_services_are_headless_and_select_their_database() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let s = build_database_service(&p, Component::Postgres);
        assert_eq!(s.metadata.name.as_deref(), Some("demo-postgres"));
        let spec = s.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.selector, Some(p.selector(Component::Postgres)));
        assert_eq!(spec.ports.unwrap()[0].port, 5432);
    }

    #[test]
    fn the_gateway_service_has_the_spec_type_and_port_and_targets_8080() {
        let app = fixtures::app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "gateway": {"service": {"type": "LoadBalancer", "port": 443}},
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}
        }));
        let p = Platform::new(&app).unwrap();
        let spec = build_gateway_service(&p).spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
        let port = &spec.ports.unwrap()[0];
        assert_eq!((port.port, port.target_port.clone()), (443, Some(IntOrString::Int(8080))));
        let service = build_service_service(&p, Component::Chat);
        assert_eq!(service.metadata.name.as_deref(), Some("demo-chat"));
        assert_eq!(service.spec.unwrap().ports.unwrap()[0].port, 8000);
    }
}
