//! Redis as the gateway uses it: optional, and never in the way of a request.
//!
//! Requests only use Redis while it is known to answer, and give it a short budget. After an error
//! or a timeout Redis is marked down and a background task pings it until it answers again;
//! meanwhile rate limits fall back to the process and token versions to the user-couple service.
//! Connecting to a dead Redis can take more than a second, which is why no request ever waits
//! for that: only the probe does. One warning per outage, one note on recovery.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use couple_common::kv::{Kv, KvError};

/// The most a request waits for Redis; it answers in well under a millisecond when healthy.
const REQUEST_BUDGET: Duration = Duration::from_millis(100);
/// Pause between probes while Redis is down.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// Bound on one probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The Redis the replicas share, with whether it is known to answer.
pub(crate) struct SharedRedis {
    kv: Arc<dyn Kv>,
    /// Known to answer; false until the first probe succeeds.
    healthy: AtomicBool,
    /// A probe task is running.
    probing: AtomicBool,
}

impl SharedRedis {
    pub fn new(kv: Arc<dyn Kv>) -> Arc<Self> {
        Arc::new(Self { kv, healthy: AtomicBool::new(false), probing: AtomicBool::new(false) })
    }

    /// The connection while Redis is known to answer; otherwise `None`, and a probe is under way.
    pub fn available(self: &Arc<Self>) -> Option<&dyn Kv> {
        if self.healthy.load(Ordering::Acquire) {
            return Some(&*self.kv);
        }
        self.probe(true);
        None
    }

    /// Awaits `operation` within the request budget. `None` means the caller falls back to
    /// `fallback`, which the warning names.
    pub async fn within_budget<T>(self: &Arc<Self>, operation: impl Future<Output = Result<T, KvError>>, fallback: &str) -> Option<T> {
        match tokio::time::timeout(REQUEST_BUDGET, operation).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                self.failed(&err.to_string(), fallback);
                None
            }
            Err(_) => {
                self.failed("no answer within the request budget", fallback);
                None
            }
        }
    }

    fn failed(self: &Arc<Self>, cause: &str, fallback: &str) {
        if self.healthy.swap(false, Ordering::AcqRel) {
            tracing::warn!(%cause, fallback, "redis unavailable");
        }
        self.probe(false);
    }

    /// Pings Redis in the background until it answers; `announce` warns if the first ping fails
    /// (a failed request has warned already).
    fn probe(self: &Arc<Self>, announce: bool) {
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let redis = self.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                match tokio::time::timeout(PROBE_TIMEOUT, redis.kv.ping()).await {
                    Ok(Ok(())) => break,
                    Ok(Err(err)) if first && announce => tracing::warn!(error = %err, "redis unreachable; retrying in the background"),
                    Err(_) if first && announce => tracing::warn!("redis unreachable (ping timed out); retrying in the background"),
                    _ => {}
                }
                first = false;
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
            if !first {
                tracing::info!("redis reachable again");
            }
            redis.healthy.store(true, Ordering::Release);
            redis.probing.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couple_common::kv::{MemoryKv, RedisKv};

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn redis_is_used_once_a_probe_succeeds_and_dropped_after_a_failure() {
        let redis = SharedRedis::new(Arc::new(MemoryKv::default()));
        assert!(redis.available().is_none(), "unknown until probed");
        settle().await;
        assert!(redis.available().is_some());
        let failed = redis.within_budget(async { Err::<(), _>(KvError("down".into())) }, "test").await;
        assert!(failed.is_none());
        assert!(redis.available().is_none());
        settle().await;
        assert!(redis.available().is_some(), "the probe brought it back");
    }

    #[tokio::test]
    async fn a_dead_redis_never_delays_a_request() {
        let redis = SharedRedis::new(Arc::new(RedisKv::new("redis://127.0.0.1:1").unwrap()));
        let started = std::time::Instant::now();
        for _ in 0..3 {
            assert!(redis.available().is_none());
            settle().await;
        }
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
