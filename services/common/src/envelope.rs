//! The response envelope every JSON response uses: `{"success", "message", "data"}`, plus a
//! top-level `page` on lists that have more to fetch.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// A successful response: the status and the envelope around `data`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiResponse<T> {
    /// Always `true` here; errors go through [`crate::ApiError`].
    pub success: bool,
    /// A short human-readable summary.
    pub message: String,
    /// The payload.
    pub data: T,
    /// Present on lists when more items remain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<Page>,
    #[serde(skip)]
    status: StatusCode,
}

/// Paging information on list responses.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// Pass as `?cursor=` to fetch the next page.
    pub next_cursor: String,
}

impl<T: Serialize> ApiResponse<T> {
    /// 200 with `data`.
    pub fn ok(data: T) -> Self {
        Self::with_status(StatusCode::OK, "ok", data)
    }

    /// 201 with the created resource.
    pub fn created(data: T) -> Self {
        Self::with_status(StatusCode::CREATED, "created", data)
    }

    /// Any status with a message.
    pub fn with_status(status: StatusCode, message: impl Into<String>, data: T) -> Self {
        Self { success: true, message: message.into(), data, page: None, status }
    }

    /// Replaces the message.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds the cursor of the next page, if there is one.
    pub fn next_cursor(mut self, cursor: Option<String>) -> Self {
        self.page = cursor.map(|next_cursor| Page { next_cursor });
        self
    }
}

impl<T: Serialize> IntoResponse for ApiResponse<T> {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}

/// No payload: serialises as `null`.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Empty;

/// A response with no payload (`data: null`), for acknowledgements such as logout.
pub fn done(message: &str) -> ApiResponse<Empty> {
    ApiResponse::ok(Empty).message(message)
}
