//! The store contract, run against both backends: SQLite (embedded) and PostgreSQL (the server
//! `make test` starts).

use std::sync::Arc;

use chrono::{Duration, NaiveDate, Utc};
use couple_common::{
    db::PoolSettings,
    test_util::{Backend, TestDatabase},
};
use rstest::rstest;
use user_couple::store::{
    self, CoupleRecord, Deletion, EraseIn, ErasureKind, ErasureTask, NewRefreshToken, NewUser, ProfileUpdate, Rotation, Store, StoreError,
};
use uuid::Uuid;

/// A migrated store over a throwaway database on `backend`; `None` (the test skips) when
/// PostgreSQL is asked for and not running. The database goes with the returned guard.
async fn open(backend: Backend) -> Option<(Arc<dyn Store>, TestDatabase)> {
    let db = TestDatabase::create(backend).await?;
    let store = store::connect(db.url(), PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, db))
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        email: email.to_owned(),
        email_key: email.to_lowercase(),
        password_hash: "$argon2id$fake".into(),
        name: "Mina".into(),
        gender: "F",
        birth: NaiveDate::from_ymd_opt(1998, 4, 12).unwrap(),
        fcm_code: None,
        send_time: Some("21:00".into()),
        role: "user",
        now: Utc::now(),
    }
}

fn couple() -> CoupleRecord {
    CoupleRecord {
        id: Uuid::now_v7(),
        name: "Us".into(),
        start_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        created_at: Utc::now(),
        ended_at: None,
    }
}

fn refresh(user_id: Uuid, family_id: Uuid, hash: &str, expires_in: Duration) -> NewRefreshToken {
    let now = Utc::now();
    NewRefreshToken { id: Uuid::now_v7(), family_id, user_id, token_hash: hash.into(), now, expires_at: now + expires_in }
}

#[rstest]
#[tokio::test]
async fn users_round_trip(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let created = store.create_user(new_user("Mina@Example.com")).await.unwrap();
    assert_eq!(created.email, "Mina@Example.com");
    assert_eq!(created.token_version, 0);
    assert_eq!(created.couple_id, None);
    let by_id = store.user_by_id(created.id).await.unwrap().unwrap();
    assert_eq!(by_id.birth, NaiveDate::from_ymd_opt(1998, 4, 12).unwrap());
    assert_eq!(by_id.send_time.as_deref(), Some("21:00"));
    let by_email = store.user_by_email("mina@example.com").await.unwrap().unwrap();
    assert_eq!(by_email.id, created.id);
    assert!(store.user_by_id(Uuid::now_v7()).await.unwrap().is_none());
}

#[rstest]
#[tokio::test]
async fn emails_are_unique_case_insensitively(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    store.create_user(new_user("a@example.com")).await.unwrap();
    let err = store.create_user(new_user("A@EXAMPLE.COM")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
}

#[rstest]
#[tokio::test]
async fn profile_updates_change_only_given_fields(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let user = store.create_user(new_user("p@example.com")).await.unwrap();
    let update = ProfileUpdate { name: Some("Joon".into()), fcm_code: None, send_time: None };
    let updated = store.update_profile(user.id, update, Utc::now()).await.unwrap().unwrap();
    assert_eq!(updated.name, "Joon");
    assert_eq!(updated.send_time.as_deref(), Some("21:00"));
}

#[rstest]
#[tokio::test]
async fn password_changes_bump_the_token_version(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let user = store.create_user(new_user("pw@example.com")).await.unwrap();
    assert_eq!(store.set_password(user.id, "$argon2id$new", Utc::now()).await.unwrap(), 1);
    assert_eq!(store.bump_token_version(user.id).await.unwrap(), 2);
    let stored = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!((stored.password_hash.as_str(), stored.token_version), ("$argon2id$new", 2));
}

#[rstest]
#[tokio::test]
async fn pairing_requires_both_users_single(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let a = store.create_user(new_user("a@example.com")).await.unwrap();
    let b = store.create_user(new_user("b@example.com")).await.unwrap();
    let c = store.create_user(new_user("c@example.com")).await.unwrap();
    let first = couple();
    store.create_couple(first.clone(), a.id, b.id).await.unwrap();
    let members = store.couple_members(first.id).await.unwrap();
    assert_eq!(members.iter().map(|m| m.id).collect::<Vec<_>>(), vec![a.id, b.id]);
    // c cannot pair with a, who is taken; nothing of the failed attempt remains.
    let second = couple();
    assert!(matches!(store.create_couple(second.clone(), a.id, c.id).await, Err(StoreError::Conflict)));
    assert!(store.couple_by_id(second.id).await.unwrap().is_none());
    assert_eq!(store.user_by_id(c.id).await.unwrap().unwrap().couple_id, None);
    let renamed = store.update_couple(first.id, Some("Renamed".into()), None).await.unwrap().unwrap();
    assert_eq!((renamed.name.as_str(), renamed.start_date), ("Renamed", first.start_date));
}

#[rstest]
#[tokio::test]
async fn breaking_up_ends_the_couple_and_bumps_both_versions(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let a = store.create_user(new_user("a@example.com")).await.unwrap();
    let b = store.create_user(new_user("b@example.com")).await.unwrap();
    let c = couple();
    store.create_couple(c.clone(), a.id, b.id).await.unwrap();
    let mut left = store.break_up(c.id, Utc::now()).await.unwrap();
    left.sort();
    let mut expected = vec![(a.id, 1), (b.id, 1)];
    expected.sort();
    assert_eq!(left, expected);
    assert!(store.couple_by_id(c.id).await.unwrap().unwrap().ended_at.is_some());
    assert!(store.couple_members(c.id).await.unwrap().is_empty());
    assert!(store.update_couple(c.id, Some("x".into()), None).await.unwrap().is_none(), "an ended couple cannot change");
    // Both are free to pair again.
    store.create_couple(couple(), a.id, b.id).await.unwrap();
}

#[rstest]
#[tokio::test]
async fn deleting_a_coupled_user_frees_the_partner(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let a = store.create_user(new_user("a@example.com")).await.unwrap();
    let b = store.create_user(new_user("b@example.com")).await.unwrap();
    let c = couple();
    store.create_couple(c.clone(), a.id, b.id).await.unwrap();
    store.insert_refresh_token(refresh(a.id, Uuid::now_v7(), "h-a", Duration::days(1))).await.unwrap();
    let deletion = store.delete_user(a.id, Utc::now(), EraseIn::default()).await.unwrap();
    assert_eq!(deletion, Deletion { partner: Some((b.id, 1)), erased_couples: vec![] }, "the partner still has an account");
    assert!(store.user_by_id(a.id).await.unwrap().is_none());
    assert_eq!(store.user_by_id(b.id).await.unwrap().unwrap().couple_id, None);
    assert!(store.couple_by_id(c.id).await.unwrap().unwrap().ended_at.is_some());
    let now = Utc::now();
    assert_eq!(store.rotate_refresh_token("h-a", "h-a2", now, now + Duration::days(1)).await.unwrap(), Rotation::Invalid);
    // Deleting a single user has no partner to report; the last member of the couple gone, the
    // couple goes too.
    assert_eq!(
        store.delete_user(b.id, Utc::now(), EraseIn::default()).await.unwrap(),
        Deletion { partner: None, erased_couples: vec![c.id] }
    );
    assert!(store.couple_by_id(c.id).await.unwrap().is_none());
}

/// The services named in the couple-erasure tests.
const ERASE_IN: EraseIn<'static> = EraseIn { users: &["question-answer"], couples: &["schedule-meeting", "chat"] };

#[rstest]
#[tokio::test]
async fn a_couple_is_erased_once_no_former_member_has_an_account(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let a = store.create_user(new_user("a@example.com")).await.unwrap();
    let b = store.create_user(new_user("b@example.com")).await.unwrap();
    let c = store.create_user(new_user("c@example.com")).await.unwrap();
    let (first, second) = (couple(), couple());
    store.create_couple(first.clone(), a.id, b.id).await.unwrap();
    store.break_up(first.id, Utc::now()).await.unwrap();
    // B moves on with C: B is a former member of the first couple and a member of the second.
    store.create_couple(second.clone(), b.id, c.id).await.unwrap();
    let couples_queued = async |service| store.pending_erasures(ErasureKind::Couple, service).await.unwrap();

    let deletion = store.delete_user(a.id, Utc::now(), ERASE_IN).await.unwrap();
    assert_eq!(deletion, Deletion::default(), "B, a former member, still has an account");
    assert_eq!(couples_queued("schedule-meeting").await, 0);
    assert!(store.couple_by_id(first.id).await.unwrap().is_some());

    let deletion = store.delete_user(b.id, Utc::now(), ERASE_IN).await.unwrap();
    assert_eq!(deletion, Deletion { partner: Some((c.id, 1)), erased_couples: vec![first.id] }, "C still has an account of the second");
    assert!(store.couple_by_id(first.id).await.unwrap().is_none(), "gone here too");
    assert!(store.couple_by_id(second.id).await.unwrap().unwrap().ended_at.is_some());
    let now = Utc::now() + Duration::seconds(1);
    let lease = now + Duration::seconds(60);
    for service in ["schedule-meeting", "chat"] {
        let claimed = store.claim_erasures(ErasureKind::Couple, service, now, lease, 10).await.unwrap();
        assert_eq!(claimed, [ErasureTask { kind: ErasureKind::Couple, id: first.id, service: service.into(), attempts: 1 }]);
    }
    assert_eq!(couples_queued("question-answer").await, 0, "user data only: no couple erasure");
    assert_eq!(store.pending_erasures(ErasureKind::User, "question-answer").await.unwrap(), 2, "A and B");
    assert_eq!(store.pending_erasures(ErasureKind::User, "schedule-meeting").await.unwrap(), 0);

    store.delete_user(c.id, Utc::now(), ERASE_IN).await.unwrap();
    assert_eq!(couples_queued("chat").await, 2, "the second couple now");
    // A repeated deletion queues nothing more.
    assert_eq!(store.delete_user(c.id, Utc::now(), ERASE_IN).await.unwrap(), Deletion::default());
    assert_eq!(couples_queued("chat").await, 2);
}

#[rstest]
#[tokio::test]
async fn partners_deleted_at_the_same_moment_erase_their_couple_once(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    for round in 0..5 {
        let a = store.create_user(new_user(&format!("a{round}@example.com"))).await.unwrap();
        let b = store.create_user(new_user(&format!("b{round}@example.com"))).await.unwrap();
        let c = couple();
        store.create_couple(c.clone(), a.id, b.id).await.unwrap();
        if round % 2 == 1 {
            store.break_up(c.id, Utc::now()).await.unwrap();
        }
        let delete = |id| {
            let store = store.clone();
            tokio::spawn(async move { store.delete_user(id, Utc::now(), ERASE_IN).await.unwrap() })
        };
        let (first, second) = (delete(a.id), delete(b.id));
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        let erased: Vec<_> = first.erased_couples.iter().chain(&second.erased_couples).collect();
        assert_eq!(erased, [&c.id], "exactly one of the two deletions erases the couple");
        assert!(store.couple_by_id(c.id).await.unwrap().is_none());
    }
    assert_eq!(store.pending_erasures(ErasureKind::Couple, "chat").await.unwrap(), 5);
}

#[rstest]
#[tokio::test]
async fn refresh_tokens_rotate_once_and_reuse_revokes_the_family(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let user = store.create_user(new_user("r@example.com")).await.unwrap();
    store.insert_refresh_token(refresh(user.id, Uuid::now_v7(), "h1", Duration::days(1))).await.unwrap();
    let now = Utc::now();
    let later = now + Duration::days(1);
    assert_eq!(store.rotate_refresh_token("h1", "h2", now, later).await.unwrap(), Rotation::Rotated { user_id: user.id });
    assert_eq!(store.rotate_refresh_token("h2", "h3", now, later).await.unwrap(), Rotation::Rotated { user_id: user.id });
    // h1 is spent: presenting it again revokes the family, so h3 no longer works either.
    assert_eq!(store.rotate_refresh_token("h1", "h4", now, later).await.unwrap(), Rotation::Reused);
    assert_eq!(store.rotate_refresh_token("h3", "h5", now, later).await.unwrap(), Rotation::Invalid);
    assert_eq!(store.rotate_refresh_token("unknown", "h6", now, later).await.unwrap(), Rotation::Invalid);
}

#[rstest]
#[tokio::test]
async fn expired_refresh_tokens_do_not_rotate(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let user = store.create_user(new_user("e@example.com")).await.unwrap();
    store.insert_refresh_token(refresh(user.id, Uuid::now_v7(), "old", Duration::seconds(-1))).await.unwrap();
    let now = Utc::now();
    assert_eq!(store.rotate_refresh_token("old", "new", now, now + Duration::days(1)).await.unwrap(), Rotation::Invalid);
    assert_eq!(store.rotate_refresh_token("new", "newer", now, now + Duration::days(1)).await.unwrap(), Rotation::Invalid);
}

#[rstest]
#[tokio::test]
async fn sessions_can_be_revoked_one_family_or_all(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let user = store.create_user(new_user("s@example.com")).await.unwrap();
    let other = store.create_user(new_user("o@example.com")).await.unwrap();
    for (owner, hash) in [(user.id, "f1"), (user.id, "f2"), (user.id, "f3"), (other.id, "g1")] {
        store.insert_refresh_token(refresh(owner, Uuid::now_v7(), hash, Duration::days(1))).await.unwrap();
    }
    let now = Utc::now();
    let later = now + Duration::days(1);
    // Someone else's token hash cannot be revoked through this user.
    store.revoke_session(user.id, "g1", now).await.unwrap();
    store.revoke_session(user.id, "f1", now).await.unwrap();
    assert_eq!(store.rotate_refresh_token("f1", "x1", now, later).await.unwrap(), Rotation::Invalid);
    assert!(matches!(store.rotate_refresh_token("f2", "x2", now, later).await.unwrap(), Rotation::Rotated { .. }));
    store.revoke_all_sessions(user.id, now).await.unwrap();
    assert_eq!(store.rotate_refresh_token("f3", "x3", now, later).await.unwrap(), Rotation::Invalid);
    assert_eq!(store.rotate_refresh_token("x2", "x4", now, later).await.unwrap(), Rotation::Invalid);
    assert!(matches!(store.rotate_refresh_token("g1", "y1", now, later).await.unwrap(), Rotation::Rotated { .. }));
}

#[rstest]
#[tokio::test]
async fn a_role_change_bumps_the_token_version(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let user = store.create_user(new_user("boss@example.com")).await.unwrap();
    assert_eq!(store.set_role(user.id, "admin", Utc::now()).await.unwrap(), Some(1));
    let stored = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!((stored.role.as_str(), stored.token_version), ("admin", 1));
    assert_eq!(store.set_role(user.id, "user", Utc::now()).await.unwrap(), Some(2));
    assert_eq!(store.user_by_id(user.id).await.unwrap().unwrap().role, "user");
    assert_eq!(store.set_role(Uuid::now_v7(), "admin", Utc::now()).await.unwrap(), None);
    assert!(store.set_role(user.id, "root", Utc::now()).await.is_err(), "the schema allows user and admin only");
}

#[rstest]
#[tokio::test]
async fn a_deletion_queues_one_erasure_per_service_and_claims_lease_them(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let gone = store.create_user(new_user("gone@example.com")).await.unwrap();
    let kept = store.create_user(new_user("kept@example.com")).await.unwrap();
    let now = Utc::now();
    let erase_in = EraseIn { users: &["question-answer", "chat"], couples: &[] };
    store.delete_user(gone.id, now, erase_in).await.unwrap();
    // Nothing queued for a user that did not exist, nor for a deletion without targets.
    store.delete_user(gone.id, now, erase_in).await.unwrap();
    store.delete_user(kept.id, now, EraseIn::default()).await.unwrap();
    let pending = async |service| store.pending_erasures(ErasureKind::User, service).await.unwrap();
    assert_eq!(pending("question-answer").await, 1);
    assert_eq!(pending("chat").await, 1);
    assert_eq!(pending("schedule-meeting").await, 0);

    let lease = now + Duration::seconds(60);
    let claim = async |at, lease| store.claim_erasures(ErasureKind::User, "chat", at, lease, 10).await.unwrap();
    assert_eq!(claim(now, lease).await, [ErasureTask { kind: ErasureKind::User, id: gone.id, service: "chat".into(), attempts: 1 }]);
    assert!(claim(now, lease).await.is_empty(), "a claimed row is leased");
    assert!(claim(now - Duration::seconds(1), lease).await.is_empty(), "nothing due earlier");
    assert!(store.claim_erasures(ErasureKind::Couple, "chat", now, lease, 10).await.unwrap().is_empty(), "a user is no couple");
    // A failed attempt is due again at its retry time, counting attempts.
    store.retry_erasure(ErasureKind::User, gone.id, "chat", now + Duration::seconds(5), "answered 503").await.unwrap();
    assert!(claim(now + Duration::seconds(4), lease).await.is_empty());
    let again = claim(now + Duration::seconds(5), lease + Duration::seconds(5)).await;
    assert_eq!(again.iter().map(|t| t.attempts).collect::<Vec<_>>(), [2]);
    store.complete_erasure(ErasureKind::User, gone.id, "chat").await.unwrap();
    assert_eq!(pending("chat").await, 0);
    assert!(claim(now + Duration::days(1), lease).await.is_empty());
    // The other service's row is untouched by all this.
    let other = store.claim_erasures(ErasureKind::User, "question-answer", now, lease, 10).await.unwrap();
    assert_eq!(other.iter().map(|t| (t.id, t.attempts)).collect::<Vec<_>>(), [(gone.id, 1)]);
}

#[rstest]
#[tokio::test]
async fn concurrent_claims_never_take_the_same_row(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let now = Utc::now();
    for i in 0..20 {
        let user = store.create_user(new_user(&format!("u{i}@example.com"))).await.unwrap();
        store.delete_user(user.id, now, EraseIn { users: &["chat"], couples: &[] }).await.unwrap();
    }
    let lease = now + Duration::seconds(60);
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_erasures(ErasureKind::User, "chat", now, lease, 8).await.unwrap() })
        })
        .collect();
    let mut claimed = Vec::new();
    for claim in claims {
        claimed.extend(claim.await.unwrap().into_iter().map(|t| t.id));
    }
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!((claimed.len(), total), (20, 20), "every row claimed exactly once");
}

/// Inserts a couple as the schema before recorded members had it: `ended` or with `members`
/// pointing at it.
macro_rules! insert_old_couple {
    ($pool:expr, $couple:expr, $ended:expr, $members:expr) => {{
        let (couple, ended, members): (&CoupleRecord, bool, [Uuid; 2]) = ($couple, $ended, $members);
        sqlx::query("INSERT INTO couples (id, name, start_date, created_by, created_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(couple.id)
            .bind(&couple.name)
            .bind(couple.start_date)
            .bind(members[0])
            .bind(couple.created_at)
            .bind(ended.then(Utc::now))
            .execute($pool)
            .await
            .unwrap();
        if !ended {
            sqlx::query("UPDATE users SET couple_id = $1 WHERE id IN ($2, $3)")
                .bind(couple.id)
                .bind(members[0])
                .bind(members[1])
                .execute($pool)
                .await
                .unwrap();
        }
    }};
}

#[rstest]
#[tokio::test]
async fn live_couples_get_their_members_recorded_and_earlier_ended_ones_are_never_erased(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(db) = TestDatabase::create(backend).await else { return };
    // The migrations from before members were recorded, as they were applied then.
    let dir = std::env::temp_dir().join(format!("uc-migrations-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(backend.pick("migrations/postgres", "migrations/sqlite"));
    for file in std::fs::read_dir(&source).unwrap().map(|f| f.unwrap().path()) {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0003" {
            std::fs::copy(&file, dir.join(name)).unwrap();
        }
    }
    let earlier = sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap();
    assert_eq!(earlier.iter().count(), 2);
    let store = store::connect(db.url(), PoolSettings::default()).await.unwrap();
    let users = ["a", "b", "c", "d"].map(|name| new_user(&format!("{name}@example.com")));
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let (ended, live) = (couple(), couple());
    match backend {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
            earlier.run(&pool).await.unwrap();
            for user in users {
                store.create_user(user).await.unwrap();
            }
            insert_old_couple!(&pool, &ended, true, [ids[0], ids[1]]);
            insert_old_couple!(&pool, &live, false, [ids[2], ids[3]]);
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            earlier.run(&pool).await.unwrap();
            for user in users {
                store.create_user(user).await.unwrap();
            }
            insert_old_couple!(&pool, &ended, true, [ids[0], ids[1]]);
            insert_old_couple!(&pool, &live, false, [ids[2], ids[3]]);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    store.migrate().await.unwrap();

    let delete = async |id| store.delete_user(id, Utc::now(), EraseIn { users: &[], couples: &["chat"] }).await.unwrap();
    assert_eq!(delete(ids[2]).await, Deletion { partner: Some((ids[3], 1)), erased_couples: vec![] });
    assert_eq!(delete(ids[3]).await, Deletion { partner: None, erased_couples: vec![live.id] }, "both members were recorded");
    // Who else was in the ended couple is not known, so it is kept rather than erased while that
    // partner may still have an account.
    assert_eq!(delete(ids[0]).await, Deletion::default());
    assert_eq!(delete(ids[1]).await, Deletion::default());
    assert!(store.couple_by_id(ended.id).await.unwrap().is_some());
    assert_eq!(store.pending_erasures(ErasureKind::Couple, "chat").await.unwrap(), 1);
}
