//! Who is calling: the identity extractor every service uses.
//!
//! The gateway already verified the token, but services never trust identity headers alone: the
//! extractor verifies the forwarded JWT itself and refuses a request whose `X-User-ID` header
//! disagrees with the token's subject.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderMap, header, request::Parts},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    error::{ApiError, codes},
    jwt::{Claims, JwtKeys, TokenError},
};

/// Header the gateway sets to the verified user id.
pub const USER_ID_HEADER: &str = "x-user-id";
/// Header the gateway sets to the verified couple id (absent without a couple).
pub const COUPLE_ID_HEADER: &str = "x-couple-id";
/// Identity headers a client must never be able to set.
pub const IDENTITY_HEADERS: [&str; 4] = ["x-user-id", "x-couple-id", "x-nickname", "x-email"];

/// A user's role, carried in the token's `role` claim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary user.
    #[default]
    User,
    /// May manage shared content such as questions and tags.
    Admin,
}

impl Role {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// Parses the stored form; anything unknown is an ordinary user.
    pub fn parse(value: &str) -> Self {
        if value == "admin" { Role::Admin } else { Role::User }
    }
}

/// The verified caller.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user id (`sub`).
    pub user_id: Uuid,
    /// The couple id from the token (may be stale until the next refresh).
    pub couple_id: Option<Uuid>,
    /// The role.
    pub role: Role,
    /// All the verified claims.
    pub claims: Claims,
}

impl From<TokenError> for ApiError {
    /// The 401 a client gets for a token that fails verification; the reason is logged at debug
    /// level only (it helps an attacker more than a client).
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Expired => ApiError::unauthorized(codes::TOKEN_EXPIRED, "the access token has expired"),
            TokenError::Invalid(reason) => {
                tracing::debug!(%reason, "rejected access token");
                ApiError::unauthorized(codes::INVALID_TOKEN, "the access token is invalid")
            }
        }
    }
}

/// Reads the bearer token from `Authorization`.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Verifies the request's token and cross-checks `X-User-ID`.
pub fn authenticate(headers: &HeaderMap, keys: &JwtKeys) -> Result<Identity, ApiError> {
    let token = bearer_token(headers).ok_or_else(ApiError::missing_token)?;
    let claims = keys.verify(token).map_err(ApiError::from)?;
    if let Some(header_user) = headers.get(USER_ID_HEADER) {
        let matches = header_user.to_str().ok().and_then(|v| Uuid::parse_str(v).ok()) == Some(claims.sub);
        if !matches {
            tracing::warn!(sub = %claims.sub, "X-User-ID header disagrees with the token subject");
            return Err(ApiError::unauthorized(codes::IDENTITY_MISMATCH, "the identity headers do not match the token"));
        }
    }
    Ok(Identity { user_id: claims.sub, couple_id: claims.couple_id, role: claims.role, claims })
}

impl<S> FromRequestParts<S> for Identity
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = Arc::<JwtKeys>::from_ref(state);
        authenticate(&parts.headers, &keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::SharedConfig, jwt::TokenSubject};
    use axum::http::{HeaderValue, StatusCode};

    fn keys() -> JwtKeys {
        JwtKeys::from_config(&SharedConfig::with_secret("0123456789abcdef0123456789abcdef"))
    }

    fn headers_with(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        headers
    }

    #[test]
    fn a_valid_token_yields_the_identity() {
        let keys = keys();
        let user = Uuid::now_v7();
        let couple = Uuid::now_v7();
        let (token, _) = keys.issue(TokenSubject { user_id: user, couple_id: Some(couple), role: Role::Admin, version: 0 });
        let mut headers = headers_with(&token);
        headers.insert(USER_ID_HEADER, HeaderValue::from_str(&user.to_string()).unwrap());
        let identity = authenticate(&headers, &keys).unwrap();
        assert_eq!((identity.user_id, identity.couple_id, identity.role), (user, Some(couple), Role::Admin));
    }

    #[test]
    fn a_spoofed_user_header_is_refused() {
        let keys = keys();
        let (token, _) = keys.issue(TokenSubject { user_id: Uuid::now_v7(), couple_id: None, role: Role::User, version: 0 });
        let mut headers = headers_with(&token);
        headers.insert(USER_ID_HEADER, HeaderValue::from_str(&Uuid::now_v7().to_string()).unwrap());
        let err = authenticate(&headers, &keys).unwrap_err();
        assert_eq!((err.status, err.code.as_ref()), (StatusCode::UNAUTHORIZED, "IDENTITY_MISMATCH"));
    }

    #[test]
    fn a_missing_or_malformed_authorization_header_is_unauthenticated() {
        let keys = keys();
        assert_eq!(authenticate(&HeaderMap::new(), &keys).unwrap_err().code, "UNAUTHENTICATED");
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(authenticate(&headers, &keys).unwrap_err().code, "UNAUTHENTICATED");
        assert_eq!(authenticate(&headers_with("not.a.jwt"), &keys).unwrap_err().code, "INVALID_TOKEN");
    }
}
