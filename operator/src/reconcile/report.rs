//! The status step: what goes into `status` besides the gates (endpoint, components), and the
//! write itself, with its own field manager and only when something changed.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
    core::DeserializeGuard,
};

use super::workload::Workload;
use crate::crd::{ComponentStatus, CoupleApp, CoupleAppSpec, CoupleAppStatus};

/// The field manager of status writes, distinct from the one applying children.
pub const STATUS_MANAGER: &str = "couple-operator-status";

/// The URL clients use: the Ingress host when an Ingress is enabled (https with TLS), else the
/// gateway Service inside the cluster.
pub fn endpoint(name: &str, namespace: &str, spec: &CoupleAppSpec) -> String {
    match spec.gateway.ingress.as_ref().filter(|i| i.enabled) {
        Some(ingress) => {
            let scheme = if ingress.tls_secret_name.is_some() { "https" } else { "http" };
            format!("{scheme}://{}", ingress.host)
        }
        None => format!("http://{name}-gateway.{namespace}.svc:{}", spec.gateway.service.port),
    }
}

/// Gives every condition a message: the CRD's Condition schema requires a string, and an empty
/// one is sent as null by server-side apply. Applied after [`crate::status::compute`], so a
/// recomputed status still compares equal to the one written. Pure.
pub fn with_messages(mut status: CoupleAppStatus) -> CoupleAppStatus {
    for condition in &mut status.conditions {
        if condition.message.is_empty() {
            condition.message = match condition.type_.as_str() {
                crate::status::DATABASES_READY => "the databases answer and are provisioned",
                crate::status::MIGRATIONS_SUCCEEDED => "every service's migrations succeeded",
                crate::status::SERVICES_AVAILABLE => "every service has its replicas available",
                crate::status::ROUTING_READY => "the gateway and its routes are in place",
                _ => "no details",
            }
            .to_owned();
        }
    }
    status
}

/// The `app.kubernetes.io/component` label of a workload (its component name).
pub fn component_name(metadata: &ObjectMeta) -> String {
    metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/component"))
        .cloned()
        .or_else(|| metadata.name.clone())
        .unwrap_or_default()
}

/// A desired workload's entry in `status.components`: the replicas and image asked for, the
/// ready replicas of the live one.
pub fn component<K: Workload>(desired: &K, live: Option<&K>) -> (String, ComponentStatus) {
    let image = desired.template().spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone()).unwrap_or_default();
    (component_name(desired.meta()), ComponentStatus { replicas: desired.replicas(), ready_replicas: K::ready_replicas(live), image })
}

/// Writes `status` with server-side apply under [`STATUS_MANAGER`] when it differs from
/// `current`; returns whether it wrote. Every write is counted in `writes`.
pub async fn write_status(
    client: &Client,
    namespace: &str,
    name: &str,
    current: Option<&CoupleAppStatus>,
    status: &CoupleAppStatus,
    writes: &Arc<AtomicU64>,
) -> Result<bool, kube::Error> {
    if current == Some(status) {
        return Ok(false);
    }
    let body = serde_json::json!({"apiVersion": "couple.dev/v1alpha1", "kind": "CoupleApp", "status": status});
    patch_status_json(client, namespace, name, &body, writes).await?;
    Ok(true)
}

/// Server-side applies a raw status body (also used for CoupleApps that failed to parse).
pub async fn patch_status_json(
    client: &Client,
    namespace: &str,
    name: &str,
    body: &serde_json::Value,
    writes: &Arc<AtomicU64>,
) -> Result<(), kube::Error> {
    // The guard type: the answer is the whole object, which need not parse.
    let api: Api<DeserializeGuard<CoupleApp>> = Api::namespaced(client.clone(), namespace);
    writes.fetch_add(1, Ordering::Relaxed);
    api.patch_status(name, &PatchParams::apply(STATUS_MANAGER).force(), &Patch::Apply(body)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, StatefulSet};

    use super::*;
    use crate::{
        builders::{Component, Platform, deployment::build_service_deployment, fixtures, pod::ConfigSources, statefulset},
        crd::IngressSpec,
        status::{Observed, Progress, compute},
    };

    #[test]
    fn every_condition_gets_a_message_and_filling_is_stable() {
        let observed = Observed { generation: Some(1), invalid: vec![], progress: Progress::done(), endpoint: None, notes: vec![] };
        let time = |s| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap());
        let first = with_messages(compute(None, &observed, time(1)));
        assert!(first.conditions.iter().all(|c| !c.message.is_empty()), "{:?}", first.conditions);
        let again = with_messages(compute(Some(&first), &observed, time(2)));
        assert_eq!(first, again);
    }

    #[test]
    fn the_endpoint_is_the_gateway_service_without_an_ingress() {
        let mut s = fixtures::external().spec;
        assert_eq!(endpoint("demo", "couple", &s), "http://demo-gateway.couple.svc:80");
        s.gateway.service.port = 8080;
        s.gateway.ingress =
            Some(IngressSpec { enabled: false, class_name: None, host: "couple.example.com".into(), tls_secret_name: None });
        assert_eq!(endpoint("demo", "couple", &s), "http://demo-gateway.couple.svc:8080", "a disabled Ingress does not count");
    }

    #[test]
    fn the_endpoint_is_the_ingress_host_with_https_when_tls_is_set() {
        let mut s = fixtures::managed().spec;
        assert_eq!(endpoint("demo", "couple", &s), "https://couple.example.com");
        s.gateway.ingress.as_mut().unwrap().tls_secret_name = None;
        assert_eq!(endpoint("demo", "couple", &s), "http://couple.example.com");
    }

    #[test]
    fn components_take_replicas_and_image_from_the_desired_workload_and_readiness_from_the_live_one() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let desired: Deployment = build_service_deployment(&p, Component::UserCouple, "couple-platform:0.0.9", &ConfigSources::default());
        let mut live = desired.clone();
        live.status = Some(DeploymentStatus { ready_replicas: Some(2), ..Default::default() });
        let (name, component) = super::component(&desired, Some(&live));
        assert_eq!(name, "user-couple");
        assert_eq!(component, ComponentStatus { replicas: 1, ready_replicas: 2, image: "couple-platform:0.0.9".into() });
        assert_eq!(super::component(&desired, None).1.ready_replicas, 0);

        let set: StatefulSet = statefulset::build_postgres_statefulset(&p, &ConfigSources::default());
        let (name, component) = super::component(&set, None);
        assert_eq!((name.as_str(), component.replicas, component.image.as_str()), ("postgres", 1, "postgres:16"));
    }
}
