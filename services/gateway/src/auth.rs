//! Who is calling: JWT verification and the revocation check.
//!
//! A token carries the user's token version (`ver`) from when it was issued; logout, a password
//! change, account deletion or a break-up bump the version. The current version lives in Redis
//! (under [`version_key`], written by the user-couple service), and the user-couple service also
//! answers `GET /internal/users/{userId}/token-version`. Versions are cached per user for
//! `GATEWAY_REVOCATION_CACHE_MS` (under a second), so the hot path rarely leaves the process and a
//! revocation still takes effect within a second. When neither source answers the request is
//! refused (503): a gateway that cannot tell must not let a revoked session through.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::{HeaderValue, Request, StatusCode};
use bytes::Bytes;
use couple_common::{
    Claims, JwtKeys,
    kv::{Kv, KvError},
    net::INTERNAL_TOKEN_HEADER,
    revocation::version_key,
};
use http_body_util::{BodyExt, Full, Limited};
use moka::{Expiry, sync::Cache};
use serde::Deserialize;
use uuid::Uuid;

use crate::{error::GatewayError, proxy::HttpClient, redis_health::SharedRedis, routes::Upstream};

/// Bound on one token-version lookup over HTTP.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);
/// The version a deleted user has: every token is older.
const DELETED: i64 = i64::MAX;

/// Verifies tokens and checks they are not revoked.
pub(crate) struct Authenticator {
    keys: JwtKeys,
    versions: TokenVersions,
}

impl Authenticator {
    pub fn new(keys: JwtKeys, versions: TokenVersions) -> Self {
        Self { keys, versions }
    }

    /// Checks the signature, algorithm, issuer, audience and expiry. CPU only.
    pub fn verify(&self, token: Option<&str>) -> Result<Claims, GatewayError> {
        let token = token.ok_or(GatewayError::MissingToken)?;
        Ok(self.keys.verify(token)?)
    }

    /// Refuses a token issued before the user's current token version.
    pub async fn check_not_revoked(&self, claims: &Claims) -> Result<(), GatewayError> {
        let current = self.versions.current(claims.sub).await?;
        if claims.ver < current { Err(GatewayError::RevokedToken) } else { Ok(()) }
    }
}

/// Current token versions: cache, then Redis, then the user-couple service.
pub(crate) struct TokenVersions {
    cache: VersionCache,
    redis: Option<Arc<SharedRedis>>,
    lookup: InternalLookup,
}

impl TokenVersions {
    /// `upstream` is the user-couple service, `internal_token` the shared `/internal/` secret.
    pub fn new(ttl: Duration, redis: Option<Arc<SharedRedis>>, client: HttpClient, upstream: Arc<Upstream>, internal_token: &str) -> Self {
        let mut token = HeaderValue::from_str(internal_token).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        token.set_sensitive(true);
        Self { cache: VersionCache::new(ttl, CACHE_CAPACITY), redis, lookup: InternalLookup { client, upstream, token } }
    }

    async fn current(&self, user: Uuid) -> Result<i64, GatewayError> {
        if let Some(version) = self.cache.get(user) {
            return Ok(version);
        }
        // Taken before the lookup, so an entry never outlives the TTL counted from the read.
        let started = Instant::now();
        let version = self.fetch(user).await?;
        self.cache.insert(user, version, started);
        Ok(version)
    }

    async fn fetch(&self, user: Uuid) -> Result<i64, GatewayError> {
        if let Some(redis) = &self.redis
            && let Some(kv) = redis.available()
            && let Some(Some(version)) = redis.within_budget(redis_version(kv, user), "token versions from the user-couple service").await
        {
            return Ok(version);
        }
        self.lookup.fetch(user).await
    }
}

async fn redis_version(kv: &dyn Kv, user: Uuid) -> Result<Option<i64>, KvError> {
    let value = kv.get(&version_key(user)).await?;
    Ok(value.and_then(|v| match v.trim().parse() {
        Ok(version) => Some(version),
        Err(_) => {
            tracing::warn!(%user, "unreadable token version in redis; asking the user-couple service");
            None
        }
    }))
}

/// `GET /internal/users/{userId}/token-version` on the user-couple service.
struct InternalLookup {
    client: HttpClient,
    upstream: Arc<Upstream>,
    token: HeaderValue,
}

#[derive(Deserialize)]
struct VersionEnvelope {
    data: VersionData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionData {
    token_version: i64,
}

impl InternalLookup {
    async fn fetch(&self, user: Uuid) -> Result<i64, GatewayError> {
        let unavailable = |cause: String| GatewayError::RevocationUnavailable(cause);
        let path = format!("/internal/users/{user}/token-version");
        let uri = self.upstream.uri(path.parse().map_err(|_| unavailable("bad lookup path".into()))?);
        let request = Request::get(uri)
            .header(INTERNAL_TOKEN_HEADER, self.token.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| unavailable(e.to_string()))?;
        let call = async {
            let response =
                self.client.request(request).await.map_err(|e| unavailable(format!("user-couple: {}", crate::proxy::describe(&e))))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), 64 * 1024).collect().await.map_err(|e| unavailable(e.to_string()))?.to_bytes();
            Ok::<_, GatewayError>((status, body))
        };
        let (status, body) =
            tokio::time::timeout(LOOKUP_TIMEOUT, call).await.map_err(|_| unavailable("user-couple: timed out".into()))??;
        match status {
            StatusCode::OK => serde_json::from_slice::<VersionEnvelope>(&body)
                .map(|envelope| envelope.data.token_version)
                .map_err(|e| unavailable(format!("user-couple: unreadable token version: {e}"))),
            StatusCode::NOT_FOUND => Ok(DELETED),
            status => Err(unavailable(format!("user-couple answered {status}"))),
        }
    }
}

/// Users whose token versions are kept at most; beyond that the least useful entries go.
const CACHE_CAPACITY: u64 = 128 * 1024;

/// Token versions by user, each trusted for `ttl` from the moment before it was looked up.
struct VersionCache {
    entries: Cache<Uuid, Fetched>,
    ttl: Duration,
}

/// A version and when the lookup that found it began.
#[derive(Clone, Copy)]
struct Fetched {
    version: i64,
    at: Instant,
}

/// Expires an entry `ttl` after its lookup began, not after it was inserted.
struct FromLookup(Duration);

impl Expiry<Uuid, Fetched> for FromLookup {
    fn expire_after_create(&self, _: &Uuid, fetched: &Fetched, created_at: Instant) -> Option<Duration> {
        Some(self.0.saturating_sub(created_at.saturating_duration_since(fetched.at)))
    }
}

impl VersionCache {
    fn new(ttl: Duration, capacity: u64) -> Self {
        Self { entries: Cache::builder().max_capacity(capacity).expire_after(FromLookup(ttl)).build(), ttl }
    }

    fn get(&self, user: Uuid) -> Option<i64> {
        self.entries.get(&user).map(|fetched| fetched.version)
    }

    fn insert(&self, user: Uuid, version: i64, at: Instant) {
        if !self.ttl.is_zero() {
            self.entries.insert(user, Fetched { version, at });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_version_expires_the_ttl_after_its_lookup_began() {
        let cache = VersionCache::new(Duration::from_millis(500), CACHE_CAPACITY);
        let (fresh, stale, now) = (Uuid::now_v7(), Uuid::now_v7(), Instant::now());
        cache.insert(fresh, 3, now - Duration::from_millis(300));
        cache.insert(stale, 4, now - Duration::from_millis(500));
        assert_eq!(cache.get(fresh), Some(3));
        assert_eq!(cache.get(stale), None, "a slow lookup does not extend the TTL");
        assert_eq!(cache.get(Uuid::now_v7()), None);
    }

    #[test]
    fn cached_versions_expire_after_the_ttl() {
        let cache = VersionCache::new(Duration::from_millis(50), CACHE_CAPACITY);
        let user = Uuid::now_v7();
        cache.insert(user, 3, Instant::now());
        assert_eq!(cache.get(user), Some(3));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(user), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = VersionCache::new(Duration::from_secs(60), 100);
        let now = Instant::now();
        for i in 0..1000 {
            cache.insert(Uuid::from_u128(i), 1, now);
        }
        cache.entries.run_pending_tasks();
        assert!(cache.entries.entry_count() <= 100, "{} entries", cache.entries.entry_count());
    }
}
