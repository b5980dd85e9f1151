//! The read step: everything the later steps need from the cluster, fetched once per reconcile.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    batch::v1::Job,
    core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
};
use kube::{Api, Resource, ResourceExt, api::ListParams};

use crate::{
    apply::{Applier, Kind},
    builders::{Component, Platform, desired::Inputs, secret::SecretData},
};

/// Live objects of one kind by name.
pub type ByName<K> = BTreeMap<String, K>;

/// The managed children of one CoupleApp, as listed at the start of the reconcile.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Managed Secrets (for orphan deletion; the ones to apply are in [`Snapshot::secrets`]).
    pub secrets: ByName<Secret>,
    /// Route ConfigMaps.
    pub config_maps: ByName<ConfigMap>,
    /// Services.
    pub services: ByName<Service>,
    /// Deployments.
    pub deployments: ByName<Deployment>,
    /// StatefulSets.
    pub stateful_sets: ByName<StatefulSet>,
    /// Jobs.
    pub jobs: ByName<Job>,
    /// Ingresses.
    pub ingresses: ByName<Ingress>,
    /// NetworkPolicies.
    pub network_policies: ByName<NetworkPolicy>,
    /// PodDisruptionBudgets (listed only when `policy/v1` is served).
    pub pod_disruption_budgets: ByName<PodDisruptionBudget>,
    /// The claims the StatefulSet controller made for this instance (they carry the claim
    /// templates' labels, `app.kubernetes.io/{name,instance}`, not `managed-by`).
    pub claims: ByName<PersistentVolumeClaim>,
}

/// A kind the read step lists, and where [`Live`] keeps it.
pub trait Listed: Kind {
    /// The live objects of this kind.
    fn listed(live: &Live) -> &ByName<Self>;
}

macro_rules! listed {
    ($($kind:ty => $field:ident),* $(,)?) => {
        $(impl Listed for $kind {
            fn listed(live: &Live) -> &ByName<Self> {
                &live.$field
            }
        })*
    };
}

listed!(
    Secret => secrets,
    ConfigMap => config_maps,
    Service => services,
    Deployment => deployments,
    StatefulSet => stateful_sets,
    Job => jobs,
    Ingress => ingresses,
    NetworkPolicy => network_policies,
    PodDisruptionBudget => pod_disruption_budgets,
);

fn names_owned_by<K: Resource<DynamicType = ()>>(out: &mut BTreeMap<String, BTreeSet<String>>, objects: &ByName<K>, uid: &str) {
    let owned = objects.iter().filter(|(_, o)| o.owner_references().iter().any(|r| r.uid == uid && r.controller == Some(true)));
    let names: BTreeSet<String> = owned.map(|(name, _)| name.clone()).collect();
    if !names.is_empty() {
        out.entry(K::kind(&()).into_owned()).or_default().extend(names);
    }
}

impl Live {
    /// The live object with the name of `desired`, when listed.
    pub fn found<K: Listed>(&self, desired: &K) -> Option<&K> {
        K::listed(self).get(&desired.name_any())
    }

    /// Names by kind of the live objects whose controller is the CoupleApp with `uid`; objects
    /// merely carrying the labels are never touched.
    pub fn owned_names(&self, uid: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out = BTreeMap::new();
        names_owned_by(&mut out, &self.secrets, uid);
        names_owned_by(&mut out, &self.config_maps, uid);
        names_owned_by(&mut out, &self.services, uid);
        names_owned_by(&mut out, &self.deployments, uid);
        names_owned_by(&mut out, &self.stateful_sets, uid);
        names_owned_by(&mut out, &self.jobs, uid);
        names_owned_by(&mut out, &self.ingresses, uid);
        names_owned_by(&mut out, &self.network_policies, uid);
        names_owned_by(&mut out, &self.pod_disruption_budgets, uid);
        out
    }

    /// Per service, the image its live Deployment runs (see [`Inputs::running_images`]).
    pub fn running_images(&self, platform: &Platform) -> BTreeMap<String, String> {
        Component::SERVICES
            .into_iter()
            .filter_map(|service| {
                let deployment = self.deployments.get(&platform.object_name(service.name()))?;
                let pod = deployment.spec.template.spec.as_ref()?;
                let image = pod.containers.first()?.image.clone()?;
                Some((service.name().to_owned(), image))
            })
            .collect()
    }
}

/// What the read step found.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The Secrets of [`secrets_to_read`](crate::builders::desired::secrets_to_read) that exist.
    pub secrets: ByName<Secret>,
    /// Whether the cluster serves `policy/v1` PodDisruptionBudgets.
    pub policy_v1: bool,
    /// The managed children.
    pub live: Live,
}

impl Snapshot {
    /// The builders' inputs: Secret data, discovery, recorded migrations, running images.
    pub fn inputs(&self, platform: &Platform, entropy: crate::builders::secret::Entropy) -> Inputs {
        let mut inputs = Inputs::new(entropy);
        inputs.secrets = self
            .secrets
            .iter()
            .map(|(name, secret)| (name.clone(), secret.data.clone().unwrap_or_default()))
            .collect::<BTreeMap<String, SecretData>>();
        inputs.policy_v1 = self.policy_v1;
        inputs.migrations = platform.app.status.as_ref().map(|s| s.migrations.clone()).unwrap_or_default();
        inputs.running_images = self.live.running_images(platform);
        inputs
    }
}

async fn list<K: Kind>(applier: &Applier, instance: &str) -> Result<ByName<K>, kube::Error> {
    Ok(applier.list_managed::<K>(instance).await?.into_iter().map(|o| (o.name_any(), o)).collect())
}

/// Reads the Secrets in `to_read` (absent ones are left out; any other error fails the
/// reconcile, so an unreadable Secret is never mistaken for an absent one and regenerated) and
/// lists the managed children of `instance`.
pub async fn read(
    client: &kube::Client,
    applier: &Applier,
    namespace: &str,
    instance: &str,
    to_read: &BTreeSet<String>,
    policy_v1: bool,
) -> Result<Snapshot, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut secrets = BTreeMap::new();
    for name in to_read {
        if let Some(secret) = api.get_opt(name).await? {
            secrets.insert(name.clone(), secret);
        }
    }
    let live = Live {
        secrets: list(applier, instance).await?,
        config_maps: list(applier, instance).await?,
        services: list(applier, instance).await?,
        deployments: list(applier, instance).await?,
        stateful_sets: list(applier, instance).await?,
        jobs: list(applier, instance).await?,
        ingresses: list(applier, instance).await?,
        network_policies: list(applier, instance).await?,
        pod_disruption_budgets: if policy_v1 { list(applier, instance).await? } else { BTreeMap::new() },
        claims: Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace)
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={instance}")))
            .await?
            .into_iter()
            .map(|c| (c.name_any(), c))
            .collect(),
    };
    Ok(Snapshot { secrets, policy_v1, live })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owned<K: serde::de::DeserializeOwned>(name: &str, uid: &str, extra: serde_json::Value) -> K {
        let mut object = json!({"metadata": {"name": name, "ownerReferences": [
            {"apiVersion": "couple.dev/v1alpha1", "kind": "CoupleApp", "name": "demo", "uid": uid, "controller": true}]}});
        if let (Some(o), Some(e)) = (object.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::from_value(object).unwrap()
    }

    #[test]
    fn only_objects_controlled_by_this_coupleapp_count_as_its_own() {
        let mut live = Live::default();
        live.ingresses.insert("demo-gateway".into(), owned("demo-gateway", "uid-1", json!({})));
        live.ingresses.insert("other".into(), owned("other", "uid-2", json!({})));
        live.secrets.insert("demo-jwt".into(), owned("demo-jwt", "uid-1", json!({})));
        let names = live.owned_names("uid-1");
        assert_eq!(names["Ingress"], BTreeSet::from(["demo-gateway".to_owned()]));
        assert_eq!(names["Secret"], BTreeSet::from(["demo-jwt".to_owned()]));
        assert!(!names.contains_key("Deployment"));
    }

    #[test]
    fn running_images_come_from_the_service_deployments() {
        let app = crate::builders::fixtures::managed();
        let platform = Platform::new(&app).unwrap();
        let mut live = Live::default();
        let spec = |image: &str| json!({"spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
        live.deployments.insert("demo-user-couple".into(), owned("demo-user-couple", "u", spec("couple-platform:0.1.0")));
        live.deployments.insert("demo-gateway".into(), owned("demo-gateway", "u", spec("couple-platform:0.2.0")));
        assert_eq!(live.running_images(&platform), BTreeMap::from([("user-couple".to_owned(), "couple-platform:0.1.0".to_owned())]));
    }
}
