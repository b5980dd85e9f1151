//! The service's one error type, mapped to HTTP in one place.

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
    /// The operation is for admins (403).
    #[error("admin only")]
    AdminOnly,
    /// No such question (404).
    #[error("question not found")]
    QuestionNotFound,
    /// There is no question at all to ask (404).
    #[error("no question available")]
    NoQuestion,
    /// The caller has no vector (404).
    #[error("vector not found")]
    VectorNotFound,
    /// The user answered the question already (409).
    #[error("already answered")]
    AlreadyAnswered,
    /// Another question has that date (409).
    #[error("date taken")]
    DateTaken,
    /// Another tag has that name (409).
    #[error("tag name taken")]
    TagNameTaken,
    /// The caller has a vector already (409).
    #[error("vector exists")]
    VectorExists,
    /// The database failed: a conflict no operation expected (409), an outage (503) or a bug (500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Handler result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

couple_common::service_error!(Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::Validation(fields) => ApiError::validation(fields),
            Error::Request(e) => e,
            Error::AdminOnly => ApiError::forbidden("ADMIN_ONLY", "only an admin may do this"),
            Error::QuestionNotFound => ApiError::new(StatusCode::NOT_FOUND, "QUESTION_NOT_FOUND", "no such question"),
            Error::NoQuestion => ApiError::new(StatusCode::NOT_FOUND, "NO_QUESTION", "there is no question to ask yet"),
            Error::VectorNotFound => ApiError::new(StatusCode::NOT_FOUND, "VECTOR_NOT_FOUND", "no vector for this user"),
            Error::AlreadyAnswered => ApiError::conflict("ALREADY_ANSWERED", "you have answered this question already"),
            Error::DateTaken => ApiError::conflict("DATE_TAKEN", "another question has this date").with_field("date", "is taken"),
            Error::TagNameTaken => ApiError::conflict("TAG_NAME_TAKEN", "a tag with this name exists").with_field("name", "is taken"),
            Error::VectorExists => ApiError::conflict("VECTOR_EXISTS", "you have a vector already"),
            Error::Store(e) => e.into(),
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
        assert_eq!(status(Error::AdminOnly), StatusCode::FORBIDDEN);
        assert_eq!(status(Error::QuestionNotFound), StatusCode::NOT_FOUND);
        assert_eq!(status(Error::AlreadyAnswered), StatusCode::CONFLICT);
        assert_eq!(status(Error::Store(StoreError::Unavailable(sqlx::Error::PoolTimedOut))), StatusCode::SERVICE_UNAVAILABLE);
        let taken = ApiError::from(Error::DateTaken);
        assert_eq!(taken.fields.unwrap()["date"], "is taken");
    }
}
