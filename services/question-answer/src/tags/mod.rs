//! Tags, which questions carry with a weight, and each user's score per tag.

pub mod dto;
pub mod http;

use std::sync::Arc;

use couple_common::{Identity, clock::Clock};
use uuid::Uuid;

use crate::{
    error::{Error, Result},
    require_admin,
    store::{Store, StoreError},
};

use dto::{Tag, TagName, TagScore};

/// The tags of the service.
pub struct Tags {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl Tags {
    /// Tags on `store`.
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Every tag, by name.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self) -> Result<Vec<Tag>> {
        Ok(self.store.tags().await?.into_iter().map(Into::into).collect())
    }

    /// Creates a tag (admins only); the name is unique.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn create(&self, identity: &Identity, name: TagName) -> Result<Tag> {
        require_admin(identity)?;
        match self.store.create_tag(Uuid::now_v7(), &name.0, self.clock.now()).await {
            Ok(tag) => Ok(tag.into()),
            Err(StoreError::Conflict) => Err(Error::TagNameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// The caller's score on each tag their answers touched.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn my_profile(&self, identity: &Identity) -> Result<Vec<TagScore>> {
        Ok(self.store.tag_scores(identity.user_id).await?.into_iter().map(Into::into).collect())
    }
}
