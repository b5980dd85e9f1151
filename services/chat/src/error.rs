//! The service's one error type, mapped to HTTP in one place (and, for sockets, to close codes
//! and error frames in `socket`).

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use couple_common::{ApiError, FieldErrors, db::StoreError};

/// Everything that can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid fields (422).
    #[error("validation failed")]
    Validation(FieldErrors),
    /// The request could not be read: the shared extractors' 400, 413, 415 and 422.
    #[error("unreadable request: {0}")]
    Request(ApiError),
    /// The caller has no couple (403 `NO_COUPLE`).
    #[error("no couple")]
    NoCouple,
    /// No such object, or another couple's (404: do not reveal that it exists).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The couple has as many rooms as it may (409 `ROOM_LIMIT`).
    #[error("the couple has {0} rooms already")]
    RoomLimit(usize),
    /// The database failed: a conflict no operation expected (409), an outage (503) or a bug (500).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service is shutting down and takes no more messages (503, retry on another replica).
    #[error("shutting down")]
    ShuttingDown,
}

/// Handler result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

couple_common::service_error!(Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::Validation(fields) => ApiError::validation(fields),
            Error::Request(e) => e,
            Error::NoCouple => ApiError::forbidden("NO_COUPLE", "pair with your partner first: chat rooms belong to a couple"),
            Error::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no such {what}")),
            Error::RoomLimit(max) => ApiError::new(StatusCode::CONFLICT, "ROOM_LIMIT", format!("a couple may have {max} chat rooms")),
            Error::Store(e) => e.into(),
            Error::ShuttingDown => ApiError {
                retry_after: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "the chat service is restarting; send again")
            },
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
    fn each_error_has_its_status() {
        let status = |e: Error| ApiError::from(e).status;
        assert_eq!(status(Error::NoCouple), StatusCode::FORBIDDEN);
        assert_eq!(status(Error::NotFound("room")), StatusCode::NOT_FOUND);
        assert_eq!(status(Error::RoomLimit(20)), StatusCode::CONFLICT);
        assert_eq!(status(Error::ShuttingDown), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(Error::field("message", "must not be empty")), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status(Error::Store(StoreError::Unavailable(sqlx::Error::PoolTimedOut))), StatusCode::SERVICE_UNAVAILABLE);
    }
}
