//! Sessions: access tokens, rotating refresh tokens, and the token version that revokes them
//! (published where the gateway reads it).

use std::{sync::Arc, time::Duration};

use base64::Engine;
use chrono::Utc;
use couple_common::{
    Identity, Role,
    jwt::{JwtKeys, TokenSubject},
    kv::Kv,
    revocation::version_key,
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    error::{Error, Result},
    internal::TokenVersion,
    store::{NewRefreshToken, Rotation, Store, UserRecord},
    users::dto::TokenPair,
};

/// Issues, rotates and revokes sessions.
pub struct Sessions {
    store: Arc<dyn Store>,
    kv: Arc<dyn Kv>,
    keys: Arc<JwtKeys>,
    refresh_ttl: chrono::Duration,
}

/// The refresh token's stored form: SHA-256, hex. The token is 256 random bits, so a fast hash
/// is enough; the database never holds a usable token.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    /// Sessions whose refresh tokens live `refresh_ttl_days` (at least one).
    pub fn new(store: Arc<dyn Store>, kv: Arc<dyn Kv>, keys: Arc<JwtKeys>, refresh_ttl_days: i64) -> Self {
        Self { store, kv, keys, refresh_ttl: chrono::Duration::days(refresh_ttl_days.max(1)) }
    }

    /// The signing keys.
    pub fn keys(&self) -> &Arc<JwtKeys> {
        &self.keys
    }

    /// The caller's account, refusing tokens issued before the last revocation.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn current_user(&self, identity: &Identity) -> Result<UserRecord> {
        let user = self.store.user_by_id(identity.user_id).await?.ok_or(Error::SessionRevoked)?;
        if identity.claims.ver < user.token_version {
            return Err(Error::SessionRevoked);
        }
        Ok(user)
    }

    /// Issues an access token and a refresh token in a new family.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn open(&self, user: &UserRecord) -> Result<TokenPair> {
        let refresh_token = new_refresh_token();
        let now = Utc::now();
        self.store
            .insert_refresh_token(NewRefreshToken {
                id: Uuid::now_v7(),
                family_id: Uuid::now_v7(),
                user_id: user.id,
                token_hash: hash_refresh_token(&refresh_token),
                now,
                expires_at: now + self.refresh_ttl,
            })
            .await?;
        Ok(self.token_pair(user, refresh_token))
    }

    fn token_pair(&self, user: &UserRecord, refresh_token: String) -> TokenPair {
        let subject =
            TokenSubject { user_id: user.id, couple_id: user.couple_id, role: Role::parse(&user.role), version: user.token_version };
        let (access_token, _) = self.keys.issue(subject);
        TokenPair { access_token, refresh_token, token_type: "Bearer", expires_in: self.keys.ttl().as_secs() }
    }

    /// Spends a refresh token for a new pair carrying the user's current couple.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, token: &str) -> Result<TokenPair> {
        if token.len() > 256 {
            return Err(Error::InvalidRefreshToken);
        }
        let next = new_refresh_token();
        let now = Utc::now();
        match self.store.rotate_refresh_token(&hash_refresh_token(token), &hash_refresh_token(&next), now, now + self.refresh_ttl).await? {
            Rotation::Rotated { user_id } => {
                let user = self.store.user_by_id(user_id).await?.ok_or(Error::InvalidRefreshToken)?;
                Ok(self.token_pair(&user, next))
            }
            Rotation::Reused => {
                tracing::warn!("a spent refresh token was presented again; its session family is revoked");
                Err(Error::InvalidRefreshToken)
            }
            Rotation::Invalid => Err(Error::InvalidRefreshToken),
        }
    }

    /// Publishes a user's token version where the gateway reads it.
    pub async fn publish_version(&self, user_id: Uuid, version: i64) -> Result<()> {
        // Kept a little longer than an access token lives: older tokens are expired anyway, and
        // on a miss the gateway asks this service.
        let ttl = self.keys.ttl() + Duration::from_secs(60);
        self.kv.set(&version_key(user_id), &version.to_string(), Some(ttl)).await?;
        Ok(())
    }

    /// Removes a deleted user's published version, so the gateway asks this service and learns
    /// the account is gone.
    pub async fn forget_version(&self, user_id: Uuid) -> Result<()> {
        Ok(self.kv.del(&version_key(user_id)).await?)
    }

    /// A user's current token version (for the gateway), refreshing the shared copy.
    #[tracing::instrument(skip_all, fields(%user_id))]
    pub async fn token_version(&self, user_id: Uuid) -> Result<TokenVersion> {
        let user = self.store.user_by_id(user_id).await?.ok_or(Error::UserNotFound)?;
        if let Err(err) = self.publish_version(user.id, user.token_version).await {
            tracing::debug!(%err, "could not refresh the shared token version");
        }
        Ok(TokenVersion { user_id: user.id, token_version: user.token_version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let hash = hash_refresh_token(&a);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, a);
        assert_eq!(hash, hash_refresh_token(&a));
        assert_eq!(hash_refresh_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
