//! The two services schedule-meeting calls: user-couple (a couple's members, their birthdays
//! and the start date: couple_common's cached [`UserCouple`]) and question-answer (the partners'
//! trait vectors, [`QuestionAnswer`] here), both through couple_common's [`PeerClient`].

use std::collections::HashMap;

use couple_common::{
    config::PeerUrls,
    peers::{PeerClient, PeerError, PeerSettings, UserCouple},
    traits::{TRAIT_COUNT, key_index},
};
use couple_registry::{QUESTION_ANSWER, USER_COUPLE};
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use crate::recommend::engine::TraitVector;

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
        let client = PeerClient::new(urls, &USER_COUPLE, internal_token, settings.timeout)?;
        Ok(Self {
            question_answer: QuestionAnswer { client: client.for_peer(urls, &QUESTION_ANSWER) },
            user_couple: UserCouple::new(client, settings.couple_ttl),
        })
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
    use std::time::Duration;

    use axum::{
        Json, Router,
        extract::{FromRef, Query},
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

    // user-couple's client, the timeout and the token are couple_common::peers' and tested there.

    /// The state of a stand-in question-answer: the real internal-token check.
    #[derive(Clone, FromRef)]
    struct StandIn {
        token: InternalToken,
    }

    const ALICE: Uuid = Uuid::from_u128(0xa);
    const BOB: Uuid = Uuid::from_u128(0xb);

    /// A local stand-in serving question-answer's batch vector endpoint in its real shape;
    /// `/slow` never answers in time.
    async fn stand_in() -> TestServer {
        async fn vectors(_: InternalCaller, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
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
            .route("/internal/user-vectors", get(vectors))
            .route("/slow/internal/user-vectors", get(slow))
            .with_state(StandIn { token: InternalToken::from_config(&shared_config()) });
        TestServer::start(app).await
    }

    fn peers(base: &str, settings: PeerSettings) -> Peers {
        let urls = PeerUrls::default().with(&USER_COUPLE, "http://127.0.0.1:9").with(&QUESTION_ANSWER, base);
        Peers::new(&urls, shared_config().internal_token, settings).unwrap()
    }

    #[tokio::test]
    async fn vectors_come_back_by_user_with_the_missing_ones_absent() {
        let server = stand_in().await;
        let peers = peers(&server.base, PeerSettings::default());
        let vectors = peers.question_answer.vectors(&[ALICE, BOB]).await.unwrap();
        assert_eq!(vectors.len(), 1, "Bob has no vector");
        let alice = vectors[&ALICE];
        assert_eq!((alice[0], alice[1], alice[49]), (0.75, -1.0, 0.0), "clamped to -1..=1");
        assert!(peers.question_answer.vectors(&[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn question_answer_not_answering_in_time_is_unavailable_under_its_name() {
        let server = stand_in().await;
        let peers = peers(&server.url("/slow"), PeerSettings { timeout: Duration::from_millis(200), ..PeerSettings::default() });
        let err = peers.question_answer.vectors(&[ALICE]).await.unwrap_err();
        assert!(matches!(&err, PeerError::Unavailable { peer: "question-answer", cause } if cause.contains("timed out")), "{err:?}");
    }

    #[tokio::test]
    async fn the_couple_client_reads_user_couple_not_question_answer() {
        let server = stand_in().await;
        let peers = peers(&server.base, PeerSettings { timeout: Duration::from_millis(500), ..PeerSettings::default() });
        let err = peers.user_couple.couple(Uuid::from_u128(1)).await.unwrap_err();
        assert!(matches!(&err, PeerError::Unavailable { peer: "user-couple", .. }), "{err:?}");
    }
}
