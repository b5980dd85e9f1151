//! The admin role: `user-couple admin grant|revoke` (the binary, and its logic against the
//! server's data) and `USER_COUPLE_ADMIN_EMAILS`, on both backends.

use couple_common::{Role, revocation::version_key, test_util::Backend};
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::json;
use user_couple::admin;

use crate::api::{TestApp, claims, spawn, unique_email};

/// Runs the real binary with the service's database and Redis: exit success, stdout, stderr.
async fn run_binary(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_user-couple"));
    command.args(args).env("USER_COUPLE_DATABASE_URL", &app.config().database.database_url).env("COUPLE_LOG_FORMAT", "text");
    if let Some(url) = &app.config().redis.redis_url {
        command.env("USER_COUPLE_REDIS_URL", url).env("USER_COUPLE_REDIS_PREFIX", &app.config().redis.redis_prefix);
    }
    let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn role_of(token: &str) -> String {
    claims(token)["role"].as_str().unwrap().to_owned()
}

#[rstest]
#[tokio::test]
async fn a_grant_revokes_old_tokens_and_the_next_ones_carry_the_role(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let email = unique_email();
    let (before, refresh) = app.user(&email).await;
    assert_eq!(role_of(&before), "user");

    let (ok, stdout, stderr) = run_binary(&app, &["admin", "grant", &email.to_uppercase()]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("is now admin"), "{stdout}");
    let (status, _) = app.call(Method::GET, "/api/users/me", Some(&before), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token without the role stops working");
    // Both ways to a new token read the role from the database.
    let (status, refreshed) = app.call(Method::POST, "/api/users/token/refresh", None, Some(json!({"refreshToken": refresh}))).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(role_of(refreshed["data"]["accessToken"].as_str().unwrap()), "admin");
    let admin_token = app.login(&email).await["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(role_of(&admin_token), "admin");
    let (status, _) = app.call(Method::GET, "/api/users/me", Some(&admin_token), None).await;
    assert_eq!(status, StatusCode::OK);

    let (ok, stdout, _) = run_binary(&app, &["admin", "grant", &email]).await;
    assert!(ok && stdout.contains("admin already; nothing changed"), "{stdout}");
    let (ok, _, stderr) = run_binary(&app, &["admin", "grant", "nobody@example.com"]).await;
    assert!(!ok, "an unknown email fails");
    assert!(stderr.contains("no account has the email nobody@example.com"), "{stderr}");
    let (ok, _, stderr) = run_binary(&app, &["admin", "grant"]).await;
    assert!(!ok && stderr.contains("<EMAIL>"), "{stderr}");

    // Revoking, through the command's logic: the shared token version is dropped too, so the
    // gateway asks again.
    let store = app.store().await;
    let kv = app.config().redis.connect().unwrap();
    let user_id = claims(&admin_token)["sub"].as_str().unwrap().parse().unwrap();
    kv.set(&version_key(user_id), "1", None).await.unwrap();
    let revoke = admin::parse(&["admin".into(), "revoke".into(), email.clone()]).unwrap().unwrap();
    assert_eq!(revoke.role, Role::User);
    let said = admin::run(store.as_ref(), kv.as_ref(), &revoke).await.unwrap();
    assert!(said.contains("is now user"), "{said}");
    assert_eq!(kv.get(&version_key(user_id)).await.unwrap(), None);
    let (status, _) = app.call(Method::GET, "/api/users/me", Some(&admin_token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the admin token is revoked");
    assert_eq!(role_of(app.login(&email).await["accessToken"].as_str().unwrap()), "user");
}

#[rstest]
#[tokio::test]
async fn configured_admin_emails_are_admin_at_start_and_at_sign_up(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else { return };
    let existing = unique_email();
    let (before, _) = app.user(&existing).await;
    let newcomer = unique_email();
    let app = app.restart(|config| config.admin_emails = format!("{}, {newcomer}", existing.to_uppercase())).await;

    let (status, _) = app.call(Method::GET, "/api/users/me", Some(&before), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "made admin at start: the old token is revoked");
    assert_eq!(role_of(app.login(&existing).await["accessToken"].as_str().unwrap()), "admin");
    let (newcomer_token, _) = app.user(&newcomer).await;
    assert_eq!(role_of(&newcomer_token), "admin");
    let (someone, _) = app.user(&unique_email()).await;
    assert_eq!(role_of(&someone), "user");

    // Taking an address off the list does not demote anyone: revoking is the command's job.
    let app = app.restart(|config| config.admin_emails.clear()).await;
    assert_eq!(role_of(app.login(&existing).await["accessToken"].as_str().unwrap()), "admin");
}
