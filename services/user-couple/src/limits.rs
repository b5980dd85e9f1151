//! Failure-based lockouts (failed logins, wrong match codes) on the shared key-value store.
//!
//! Failures are counted in a fixed window; when the count reaches the limit a lock key is set
//! with the time it lifts, so every later attempt in the window gets 429 with an exact
//! `Retry-After`, including attempts that would have succeeded.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use couple_common::kv::Kv;

use crate::error::{Error, Result};

/// Counts failures under a key family and locks it out at a limit.
#[derive(Clone)]
pub struct Lockout {
    kv: Arc<dyn Kv>,
    limit: u64,
    window: Duration,
}

impl Lockout {
    /// A lockout after `limit` failures within `window`.
    pub fn new(kv: Arc<dyn Kv>, limit: u64, window: Duration) -> Self {
        Self { kv, limit: limit.max(1), window }
    }

    /// 429 when `key` is locked out.
    pub async fn check(&self, key: &str) -> Result<()> {
        if let Some(until) = self.kv.get(&format!("lock:{key}")).await? {
            let retry_after = until.parse::<i64>().unwrap_or(0) - Utc::now().timestamp();
            if retry_after > 0 {
                return Err(Error::RateLimited { retry_after: retry_after as u64 });
            }
        }
        Ok(())
    }

    /// Records a failure; locks the key out once the limit is reached.
    pub async fn fail(&self, key: &str) -> Result<()> {
        let (count, left) = self.kv.incr_window(&format!("fail:{key}"), self.window).await?;
        if count >= self.limit {
            let until = Utc::now().timestamp() + left.as_secs().max(1) as i64;
            self.kv.set(&format!("lock:{key}"), &until.to_string(), Some(left.max(Duration::from_secs(1)))).await?;
        }
        Ok(())
    }

    /// Forgets the failures of `key` (after a success).
    pub async fn clear(&self, key: &str) -> Result<()> {
        self.kv.del(&format!("fail:{key}")).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couple_common::kv::MemoryKv;

    #[tokio::test]
    async fn the_limit_th_failure_locks_the_key_out() {
        let lockout = Lockout::new(Arc::new(MemoryKv::default()), 3, Duration::from_secs(60));
        for _ in 0..2 {
            lockout.fail("a").await.unwrap();
            lockout.check("a").await.unwrap();
        }
        lockout.fail("a").await.unwrap();
        match lockout.check("a").await {
            Err(Error::RateLimited { retry_after }) => assert!((1..=60).contains(&retry_after)),
            other => panic!("expected a lockout, got {other:?}"),
        }
        lockout.check("b").await.unwrap();
    }

    #[tokio::test]
    async fn clearing_resets_the_count() {
        let lockout = Lockout::new(Arc::new(MemoryKv::default()), 2, Duration::from_secs(60));
        lockout.fail("a").await.unwrap();
        lockout.clear("a").await.unwrap();
        lockout.fail("a").await.unwrap();
        lockout.check("a").await.unwrap();
    }
}
