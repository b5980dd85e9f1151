//! The SQL both backends run. The statements are written to the common subset of PostgreSQL and
//! SQLite (`$n` parameters, `RETURNING`, no server-side clock), so one macro implements [`Store`]
//! for each pool type and the two backends cannot drift apart. [`couple_common::sql_store!`]
//! stamps the two types with their migrations, ping and `connect`; a statement the dialects cannot
//! share would be chosen with `Self::BACKEND.pick(postgres, sqlite)`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use couple_common::db::Backend;
use uuid::Uuid;

use super::{
    CoupleRecord, Deletion, EraseIn, ErasureKind, ErasureTask, MemberRecord, NewRefreshToken, NewUser, ProfileUpdate, Rotation, Store,
    StoreError, StoreResult, UserRecord,
};

/// Stores a refresh token (`$1`–`$6`: id, family, user, hash, creation, expiry).
const INSERT_REFRESH_TOKEN: &str =
    "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Ends a live couple (`$1` its id, `$2` the time).
const END_COUPLE: &str = "UPDATE couples SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL";

/// The couples a user (`$1`) was ever a member of, in id order; on PostgreSQL locked, so that
/// of two former partners deleted at once, the second waits for the first and then sees that no
/// member is left.
const COUPLES_OF_USER: [&str; 2] = [
    "SELECT id FROM couples WHERE id IN (SELECT couple_id FROM couple_members WHERE user_id = $1) ORDER BY id FOR UPDATE",
    "SELECT id FROM couples WHERE id IN (SELECT couple_id FROM couple_members WHERE user_id = $1) ORDER BY id",
];

/// The outbox table and id column of each kind of erasure.
fn outbox(kind: ErasureKind) -> (&'static str, &'static str) {
    match kind {
        ErasureKind::User => ("erasure_outbox", "user_id"),
        ErasureKind::Couple => ("couple_erasure_outbox", "couple_id"),
    }
}

/// Queues an erasure (`$1` the id, `$2` the service, `$3` the time); one already queued stays.
fn queue_erasure(kind: ErasureKind) -> String {
    let (table, id) = outbox(kind);
    format!(
        "INSERT INTO {table} ({id}, service, attempts, next_attempt_at, created_at) VALUES ($1, $2, 0, $3, $3) \
         ON CONFLICT ({id}, service) DO NOTHING"
    )
}

const USER_COLUMNS: &str = "id, email, password_hash, name, gender, birth, fcm_code, send_time, role, couple_id, token_version, created_at";

couple_common::sql_store! {
    /// The PostgreSQL backend, for production and scaled-out deployments.
    pub struct PgStore(postgres, "migrations/postgres");
    /// The SQLite backend, the embedded default for a single instance.
    pub struct SqliteStore(sqlite, "migrations/sqlite");
    /// Opens the store the URL names (`postgres://...` or `sqlite:...`).
    pub async fn connect -> dyn Store;
}

macro_rules! impl_store {
    ($store:ident) => {
        #[async_trait]
        impl Store for $store {
            #[tracing::instrument(name = "store.create_user", skip_all)]
            async fn create_user(&self, u: NewUser) -> StoreResult<UserRecord> {
                let sql = format!(
                    "INSERT INTO users (id, email, email_key, password_hash, name, gender, birth, fcm_code, send_time, role, token_version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11) RETURNING {USER_COLUMNS}"
                );
                Ok(sqlx::query_as(&sql)
                    .bind(u.id)
                    .bind(&u.email)
                    .bind(&u.email_key)
                    .bind(&u.password_hash)
                    .bind(&u.name)
                    .bind(u.gender)
                    .bind(u.birth)
                    .bind(&u.fcm_code)
                    .bind(&u.send_time)
                    .bind(u.role)
                    .bind(u.now)
                    .fetch_one(&self.pool)
                    .await?)
            }

            #[tracing::instrument(name = "store.user_by_id", skip_all, fields(user_id = %id))]
            async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.user_by_email", skip_all)]
            async fn user_by_email(&self, email_key: &str) -> StoreResult<Option<UserRecord>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_key = $1");
                Ok(sqlx::query_as(&sql).bind(email_key).fetch_optional(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.update_profile", skip_all, fields(user_id = %id))]
            async fn update_profile(&self, id: Uuid, update: ProfileUpdate, now: DateTime<Utc>) -> StoreResult<Option<UserRecord>> {
                let sql = format!(
                    "UPDATE users SET name = COALESCE($2, name), fcm_code = COALESCE($3, fcm_code), send_time = COALESCE($4, send_time), \
                     updated_at = $5 WHERE id = $1 RETURNING {USER_COLUMNS}"
                );
                Ok(sqlx::query_as(&sql)
                    .bind(id)
                    .bind(update.name)
                    .bind(update.fcm_code)
                    .bind(update.send_time)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            #[tracing::instrument(name = "store.set_password", skip_all, fields(user_id = %id))]
            async fn set_password(&self, id: Uuid, password_hash: &str, now: DateTime<Utc>) -> StoreResult<i64> {
                let version: Option<i64> = sqlx::query_scalar(
                    "UPDATE users SET password_hash = $2, token_version = token_version + 1, updated_at = $3 WHERE id = $1 RETURNING token_version",
                )
                .bind(id)
                .bind(password_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(version.unwrap_or_default())
            }

            #[tracing::instrument(name = "store.bump_token_version", skip_all, fields(user_id = %id))]
            async fn bump_token_version(&self, id: Uuid) -> StoreResult<i64> {
                let version: Option<i64> = sqlx::query_scalar("UPDATE users SET token_version = token_version + 1 WHERE id = $1 RETURNING token_version")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(version.unwrap_or_default())
            }

            #[tracing::instrument(name = "store.set_role", skip_all, fields(user_id = %id))]
            async fn set_role(&self, id: Uuid, role: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
                Ok(sqlx::query_scalar(
                    "UPDATE users SET role = $2, token_version = token_version + 1, updated_at = $3 WHERE id = $1 RETURNING token_version",
                )
                .bind(id)
                .bind(role)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?)
            }

            #[tracing::instrument(name = "store.delete_user", skip_all, fields(user_id = %id))]
            async fn delete_user(&self, id: Uuid, now: DateTime<Utc>, erase_in: EraseIn<'_>) -> StoreResult<Deletion> {
                let couples_of_user = Self::BACKEND.pick(COUPLES_OF_USER[0], COUPLES_OF_USER[1]);
                let mut tx = self.pool.begin().await?;
                if Self::BACKEND == Backend::Postgres {
                    // The couples first, before any user row: the partner's deletion locks them
                    // first too, so the two cannot each hold what the other waits for.
                    sqlx::query(couples_of_user).bind(id).execute(&mut *tx).await?;
                }
                // Write first, so SQLite takes the write lock before anything is read.
                let couple_id: Option<Option<Uuid>> =
                    sqlx::query_scalar("UPDATE users SET token_version = token_version + 1 WHERE id = $1 RETURNING couple_id")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let mut deletion = Deletion::default();
                if let Some(Some(couple_id)) = couple_id {
                    sqlx::query(END_COUPLE).bind(couple_id).bind(now).execute(&mut *tx).await?;
                    deletion.partner = sqlx::query_as::<_, (Uuid, i64)>(
                        "UPDATE users SET couple_id = NULL, token_version = token_version + 1, updated_at = $3 \
                         WHERE couple_id = $1 AND id <> $2 RETURNING id, token_version",
                    )
                    .bind(couple_id)
                    .bind(id)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                }
                // Again, as a couple paired since the lock above is locked only now.
                let couples: Vec<Uuid> = sqlx::query_scalar(couples_of_user).bind(id).fetch_all(&mut *tx).await?;
                sqlx::query("DELETE FROM couple_members WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                let deleted = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
                // Only a deletion that happened is fanned out; a repeated one changes nothing.
                if deleted == 1 {
                    let queue = queue_erasure(ErasureKind::User);
                    for service in erase_in.users {
                        sqlx::query(&queue).bind(id).bind(*service).bind(now).execute(&mut *tx).await?;
                    }
                    let queue = queue_erasure(ErasureKind::Couple);
                    for couple in couples {
                        let members: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM couple_members WHERE couple_id = $1")
                            .bind(couple)
                            .fetch_one(&mut *tx)
                            .await?;
                        if members > 0 {
                            continue;
                        }
                        for service in erase_in.couples {
                            sqlx::query(&queue).bind(couple).bind(*service).bind(now).execute(&mut *tx).await?;
                        }
                        sqlx::query("DELETE FROM couples WHERE id = $1").bind(couple).execute(&mut *tx).await?;
                        deletion.erased_couples.push(couple);
                    }
                }
                tx.commit().await?;
                Ok(deletion)
            }

            #[tracing::instrument(name = "store.claim_erasures", skip_all, fields(?kind, %service))]
            async fn claim_erasures(
                &self,
                kind: ErasureKind,
                service: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: i64,
            ) -> StoreResult<Vec<ErasureTask>> {
                let (table, id) = outbox(kind);
                // The due check is repeated outside the subquery: PostgreSQL re-evaluates it on a
                // row another claim changed meanwhile, so a row is never claimed twice; SKIP LOCKED
                // lets concurrent claims take different rows instead of waiting. SQLite has a
                // single writer, which serialises claims anyway.
                let sql = format!(
                    "UPDATE {table} SET next_attempt_at = $3, attempts = attempts + 1 \
                     WHERE service = $1 AND next_attempt_at <= $2 AND ({id}, service) IN \
                     (SELECT {id}, service FROM {table} WHERE service = $1 AND next_attempt_at <= $2 \
                      ORDER BY next_attempt_at LIMIT $4{}) \
                     RETURNING {id}, service, CAST(attempts AS BIGINT) AS attempts",
                    Self::BACKEND.pick(" FOR UPDATE SKIP LOCKED", "")
                );
                let rows: Vec<(Uuid, String, i64)> =
                    sqlx::query_as(&sql).bind(service).bind(now).bind(lease_until).bind(limit).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(|(id, service, attempts)| ErasureTask { kind, id, service, attempts }).collect())
            }

            #[tracing::instrument(name = "store.pending_erasures", skip_all, fields(?kind, %service))]
            async fn pending_erasures(&self, kind: ErasureKind, service: &str) -> StoreResult<i64> {
                let (table, _) = outbox(kind);
                let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE service = $1");
                Ok(sqlx::query_scalar(&sql).bind(service).fetch_one(&self.pool).await?)
            }

            #[tracing::instrument(name = "store.complete_erasure", skip_all, fields(?kind, %id, %service))]
            async fn complete_erasure(&self, kind: ErasureKind, id: Uuid, service: &str) -> StoreResult<()> {
                let (table, column) = outbox(kind);
                let sql = format!("DELETE FROM {table} WHERE {column} = $1 AND service = $2");
                sqlx::query(&sql).bind(id).bind(service).execute(&self.pool).await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.retry_erasure", skip_all, fields(?kind, %id, %service))]
            async fn retry_erasure(&self, kind: ErasureKind, id: Uuid, service: &str, next_attempt_at: DateTime<Utc>, error: &str) -> StoreResult<()> {
                let (table, column) = outbox(kind);
                let sql = format!("UPDATE {table} SET next_attempt_at = $3, last_error = $4 WHERE {column} = $1 AND service = $2");
                sqlx::query(&sql).bind(id).bind(service).bind(next_attempt_at).bind(error).execute(&self.pool).await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.create_couple", skip_all)]
            async fn create_couple(&self, couple: CoupleRecord, creator: Uuid, acceptor: Uuid) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("INSERT INTO couples (id, name, start_date, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(couple.id)
                    .bind(&couple.name)
                    .bind(couple.start_date)
                    .bind(creator)
                    .bind(couple.created_at)
                    .execute(&mut *tx)
                    .await?;
                // Both must still be single: this is the check that decides a race between two
                // acceptors of one code, or a user accepting two codes at once.
                let paired = sqlx::query("UPDATE users SET couple_id = $1, updated_at = $2 WHERE id IN ($3, $4) AND couple_id IS NULL")
                    .bind(couple.id)
                    .bind(couple.created_at)
                    .bind(creator)
                    .bind(acceptor)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if paired != 2 {
                    tx.rollback().await?;
                    return Err(StoreError::Conflict);
                }
                sqlx::query("INSERT INTO couple_members (couple_id, user_id) VALUES ($1, $2), ($1, $3)")
                    .bind(couple.id)
                    .bind(creator)
                    .bind(acceptor)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.couple_by_id", skip_all, fields(couple_id = %id))]
            async fn couple_by_id(&self, id: Uuid) -> StoreResult<Option<CoupleRecord>> {
                Ok(sqlx::query_as("SELECT id, name, start_date, created_at, ended_at FROM couples WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            #[tracing::instrument(name = "store.couple_members", skip_all, fields(couple_id = %id))]
            async fn couple_members(&self, id: Uuid) -> StoreResult<Vec<MemberRecord>> {
                Ok(sqlx::query_as("SELECT id, name, gender, birth FROM users WHERE couple_id = $1 ORDER BY created_at, id")
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            #[tracing::instrument(name = "store.update_couple", skip_all, fields(couple_id = %id))]
            async fn update_couple(&self, id: Uuid, name: Option<String>, start_date: Option<NaiveDate>) -> StoreResult<Option<CoupleRecord>> {
                Ok(sqlx::query_as(
                    "UPDATE couples SET name = COALESCE($2, name), start_date = COALESCE($3, start_date) \
                     WHERE id = $1 AND ended_at IS NULL RETURNING id, name, start_date, created_at, ended_at",
                )
                .bind(id)
                .bind(name)
                .bind(start_date)
                .fetch_optional(&self.pool)
                .await?)
            }

            #[tracing::instrument(name = "store.break_up", skip_all, fields(couple_id = %id))]
            async fn break_up(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<(Uuid, i64)>> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(END_COUPLE).bind(id).bind(now).execute(&mut *tx).await?;
                let members = sqlx::query_as(
                    "UPDATE users SET couple_id = NULL, token_version = token_version + 1, updated_at = $2 WHERE couple_id = $1 RETURNING id, token_version",
                )
                .bind(id)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(members)
            }

            #[tracing::instrument(name = "store.insert_refresh_token", skip_all)]
            async fn insert_refresh_token(&self, t: NewRefreshToken) -> StoreResult<()> {
                sqlx::query(INSERT_REFRESH_TOKEN)
                    .bind(t.id)
                    .bind(t.family_id)
                    .bind(t.user_id)
                    .bind(&t.token_hash)
                    .bind(t.now)
                    .bind(t.expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.rotate_refresh_token", skip_all)]
            async fn rotate_refresh_token(&self, old_hash: &str, next_hash: &str, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> StoreResult<Rotation> {
                let mut tx = self.pool.begin().await?;
                // Spending is a conditional write, so of two concurrent uses exactly one wins.
                let spent: Option<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL \
                     RETURNING user_id, family_id, expires_at",
                )
                .bind(old_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let outcome = match spent {
                    Some((_, _, expiry)) if expiry <= now => Rotation::Invalid,
                    Some((user_id, family_id, _)) => {
                        sqlx::query(INSERT_REFRESH_TOKEN)
                            .bind(Uuid::now_v7())
                            .bind(family_id)
                            .bind(user_id)
                            .bind(next_hash)
                            .bind(now)
                            .bind(expires_at)
                            .execute(&mut *tx)
                            .await?;
                        Rotation::Rotated { user_id }
                    }
                    None => {
                        let previous: Option<(Uuid, Option<DateTime<Utc>>)> =
                            sqlx::query_as("SELECT family_id, used_at FROM refresh_tokens WHERE token_hash = $1").bind(old_hash).fetch_optional(&mut *tx).await?;
                        match previous {
                            Some((family_id, Some(_))) => {
                                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                                    .bind(family_id)
                                    .bind(now)
                                    .execute(&mut *tx)
                                    .await?;
                                Rotation::Reused
                            }
                            _ => Rotation::Invalid,
                        }
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            #[tracing::instrument(name = "store.revoke_session", skip_all, fields(user_id = %user_id))]
            async fn revoke_session(&self, user_id: Uuid, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $3 WHERE revoked_at IS NULL AND family_id IN \
                     (SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.revoke_all_sessions", skip_all, fields(user_id = %user_id))]
            async fn revoke_all_sessions(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL").bind(user_id).bind(now).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

impl_store!(PgStore);
impl_store!(SqliteStore);
