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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use couple_common::{db::PoolSettings, shutdown, test_util::TestDatabase};
    use metrics_exporter_prometheus::PrometheusBuilder;
    use uuid::Uuid;

    use super::*;
    use crate::store::{self, RoomRecord};

    struct Setup {
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        room: RoomRecord,
        _db: TestDatabase,
    }

    async fn setup() -> Setup {
        let db = TestDatabase::sqlite();
        let store = store::connect(db.url(), PoolSettings::default()).await.unwrap();
        store.migrate().await.unwrap();
        let room = RoomRecord {
            id: Uuid::now_v7(),
            couple_id: Uuid::now_v7(),
            name: "우리 둘".into(),
            is_default: true,
            created_by: None,
            created_at: Utc::now(),
            last_seq: 0,
        };
        store.create_room(&room).await.unwrap();
        Setup { store, hub: Hub::new(10_000), room, _db: db }
    }

    fn message(room_id: Uuid, text: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            id: Uuid::now_v7(),
            room_id,
            sender_id: Uuid::nil(),
            nickname: None,
            message: text.into(),
            parent_id: None,
            client_id: client_id.map(Into::into),
            created_at: Utc::now(),
        }
    }

    /// Queues `message` without waiting, so a test can fill the queue before the task runs.
    fn enqueue(committer: &Committer, message: NewMessage) -> oneshot::Receiver<Result<Appended>> {
        let (reply, answer) = oneshot::channel();
        committer.tx.try_send((message, reply)).unwrap();
        answer
    }

    #[tokio::test]
    async fn concurrent_posts_are_all_committed_in_batches_and_published_in_seq_order() {
        // The test's runtime runs every task on this thread, so this recorder sees the task's metrics.
        let recorder = PrometheusBuilder::new().build_recorder();
        let metrics = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let s = setup().await;
        let mut listener = s.hub.subscribe(s.room.id, Uuid::now_v7());
        let (_stop, shutdown) = shutdown::channel();
        let committer = Committer::spawn(s.store.clone(), s.hub.clone(), 16, shutdown);

        let posts = (0..200).map(|i| {
            let committer = committer.clone();
            let new = message(s.room.id, &format!("m{i}"), None);
            tokio::spawn(async move { committer.commit(new).await })
        });
        let mut seqs = Vec::new();
        for post in posts.collect::<Vec<_>>() {
            match post.await.unwrap().unwrap() {
                Appended::New(m) => seqs.push(m.seq),
                other => panic!("not new: {other:?}"),
            }
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=200).collect::<Vec<i64>>(), "every post got its own seq, without gaps");

        let mut seen = Vec::new();
        while seen.len() < 200 {
            match listener.recv().await.as_deref() {
                Some(Event::Message(m)) => seen.push(m.seq),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, (1..=200).collect::<Vec<i64>>(), "the hub saw them in seq order");
        let stored = s.store.messages(s.room.id, crate::store::Window::After(0), 500).await.unwrap();
        assert_eq!(stored.len(), 200);

        let rendered = metrics.render();
        let batches: f64 = rendered
            .lines()
            .find_map(|line| line.strip_prefix("chat_commit_batch_size_count "))
            .expect("the batch sizes are recorded")
            .parse()
            .unwrap();
        assert!(batches < 200.0, "some commits took several messages ({batches} commits for 200)");
        assert!(rendered.contains("chat_messages_total 200"), "{rendered}");
    }

    #[tokio::test]
    async fn a_resent_client_id_in_the_same_batch_returns_the_first_and_is_published_once() {
        let s = setup().await;
        let mut listener = s.hub.subscribe(s.room.id, Uuid::now_v7());
        let (_stop, shutdown) = shutdown::channel();
        let committer = Committer::spawn(s.store.clone(), s.hub.clone(), 16, shutdown);
        let first = enqueue(&committer, message(s.room.id, "hi", Some("c-1")));
        let again = enqueue(&committer, message(s.room.id, "hi", Some("c-1")));
        let Appended::New(stored) = first.await.unwrap().unwrap() else { panic!("the first is new") };
        assert_eq!(again.await.unwrap().unwrap(), Appended::Existing(stored.clone()));
        let next = committer.commit(message(s.room.id, "next", None)).await.unwrap();
        assert_eq!(next.record().seq, 2, "the resend burnt no seq");
        let seen: Vec<i64> = [listener.recv().await, listener.recv().await]
            .into_iter()
            .map(|e| match e.as_deref() {
                Some(Event::Message(m)) => m.seq,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(seen, [1, 2]);
    }

    #[tokio::test]
    async fn a_message_that_fails_its_batch_fails_alone() {
        let s = setup().await;
        let (_stop, shutdown) = shutdown::channel();
        let committer = Committer::spawn(s.store.clone(), s.hub.clone(), 16, shutdown);
        let before = enqueue(&committer, message(s.room.id, "before", None));
        let erased = enqueue(&committer, message(Uuid::now_v7(), "to a room that is gone", None));
        let after = enqueue(&committer, message(s.room.id, "after", None));
        assert_eq!(before.await.unwrap().unwrap().record().seq, 1);
        assert!(matches!(erased.await.unwrap(), Err(Error::Store(StoreError::Other(_)))));
        assert_eq!(after.await.unwrap().unwrap().record().seq, 2);
    }

    #[tokio::test]
    async fn on_shutdown_the_queued_posts_are_committed_and_new_ones_refused() {
        let s = setup().await;
        let (stop, shutdown) = shutdown::channel();
        let committer = Committer::spawn(s.store.clone(), s.hub.clone(), 4, shutdown);
        let queued: Vec<_> = (0..10).map(|i| enqueue(&committer, message(s.room.id, &format!("m{i}"), None))).collect();
        stop.trigger();
        for (i, answer) in queued.into_iter().enumerate() {
            assert_eq!(answer.await.unwrap().unwrap().record().seq, i as i64 + 1);
        }
        while !committer.tx.is_closed() {
            tokio::task::yield_now().await;
        }
        assert!(matches!(committer.commit(message(s.room.id, "late", None)).await, Err(Error::ShuttingDown)));
        assert_eq!(s.store.room(s.room.id).await.unwrap().unwrap().last_seq, 10, "the late one was not stored");
    }
}
