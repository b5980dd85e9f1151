//! The store contract, run against both backends: SQLite (embedded) and PostgreSQL (the server
//! `make test` starts).

use std::sync::Arc;

use chrono::{Duration, NaiveDate, Utc};
use couple_common::{
    db::PoolSettings,
    test_util::{Backend, TestDatabase},
};
use rstest::rstest;
use user_couple::store::{self, CoupleRecord, ErasureTask, NewRefreshToken, NewUser, ProfileUpdate, Rotation, Store, StoreError};
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
    let partner = store.delete_user(a.id, Utc::now(), &[]).await.unwrap();
    assert_eq!(partner, Some((b.id, 1)));
    assert!(store.user_by_id(a.id).await.unwrap().is_none());
    assert_eq!(store.user_by_id(b.id).await.unwrap().unwrap().couple_id, None);
    assert!(store.couple_by_id(c.id).await.unwrap().unwrap().ended_at.is_some());
    let now = Utc::now();
    assert_eq!(store.rotate_refresh_token("h-a", "h-a2", now, now + Duration::days(1)).await.unwrap(), Rotation::Invalid);
    // Deleting a single user has no partner to report.
    assert_eq!(store.delete_user(b.id, Utc::now(), &[]).await.unwrap(), None);
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
    store.delete_user(gone.id, now, &["question-answer", "chat"]).await.unwrap();
    // Nothing queued for a user that did not exist, nor for a deletion without targets.
    store.delete_user(gone.id, now, &["question-answer", "chat"]).await.unwrap();
    store.delete_user(kept.id, now, &[]).await.unwrap();
    assert_eq!(store.pending_erasures("question-answer").await.unwrap(), 1);
    assert_eq!(store.pending_erasures("chat").await.unwrap(), 1);
    assert_eq!(store.pending_erasures("schedule-meeting").await.unwrap(), 0);

    let lease = now + Duration::seconds(60);
    let claimed = store.claim_erasures("chat", now, lease, 10).await.unwrap();
    assert_eq!(claimed, [ErasureTask { user_id: gone.id, service: "chat".into(), attempts: 1 }]);
    assert!(store.claim_erasures("chat", now, lease, 10).await.unwrap().is_empty(), "a claimed row is leased");
    assert!(store.claim_erasures("chat", now - Duration::seconds(1), lease, 10).await.unwrap().is_empty(), "nothing due earlier");
    // A failed attempt is due again at its retry time, counting attempts.
    store.retry_erasure(gone.id, "chat", now + Duration::seconds(5), "answered 503").await.unwrap();
    assert!(store.claim_erasures("chat", now + Duration::seconds(4), lease, 10).await.unwrap().is_empty());
    let again = store.claim_erasures("chat", now + Duration::seconds(5), lease + Duration::seconds(5), 10).await.unwrap();
    assert_eq!(again.iter().map(|t| t.attempts).collect::<Vec<_>>(), [2]);
    store.complete_erasure(gone.id, "chat").await.unwrap();
    assert_eq!(store.pending_erasures("chat").await.unwrap(), 0);
    assert!(store.claim_erasures("chat", now + Duration::days(1), lease, 10).await.unwrap().is_empty());
    // The other service's row is untouched by all this.
    let other = store.claim_erasures("question-answer", now, lease, 10).await.unwrap();
    assert_eq!(other.iter().map(|t| (t.user_id, t.attempts)).collect::<Vec<_>>(), [(gone.id, 1)]);
}

#[rstest]
#[tokio::test]
async fn concurrent_claims_never_take_the_same_row(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let now = Utc::now();
    for i in 0..20 {
        let user = store.create_user(new_user(&format!("u{i}@example.com"))).await.unwrap();
        store.delete_user(user.id, now, &["chat"]).await.unwrap();
    }
    let lease = now + Duration::seconds(60);
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_erasures("chat", now, lease, 8).await.unwrap() })
        })
        .collect();
    let mut claimed = Vec::new();
    for claim in claims {
        claimed.extend(claim.await.unwrap().into_iter().map(|t| t.user_id));
    }
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!((claimed.len(), total), (20, 20), "every row claimed exactly once");
}
