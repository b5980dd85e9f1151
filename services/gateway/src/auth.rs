//! Who is calling: JWT verification and the revocation check.
//!
//! A token carries the user's token version (`ver`) from when it was issued; logout, a password
//! change, account deletion or a break-up bump the version. The current version lives in Redis
//! (`{prefix}tv:{userId}`, written by the user-couple service), and the user-couple service also
//! answers `GET /internal/users/{userId}/token-version`. Versions are cached per user for
//! `GATEWAY_REVOCATION_CACHE_MS` (under a second), so the hot path rarely leaves the process and a
//! revocation still takes effect within a second. When neither source answers the request is
//! refused (503): a gateway that cannot tell must not let a revoked session through.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use bytes::Bytes;
use couple_common::{
    Claims, JwtKeys,
    jwt::TokenError,
    kv::{Kv, KvError},
};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;
use uuid::Uuid;

use crate::{error::GatewayError, proxy::HttpClient, routes::Upstream, store::SharedStore};

/// Header carrying the shared secret on `/internal/` calls.
const INTERNAL_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-internal-token");
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
        self.keys.verify(token).map_err(|err| match err {
            TokenError::Expired => GatewayError::ExpiredToken,
            TokenError::Invalid(reason) => {
                tracing::debug!(%reason, "rejected access token");
                GatewayError::InvalidToken
            }
        })
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
    redis: Option<Arc<SharedStore>>,
    lookup: InternalLookup,
}

impl TokenVersions {
    /// `upstream` is the user-couple service, `internal_token` the shared `/internal/` secret.
    pub fn new(ttl: Duration, redis: Option<Arc<SharedStore>>, client: HttpClient, upstream: Arc<Upstream>, internal_token: &str) -> Self {
        let mut token = HeaderValue::from_str(internal_token).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        token.set_sensitive(true);
        Self { cache: VersionCache::new(ttl), redis, lookup: InternalLookup { client, upstream, token } }
    }

    async fn current(&self, user: Uuid) -> Result<i64, GatewayError> {
        // Taken before the lookup, so an entry never outlives the TTL counted from the read.
        let now = Instant::now();
        if let Some(version) = self.cache.get(user, now) {
            return Ok(version);
        }
        let version = self.fetch(user).await?;
        self.cache.insert(user, version, now);
        Ok(version)
    }

    async fn fetch(&self, user: Uuid) -> Result<i64, GatewayError> {
        if let Some(store) = &self.redis
            && let Some(kv) = store.available()
            && let Some(Some(version)) = store.within_budget(redis_version(kv, user), "token versions from the user-couple service").await
        {
            return Ok(version);
        }
        self.lookup.fetch(user).await
    }
}

async fn redis_version(kv: &dyn Kv, user: Uuid) -> Result<Option<i64>, KvError> {
    let value = kv.get(&format!("tv:{user}")).await?;
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

const SHARDS: usize = 16;
const SHARD_CAPACITY: usize = 8192;

/// Token versions by user, each trusted for `ttl`. Sharded so concurrent requests of different
/// users rarely wait on the same lock; bounded so it cannot grow without limit.
struct VersionCache {
    shards: [Mutex<HashMap<Uuid, (i64, Instant)>>; SHARDS],
    ttl: Duration,
}

impl VersionCache {
    fn new(ttl: Duration) -> Self {
        Self { shards: std::array::from_fn(|_| Mutex::new(HashMap::new())), ttl }
    }

    fn shard(&self, user: Uuid) -> &Mutex<HashMap<Uuid, (i64, Instant)>> {
        // The low bits of a v4 or v7 UUID are random.
        &self.shards[(user.as_u128() as usize) % SHARDS]
    }

    fn get(&self, user: Uuid, now: Instant) -> Option<i64> {
        let shard = self.shard(user).lock().unwrap();
        shard.get(&user).filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl).map(|(version, _)| *version)
    }

    fn insert(&self, user: Uuid, version: i64, at: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut shard = self.shard(user).lock().unwrap();
        if shard.len() >= SHARD_CAPACITY {
            let now = Instant::now();
            shard.retain(|_, (_, at)| now.saturating_duration_since(*at) < self.ttl);
            if shard.len() >= SHARD_CAPACITY {
                shard.clear();
            }
        }
        shard.insert(user, (version, at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_versions_expire_after_the_ttl() {
        let cache = VersionCache::new(Duration::from_millis(500));
        let user = Uuid::now_v7();
        let t0 = Instant::now();
        cache.insert(user, 3, t0);
        assert_eq!(cache.get(user, t0 + Duration::from_millis(499)), Some(3));
        assert_eq!(cache.get(user, t0 + Duration::from_millis(500)), None);
        assert_eq!(cache.get(Uuid::now_v7(), t0), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = VersionCache::new(Duration::from_secs(60));
        let now = Instant::now();
        // Equal low bits: every user lands in the same shard.
        for i in 0..(SHARD_CAPACITY as u128 * 2) {
            cache.insert(Uuid::from_u128(i << 64), 1, now);
        }
        assert!(cache.shards.iter().all(|s| s.lock().unwrap().len() <= SHARD_CAPACITY));
    }
}
