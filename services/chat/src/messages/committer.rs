//! Group commit: one task takes the posts queued here and commits up to `commit_batch` of them in
//! one [`Store::append`] transaction, so messages arriving while a commit is in flight share the
//! next flush instead of paying one each. After the commit it answers each poster and publishes
//! the new messages to the hub in the order the store numbered them: nothing reaches a socket
//! before it is stored.
//!
//! A batch that fails for any reason but an outage is retried one message at a time, so one bad
//! message fails alone. An outage fails every message of the batch (503: send again with the same
//! `clientId`). On shutdown the queue stops taking posts ([`Error::ShuttingDown`]); what is
//! already queued is still committed and answered.

use std::sync::Arc;

use couple_common::shutdown::Shutdown;
use tokio::sync::{mpsc, oneshot};

use crate::{
    error::{Error, Result},
    hub::{Event, Hub},
    store::{Appended, NewMessage, Store, StoreError, StoreResult},
};

/// A queued post and where its answer goes.
type Job = (NewMessage, oneshot::Sender<Result<Appended>>);

/// The queue in front of the commit task.
#[derive(Debug, Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the commit task: batches of at most `batch` messages, new ones published on `hub`,
    /// the queue closed when `shutdown` fires. Its queue holds four batches; posters wait
    /// beyond that.
    pub fn spawn(store: Arc<dyn Store>, hub: Arc<Hub>, batch: usize, shutdown: Shutdown) -> Self {
        let batch = batch.max(1);
        let (tx, rx) = mpsc::channel(4 * batch);
        tokio::spawn(run(store, hub, batch, rx, shutdown));
        Self { tx }
    }

    /// Commits `message` with whatever else is queued and returns what the store did with it.
    /// [`Error::ShuttingDown`] once the queue no longer takes posts.
    pub async fn commit(&self, message: NewMessage) -> Result<Appended> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((message, reply)).await.map_err(|_| Error::ShuttingDown)?;
        // The task answers every job it took; a dropped reply means it is gone.
        answer.await.map_err(|_| Error::ShuttingDown)?
    }
}

async fn run(store: Arc<dyn Store>, hub: Arc<Hub>, max: usize, mut rx: mpsc::Receiver<Job>, shutdown: Shutdown) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        let first = if stopping {
            rx.recv().await
        } else {
            tokio::select! {
                job = rx.recv() => job,
                () = &mut stop => {
                    // New posts fail from now on; those already queued are still committed.
                    rx.close();
                    stopping = true;
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        let mut batch = Vec::with_capacity(max);
        batch.push(first);
        while batch.len() < max {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(store.as_ref(), &hub, batch).await;
    }
    tracing::debug!("the commit queue is drained");
}

/// Commits one batch, answers its posters and publishes its new messages.
#[tracing::instrument(skip_all, fields(size = jobs.len()))]
async fn commit(store: &dyn Store, hub: &Hub, jobs: Vec<Job>) {
    metrics::histogram!("chat_commit_batch_size").record(jobs.len() as f64);
    let (messages, replies): (Vec<NewMessage>, Vec<_>) = jobs.into_iter().unzip();
    match append(store, &messages).await {
        Ok(appended) => {
            for (reply, appended) in replies.into_iter().zip(appended) {
                deliver(hub, reply, Ok(appended));
            }
        }
        Err(StoreError::Unavailable(err)) => {
            tracing::warn!(error = %err, messages = messages.len(), "the database is unavailable: the batch is not stored");
            for reply in replies {
                deliver(hub, reply, Err(Error::Store(StoreError::Unavailable(copy_of(&err)))));
            }
        }
        Err(err) if messages.len() == 1 => {
            if let Some(reply) = replies.into_iter().next() {
                deliver(hub, reply, Err(err.into()));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, messages = messages.len(), "a batch failed: committing its messages one by one");
            for (message, reply) in messages.into_iter().zip(replies) {
                let alone = append(store, std::slice::from_ref(&message)).await.map(|mut one| one.remove(0));
                deliver(hub, reply, alone.map_err(Error::from));
            }
        }
    }
}

/// [`Store::append`], holding the store to one result per message.
async fn append(store: &dyn Store, messages: &[NewMessage]) -> StoreResult<Vec<Appended>> {
    let appended = store.append(messages).await?;
    if appended.len() != messages.len() {
        let problem = format!("the store answered {} results for {} messages", appended.len(), messages.len());
        return Err(StoreError::Other(sqlx::Error::Protocol(problem)));
    }
    Ok(appended)
}

/// Publishes a new message, then answers its poster (who may have gone: it is stored anyway).
fn deliver(hub: &Hub, reply: oneshot::Sender<Result<Appended>>, result: Result<Appended>) {
    if let Ok(Appended::New(record)) = &result {
        metrics::counter!("chat_messages_total").increment(1);
        hub.publish(Event::Message(record.clone()));
    }
    let _ = reply.send(result);
}

/// The same outage for another poster of the batch (database errors cannot be cloned).
fn copy_of(err: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(err.to_string()))
}
