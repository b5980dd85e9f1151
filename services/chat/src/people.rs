//! Display names for messages and presence, from user-couple (a couple's members, cached by
//! couple_common's [`UserCouple`], one call per couple however many messages miss at once).
//! A name is a nicety: when user-couple cannot answer, messages go out without one.

use std::time::Duration;

use couple_common::{
    config::PeerUrls,
    peers::{PeerSettings, UserCouple},
};
use secrecy::SecretString;
use uuid::Uuid;

/// Nicknames of couple members.
#[derive(Clone, Default)]
pub struct People {
    /// `None`: no user-couple to ask (tests), so nobody has a name.
    user_couple: Option<UserCouple>,
}

impl std::fmt::Debug for People {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("People").field("user_couple", &self.user_couple.is_some()).finish()
    }
}

impl People {
    /// Chat's settings for user-couple: a message waits for its sender's name before it is
    /// committed, so an unreachable user-couple may cost each post at most half a second.
    pub const SETTINGS: PeerSettings = PeerSettings { timeout: Duration::from_millis(500), couple_ttl: Duration::from_secs(60) };

    /// Names from user-couple at its URL in `urls`, asked with `internal_token`
    /// (`SharedConfig::internal_token`; without one, nobody has a name).
    pub fn new(urls: &PeerUrls, internal_token: Option<SecretString>, settings: PeerSettings) -> anyhow::Result<Self> {
        Ok(Self { user_couple: Some(UserCouple::connect(urls, internal_token, settings)?) })
    }

    /// The display name of `user_id` in `couple_id`, if user-couple knows it.
    #[tracing::instrument(skip_all, fields(couple_id = %couple_id))]
    pub async fn nickname(&self, couple_id: Uuid, user_id: Uuid) -> Option<String> {
        let user_couple = self.user_couple.as_ref()?;
        match user_couple.couple(couple_id).await {
            Ok(couple) => {
                let name = couple.member(user_id).map(|m| m.name.clone());
                if name.is_none() {
                    tracing::debug!("no nickname: the user is not a member of the couple");
                }
                name
            }
            Err(err) => {
                tracing::debug!(error = %err, "no nickname: user-couple did not answer");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axum::{
        Json, Router,
        extract::{FromRef, Path, State},
        http::StatusCode,
        routing::get,
    };
    use couple_common::{
        InternalCaller,
        extract::InternalToken,
        test_util::{TestServer, shared_config},
    };
    use couple_registry::USER_COUPLE;
    use serde_json::{Value, json};

    use super::*;

    const COUPLE: Uuid = Uuid::from_u128(0xc);
    const ALICE: Uuid = Uuid::from_u128(0xa);
    const BOB: Uuid = Uuid::from_u128(0xb);

    #[derive(Clone, FromRef)]
    struct StandIn {
        token: InternalToken,
        calls: Arc<AtomicUsize>,
    }

    /// A local stand-in of user-couple's couple endpoint: COUPLE is Alice and Bob.
    async fn user_couple() -> (TestServer, Arc<AtomicUsize>) {
        async fn couple(_: InternalCaller, State(calls): State<Arc<AtomicUsize>>, Path(id): Path<Uuid>) -> Result<Json<Value>, StatusCode> {
            calls.fetch_add(1, Ordering::SeqCst);
            if id != COUPLE {
                return Err(StatusCode::NOT_FOUND);
            }
            Ok(Json(json!({"success": true, "message": "ok", "data": {
                "id": id, "name": "우리", "startDate": "2024-02-29", "active": true,
                "members": [{"userId": ALICE, "name": "앨리스", "birth": "1996-05-01"}, {"userId": BOB, "name": "Bob", "birth": "1995-12-24"}]}})))
        }
        let state = StandIn { token: InternalToken::from_config(&shared_config()), calls: Arc::default() };
        let app = Router::new().route("/internal/couples/{id}", get(couple)).with_state(state.clone());
        (TestServer::start(app).await, state.calls)
    }

    fn people(base: &str) -> People {
        People::new(&PeerUrls::default().with(&USER_COUPLE, base), shared_config().internal_token, People::SETTINGS).unwrap()
    }

    #[tokio::test]
    async fn members_are_named_as_user_couple_names_them_from_one_call() {
        let (server, calls) = user_couple().await;
        let people = people(&server.base);
        assert_eq!(people.nickname(COUPLE, ALICE).await.as_deref(), Some("앨리스"));
        assert_eq!(people.nickname(COUPLE, BOB).await.as_deref(), Some("Bob"));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the couple is cached");
    }

    #[tokio::test]
    async fn a_user_outside_the_couple_or_an_unknown_couple_has_no_name() {
        let (server, _) = user_couple().await;
        let people = people(&server.base);
        assert_eq!(people.nickname(COUPLE, Uuid::from_u128(0xd)).await, None);
        assert_eq!(people.nickname(Uuid::from_u128(0xe), ALICE).await, None);
    }

    #[tokio::test]
    async fn without_user_couple_nobody_has_a_name_and_nothing_fails() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let down = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        assert_eq!(people(&down).nickname(COUPLE, ALICE).await, None);
        assert_eq!(People::default().nickname(COUPLE, ALICE).await, None);
    }
}
