//! End to end: the real question-answer service next to the real user-couple service, behind the
//! real gateway, called through the gateway as a client would (and behind it only to check what
//! erasure left). The same backend matrix as `e2e.rs`: SQLite without Redis, PostgreSQL with Redis.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use couple_common::{
    JwtKeys, Role,
    clock::Clock,
    db::PoolSettings,
    jwt::TokenSubject,
    net::INTERNAL_TOKEN_HEADER,
    test_util::{self, Backend, TestDatabase},
};
use couple_registry::QUESTION_ANSWER;
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};
use uuid::Uuid;

use user_couple::store::ErasureKind;

use crate::{
    e2e::{self, Restartable},
    support,
};

/// question-answer, restartable, over a new database; `None` (skip) when PostgreSQL is not running.
pub(crate) async fn question_answer(backend: Backend) -> Option<Restartable<question_answer::QuestionAnswer>> {
    let database = TestDatabase::create(backend).await?;
    let mut config = question_answer::Config::default();
    config.database.database_url = database.url().to_owned();
    // One day for the whole test, even across midnight in the platform's time zone.
    config.clock = Clock::manual(Clock::System.now());
    let (listener, _) = support::listener().await;
    Some(Restartable::serve(listener, config, database).await)
}

/// The platform of `e2e.rs` with question-answer behind the gateway too, and user-couple erasing
/// deleted accounts in it. Dropped in order: gateway and user-couple, then question-answer.
struct Platform {
    base: e2e::Platform,
    qa: Restartable<question_answer::QuestionAnswer>,
    http: reqwest::Client,
}

impl std::ops::Deref for Platform {
    type Target = e2e::Platform;

    fn deref(&self) -> &e2e::Platform {
        &self.base
    }
}

/// Starts the platform; `user_couple` adjusts user-couple's configuration on top.
async fn start(backend: Backend, user_couple: impl FnOnce(&mut user_couple::Config)) -> Option<Platform> {
    let qa = question_answer(backend).await?;
    let url = qa.url();
    let at_qa = |peers: &mut couple_common::config::PeerUrls| *peers = std::mem::take(peers).with(&QUESTION_ANSWER, url.clone());
    let base = e2e::start_with(
        backend,
        |c| {
            at_qa(&mut c.peers);
            c.erasure_services = QUESTION_ANSWER.name.to_owned();
            // Retry a refused erasure every second rather than backing off to minutes.
            c.erasure_retry_max_secs = 1;
            user_couple(c);
        },
        |c| at_qa(&mut c.peers),
    )
    .await?;
    Some(Platform { base, qa, http: reqwest::Client::new() })
}

/// The `data` of a call through the gateway that must answer `status`.
async fn expect(p: &Platform, method: Method, path: &str, token: &str, body: Option<Value>, status: StatusCode) -> Value {
    let (got, body) = p.call(method.clone(), path, Some(token), body).await;
    assert_eq!(got, status, "{method} {path}: {body}");
    body["data"].clone()
}

async fn get(p: &Platform, path: &str, token: &str) -> Value {
    expect(p, Method::GET, path, token, None, StatusCode::OK).await
}

async fn answer(p: &Platform, token: &str, question: &str, option: &str) -> Value {
    let body = json!({"questionId": question, "selectedOption": option});
    expect(p, Method::POST, "/api/user-answers", token, Some(body), StatusCode::CREATED).await
}

/// `GET /api/questions/{id}/answers`: (state, my option, the partner's option).
async fn reveal(p: &Platform, token: &str, question: &str) -> (String, Option<String>, Option<String>) {
    let state = get(p, &format!("/api/questions/{question}/answers"), token).await;
    let option = |answer: &Value| answer["selectedOption"].as_str().map(str::to_owned);
    (state["state"].as_str().unwrap().to_owned(), option(&state["mine"]), option(&state["partner"]))
}

/// What answers move: the score per tag id and the value per trait (a missing vector is all
/// zeros, a missing score zero).
#[derive(Debug, Clone, PartialEq)]
struct Standing {
    tags: BTreeMap<String, f64>,
    traits: BTreeMap<String, f64>,
}

async fn standing(p: &Platform, token: &str) -> Standing {
    let profile = get(p, "/api/user-tag-profiles/my-profiles", token).await;
    let tags = profile.as_array().unwrap().iter().map(|s| (s["tagId"].as_str().unwrap().to_owned(), s["score"].as_f64().unwrap()));
    let (status, vector) = p.call(Method::GET, "/api/user-vectors/my-vector", Some(token), None).await;
    let traits = match status {
        StatusCode::NOT_FOUND => BTreeMap::new(),
        StatusCode::OK => vector["data"]["vectors"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_f64().unwrap())).collect(),
        other => panic!("my-vector answered {other}: {vector}"),
    };
    Standing { tags: tags.collect(), traits }
}

/// `before` moved by answering `question` with `option`, as api.md says: each tag's score by
/// +weight (option 1) or -weight (option 2), each trait by the option's delta, both clamped to
/// [-1, 1]; nothing else changes.
fn expected_after(before: &Standing, question: &Value, option: &str) -> Standing {
    let sign = if option == "1" { 1.0 } else { -1.0 };
    let mut after = before.clone();
    for tag in question["tags"].as_array().unwrap() {
        let score = after.tags.entry(tag["tagId"].as_str().unwrap().to_owned()).or_default();
        *score = (*score + sign * tag["weight"].as_f64().unwrap()).clamp(-1.0, 1.0);
    }
    if after.traits.is_empty() {
        after.traits = (1..=50).map(|n| (format!("vec{n}"), 0.0)).collect();
    }
    for (key, delta) in question["vectorDeltas"][option].as_object().unwrap() {
        let value = after.traits.get_mut(key).unwrap_or_else(|| panic!("{key} is not a trait"));
        *value = (*value + delta.as_f64().unwrap()).clamp(-1.0, 1.0);
    }
    after
}

fn assert_close(got: &Standing, want: &Standing) {
    let close = |a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>| {
        a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && (va - vb).abs() < 1e-9)
    };
    assert!(close(&got.tags, &want.tags) && close(&got.traits, &want.traits), "got {got:?}\nwant {want:?}");
}

/// Which partner answers first.
#[derive(Debug, Clone, Copy)]
enum First {
    /// The one who made the invite code.
    Creator,
    /// The one who accepted it.
    Acceptor,
}

#[rstest]
#[tokio::test]
async fn partners_share_todays_question_and_see_each_others_answer_only_after_their_own(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    #[values(First::Creator, First::Acceptor)] first: First,
) {
    let Some(p) = start(backend, |_| {}).await else { return };
    let ((creator, _), (acceptor, _), _) = p.couple().await;
    let (first, second) = match first {
        First::Creator => (creator, acceptor),
        First::Acceptor => (acceptor, creator),
    };

    let today = get(&p, "/api/questions/today", &first).await;
    let theirs = get(&p, "/api/questions/today", &second).await;
    let q = today["id"].as_str().unwrap().to_owned();
    assert_eq!((theirs["id"].as_str(), &theirs["day"]), (Some(q.as_str()), &today["day"]), "both partners get the same question");
    assert_eq!(today["answers"], json!({"state": "unanswered", "mine": null, "partner": null}));
    assert!(!today["tags"].as_array().unwrap().is_empty(), "the seed's questions have tags: {today}");
    let question = get(&p, &format!("/api/questions/{q}"), &first).await;
    for token in [&first, &second] {
        assert_eq!(reveal(&p, token, &q).await, ("unanswered".into(), None, None));
    }

    // The first partner already has a vector (so the deltas add to something); the second gets
    // one from the answer.
    let preset: serde_json::Map<String, Value> =
        question["vectorDeltas"]["1"].as_object().unwrap().keys().map(|k| (k.clone(), json!(0.5))).collect();
    expect(&p, Method::PUT, "/api/user-vectors/my-vector", &first, Some(json!({"vectors": preset})), StatusCode::OK).await;
    let (first_before, second_before) = (standing(&p, &first).await, standing(&p, &second).await);
    assert!(second_before.traits.is_empty(), "{second_before:?}");

    let mine = answer(&p, &first, &q, "1").await;
    assert_eq!((mine["questionId"].as_str(), mine["selectedOption"].as_str()), (Some(q.as_str()), Some("1")));
    assert_eq!(reveal(&p, &first, &q).await, ("waiting".into(), Some("1".into()), None));
    // The partner who has not answered sees nothing of the first answer, here or in today's question.
    assert_eq!(reveal(&p, &second, &q).await, ("unanswered".into(), None, None));
    assert_eq!(get(&p, "/api/questions/today", &second).await["answers"], json!({"state": "unanswered", "mine": null, "partner": null}));
    for option in ["1", "2"] {
        let body = json!({"questionId": q, "selectedOption": option});
        let (status, body) = p.call(Method::POST, "/api/user-answers", Some(&first), Some(body)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("ALREADY_ANSWERED")), "{body}");
    }

    answer(&p, &second, &q, "2").await;
    assert_eq!(reveal(&p, &first, &q).await, ("revealed".into(), Some("1".into()), Some("2".into())));
    assert_eq!(reveal(&p, &second, &q).await, ("revealed".into(), Some("2".into()), Some("1".into())));
    assert_eq!(get(&p, "/api/questions/today", &second).await["answers"]["state"], "revealed");

    // Each moved by exactly the question's deltas for the option chosen; the 409s moved nothing.
    assert_close(&standing(&p, &first).await, &expected_after(&first_before, &question, "1"));
    assert_close(&standing(&p, &second).await, &expected_after(&second_before, &question, "2"));
    let answered = get(&p, "/api/user-answers/my-answers", &first).await;
    assert_eq!(answered.as_array().map(Vec::len), Some(1), "{answered}");
}

#[rstest]
#[tokio::test]
async fn another_couple_sees_nothing_of_a_couples_answers(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(p) = start(backend, |_| {}).await else { return };
    let ((mina, _), (joon, _), _) = p.couple().await;
    let ((other, _), _, _) = p.couple().await;
    let (single, _, _) = p.user().await;
    let q = get(&p, "/api/questions/today", &mina).await["id"].as_str().unwrap().to_owned();
    answer(&p, &mina, &q, "1").await;
    answer(&p, &joon, &q, "2").await;
    assert_eq!(reveal(&p, &mina, &q).await.0, "revealed");

    for token in [&other, &single] {
        assert_eq!(reveal(&p, token, &q).await, ("unanswered".into(), None, None));
        assert_eq!(get(&p, "/api/user-answers/my-answers", token).await, json!([]));
    }
    // Answering the same question does not make the first couple's answers theirs to see.
    answer(&p, &other, &q, "2").await;
    assert_eq!(reveal(&p, &other, &q).await, ("waiting".into(), Some("2".into()), None));
    assert_eq!(reveal(&p, &mina, &q).await, ("revealed".into(), Some("1".into()), Some("2".into())));
    // No answer is addressable by id (api.md); a question that does not exist is 404 for anyone.
    let missing = format!("/api/questions/{}/answers", Uuid::now_v7());
    let (status, body) = p.call(Method::GET, &missing, Some(&other), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("QUESTION_NOT_FOUND")), "{body}");
}

#[rstest]
#[tokio::test]
async fn only_an_admin_made_by_configuration_creates_tags_and_questions(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let admin_email = format!("qa-admin-{}@example.com", Uuid::new_v4().simple());
    let Some(p) = start(backend, |c| c.admin_emails = admin_email.clone()).await else { return };
    let (user, _, _) = p.user().await;
    let (admin, _, _) = p.user_with_email(&admin_email).await;
    let role = |token: &str| p.gateway.keys.verify(token).unwrap().role;
    assert_eq!((role(&user), role(&admin)), (Role::User, Role::Admin), "the token after login carries the role");

    let tag = json!({"name": format!("tag-{}", Uuid::new_v4().simple())});
    let question = |tag_id: &str| {
        json!({"question": "Sea or mountains?", "option1": "Sea", "option2": "Mountains",
            "tags": [{"tagId": tag_id, "weight": 0.4}], "vectorDeltas": {"1": {"vec2": 0.2}, "2": {"vec2": -0.2}}})
    };
    let any_tag = get(&p, "/api/tags", &user).await[0]["id"].as_str().unwrap().to_owned();
    for (path, body) in [("/api/tags", tag.clone()), ("/api/questions", question(&any_tag))] {
        let (status, body) = p.call(Method::POST, path, Some(&user), Some(body)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("ADMIN_ONLY")), "{path}: {body}");
    }

    let created = expect(&p, Method::POST, "/api/tags", &admin, Some(tag.clone()), StatusCode::CREATED).await;
    let tag_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], tag["name"]);
    let created = expect(&p, Method::POST, "/api/questions", &admin, Some(question(&tag_id)), StatusCode::CREATED).await;
    // A user reads what the admin made.
    let read = get(&p, &format!("/api/questions/{}", created["id"].as_str().unwrap()), &user).await;
    assert_eq!((read["option1"].as_str(), &read["tags"][0]["tagId"]), (Some("Sea"), &json!(tag_id)));
    assert_eq!(read["vectorDeltas"]["2"]["vec2"], -0.2);
}

impl Platform {
    /// A token for `user` signed as user-couple signs them, for calls straight to
    /// question-answer once the gateway no longer accepts the user's own.
    fn token_for(&self, user: &str) -> String {
        let keys = JwtKeys::from_config(&support::shared());
        let subject = TokenSubject { user_id: user.parse().unwrap(), couple_id: None, role: Role::User, version: 0 };
        keys.issue(subject).0
    }

    /// A call straight to question-answer, behind the gateway: (status, body).
    async fn qa_call(&self, path: &str, user: &str) -> (StatusCode, Value) {
        test_util::call(&self.http, &self.qa.url(), Method::GET, path, Some(&self.token_for(user)), None).await
    }

    /// `GET /internal/user-vectors/{user}` with the internal token: the status.
    async fn internal_vector(&self, user: &str) -> StatusCode {
        let url = format!("{}/internal/user-vectors/{user}", self.qa.url());
        let res = self.http.get(url).header(INTERNAL_TOKEN_HEADER, test_util::TEST_INTERNAL_TOKEN).send().await.unwrap();
        res.status()
    }

    /// What question-answer holds of `user`: (answers, tag scores, whether a vector exists).
    async fn held(&self, user: &str) -> (usize, usize, bool) {
        let count = |body: Value| body["data"].as_array().map_or(0, Vec::len);
        let (status, answers) = self.qa_call("/api/user-answers/my-answers", user).await;
        assert_eq!(status, StatusCode::OK, "{answers}");
        let (status, tags) = self.qa_call("/api/user-tag-profiles/my-profiles", user).await;
        assert_eq!(status, StatusCode::OK, "{tags}");
        let vector = self.internal_vector(user).await;
        assert!(matches!(vector, StatusCode::OK | StatusCode::NOT_FOUND), "{vector}");
        (count(answers), count(tags), vector == StatusCode::OK)
    }
}

#[rstest]
#[tokio::test]
async fn a_deleted_account_is_erased_in_question_answer_once_it_is_back_and_the_couple_with_its_last_member(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(mut p) = start(backend, |_| {}).await else { return };
    let ((mina, mina_id), (joon, joon_id), _) = p.couple().await;
    let today = get(&p, "/api/questions/today", &mina).await["id"].as_str().unwrap().to_owned();
    let other =
        get(&p, "/api/questions?limit=5", &mina).await.as_array().unwrap().iter().find(|q| q["id"] != today.as_str()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
    answer(&p, &mina, &today, "1").await;
    answer(&p, &mina, &other, "2").await;
    answer(&p, &joon, &today, "2").await;
    let (answers, tags, vector) = p.held(&mina_id).await;
    assert!(answers == 2 && tags > 0 && vector, "before: {answers} answers, {tags} tag scores, vector {vector}");
    let joon_before = p.held(&joon_id).await;
    let joon_email = get(&p, "/api/users/me", &joon).await["email"].clone();

    p.qa.stop().await;
    let (status, body) = p.call(Method::DELETE, "/api/users/me", Some(&mina), None).await;
    assert!(status.is_success(), "{status}: {body}");
    let outbox = user_couple::store::connect(p.user_couple_db.url(), PoolSettings::default()).await.unwrap();
    // Attempts fail while question-answer is down; the row stays.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pending = async |kind| outbox.pending_erasures(kind, QUESTION_ANSWER.name).await.unwrap();
    assert_eq!(pending(ErasureKind::User).await, 1, "queued while question-answer is down");
    assert_eq!(pending(ErasureKind::Couple).await, 0, "Joon still has an account");

    p.qa.restart().await;
    let started = Instant::now();
    while p.internal_vector(&mina_id).await != StatusCode::NOT_FOUND || pending(ErasureKind::User).await > 0 {
        assert!(started.elapsed() < Duration::from_secs(15), "not erased within 15 s of question-answer's return");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(p.held(&mina_id).await, (0, 0, false), "answers, tag profile and vector are gone");
    assert_eq!(p.held(&joon_id).await, joon_before, "the partner's data stays");

    // Joon goes too: no former member of the couple is left, and question-answer confirms the
    // erasure of its rotation (only a 204 takes the row out).
    let (status, login) =
        p.call(Method::POST, "/api/users/login", None, Some(json!({"email": joon_email, "password": "password-123"}))).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let (status, body) = p.call(Method::DELETE, "/api/users/me", login["data"]["accessToken"].as_str(), None).await;
    assert!(status.is_success(), "{status}: {body}");
    let started = Instant::now();
    while pending(ErasureKind::User).await + pending(ErasureKind::Couple).await > 0 {
        assert!(started.elapsed() < Duration::from_secs(15), "the couple not erased within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
