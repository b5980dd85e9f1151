//! Deployments: the gateway, and every service except chat on SQLite (a StatefulSet).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        core::v1::{ConfigMapVolumeSource, EnvVar, Volume},
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};

use super::{
    Component, Platform,
    configmap::ROUTES_KEY,
    pod::{
        ConfigSources, PLATFORM_UID, empty_dir, env, env_secret, mount, peer_env, platform_container, pod_spec, pod_template,
        service_container, serving, shared_env,
    },
    topology::METRICS_PORT,
};

/// Where the gateway's route ConfigMap is mounted.
pub const ROUTES_DIR: &str = "/etc/couple/gateway";

/// Rolling updates that never go below the desired count: one extra pod at a time, so even a
/// single replica is replaced without a gap.
fn rolling_update() -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".to_owned()),
        rolling_update: Some(RollingUpdateDeployment { max_unavailable: Some(IntOrString::Int(0)), max_surge: Some(IntOrString::Int(1)) }),
    }
}

fn deployment(platform: &Platform, component: Component, spec: k8s_openapi::api::core::v1::PodSpec, sources: &ConfigSources) -> Deployment {
    Deployment {
        metadata: platform.meta(platform.object_name(component.name()), component),
        spec: DeploymentSpec {
            replicas: Some(platform.replicas(component)),
            selector: LabelSelector { match_labels: Some(platform.selector(component)), match_expressions: None },
            strategy: Some(rolling_update()),
            template: pod_template(platform, component, spec, sources),
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

/// `<app>-<service>` running `image` (the new image only once its migration succeeded; the
/// caller decides).
pub fn build_service_deployment(platform: &Platform, service: Component, image: &str, sources: &ConfigSources) -> Deployment {
    let spec = pod_spec(PLATFORM_UID, vec![service_container(platform, service, image)], vec![empty_dir("tmp", "64Mi")]);
    deployment(platform, service, spec, sources)
}

/// The gateway's environment: shared settings, listen address, the mounted route table, the
/// upstream URLs of the enabled services (user-couple's also answers token-version lookups),
/// Redis, CORS origins, and trust in `X-Forwarded-For` only behind the Ingress.
pub fn gateway_env(platform: &Platform) -> Vec<EnvVar> {
    let gateway = &platform.app.spec.gateway;
    let mut vars = shared_env(platform);
    vars.push(env("GATEWAY_HOST", "0.0.0.0"));
    vars.push(env("GATEWAY_PORT", Component::Gateway.port().to_string()));
    vars.push(env("GATEWAY_ADMIN_PORT", METRICS_PORT.to_string()));
    vars.push(env("GATEWAY_ROUTES_FILE", format!("{ROUTES_DIR}/{ROUTES_KEY}")));
    vars.extend(peer_env(platform, Component::Gateway));
    if platform.uses(Component::Gateway, Component::Redis)
        && let Some(url) = platform.database_url_ref(Component::Redis)
    {
        vars.push(env_secret("GATEWAY_REDIS_URL", url));
    }
    if !gateway.allowed_origins.is_empty() {
        vars.push(env("GATEWAY_ALLOWED_ORIGINS", gateway.allowed_origins.join(",")));
    }
    if gateway.ingress.as_ref().is_some_and(|i| i.enabled) {
        vars.push(env("GATEWAY_TRUST_FORWARDED_FOR", "true"));
    }
    vars
}

/// `<app>-gateway`, with the route ConfigMap mounted read-only; the config hash covers the
/// routes, so changing them rolls the gateway (it reads the file at start-up).
pub fn build_gateway_deployment(platform: &Platform, sources: &ConfigSources) -> Deployment {
    let gateway = Component::Gateway;
    let mut container =
        serving(platform, gateway, platform_container(platform, gateway, &platform.image(), "serve", gateway_env(platform)));
    container
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(k8s_openapi::api::core::v1::VolumeMount { read_only: Some(true), ..mount("routes", ROUTES_DIR) });
    let routes = Volume {
        name: "routes".to_owned(),
        config_map: Some(ConfigMapVolumeSource { name: platform.object_name("gateway-routes"), ..ConfigMapVolumeSource::default() }),
        ..Volume::default()
    };
    let spec = pod_spec(PLATFORM_UID, vec![container], vec![empty_dir("tmp", "64Mi"), routes]);
    deployment(platform, gateway, spec, sources)
}

/// The selector labels of a workload's pods, for tests and callers that look pods up.
pub fn pod_labels(deployment: &Deployment) -> BTreeMap<String, String> {
    deployment.spec.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures, pod::tests::env_map};
    use super::*;

    #[test]
    fn a_service_deployment_selects_its_own_pods_and_rolls_without_a_gap() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let d = build_service_deployment(&p, Component::UserCouple, "couple-platform:0.1.0", &ConfigSources::default());
        assert_eq!(d.metadata.name.as_deref(), Some("demo-user-couple"));
        assert_eq!(d.metadata.owner_references.as_ref().unwrap()[0].uid, p.uid());
        let spec = &d.spec;
        let selector = spec.selector.match_labels.as_ref().unwrap();
        let labels = pod_labels(&d);
        assert!(selector.iter().all(|(k, v)| labels.get(k) == Some(v)));
        let rolling = spec.strategy.as_ref().unwrap().rolling_update.as_ref().unwrap();
        assert_eq!((rolling.max_unavailable.clone(), rolling.max_surge.clone()), (Some(IntOrString::Int(0)), Some(IntOrString::Int(1))));
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.security_context.as_ref().unwrap().run_as_user, Some(65532));
        let container = &pod.containers[0];
        let probes = (container.liveness_probe.as_ref().unwrap(), container.readiness_probe.as_ref().unwrap());
        assert_eq!(probes.0.http_get.as_ref().unwrap().path.as_deref(), Some("/healthz"));
        assert_eq!(probes.1.http_get.as_ref().unwrap().path.as_deref(), Some("/readyz"));
        let ports: Vec<_> = container.ports.iter().flatten().map(|p| (p.name.clone().unwrap(), p.container_port)).collect();
        assert_eq!(ports, [("http".to_owned(), 8081), ("metrics".to_owned(), 9090)]);
        assert!(container.resources.as_ref().unwrap().requests.is_some());
    }

    #[test]
    fn the_gateway_reads_its_routes_from_the_mounted_configmap_and_knows_its_upstreams() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let d = build_gateway_deployment(&p, &ConfigSources::default());
        let pod = d.spec.template.spec.as_ref().unwrap();
        let container = &pod.containers[0];
        assert_eq!(container.command.as_deref(), Some(&["gateway".to_owned(), "serve".to_owned()][..]));
        let env = env_map(container);
        assert_eq!(env["GATEWAY_ROUTES_FILE"], "/etc/couple/gateway/routes.json");
        assert_eq!(env["GATEWAY_USER_COUPLE_URL"], "http://demo-user-couple.couple.svc:8081");
        assert_eq!(env["GATEWAY_CHAT_URL"], "http://demo-chat.couple.svc:8000");
        for service in Component::SERVICES {
            let var = couple_registry::GATEWAY.peer_url_var(service.spec().unwrap());
            assert_eq!(env.get(&var), Some(&p.service_url(service)), "{var}");
        }
        assert_eq!(env["GATEWAY_REDIS_URL"], "secret:demo-redis/url");
        assert_eq!(env["GATEWAY_ALLOWED_ORIGINS"], "https://couple.example.com");
        assert_eq!(env["GATEWAY_TRUST_FORWARDED_FOR"], "true");
        assert_eq!(env["COUPLE_INTERNAL_TOKEN"], "secret:demo-internal/token");
        assert!(container.volume_mounts.iter().flatten().any(|m| m.mount_path == ROUTES_DIR && m.read_only == Some(true)));
        let volume = pod.volumes.iter().flatten().find(|v| v.name == "routes").unwrap();
        assert_eq!(volume.config_map.as_ref().unwrap().name, "demo-gateway-routes");
        assert_eq!(d.spec.replicas, Some(2));

        let app = fixtures::external();
        let env = env_map(
            &build_gateway_deployment(&Platform::new(&app).unwrap(), &ConfigSources::default()).spec.template.spec.unwrap().containers[0],
        );
        assert_eq!(env["GATEWAY_REDIS_URL"], "secret:redis-url/url");
        assert!(!env.contains_key("GATEWAY_ALLOWED_ORIGINS") && !env.contains_key("GATEWAY_TRUST_FORWARDED_FOR"));
    }
}
