//! Accounts and their sessions: sign-up, login, refresh, logout, the caller's profile, password
//! change and deletion.

pub mod dto;
pub mod http;

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::Utc;
use couple_common::{Identity, Role};
use uuid::Uuid;

use crate::{
    config::Config,
    erasure::Erasure,
    error::{Error, Result},
    limits::Lockout,
    password::Hasher,
    sessions::{Sessions, hash_refresh_token},
    store::{NewUser, ProfileUpdate, Store, StoreError},
};

use dto::{Credentials, LoginResponse, NewAccount, PasswordChange, TokenPair, User};

/// The accounts of the service.
pub struct Accounts {
    store: Arc<dyn Store>,
    sessions: Arc<Sessions>,
    hasher: Hasher,
    account_failures: Lockout,
    client_failures: Lockout,
    admin_emails: HashSet<String>,
    erasure: Erasure,
}

impl Accounts {
    /// Accounts on `store`, with the hashing and lockout limits of `config`; sign-ups with one
    /// of `admin_emails` (lower-cased) get the admin role, and deletions queue `erasure`.
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        sessions: Arc<Sessions>,
        kv: Arc<dyn couple_common::kv::Kv>,
        admin_emails: Vec<String>,
        erasure: Erasure,
    ) -> Self {
        // By default one core is left to everything else, so a login flood cannot take the CPU
        // from requests that do not hash.
        let concurrency = config
            .hashing_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)));
        let window = Duration::from_secs(config.login_failure_window_secs);
        Self {
            hasher: Hasher::new(concurrency, config.hashing_queue),
            account_failures: Lockout::new(kv.clone(), config.login_failures_per_account, window),
            client_failures: Lockout::new(kv, config.login_failures_per_client, window),
            store,
            sessions,
            admin_emails: admin_emails.into_iter().collect(),
            erasure,
        }
    }

    /// Creates an account.
    #[tracing::instrument(skip_all)]
    pub async fn signup(&self, account: NewAccount) -> Result<User> {
        // Cheap check first so a taken email does not cost a hash; the unique index decides races.
        if self.store.user_by_email(&account.email.key()).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        let password_hash = self.hasher.hash(account.password.expose().to_owned()).await?;
        let role = if self.admin_emails.contains(&account.email.key()) { Role::Admin } else { Role::User };
        let user = NewUser {
            id: Uuid::now_v7(),
            email_key: account.email.key(),
            email: account.email.as_str().to_owned(),
            password_hash,
            name: account.name.into_inner(),
            gender: account.gender.as_str(),
            birth: account.birth,
            fcm_code: account.fcm_code,
            send_time: account.send_time,
            role: role.as_str(),
            now: Utc::now(),
        };
        match self.store.create_user(user).await {
            Ok(user) => Ok(user.into()),
            Err(StoreError::Conflict) => Err(Error::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks credentials and opens a session. `client` is the caller's address, for limits.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, credentials: Credentials, client: &str) -> Result<LoginResponse> {
        let Credentials { email_key, password } = credentials;
        if password.chars().count() > 128 || email_key.len() > 254 {
            return Err(Error::InvalidCredentials);
        }
        let account_key = format!("login:acct:{email_key}");
        let client_key = format!("login:ip:{client}");
        self.client_failures.check(&client_key).await?;
        self.account_failures.check(&account_key).await?;

        let user = self.store.user_by_email(&email_key).await?;
        let valid = self.hasher.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
        let Some(user) = user.filter(|_| valid) else {
            self.account_failures.fail(&account_key).await?;
            self.client_failures.fail(&client_key).await?;
            return Err(Error::InvalidCredentials);
        };
        self.account_failures.clear(&account_key).await?;
        let tokens = self.sessions.open(&user).await?;
        Ok(LoginResponse { user: user.into(), tokens })
    }

    /// Spends a refresh token for a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        self.sessions.refresh(refresh_token).await
    }

    /// Ends the session: its refresh family (when given) is revoked and the user's access tokens
    /// stop working.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn logout(&self, identity: &Identity, refresh_token: Option<String>) -> Result<()> {
        let user = self.sessions.current_user(identity).await?;
        if let Some(token) = refresh_token.filter(|t| t.len() <= 256) {
            self.store.revoke_session(user.id, &hash_refresh_token(&token), Utc::now()).await?;
        }
        let version = self.store.bump_token_version(user.id).await?;
        self.sessions.publish_version(user.id, version).await
    }

    /// The caller's account.
    pub async fn me(&self, identity: &Identity) -> Result<User> {
        Ok(self.sessions.current_user(identity).await?.into())
    }

    /// Updates name, push token or push time.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn update_me(&self, identity: &Identity, update: ProfileUpdate) -> Result<User> {
        let user = self.sessions.current_user(identity).await?;
        let updated = self.store.update_profile(user.id, update, Utc::now()).await?.ok_or(Error::UserNotFound)?;
        Ok(updated.into())
    }

    /// Changes the password, revokes every other session and returns a new pair for this one.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn change_password(&self, identity: &Identity, change: PasswordChange) -> Result<TokenPair> {
        let user = self.sessions.current_user(identity).await?;
        if !self.hasher.verify(change.current, Some(user.password_hash.clone())).await? {
            return Err(Error::field("currentPassword", "is incorrect"));
        }
        let hash = self.hasher.hash(change.new.expose().to_owned()).await?;
        let now = Utc::now();
        let version = self.store.set_password(user.id, &hash, now).await?;
        self.store.revoke_all_sessions(user.id, now).await?;
        self.sessions.publish_version(user.id, version).await?;
        let user = self.store.user_by_id(user.id).await?.ok_or(Error::UserNotFound)?;
        self.sessions.open(&user).await
    }

    /// Deletes the account, breaking its couple first, and queues its erasure in the services
    /// that hold user data, and that of each couple it leaves without any former member's account
    /// in those that hold couple data.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn delete_me(&self, identity: &Identity) -> Result<()> {
        let user = self.sessions.current_user(identity).await?;
        let deletion = self.store.delete_user(user.id, Utc::now(), self.erasure.erase_in()).await?;
        self.erasure.wake();
        if !deletion.erased_couples.is_empty() {
            tracing::info!(couples = ?deletion.erased_couples, "no former member of these couples has an account: erasing them");
        }
        // The deleted user's tokens fail on the missing account.
        self.sessions.forget_version(user.id).await?;
        if let Some((partner, version)) = deletion.partner {
            self.sessions.publish_version(partner, version).await?;
        }
        Ok(())
    }
}
