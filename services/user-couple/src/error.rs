//! The service's one error type, mapped to HTTP in one place.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use couple_common::{ApiError, FieldErrors, db::StoreError, error::codes, kv::KvError};

/// Everything that can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid fields (422).
    #[error("validation failed")]
    Validation(FieldErrors),
    /// The request could not be read: the shared extractors' 400, 413, 415 and 422.
    #[error("unreadable request: {0}")]
    Request(ApiError),
    /// Wrong email or password; the same answer for both (401).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Refresh token unknown, spent, revoked or expired (401).
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// The access token's version is outdated (401).
    #[error("session revoked")]
    SessionRevoked,
    /// The email is registered already (409).
    #[error("email taken")]
    EmailTaken,
    /// The caller has no couple (404).
    #[error("no couple")]
    NoCouple,
    /// No couple with that id, for a service asking (404).
    #[error("couple not found")]
    CoupleNotFound,
    /// Unknown or expired match code (404).
    #[error("unknown match code")]
    UnknownMatchCode,
    /// The caller tried their own code (422).
    #[error("own match code")]
    OwnMatchCode,
    /// One side of a match already has a couple (409).
    #[error("already in a couple")]
    AlreadyCoupled,
    /// The account is gone (404).
    #[error("user not found")]
    UserNotFound,
    /// Too many attempts (429).
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the next attempt is allowed.
        retry_after: u64,
    },
    /// Password hashing is saturated (503).
    #[error("busy")]
    Busy,
    /// The database failed: a conflict no operation expected (409), an outage (503) or a bug (500).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Redis is down (503).
    #[error("key-value store unavailable: {0}")]
    Kv(#[from] KvError),
    /// A bug or a broken dependency (500).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Handler result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

couple_common::service_error!(Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::Validation(fields) => ApiError::validation(fields),
            Error::Request(e) => e,
            Error::InvalidCredentials => ApiError::unauthorized("INVALID_CREDENTIALS", "wrong email or password"),
            Error::InvalidRefreshToken => ApiError::unauthorized("INVALID_REFRESH_TOKEN", "the refresh token is invalid or has been used"),
            Error::SessionRevoked => ApiError::unauthorized(codes::TOKEN_REVOKED, "the session has been revoked; log in again"),
            Error::EmailTaken => {
                ApiError::conflict("EMAIL_TAKEN", "this email is already registered").with_field("email", "already registered")
            }
            Error::NoCouple => ApiError::new(StatusCode::NOT_FOUND, "NO_COUPLE", "you are not in a couple"),
            Error::CoupleNotFound => ApiError::new(StatusCode::NOT_FOUND, "COUPLE_NOT_FOUND", "no such couple"),
            Error::UnknownMatchCode => ApiError::new(StatusCode::NOT_FOUND, "MATCH_CODE_NOT_FOUND", "unknown or expired match code"),
            Error::OwnMatchCode => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "OWN_MATCH_CODE", "you cannot accept your own match code")
                    .with_field("matchingCode", "is your own code")
            }
            Error::AlreadyCoupled => ApiError::conflict("ALREADY_COUPLED", "one of you is already in a couple"),
            Error::UserNotFound => ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "the account no longer exists"),
            Error::RateLimited { retry_after } => ApiError::too_many_requests(retry_after),
            Error::Busy => ApiError::unavailable("the service is busy, try again shortly"),
            Error::Store(e) => e.into(),
            Error::Kv(_) => ApiError::unavailable("a dependency is unavailable, try again shortly"),
            Error::Internal(_) => ApiError::internal(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        couple_common::error::respond(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unexpected_store_conflict_is_a_409_and_outages_are_503s() {
        let status = |e: Error| ApiError::from(e).status;
        assert_eq!(status(Error::Store(StoreError::Conflict)), StatusCode::CONFLICT);
        assert_eq!(status(Error::Store(StoreError::Unavailable(sqlx::Error::PoolTimedOut))), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(Error::Kv(KvError("down".into()))), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(Error::Internal("bug".into())), StatusCode::INTERNAL_SERVER_ERROR);
        let taken = ApiError::from(Error::EmailTaken);
        assert_eq!((taken.status, taken.fields.unwrap()["email"].as_str()), (StatusCode::CONFLICT, "already registered"));
    }
}
