//! Per-client rate limits: a GCRA token bucket per user (or per address before authentication),
//! shared by replicas through Redis, and kept in process when there is no Redis or it is down, so
//! an outage loosens the limits (each replica counts alone) rather than stopping traffic.

use std::{net::IpAddr, sync::Arc, time::Duration};

use couple_common::kv::{Kv, MemoryKv, Throttle};
use uuid::Uuid;

use crate::{error::GatewayError, redis_health::SharedRedis};

/// Who a request is counted against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ClientKey {
    /// An authenticated user.
    User(Uuid),
    /// Anyone else, by address.
    Ip(IpAddr),
}

impl ClientKey {
    fn key(self) -> String {
        match self {
            ClientKey::User(id) => format!("rl:{id}"),
            ClientKey::Ip(ip) => format!("rl:ip:{ip}"),
        }
    }
}

/// The limiter.
pub(crate) struct RateLimiter {
    shared: Option<Arc<SharedRedis>>,
    local: MemoryKv,
    per_sec: f64,
    burst: u32,
}

impl RateLimiter {
    /// `per_sec` sustained, `burst` at once; `shared` when Redis is configured.
    pub fn new(shared: Option<Arc<SharedRedis>>, per_sec: f64, burst: u32) -> Self {
        // Bounded so a flood of distinct addresses cannot grow the process without limit.
        Self { shared, local: MemoryKv::new(100_000), per_sec, burst }
    }

    /// Takes a token for `client`, or says how long to wait.
    pub async fn check(&self, client: ClientKey) -> Result<(), GatewayError> {
        let key = client.key();
        let mut decision = None;
        if let Some(redis) = &self.shared
            && let Some(kv) = redis.available()
        {
            decision = redis.within_budget(kv.throttle(&key, self.per_sec, self.burst), "in-process rate limits").await;
        }
        let decision = match decision {
            Some(decision) => decision,
            None => self.local_throttle(&key).await,
        };
        match decision {
            Throttle::Allowed => Ok(()),
            Throttle::Limited(wait) => Err(GatewayError::RateLimited(wait)),
        }
    }

    async fn local_throttle(&self, key: &str) -> Throttle {
        // The in-process store cannot fail.
        self.local.throttle(key, self.per_sec, self.burst).await.unwrap_or(Throttle::Allowed)
    }
}

/// Whole seconds for `Retry-After`, rounded up.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use couple_common::kv::RedisKv;

    #[tokio::test]
    async fn the_burst_passes_then_requests_are_limited_per_client() {
        let limiter = RateLimiter::new(None, 1.0, 3);
        let alice = ClientKey::User(Uuid::now_v7());
        for _ in 0..3 {
            limiter.check(alice).await.unwrap();
        }
        let Err(GatewayError::RateLimited(wait)) = limiter.check(alice).await else { panic!("the fourth request must be limited") };
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        limiter.check(ClientKey::Ip("10.0.0.1".parse().unwrap())).await.expect("another client has its own bucket");
    }

    #[tokio::test]
    async fn a_dead_redis_falls_back_to_the_process() {
        let redis: Arc<dyn Kv> = Arc::new(RedisKv::new("redis://127.0.0.1:1").unwrap());
        let limiter = RateLimiter::new(Some(SharedRedis::new(redis)), 1.0, 2);
        let started = std::time::Instant::now();
        let client = ClientKey::Ip("10.0.0.2".parse().unwrap());
        limiter.check(client).await.unwrap();
        limiter.check(client).await.unwrap();
        assert!(matches!(limiter.check(client).await, Err(GatewayError::RateLimited(_))));
        assert!(started.elapsed() < Duration::from_millis(500), "no request waits for the dead Redis");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
