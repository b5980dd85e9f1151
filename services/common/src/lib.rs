//! What the couple platform's services share.
//!
//! Everything here is used by at least two services: configuration loading, the response
//! envelope and the wire error, JSON extraction with envelope rejections, JWT issue and
//! verification, the identity extractor, the error responses every OpenAPI document states, the
//! key-value store (Redis or in-process), telemetry, health and metrics, graceful shutdown, and
//! the command line every service binary accepts.

pub mod cli;
pub mod config;
pub mod db;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod identity;
pub mod jwt;
pub mod kv;
pub mod net;
pub mod openapi;
pub mod revocation;
pub mod server;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use envelope::{ApiResponse, Page};
pub use error::{ApiError, FieldErrors};
pub use extract::{Json, Query};
pub use identity::{Identity, Role};
pub use jwt::{Claims, JwtKeys};
