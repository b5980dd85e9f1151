//! User vectors: the 50 trait values answers move, which users may also set themselves, and
//! the trait space they are measured in.

pub mod dto;
pub mod http;
pub mod outbox;

use std::sync::Arc;

use couple_common::{Identity, clock::Clock};
use uuid::Uuid;

use crate::{
    domain::{self, VectorDeltas},
    error::{Error, Result},
    store::{Store, StoreError, VectorStore},
};

use dto::UserVector;

/// Most users a batch read may name.
pub const MAX_BATCH: usize = 10;

/// The vectors of the service.
pub struct Vectors {
    store: Arc<dyn Store>,
    vectors: Arc<dyn VectorStore>,
    clock: Clock,
}

impl Vectors {
    /// Vectors on `vectors`; `store` holds the rest of a user's data, for erasure.
    pub fn new(store: Arc<dyn Store>, vectors: Arc<dyn VectorStore>, clock: Clock) -> Self {
        Self { store, vectors, clock }
    }

    /// Creates the caller's vector of zeros; 409 if there is one.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn create(&self, identity: &Identity) -> Result<UserVector> {
        match self.vectors.create_vector(identity.user_id, self.clock.now()).await {
            Ok(vector) => Ok(vector.into()),
            Err(StoreError::Conflict) => Err(Error::VectorExists),
            Err(e) => Err(e.into()),
        }
    }

    /// A user's vector.
    #[tracing::instrument(skip_all)]
    pub async fn get(&self, user_id: Uuid) -> Result<UserVector> {
        Ok(self.vectors.get_vector(user_id).await?.ok_or(Error::VectorNotFound)?.into())
    }

    /// The vectors of up to ten users; those without one are left out.
    #[tracing::instrument(skip_all)]
    pub async fn get_many(&self, user_ids: &[Uuid]) -> Result<Vec<UserVector>> {
        Ok(self.vectors.get_vectors(user_ids).await?.into_iter().map(Into::into).collect())
    }

    /// Sets some of the caller's traits, creating the vector if missing.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn put(&self, identity: &Identity, values: VectorDeltas) -> Result<UserVector> {
        Ok(self.vectors.put_vector(identity.user_id, &values, self.clock.now()).await?.into())
    }

    /// Sets one of the caller's traits, creating the vector if missing.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn set(&self, identity: &Identity, key: &str, value: f64) -> Result<UserVector> {
        let values = VectorDeltas::parse([(key, value)]).map_err(|problems| {
            let problem = problems.first().map_or(domain::VALUE_RANGE, |(_, problem)| *problem);
            Error::field(if domain::parse_key(key).is_err() { "vecN" } else { "value" }, problem)
        })?;
        self.put(identity, values).await
    }

    /// Deletes the caller's vector; whether there was one.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn delete(&self, identity: &Identity) -> Result<bool> {
        Ok(self.vectors.delete_vector(identity.user_id).await?)
    }

    /// Erases everything the service keeps about a user: answers, tag scores, vector, queued
    /// vector updates and personal daily questions. Idempotent.
    #[tracing::instrument(skip_all, fields(%user_id))]
    pub async fn erase_user(&self, user_id: Uuid) -> Result<()> {
        self.store.erase_user(user_id).await?;
        self.vectors.delete_vector(user_id).await?;
        Ok(())
    }
}
