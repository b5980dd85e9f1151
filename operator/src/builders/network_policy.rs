//! NetworkPolicies (ingress only; egress stays open for DNS, external databases and the weather
//! API): nothing reaches the app's pods unless a policy below allows it. The gateway's port is
//! open to everyone; a service's port only to the gateway and the services that call it; a
//! managed database's port only to the services using it and the provisioning and migration Job
//! pods. The metrics port is open to pods of every namespace, so Prometheus can scrape it.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::networking::v1::{NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec},
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, LabelSelectorRequirement},
        util::intstr::IntOrString,
    },
};

use super::{
    Component, PART_OF, Platform,
    job::{PROVISION_POD_NAME, migration_pod_name},
    topology::METRICS_PORT,
};

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort { port: Some(IntOrString::Int(port)), protocol: Some("TCP".to_owned()), end_port: None }
}

fn policy(
    platform: &Platform,
    name: String,
    component: Component,
    selector: LabelSelector,
    ingress: Vec<NetworkPolicyIngressRule>,
) -> NetworkPolicy {
    NetworkPolicy {
        metadata: platform.meta(name, component),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: (!ingress.is_empty()).then_some(ingress),
            egress: None,
        }),
    }
}

fn select(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector { match_labels: Some(labels), match_expressions: None }
}

/// Pods of this CoupleApp whose `app.kubernetes.io/name` is one of `names`.
fn pods_named(platform: &Platform, names: Vec<String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([("app.kubernetes.io/instance".to_owned(), platform.name.clone())])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app.kubernetes.io/name".to_owned(),
                operator: "In".to_owned(),
                values: Some(names),
            }]),
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn metrics_rule() -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer { namespace_selector: Some(LabelSelector::default()), ..NetworkPolicyPeer::default() }]),
        ports: Some(vec![tcp(METRICS_PORT)]),
    }
}

/// `<app>-default-deny`: selects every pod of the app (workloads and Jobs) and allows nothing;
/// the policies below add what is allowed.
pub fn build_default_deny(platform: &Platform) -> NetworkPolicy {
    let selector = select(BTreeMap::from([
        ("app.kubernetes.io/instance".to_owned(), platform.name.clone()),
        ("app.kubernetes.io/part-of".to_owned(), PART_OF.to_owned()),
    ]));
    policy(platform, platform.object_name("default-deny"), Component::Gateway, selector, Vec::new())
}

/// `<app>-gateway`: port 8080 from anywhere (the Ingress controller, a load balancer, clients).
pub fn build_gateway_policy(platform: &Platform) -> NetworkPolicy {
    let everyone = NetworkPolicyIngressRule { from: None, ports: Some(vec![tcp(Component::Gateway.port())]) };
    let gateway = Component::Gateway;
    policy(platform, platform.object_name(gateway.name()), gateway, select(platform.selector(gateway)), vec![everyone, metrics_rule()])
}

/// Who calls a service: the enabled components whose registry entry reaches it (the gateway
/// first, then services such as schedule-meeting, which asks user-couple for birthdays, and
/// user-couple, which erases deleted accounts and couples in the services that hold user or
/// couple data).
pub fn callers(platform: &Platform, service: Component) -> Vec<Component> {
    let mut callers: Vec<Component> = service
        .spec()
        .into_iter()
        .flat_map(|spec| spec.callers())
        .filter_map(Component::of_spec)
        .filter(|caller| platform.is_enabled(*caller))
        .collect();
    callers.sort_unstable();
    callers
}

/// `<app>-<service>`: its port from its callers only.
pub fn build_service_policy(platform: &Platform, service: Component) -> NetworkPolicy {
    let from = pods_named(platform, callers(platform, service).iter().map(|c| c.name().to_owned()).collect());
    let rule = NetworkPolicyIngressRule { from: Some(vec![from]), ports: Some(vec![tcp(service.port())]) };
    policy(platform, platform.object_name(service.name()), service, select(platform.selector(service)), vec![rule, metrics_rule()])
}

/// The pod names that may reach a database: the components using it, plus the provisioning Job
/// (PostgreSQL) and the migration Jobs of the services using it (not for Redis, which migrations
/// never touch).
pub fn database_clients(platform: &Platform, database: Component) -> Vec<String> {
    let users: Vec<Component> =
        [Component::Gateway].into_iter().chain(Component::SERVICES).filter(|c| platform.uses(*c, database)).collect();
    let mut names: Vec<String> = users.iter().map(|c| c.name().to_owned()).collect();
    if database == Component::Postgres && !users.is_empty() {
        names.push(PROVISION_POD_NAME.to_owned());
    }
    if database != Component::Redis {
        names.extend(users.iter().filter(|c| **c != Component::Gateway).map(|c| migration_pod_name(*c)));
    }
    names
}

/// `<app>-postgres` / `-redis` / `-mongodb` for a managed database: its port from its clients
/// only (no rule at all, so nothing gets in, when no enabled service uses it).
pub fn build_database_policy(platform: &Platform, database: Component) -> NetworkPolicy {
    let clients = database_clients(platform, database);
    let rules = if clients.is_empty() {
        Vec::new()
    } else {
        vec![NetworkPolicyIngressRule { from: Some(vec![pods_named(platform, clients)]), ports: Some(vec![tcp(database.port())]) }]
    };
    policy(platform, platform.object_name(database.name()), database, select(platform.selector(database)), rules)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    fn allowed_names(policy: &NetworkPolicy) -> Vec<String> {
        let rule = &policy.spec.as_ref().unwrap().ingress.as_ref().unwrap()[0];
        let selector = rule.from.as_ref().unwrap()[0].pod_selector.as_ref().unwrap();
        assert_eq!(selector.match_labels.as_ref().unwrap()["app.kubernetes.io/instance"], "demo");
        selector.match_expressions.as_ref().unwrap()[0].values.clone().unwrap()
    }

    #[test]
    fn default_deny_selects_every_pod_of_the_app_and_allows_nothing() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let spec = build_default_deny(&p).spec.unwrap();
        let labels = spec.pod_selector.unwrap().match_labels.unwrap();
        assert_eq!(labels.len(), 2);
        assert!(p.labels(Component::Chat).iter().filter(|(k, _)| labels.contains_key(*k)).all(|(k, v)| labels[k] == *v));
        assert_eq!(spec.policy_types, Some(vec!["Ingress".to_owned()]));
        assert_eq!(spec.ingress, None);
    }

    #[test]
    fn the_gateway_is_open_and_services_only_to_their_callers() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let gateway = build_gateway_policy(&p).spec.unwrap();
        assert_eq!(gateway.pod_selector, Some(select(p.selector(Component::Gateway))));
        let open = &gateway.ingress.as_ref().unwrap()[0];
        assert_eq!((open.from.clone(), open.ports.clone()), (None, Some(vec![tcp(8080)])));

        let user_couple = build_service_policy(&p, Component::UserCouple);
        assert_eq!(user_couple.metadata.name.as_deref(), Some("demo-user-couple"));
        assert_eq!(user_couple.spec.as_ref().unwrap().pod_selector, Some(select(p.selector(Component::UserCouple))));
        assert_eq!(allowed_names(&user_couple), ["gateway", "schedule-meeting", "chat"], "the API, couples' members, nicknames");
        assert_eq!(allowed_names(&build_service_policy(&p, Component::Chat)), ["gateway", "user-couple"]);
        assert_eq!(allowed_names(&build_service_policy(&p, Component::ScheduleMeeting)), ["gateway", "user-couple"]);
        assert_eq!(
            allowed_names(&build_service_policy(&p, Component::QuestionAnswer)),
            ["gateway", "user-couple", "schedule-meeting"],
            "schedule-meeting reads trait vectors"
        );
        let rule = &user_couple.spec.as_ref().unwrap().ingress.as_ref().unwrap()[0];
        assert_eq!(rule.ports, Some(vec![tcp(8081)]));
    }

    #[test]
    fn databases_admit_their_services_and_jobs_only() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        assert_eq!(
            allowed_names(&build_database_policy(&p, Component::Postgres)),
            [
                "user-couple",
                "question-answer",
                "schedule-meeting",
                "provision",
                "user-couple-migrate",
                "question-answer-migrate",
                "schedule-meeting-migrate"
            ]
        );
        assert_eq!(allowed_names(&build_database_policy(&p, Component::Redis)), ["gateway", "user-couple"]);
        assert_eq!(allowed_names(&build_database_policy(&p, Component::Mongodb)), ["question-answer", "question-answer-migrate"]);

        let app = fixtures::app(serde_json::json!({
            "image": {"repository": "couple-platform", "tag": "0.1.0"},
            "services": {"questionAnswer": {"enabled": false}},
            "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}, "mongodb": {"managed": {}}}
        }));
        let p = Platform::new(&app).unwrap();
        assert_eq!(build_database_policy(&p, Component::Mongodb).spec.unwrap().ingress, None, "unused: closed");
    }

    #[test]
    fn a_caller_that_is_disabled_is_not_admitted() {
        let app = fixtures::with_services(serde_json::json!({"scheduleMeeting": {"enabled": false}}));
        let p = Platform::new(&app).unwrap();
        assert_eq!(callers(&p, Component::UserCouple), [Component::Gateway, Component::Chat]);
        assert_eq!(callers(&p, Component::Postgres), [], "databases are not in the registry's calls");
        assert_eq!(callers(&p, Component::Chat), [Component::Gateway, Component::UserCouple]);
        let app = fixtures::with_services(serde_json::json!({"userCouple": {"enabled": false}}));
        let p = Platform::new(&app).unwrap();
        assert_eq!(callers(&p, Component::Chat), [Component::Gateway], "no user-couple, no erasure calls to admit");
        let app = fixtures::with_services(serde_json::json!({"scheduleMeeting": {"enabled": false}, "chat": {"enabled": false}}));
        assert_eq!(callers(&Platform::new(&app).unwrap(), Component::UserCouple), [Component::Gateway]);
    }
}
