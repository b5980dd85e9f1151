//! Question-answer's tests in one binary: the HTTP API black-box (`api`), the store contract on
//! both backends (`store`), the vector outbox (`outbox`) and the shipped seed (`seed`).
//!
//! PostgreSQL tests skip, saying how to start the server, unless `COUPLE_REQUIRE_SERVERS=1`
//! (set by `make test`) makes a missing server a failure.

mod api;
mod outbox;
mod seed;
mod store;
mod support;
