//! The caller of a couple's endpoint: a verified user who belongs to a couple. Everything of this
//! service belongs to a couple, so this is the identity its handlers take.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};
use couple_common::{Identity, JwtKeys};
use uuid::Uuid;

use crate::error::Error;

/// A caller with a couple: 401 without a valid token (as [`Identity`]), 403 `NO_COUPLE` when the
/// token names no couple.
#[derive(Debug, Clone)]
pub struct CoupleMember {
    /// The user.
    pub user_id: Uuid,
    /// Their couple.
    pub couple_id: Uuid,
    /// Everything the token says.
    pub identity: Identity,
}

impl TryFrom<Identity> for CoupleMember {
    type Error = Error;

    fn try_from(identity: Identity) -> Result<Self, Error> {
        let couple_id = identity.couple_id.ok_or(Error::NoCouple)?;
        Ok(Self { user_id: identity.user_id, couple_id, identity })
    }
}

impl<S> FromRequestParts<S> for CoupleMember
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Identity::from_request_parts(parts, state).await?.try_into()
    }
}
