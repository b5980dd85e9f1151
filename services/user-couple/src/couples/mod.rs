//! Couples: pairing two users with a 6-digit code, the couple, its members and its home screen,
//! and breaking up.

pub mod dto;
pub mod http;

use std::{sync::Arc, time::Duration};

use chrono::{NaiveDate, Utc};
use couple_common::{Identity, kv::Kv};
use uuid::Uuid;

use crate::{
    config::Config,
    domain::{self, MatchCode},
    error::{Error, Result},
    limits::Lockout,
    sessions::Sessions,
    store::{CoupleRecord, Store, StoreError, UserRecord},
    users::dto::User,
};

use dto::{AcceptMatchResponse, Anniversary, Couple, CoupleForService, CoupleHome, CoupleUpdate, MatchCodeResponse, Member, NewMatch};

/// The couples of the service.
pub struct Couples {
    sessions: Arc<Sessions>,
    store: Arc<dyn Store>,
    kv: Arc<dyn Kv>,
    match_ttl: Duration,
    match_guesses: Lockout,
}

/// What a match code stands for until it is accepted.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Offer {
    user_id: Uuid,
    name: String,
    start_date: NaiveDate,
}

impl Couples {
    /// Couples on `store`, with match codes and guess limits on `kv`.
    pub fn new(config: &Config, store: Arc<dyn Store>, sessions: Arc<Sessions>, kv: Arc<dyn Kv>) -> Self {
        let guess_window = Duration::from_secs(config.match_guess_window_secs);
        Self {
            match_ttl: Duration::from_secs(config.match_code_ttl_secs.max(1)),
            match_guesses: Lockout::new(kv.clone(), config.match_guesses_per_user, guess_window),
            sessions,
            store,
            kv,
        }
    }

    /// Creates the caller's match code, replacing any outstanding one.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn create_match_code(&self, identity: &Identity, new: NewMatch) -> Result<MatchCodeResponse> {
        let user = self.sessions.current_user(identity).await?;
        if user.couple_id.is_some() {
            return Err(Error::AlreadyCoupled);
        }
        let offer = Offer { user_id: user.id, name: new.name.into_inner(), start_date: new.start_date.unwrap_or_else(domain::today) };
        let offer = serde_json::to_string(&offer).map_err(|e| Error::Internal(format!("encoding a match offer: {e}")))?;
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
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn accept_match(&self, identity: &Identity, code: MatchCode) -> Result<AcceptMatchResponse> {
        let user = self.sessions.current_user(identity).await?;
        let guess_key = format!("match:{}", user.id);
        self.match_guesses.check(&guess_key).await?;
        let code_key = format!("match:code:{}", code.as_str());
        let Some(offer) = self.kv.get(&code_key).await? else {
            self.match_guesses.fail(&guess_key).await?;
            return Err(Error::UnknownMatchCode);
        };
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
        // The code's owner holds access tokens without the couple, and services scope couple
        // data by the token's `coupleId`: revoke them, so the client's next refresh carries it.
        let version = self.store.bump_token_version(offer.user_id).await?;
        self.sessions.publish_version(offer.user_id, version).await?;
        // Single use: the code goes only once the couple exists, so a failed accept keeps it.
        self.kv.del(&code_key).await?;
        self.kv.del(&format!("match:user:{}", offer.user_id)).await?;
        let user = self.store.user_by_id(user.id).await?.ok_or(Error::UserNotFound)?;
        let tokens = self.sessions.open(&user).await?;
        let members = self.store.couple_members(couple.id).await?;
        Ok(AcceptMatchResponse { couple: Couple::new(couple, &members, domain::today()), tokens })
    }

    async fn current_couple(&self, identity: &Identity) -> Result<(UserRecord, CoupleRecord)> {
        let user = self.sessions.current_user(identity).await?;
        let couple_id = user.couple_id.ok_or(Error::NoCouple)?;
        let couple = self.store.couple_by_id(couple_id).await?.filter(|c| c.ended_at.is_none()).ok_or(Error::NoCouple)?;
        Ok((user, couple))
    }

    /// The caller's couple.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn my_couple(&self, identity: &Identity) -> Result<Couple> {
        let (_, couple) = self.current_couple(identity).await?;
        let members = self.store.couple_members(couple.id).await?;
        Ok(Couple::new(couple, &members, domain::today()))
    }

    /// Renames or re-dates the caller's couple.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn update_couple(&self, identity: &Identity, update: CoupleUpdate) -> Result<Couple> {
        let (_, couple) = self.current_couple(identity).await?;
        let couple = self.store.update_couple(couple.id, update.name, update.start_date).await?.ok_or(Error::NoCouple)?;
        let members = self.store.couple_members(couple.id).await?;
        Ok(Couple::new(couple, &members, domain::today()))
    }

    /// The members of the caller's couple.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn members(&self, identity: &Identity) -> Result<Vec<Member>> {
        let (_, couple) = self.current_couple(identity).await?;
        Ok(self.store.couple_members(couple.id).await?.into_iter().map(Member::from).collect())
    }

    /// The home screen: counters, the next anniversary and the partner.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn home(&self, identity: &Identity) -> Result<CoupleHome> {
        let today = domain::today();
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

    /// A couple by id with its current members, for another service; ended couples too (their
    /// members left), until no former member has an account.
    #[tracing::instrument(skip_all, fields(couple_id = %id))]
    pub async fn for_service(&self, id: Uuid) -> Result<CoupleForService> {
        let couple = self.store.couple_by_id(id).await?.ok_or(Error::CoupleNotFound)?;
        // Breaking up clears the members' couple, so an ended couple lists none.
        let members = self.store.couple_members(id).await?;
        Ok(CoupleForService::new(couple, members))
    }

    /// Breaks up: both leave the couple (kept as ended) and both users' access tokens stop.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn break_up(&self, identity: &Identity) -> Result<()> {
        let (_, couple) = self.current_couple(identity).await?;
        for (user_id, version) in self.store.break_up(couple.id, Utc::now()).await? {
            self.sessions.publish_version(user_id, version).await?;
        }
        Ok(())
    }
}
