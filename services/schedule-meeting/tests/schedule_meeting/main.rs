//! Schedule-meeting's tests in one binary: the HTTP API black-box (`api`), the store contract on
//! both backends (`store`), and the weather cards and forecasts (`weather`) against a local
//! stand-in for the KMA open API (`kma`).
//!
//! PostgreSQL tests skip, saying how to start the server, unless `COUPLE_REQUIRE_SERVERS=1` (set
//! by `make test`) makes a missing server a failure.

mod api;
mod kma;
mod store;
mod support;
mod weather;
