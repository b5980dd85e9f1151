//! Calling other services (feature `peers`): [`PeerClient`] reads a peer's `/internal/...`
//! endpoints with the shared internal token and a bounded timeout, and tells "the peer could not
//! answer" ([`PeerError::Unavailable`]: the caller degrades or answers 503) apart from "it
//! answered that there is no such thing" ([`PeerError::NotFound`]). [`UserCouple`] is
//! user-couple's couple endpoint on top of it, cached, which several services read.

use std::{sync::Arc, time::Duration};

use chrono::NaiveDate;
use couple_registry::{ServiceSpec, USER_COUPLE};
use moka::future::Cache;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{config::PeerUrls, net::INTERNAL_TOKEN_HEADER};

/// Why a peer gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// Down, slow past the timeout, refusing the internal token, or answering something
    /// unreadable: worth a retry later.
    #[error("{peer} is unavailable: {cause}")]
    Unavailable {
        /// The peer's registry name.
        peer: &'static str,
        /// What went wrong (no secrets).
        cause: String,
    },
    /// The peer answered 404: it has no such object.
    #[error("{0} not found")]
    NotFound(&'static str),
}

/// Timeouts and cache lifetimes of the clients.
#[derive(Debug, Clone, Copy)]
pub struct PeerSettings {
    /// Bound on one call, connection included.
    pub timeout: Duration,
    /// How long a couple's members are reused: a renamed partner shows within this.
    pub couple_ttl: Duration,
}

impl Default for PeerSettings {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(2), couple_ttl: Duration::from_secs(60) }
    }
}

/// One peer: its base URL, an HTTP client and the internal token.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    base: String,
    token: Option<Arc<SecretString>>,
    peer: &'static str,
}

/// The envelope around a peer's `data`.
#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

impl PeerClient {
    /// A client for `peer` at its URL in `urls`, authenticated with `internal_token`
    /// (`SharedConfig::internal_token`; without one, every call is refused as unavailable).
    pub fn new(
        urls: &PeerUrls,
        peer: &'static ServiceSpec,
        internal_token: Option<SecretString>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self { http, base: base_url(urls, peer), token: internal_token.map(Arc::new), peer: peer.name })
    }

    /// A client for another peer sharing this one's HTTP client, timeout and token.
    pub fn for_peer(&self, urls: &PeerUrls, peer: &'static ServiceSpec) -> Self {
        Self { base: base_url(urls, peer), peer: peer.name, ..self.clone() }
    }

    /// `GET path` (from the peer's base URL) and its envelope's `data`; a 404 is
    /// `NotFound(what)`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, what: &'static str) -> Result<T, PeerError> {
        let unavailable = |cause: String| PeerError::Unavailable { peer: self.peer, cause };
        let mut request = self.http.get(format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request = request.header(INTERNAL_TOKEN_HEADER, token.expose_secret()),
            None => return Err(unavailable("no internal token is configured (COUPLE_INTERNAL_TOKEN)".into())),
        }
        // Without the URL: it is ours, and reqwest's message would repeat it.
        let response = request.send().await.map_err(|e| unavailable(describe(&e)))?;
        match response.status() {
            StatusCode::OK => response
                .json::<Envelope<T>>()
                .await
                .map(|e| e.data)
                .map_err(|e| unavailable(format!("unreadable answer: {}", describe(&e)))),
            StatusCode::NOT_FOUND => Err(PeerError::NotFound(what)),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(unavailable("the internal token was refused".into())),
            status => Err(unavailable(format!("answered {status}"))),
        }
    }
}

fn base_url(urls: &PeerUrls, peer: &ServiceSpec) -> String {
    urls.url(peer).trim_end_matches('/').to_owned()
}

fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_decode() {
        "malformed body"
    } else {
        "request failed"
    };
    match std::error::Error::source(err) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_owned(),
    }
}

/// A couple as user-couple knows it (`GET /internal/couples/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoupleInfo {
    /// Couple id.
    pub id: Uuid,
    /// The couple's name.
    pub name: String,
    /// The day they count from (day 1).
    pub start_date: NaiveDate,
    /// Still together; an expired couple is inactive and may have no members left.
    pub active: bool,
    /// The current members.
    pub members: Vec<Member>,
}

impl CoupleInfo {
    /// The member `user_id`, if they are one.
    pub fn member(&self, user_id: Uuid) -> Option<&Member> {
        self.members.iter().find(|m| m.user_id == user_id)
    }
}

/// A member of a couple.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// User id.
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
    /// Birthday.
    pub birth: NaiveDate,
}

/// user-couple's internal API, with couples cached briefly: calendars, recommendations and chat
/// messages read them on every request, and they change rarely (a rename shows within the TTL).
#[derive(Clone)]
pub struct UserCouple {
    client: PeerClient,
    cache: Cache<Uuid, Arc<CoupleInfo>>,
}

impl UserCouple {
    /// user-couple through `client` (made for [`USER_COUPLE`]), caching couples for `ttl`.
    pub fn new(client: PeerClient, ttl: Duration) -> Self {
        Self { client, cache: Cache::builder().max_capacity(10_000).time_to_live(ttl).build() }
    }

    /// user-couple at its URL in `urls`, with `settings`' timeout and couple TTL.
    pub fn connect(urls: &PeerUrls, internal_token: Option<SecretString>, settings: PeerSettings) -> anyhow::Result<Self> {
        Ok(Self::new(PeerClient::new(urls, &USER_COUPLE, internal_token, settings.timeout)?, settings.couple_ttl))
    }

    /// The couple `id`, from the cache when read within the TTL. Concurrent misses for one
    /// couple share one call (a burst of messages must not become a burst of calls). Errors,
    /// not-found included, are not cached: a couple just formed must not stay unknown for a
    /// minute.
    #[tracing::instrument(skip_all, fields(couple_id = %id))]
    pub async fn couple(&self, id: Uuid) -> Result<Arc<CoupleInfo>, PeerError> {
        self.cache
            .try_get_with(id, async { self.client.get::<CoupleInfo>(&format!("/internal/couples/{id}"), "couple").await.map(Arc::new) })
            .await
            .map_err(|shared| (*shared).clone())
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::{
        Json, Router,
        extract::{FromRef, Path, State},
        routing::get,
    };
    use serde_json::{Value, json};

    use super::*;
    use crate::{
        InternalCaller,
        extract::InternalToken,
        test_util::{TestServer, shared_config},
    };

    /// The state of a stand-in user-couple: the real internal-token check and a request counter.
    #[derive(Clone, FromRef)]
    struct StandIn {
        token: InternalToken,
        calls: Arc<AtomicUsize>,
        name: Arc<std::sync::Mutex<String>>,
        delay: Duration,
    }

    const KNOWN: Uuid = Uuid::from_u128(1);
    const ALICE: Uuid = Uuid::from_u128(0xa);
    const BOB: Uuid = Uuid::from_u128(0xb);

    /// A local stand-in serving user-couple's couple endpoint in its real shape, answering after
    /// `delay`; `/slow` never answers in time.
    async fn stand_in(delay: Duration) -> (TestServer, StandIn) {
        let state = StandIn {
            token: InternalToken::from_config(&shared_config()),
            calls: Arc::default(),
            name: Arc::new(std::sync::Mutex::new("Alice".into())),
            delay,
        };
        async fn couple(_: InternalCaller, State(s): State<StandIn>, Path(id): Path<Uuid>) -> Result<Json<Value>, StatusCode> {
            s.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(s.delay).await;
            if id != KNOWN {
                return Err(StatusCode::NOT_FOUND);
            }
            let name = s.name.lock().unwrap().clone();
            Ok(Json(json!({"success": true, "message": "ok", "data": {
                "id": id, "name": "우리", "startDate": "2024-02-29", "active": true,
                "members": [{"userId": ALICE, "name": name, "birth": "1996-05-01"}, {"userId": BOB, "name": "Bob", "birth": "1995-12-24"}]}})))
        }
        async fn slow() -> StatusCode {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK
        }
        let app = Router::new()
            .route("/internal/couples/{id}", get(couple))
            .route("/slow/internal/couples/{id}", get(slow))
            .with_state(state.clone());
        (TestServer::start(app).await, state)
    }

    fn user_couple(base: &str, settings: PeerSettings) -> UserCouple {
        let urls = PeerUrls::default().with(&USER_COUPLE, base);
        UserCouple::connect(&urls, shared_config().internal_token, settings).unwrap()
    }

    fn unavailable(result: Result<impl std::fmt::Debug, PeerError>) -> String {
        match result {
            Err(PeerError::Unavailable { cause, .. }) => cause,
            other => panic!("expected unavailable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_couple_is_read_once_and_then_served_from_the_cache() {
        let (server, state) = stand_in(Duration::ZERO).await;
        let peer = user_couple(&server.base, PeerSettings::default());
        let couple = peer.couple(KNOWN).await.unwrap();
        assert_eq!((couple.start_date, couple.active, couple.members.len()), (NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(), true, 2));
        assert_eq!(couple.members[0], Member { user_id: ALICE, name: "Alice".into(), birth: NaiveDate::from_ymd_opt(1996, 5, 1).unwrap() });
        assert_eq!(couple.member(BOB).map(|m| m.name.as_str()), Some("Bob"));
        assert_eq!(couple.member(Uuid::from_u128(0xc)), None);
        *state.name.lock().unwrap() = "Alicia".into();
        assert_eq!(peer.couple(KNOWN).await.unwrap().members[0].name, "Alice", "cached");
        assert_eq!(state.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_misses_for_one_couple_make_one_call() {
        // The delay keeps the first call in flight while the others ask.
        let (server, state) = stand_in(Duration::from_millis(200)).await;
        let peer = user_couple(&server.base, PeerSettings::default());
        let asks = (0..20).map(|_| {
            let peer = peer.clone();
            tokio::spawn(async move { peer.couple(KNOWN).await })
        });
        for ask in asks.collect::<Vec<_>>() {
            assert_eq!(ask.await.unwrap().unwrap().id, KNOWN);
        }
        assert_eq!(state.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_misses_for_an_unknown_couple_share_one_not_found_that_is_not_cached() {
        let (server, state) = stand_in(Duration::from_millis(200)).await;
        let peer = user_couple(&server.base, PeerSettings::default());
        let unknown = Uuid::from_u128(2);
        let asks: Vec<_> = (0..5)
            .map(|_| {
                let peer = peer.clone();
                tokio::spawn(async move { peer.couple(unknown).await })
            })
            .collect();
        for ask in asks {
            assert_eq!(ask.await.unwrap(), Err(PeerError::NotFound("couple")));
        }
        assert_eq!(state.calls.load(Ordering::SeqCst), 1);
        assert_eq!(peer.couple(unknown).await, Err(PeerError::NotFound("couple")));
        assert_eq!(state.calls.load(Ordering::SeqCst), 2, "asked again");
    }

    #[tokio::test]
    async fn a_rename_shows_once_the_cached_couple_expires() {
        let (server, state) = stand_in(Duration::ZERO).await;
        let peer = user_couple(&server.base, PeerSettings { couple_ttl: Duration::from_millis(50), ..PeerSettings::default() });
        peer.couple(KNOWN).await.unwrap();
        *state.name.lock().unwrap() = "Alicia".into();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(peer.couple(KNOWN).await.unwrap().members[0].name, "Alicia");
        assert_eq!(state.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_peer_that_is_down_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        assert!(unavailable(user_couple(&base, PeerSettings::default()).couple(KNOWN).await).contains("could not connect"));
    }

    #[tokio::test]
    async fn a_peer_that_does_not_answer_in_time_is_unavailable() {
        let (server, _) = stand_in(Duration::ZERO).await;
        let peer = user_couple(&server.url("/slow"), PeerSettings { timeout: Duration::from_millis(200), ..PeerSettings::default() });
        assert!(unavailable(peer.couple(KNOWN).await).contains("timed out"));
    }

    #[tokio::test]
    async fn a_refused_or_missing_internal_token_is_unavailable() {
        let (server, state) = stand_in(Duration::ZERO).await;
        let urls = PeerUrls::default().with(&USER_COUPLE, &server.base);
        let wrong = UserCouple::connect(&urls, Some("not-the-token".to_owned().into()), PeerSettings::default()).unwrap();
        assert!(unavailable(wrong.couple(KNOWN).await).contains("refused"));
        let none = UserCouple::connect(&urls, None, PeerSettings::default()).unwrap();
        assert!(unavailable(none.couple(KNOWN).await).contains("no internal token"));
        assert_eq!(state.calls.load(Ordering::SeqCst), 0, "the stand-in's handler never ran");
    }

    #[tokio::test]
    async fn another_peer_shares_the_client_under_its_own_url_and_name() {
        let (server, _) = stand_in(Duration::ZERO).await;
        let urls = PeerUrls::default().with(&USER_COUPLE, &server.base).with(&couple_registry::CHAT, server.url("/slow"));
        let client = PeerClient::new(&urls, &USER_COUPLE, shared_config().internal_token, Duration::from_millis(200)).unwrap();
        let chat = client.for_peer(&urls, &couple_registry::CHAT);
        let err = chat.get::<Value>(&format!("/internal/couples/{KNOWN}"), "couple").await.unwrap_err();
        assert!(matches!(&err, PeerError::Unavailable { peer: "chat", cause } if cause.contains("timed out")), "{err:?}");
    }
}
