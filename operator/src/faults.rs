//! What keeps the operator from working, in words a cluster operator can act on, and the backoff
//! it retries with. Pure: the supervisor and the controller's watch report these through
//! [`Health`](crate::health::Health), which logs them and shows them on `/readyz`.

use std::time::Duration;

use kube::runtime::{utils::Backoff, watcher};
use rand::Rng;

use crate::controller::backoff;

/// The CRD's name, as `kubectl get crd` shows it.
pub const CRD_NAME: &str = "coupleapps.couple.dev";

/// What a request was for: a 404 means something different for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Listing or watching CoupleApps: a 404 means the CRD is not installed.
    CoupleApps,
    /// Getting or creating the leader Lease in this namespace: a 404 means the namespace is missing.
    Lease(&'a str),
    /// Anything else (discovery, children).
    Other(&'a str),
}

/// Describes why a request for `target` failed.
pub fn describe(err: &kube::Error, target: Target<'_>) -> String {
    match err {
        kube::Error::Api(status) => match (status.code, target) {
            (404, Target::CoupleApps) => format!(
                "the CoupleApp CRD ({CRD_NAME}) is not installed; waiting for it \
                 (it comes with the chart unless installed with --skip-crds, or: couple-operator crd | kubectl apply -f -)"
            ),
            (404, Target::Lease(namespace)) => {
                format!("the namespace {namespace:?} of the leader Lease (POD_NAMESPACE) does not exist; waiting for it")
            }
            (401, _) => format!("the API server rejects the operator's credentials (401): {}", status.message),
            (403, _) => {
                format!("forbidden: {}; waiting for the operator's RBAC to be bound (the chart's ClusterRole and Role)", status.message)
            }
            (429, _) => format!("the API server is throttling requests (429): {}", status.message),
            (code, _) if code >= 500 => format!("the API server answered {code}: {}", status.message),
            (code, target) => format!("{} failed ({code}): {}", target.what(), status.message),
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            format!("the API server is unreachable: {err}")
        }
        other => format!("{} failed: {other}", target.what()),
    }
}

/// Describes a failed watch of CoupleApps.
pub fn describe_watch(err: &watcher::Error) -> String {
    match err {
        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            describe(e, Target::CoupleApps)
        }
        watcher::Error::WatchError(status) => describe(&kube::Error::Api(status.clone()), Target::CoupleApps),
        watcher::Error::NoResourceVersion => format!("the watch of CoupleApps failed: {err}"),
    }
}

impl Target<'_> {
    fn what(&self) -> String {
        match self {
            Target::CoupleApps => "listing CoupleApps".to_owned(),
            Target::Lease(namespace) => format!("taking part in the leader election in {namespace:?}"),
            Target::Other(what) => (*what).to_owned(),
        }
    }
}

/// Exponential backoff with jitter (see [`backoff`]), as a kube-runtime [`Backoff`] for the
/// controller's watches: kube's default waits up to 30 s, this one [`WATCH_BACKOFF_CAP`], so a CRD
/// installed after the operator is picked up within seconds. A failing watch is one list request
/// per few seconds, which the API server does not notice.
#[derive(Debug, Default)]
pub struct WatchBackoff {
    failures: u32,
}

/// First retry of a failed watch.
pub const WATCH_BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest wait between retries of a failed watch.
pub const WATCH_BACKOFF_CAP: Duration = Duration::from_secs(5);

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        Some(backoff(self.failures, rand::thread_rng().r#gen::<f64>(), WATCH_BACKOFF_BASE, WATCH_BACKOFF_CAP))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Consecutive failures of one kind (joining the election, the controller), and the delay before
/// the next attempt. A controller that ran for [`Retries::healthy_after`] starts counting afresh,
/// so one crash a day never waits the cap.
#[derive(Debug)]
pub struct Retries {
    failures: u32,
    base: Duration,
    cap: Duration,
    healthy_after: Duration,
}

impl Retries {
    /// Retries from `base`, doubling up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self { failures: 0, base, cap, healthy_after: Duration::from_secs(120) }
    }

    /// The delay after a failure of an attempt that lasted `ran_for`; `jitter` in `[0, 1]`.
    pub fn after_failure(&mut self, ran_for: Duration, jitter: f64) -> Duration {
        if ran_for >= self.healthy_after {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        backoff(self.failures, jitter, self.base, self.cap)
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// An attempt succeeded.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn api(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, "").with_code(code).boxed())
    }

    #[test]
    fn a_404_names_what_is_missing() {
        let crd = describe(&api(404, "the server could not find the requested resource"), Target::CoupleApps);
        assert!(crd.contains("CRD (coupleapps.couple.dev) is not installed"), "{crd}");
        let lease = describe(&api(404, "namespaces \"ops\" not found"), Target::Lease("ops"));
        assert!(lease.contains("namespace \"ops\" of the leader Lease"), "{lease}");
        let other = describe(&api(404, "nope"), Target::Other("discovery of policy/v1"));
        assert_eq!(other, "discovery of policy/v1 failed (404): nope");
    }

    #[test]
    fn forbidden_unauthorized_throttled_and_server_errors_say_so() {
        let forbidden = describe(&api(403, "leases.coordination.k8s.io is forbidden"), Target::Lease("ops"));
        assert!(
            forbidden.starts_with("forbidden: leases.coordination.k8s.io is forbidden; waiting for the operator's RBAC"),
            "{forbidden}"
        );
        assert!(describe(&api(401, "Unauthorized"), Target::CoupleApps).contains("credentials (401)"));
        assert!(describe(&api(429, "slow down"), Target::CoupleApps).contains("throttling"));
        assert_eq!(describe(&api(503, "etcd leader changed"), Target::CoupleApps), "the API server answered 503: etcd leader changed");
    }

    #[test]
    fn a_refused_connection_is_unreachable() {
        let refused = kube::Error::Service(Box::new(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused")));
        assert!(describe(&refused, Target::Lease("ops")).starts_with("the API server is unreachable"));
    }

    #[test]
    fn watch_errors_are_described_as_coupleapp_requests() {
        let missing = watcher::Error::InitialListFailed(api(404, "not found"));
        assert!(describe_watch(&missing).contains("CRD"));
        let gone = watcher::Error::WatchError(Status::failure("too old", "Expired").with_code(500).boxed());
        assert!(describe_watch(&gone).contains("answered 500"));
    }

    #[test]
    fn the_watch_backoff_grows_to_its_cap_and_resets() {
        let mut b = WatchBackoff::default();
        let delays: Vec<_> = b.by_ref().take(8).collect();
        assert!(delays[0] <= WATCH_BACKOFF_BASE && delays[0] >= WATCH_BACKOFF_BASE / 2);
        assert!(delays.iter().all(|d| *d <= WATCH_BACKOFF_CAP));
        assert!(delays[7] >= WATCH_BACKOFF_CAP / 2, "{delays:?}");
        b.reset();
        assert!(b.next().unwrap() <= WATCH_BACKOFF_BASE);
    }

    #[test]
    fn retries_double_and_start_over_after_a_healthy_run() {
        let mut r = Retries::new(Duration::from_secs(1), Duration::from_secs(60));
        let short = Duration::from_secs(1);
        let delays: Vec<_> = (0..4).map(|_| r.after_failure(short, 1.0)).collect();
        assert_eq!(delays, [1, 2, 4, 8].map(Duration::from_secs));
        assert_eq!(r.failures(), 4);
        assert_eq!(r.after_failure(Duration::from_secs(600), 1.0), Duration::from_secs(1), "a long healthy run starts over");
        r.reset();
        assert_eq!(r.failures(), 0);
    }
}
