//! The seed that ships with the service: enough content, consistently tagged, with deltas the
//! API would accept; and loading it is idempotent on both backends.

use std::collections::HashSet;

use chrono::Utc;
use couple_common::{
    db::PoolSettings,
    test_util::{Backend, TestDatabase},
};
use question_answer::{seed, store};
use rstest::rstest;

#[test]
fn the_shipped_seed_has_enough_consistent_content() {
    let seed = seed::shipped().expect("seed/questions.json parses and is consistent");
    assert!(seed.questions.len() >= 120, "{} questions", seed.questions.len());
    assert!(seed.tags.len() >= 12, "{} tags", seed.tags.len());
    let keys: HashSet<&str> = seed.questions.iter().map(|q| q.key.as_str()).collect();
    assert_eq!(keys.len(), seed.questions.len(), "question keys are unique");
    for q in &seed.questions {
        assert!((1..=3).contains(&q.tags.len()), "{} has {} tags", q.key, q.tags.len());
        assert!(q.tags.iter().all(|(_, w)| *w > 0.0 && *w <= 1.0), "{}", q.key);
        for option in [&q.vector_deltas.one, &q.vector_deltas.two] {
            // Parsing checked the keys and ranges; each entry is a real trait position.
            assert!(option.entries().iter().all(|(i, v)| *i < 50 && (-1.0..=1.0).contains(v)), "{}", q.key);
        }
        assert!(!(q.vector_deltas.one.is_empty() && q.vector_deltas.two.is_empty()), "{} moves no trait", q.key);
    }
}

/// Whether `text` has a Hangul syllable: the app's market is Korean, so is its content.
fn is_korean(text: &str) -> bool {
    text.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

#[test]
fn the_shipped_seed_is_written_in_korean() {
    let seed = seed::shipped().unwrap();
    for q in &seed.questions {
        for text in [&q.question, &q.option1, &q.option2] {
            assert!(is_korean(text), "{}: {text:?} is not Korean", q.key);
        }
    }
    for tag in &seed.tags {
        assert!(is_korean(&tag.name), "tag {}: {:?} is not Korean", tag.key, tag.name);
    }
    assert!(!is_korean("Sea or mountains?"), "the check tells Korean from English");
}

async fn counts(store: &dyn store::Store) -> (usize, usize) {
    let questions = store.questions(None, 10_000, None).await.unwrap();
    (questions.len(), store.tags().await.unwrap().len())
}

#[rstest]
#[tokio::test]
async fn loading_the_seed_twice_or_concurrently_duplicates_nothing(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else { return };
    let store = store::connect(db.url(), PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    let shipped = seed::shipped().unwrap();
    let expected = (shipped.questions.len(), shipped.tags.len());
    seed::load(store.as_ref(), &shipped, Utc::now()).await.unwrap();
    let first = store.questions(None, 10_000, None).await.unwrap();
    assert_eq!(counts(store.as_ref()).await, expected);
    // Two replicas starting at once, each with its own pool.
    let other = store::connect(db.url(), PoolSettings::default()).await.unwrap();
    let (a, b) = tokio::join!(seed::load(store.as_ref(), &shipped, Utc::now()), seed::load(other.as_ref(), &shipped, Utc::now()));
    a.unwrap();
    b.unwrap();
    assert_eq!(counts(store.as_ref()).await, expected);
    assert_eq!(store.questions(None, 10_000, None).await.unwrap(), first, "ids, texts and tags are unchanged");

    // An edited seed updates in place: new text, a tag dropped, another weight.
    let mut edited = shipped.clone();
    let q = &mut edited.questions[0];
    q.question = "Edited?".into();
    q.tags = vec![(edited.tags[0].key.clone(), 0.9)];
    seed::load(store.as_ref(), &edited, Utc::now()).await.unwrap();
    assert_eq!(counts(store.as_ref()).await, expected);
    let reloaded = store.question(first[0].id).await.unwrap().unwrap();
    assert_eq!(reloaded.question, "Edited?");
    assert_eq!(reloaded.tags.iter().map(|t| (t.tag_name.as_str(), t.weight)).collect::<Vec<_>>(), [(edited.tags[0].name.as_str(), 0.9)]);
}

#[rstest]
#[tokio::test]
async fn a_seed_tag_named_like_an_admins_tag_adopts_it(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else { return };
    let store = store::connect(db.url(), PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    let mut shipped = seed::shipped().unwrap();
    seed::load(store.as_ref(), &shipped, Utc::now()).await.unwrap();
    // An admin makes a tag; a later seed ships one under the same name.
    let admins = store.create_tag(uuid::Uuid::now_v7(), "새로운 태그", Utc::now()).await.unwrap();
    let mut added = shipped.tags[0].clone();
    (added.key, added.name) = ("brand_new".into(), "새로운 태그".into());
    shipped.tags.push(added);
    seed::load(store.as_ref(), &shipped, Utc::now()).await.expect("the seed loads");
    let tags = store.tags().await.unwrap();
    assert_eq!(tags.iter().filter(|t| t.name == "새로운 태그").map(|t| t.id).collect::<Vec<_>>(), [admins.id], "one tag, the admin's");
    assert_eq!(tags.len(), shipped.tags.len());
}

#[tokio::test]
async fn the_service_starts_while_postgres_is_down_and_loads_the_seed_once_it_is_back() {
    use couple_common::test_util::{self, PrivatePostgres, TestServer, TestUser};
    use question_answer::{Config, QuestionAnswer};
    use reqwest::{Method, StatusCode};

    let Some(postgres) = PrivatePostgres::start().await else { return };
    // The schema is there (as after the operator's migration Job), the seed not yet.
    store::connect(&postgres.url(), PoolSettings::default()).await.unwrap().migrate().await.unwrap();
    postgres.stop().await;
    let mut config = Config::default();
    config.database.database_url = postgres.url();
    config.auto_migrate = false;
    let server = TestServer::spawn::<QuestionAnswer>(&config, &test_util::shared_config()).await;
    let token = TestUser::new(None).token;
    let (status, body) = server.call(Method::GET, "/api/questions/today", Some(&token), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    postgres.resume().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, body) = server.call(Method::GET, "/api/questions/today", Some(&token), None).await;
        if status == StatusCode::OK {
            assert!(body["data"]["question"].is_string(), "{body}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no seeded question 60 s after PostgreSQL came back: {status} {body}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
