//! Questions by id, kept in memory. A stored question never changes while the service runs:
//! there is no endpoint that edits one, and the seed is loaded before the service serves. So a
//! cached question is never stale, and answering, revealing and today's question skip reading the
//! question and its tags again. Only questions that exist are kept; a miss asks the store.

use std::sync::Arc;

use moka::sync::Cache;
use uuid::Uuid;

use crate::store::{Question, Store, StoreError};

/// How many questions are kept: the whole seed and years of admins' additions.
const CAPACITY: u64 = 10_000;

/// A read-through cache of questions in front of the store.
pub struct QuestionCache {
    store: Arc<dyn Store>,
    cache: Cache<Uuid, Question>,
}

impl QuestionCache {
    /// An empty cache over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, cache: Cache::new(CAPACITY) }
    }

    /// The question `id`, from memory when it was read before.
    pub async fn get(&self, id: Uuid) -> Result<Option<Question>, StoreError> {
        if let Some(question) = self.cache.get(&id) {
            return Ok(Some(question));
        }
        let question = self.store.question(id).await?;
        if let Some(question) = &question {
            self.cache.insert(id, question.clone());
        }
        Ok(question)
    }
}
