//! PodDisruptionBudgets (`policy/v1`) for workloads running more than one replica: a node drain
//! takes at most one pod of each at a time. A single replica gets none, since a budget on it would
//! block drains forever. Whether the cluster serves `policy/v1` is decided by the caller.

use k8s_openapi::{
    api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};

use super::{Component, Platform};

/// `<app>-<component>` with `maxUnavailable: 1`, or `None` for one replica or fewer.
pub fn build_pdb(platform: &Platform, component: Component) -> Option<PodDisruptionBudget> {
    if platform.replicas(component) <= 1 {
        return None;
    }
    Some(PodDisruptionBudget {
        metadata: platform.meta(platform.object_name(component.name()), component),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector { match_labels: Some(platform.selector(component)), match_expressions: None }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn only_workloads_with_several_replicas_get_a_budget() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let pdb = build_pdb(&p, Component::Gateway).unwrap();
        assert_eq!(pdb.metadata.name.as_deref(), Some("demo-gateway"));
        let spec = pdb.spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(spec.selector.unwrap().match_labels, Some(p.selector(Component::Gateway)));
        assert!(build_pdb(&p, Component::UserCouple).is_none(), "one replica");
    }
}
