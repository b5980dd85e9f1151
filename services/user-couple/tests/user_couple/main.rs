//! User-couple's tests in one binary: the HTTP API black-box (`api`), the admin role (`admin`),
//! erasure in the other services (`erasure`), the store contract on both backends (`store`), and
//! a PostgreSQL outage under load (`outage`).
//!
//! PostgreSQL and Redis tests skip, saying how to start the servers, unless
//! `COUPLE_REQUIRE_SERVERS=1` (set by `make test`) makes a missing server a failure.

mod admin;
mod api;
mod erasure;
mod outage;
mod store;
