//! The hub: which sockets of this replica listen to which room, and the delivery of room events
//! to them. Every event is delivered to this replica's sockets at once and handed to the
//! [`Fanout`] (Redis pub/sub when configured) for the other replicas, whose hubs deliver it to
//! theirs with [`Hub::deliver_local`]. When the fan-out may have missed some, [`Hub::resync_all`]
//! makes every socket catch up from the store.
//!
//! Each socket has a bounded queue. A message that finds it full is never dropped on its own:
//! the socket is cut off from the hub (its queue still drains) and marked overflowed, and its
//! session closes with 4008 so the client resumes with `after`. Ephemeral events (typing, read
//! receipts, presence) are dropped instead when the queue is more than three quarters full.
//!
//! The hub also keeps who is present in each room on this replica (a count of sockets per
//! member, so a member with two tabs joins once and leaves once) and throttles typing.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use serde::{Deserialize, Serialize};
use tokio::{
    sync::mpsc,
    time::{Duration, Instant},
};
use uuid::Uuid;

use crate::store::{MessageRecord, ReadMarker};

pub mod redis;

/// Something that happened in a room, for the sockets listening to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Event {
    /// A committed message.
    Message(MessageRecord),
    /// A member is typing; the indicator lasts `expires_in_ms` unless renewed.
    Typing {
        /// The room.
        room_id: Uuid,
        /// Who types.
        user_id: Uuid,
        /// Their display name, if known.
        nickname: Option<String>,
        /// How long the indicator lasts.
        expires_in_ms: u64,
    },
    /// A member's read marker moved.
    Read(ReadMarker),
    /// A member's first socket in the room opened.
    Join(Presence),
    /// A member's last socket in the room closed.
    Leave(Presence),
    /// The room was erased: its sockets close.
    Closed {
        /// The room.
        room_id: Uuid,
    },
    /// Messages of the room may have been missed (the fan-out lost Redis for a while, or dropped
    /// events): each socket reads the store after the last `seq` it sent, as for a gap.
    Resync {
        /// The room.
        room_id: Uuid,
    },
}

/// [`Event::Join`]'s and [`Event::Leave`]'s payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    /// The room.
    pub room_id: Uuid,
    /// The member.
    pub user_id: Uuid,
    /// Their display name, if known.
    pub nickname: Option<String>,
}

impl Event {
    /// The room it happened in.
    pub fn room_id(&self) -> Uuid {
        match self {
            Event::Message(m) => m.room_id,
            Event::Read(r) => r.room_id,
            Event::Join(p) | Event::Leave(p) => p.room_id,
            Event::Typing { room_id, .. } | Event::Closed { room_id } | Event::Resync { room_id } => *room_id,
        }
    }

    /// Whether losing it would lose data: messages, the room's end and a resync are never
    /// dropped.
    pub fn is_durable(&self) -> bool {
        matches!(self, Event::Message(_) | Event::Closed { .. } | Event::Resync { .. })
    }
}

/// Hands events to the other replicas (Redis pub/sub). Never blocks the caller: an
/// implementation queues and publishes in the background.
pub trait Fanout: Send + Sync {
    /// Sends `event` to the other replicas' hubs.
    fn publish(&self, event: &Event);
}

/// One socket's place in the hub.
struct Subscriber {
    id: u64,
    user_id: Uuid,
    tx: mpsc::Sender<Arc<Event>>,
    overflowed: Arc<AtomicBool>,
}

/// A member present in a room on this replica.
struct Member {
    sockets: usize,
    nickname: Option<String>,
    typed_at: Option<Instant>,
}

/// This replica's rooms and their sockets.
pub struct Hub {
    rooms: Mutex<HashMap<Uuid, Vec<Subscriber>>>,
    presence: Mutex<HashMap<Uuid, HashMap<Uuid, Member>>>,
    queue: usize,
    next_id: AtomicU64,
    fanout: OnceLock<Arc<dyn Fanout>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("queue", &self.queue).finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub whose sockets queue at most `queue` events each.
    pub fn new(queue: usize) -> Arc<Self> {
        Arc::new(Self {
            rooms: Mutex::default(),
            presence: Mutex::default(),
            queue: queue.max(4),
            next_id: AtomicU64::new(1),
            fanout: OnceLock::new(),
        })
    }

    /// Sends every event published here to the other replicas too (set once, at start).
    pub fn set_fanout(&self, fanout: Arc<dyn Fanout>) {
        let _ = self.fanout.set(fanout);
    }

    /// Listens to `room_id` for `user_id`. Events published from now on are queued for the
    /// subscription until it is dropped.
    pub fn subscribe(self: &Arc<Self>, room_id: Uuid, user_id: Uuid) -> Subscription {
        let (tx, rx) = mpsc::channel(self.queue);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let overflowed = Arc::new(AtomicBool::new(false));
        let subscriber = Subscriber { id, user_id, tx, overflowed: overflowed.clone() };
        self.lock().entry(room_id).or_default().push(subscriber);
        metrics::gauge!("chat_sockets").increment(1.0);
        Subscription { hub: Arc::downgrade(self), room_id, user_id, id, rx, overflowed, present: false }
    }

    /// Delivers `event` to this replica's sockets in its room and to the other replicas.
    pub fn publish(&self, event: Event) {
        if let Some(fanout) = self.fanout.get() {
            fanout.publish(&event);
        }
        self.deliver_local(event);
    }

    /// Delivers `event` to this replica's sockets only (what the fanout calls for events from
    /// other replicas).
    pub fn deliver_local(&self, event: Event) {
        let event = Arc::new(event);
        let mut rooms = self.lock();
        let Some(subscribers) = rooms.get_mut(&event.room_id()) else { return };
        let durable = event.is_durable();
        subscribers.retain(|s| {
            if !durable && s.tx.capacity() < self.queue / 4 {
                return true;
            }
            match s.tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.overflowed.store(true, Ordering::Release);
                    metrics::counter!("chat_slow_consumers_total").increment(1);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if subscribers.is_empty() {
            rooms.remove(&event.room_id());
        }
    }

    /// Tells every socket of this replica to read the store for what it may have missed: an
    /// [`Event::Resync`] in each room that has sockets here. The fan-out calls it once it is
    /// subscribed to Redis again, since other replicas' events sent meanwhile never arrive.
    pub fn resync_all(&self) {
        let rooms: Vec<Uuid> = self.lock().keys().copied().collect();
        metrics::counter!("chat_hub_resyncs_total").increment(rooms.len() as u64);
        for room_id in rooms {
            self.deliver_local(Event::Resync { room_id });
        }
    }

    /// How many sockets `user_id` has open in `room_id` on this replica.
    pub fn sockets_of(&self, room_id: Uuid, user_id: Uuid) -> usize {
        self.lock().get(&room_id).map_or(0, |subs| subs.iter().filter(|s| s.user_id == user_id).count())
    }

    /// The members with a socket open in `room_id` on this replica.
    pub fn present(&self, room_id: Uuid) -> Vec<Uuid> {
        let mut users: Vec<Uuid> = self.lock().get(&room_id).map(|subs| subs.iter().map(|s| s.user_id).collect()).unwrap_or_default();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Counts `subscription`'s user as present in its room and returns the other members
    /// present on this replica. The user's first socket there publishes [`Event::Join`]; when
    /// their last one is dropped, [`Event::Leave`] follows. Idempotent per subscription.
    pub fn enter(&self, subscription: &mut Subscription, nickname: Option<String>) -> Vec<Presence> {
        let (room_id, user_id) = (subscription.room_id, subscription.user_id);
        if subscription.present {
            return self.others_present(room_id, user_id);
        }
        subscription.present = true;
        let (first, others) = {
            let mut presence = self.lock_presence();
            let members = presence.entry(room_id).or_default();
            let member = members.entry(user_id).or_insert_with(|| Member { sockets: 0, nickname: None, typed_at: None });
            member.sockets += 1;
            if nickname.is_some() {
                member.nickname.clone_from(&nickname);
            }
            let first = member.sockets == 1;
            (first, Self::presences(room_id, members, user_id))
        };
        if first {
            self.publish(Event::Join(Presence { room_id, user_id, nickname }));
        }
        others
    }

    /// The members other than `user_id` present in `room_id` on this replica, by user id.
    pub fn others_present(&self, room_id: Uuid, user_id: Uuid) -> Vec<Presence> {
        self.lock_presence().get(&room_id).map(|members| Self::presences(room_id, members, user_id)).unwrap_or_default()
    }

    /// Whether `user_id`'s typing in `room_id` may be relayed at `now`: at most once per
    /// `interval` per member on this replica, whichever of their sockets it comes from.
    pub fn may_relay_typing(&self, room_id: Uuid, user_id: Uuid, now: Instant, interval: Duration) -> bool {
        let mut presence = self.lock_presence();
        let Some(member) = presence.get_mut(&room_id).and_then(|m| m.get_mut(&user_id)) else { return false };
        if member.typed_at.is_some_and(|at| now.saturating_duration_since(at) < interval) {
            return false;
        }
        member.typed_at = Some(now);
        true
    }

    /// The display name `user_id` entered `room_id` with on this replica, if known.
    pub fn nickname(&self, room_id: Uuid, user_id: Uuid) -> Option<String> {
        self.lock_presence().get(&room_id)?.get(&user_id)?.nickname.clone()
    }

    fn presences(room_id: Uuid, members: &HashMap<Uuid, Member>, except: Uuid) -> Vec<Presence> {
        let mut others: Vec<Presence> = members
            .iter()
            .filter(|(id, _)| **id != except)
            .map(|(id, m)| Presence { room_id, user_id: *id, nickname: m.nickname.clone() })
            .collect();
        others.sort_unstable_by_key(|p| p.user_id);
        others
    }

    /// Uncounts one present socket; publishes [`Event::Leave`] when it was the member's last.
    fn exit(&self, room_id: Uuid, user_id: Uuid) {
        let left = {
            let mut presence = self.lock_presence();
            let Some(members) = presence.get_mut(&room_id) else { return };
            let Some(member) = members.get_mut(&user_id) else { return };
            member.sockets -= 1;
            let left = (member.sockets == 0).then(|| members.remove(&user_id)).flatten();
            if members.is_empty() {
                presence.remove(&room_id);
            }
            left
        };
        if let Some(member) = left {
            self.publish(Event::Leave(Presence { room_id, user_id, nickname: member.nickname }));
        }
    }

    fn unsubscribe(&self, room_id: Uuid, id: u64) {
        let mut rooms = self.lock();
        if let Some(subscribers) = rooms.get_mut(&room_id) {
            subscribers.retain(|s| s.id != id);
            if subscribers.is_empty() {
                rooms.remove(&room_id);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<Subscriber>>> {
        // A panic while holding the lock leaves the map consistent (every change is one call).
        self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_presence(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, HashMap<Uuid, Member>>> {
        self.presence.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A socket's queue of its room's events; leaving the hub when dropped.
pub struct Subscription {
    hub: std::sync::Weak<Hub>,
    /// The room.
    pub room_id: Uuid,
    /// Whose socket it is.
    pub user_id: Uuid,
    id: u64,
    rx: mpsc::Receiver<Arc<Event>>,
    overflowed: Arc<AtomicBool>,
    /// Counted in the room's presence ([`Hub::enter`]).
    present: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("room_id", &self.room_id).field("id", &self.id).finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event; `None` once the hub cut this socket off (see [`Self::overflowed`]) or
    /// shut down, after every queued event was taken.
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        self.rx.recv().await
    }

    /// Whether the queue filled with a message: the socket must close with 4008.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        metrics::gauge!("chat_sockets").decrement(1.0);
        if let Some(hub) = self.hub.upgrade() {
            // Out of the room first: a socket is not told that its own member left.
            hub.unsubscribe(self.room_id, self.id);
            if self.present {
                hub.exit(self.room_id, self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence_events(sub: &mut Subscription) -> Vec<(bool, Uuid)> {
        let mut events = Vec::new();
        while let Ok(event) = sub.rx.try_recv() {
            match &*event {
                Event::Join(p) => events.push((true, p.user_id)),
                Event::Leave(p) => events.push((false, p.user_id)),
                _ => {}
            }
        }
        events
    }

    #[test]
    fn a_member_joins_with_the_first_socket_and_leaves_with_the_last() {
        let hub = Hub::new(16);
        let (room, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut watcher = hub.subscribe(room, a);
        assert!(hub.enter(&mut watcher, Some("에이".into())).is_empty());
        let mut b1 = hub.subscribe(room, b);
        let others = hub.enter(&mut b1, Some("비".into()));
        assert_eq!(others, [Presence { room_id: room, user_id: a, nickname: Some("에이".into()) }]);
        let mut b2 = hub.subscribe(room, b);
        hub.enter(&mut b2, None);
        assert_eq!(hub.nickname(room, b).as_deref(), Some("비"), "a socket without a name keeps the member's");
        drop(b1);
        assert_eq!(presence_events(&mut watcher), [(true, a), (true, b)], "b joined once, has not left");
        drop(b2);
        assert_eq!(presence_events(&mut watcher), [(false, b)]);
        assert!(hub.others_present(room, a).is_empty());
        drop(watcher);
        assert!(hub.lock_presence().is_empty() && hub.lock().is_empty(), "nothing left behind");
    }

    #[test]
    fn typing_is_relayed_at_most_once_per_interval_per_member() {
        let hub = Hub::new(16);
        let (room, a) = (Uuid::now_v7(), Uuid::now_v7());
        let now = Instant::now();
        let second = Duration::from_secs(1);
        assert!(!hub.may_relay_typing(room, a, now, second), "not present");
        let mut s1 = hub.subscribe(room, a);
        let mut s2 = hub.subscribe(room, a);
        hub.enter(&mut s1, None);
        hub.enter(&mut s2, None);
        assert!(hub.may_relay_typing(room, a, now, second));
        assert!(!hub.may_relay_typing(room, a, now + Duration::from_millis(999), second), "the other socket shares the limit");
        assert!(hub.may_relay_typing(room, a, now + second, second));
    }

    #[test]
    fn a_full_queue_cuts_the_socket_off_after_what_it_holds_and_ephemeral_events_give_way_first() {
        let hub = Hub::new(8);
        let room = Uuid::now_v7();
        let mut sub = hub.subscribe(room, Uuid::now_v7());
        let typing = || Event::Typing { room_id: room, user_id: Uuid::now_v7(), nickname: None, expires_in_ms: 1 };
        let closed = || Event::Closed { room_id: room };
        for _ in 0..7 {
            hub.deliver_local(closed());
        }
        hub.deliver_local(typing());
        hub.deliver_local(closed());
        assert!(!sub.overflowed(), "the typing event made way for the durable one");
        hub.deliver_local(closed());
        assert!(sub.overflowed());
        let mut held = Vec::new();
        while let Ok(event) = sub.rx.try_recv() {
            held.push(event.is_durable());
        }
        assert_eq!(held, [true; 8]);
        hub.deliver_local(closed());
        assert!(sub.rx.try_recv().is_err(), "cut off: nothing more");
    }
}
