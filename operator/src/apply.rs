//! The apply step: server-side apply with one field manager, but only for objects that drifted
//! from what the builders want, so a reconcile with nothing to change sends no write at all.
//! The stages write through [`Writes`], so their order and gates are tested without a cluster.

use std::{
    fmt::Debug,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PropagationPolicy},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    builders::MANAGER,
    drift::{comparable, is_subset},
};

/// What applying one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The live object already matched.
    Unchanged,
    /// It was created or patched.
    Applied,
}

/// Applies objects in one namespace and counts the writes it sends.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    namespace: String,
    writes: Arc<AtomicU64>,
}

/// Bounds every namespaced Kubernetes kind the builders produce satisfies.
pub trait Kind:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned + Send + Sync
{
}

impl<K> Kind for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned + Send + Sync
{
}

/// The writes the apply stages send: [`Applier`] sends them to the API server, tests record them.
pub trait Writes: Sync {
    /// Makes the live object match `desired`, writing only when it drifted (see [`drifted`]).
    fn ensure<K: Kind>(&self, desired: &K, live: Option<&K>) -> impl Future<Output = Result<Outcome, kube::Error>> + Send;

    /// Creates `desired` only when no object of that name exists; for values generated once
    /// (secrets) that must never be overwritten.
    fn create_if_absent<K: Kind>(&self, desired: &K, live: Option<&K>) -> impl Future<Output = Result<Outcome, kube::Error>> + Send;

    /// Deletes an object no longer wanted (its dependents go with it, in the background).
    fn delete<K: Kind>(&self, name: &str) -> impl Future<Output = Result<(), kube::Error>> + Send;
}

/// The body to apply when the live object does not already hold every field of `desired`;
/// `None` when it does. Pure.
pub fn drifted<K: Kind>(desired: &K, live: Option<&K>) -> Result<Option<serde_json::Value>, kube::Error> {
    let want = serde_json::to_value(desired).map_err(kube::Error::SerdeError)?;
    if let Some(live) = live {
        let have = comparable(serde_json::to_value(live).map_err(kube::Error::SerdeError)?);
        if is_subset(&want, &have) {
            return Ok(None);
        }
    }
    Ok(Some(want))
}

impl Applier {
    /// An applier for `namespace`, adding to the shared `writes` counter.
    pub fn new(client: Client, namespace: &str, writes: Arc<AtomicU64>) -> Self {
        Self { client, namespace: namespace.to_owned(), writes }
    }

    fn api<K: Kind>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The objects of kind `K` this operator manages for the CoupleApp `instance`.
    pub async fn list_managed<K: Kind>(&self, instance: &str) -> Result<Vec<K>, kube::Error> {
        let selector = format!("app.kubernetes.io/instance={instance},app.kubernetes.io/managed-by={MANAGER}");
        Ok(self.api::<K>().list(&ListParams::default().labels(&selector)).await?.items)
    }

    /// Merges `patch` (a strategic merge patch) into the object `name`; a vanished object is
    /// left alone rather than created.
    pub async fn merge<K: Kind>(&self, name: &str, patch: &serde_json::Value) -> Result<(), kube::Error> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        match self.api::<K>().patch(name, &PatchParams::default(), &Patch::Strategic(patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Writes for Applier {
    // A forced server-side apply also takes back fields someone else changed.
    async fn ensure<K: Kind>(&self, desired: &K, live: Option<&K>) -> Result<Outcome, kube::Error> {
        let Some(want) = drifted(desired, live)? else { return Ok(Outcome::Unchanged) };
        let name = desired.name_any();
        let params = PatchParams::apply(MANAGER).force();
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.api::<K>().patch(&name, &params, &Patch::Apply(&want)).await?;
        tracing::debug!(kind = K::kind(&()).as_ref(), %name, "applied");
        Ok(Outcome::Applied)
    }

    async fn create_if_absent<K: Kind>(&self, desired: &K, live: Option<&K>) -> Result<Outcome, kube::Error> {
        if live.is_some() {
            return Ok(Outcome::Unchanged);
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        match self.api::<K>().create(&Default::default(), desired).await {
            Ok(_) => Ok(Outcome::Applied),
            // Someone (another reconcile) created it meanwhile: keep theirs.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Outcome::Unchanged),
            Err(e) => Err(e),
        }
    }

    async fn delete<K: Kind>(&self, name: &str) -> Result<(), kube::Error> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
        match self.api::<K>().delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }
}
