//! The service's one error type, mapped to HTTP in one place.

use couple_common::{ApiError, FieldErrors, kv::KvError};

use crate::store::StoreError;

/// Everything that can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid fields (422).
    #[error("validation failed")]
    Validation(FieldErrors),
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
    /// The database or Redis is down (503).
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// A bug or a broken dependency (500, logged).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Handler result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A 422 for one field.
    pub fn field(field: &str, problem: &str) -> Self {
        Self::Validation(FieldErrors::from([(field.to_owned(), problem.to_owned())]))
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => Self::Internal("unexpected uniqueness conflict".into()),
            StoreError::Unavailable(e) => Self::Unavailable(e.to_string()),
            StoreError::Other(e) => Self::Internal(e.to_string()),
        }
    }
}

impl From<KvError> for Error {
    fn from(err: KvError) -> Self {
        Self::Unavailable(err.to_string())
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        use axum::http::StatusCode;
        match err {
            Error::Validation(fields) => ApiError::validation(fields),
            Error::InvalidCredentials => ApiError::unauthorized("INVALID_CREDENTIALS", "wrong email or password"),
            Error::InvalidRefreshToken => ApiError::unauthorized("INVALID_REFRESH_TOKEN", "the refresh token is invalid or has been used"),
            Error::SessionRevoked => ApiError::unauthorized("TOKEN_REVOKED", "the session has been revoked; log in again"),
            Error::EmailTaken => {
                let mut e = ApiError::conflict("EMAIL_TAKEN", "this email is already registered");
                e.fields = Some(FieldErrors::from([("email".to_owned(), "already registered".to_owned())]));
                e
            }
            Error::NoCouple => ApiError::new(StatusCode::NOT_FOUND, "NO_COUPLE", "you are not in a couple"),
            Error::UnknownMatchCode => ApiError::new(StatusCode::NOT_FOUND, "MATCH_CODE_NOT_FOUND", "unknown or expired match code"),
            Error::OwnMatchCode => {
                let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "OWN_MATCH_CODE", "you cannot accept your own match code");
                e.fields = Some(FieldErrors::from([("matchingCode".to_owned(), "is your own code".to_owned())]));
                e
            }
            Error::AlreadyCoupled => ApiError::conflict("ALREADY_COUPLED", "one of you is already in a couple"),
            Error::UserNotFound => ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "the account no longer exists"),
            Error::RateLimited { retry_after } => ApiError::too_many_requests(retry_after),
            Error::Busy => ApiError::unavailable("the service is busy, try again shortly"),
            Error::Unavailable(cause) => {
                tracing::warn!(%cause, "dependency unavailable");
                ApiError::unavailable("a dependency is unavailable, try again shortly")
            }
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        ApiError::from(self).into_response()
    }
}
