//! PersistentVolumeClaims: the StatefulSet controller creates them from the claim templates
//! (`<template>-<statefulset>-<ordinal>`) without owner references, so they would outlive the
//! CoupleApp. The operator adds a (non-controller) owner reference to each, and deleting the
//! CoupleApp then deletes them, leaving their volumes to the StorageClass's reclaim policy. The
//! StatefulSet's own `persistentVolumeClaimRetentionPolicy` would do the same, but only from
//! Kubernetes 1.27 on, and it ties the data to the StatefulSet, which `kubectl delete` removes
//! far more casually than the CoupleApp.

use k8s_openapi::{
    api::{apps::v1::StatefulSet, core::v1::PersistentVolumeClaim},
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::ResourceExt;

use super::Platform;

/// The owner reference a claim gets: the CoupleApp's, but not as its controller (the claim's
/// fields belong to the StatefulSet controller).
pub fn claim_owner(platform: &Platform) -> OwnerReference {
    OwnerReference { controller: Some(false), ..platform.owner.clone() }
}

/// A strategic merge patch adding [`claim_owner`] to a claim's owner references (merged by uid,
/// so references others set stay; unlike an apply, it cannot create a claim that vanished).
pub fn owner_patch(platform: &Platform) -> serde_json::Value {
    serde_json::json!({"metadata": {"ownerReferences": [claim_owner(platform)]}})
}

/// Whether `claim` was made from a claim template of `set`: `<template>-<set>-<ordinal>`.
fn made_for(claim: &str, set: &StatefulSet) -> bool {
    let set_name = set.name_any();
    let templates = set.spec.volume_claim_templates.iter().flatten();
    templates.filter_map(|t| t.metadata.name.as_deref()).any(|template| {
        claim
            .strip_prefix(template)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_prefix(set_name.as_str()))
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|ordinal| !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The names of the `claims` of the desired `sets` that lack the CoupleApp's owner reference.
pub fn claims_to_adopt<'a>(
    platform: &Platform,
    sets: impl IntoIterator<Item = &'a StatefulSet> + Clone,
    claims: impl IntoIterator<Item = &'a PersistentVolumeClaim>,
) -> Vec<String> {
    claims
        .into_iter()
        .filter(|claim| !claim.owner_references().iter().any(|r| r.uid == platform.uid()))
        .map(ResourceExt::name_any)
        .filter(|name| sets.clone().into_iter().any(|set| made_for(name, set)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::{
        desired::{Inputs, desired},
        fixtures,
        secret::Entropy,
    };
    use rand::{SeedableRng, rngs::StdRng};

    fn claim(name: &str, owner_uid: Option<&str>) -> PersistentVolumeClaim {
        let owners = owner_uid.map(|uid| serde_json::json!([{"apiVersion": "v1", "kind": "X", "name": "x", "uid": uid}]));
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "ownerReferences": owners}})).unwrap()
    }

    #[test]
    fn claims_of_the_statefulsets_without_the_owner_are_adopted_once() {
        let app = fixtures::managed();
        let platform = Platform::new(&app).unwrap();
        let d = desired(&platform, &Inputs::new(Entropy::from_rng(&mut StdRng::seed_from_u64(1))));
        let sets: Vec<&StatefulSet> = d.databases.stateful_sets.iter().chain(&d.services.stateful_sets).collect();
        let claims = [
            claim("data-demo-postgres-0", None),
            claim("data-demo-chat-0", Some("someone-else")),
            claim("data-demo-redis-0", Some(platform.uid())),
            claim("data-demo-postgres-extra", None),
            claim("data-demo-postgres-", None),
            claim("other-demo-mongodb-0", None),
            claim("data-demo-gateway-0", None),
        ];
        assert_eq!(claims_to_adopt(&platform, sets.iter().copied(), &claims), ["data-demo-postgres-0", "data-demo-chat-0"]);
    }

    #[test]
    fn the_patch_adds_a_non_controller_reference_to_the_coupleapp() {
        let app = fixtures::managed();
        let platform = Platform::new(&app).unwrap();
        let patch = owner_patch(&platform);
        let reference = &patch["metadata"]["ownerReferences"][0];
        assert_eq!(reference["kind"], "CoupleApp");
        assert_eq!(reference["uid"], platform.uid());
        assert_eq!(reference["controller"], false);
    }
}
