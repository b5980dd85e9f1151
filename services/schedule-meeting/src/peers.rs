//! Clients for the two services schedule-meeting calls: user-couple (a couple's members, their
//! birthdays and the start date) and question-answer (the partners' trait vectors). Both go to
//! `/internal/...` with the shared internal token, with a bounded timeout, and tell "the peer
//! could not answer" ([`PeerError::Unavailable`], the caller degrades or answers 503) apart from
//! "it answered that there is no such thing" ([`PeerError::NotFound`]).

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::NaiveDate;
use couple_common::{
    config::PeerUrls,
    net::INTERNAL_TOKEN_HEADER,
    traits::{TRAIT_COUNT, key_index},
};
use couple_registry::{QUESTION_ANSWER, USER_COUPLE};
use moka::sync::Cache;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::recommend::engine::TraitVector;

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

/// Both clients, built once at start.
#[derive(Clone)]
pub struct Peers {
    /// user-couple.
    pub user_couple: UserCouple,
    /// question-answer.
    pub question_answer: QuestionAnswer,
}

impl Peers {
    /// Clients for the peers at `urls`, authenticated with `internal_token`
    /// (`SharedConfig::internal_token`; without one, every call is refused as unavailable).
    pub fn new(urls: &PeerUrls, internal_token: Option<SecretString>, settings: PeerSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(settings.timeout).connect_timeout(settings.timeout).build()?;
        let token = internal_token.map(Arc::new);
        let client = |peer: &couple_registry::ServiceSpec| PeerClient {
            http: http.clone(),
            base: urls.url(peer).trim_end_matches('/').to_owned(),
            token: token.clone(),
            peer: peer.name,
        };
        Ok(Self {
            user_couple: UserCouple {
                client: client(&USER_COUPLE),
                cache: Cache::builder().max_capacity(10_000).time_to_live(settings.couple_ttl).build(),
            },
            question_answer: QuestionAnswer { client: client(&QUESTION_ANSWER) },
        })
    }
}

/// One peer: its base URL, the shared HTTP client and the token.
#[derive(Clone)]
struct PeerClient {
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
    /// `GET path` and its envelope's `data`; a 404 is `NotFound(what)`.
    async fn get<T: DeserializeOwned>(&self, path: &str, what: &'static str) -> Result<T, PeerError> {
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

/// user-couple's internal API, with couples cached briefly: the calendar and recommendations
/// read them on every request, and they change rarely (a rename shows within the TTL).
#[derive(Clone)]
pub struct UserCouple {
    client: PeerClient,
    cache: Cache<Uuid, Arc<CoupleInfo>>,
}

impl UserCouple {
    /// The couple `id`, from the cache when read within the TTL. Not-found answers are not
    /// cached: a couple just formed must not stay unknown for a minute.
    #[tracing::instrument(skip_all, fields(couple_id = %id))]
    pub async fn couple(&self, id: Uuid) -> Result<Arc<CoupleInfo>, PeerError> {
        if let Some(couple) = self.cache.get(&id) {
            return Ok(couple);
        }
        let couple: Arc<CoupleInfo> = Arc::new(self.client.get(&format!("/internal/couples/{id}"), "couple").await?);
        self.cache.insert(id, couple.clone());
        Ok(couple)
    }
}

/// question-answer's internal API. Vectors are not cached: answering the daily question changes
/// them, a couple often asks for a course right after answering, and a recommendation is one
/// explicit request, not a hot path, so a fresh read (one internal call) is worth more.
#[derive(Clone)]
pub struct QuestionAnswer {
    client: PeerClient,
}

/// One user's vector as question-answer serves it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserVector {
    user_id: Uuid,
    vectors: HashMap<String, f64>,
}

impl QuestionAnswer {
    /// The vectors of `users` (at most ten, as the batch endpoint takes), by user; users without
    /// one are simply absent. Unknown keys are ignored, values clamped to -1..=1.
    #[tracing::instrument(skip_all, fields(users = users.len()))]
    pub async fn vectors(&self, users: &[Uuid]) -> Result<HashMap<Uuid, TraitVector>, PeerError> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<String> = users.iter().map(Uuid::to_string).collect();
        let found: Vec<UserVector> = self.client.get(&format!("/internal/user-vectors?userIds={}", ids.join(",")), "user vectors").await?;
        Ok(found
            .into_iter()
            .filter(|v| users.contains(&v.user_id))
            .map(|v| {
                let mut vector = [0.0; TRAIT_COUNT];
                for (key, value) in v.vectors {
                    if let Some(index) = key_index(&key).filter(|_| value.is_finite()) {
                        vector[index] = value.clamp(-1.0, 1.0);
                    }
                }
                (v.user_id, vector)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::{
        Json, Router,
        extract::{FromRef, Path, Query, State},
        http::StatusCode,
        routing::get,
    };
    use couple_common::{
        InternalCaller,
        extract::InternalToken,
        test_util::{TestServer, shared_config},
    };
    use serde_json::{Value, json};

    use super::*;

    /// The state of a stand-in peer: the real internal-token check and a request counter.
    #[derive(Clone, FromRef)]
    struct StandIn {
        token: InternalToken,
        calls: Arc<AtomicUsize>,
        name: Arc<std::sync::Mutex<String>>,
    }

    const KNOWN: Uuid = Uuid::from_u128(1);
    const ALICE: Uuid = Uuid::from_u128(0xa);
    const BOB: Uuid = Uuid::from_u128(0xb);

    /// A local stand-in serving user-couple's and question-answer's internal endpoints in
    /// their real shapes; `/slow` paths never answer in time.
    async fn stand_in() -> (TestServer, StandIn) {
        let state = StandIn {
            token: InternalToken::from_config(&shared_config()),
            calls: Arc::default(),
            name: Arc::new(std::sync::Mutex::new("Alice".into())),
        };
        async fn couple(_: InternalCaller, State(s): State<StandIn>, Path(id): Path<Uuid>) -> Result<Json<Value>, StatusCode> {
            s.calls.fetch_add(1, Ordering::SeqCst);
            if id != KNOWN {
                return Err(StatusCode::NOT_FOUND);
            }
            let name = s.name.lock().unwrap().clone();
            Ok(Json(json!({"success": true, "message": "ok", "data": {
                "id": id, "name": "우리", "startDate": "2024-02-29", "active": true,
                "members": [{"userId": ALICE, "name": name, "birth": "1996-05-01"}, {"userId": BOB, "name": "Bob", "birth": "1995-12-24"}]}})))
        }
        async fn vectors(_: InternalCaller, State(s): State<StandIn>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
            s.calls.fetch_add(1, Ordering::SeqCst);
            let asked = q.get("userIds").cloned().unwrap_or_default();
            // Only Alice has a vector; the answer carries every key and an out-of-range value.
            let data: Vec<Value> = asked
                .split(',')
                .filter(|id| *id == ALICE.to_string())
                .map(|id| {
                    let mut vectors: serde_json::Map<String, Value> = (1..=TRAIT_COUNT).map(|n| (format!("vec{n}"), json!(0.0))).collect();
                    vectors.insert("vec1".into(), json!(0.75));
                    vectors.insert("vec2".into(), json!(-3.0));
                    json!({"userId": id, "vectors": vectors, "updatedAt": "2026-01-01T00:00:00Z"})
                })
                .collect();
            Json(json!({"success": true, "message": "ok", "data": data}))
        }
        async fn slow() -> StatusCode {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK
        }
        let app = Router::new()
            .route("/internal/couples/{id}", get(couple))
            .route("/internal/user-vectors", get(vectors))
            .route("/slow/internal/couples/{id}", get(slow))
            .route("/slow/internal/user-vectors", get(slow))
            .with_state(state.clone());
        (TestServer::start(app).await, state)
    }

    fn peers(base: &str, settings: PeerSettings) -> Peers {
        let urls = PeerUrls::default().with(&USER_COUPLE, base).with(&QUESTION_ANSWER, base);
        Peers::new(&urls, shared_config().internal_token, settings).unwrap()
    }

    fn unavailable(result: Result<impl std::fmt::Debug, PeerError>) -> String {
        match result {
            Err(PeerError::Unavailable { cause, .. }) => cause,
            other => panic!("expected unavailable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_couple_is_read_once_and_then_served_from_the_cache() {
        let (server, state) = stand_in().await;
        let peers = peers(&server.base, PeerSettings::default());
        let couple = peers.user_couple.couple(KNOWN).await.unwrap();
        assert_eq!((couple.start_date, couple.active, couple.members.len()), (NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(), true, 2));
        assert_eq!(couple.members[0], Member { user_id: ALICE, name: "Alice".into(), birth: NaiveDate::from_ymd_opt(1996, 5, 1).unwrap() });
        *state.name.lock().unwrap() = "Alicia".into();
        assert_eq!(peers.user_couple.couple(KNOWN).await.unwrap().members[0].name, "Alice", "cached");
        assert_eq!(state.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_rename_shows_once_the_cached_couple_expires() {
        let (server, state) = stand_in().await;
        let peers = peers(&server.base, PeerSettings { couple_ttl: Duration::from_millis(50), ..PeerSettings::default() });
        peers.user_couple.couple(KNOWN).await.unwrap();
        *state.name.lock().unwrap() = "Alicia".into();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(peers.user_couple.couple(KNOWN).await.unwrap().members[0].name, "Alicia");
        assert_eq!(state.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unknown_couple_is_not_found_and_not_cached() {
        let (server, state) = stand_in().await;
        let peers = peers(&server.base, PeerSettings::default());
        let unknown = Uuid::from_u128(2);
        assert_eq!(peers.user_couple.couple(unknown).await, Err(PeerError::NotFound("couple")));
        assert_eq!(peers.user_couple.couple(unknown).await, Err(PeerError::NotFound("couple")));
        assert_eq!(state.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn vectors_come_back_by_user_with_the_missing_ones_absent() {
        let (server, _) = stand_in().await;
        let peers = peers(&server.base, PeerSettings::default());
        let vectors = peers.question_answer.vectors(&[ALICE, BOB]).await.unwrap();
        assert_eq!(vectors.len(), 1, "Bob has no vector");
        let alice = vectors[&ALICE];
        assert_eq!((alice[0], alice[1], alice[49]), (0.75, -1.0, 0.0), "clamped to -1..=1");
        assert!(peers.question_answer.vectors(&[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_peer_that_is_down_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let peers = peers(&base, PeerSettings::default());
        assert!(unavailable(peers.user_couple.couple(KNOWN).await).contains("could not connect"));
        assert!(unavailable(peers.question_answer.vectors(&[ALICE]).await).contains("could not connect"));
    }

    #[tokio::test]
    async fn a_peer_that_does_not_answer_in_time_is_unavailable() {
        let (server, _) = stand_in().await;
        let peers = peers(&server.url("/slow"), PeerSettings { timeout: Duration::from_millis(200), ..PeerSettings::default() });
        assert!(unavailable(peers.user_couple.couple(KNOWN).await).contains("timed out"));
        assert!(unavailable(peers.question_answer.vectors(&[ALICE]).await).contains("timed out"));
    }

    #[tokio::test]
    async fn a_refused_or_missing_internal_token_is_unavailable() {
        let (server, state) = stand_in().await;
        let urls = PeerUrls::default().with(&USER_COUPLE, &server.base);
        let wrong = Peers::new(&urls, Some("not-the-token".to_owned().into()), PeerSettings::default()).unwrap();
        assert!(unavailable(wrong.user_couple.couple(KNOWN).await).contains("refused"));
        let none = Peers::new(&urls, None, PeerSettings::default()).unwrap();
        assert!(unavailable(none.user_couple.couple(KNOWN).await).contains("no internal token"));
        assert_eq!(state.calls.load(Ordering::SeqCst), 0, "the stand-in's handler never ran");
    }
}
