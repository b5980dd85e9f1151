//! The outbox worker: when the vector store is outside the relational database, an answer's
//! transaction queues its vector deltas (per user, numbered) and this worker applies them to the
//! vector store, per user in sequence order. [`VectorStore::apply_deltas`] applies a number only
//! once, so a worker that crashes between applying and marking, or two workers at once, never
//! apply an update twice.

use std::{collections::HashSet, sync::Arc, time::Duration};

use couple_common::{clock::Clock, shutdown::Shutdown};
use tokio::sync::Notify;

use crate::store::{Store, StoreError, StoreResult, VectorStore};

/// Entries read per round.
const BATCH: usize = 500;

/// Applies queued vector updates.
pub struct OutboxWorker {
    store: Arc<dyn Store>,
    vectors: Arc<dyn VectorStore>,
    clock: Clock,
    wake: Arc<Notify>,
    poll: Duration,
    max_backoff: Duration,
}

impl OutboxWorker {
    /// A worker moving updates from `store`'s outbox to `vectors`, woken by `wake` and otherwise
    /// looking every `poll`; while the vector store fails it retries with a backoff growing to
    /// `max_backoff`.
    pub fn new(
        store: Arc<dyn Store>,
        vectors: Arc<dyn VectorStore>,
        clock: Clock,
        wake: Arc<Notify>,
        poll: Duration,
        max_backoff: Duration,
    ) -> Self {
        Self { store, vectors, clock, wake, poll, max_backoff }
    }

    /// One round: applies every pending update it reads, per user in sequence order, and marks
    /// each done. A user whose update fails is skipped for the rest of the round, so their later
    /// updates never overtake it; an unavailable store ends the round. Returns how many were
    /// applied or found applied already.
    #[tracing::instrument(skip_all)]
    pub async fn run_once(&self) -> StoreResult<usize> {
        let pending = self.store.pending_vector_updates(BATCH).await?;
        let mut failed = HashSet::new();
        let mut first_error = None;
        let mut done = 0;
        for entry in pending {
            if failed.contains(&entry.user_id) {
                continue;
            }
            let result = match self.vectors.apply_deltas(entry.user_id, entry.seq, &entry.deltas, self.clock.now()).await {
                Ok(_) => match self.store.vector_update_done(entry.user_id, entry.seq, self.clock.now()).await {
                    Ok(true) => Ok(()),
                    // The user was erased while this update was on its way, and applying it
                    // created their vector again: erase that too.
                    Ok(false) => self.vectors.delete_vector(entry.user_id).await.map(drop),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => done += 1,
                Err(err) => {
                    tracing::warn!(%err, user_id = %entry.user_id, seq = entry.seq, "vector update failed; will retry");
                    failed.insert(entry.user_id);
                    // An unreachable store fails everyone's update, each after a timeout: stop the
                    // round and let the backoff decide when to look again.
                    let unavailable = matches!(err, StoreError::Unavailable(_));
                    first_error.get_or_insert(err);
                    if unavailable {
                        break;
                    }
                }
            }
        }
        match first_error {
            Some(err) if done == 0 => Err(err),
            _ => Ok(done),
        }
    }

    /// Runs rounds until `shutdown`: after an answer wakes it, every `poll` otherwise, and with
    /// a growing backoff while rounds fail.
    pub fn spawn(self, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = Duration::ZERO;
            loop {
                let wait = match self.run_once().await {
                    Ok(n) if n >= BATCH => Duration::ZERO,
                    Ok(_) => {
                        backoff = Duration::ZERO;
                        self.poll
                    }
                    Err(err) => {
                        backoff = (backoff * 2).clamp(Duration::from_millis(100), self.max_backoff);
                        tracing::warn!(%err, ?backoff, "the vector outbox could not be processed");
                        backoff
                    }
                };
                tokio::select! {
                    () = shutdown.clone().wait() => break,
                    () = self.wake.notified(), if backoff.is_zero() => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
            tracing::debug!("vector outbox worker stopped");
        })
    }
}
