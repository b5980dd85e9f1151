//! The service's HTTP API, black-box: the real server on a free port, called over HTTP. The flows
//! run twice: on the embedded setup (SQLite, in-process store) and on PostgreSQL with Redis.

use std::time::Duration;

use couple_common::test_util::{self, Backend, TestDatabase, TestServer};
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};
use user_couple::{Config, UserCouple};

/// The service on a free port over a throwaway database, both gone when it is dropped.
pub(crate) struct TestApp {
    server: TestServer,
    config: Config,
    db: TestDatabase,
}

impl std::ops::Deref for TestApp {
    type Target = TestServer;

    fn deref(&self) -> &TestServer {
        &self.server
    }
}

/// The service on `backend`: SQLite with the in-process store, or PostgreSQL with Redis; `None`
/// (the test skips) when those servers are not running.
pub(crate) async fn spawn(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let db = TestDatabase::create(backend).await?;
    let mut config = Config::default();
    config.database.database_url = db.url().to_owned();
    if backend == Backend::Postgres {
        config.redis.redis_url = Some(test_util::redis_url()?);
        config.redis.redis_prefix = test_util::redis_prefix();
    }
    tweak(&mut config);
    Some(TestApp::serve(config, db).await)
}

/// The service on SQLite, which needs no server.
async fn embedded(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn(Backend::Sqlite, tweak).await.expect("SQLite needs no server")
}

impl TestApp {
    async fn serve(config: Config, db: TestDatabase) -> Self {
        let mut shared = test_util::shared_config();
        shared.body_limit_bytes = 64 * 1024;
        Self { server: TestServer::spawn::<UserCouple>(&config, &shared).await, config, db }
    }

    /// Stops the service and starts it again on the same data, with `tweak` applied to its
    /// configuration.
    pub(crate) async fn restart(self, tweak: impl FnOnce(&mut Config)) -> Self {
        let Self { server, mut config, db } = self;
        drop(server);
        tweak(&mut config);
        Self::serve(config, db).await
    }

    /// The service's configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// A second connection to the service's database.
    pub(crate) async fn store(&self) -> std::sync::Arc<dyn user_couple::store::Store> {
        user_couple::store::connect(self.db.url(), Default::default()).await.unwrap()
    }

    pub(crate) async fn signup(&self, email: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/users/signup",
                None,
                Some(json!({"email": email, "password": "password-123", "name": "Mina", "gender": "F", "birth": "1998-04-12", "sendTime": "21:00"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"].clone()
    }

    pub(crate) async fn login(&self, email: &str) -> Value {
        let (status, body) =
            self.call(Method::POST, "/api/users/login", None, Some(json!({"email": email, "password": "password-123"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }

    pub(crate) async fn user(&self, email: &str) -> (String, String) {
        self.signup(email).await;
        let login = self.login(email).await;
        (login["accessToken"].as_str().unwrap().to_owned(), login["refreshToken"].as_str().unwrap().to_owned())
    }

    /// Two users paired: (creator access, acceptor access, couple id).
    async fn couple(&self) -> (String, String, String) {
        self.couple_of(&unique_email(), &unique_email()).await
    }

    /// [`Self::couple`] of two new users with these emails.
    pub(crate) async fn couple_of(&self, a: &str, b: &str) -> (String, String, String) {
        let (a, a_refresh) = self.user(a).await;
        let (b, _) = self.user(b).await;
        let (_, code) =
            self.call(Method::POST, "/api/couples/match", Some(&a), Some(json!({"name": "Us", "startDate": "2026-01-01"}))).await;
        let code = code["data"]["matchCode"].as_str().unwrap().to_owned();
        let (status, accepted) = self.call(Method::POST, "/api/couples/match/accept", Some(&b), Some(json!({"matchingCode": code}))).await;
        assert_eq!(status, StatusCode::OK, "{accepted}");
        let couple_id = accepted["data"]["couple"]["id"].as_str().unwrap().to_owned();
        // The code owner's token has no couple, so pairing revoked it; the refresh carries the couple.
        assert_eq!(self.call(Method::GET, "/api/users/me", Some(&a), None).await.0, StatusCode::UNAUTHORIZED);
        let (status, refreshed) = self.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": a_refresh}))).await;
        assert_eq!(status, StatusCode::OK, "{refreshed}");
        let a = refreshed["data"]["accessToken"].as_str().unwrap().to_owned();
        (a, accepted["data"]["accessToken"].as_str().unwrap().to_owned(), couple_id)
    }
}

pub(crate) fn unique_email() -> String {
    format!("u-{}@Example.com", uuid::Uuid::new_v4().simple())
}

pub(crate) fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[rstest]
#[tokio::test]
async fn signup_reports_every_invalid_field(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (status, body) = app
        .call(
            Method::POST,
            "/api/users/signup",
            None,
            Some(json!({"email": "nope", "password": "short", "gender": "X", "birth": "2999-01-01", "sendTime": "25:00"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = body["error"]["fields"].as_object().unwrap();
    for field in ["email", "password", "name", "gender", "birth", "sendTime"] {
        assert!(fields.contains_key(field), "{field} missing from {fields:?}");
    }
    assert_eq!(body["success"], false);
    // Malformed JSON is a 400, a wrong type a 422 naming the field.
    let res =
        app.http.post(format!("{}/api/users/signup", app.base)).header("content-type", "application/json").body("{").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (status, body) = app.call(Method::POST, "/api/users/signup", None, Some(json!({"email": 5}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["email"].is_string(), "{body}");
    // Bodies over the limit are refused before parsing.
    let (status, _) = app.call(Method::POST, "/api/users/signup", None, Some(json!({"name": "x".repeat(70_000)}))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[rstest]
#[tokio::test]
async fn emails_are_unique_regardless_of_case(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let email = unique_email();
    let user = app.signup(&email).await;
    assert_eq!(user["email"], email.as_str());
    assert!(user.get("password").is_none() && user.get("passwordHash").is_none());
    let (status, body) = app
        .call(
            Method::POST,
            "/api/users/signup",
            None,
            Some(json!({"email": email.to_uppercase(), "password": "password-123", "name": "M", "gender": "M", "birth": "1990-01-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "EMAIL_TAKEN");
    // Login works with any casing.
    app.login(&email.to_lowercase()).await;
}

#[rstest]
#[tokio::test]
async fn login_gives_the_same_answer_for_unknown_email_and_wrong_password(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let email = unique_email();
    app.signup(&email).await;
    let (s1, wrong) = app.call(Method::POST, "/api/users/login", None, Some(json!({"email": email, "password": "not-the-password"}))).await;
    let (s2, unknown) =
        app.call(Method::POST, "/api/users/login", None, Some(json!({"email": unique_email(), "password": "not-the-password"}))).await;
    assert_eq!((s1, s2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(wrong["message"], unknown["message"]);
    assert_eq!(wrong["error"]["code"], unknown["error"]["code"]);
    let login = app.login(&email).await;
    assert_eq!(login["tokenType"], "Bearer");
    assert_eq!(login["expiresIn"], 900);
    let claims = claims(login["accessToken"].as_str().unwrap());
    assert_eq!((claims["iss"].as_str(), claims["aud"].as_str()), (Some("couple-platform"), Some("couple-api")));
    assert_eq!(claims["coupleId"], Value::Null);
}

#[rstest]
#[tokio::test]
async fn repeated_login_failures_lock_the_account_out(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |c| c.login_failures_per_account = 3).await else { return };
    let email = unique_email();
    app.signup(&email).await;
    for _ in 0..3 {
        let (status, _) =
            app.call(Method::POST, "/api/users/login", None, Some(json!({"email": email, "password": "wrong-password"}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused until the window passes.
    let res = app
        .http
        .post(format!("{}/api/users/login", app.base))
        .json(&json!({"email": email, "password": "password-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after));
    // Another account is unaffected.
    let other = unique_email();
    app.signup(&other).await;
    app.login(&other).await;
}

#[rstest]
#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (_, refresh1) = app.user(&unique_email()).await;
    let (status, body) = app.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": refresh1}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh2 = body["data"]["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2);
    // The spent token again: refused, and the whole family with it.
    let (status, _) = app.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": refresh1}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": refresh2}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "INVALID_REFRESH_TOKEN");
}

#[rstest]
#[tokio::test]
async fn the_whole_couple_flow_works(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (a, a_refresh) = app.user(&unique_email()).await;
    let (b, _) = app.user(&unique_email()).await;
    let (status, _) = app.call(Method::GET, "/api/couples/me", Some(&a), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, code) =
        app.call(Method::POST, "/api/couples/match", Some(&a), Some(json!({"name": "Mina & Joon", "startDate": "2026-01-01"}))).await;
    assert_eq!(status, StatusCode::OK, "{code}");
    let code = code["data"]["matchCode"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 6);

    let (status, accepted) = app.call(Method::POST, "/api/couples/match/accept", Some(&b), Some(json!({"matchingCode": code}))).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let couple_id = accepted["data"]["couple"]["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["data"]["couple"]["members"].as_array().unwrap().len(), 2);
    let b2 = accepted["data"]["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(claims(&b2)["coupleId"], couple_id.as_str());

    // The creator's token has no couple, and the services scope couple data by the token's
    // coupleId: pairing revoked it, and the next refresh picks the couple up.
    let (status, revoked) = app.call(Method::GET, "/api/couples/me", Some(&a), None).await;
    assert_eq!((status, revoked["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("TOKEN_REVOKED")), "{revoked}");
    let (_, refreshed) = app.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": a_refresh}))).await;
    let a2 = refreshed["data"]["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(claims(&a2)["coupleId"], couple_id.as_str());
    let (status, couple) = app.call(Method::GET, "/api/couples/me", Some(&a2), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(couple["data"]["id"], couple_id.as_str());
    assert_eq!(couple["data"]["name"], "Mina & Joon");

    let (_, members) = app.call(Method::GET, "/api/couples/members", Some(&a2), None).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 2);
    assert!(members["data"][0]["birth"].is_string());
    let (status, home) = app.call(Method::GET, "/api/couples/home", Some(&b2), None).await;
    assert_eq!(status, StatusCode::OK, "{home}");
    assert_eq!(home["data"]["coupleId"], couple_id.as_str());
    assert!(home["data"]["daysSinceStart"].as_i64().unwrap() >= 1);
    assert!(home["data"]["nextAnniversary"]["label"].is_string());
    assert_ne!(home["data"]["partner"]["id"], claims(&b2)["sub"]);

    let (status, updated) = app.call(Method::PUT, "/api/couples/me", Some(&a2), Some(json!({"name": "Renamed"}))).await;
    assert_eq!((status, updated["data"]["name"].as_str()), (StatusCode::OK, Some("Renamed")));

    // Break-up: both tokens stop working, and the next refresh has no couple.
    let (status, _) = app.call(Method::DELETE, "/api/couples/me", Some(&a2), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.call(Method::GET, "/api/users/me", Some(&b2), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("TOKEN_REVOKED")));
    let (_, again) =
        app.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": refreshed["data"]["refreshToken"]}))).await;
    let a3 = again["data"]["accessToken"].as_str().unwrap();
    assert_eq!(claims(a3)["coupleId"], Value::Null);
    let (status, _) = app.call(Method::GET, "/api/couples/me", Some(a3), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[rstest]
#[tokio::test]
async fn match_code_errors_are_distinct(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (a, _) = app.user(&unique_email()).await;
    let (_, code) = app.call(Method::POST, "/api/couples/match", Some(&a), Some(json!({"name": "Us"}))).await;
    let first = code["data"]["matchCode"].as_str().unwrap().to_owned();
    let (status, body) = app.call(Method::POST, "/api/couples/match/accept", Some(&a), Some(json!({"matchingCode": first}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("OWN_MATCH_CODE")));
    let (status, _) = app.call(Method::POST, "/api/couples/match/accept", Some(&a), Some(json!({"matchingCode": "12a"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A new code replaces the old one.
    let (_, code) = app.call(Method::POST, "/api/couples/match", Some(&a), Some(json!({"name": "Us"}))).await;
    let second = code["data"]["matchCode"].as_str().unwrap().to_owned();
    let (b, _) = app.user(&unique_email()).await;
    if first != second {
        let (status, _) = app.call(Method::POST, "/api/couples/match/accept", Some(&b), Some(json!({"matchingCode": first}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Someone already in a couple cannot accept.
    let (c_creator, c_acceptor, _) = app.couple().await;
    let (status, body) =
        app.call(Method::POST, "/api/couples/match/accept", Some(&c_acceptor), Some(json!({"matchingCode": second}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("ALREADY_COUPLED")));
    let (status, _) = app.call(Method::POST, "/api/couples/match", Some(&c_creator), Some(json!({"name": "Again"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The code survived the failed accept and still works once.
    let (status, _) = app.call(Method::POST, "/api/couples/match/accept", Some(&b), Some(json!({"matchingCode": second}))).await;
    assert_eq!(status, StatusCode::OK);
    let (d, _) = app.user(&unique_email()).await;
    let (status, _) = app.call(Method::POST, "/api/couples/match/accept", Some(&d), Some(json!({"matchingCode": second}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[rstest]
#[tokio::test]
async fn match_code_guessing_is_limited(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |c| c.match_guesses_per_user = 3).await else { return };
    let (guesser, _) = app.user(&unique_email()).await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        // Codes nobody holds (a collision with another test's code is vanishingly unlikely and
        // would only make this test pass later, not wrongly).
        let (status, _) =
            app.call(Method::POST, "/api/couples/match/accept", Some(&guesser), Some(json!({"matchingCode": format!("99999{i}")}))).await;
        statuses.push(status);
    }
    assert_eq!(&statuses[..3], &[StatusCode::NOT_FOUND; 3]);
    assert_eq!(&statuses[3..], &[StatusCode::TOO_MANY_REQUESTS; 2]);
}

#[rstest]
#[tokio::test]
async fn logout_revokes_access_and_refresh_tokens(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (access, refresh) = app.user(&unique_email()).await;
    let (status, _) = app.call(Method::POST, "/api/users/logout", Some(&access), Some(json!({"refreshToken": refresh}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::GET, "/api/users/me", Some(&access), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": refresh}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Logout without a body also works.
    let (access, _) = app.user(&unique_email()).await;
    let res = app.http.post(format!("{}/api/users/logout", app.base)).bearer_auth(&access).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[rstest]
#[tokio::test]
async fn password_change_revokes_other_sessions(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let email = unique_email();
    let (access, refresh) = app.user(&email).await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/users/me/password",
            Some(&access),
            Some(json!({"currentPassword": "wrong-one!", "newPassword": "new-password-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["currentPassword"].is_string());
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/users/me/password",
            Some(&access),
            Some(json!({"currentPassword": "password-123", "newPassword": "new-password-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = body["data"]["accessToken"].as_str().unwrap();
    let (status, _) = app.call(Method::GET, "/api/users/me", Some(fresh), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::GET, "/api/users/me", Some(&access), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": refresh}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.call(Method::POST, "/api/users/login", None, Some(json!({"email": email, "password": "password-123"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[rstest]
#[tokio::test]
async fn deleting_an_account_frees_the_partner(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (a, b, _) = app.couple().await;
    let (status, _) = app.call(Method::DELETE, "/api/users/me", Some(&a), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::GET, "/api/users/me", Some(&a), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The partner's token carried the couple, so it is revoked; a fresh login shows them single.
    let (status, _) = app.call(Method::GET, "/api/couples/me", Some(&b), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_spoofed_user_header_is_refused() {
    let app = embedded(|_| {}).await;
    let (access, _) = app.user(&unique_email()).await;
    let res = app
        .http
        .get(format!("{}/api/users/me", app.base))
        .bearer_auth(&access)
        .header("x-user-id", uuid::Uuid::now_v7().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res =
        app.http.get(format!("{}/api/users/me", app.base)).header("x-user-id", uuid::Uuid::now_v7().to_string()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_internal_token_version_endpoint_requires_the_internal_token() {
    let app = embedded(|_| {}).await;
    let (access, _) = app.user(&unique_email()).await;
    let user_id = claims(&access)["sub"].as_str().unwrap().to_owned();
    let url = format!("{}/internal/users/{user_id}/token-version", app.base);
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.http.get(&url).header("x-internal-token", "guess").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let token = test_util::TEST_INTERNAL_TOKEN;
    let body: Value = app.http.get(&url).header("x-internal-token", token).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["data"]["tokenVersion"], 0);
    let missing = format!("{}/internal/users/{}/token-version", app.base, uuid::Uuid::now_v7());
    assert_eq!(app.http.get(&missing).header("x-internal-token", token).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[rstest]
#[tokio::test]
async fn services_read_a_couple_with_its_members_birthdays_on_the_internal_endpoint(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let (a, b, couple_id) = app.couple().await;
    let (a_id, b_id) = (claims(&a)["sub"].clone(), claims(&b)["sub"].clone());
    let (status, _) = app.call(Method::PUT, "/api/users/me", Some(&b), Some(json!({"name": "Joon"}))).await;
    assert_eq!(status, StatusCode::OK);
    let get = async |id: &str, token: Option<&str>| {
        let mut request = app.http.get(format!("{}/internal/couples/{id}", app.base));
        if let Some(token) = token {
            request = request.header("x-internal-token", token);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap_or(Value::Null))
    };
    let token = Some(test_util::TEST_INTERNAL_TOKEN);

    let (status, body) = get(&couple_id, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"id": couple_id, "name": "Us", "startDate": "2026-01-01", "active": true, "members": [
            {"userId": a_id, "name": "Mina", "birth": "1998-04-12"},
            {"userId": b_id, "name": "Joon", "birth": "1998-04-12"},
        ]})
    );
    assert_eq!(get(&couple_id, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&couple_id, Some("guess")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get("not-a-uuid", token).await.0, StatusCode::BAD_REQUEST);
    let (status, body) = get(&uuid::Uuid::now_v7().to_string(), token).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("COUPLE_NOT_FOUND")));

    // After the break-up the couple is still known, ended and without members.
    let (status, _) = app.call(Method::DELETE, "/api/couples/me", Some(&a), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(&couple_id, token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], json!({"id": couple_id, "name": "Us", "startDate": "2026-01-01", "active": false, "members": []}));
}

#[tokio::test]
async fn health_and_openapi_are_served() {
    let app = embedded(|_| {}).await;
    let (status, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((status, ready["data"]["checks"]["database"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/api/users/signup", "/api/users/login", "/api/couples/match/accept", "/api/couples/home", "/internal/couples/{id}"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    // Every status the shared extractors can answer is documented (the API fuzzer checks it).
    let statuses =
        |path: &str, method: &str| doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    for status in ["400", "413", "415", "422", "503"] {
        assert!(statuses("/api/users/signup", "post").iter().any(|s| s == status), "signup does not document {status}");
    }
    assert!(statuses("/api/users/me", "get").iter().any(|s| s == "401"), "a secured operation does not document 401");
    assert_ne!(doc["paths"]["/api/users/logout"]["post"]["requestBody"]["required"], serde_json::json!(true), "logout's body is optional");
    assert_eq!(couple_common::test_util::dangling_refs(&doc), Vec::<String>::new(), "every $ref resolves");
    let (status, body) = app.call(Method::GET, "/api/nothing-here", None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND")));
}

#[tokio::test]
async fn readiness_fails_when_redis_is_unreachable() {
    let app = embedded(|c| c.redis.redis_url = Some("redis://127.0.0.1:1".into())).await;
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["data"]["checks"]["database"], "ok");
}

#[tokio::test]
async fn a_database_that_is_down_gives_fast_503s_not_hangs() {
    // Nothing listens on port 1: every connection attempt fails at once, and the pool gives up
    // within its acquire timeout.
    let app = embedded(|c| {
        c.database.database_url = "postgres://couple@127.0.0.1:1/nowhere".into();
        c.auto_migrate = false;
    })
    .await;
    let started = std::time::Instant::now();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/users/signup",
            None,
            Some(json!({"email": unique_email(), "password": "password-123", "name": "A", "gender": "F", "birth": "1990-01-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let (status, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
}
