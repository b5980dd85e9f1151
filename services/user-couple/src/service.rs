//! The service's behaviour, independent of HTTP: handlers parse, call one method here, and
//! wrap the answer in the envelope.

use std::{sync::Arc, time::Duration};

use base64::Engine;
use chrono::{NaiveDate, Utc};
use couple_common::{
    FieldErrors, Identity, Role,
    jwt::{JwtKeys, TokenSubject},
    kv::Kv,
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    config::Config,
    domain::{self, Email, Gender, MatchCode, Name, Password},
    error::{Error, Result},
    limits::Lockout,
    model::*,
    password::Hasher,
    store::{CoupleRecord, NewRefreshToken, NewUser, ProfileUpdate, Rotation, Store, StoreError, UserRecord},
};

/// Everything a request may need, shared by all handlers.
pub struct Service {
    store: Arc<dyn Store>,
    kv: Arc<dyn Kv>,
    hasher: Hasher,
    keys: Arc<JwtKeys>,
    refresh_ttl: chrono::Duration,
    match_ttl: Duration,
    account_failures: Lockout,
    client_failures: Lockout,
    match_guesses: Lockout,
}

/// Collects field problems so one 422 reports all of them.
#[derive(Default)]
struct Fields(FieldErrors);

impl Fields {
    fn check<T>(&mut self, field: &str, result: std::result::Result<T, &str>) -> Option<T> {
        result.map_err(|problem| self.0.insert(field.to_owned(), problem.to_owned())).ok()
    }

    fn required<'a>(&mut self, field: &str, value: &'a Option<String>) -> Option<&'a str> {
        match value.as_deref() {
            Some(v) => Some(v),
            None => {
                self.0.insert(field.to_owned(), "is required".to_owned());
                None
            }
        }
    }

    fn finish(self) -> Result<()> {
        if self.0.is_empty() { Ok(()) } else { Err(Error::Validation(self.0)) }
    }
}

/// The refresh token's stored form: SHA-256, hex. The token is 256 random bits, so a fast hash
/// is enough; the database never holds a usable token.
fn hash_refresh_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn version_key(user_id: Uuid) -> String {
    format!("tv:{user_id}")
}

impl Service {
    /// Builds the service from its parts.
    pub fn new(config: &Config, store: Arc<dyn Store>, kv: Arc<dyn Kv>, keys: Arc<JwtKeys>) -> Self {
        // By default one core is left to everything else, so a login flood cannot take the CPU
        // from requests that do not hash.
        let concurrency = config
            .hashing_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)));
        let failure_window = Duration::from_secs(config.login_failure_window_secs);
        Self {
            hasher: Hasher::new(concurrency, config.hashing_queue),
            refresh_ttl: chrono::Duration::days(config.refresh_token_ttl_days.max(1)),
            match_ttl: Duration::from_secs(config.match_code_ttl_secs.max(1)),
            account_failures: Lockout::new(kv.clone(), config.login_failures_per_account, failure_window),
            client_failures: Lockout::new(kv.clone(), config.login_failures_per_client, failure_window),
            match_guesses: Lockout::new(kv.clone(), config.match_guesses_per_user, Duration::from_secs(config.match_guess_window_secs)),
            store,
            kv,
            keys,
        }
    }

    /// The store, for readiness checks.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The key-value store, for readiness checks.
    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    /// The signing keys.
    pub fn keys(&self) -> &Arc<JwtKeys> {
        &self.keys
    }

    // ---- accounts -------------------------------------------------------------------------

    /// Creates an account.
    pub async fn signup(&self, req: SignupRequest) -> Result<User> {
        let today = today();
        let mut f = Fields::default();
        let email = f.required("email", &req.email).and_then(|v| f.check("email", Email::parse(v)));
        let password = f.required("password", &req.password).and_then(|v| f.check("password", Password::parse(v)));
        let name = f.required("name", &req.name).and_then(|v| f.check("name", Name::parse(v)));
        let gender = f.required("gender", &req.gender).and_then(|v| f.check("gender", Gender::parse(v)));
        let birth = f.required("birth", &req.birth).and_then(|v| f.check("birth", domain::parse_birth(v, today)));
        let fcm_code = req.fcm_code.as_deref().and_then(|v| f.check("fcmCode", domain::parse_fcm_code(v)));
        let send_time = req.send_time.as_deref().and_then(|v| f.check("sendTime", domain::parse_send_time(v)));
        f.finish()?;
        let (Some(email), Some(password), Some(name), Some(gender), Some(birth)) = (email, password, name, gender, birth) else {
            return Err(Error::Internal("validated fields missing".into()));
        };
        // Cheap check first so a taken email does not cost a hash; the unique index decides races.
        if self.store.user_by_email(&email.key()).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        let password_hash = self.hasher.hash(password.expose().to_owned()).await?;
        let user = NewUser {
            id: Uuid::now_v7(),
            email_key: email.key(),
            email: email.as_str().to_owned(),
            password_hash,
            name: name.into_inner(),
            gender: gender.as_str(),
            birth,
            fcm_code,
            send_time,
            role: Role::User.as_str(),
            now: Utc::now(),
        };
        match self.store.create_user(user).await {
            Ok(user) => Ok(user.into()),
            Err(StoreError::Conflict) => Err(Error::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks credentials and opens a session. `client` is the caller's address, for limits.
    pub async fn login(&self, req: LoginRequest, client: &str) -> Result<LoginResponse> {
        let mut f = Fields::default();
        let email = f.required("email", &req.email).map(|e| e.trim().to_lowercase());
        let password = f.required("password", &req.password).map(str::to_owned);
        f.finish()?;
        let (Some(email_key), Some(password)) = (email, password) else { return Err(Error::Internal("validated fields missing".into())) };
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
        let tokens = self.open_session(&user, None).await?;
        Ok(LoginResponse { user: user.into(), tokens })
    }

    /// Issues an access token and a refresh token in `family` (a new family when `None`).
    async fn open_session(&self, user: &UserRecord, family: Option<Uuid>) -> Result<TokenPair> {
        let refresh_token = new_refresh_token();
        let now = Utc::now();
        self.store
            .insert_refresh_token(NewRefreshToken {
                id: Uuid::now_v7(),
                family_id: family.unwrap_or_else(Uuid::now_v7),
                user_id: user.id,
                token_hash: hash_refresh_token(&refresh_token),
                now,
                expires_at: now + self.refresh_ttl,
            })
            .await?;
        Ok(self.token_pair(user, refresh_token))
    }

    fn token_pair(&self, user: &UserRecord, refresh_token: String) -> TokenPair {
        let subject =
            TokenSubject { user_id: user.id, couple_id: user.couple_id, role: Role::parse(&user.role), version: user.token_version };
        let (access_token, _) = self.keys.issue(subject);
        TokenPair { access_token, refresh_token, token_type: "Bearer", expires_in: self.keys.ttl().as_secs() }
    }

    /// Spends a refresh token for a new pair carrying the user's current couple.
    pub async fn refresh(&self, req: RefreshRequest) -> Result<TokenPair> {
        let mut f = Fields::default();
        let token = f.required("refreshToken", &req.refresh_token).map(str::to_owned);
        f.finish()?;
        let token = token.unwrap_or_default();
        if token.len() > 256 {
            return Err(Error::InvalidRefreshToken);
        }
        let next = new_refresh_token();
        let now = Utc::now();
        match self.store.rotate_refresh_token(&hash_refresh_token(&token), &hash_refresh_token(&next), now, now + self.refresh_ttl).await? {
            Rotation::Rotated { user_id } => {
                let user = self.store.user_by_id(user_id).await?.ok_or(Error::InvalidRefreshToken)?;
                Ok(self.token_pair(&user, next))
            }
            Rotation::Reused => {
                tracing::warn!("a spent refresh token was presented again; its session family is revoked");
                Err(Error::InvalidRefreshToken)
            }
            Rotation::Invalid => Err(Error::InvalidRefreshToken),
        }
    }

    /// Ends the session: its refresh family is revoked and the user's access tokens stop working.
    pub async fn logout(&self, identity: &Identity, req: LogoutRequest) -> Result<()> {
        let user = self.current_user(identity).await?;
        if let Some(token) = req.refresh_token.filter(|t| t.len() <= 256) {
            self.store.revoke_session(user.id, &hash_refresh_token(&token), Utc::now()).await?;
        }
        let version = self.store.bump_token_version(user.id).await?;
        self.publish_version(user.id, version).await
    }

    /// The caller's account, refusing tokens issued before the last revocation.
    pub async fn current_user(&self, identity: &Identity) -> Result<UserRecord> {
        let user = self.store.user_by_id(identity.user_id).await?.ok_or(Error::SessionRevoked)?;
        if identity.claims.ver < user.token_version {
            return Err(Error::SessionRevoked);
        }
        Ok(user)
    }

    /// Updates name, push token or push time.
    pub async fn update_me(&self, identity: &Identity, req: UpdateUserRequest) -> Result<User> {
        let mut f = Fields::default();
        let update = ProfileUpdate {
            name: req.name.as_deref().and_then(|v| f.check("name", Name::parse(v))).map(Name::into_inner),
            fcm_code: req.fcm_code.as_deref().and_then(|v| f.check("fcmCode", domain::parse_fcm_code(v))),
            send_time: req.send_time.as_deref().and_then(|v| f.check("sendTime", domain::parse_send_time(v))),
        };
        f.finish()?;
        let user = self.current_user(identity).await?;
        let updated = self.store.update_profile(user.id, update, Utc::now()).await?.ok_or(Error::UserNotFound)?;
        Ok(updated.into())
    }

    /// Changes the password, revokes every other session and returns a new pair for this one.
    pub async fn change_password(&self, identity: &Identity, req: ChangePasswordRequest) -> Result<TokenPair> {
        let mut f = Fields::default();
        let current = f.required("currentPassword", &req.current_password).map(str::to_owned);
        let new = f.required("newPassword", &req.new_password).and_then(|v| f.check("newPassword", Password::parse(v)));
        f.finish()?;
        let (Some(current), Some(new)) = (current, new) else { return Err(Error::Internal("validated fields missing".into())) };
        let user = self.current_user(identity).await?;
        if !self.hasher.verify(current, Some(user.password_hash.clone())).await? {
            return Err(Error::field("currentPassword", "is incorrect"));
        }
        let hash = self.hasher.hash(new.expose().to_owned()).await?;
        let now = Utc::now();
        let version = self.store.set_password(user.id, &hash, now).await?;
        self.store.revoke_all_sessions(user.id, now).await?;
        self.publish_version(user.id, version).await?;
        let user = self.store.user_by_id(user.id).await?.ok_or(Error::UserNotFound)?;
        self.open_session(&user, None).await
    }

    /// Deletes the account, breaking its couple first.
    pub async fn delete_me(&self, identity: &Identity) -> Result<()> {
        let user = self.current_user(identity).await?;
        let partner = self.store.delete_user(user.id, Utc::now()).await?;
        // The deleted user's tokens fail on the missing account; the version key is cleared so
        // the gateway asks the service and learns the account is gone.
        self.kv.del(&version_key(user.id)).await?;
        if let Some((partner, version)) = partner {
            self.publish_version(partner, version).await?;
        }
        Ok(())
    }

    // ---- couples --------------------------------------------------------------------------

    /// Creates the caller's match code, replacing any outstanding one.
    pub async fn create_match_code(&self, identity: &Identity, req: MatchRequest) -> Result<MatchCodeResponse> {
        let today = today();
        let mut f = Fields::default();
        let name = f.required("name", &req.name).and_then(|v| f.check("name", Name::parse(v)));
        let start_date = req.start_date.as_deref().and_then(|v| f.check("startDate", domain::parse_start_date(v, today)));
        f.finish()?;
        let user = self.current_user(identity).await?;
        if user.couple_id.is_some() {
            return Err(Error::AlreadyCoupled);
        }
        let offer = serde_json::json!({
            "userId": user.id,
            "name": name.map(Name::into_inner),
            "startDate": start_date.unwrap_or(today),
        })
        .to_string();
        let owner_key = format!("match:user:{}", user.id);
        if let Some(previous) = self.kv.get(&owner_key).await? {
            self.kv.del(&format!("match:code:{previous}")).await?;
        }
        for _ in 0..20 {
            let code = MatchCode::random();
            if self.kv.set_nx(&format!("match:code:{}", code.as_str()), &offer, self.match_ttl).await? {
                self.kv.set(&owner_key, code.as_str(), Some(self.match_ttl)).await?;
                let expires_at = Utc::now() + chrono::Duration::from_std(self.match_ttl).unwrap_or_default();
                return Ok(MatchCodeResponse { match_code: code.as_str().to_owned(), expires_at });
            }
        }
        Err(Error::Busy)
    }

    /// Accepts a partner's code: creates the couple and reissues the caller's tokens with it.
    pub async fn accept_match(&self, identity: &Identity, req: AcceptMatchRequest) -> Result<AcceptMatchResponse> {
        let mut f = Fields::default();
        let code = f.required("matchingCode", &req.matching_code).and_then(|v| f.check("matchingCode", MatchCode::parse(v)));
        f.finish()?;
        let code = code.ok_or_else(|| Error::Internal("validated fields missing".into()))?;
        let user = self.current_user(identity).await?;
        let guess_key = format!("match:{}", user.id);
        self.match_guesses.check(&guess_key).await?;
        let code_key = format!("match:code:{}", code.as_str());
        let Some(offer) = self.kv.get(&code_key).await? else {
            self.match_guesses.fail(&guess_key).await?;
            return Err(Error::UnknownMatchCode);
        };
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Offer {
            user_id: Uuid,
            name: String,
            start_date: NaiveDate,
        }
        let offer: Offer = serde_json::from_str(&offer).map_err(|e| Error::Internal(format!("corrupt match offer: {e}")))?;
        if offer.user_id == user.id {
            return Err(Error::OwnMatchCode);
        }
        if user.couple_id.is_some() {
            return Err(Error::AlreadyCoupled);
        }
        let couple =
            CoupleRecord { id: Uuid::now_v7(), name: offer.name, start_date: offer.start_date, created_at: Utc::now(), ended_at: None };
        match self.store.create_couple(couple.clone(), offer.user_id, user.id).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(Error::AlreadyCoupled),
            Err(e) => return Err(e.into()),
        }
        // Single use: the code goes only once the couple exists, so a failed accept keeps it.
        self.kv.del(&code_key).await?;
        self.kv.del(&format!("match:user:{}", offer.user_id)).await?;
        let user = self.store.user_by_id(user.id).await?.ok_or(Error::UserNotFound)?;
        let tokens = self.open_session(&user, None).await?;
        let members = self.store.couple_members(couple.id).await?;
        Ok(AcceptMatchResponse { couple: Couple::new(couple, &members, today()), tokens })
    }

    async fn current_couple(&self, identity: &Identity) -> Result<(UserRecord, CoupleRecord)> {
        let user = self.current_user(identity).await?;
        let couple_id = user.couple_id.ok_or(Error::NoCouple)?;
        let couple = self.store.couple_by_id(couple_id).await?.filter(|c| c.ended_at.is_none()).ok_or(Error::NoCouple)?;
        Ok((user, couple))
    }

    /// The caller's couple.
    pub async fn my_couple(&self, identity: &Identity) -> Result<Couple> {
        let (_, couple) = self.current_couple(identity).await?;
        let members = self.store.couple_members(couple.id).await?;
        Ok(Couple::new(couple, &members, today()))
    }

    /// Renames or re-dates the caller's couple.
    pub async fn update_couple(&self, identity: &Identity, req: UpdateCoupleRequest) -> Result<Couple> {
        let today = today();
        let mut f = Fields::default();
        let name = req.name.as_deref().and_then(|v| f.check("name", Name::parse(v))).map(Name::into_inner);
        let start_date = req.start_date.as_deref().and_then(|v| f.check("startDate", domain::parse_start_date(v, today)));
        f.finish()?;
        let (_, couple) = self.current_couple(identity).await?;
        let couple = self.store.update_couple(couple.id, name, start_date).await?.ok_or(Error::NoCouple)?;
        let members = self.store.couple_members(couple.id).await?;
        Ok(Couple::new(couple, &members, today))
    }

    /// The members of the caller's couple.
    pub async fn members(&self, identity: &Identity) -> Result<Vec<Member>> {
        let (_, couple) = self.current_couple(identity).await?;
        Ok(self.store.couple_members(couple.id).await?.into_iter().map(Member::from).collect())
    }

    /// The home screen: counters, the next anniversary and the partner.
    pub async fn home(&self, identity: &Identity) -> Result<CoupleHome> {
        let today = today();
        let (user, couple) = self.current_couple(identity).await?;
        let members = self.store.couple_members(couple.id).await?;
        let partner = match members.iter().find(|m| m.id != user.id) {
            Some(m) => self.store.user_by_id(m.id).await?.map(User::from),
            None => None,
        };
        let (date, label) = domain::next_anniversary(couple.start_date, today);
        Ok(CoupleHome {
            couple_id: couple.id,
            couple_name: couple.name,
            days_since_start: domain::days_since_start(couple.start_date, today),
            next_anniversary: Anniversary { date, label },
            partner,
        })
    }

    /// Breaks up: both leave the couple (kept as ended) and both users' access tokens stop.
    pub async fn break_up(&self, identity: &Identity) -> Result<()> {
        let (_, couple) = self.current_couple(identity).await?;
        for (user_id, version) in self.store.break_up(couple.id, Utc::now()).await? {
            self.publish_version(user_id, version).await?;
        }
        Ok(())
    }

    // ---- revocation -----------------------------------------------------------------------

    /// Publishes a user's token version where the gateway reads it.
    async fn publish_version(&self, user_id: Uuid, version: i64) -> Result<()> {
        // Kept a little longer than an access token lives: older tokens are expired anyway, and
        // on a miss the gateway asks this service.
        let ttl = self.keys.ttl() + Duration::from_secs(60);
        self.kv.set(&version_key(user_id), &version.to_string(), Some(ttl)).await?;
        Ok(())
    }

    /// A user's current token version (for the gateway), refreshing the shared copy.
    pub async fn token_version(&self, user_id: Uuid) -> Result<TokenVersion> {
        let user = self.store.user_by_id(user_id).await?.ok_or(Error::UserNotFound)?;
        if let Err(err) = self.publish_version(user.id, user.token_version).await {
            tracing::debug!(%err, "could not refresh the shared token version");
        }
        Ok(TokenVersion { user_id: user.id, token_version: user.token_version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let hash = hash_refresh_token(&a);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, a);
        assert_eq!(hash, hash_refresh_token(&a));
    }

    #[test]
    fn field_errors_are_collected() {
        let mut f = Fields::default();
        f.required("a", &None);
        f.check::<()>("b", Err("bad"));
        let Err(Error::Validation(fields)) = f.finish() else { panic!("expected validation errors") };
        assert_eq!(fields.len(), 2);
        assert_eq!(fields["a"], "is required");
    }
}
