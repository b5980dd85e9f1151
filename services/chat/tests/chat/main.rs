//! Chat's tests in one binary: the HTTP API black-box (`api`), the WebSocket protocol against the
//! running service (`socket`), the store contract on both backends (`store`), and the fan-out
//! between replicas through Redis (`scale`), and the real binary run as processes: two replicas,
//! one killed, and a restart on SIGTERM (`process`).
//!
//! Tests that need PostgreSQL or Redis skip, saying how to start the servers, unless
//! `COUPLE_REQUIRE_SERVERS=1` (set by `make test`) makes a missing server a failure.

mod api;
mod process;
mod scale;
mod socket;
mod store;
mod support;
