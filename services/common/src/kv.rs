//! Short-lived shared state: match codes, rate-limit counters, token versions.
//!
//! [`RedisKv`] shares it between replicas; [`MemoryKv`] serves a single instance with no Redis.
//! Both implement [`Kv`] with the same semantics, including the GCRA token bucket used for rate
//! limits (a Lua script on Redis so that replicas share one bucket atomically).

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use redis::{AsyncCommands, aio::ConnectionManager};
use tokio::sync::OnceCell;

/// The store could not be reached or answered nonsense.
#[derive(Debug, thiserror::Error)]
#[error("key-value store unavailable: {0}")]
pub struct KvError(pub String);

/// Outcome of a token-bucket check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The request may proceed.
    Allowed,
    /// Over the limit; retry after this long.
    Limited(Duration),
}

/// A key-value store with expiry.
#[async_trait]
pub trait Kv: Send + Sync + 'static {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<String>, KvError>;
    /// Stores `value`, expiring after `ttl` when given.
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError>;
    /// Stores `value` only if `key` is absent; returns whether it was stored.
    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError>;
    /// Removes `key`.
    async fn del(&self, key: &str) -> Result<(), KvError>;
    /// Counts an event in a fixed window that starts at the first event; returns the count so
    /// far and the time left in the window.
    async fn incr_window(&self, key: &str, window: Duration) -> Result<(u64, Duration), KvError>;
    /// Takes one token from the bucket under `key` that refills `rate_per_sec` tokens a second
    /// up to `burst` (GCRA).
    async fn throttle(&self, key: &str, rate_per_sec: f64, burst: u32) -> Result<Throttle, KvError>;
    /// Checks the store answers.
    async fn ping(&self) -> Result<(), KvError>;
}

/// GCRA decision shared by both backends: `tat` is the stored theoretical arrival time.
fn gcra(now_us: u64, tat_us: Option<u64>, rate_per_sec: f64, burst: u32) -> (Throttle, u64) {
    let interval = (1_000_000.0 / rate_per_sec.max(f64::MIN_POSITIVE)).max(1.0) as u64;
    let tat = tat_us.unwrap_or(now_us).max(now_us);
    let new_tat = tat + interval;
    let allow_at = new_tat.saturating_sub(u64::from(burst.max(1)) * interval);
    if now_us < allow_at { (Throttle::Limited(Duration::from_micros(allow_at - now_us)), tat) } else { (Throttle::Allowed, new_tat) }
}

/// In-process store for a single instance.
#[derive(Debug)]
pub struct MemoryKv {
    entries: Mutex<HashMap<String, (String, Option<Instant>)>>,
    epoch: Instant,
    writes: AtomicU64,
    max_entries: usize,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new(1_000_000)
    }
}

impl MemoryKv {
    /// A store holding at most `max_entries` live keys; expired keys are swept as it fills.
    pub fn new(max_entries: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), epoch: Instant::now(), writes: AtomicU64::new(0), max_entries }
    }

    fn live<'a>(
        map: &'a mut HashMap<String, (String, Option<Instant>)>,
        key: &str,
        now: Instant,
    ) -> Option<&'a mut (String, Option<Instant>)> {
        if map.get(key).is_some_and(|(_, exp)| exp.is_some_and(|e| e <= now)) {
            map.remove(key);
        }
        map.get_mut(key)
    }

    fn insert(&self, map: &mut HashMap<String, (String, Option<Instant>)>, key: &str, value: String, expires: Option<Instant>) {
        let writes = self.writes.fetch_add(1, Ordering::Relaxed);
        if map.len() >= self.max_entries || writes.is_multiple_of(4096) {
            let now = Instant::now();
            map.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
            if map.len() >= self.max_entries {
                // Still full of live keys: drop arbitrary ones rather than grow without bound.
                let excess: Vec<String> = map.keys().take(map.len() + 1 - self.max_entries).cloned().collect();
                for k in excess {
                    map.remove(&k);
                }
            }
        }
        map.insert(key.to_owned(), (value, expires));
    }
}

#[async_trait]
impl Kv for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        let mut map = self.entries.lock().unwrap();
        Ok(Self::live(&mut map, key, Instant::now()).map(|(v, _)| v.clone()))
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError> {
        let mut map = self.entries.lock().unwrap();
        self.insert(&mut map, key, value.to_owned(), ttl.map(|t| Instant::now() + t));
        Ok(())
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError> {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap();
        if Self::live(&mut map, key, now).is_some() {
            return Ok(false);
        }
        self.insert(&mut map, key, value.to_owned(), Some(now + ttl));
        Ok(true)
    }

    async fn del(&self, key: &str) -> Result<(), KvError> {
        self.entries.lock().unwrap().remove(key);
        Ok(())
    }

    async fn incr_window(&self, key: &str, window: Duration) -> Result<(u64, Duration), KvError> {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap();
        if let Some((value, expires)) = Self::live(&mut map, key, now) {
            let count = value.parse::<u64>().unwrap_or(0) + 1;
            *value = count.to_string();
            let left = expires.map_or(window, |e| e.saturating_duration_since(now));
            return Ok((count, left));
        }
        self.insert(&mut map, key, "1".into(), Some(now + window));
        Ok((1, window))
    }

    async fn throttle(&self, key: &str, rate_per_sec: f64, burst: u32) -> Result<Throttle, KvError> {
        let now = Instant::now();
        let now_us = now.duration_since(self.epoch).as_micros() as u64;
        let mut map = self.entries.lock().unwrap();
        let tat = Self::live(&mut map, key, now).and_then(|(v, _)| v.parse().ok());
        let (decision, new_tat) = gcra(now_us, tat, rate_per_sec, burst);
        if decision == Throttle::Allowed {
            let ttl = Duration::from_micros(new_tat - now_us);
            self.insert(&mut map, key, new_tat.to_string(), Some(now + ttl));
        }
        Ok(decision)
    }

    async fn ping(&self) -> Result<(), KvError> {
        Ok(())
    }
}

/// Redis-backed store shared by replicas. Connects lazily and fails fast while Redis is down,
/// so callers can fall back instead of hanging.
pub struct RedisKv {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    retry_after: Mutex<Option<Instant>>,
    timeout: Duration,
    prefix: String,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv").finish_non_exhaustive()
    }
}

const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then return {0, allow_at - now} end
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1)
return {1, 0}
";

const WINDOW_SCRIPT: &str = r"
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {c, ttl}
";

impl RedisKv {
    /// A store for `url` (`redis://host:port/db`). Does not connect yet.
    pub fn new(url: &str) -> Result<Self, KvError> {
        let client = redis::Client::open(url).map_err(|e| KvError(e.to_string()))?;
        Ok(Self {
            client,
            conn: OnceCell::new(),
            retry_after: Mutex::new(None),
            timeout: Duration::from_millis(500),
            prefix: String::new(),
        })
    }

    /// Prefixes every key, so several deployments (or tests) can share one Redis.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn conn(&self) -> Result<ConnectionManager, KvError> {
        if let Some(conn) = self.conn.get() {
            return Ok(conn.clone());
        }
        if self.retry_after.lock().unwrap().is_some_and(|t| Instant::now() < t) {
            return Err(KvError("redis is unreachable (backing off)".into()));
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1)
            .set_max_delay(1000);
        let result = self.conn.get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config)).await;
        match result {
            Ok(conn) => Ok(conn.clone()),
            Err(e) => {
                *self.retry_after.lock().unwrap() = Some(Instant::now() + Duration::from_secs(1));
                Err(KvError(e.to_string()))
            }
        }
    }

    async fn run<T, F>(&self, f: impl FnOnce(ConnectionManager) -> F) -> Result<T, KvError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn().await?;
        match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(result) => result.map_err(|e| KvError(e.to_string())),
            Err(_) => Err(KvError("redis timed out".into())),
        }
    }
}

#[async_trait]
impl Kv for RedisKv {
    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        let key = &self.key(key);
        self.run(|mut c| async move { c.get(key).await }).await
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError> {
        let key = &self.key(key);
        self.run(|mut c| async move {
            match ttl {
                Some(ttl) => c.pset_ex(key, value, ttl.as_millis().max(1) as u64).await,
                None => c.set(key, value).await,
            }
        })
        .await
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError> {
        let key = &self.key(key);
        self.run(|mut c| async move {
            let reply: Option<String> =
                redis::cmd("SET").arg(key).arg(value).arg("NX").arg("PX").arg(ttl.as_millis().max(1) as u64).query_async(&mut c).await?;
            Ok(reply.is_some())
        })
        .await
    }

    async fn del(&self, key: &str) -> Result<(), KvError> {
        let key = &self.key(key);
        self.run(|mut c| async move { c.del(key).await }).await
    }

    async fn incr_window(&self, key: &str, window: Duration) -> Result<(u64, Duration), KvError> {
        let key = &self.key(key);
        let (count, ttl_ms): (u64, i64) = self
            .run(|mut c| async move {
                redis::Script::new(WINDOW_SCRIPT).key(key).arg(window.as_millis().max(1) as u64).invoke_async(&mut c).await
            })
            .await?;
        Ok((count, Duration::from_millis(ttl_ms.max(0) as u64)))
    }

    async fn throttle(&self, key: &str, rate_per_sec: f64, burst: u32) -> Result<Throttle, KvError> {
        let key = &self.key(key);
        let interval = (1_000_000.0 / rate_per_sec.max(f64::MIN_POSITIVE)).max(1.0) as u64;
        let (allowed, wait_us): (i64, i64) = self
            .run(|mut c| async move { redis::Script::new(GCRA_SCRIPT).key(key).arg(interval).arg(burst.max(1)).invoke_async(&mut c).await })
            .await?;
        Ok(if allowed == 1 { Throttle::Allowed } else { Throttle::Limited(Duration::from_micros(wait_us.max(0) as u64)) })
    }

    async fn ping(&self) -> Result<(), KvError> {
        self.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await.map(drop) }).await
    }
}

/// The Redis store when a URL is configured, the in-process one otherwise.
pub fn from_url(url: Option<&str>, prefix: &str) -> Result<std::sync::Arc<dyn Kv>, KvError> {
    Ok(match url.filter(|u| !u.is_empty()) {
        Some(url) => std::sync::Arc::new(RedisKv::new(url)?.with_prefix(prefix)),
        None => std::sync::Arc::new(MemoryKv::default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_a_burst_then_limits() {
        let mut tat = None;
        let now = 1_000_000;
        for _ in 0..5 {
            let (decision, new_tat) = gcra(now, tat, 10.0, 5);
            assert_eq!(decision, Throttle::Allowed);
            tat = Some(new_tat);
        }
        let (decision, _) = gcra(now, tat, 10.0, 5);
        assert_eq!(decision, Throttle::Limited(Duration::from_millis(100)));
        // One interval later one more token has refilled.
        assert_eq!(gcra(now + 100_000, tat, 10.0, 5).0, Throttle::Allowed);
    }

    #[tokio::test]
    async fn memory_keys_expire() {
        let kv = MemoryKv::default();
        kv.set("a", "1", Some(Duration::from_millis(20))).await.unwrap();
        assert_eq!(kv.get("a").await.unwrap().as_deref(), Some("1"));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(kv.get("a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn memory_set_nx_only_sets_absent_keys() {
        let kv = MemoryKv::default();
        assert!(kv.set_nx("k", "a", Duration::from_secs(5)).await.unwrap());
        assert!(!kv.set_nx("k", "b", Duration::from_secs(5)).await.unwrap());
        assert_eq!(kv.get("k").await.unwrap().as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn memory_window_counts_and_resets() {
        let kv = MemoryKv::default();
        assert_eq!(kv.incr_window("w", Duration::from_millis(30)).await.unwrap().0, 1);
        assert_eq!(kv.incr_window("w", Duration::from_millis(30)).await.unwrap().0, 2);
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(kv.incr_window("w", Duration::from_millis(30)).await.unwrap().0, 1);
    }

    #[tokio::test]
    async fn memory_store_stays_bounded() {
        let kv = MemoryKv::new(10);
        for i in 0..100 {
            kv.set(&format!("k{i}"), "v", None).await.unwrap();
        }
        assert!(kv.entries.lock().unwrap().len() <= 10);
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_fast() {
        // Port 1 on loopback is never a Redis server.
        let kv = RedisKv::new("redis://127.0.0.1:1").unwrap();
        let started = Instant::now();
        assert!(kv.get("x").await.is_err());
        assert!(kv.get("x").await.is_err());
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
