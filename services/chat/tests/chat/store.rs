//! The store contract, run against both backends: SQLite (embedded) and PostgreSQL (the server
//! `make test` starts).

use std::{collections::HashSet, sync::Arc};

use chat::store::{self, Appended, Marked, MessageRecord, NewMessage, RoomRecord, Store, StoreError, Window};
use chrono::{DateTime, Duration, TimeZone, Utc};
use couple_common::{
    db::PoolSettings,
    test_util::{Backend, TestDatabase},
};
use rstest::rstest;
use uuid::Uuid;

/// A migrated, empty store over a throwaway database on `backend`.
async fn open(backend: Backend) -> Option<(Arc<dyn Store>, TestDatabase)> {
    let db = TestDatabase::create(backend).await?;
    let store = store::connect(db.url(), PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, db))
}

fn at(second: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + Duration::seconds(second)
}

fn room_at(couple_id: Uuid, name: &str, is_default: bool, second: i64) -> RoomRecord {
    RoomRecord {
        id: Uuid::now_v7(),
        couple_id,
        name: name.into(),
        is_default,
        created_by: (!is_default).then(Uuid::now_v7),
        created_at: at(second),
        last_seq: 0,
    }
}

/// A stored room of `couple_id`.
async fn room(store: &Arc<dyn Store>, couple_id: Uuid, name: &str) -> RoomRecord {
    let room = room_at(couple_id, name, false, 0);
    store.create_room(&room).await.unwrap();
    room
}

fn msg(room_id: Uuid, sender_id: Uuid, client_id: Option<&str>, text: &str) -> NewMessage {
    NewMessage {
        id: Uuid::now_v7(),
        room_id,
        sender_id,
        nickname: Some("별".into()),
        message: text.into(),
        parent_id: None,
        client_id: client_id.map(Into::into),
        created_at: at(60),
    }
}

/// `(room, seq)` of each result, and whether it is new.
fn placed(results: &[Appended]) -> Vec<(Uuid, i64, bool)> {
    results.iter().map(|r| (r.record().room_id, r.record().seq, matches!(r, Appended::New(_)))).collect()
}

fn seqs(messages: &[MessageRecord]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

async fn all(store: &Arc<dyn Store>, room_id: Uuid) -> Vec<MessageRecord> {
    store.messages(room_id, Window::After(0), usize::MAX).await.unwrap()
}

/// How many rows `sql` counts, straight from the database.
async fn count(db: &TestDatabase, sql: &str) -> i64 {
    if db.url().starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    }
}

#[rstest]
#[tokio::test]
async fn seqs_start_at_one_per_room_and_stay_gap_free_across_batches(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let couple = Uuid::now_v7();
    let (a, b) = (room(&store, couple, "a").await, room(&store, couple, "b").await);
    let me = Uuid::now_v7();

    let first = store.append(&[msg(a.id, me, None, "1"), msg(a.id, me, None, "2"), msg(b.id, me, None, "3")]).await.unwrap();
    assert_eq!(placed(&first), [(a.id, 1, true), (a.id, 2, true), (b.id, 1, true)]);
    let second = store.append(&[msg(b.id, me, None, "4"), msg(a.id, me, None, "5")]).await.unwrap();
    assert_eq!(placed(&second), [(b.id, 2, true), (a.id, 3, true)]);
    let third = store.append(&[msg(a.id, me, Some("c-1"), "6")]).await.unwrap();
    assert_eq!(placed(&third), [(a.id, 4, true)]);
    assert!(store.append(&[]).await.unwrap().is_empty());

    let stored = all(&store, a.id).await;
    assert_eq!(seqs(&stored), [1, 2, 3, 4]);
    assert_eq!(stored.iter().map(|m| m.message.as_str()).collect::<Vec<_>>(), ["1", "2", "5", "6"]);
    assert_eq!(&stored[3], third[0].record(), "what append returns is what is stored");
    assert_eq!(seqs(&all(&store, b.id).await), [1, 2]);
    assert_eq!(store.room(a.id).await.unwrap().unwrap().last_seq, 4);
    assert_eq!(store.room(b.id).await.unwrap().unwrap().last_seq, 2);
}

#[rstest]
#[tokio::test]
async fn a_repeated_client_id_returns_the_stored_message_and_burns_no_seq(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, db)) = open(backend).await else { return };
    let couple = Uuid::now_v7();
    let (a, b) = (room(&store, couple, "a").await, room(&store, couple, "b").await);
    let (me, partner) = (Uuid::now_v7(), Uuid::now_v7());

    // Within one batch.
    let batch = [msg(a.id, me, Some("x"), "first"), msg(a.id, me, Some("y"), "second"), msg(a.id, me, Some("x"), "resent")];
    let results = store.append(&batch).await.unwrap();
    assert_eq!(placed(&results), [(a.id, 1, true), (a.id, 2, true), (a.id, 1, false)]);
    assert_eq!(results[2].record(), results[0].record(), "the repeat is the first message, unchanged");

    // Across batches, and the same key by another sender or in another room is a new message.
    let batch = [
        msg(a.id, me, Some("x"), "again"),
        msg(a.id, partner, Some("x"), "partner's"),
        msg(b.id, me, Some("x"), "other room"),
        msg(a.id, me, Some("z"), "third"),
    ];
    let results = store.append(&batch).await.unwrap();
    assert_eq!(placed(&results), [(a.id, 1, false), (a.id, 3, true), (b.id, 1, true), (a.id, 4, true)]);
    assert_eq!(results[0].record().message, "first");
    assert_eq!(results[0].record().id, batch_id(&store, a.id, 1).await);

    assert_eq!(seqs(&all(&store, a.id).await), [1, 2, 3, 4], "no seq was burned");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM chat_messages").await, 5);
}

async fn batch_id(store: &Arc<dyn Store>, room_id: Uuid, seq: i64) -> Uuid {
    all(store, room_id).await.into_iter().find(|m| m.seq == seq).unwrap().id
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_number_every_message_once_without_deadlocks(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let couple = Uuid::now_v7();
    let (a, b) = (room(&store, couple, "a").await, room(&store, couple, "b").await);
    const TASKS: usize = 12;
    const BATCHES: usize = 8;

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let sender = Uuid::now_v7();
            let mut ids = Vec::new();
            for n in 0..BATCHES {
                // Every third task writes to both rooms, half of them in the opposite order; each
                // batch also resends the previous batch's first key, which must not take a seq.
                let rooms = match task % 3 {
                    0 => vec![a.id, b.id],
                    1 => vec![b.id, a.id],
                    _ => vec![a.id, a.id],
                };
                let key = format!("t{task}-{n}");
                let mut batch = vec![msg(rooms[0], sender, Some(&key), "x"), msg(rooms[1], sender, None, "y")];
                if n > 0 {
                    batch.push(msg(rooms[0], sender, Some(&format!("t{task}-{}", n - 1)), "resent"));
                }
                let results = store.append(&batch).await.unwrap();
                assert_eq!(results.len(), batch.len());
                assert!(n == 0 || matches!(results[2], Appended::Existing(_)));
                ids.extend(results.iter().filter(|r| matches!(r, Appended::New(_))).map(|r| r.record().id));
            }
            ids
        }));
    }
    let mut committed = HashSet::new();
    for task in tasks {
        committed.extend(tokio::time::timeout(std::time::Duration::from_secs(60), task).await.expect("no deadlock").unwrap());
    }
    assert_eq!(committed.len(), TASKS * BATCHES * 2);

    let (in_a, in_b) = (all(&store, a.id).await, all(&store, b.id).await);
    assert_eq!(in_a.len() + in_b.len(), committed.len());
    assert_eq!(seqs(&in_a), (1..=in_a.len() as i64).collect::<Vec<_>>());
    assert_eq!(seqs(&in_b), (1..=in_b.len() as i64).collect::<Vec<_>>());
    assert!(in_a.iter().chain(&in_b).all(|m| committed.contains(&m.id)));
    assert_eq!(store.room(a.id).await.unwrap().unwrap().last_seq, in_a.len() as i64);
    assert_eq!(store.room(b.id).await.unwrap().unwrap().last_seq, in_b.len() as i64);
}

#[rstest]
#[tokio::test]
async fn a_failing_batch_commits_none_of_its_messages(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, db)) = open(backend).await else { return };
    let a = room(&store, Uuid::now_v7(), "a").await;
    let me = Uuid::now_v7();
    store.append(&[msg(a.id, me, None, "before")]).await.unwrap();

    let gone = Uuid::now_v7();
    let err = store.append(&[msg(a.id, me, Some("k"), "kept?"), msg(gone, me, None, "nowhere")]).await.unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    // The same id twice: the second insert fails after the first went through in the transaction.
    let twice = msg(a.id, me, None, "twice");
    assert!(store.append(&[twice.clone(), twice]).await.is_err());

    assert_eq!(seqs(&all(&store, a.id).await), [1]);
    assert_eq!(store.room(a.id).await.unwrap().unwrap().last_seq, 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM chat_messages").await, 1);
    // The key of the failed batch is free.
    let retried = store.append(&[msg(a.id, me, Some("k"), "kept?")]).await.unwrap();
    assert_eq!(placed(&retried), [(a.id, 2, true)]);
}

#[rstest]
#[tokio::test]
async fn windows_page_a_room_oldest_first(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let couple = Uuid::now_v7();
    let (a, b) = (room(&store, couple, "a").await, room(&store, couple, "b").await);
    let me = Uuid::now_v7();
    let batch: Vec<NewMessage> = (1..=10).map(|n| msg(a.id, me, None, &n.to_string())).collect();
    store.append(&batch).await.unwrap();
    let other = store.append(&[msg(b.id, me, None, "elsewhere")]).await.unwrap();

    let window = |w, limit| {
        let store = store.clone();
        async move { seqs(&store.messages(a.id, w, limit).await.unwrap()) }
    };
    assert_eq!(window(Window::Latest, 3).await, [8, 9, 10]);
    assert_eq!(window(Window::Latest, 50).await, (1..=10).collect::<Vec<_>>());
    assert_eq!(window(Window::Before(8), 3).await, [5, 6, 7]);
    assert_eq!(window(Window::Before(3), 5).await, [1, 2]);
    assert_eq!(window(Window::Before(1), 5).await, Vec::<i64>::new());
    assert_eq!(window(Window::After(7), 2).await, [8, 9]);
    assert_eq!(window(Window::After(8), 5).await, [9, 10]);
    assert_eq!(window(Window::After(10), 5).await, Vec::<i64>::new());
    assert_eq!(window(Window::After(0), 1).await, [1]);
    assert_eq!(seqs(&store.messages(b.id, Window::Latest, 50).await.unwrap()), [1]);

    let third = store.message(a.id, batch[2].id).await.unwrap().unwrap();
    assert_eq!((third.seq, third.message.as_str(), third.nickname.as_deref()), (3, "3", Some("별")));
    assert_eq!(store.message(a.id, other[0].record().id).await.unwrap(), None, "a message of another room");
    assert_eq!(store.message(a.id, Uuid::now_v7()).await.unwrap(), None);
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uses_get_one_default_room(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let couple = Uuid::now_v7();
    let calls: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.default_room(&room_at(couple, &format!("default {n}"), true, n)).await.unwrap() })
        })
        .collect();
    let mut ids = HashSet::new();
    for call in calls {
        let room = call.await.unwrap();
        assert!(room.is_default && room.couple_id == couple && room.created_by.is_none());
        ids.insert(room.id);
    }
    assert_eq!(ids.len(), 1, "every call got the same room");
    assert_eq!(store.count_rooms(couple).await.unwrap(), 1);

    let again = store.default_room(&room_at(couple, "later", true, 99)).await.unwrap();
    assert_eq!(Some(&again.id), ids.iter().next());
    assert!(matches!(store.create_room(&room_at(couple, "second default", true, 5)).await, Err(StoreError::Conflict)));
    store.create_room(&room_at(couple, "not default", false, 5)).await.unwrap();
    assert_eq!(store.count_rooms(couple).await.unwrap(), 2);
    assert_eq!(store.count_rooms(Uuid::now_v7()).await.unwrap(), 0);
    assert_ne!(store.default_room(&room_at(Uuid::now_v7(), "theirs", true, 0)).await.unwrap().id, again.id);
}

#[rstest]
#[tokio::test]
async fn the_room_list_puts_the_default_first_and_counts_what_each_member_has_not_read(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((store, _db)) = open(backend).await else { return };
    let couple = Uuid::now_v7();
    let (me, partner) = (Uuid::now_v7(), Uuid::now_v7());
    let older = room_at(couple, "older", false, 1);
    let newer = room_at(couple, "newer", false, 2);
    store.create_room(&newer).await.unwrap();
    store.create_room(&older).await.unwrap();
    let default = store.default_room(&room_at(couple, "우리 둘", true, 3)).await.unwrap();
    room(&store, Uuid::now_v7(), "another couple's").await;

    let mine = store.append(&[msg(older.id, me, None, "m1"), msg(older.id, me, None, "m2")]).await.unwrap();
    let theirs = store
        .append(&[msg(older.id, partner, None, "p1"), msg(older.id, partner, None, "p2"), msg(default.id, partner, None, "p3")])
        .await
        .unwrap();

    let list = store.rooms(couple, me).await.unwrap();
    let names: Vec<&str> = list.iter().map(|v| v.room.name.as_str()).collect();
    assert_eq!(names, ["우리 둘", "older", "newer"]);
    let counts: Vec<(i64, i64)> = list.iter().map(|v| (v.unread, v.last_read_seq)).collect();
    assert_eq!(counts, [(1, 0), (2, 0), (0, 0)], "only others' messages are unread");
    assert_eq!(list[0].last_message.as_ref(), Some(theirs[2].record()));
    assert_eq!(list[1].last_message.as_ref(), Some(theirs[1].record()));
    assert_eq!(list[2].last_message, None);
    assert_eq!(list[1].room.last_seq, 4);

    let partners: Vec<i64> = store.rooms(couple, partner).await.unwrap().iter().map(|v| v.unread).collect();
    assert_eq!(partners, [0, 2, 0]);

    // Reading up to the partner's first message leaves their second unread.
    store.mark_read(older.id, me, 3, theirs[0].record().id, at(100)).await.unwrap();
    let list = store.rooms(couple, me).await.unwrap();
    assert_eq!((list[1].unread, list[1].last_read_seq), (1, 3));
    store.mark_read(older.id, partner, 2, mine[1].record().id, at(100)).await.unwrap();
    assert_eq!(store.rooms(couple, partner).await.unwrap()[1].unread, 0);
    assert!(store.rooms(Uuid::now_v7(), me).await.unwrap().is_empty());
}

#[rstest]
#[tokio::test]
async fn read_markers_never_move_backwards(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let a = room(&store, Uuid::now_v7(), "a").await;
    let (me, partner) = (Uuid::now_v7(), Uuid::now_v7());
    let sent = store.append(&(0..8).map(|n| msg(a.id, partner, None, &n.to_string())).collect::<Vec<_>>()).await.unwrap();
    let id = |seq: usize| sent[seq - 1].record().id;

    let first = store.mark_read(a.id, me, 5, id(5), at(10)).await.unwrap();
    assert!(first.moved, "a first marker is a move");
    let marker = first.marker;
    assert_eq!(
        (marker.room_id, marker.user_id, marker.last_read_seq, marker.last_read_id, marker.updated_at),
        (a.id, me, 5, id(5), at(10))
    );
    let stayed = store.mark_read(a.id, me, 3, id(3), at(20)).await.unwrap();
    assert_eq!(stayed, Marked { marker: marker.clone(), moved: false }, "an earlier message leaves the marker (and its time) as it was");
    let same = store.mark_read(a.id, me, 5, id(5), at(30)).await.unwrap();
    assert_eq!(same, Marked { marker, moved: false }, "the same one too");
    let later = store.mark_read(a.id, me, 7, id(7), at(40)).await.unwrap();
    assert!(later.moved);
    let moved = later.marker;
    assert_eq!((moved.last_read_seq, moved.last_read_id, moved.updated_at), (7, id(7), at(40)));

    let theirs = store.mark_read(a.id, partner, 8, id(8), at(50)).await.unwrap().marker;
    let mut expected = vec![moved, theirs];
    expected.sort_by_key(|m| m.user_id);
    let mut markers = store.read_markers(a.id).await.unwrap();
    markers.sort_by_key(|m| m.user_id);
    assert_eq!(markers, expected);
    assert!(store.read_markers(Uuid::now_v7()).await.unwrap().is_empty());
}

#[rstest]
#[tokio::test]
async fn erasing_a_user_or_a_couple_deletes_what_is_theirs_and_can_be_repeated(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((store, db)) = open(backend).await else { return };
    let (couple, other_couple) = (Uuid::now_v7(), Uuid::now_v7());
    let (me, partner, stranger) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let default = store.default_room(&room_at(couple, "우리 둘", true, 0)).await.unwrap();
    let a = room(&store, couple, "a").await;
    let theirs = room(&store, other_couple, "theirs").await;
    for (room, sender, reader) in [(default.id, me, partner), (a.id, partner, me), (theirs.id, stranger, stranger)] {
        let sent = store.append(&[msg(room, sender, Some("k"), "hello")]).await.unwrap();
        store.mark_read(room, reader, 1, sent[0].record().id, at(1)).await.unwrap();
        store.mark_read(room, sender, 1, sent[0].record().id, at(1)).await.unwrap();
    }

    store.erase_user(me).await.unwrap();
    store.erase_user(me).await.unwrap();
    assert!(store.read_markers(a.id).await.unwrap().iter().all(|m| m.user_id != me));
    assert_eq!(store.read_markers(a.id).await.unwrap().len(), 1, "the partner's marker stays");
    assert_eq!(all(&store, default.id).await.len(), 1, "what the user wrote stays with the couple");

    let mut erased = store.erase_couple(couple).await.unwrap();
    erased.sort();
    let mut expected = vec![default.id, a.id];
    expected.sort();
    assert_eq!(erased, expected);
    assert!(store.erase_couple(couple).await.unwrap().is_empty(), "a second erase finds nothing");
    assert_eq!(store.room(a.id).await.unwrap(), None);
    assert_eq!(store.count_rooms(couple).await.unwrap(), 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM chat_messages").await, 1, "only the other couple's message is left");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM chat_reads").await, 1);
    assert_eq!(all(&store, theirs.id).await.len(), 1);

    // A new default room can be made after the erase.
    let fresh = store.default_room(&room_at(couple, "우리 둘", true, 9)).await.unwrap();
    assert_ne!(fresh.id, default.id);
}
