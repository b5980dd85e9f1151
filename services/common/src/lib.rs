//! What the couple platform's services share.
//!
//! Without features: configuration loading, the response envelope and the wire error, JSON and
//! query extraction with envelope rejections, the internal-caller and client-address extractors,
//! field validation, telemetry, health and metrics, graceful shutdown, and the command line every
//! service binary accepts. Features add the heavy parts: `db` (sqlx pools and the dual-backend
//! store skeleton), `kv` (Redis or in-process), `jwt` (tokens, identity, revocation), `openapi`
//! (utoipa), `peers` (calls to other services and user-couple's cached couples: reqwest, moka),
//! and `service` (`db`, `kv`, `jwt`, `openapi` and the service kit that runs a service binary).

pub mod cli;
pub mod clock;
pub mod config;
#[cfg(feature = "db")]
pub mod db;
pub mod envelope;
pub mod error;
pub mod extract;
#[cfg(feature = "jwt")]
pub mod identity;
#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(feature = "service")]
pub mod kit;
#[cfg(feature = "kv")]
pub mod kv;
pub mod net;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod paging;
#[cfg(feature = "peers")]
pub mod peers;
#[cfg(feature = "jwt")]
pub mod revocation;
pub mod server;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod test_util;
pub mod traits;
pub mod validate;

pub use envelope::{ApiResponse, Page};
pub use error::{ApiError, FieldErrors};
pub use extract::{ClientAddr, InternalCaller, Json, Query};
#[cfg(feature = "jwt")]
pub use identity::{Identity, Role};
#[cfg(feature = "jwt")]
pub use jwt::{Claims, JwtKeys};
pub use paging::PageQuery;
