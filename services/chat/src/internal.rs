//! `/internal/*`: service-to-service calls, authenticated by the shared internal token. The
//! gateway never routes these paths. user-couple calls them to erase deleted accounts: a user's
//! read markers at once, a couple's rooms and messages once neither former member has an account.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::delete,
};
use couple_common::{ApiError, InternalCaller};
use uuid::Uuid;

use crate::{
    AppState,
    error::Result,
    hub::{Event, Hub},
    store::Store,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/users/{id}", delete(erase_user)).route("/internal/couples/{id}", delete(erase_couple))
}

/// Erasure of deleted accounts and couples.
pub struct Erasure {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
}

impl Erasure {
    /// Erasure on `store`; the sockets of erased rooms are closed through `hub`.
    pub fn new(store: Arc<dyn Store>, hub: Arc<Hub>) -> Self {
        Self { store, hub }
    }

    /// Deletes the user's read markers; what they wrote belongs to the couple and stays.
    #[tracing::instrument(skip_all, fields(%user_id))]
    pub async fn user(&self, user_id: Uuid) -> Result<()> {
        Ok(self.store.erase_user(user_id).await?)
    }

    /// Deletes the couple's rooms, messages and read markers, and closes the sockets still open
    /// in those rooms (here and, through the fan-out, on the other replicas).
    #[tracing::instrument(skip_all, fields(%couple_id))]
    pub async fn couple(&self, couple_id: Uuid) -> Result<()> {
        for room_id in self.store.erase_couple(couple_id).await? {
            self.hub.publish(Event::Closed { room_id });
        }
        Ok(())
    }
}

fn id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::bad_request("the id must be a UUID"))
}

/// Erases a deleted account's data here: their read markers (the couple's rooms and messages
/// stay). Idempotent.
#[utoipa::path(delete, path = "/internal/users/{id}", tag = "internal",
    params(("id" = String, Path, description = "user id"), ("x-internal-token" = String, Header, description = "shared internal token")),
    responses((status = 204, description = "erased (or nothing to erase)"), (status = 400, description = "the id is not a UUID"),
        (status = 401, description = "no valid internal token")))]
pub async fn erase_user(_: InternalCaller, State(erasure): State<Arc<Erasure>>, Path(raw): Path<String>) -> Result<StatusCode> {
    erasure.user(id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a couple's rooms, messages and read markers, once no former member has an account;
/// sockets open in those rooms close with 4003. Idempotent.
#[utoipa::path(delete, path = "/internal/couples/{id}", tag = "internal",
    params(("id" = String, Path, description = "couple id"), ("x-internal-token" = String, Header, description = "shared internal token")),
    responses((status = 204, description = "erased (or nothing to erase)"), (status = 400, description = "the id is not a UUID"),
        (status = 401, description = "no valid internal token")))]
pub async fn erase_couple(_: InternalCaller, State(erasure): State<Arc<Erasure>>, Path(raw): Path<String>) -> Result<StatusCode> {
    erasure.couple(id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
