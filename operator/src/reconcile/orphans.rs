//! The orphan step: children the spec no longer asks for (a removed Ingress, a disabled service,
//! a migration Job whose success is recorded) are deleted.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    batch::v1::Job,
    core::v1::{ConfigMap, Secret, Service},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
};

use crate::apply::Writes;

/// `(kind, name)` of every live object not among the desired ones, in a stable order. Pure.
pub fn select_orphans(live: &BTreeMap<String, BTreeSet<String>>, desired: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let empty = BTreeSet::new();
    live.iter()
        .flat_map(|(kind, names)| {
            let wanted = desired.get(kind).unwrap_or(&empty);
            names.difference(wanted).map(move |name| (kind.clone(), name.clone()))
        })
        .collect()
}

/// Deletes one orphan by kind name; kinds the operator does not manage are ignored.
pub async fn delete(applier: &impl Writes, kind: &str, name: &str) -> Result<(), kube::Error> {
    match kind {
        "Secret" => applier.delete::<Secret>(name).await,
        "ConfigMap" => applier.delete::<ConfigMap>(name).await,
        "Service" => applier.delete::<Service>(name).await,
        "Deployment" => applier.delete::<Deployment>(name).await,
        "StatefulSet" => applier.delete::<StatefulSet>(name).await,
        "Job" => applier.delete::<Job>(name).await,
        "Ingress" => applier.delete::<Ingress>(name).await,
        "NetworkPolicy" => applier.delete::<NetworkPolicy>(name).await,
        "PodDisruptionBudget" => applier.delete::<PodDisruptionBudget>(name).await,
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        pairs.iter().map(|(kind, names)| (kind.to_string(), names.iter().map(|n| n.to_string()).collect())).collect()
    }

    #[test]
    fn live_objects_missing_from_the_desired_ones_are_orphans() {
        let live = names(&[("Ingress", &["demo-gateway"]), ("Service", &["demo-gateway", "demo-chat"]), ("Job", &["demo-x-migrate-1"])]);
        let desired = names(&[("Service", &["demo-gateway", "demo-chat", "demo-user-couple"])]);
        assert_eq!(
            select_orphans(&live, &desired),
            [("Ingress".to_owned(), "demo-gateway".to_owned()), ("Job".to_owned(), "demo-x-migrate-1".to_owned())]
        );
    }

    #[test]
    fn nothing_is_an_orphan_when_everything_is_desired() {
        let live = names(&[("Secret", &["demo-jwt"]), ("Deployment", &["demo-gateway"])]);
        let desired = names(&[("Secret", &["demo-jwt", "demo-internal"]), ("Deployment", &["demo-gateway"])]);
        assert!(select_orphans(&live, &desired).is_empty());
    }
}
