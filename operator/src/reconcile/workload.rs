//! What the apply and status steps read alike from a Deployment or a StatefulSet.

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::PodTemplateSpec,
};

use super::{gates, read::Listed};

/// A workload kind: its wanted replicas and pod template, and what its live status says.
pub trait Workload: Listed {
    /// Replicas asked for (Kubernetes' default is one).
    fn replicas(&self) -> i32;
    /// The pod template.
    fn template(&self) -> &PodTemplateSpec;
    /// Ready replicas of the live one (none when absent).
    fn ready_replicas(live: Option<&Self>) -> i32;
    /// Whether the live one has every wanted replica available for its current spec.
    fn available(live: Option<&Self>) -> bool;
}

macro_rules! workload {
    ($($kind:ty: $ready_replicas:path, $available:path;)*) => {
        $(impl Workload for $kind {
            fn replicas(&self) -> i32 {
                self.spec.replicas.unwrap_or(1)
            }

            fn template(&self) -> &PodTemplateSpec {
                &self.spec.template
            }

            fn ready_replicas(live: Option<&Self>) -> i32 {
                $ready_replicas(live)
            }

            fn available(live: Option<&Self>) -> bool {
                $available(live)
            }
        })*
    };
}

workload! {
    Deployment: gates::ready_replicas_of_deployment, gates::deployment_available;
    StatefulSet: gates::ready_replicas_of_stateful_set, gates::stateful_set_available;
}
