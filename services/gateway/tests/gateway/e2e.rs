//! End to end: the real user-couple service behind the real gateway, both on free ports, called
//! only through the gateway. Runs on the embedded setup (SQLite, no Redis: the gateway asks the
//! service for token versions) and on PostgreSQL with Redis shared by both.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use couple_common::{
    Claims, JwtKeys,
    config::{PeerUrls, RedisConfig, SharedConfig},
    kit::ServiceMain,
    shutdown::{self, ShutdownTrigger},
    test_util::{self, Backend, TestDatabase, TestServer},
};
use couple_registry::USER_COUPLE;
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::support::{self, TestGateway};

/// A service on a loopback address of its own, which a test may stop and start again on the
/// same address and database (as a pod restarting behind its Service).
pub(crate) struct Restartable<S: ServiceMain> {
    addr: SocketAddr,
    config: S::Config,
    running: Option<(ShutdownTrigger, JoinHandle<std::io::Result<()>>)>,
    /// Kept across restarts; dropped last.
    pub(crate) database: TestDatabase,
}

impl<S: ServiceMain> Restartable<S> {
    /// Serves `S` on `listener` (bound early, so that its peers can be given its URL before it
    /// is built: their connections wait until it serves).
    pub(crate) async fn serve(listener: TcpListener, config: S::Config, database: TestDatabase) -> Self {
        let mut server = Self { addr: listener.local_addr().unwrap(), config, running: None, database };
        server.start(listener).await;
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn start(&mut self, listener: TcpListener) {
        let (stop, shutdown) = shutdown::channel();
        let app = S::build(&self.config, &support::shared(), shutdown.clone()).await.expect("the service builds");
        let serving = tokio::spawn(couple_common::server::serve(listener, app, shutdown, Duration::from_millis(200)));
        self.running = Some((stop, serving));
    }

    /// Stops serving and closes the port: connections are refused until [`Self::restart`].
    pub(crate) async fn stop(&mut self) {
        let (stop, serving) = self.running.take().expect("the service is running");
        stop.trigger();
        serving.await.unwrap().unwrap();
        assert!(reqwest::get(format!("{}/healthz", self.url())).await.is_err(), "the service still answers after stopping");
    }

    /// Serves again on the same address and database.
    pub(crate) async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("the same address again");
        self.start(listener).await;
    }
}

/// The gateway in front of the real user-couple service; the gateway stops first, the database
/// goes last.
pub(crate) struct Platform {
    pub(crate) gateway: TestGateway,
    /// user-couple itself, for the services that call it.
    pub(crate) user_couple: TestServer,
    /// user-couple's database, for checks behind its API.
    pub(crate) user_couple_db: TestDatabase,
}

/// The embedded setup on SQLite (no Redis: the gateway asks the service for token versions), or
/// PostgreSQL with Redis shared by both; `None` (skip) when the servers are not running.
async fn start(backend: Backend, tweak: impl FnOnce(&mut gateway::Config)) -> Option<Platform> {
    start_with(backend, |_| {}, tweak).await
}

/// [`start`], with user-couple's configuration adjusted by `user_couple` too (other services'
/// tests put their service behind the same gateway this way).
pub(crate) async fn start_with(
    backend: Backend,
    user_couple: impl FnOnce(&mut user_couple::Config),
    tweak: impl FnOnce(&mut gateway::Config),
) -> Option<Platform> {
    let database = TestDatabase::create(backend).await?;
    let redis_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(test_util::redis_url()?),
    };
    let shared = support::shared();
    let prefix = test_util::redis_prefix();
    let mut config = user_couple::Config::default();
    config.database.database_url = database.url().to_owned();
    config.redis.redis_url = redis_url.clone();
    config.redis.redis_prefix = prefix.clone();
    config.match_guesses_per_user = 3;
    config.login_failures_per_account = 3;
    user_couple(&mut config);
    let service = TestServer::spawn::<user_couple::UserCouple>(&config, &shared).await;
    let peers = PeerUrls::default().with(&USER_COUPLE, service.base.clone());
    let mut config = gateway::Config { peers, redis: RedisConfig { redis_url, redis_prefix: prefix }, ..Default::default() };
    config.rate_limit_per_sec = 1000.0;
    config.rate_limit_burst = 1000;
    tweak(&mut config);
    let platform = Platform { gateway: support::start_with(config, shared).await, user_couple: service, user_couple_db: database };
    platform.wait_ready().await;
    Some(platform)
}

impl Platform {
    async fn wait_ready(&self) {
        for _ in 0..100 {
            if let Ok(res) = self.gateway.get("/api/users/me").send().await
                && res.status() == StatusCode::UNAUTHORIZED
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the platform did not come up");
    }

    pub(crate) async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        test_util::call(&self.gateway.http, &self.gateway.url, method, path, token, body).await
    }

    /// Signs up and logs in a new user: (access token, refresh token, user id).
    pub(crate) async fn user(&self) -> (String, String, String) {
        self.user_with_email(&format!("e2e-{}@example.com", uuid::Uuid::new_v4().simple())).await
    }

    /// Signs up and logs in the user with `email`: (access token, refresh token, user id).
    pub(crate) async fn user_with_email(&self, email: &str) -> (String, String, String) {
        self.signup(json!({"email": email, "name": "Mina", "gender": "F", "birth": "1998-04-12"})).await
    }

    /// Signs up the user `profile` describes (`email`, `name`, `gender`, `birth`; the password is
    /// set here) and logs them in: (access token, refresh token, user id).
    pub(crate) async fn signup(&self, mut profile: Value) -> (String, String, String) {
        profile["password"] = json!("password-123");
        let (status, body) = self.call(Method::POST, "/api/users/signup", None, Some(profile.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let login = json!({"email": profile["email"], "password": profile["password"]});
        let (status, body) = self.call(Method::POST, "/api/users/login", None, Some(login)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let d = &body["data"];
        (d["accessToken"].as_str().unwrap().into(), d["refreshToken"].as_str().unwrap().into(), d["id"].as_str().unwrap().into())
    }

    /// Two new users paired with the invite code: each one's (access token carrying the couple,
    /// user id), the code's creator first, and the couple id.
    pub(crate) async fn couple(&self) -> ((String, String), (String, String), String) {
        self.pair(self.user().await, self.user().await, json!({"name": "Us"})).await
    }

    /// Pairs two signed-up users ([`Self::signup`]'s triples): `creator` makes the invite code
    /// for `couple` (`name`, optional `startDate`), `acceptor` accepts it. Each one's (access
    /// token carrying the couple, user id), the creator first, and the couple id.
    pub(crate) async fn pair(
        &self,
        creator: (String, String, String),
        acceptor: (String, String, String),
        couple: Value,
    ) -> ((String, String), (String, String), String) {
        let ((mina, mina_refresh, mina_id), (joon, _, joon_id)) = (creator, acceptor);
        let stale = mina.clone();
        let (status, code) = self.call(Method::POST, "/api/couples/match", Some(&mina), Some(couple)).await;
        assert_eq!(status, StatusCode::OK, "{code}");
        let (status, accepted) = self
            .call(Method::POST, "/api/couples/match/accept", Some(&joon), Some(json!({"matchingCode": code["data"]["matchCode"]})))
            .await;
        assert_eq!(status, StatusCode::OK, "{accepted}");
        let joon = accepted["data"]["accessToken"].as_str().unwrap().to_owned();
        let couple_id = accepted["data"]["couple"]["id"].as_str().unwrap().to_owned();
        // The creator's token predates the couple, so pairing revoked it; a refresh carries it.
        self.revoked_within(&stale, Duration::from_secs(1)).await;
        let (status, refreshed) =
            self.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": mina_refresh}))).await;
        assert_eq!(status, StatusCode::OK, "{refreshed}");
        let mina = refreshed["data"]["accessToken"].as_str().unwrap().to_owned();
        ((mina, mina_id), (joon, joon_id), couple_id)
    }

    /// Polls until `token` is refused with 401, returning how long that took.
    async fn revoked_within(&self, token: &str, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let (status, body) = self.call(Method::GET, "/api/users/me", Some(token), None).await;
            if status == StatusCode::UNAUTHORIZED {
                assert_eq!(body["error"]["code"], "TOKEN_REVOKED", "{body}");
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "token still accepted after {limit:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[rstest]
#[tokio::test]
async fn signup_to_breakup_through_the_gateway(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(p) = start(backend, |_| {}).await else { return };
    let (mina, mina_refresh, mina_id) = p.user().await;
    let (joon, _, joon_id) = p.user().await;

    let (status, me) = p.call(Method::GET, "/api/users/me", Some(&mina), None).await;
    assert_eq!((status, me["data"]["id"].as_str()), (StatusCode::OK, Some(mina_id.as_str())));
    let (status, profile) = p.call(Method::GET, "/api/users/profile", Some(&mina), None).await;
    assert_eq!((status, profile["data"]["id"].as_str()), (StatusCode::OK, Some(mina_id.as_str())));

    let (status, code) = p.call(Method::POST, "/api/couples/match", Some(&mina), Some(json!({"name": "Us"}))).await;
    assert_eq!(status, StatusCode::OK, "{code}");
    let (status, accepted) =
        p.call(Method::POST, "/api/couples/match/accept", Some(&joon), Some(json!({"matchingCode": code["data"]["matchCode"]}))).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let joon = accepted["data"]["accessToken"].as_str().unwrap().to_owned();
    let couple_id = accepted["data"]["couple"]["id"].as_str().unwrap().to_owned();

    let (_, refreshed) = p.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": mina_refresh}))).await;
    let mina = refreshed["data"]["accessToken"].as_str().unwrap().to_owned();
    let (status, home) = p.call(Method::GET, "/api/couples/home", Some(&mina), None).await;
    assert_eq!(status, StatusCode::OK, "{home}");
    assert_eq!(home["data"]["coupleId"], couple_id.as_str());
    assert_eq!(home["data"]["daysSinceStart"], 1);
    assert_eq!(home["data"]["partner"]["id"], joon_id.as_str());
    let (_, members) = p.call(Method::GET, "/api/couples/members", Some(&joon), None).await;
    assert_eq!(members["data"].as_array().map(Vec::len), Some(2));

    let (status, _) = p.call(Method::DELETE, "/api/couples/me", Some(&joon), None).await;
    assert_eq!(status, StatusCode::OK);
    p.revoked_within(&mina, Duration::from_secs(2)).await;
    let (_, again) =
        p.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": refreshed["data"]["refreshToken"]}))).await;
    let mina = again["data"]["accessToken"].as_str().unwrap();
    let (status, body) = p.call(Method::GET, "/api/couples/home", Some(mina), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("NO_COUPLE")));
}

/// Expected status, method, path, token, body.
type ErrorCase<'a> = (StatusCode, Method, &'a str, Option<&'a str>, Option<Value>);

#[rstest]
#[tokio::test]
async fn every_error_path_keeps_the_envelope(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(p) = start(backend, |_| {}).await else { return };
    let (token, _, _) = p.user().await;
    let cases: Vec<ErrorCase> = vec![
        (StatusCode::UNPROCESSABLE_ENTITY, Method::POST, "/api/users/signup", None, Some(json!({"email": "bad"}))),
        (StatusCode::UNAUTHORIZED, Method::GET, "/api/users/me", None, None),
        (StatusCode::UNAUTHORIZED, Method::GET, "/api/couples/me", Some("not-a-token"), None),
        (StatusCode::NOT_FOUND, Method::GET, "/api/couples/me", Some(&token), None),
        (StatusCode::NOT_FOUND, Method::GET, "/internal/users/00000000-0000-0000-0000-000000000000/token-version", Some(&token), None),
        (StatusCode::NOT_FOUND, Method::GET, "/api/nowhere", Some(&token), None),
        (StatusCode::UNPROCESSABLE_ENTITY, Method::PUT, "/api/users/me", Some(&token), Some(json!({"sendTime": "25:99"}))),
        (StatusCode::UNAUTHORIZED, Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": "nope"}))),
    ];
    for (expected, method, path, token, body) in cases {
        let (status, body) = p.call(method.clone(), path, token, body).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        assert_eq!(body["success"], false, "{method} {path}: {body}");
        assert!(body["error"]["code"].is_string(), "{method} {path}: {body}");
    }
    // 409: the same email twice.
    let email = format!("dup-{}@example.com", uuid::Uuid::new_v4().simple());
    let signup = json!({"email": email, "password": "password-123", "name": "A", "gender": "M", "birth": "1990-01-01"});
    assert_eq!(p.call(Method::POST, "/api/users/signup", None, Some(signup.clone())).await.0, StatusCode::CREATED);
    assert_eq!(p.call(Method::POST, "/api/users/signup", None, Some(signup)).await.0, StatusCode::CONFLICT);
    // 429 with Retry-After: the account locks after repeated failures.
    for _ in 0..3 {
        p.call(Method::POST, "/api/users/login", None, Some(json!({"email": email, "password": "wrong-password"}))).await;
    }
    let res = p.gateway.post("/api/users/login").json(&json!({"email": email, "password": "password-123"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    // Every response carries a request id; a client's own is echoed back.
    let res = p.gateway.get("/api/users/me").bearer_auth(&token).header("x-request-id", "e2e-trace-1").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "e2e-trace-1");
}

#[rstest]
#[tokio::test]
async fn logout_revokes_the_access_token_at_the_gateway_within_a_second(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(p) = start(backend, |_| {}).await else { return };
    let (token, _, _) = p.user().await;
    // Warm the gateway's revocation cache with the token's current version.
    assert_eq!(p.call(Method::GET, "/api/users/me", Some(&token), None).await.0, StatusCode::OK);
    let (status, _) = p.call(Method::POST, "/api/users/logout", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let took = p.revoked_within(&token, Duration::from_secs(1)).await;
    assert!(took <= Duration::from_secs(1), "revocation took {took:?}");
}

#[rstest]
#[tokio::test]
async fn break_up_revokes_both_partners_at_the_gateway(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(p) = start(backend, |_| {}).await else { return };
    let ((mina, _), (joon, _), _) = p.couple().await;
    for token in [&mina, &joon] {
        assert_eq!(p.call(Method::GET, "/api/users/me", Some(token), None).await.0, StatusCode::OK);
    }
    assert_eq!(p.call(Method::DELETE, "/api/couples/me", Some(&mina), None).await.0, StatusCode::OK);
    for token in [&mina, &joon] {
        p.revoked_within(token, Duration::from_secs(1)).await;
    }
}

#[rstest]
#[tokio::test]
async fn a_reused_refresh_token_revokes_the_family(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(p) = start(backend, |_| {}).await else { return };
    let (_, first, _) = p.user().await;
    let (status, body) = p.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": first}))).await;
    assert_eq!(status, StatusCode::OK);
    let second = body["data"]["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(
        p.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": first}))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        p.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": second}))).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[rstest]
#[tokio::test]
async fn spoofed_identity_headers_are_replaced_by_the_verified_ones(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(p) = start(backend, |_| {}).await else { return };
    let (token, _, user_id) = p.user().await;
    let (_, _, other_id) = p.user().await;
    // The gateway drops the client's X-User-ID and sets the verified one, so the service answers
    // for the token's user, never for the spoofed id.
    let res = p
        .gateway
        .get("/api/users/me")
        .bearer_auth(&token)
        .header("x-user-id", &other_id)
        .header("x-couple-id", uuid::Uuid::now_v7().to_string())
        .header("x-email", "admin@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["id"], user_id.as_str());
    // Without a token, identity headers alone get nothing.
    let res = p.gateway.get("/api/users/me").header("x-user-id", &user_id).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[rstest]
#[tokio::test]
async fn forged_tokens_are_refused_at_the_gateway(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    use base64::Engine;
    let Some(p) = start(backend, |_| {}).await else { return };
    let (token, _, _) = p.user().await;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let payload = token.split('.').nth(1).unwrap().to_owned();
    let claims: Claims = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&payload).unwrap()).unwrap();
    let real = &p.gateway.keys;
    let other = JwtKeys::from_config(&SharedConfig::with_secret("another-secret-that-is-long-enough-to-use"));
    let hs512 = {
        let key = jsonwebtoken::EncodingKey::from_secret(test_util::TEST_JWT_SECRET.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512), &claims, &key).unwrap()
    };
    let forged = [
        ("alg none", format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#))),
        ("HS512", hs512),
        ("wrong key", other.sign(&claims)),
        ("wrong issuer", real.sign(&Claims { iss: "evil".into(), ..claims.clone() })),
        ("wrong audience", real.sign(&Claims { aud: "other".into(), ..claims.clone() })),
        ("expired", real.sign(&Claims { exp: claims.iat - 120, ..claims.clone() })),
        (
            "tampered payload",
            format!("{}.{}.{}", token.split('.').next().unwrap(), b64(br#"{"sub":"x"}"#), token.split('.').nth(2).unwrap()),
        ),
    ];
    for (what, forged) in forged {
        let (status, body) = p.call(Method::GET, "/api/users/me", Some(&forged), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} accepted: {body}");
        assert_eq!(body["success"], false);
    }
    // The genuine token still works, and so does one re-signed correctly.
    assert_eq!(p.call(Method::GET, "/api/users/me", Some(&token), None).await.0, StatusCode::OK);
    assert_eq!(p.call(Method::GET, "/api/users/me", Some(&real.sign(&claims)), None).await.0, StatusCode::OK);
}

#[rstest]
#[tokio::test]
async fn match_code_guessing_is_limited_through_the_gateway(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(p) = start(backend, |_| {}).await else { return };
    let (token, _, _) = p.user().await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let code = format!("98765{i}");
        statuses.push(p.call(Method::POST, "/api/couples/match/accept", Some(&token), Some(json!({"matchingCode": code}))).await.0);
    }
    assert_eq!(statuses, [StatusCode::NOT_FOUND, StatusCode::NOT_FOUND, StatusCode::NOT_FOUND, StatusCode::TOO_MANY_REQUESTS]);
}

#[tokio::test]
async fn the_gateway_keeps_serving_when_redis_is_down() {
    // Rate limits fall back to the in-process bucket and token versions to the service.
    let p = start(Backend::Sqlite, |c| c.redis.redis_url = Some("redis://127.0.0.1:1".into())).await.expect("SQLite needs no server");
    let (token, _, _) = p.user().await;
    for _ in 0..5 {
        assert_eq!(p.call(Method::GET, "/api/users/me", Some(&token), None).await.0, StatusCode::OK);
    }
    assert_eq!(p.call(Method::POST, "/api/users/logout", Some(&token), None).await.0, StatusCode::OK);
    p.revoked_within(&token, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_upstream_that_is_down_gets_a_fast_503() {
    let gateway = support::start(support::config(support::DEAD)).await;
    let started = Instant::now();
    let res = gateway
        .post("/api/users/signup")
        .json(&json!({"email": "a@example.com", "password": "password-123", "name": "A", "gender": "F", "birth": "1990-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}
