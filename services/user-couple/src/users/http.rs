//! `/api/users/*`: sign-up, sessions and the caller's account.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::State,
    routing::{get, post, put},
};
use couple_common::{
    ApiResponse, ClientAddr, Identity, Json,
    envelope::{Empty, done},
    extract::parse_json,
};

use super::{Accounts, dto::*};
use crate::{AppState, error::Result};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users/signup", post(signup))
        .route("/api/users/login", post(login))
        .route("/api/users/token/refresh", post(refresh))
        .route("/api/users/logout", post(logout))
        .route("/api/users/me", get(me).put(update_me).delete(delete_me))
        .route("/api/users/profile", get(me))
        .route("/api/users/me/password", put(change_password))
}

/// Create an account.
#[utoipa::path(post, path = "/api/users/signup", tag = "users", request_body = SignupRequest,
    responses((status = 201, body = ApiResponse<User>), (status = 409, description = "email taken"),
        (status = 422, description = "invalid fields")))]
pub async fn signup(State(accounts): State<Arc<Accounts>>, Json(req): Json<SignupRequest>) -> Result<ApiResponse<User>> {
    Ok(ApiResponse::created(accounts.signup(req.try_into()?).await?).message("signed up"))
}

/// Log in: the user and a token pair.
#[utoipa::path(post, path = "/api/users/login", tag = "users", request_body = LoginRequest,
    responses((status = 200, body = ApiResponse<LoginResponse>), (status = 401, description = "wrong email or password"),
        (status = 429, description = "too many failed attempts")))]
pub async fn login(
    State(accounts): State<Arc<Accounts>>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<LoginRequest>,
) -> Result<ApiResponse<LoginResponse>> {
    Ok(ApiResponse::ok(accounts.login(req.try_into()?, &client).await?).message("logged in"))
}

/// Spend a refresh token for a new pair.
#[utoipa::path(post, path = "/api/users/token/refresh", tag = "users", request_body = RefreshRequest,
    responses((status = 200, body = ApiResponse<TokenPair>), (status = 401, description = "invalid, spent or revoked refresh token")))]
pub async fn refresh(State(accounts): State<Arc<Accounts>>, Json(req): Json<RefreshRequest>) -> Result<ApiResponse<TokenPair>> {
    Ok(ApiResponse::ok(accounts.refresh(&req.parse()?).await?).message("token refreshed"))
}

/// Log out: revoke the session and the user's access tokens.
#[utoipa::path(post, path = "/api/users/logout", tag = "users",
    request_body(content = Option<LogoutRequest>, content_type = "application/json", description = "optional"),
    security(("bearer" = [])), responses((status = 200, body = ApiResponse<Empty>), (status = 401)))]
pub async fn logout(State(accounts): State<Arc<Accounts>>, identity: Identity, body: Bytes) -> Result<ApiResponse<Empty>> {
    // The body is optional: an empty one means "this device only has its access token".
    let req = if body.iter().all(u8::is_ascii_whitespace) { LogoutRequest::default() } else { parse_json(&body)? };
    accounts.logout(&identity, req.refresh_token).await?;
    Ok(done("logged out"))
}

/// The caller's account (also at `/api/users/profile`).
#[utoipa::path(get, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<User>), (status = 401)))]
pub async fn me(State(accounts): State<Arc<Accounts>>, identity: Identity) -> Result<ApiResponse<User>> {
    Ok(ApiResponse::ok(accounts.me(&identity).await?))
}

/// Update name, push token or push time.
#[utoipa::path(put, path = "/api/users/me", tag = "users", request_body = UpdateUserRequest, security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<User>), (status = 422)))]
pub async fn update_me(
    State(accounts): State<Arc<Accounts>>,
    identity: Identity,
    Json(req): Json<UpdateUserRequest>,
) -> Result<ApiResponse<User>> {
    Ok(ApiResponse::ok(accounts.update_me(&identity, req.try_into()?).await?).message("updated"))
}

/// Delete the account (breaking the couple first).
#[utoipa::path(delete, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Empty>), (status = 401)))]
pub async fn delete_me(State(accounts): State<Arc<Accounts>>, identity: Identity) -> Result<ApiResponse<Empty>> {
    accounts.delete_me(&identity).await?;
    Ok(done("account deleted"))
}

/// Change the password; other sessions are revoked and this one gets a new pair.
#[utoipa::path(put, path = "/api/users/me/password", tag = "users", request_body = ChangePasswordRequest, security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<TokenPair>), (status = 422, description = "wrong current password or weak new one")))]
pub async fn change_password(
    State(accounts): State<Arc<Accounts>>,
    identity: Identity,
    Json(req): Json<ChangePasswordRequest>,
) -> Result<ApiResponse<TokenPair>> {
    Ok(ApiResponse::ok(accounts.change_password(&identity, req.try_into()?).await?).message("password changed"))
}
