//! A local stand-in for the two services schedule-meeting calls, serving their internal
//! endpoints in the real shapes behind the real internal-token check: user-couple's
//! `GET /internal/couples/{id}` and question-answer's `GET /internal/user-vectors?userIds=`.
//! What it knows is set by the test; it can be switched to answer 503 to everything, as a peer
//! whose database is down does.

use std::{
    collections::HashMap,
    net::TcpListener,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    Json, Router,
    extract::{FromRef, Path, Query, State},
    http::StatusCode,
    routing::get,
};
use couple_common::{
    InternalCaller,
    config::PeerUrls,
    extract::InternalToken,
    test_util::{TestServer, shared_config},
};
use couple_registry::{QUESTION_ANSWER, USER_COUPLE};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Clone, FromRef)]
struct Known {
    token: InternalToken,
    #[from_ref(skip)]
    couples: Arc<Mutex<HashMap<Uuid, Value>>>,
    #[from_ref(skip)]
    vectors: Arc<Mutex<HashMap<Uuid, Value>>>,
    #[from_ref(skip)]
    down: Arc<AtomicBool>,
}

/// The stand-in, serving until dropped.
pub struct Peers {
    server: TestServer,
    known: Known,
}

/// A member as user-couple lists it: id, name, birth date (`YYYY-MM-DD`).
pub type MemberInfo<'a> = (Uuid, &'a str, &'a str);

impl Peers {
    pub async fn start() -> Self {
        let known = Known {
            token: InternalToken::from_config(&shared_config()),
            couples: Arc::default(),
            vectors: Arc::default(),
            down: Arc::default(),
        };
        async fn couple(_: InternalCaller, State(k): State<Known>, Path(id): Path<Uuid>) -> Result<Json<Value>, StatusCode> {
            if k.down.load(Ordering::SeqCst) {
                return Err(StatusCode::SERVICE_UNAVAILABLE);
            }
            let found = k.couples.lock().unwrap().get(&id).cloned().ok_or(StatusCode::NOT_FOUND)?;
            Ok(Json(json!({"success": true, "message": "ok", "data": found})))
        }
        async fn vectors(
            _: InternalCaller,
            State(k): State<Known>,
            Query(q): Query<HashMap<String, String>>,
        ) -> Result<Json<Value>, StatusCode> {
            if k.down.load(Ordering::SeqCst) {
                return Err(StatusCode::SERVICE_UNAVAILABLE);
            }
            let known = k.vectors.lock().unwrap();
            let asked = q.get("userIds").cloned().unwrap_or_default();
            let found: Vec<Value> = asked.split(',').filter_map(|id| known.get(&id.parse::<Uuid>().ok()?).cloned()).collect();
            Ok(Json(json!({"success": true, "message": "ok", "data": found})))
        }
        let app = Router::new()
            .route("/internal/couples/{id}", get(couple))
            .route("/internal/user-vectors", get(vectors))
            .with_state(known.clone());
        Self { server: TestServer::start(app).await, known }
    }

    /// Both peers' URLs pointing here.
    pub fn urls(&self) -> PeerUrls {
        PeerUrls::default().with(&USER_COUPLE, &self.server.base).with(&QUESTION_ANSWER, &self.server.base)
    }

    /// user-couple knows the couple `id`, together since `start_date`, with `members`.
    pub fn couple(&self, id: Uuid, name: &str, start_date: &str, members: &[MemberInfo<'_>]) {
        let members: Vec<Value> = members.iter().map(|(user, name, birth)| json!({"userId": user, "name": name, "birth": birth})).collect();
        let couple = json!({"id": id, "name": name, "startDate": start_date, "active": true, "members": members});
        self.known.couples.lock().unwrap().insert(id, couple);
    }

    /// The couple `id` has ended: user-couple answers `active: false` and no members.
    pub fn end(&self, id: Uuid) {
        if let Some(couple) = self.known.couples.lock().unwrap().get_mut(&id) {
            couple["active"] = json!(false);
            couple["members"] = json!([]);
        }
    }

    /// question-answer has `user`'s vector: `values` by key (`vec1`), every other key 0.
    pub fn vector(&self, user: Uuid, values: &[(&str, f64)]) {
        let mut vectors: serde_json::Map<String, Value> = (1..=50).map(|n| (format!("vec{n}"), json!(0.0))).collect();
        for (key, value) in values {
            vectors.insert((*key).to_owned(), json!(value));
        }
        let vector = json!({"userId": user, "vectors": vectors, "updatedAt": "2026-11-30T00:00:00Z"});
        self.known.vectors.lock().unwrap().insert(user, vector);
    }

    /// From now on every call answers 503.
    pub fn go_down(&self) {
        self.known.down.store(true, Ordering::SeqCst);
    }
}

/// A loopback URL nothing listens on: a peer that is not running.
pub fn nobody() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Peer URLs with both peers pointing at [`nobody`].
pub fn down_urls() -> PeerUrls {
    let url = nobody();
    PeerUrls::default().with(&USER_COUPLE, &url).with(&QUESTION_ANSWER, &url)
}
