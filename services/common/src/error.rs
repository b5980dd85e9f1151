//! The wire form of an error: the envelope with `success: false` and a machine-readable part.
//!
//! Each service has its own error enum and converts it into [`ApiError`] in one place; this type
//! only knows how to render itself.

use std::{borrow::Cow, collections::BTreeMap};

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// The machine-readable error codes the shared machinery and more than one service answer with.
/// A service's own codes (`EMAIL_TAKEN`, ...) stay in its error mapping.
pub mod codes {
    /// 400: the request could not be read.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// 400: the body is not valid JSON.
    pub const MALFORMED_JSON: &str = "MALFORMED_JSON";
    /// 400: a query parameter is missing or does not parse.
    pub const INVALID_QUERY: &str = "INVALID_QUERY";
    /// 401: no bearer token.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// 401: the access token has expired.
    pub const TOKEN_EXPIRED: &str = "TOKEN_EXPIRED";
    /// 401: the access token is invalid (signature, algorithm, issuer, audience, shape).
    pub const INVALID_TOKEN: &str = "INVALID_TOKEN";
    /// 401: the session was revoked (logout, password change, deletion, break-up).
    pub const TOKEN_REVOKED: &str = "TOKEN_REVOKED";
    /// 401: `X-User-ID` disagrees with the token.
    pub const IDENTITY_MISMATCH: &str = "IDENTITY_MISMATCH";
    /// 401: an `/internal/` call without the right internal token.
    pub const INVALID_INTERNAL_TOKEN: &str = "INVALID_INTERNAL_TOKEN";
    /// 404.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// 409: the request conflicts with stored data, when the service has no more specific code.
    pub const CONFLICT: &str = "CONFLICT";
    /// 413: the body is over the limit.
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// 415: the body is not JSON.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    /// 422: invalid fields, listed in `fields`.
    pub const VALIDATION_FAILED: &str = "VALIDATION_FAILED";
    /// 429.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// 500.
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
    /// 503: a dependency is down.
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
}

/// Field name to problem, for 422 responses.
pub type FieldErrors = BTreeMap<String, String>;

tokio::task_local! {
    /// The request id of the request being served, so errors can carry it as `traceId`.
    pub static REQUEST_ID: String;
}

/// An error as the client sees it.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code such as `EMAIL_TAKEN`.
    pub code: Cow<'static, str>,
    /// Human-readable message; never internal details.
    pub message: Cow<'static, str>,
    /// Per-field problems for validation errors.
    pub fields: Option<FieldErrors>,
    /// Seconds to wait, sent as `Retry-After` on 429 and 503.
    pub retry_after: Option<u64>,
}

/// The error envelope, as documented in the OpenAPI documents.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    /// Human-readable message.
    pub message: String,
    /// Always `null`.
    pub data: Option<()>,
    /// The machine-readable part.
    pub error: ErrorDetail,
}

/// The machine-readable part of an error.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// Stable code, e.g. `VALIDATION_FAILED`.
    pub code: String,
    /// Field name to problem, on validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<FieldErrors>,
    /// The request id, to find the request in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, code: code.into(), message: message.into(), fields: None, retry_after: None }
    }

    /// 400: the request could not be read.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    /// This error naming one field's problem too (a 409 that says which field is taken, say).
    pub fn with_field(self, field: &str, problem: &str) -> Self {
        Self { fields: Some(FieldErrors::from([(field.to_owned(), problem.to_owned())])), ..self }
    }

    /// 422 with per-field problems.
    pub fn validation(fields: FieldErrors) -> Self {
        Self {
            fields: Some(fields),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, codes::VALIDATION_FAILED, "the request has invalid fields")
        }
    }

    /// 401.
    pub fn unauthorized(code: &'static str, message: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403.
    pub fn forbidden(code: &'static str, message: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404.
    pub fn not_found(message: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }

    /// 409.
    pub fn conflict(code: &'static str, message: &'static str) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED, "too many requests, try again later")
        }
    }

    /// 503: a dependency is down; the client may retry.
    pub fn unavailable(message: &'static str) -> Self {
        Self { retry_after: Some(1), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, codes::SERVICE_UNAVAILABLE, message) }
    }

    /// 500. The cause must have been logged by the caller; it is never shown.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL_ERROR, "internal error")
    }

    /// 404 for a path nothing serves.
    pub fn no_such_endpoint() -> Self {
        Self::not_found("no such endpoint")
    }

    /// 413.
    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE, "the request body is too large")
    }

    /// 401 without a bearer token.
    pub fn missing_token() -> Self {
        Self::unauthorized(codes::UNAUTHENTICATED, "a bearer token is required")
    }

    /// 401 for a token older than the user's last revocation.
    pub fn token_revoked() -> Self {
        Self::unauthorized(codes::TOKEN_REVOKED, "the session has been revoked; sign in again")
    }

    /// The envelope body, with the current request id when there is one.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            success: false,
            message: self.message.to_string(),
            data: None,
            error: ErrorDetail {
                code: self.code.to_string(),
                fields: self.fields.clone(),
                trace_id: REQUEST_ID.try_with(Clone::clone).ok(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.envelope())).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Renders a service's error, logging the cause of a 5xx first: a 500 is a bug and logged as an
/// error, a 503 a dependency outage and logged as a warning. Services call this from their error
/// type's `IntoResponse`, so causes are logged in one place and never shown to the client.
pub fn respond<E: std::fmt::Display + Into<ApiError>>(err: E) -> Response {
    let cause = err.to_string();
    let api: ApiError = err.into();
    if api.status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(%cause, "internal error");
    } else if api.status.is_server_error() {
        tracing::warn!(%cause, status = api.status.as_u16(), "dependency unavailable");
    }
    api.into_response()
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The conversions every service's one error type needs, so that none writes them again: a 422
/// for one field (`Error::field`), field errors into `Validation` and the shared extractors'
/// rejections into `Request`. The enum must have the variants `Validation(FieldErrors)` and
/// `Request(ApiError)`.
#[macro_export]
macro_rules! service_error {
    ($error:ty) => {
        impl $error {
            /// A 422 for one field.
            pub fn field(field: &str, problem: impl Into<String>) -> Self {
                Self::Validation($crate::FieldErrors::from([(field.to_owned(), problem.into())]))
            }
        }

        impl From<$crate::FieldErrors> for $error {
            fn from(fields: $crate::FieldErrors) -> Self {
                Self::Validation(fields)
            }
        }

        impl From<$crate::ApiError> for $error {
            fn from(err: $crate::ApiError) -> Self {
                Self::Request(err)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn validation_errors_render_fields_and_trace_id() {
        let mut fields = FieldErrors::new();
        fields.insert("email".into(), "is not an email address".into());
        let response = REQUEST_ID.scope("req-1".into(), async { ApiError::validation(fields).into_response() }).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = body_json(response).await;
        assert_eq!(body["success"], false);
        assert_eq!(body["data"], serde_json::Value::Null);
        assert_eq!(body["error"]["code"], "VALIDATION_FAILED");
        assert_eq!(body["error"]["fields"]["email"], "is not an email address");
        assert_eq!(body["error"]["traceId"], "req-1");
    }

    #[tokio::test]
    async fn rate_limit_errors_carry_retry_after() {
        let response = ApiError::too_many_requests(0).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
