//! Persistence behind one trait, with a PostgreSQL and a SQLite backend chosen by the database
//! URL. Both backends share the SQL (written to run on both) and keep their own migrations.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
pub use couple_common::db::{Database, StoreError, StoreResult};
use uuid::Uuid;

mod sql;

pub use sql::{PgStore, SqliteStore, connect};

/// A stored user, including what never leaves the service (the password hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    /// User id.
    pub id: Uuid,
    /// Email as typed.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Display name.
    pub name: String,
    /// `M` or `F`.
    pub gender: String,
    /// Birth date.
    pub birth: NaiveDate,
    /// Push registration token.
    pub fcm_code: Option<String>,
    /// When the daily question is pushed, `HH:MM`.
    pub send_time: Option<String>,
    /// `user` or `admin`.
    pub role: String,
    /// Current couple.
    pub couple_id: Option<Uuid>,
    /// Current token version.
    pub token_version: i64,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// User id (v7).
    pub id: Uuid,
    /// Email as typed.
    pub email: String,
    /// Lower-cased email.
    pub email_key: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Display name.
    pub name: String,
    /// `M` or `F`.
    pub gender: &'static str,
    /// Birth date.
    pub birth: NaiveDate,
    /// Push registration token.
    pub fcm_code: Option<String>,
    /// `HH:MM`.
    pub send_time: Option<String>,
    /// `user` or `admin`.
    pub role: &'static str,
    /// Creation time.
    pub now: DateTime<Utc>,
}

/// Changes to a profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New push token.
    pub fcm_code: Option<String>,
    /// New push time.
    pub send_time: Option<String>,
}

/// A stored couple.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CoupleRecord {
    /// Couple id.
    pub id: Uuid,
    /// Couple name.
    pub name: String,
    /// The day they count from.
    pub start_date: NaiveDate,
    /// Matching time.
    pub created_at: DateTime<Utc>,
    /// Break-up time; an ended couple is kept but has no members.
    pub ended_at: Option<DateTime<Utc>>,
}

/// A current member of a couple, with what the members list shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRecord {
    /// User id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// `M` or `F`.
    pub gender: String,
    /// Birth date.
    pub birth: NaiveDate,
}

/// A refresh token to store (only its hash).
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// Token id.
    pub id: Uuid,
    /// The session family.
    pub family_id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Creation time.
    pub now: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live; it is now spent and the new one stored in the same family.
    Rotated {
        /// The owner.
        user_id: Uuid,
    },
    /// The token had been spent before: the family has been revoked.
    Reused,
    /// Unknown, revoked or expired.
    Invalid,
}

/// What is erased in another service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureKind {
    /// A deleted account: `DELETE /internal/users/{id}`.
    User,
    /// A couple none of whose former members has an account any more:
    /// `DELETE /internal/couples/{id}`.
    Couple,
}

impl ErasureKind {
    /// Both kinds.
    pub const ALL: [Self; 2] = [Self::User, Self::Couple];

    /// The path of the erasure of `id` in a service.
    pub fn path(self, id: Uuid) -> String {
        match self {
            Self::User => format!("/internal/users/{id}"),
            Self::Couple => format!("/internal/couples/{id}"),
        }
    }
}

/// A queued erasure in another service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureTask {
    /// Of what.
    pub kind: ErasureKind,
    /// The deleted account or the couple.
    pub id: Uuid,
    /// The service to erase it in (its registry name).
    pub service: String,
    /// Attempts started, this one included.
    pub attempts: i64,
}

/// Where a deletion is erased too (service names): the account in `users`, and each couple it
/// leaves without any former member's account in `couples`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EraseIn<'a> {
    /// The services that hold user data.
    pub users: &'a [&'a str],
    /// The services that hold couple data.
    pub couples: &'a [&'a str],
}

/// What deleting an account did besides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deletion {
    /// The partner it left behind, with their new token version.
    pub partner: Option<(Uuid, i64)>,
    /// The couples no former member has an account of any more: gone here, queued for erasure
    /// elsewhere.
    pub erased_couples: Vec<Uuid>,
}

/// Everything the service persists (migrations and ping come with [`Database`]).
#[async_trait]
pub trait Store: Database {
    /// Creates an account; [`StoreError::Conflict`] when the email is taken.
    async fn create_user(&self, user: NewUser) -> StoreResult<UserRecord>;
    /// A user by id.
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    /// A user by lower-cased email.
    async fn user_by_email(&self, email_key: &str) -> StoreResult<Option<UserRecord>>;
    /// Applies a profile update and returns the user.
    async fn update_profile(&self, id: Uuid, update: ProfileUpdate, now: DateTime<Utc>) -> StoreResult<Option<UserRecord>>;
    /// Replaces the password hash and bumps the token version; returns the new version.
    async fn set_password(&self, id: Uuid, password_hash: &str, now: DateTime<Utc>) -> StoreResult<i64>;
    /// Bumps the token version, revoking outstanding access tokens; returns the new version.
    async fn bump_token_version(&self, id: Uuid) -> StoreResult<i64>;
    /// Sets the role (`user` or `admin`) and bumps the token version, so tokens carrying the
    /// old role stop working; returns the new version, or `None` for an unknown user.
    async fn set_role(&self, id: Uuid, role: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>>;
    /// Deletes the account, breaking its couple first, and in the same transaction queues its
    /// erasure in `erase_in.users`. Each couple it was ever a member of that no other former
    /// member has an account of is deleted too and queued for erasure in `erase_in.couples`
    /// (couples that ended before former members were recorded are never). A repeated deletion
    /// changes nothing.
    async fn delete_user(&self, id: Uuid, now: DateTime<Utc>, erase_in: EraseIn<'_>) -> StoreResult<Deletion>;

    /// Claims up to `limit` erasures of `kind` for `service` that are due at `now`, moving each
    /// one's next attempt to `lease_until` and counting the attempt, so that another replica
    /// claiming at the same time skips them.
    async fn claim_erasures(
        &self,
        kind: ErasureKind,
        service: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ErasureTask>>;
    /// How many erasures of `kind` are queued for `service`.
    async fn pending_erasures(&self, kind: ErasureKind, service: &str) -> StoreResult<i64>;
    /// Removes an erasure the service confirmed.
    async fn complete_erasure(&self, kind: ErasureKind, id: Uuid, service: &str) -> StoreResult<()>;
    /// Schedules the next attempt of a failed erasure, noting why it failed.
    async fn retry_erasure(
        &self,
        kind: ErasureKind,
        id: Uuid,
        service: &str,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()>;

    /// Pairs two users, recording both as the couple's members for good;
    /// [`StoreError::Conflict`] when either already has a couple.
    async fn create_couple(&self, couple: CoupleRecord, creator: Uuid, acceptor: Uuid) -> StoreResult<()>;
    /// A couple by id.
    async fn couple_by_id(&self, id: Uuid) -> StoreResult<Option<CoupleRecord>>;
    /// The current members of a couple.
    async fn couple_members(&self, id: Uuid) -> StoreResult<Vec<MemberRecord>>;
    /// Renames or re-dates a couple.
    async fn update_couple(&self, id: Uuid, name: Option<String>, start_date: Option<NaiveDate>) -> StoreResult<Option<CoupleRecord>>;
    /// Ends a couple: members leave it and their token versions are bumped. Returns each former
    /// member with their new version.
    async fn break_up(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<(Uuid, i64)>>;

    /// Stores a new refresh token.
    async fn insert_refresh_token(&self, token: NewRefreshToken) -> StoreResult<()>;
    /// Spends the token with `old_hash` and stores the token hashed as `next_hash` in the same
    /// family, detecting reuse of an already spent token.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        next_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Rotation>;
    /// Revokes the family of the token with `token_hash`, if it belongs to `user_id`.
    async fn revoke_session(&self, user_id: Uuid, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Revokes every session of a user.
    async fn revoke_all_sessions(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;
}
