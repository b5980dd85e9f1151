//! The service's one error type, mapped to HTTP in one place.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use couple_common::{ApiError, FieldErrors, db::StoreError, peers::PeerError};

use crate::weather::{WeatherError, client::KmaError};

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
    /// The database failed: a conflict no operation expected (409), an outage (503) or a bug (500).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The couple has as many active calendar feeds as it may (409 `FEED_LIMIT`).
    #[error("the couple has {0} active calendar feeds already")]
    FeedLimit(usize),
    /// A service this one calls gave no answer where one is needed (503, or 404 when it
    /// answered that there is no such thing).
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// No weather: not configured or KMA failing (503 `WEATHER_UNAVAILABLE`), or a point off the
    /// KMA grid (422).
    #[error(transparent)]
    Weather(#[from] WeatherError),
}

/// Handler result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

couple_common::service_error!(Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::Validation(fields) => ApiError::validation(fields),
            Error::Request(e) => e,
            Error::NoCouple => ApiError::forbidden("NO_COUPLE", "pair with your partner first: this belongs to a couple"),
            Error::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no such {what}")),
            Error::Store(e) => e.into(),
            Error::Weather(e) => weather_error(e),
            Error::FeedLimit(max) => ApiError::new(
                StatusCode::CONFLICT,
                "FEED_LIMIT",
                format!("a couple may have {max} active calendar feeds: revoke one before creating another"),
            ),
            Error::Peer(PeerError::NotFound(what)) => ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no such {what}")),
            Error::Peer(PeerError::Unavailable { peer, .. }) => ApiError {
                retry_after: Some(5),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "PEER_UNAVAILABLE",
                    format!("{peer} cannot be reached just now; try again shortly"),
                )
            },
        }
    }
}

/// The weather's errors as the client sees them: the message says what to fix or what failed
/// (never the key, which no [`WeatherError`] holds).
fn weather_error(err: WeatherError) -> ApiError {
    let message = err.to_string();
    match err {
        WeatherError::OutsideGrid => ApiError {
            message: message.into(),
            ..ApiError::validation(FieldErrors::from([
                ("lat".to_owned(), "is outside the KMA forecast grid".to_owned()),
                ("lon".to_owned(), "is outside the KMA forecast grid".to_owned()),
            ]))
        },
        WeatherError::NotConfigured => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "WEATHER_UNAVAILABLE", message),
        WeatherError::Kma(kma) => {
            let retry_after = match kma {
                KmaError::CircuitOpen { retry_in_secs, .. } => retry_in_secs,
                _ => 1,
            };
            ApiError {
                retry_after: Some(retry_after.max(1)),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "WEATHER_UNAVAILABLE", message)
            }
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
        assert_eq!(status(Error::NotFound("schedule")), StatusCode::NOT_FOUND);
        assert_eq!(status(Error::Store(StoreError::Unavailable(sqlx::Error::PoolTimedOut))), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(Error::Weather(WeatherError::NotConfigured)), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(Error::FeedLimit(5)), StatusCode::CONFLICT);
        let down = ApiError::from(Error::Peer(PeerError::Unavailable { peer: "user-couple", cause: "could not connect".into() }));
        assert_eq!((down.status, down.code.as_ref(), down.retry_after), (StatusCode::SERVICE_UNAVAILABLE, "PEER_UNAVAILABLE", Some(5)));
        assert!(!down.message.contains("could not connect"), "the cause is logged, not shown: {}", down.message);
        assert_eq!(status(Error::Weather(WeatherError::OutsideGrid)), StatusCode::UNPROCESSABLE_ENTITY);
        let open = ApiError::from(Error::Weather(
            KmaError::CircuitOpen { failures: 5, last: "KMA answered HTTP 502".into(), retry_in_secs: 12 }.into(),
        ));
        assert_eq!((open.status, open.code.as_ref(), open.retry_after), (StatusCode::SERVICE_UNAVAILABLE, "WEATHER_UNAVAILABLE", Some(12)));
    }
}
