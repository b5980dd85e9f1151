//! PostgreSQL stopped and started again under load, on a private server (the shared one serves
//! other tests): while it is down every request fails fast with 503, once it is back the same
//! service process answers again within seconds, and no signup it acknowledged is lost. A second,
//! quiet restart checks that the connections the old server terminated are not handed out.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use couple_common::test_util::{self, TestServer};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use user_couple::{Config, UserCouple};

/// Longest any request may take, outage or not: the pool's 3 s acquire timeout plus a password
/// hash, with room for a loaded machine. A hang would blow through it.
const REQUEST_BOUND: Duration = Duration::from_secs(6);
/// How soon after PostgreSQL accepts connections again signups must succeed.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);
/// Clients signing up at once.
const CLIENTS: usize = 4;

/// One signup attempt as the client saw it.
struct Attempt {
    started: Instant,
    finished: Instant,
    email: String,
    status: Result<StatusCode, String>,
    body: Value,
}

impl Attempt {
    fn took(&self) -> Duration {
        self.finished - self.started
    }
}

#[derive(Default)]
struct Log {
    attempts: Mutex<Vec<Attempt>>,
    stop: AtomicBool,
}

impl Log {
    fn count(&self, matches: impl Fn(&Attempt) -> bool) -> usize {
        self.attempts.lock().unwrap().iter().filter(|a| matches(a)).count()
    }

    /// Waits (bounded) until `matches` holds for `n` attempts.
    async fn wait_for(&self, n: usize, within: Duration, what: &str, matches: impl Fn(&Attempt) -> bool) {
        let deadline = Instant::now() + within;
        while self.count(&matches) < n {
            assert!(Instant::now() < deadline, "no {n} × {what} within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn sign_up_until_stopped(http: Client, base: String, log: Arc<Log>) {
    while !log.stop.load(Ordering::Relaxed) {
        let email = format!("u-{}@example.com", uuid::Uuid::new_v4().simple());
        let started = Instant::now();
        let body = json!({"email": email, "password": "password-123", "name": "Mina", "gender": "F", "birth": "1998-04-12"});
        let (status, body) = match http.post(format!("{base}/api/users/signup")).json(&body).send().await {
            Ok(res) => (Ok(res.status()), res.json().await.unwrap_or(Value::Null)),
            Err(e) => (Err(e.to_string()), Value::Null),
        };
        log.attempts.lock().unwrap().push(Attempt { started, finished: Instant::now(), email, status, body });
    }
}

async fn ready(http: &Client, base: &str) -> (StatusCode, Duration) {
    let started = Instant::now();
    let res = http.get(format!("{base}/readyz")).send().await.expect("the service answers /readyz");
    (res.status(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_and_restarted_under_load_gives_fast_503s_then_recovers_without_losing_writes() {
    let Some(postgres) = test_util::PrivatePostgres::start().await else { return };
    let mut config = Config::default();
    config.database.database_url = postgres.url();
    let server = TestServer::spawn::<UserCouple>(&config, &test_util::shared_config()).await;
    let base = server.base.clone();
    // A client timeout far beyond the bound, so a hang shows up as a slow answer, not a stuck test.
    let http = Client::builder().timeout(Duration::from_secs(60)).build().unwrap();

    let log = Arc::new(Log::default());
    let clients: Vec<_> = (0..CLIENTS).map(|_| tokio::spawn(sign_up_until_stopped(http.clone(), base.clone(), log.clone()))).collect();
    log.wait_for(8, Duration::from_secs(60), "signups before the outage", |a| a.status == Ok(StatusCode::CREATED)).await;

    // The outage: long enough that requests started after the stop also finish within it.
    postgres.stop().await;
    let stopped = Instant::now();
    let (status, took) = ready(&http, &base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "/readyz while PostgreSQL is down");
    assert!(took < REQUEST_BOUND, "/readyz took {took:?} while PostgreSQL is down");
    log.wait_for(2 * CLIENTS, REQUEST_BOUND * 2, "requests within the outage", |a| a.started >= stopped).await;
    let resuming = Instant::now();

    postgres.resume().await;
    let resumed = Instant::now();
    log.wait_for(1, RECOVERY_BOUND, "signups after the restart", |a| a.started >= resumed && a.status == Ok(StatusCode::CREATED)).await;
    let recovered = log.attempts.lock().unwrap().iter().filter(|a| a.started >= resumed && a.status.is_ok()).map(|a| a.finished).min();
    let (status, _) = ready(&http, &base).await;
    assert_eq!(status, StatusCode::OK, "/readyz after the restart");
    log.wait_for(8, Duration::from_secs(60), "signups after the restart", |a| a.started >= resumed && a.status == Ok(StatusCode::CREATED))
        .await;
    log.stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    let attempts = std::mem::take(&mut *log.attempts.lock().unwrap());
    let slowest = attempts.iter().map(Attempt::took).max().unwrap();
    let during = |a: &&Attempt| a.started >= stopped && a.finished <= resuming;
    println!(
        "{} attempts, {} acknowledged; {} within the outage; slowest {slowest:?}; service answering {:?} after PostgreSQL accepted connections again",
        attempts.len(),
        attempts.iter().filter(|a| a.status == Ok(StatusCode::CREATED)).count(),
        attempts.iter().filter(during).count(),
        recovered.map(|r| r - resumed),
    );
    for a in &attempts {
        match a.status {
            Ok(StatusCode::CREATED) => {}
            Ok(StatusCode::SERVICE_UNAVAILABLE) => assert_eq!(a.body["error"]["code"], "SERVICE_UNAVAILABLE", "{}", a.body),
            _ => panic!("a signup got {:?} {}: only 201 or 503 are acceptable", a.status, a.body),
        }
        assert!(a.took() < REQUEST_BOUND, "a signup took {:?} ({:?})", a.took(), a.status);
    }
    assert!(
        attempts.iter().filter(during).all(|a| a.status == Ok(StatusCode::SERVICE_UNAVAILABLE)),
        "every signup made while PostgreSQL was down is refused with 503"
    );

    // A restart nobody noticed: the pool still holds connections the old server terminated, and
    // the very first requests afterwards must not be the ones to find out.
    postgres.stop().await;
    postgres.resume().await;
    for _ in 0..CLIENTS * 2 {
        let email = format!("u-{}@example.com", uuid::Uuid::new_v4().simple());
        let body = json!({"email": email, "password": "password-123", "name": "Mina", "gender": "F", "birth": "1998-04-12"});
        let res = http.post(format!("{base}/api/users/signup")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "a signup right after a quiet restart: {}", res.text().await.unwrap());
    }

    // Every acknowledged signup survived the restarts.
    let store = user_couple::open_store(&config).await.unwrap();
    for a in attempts.iter().filter(|a| a.status == Ok(StatusCode::CREATED)) {
        let user = store.user_by_email(&a.email.to_lowercase()).await.unwrap();
        let user = user.unwrap_or_else(|| panic!("acknowledged signup {} is lost", a.email));
        assert_eq!(a.body["data"]["id"], user.id.to_string());
    }
}
