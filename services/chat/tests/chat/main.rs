//! Chat's tests in one binary: the store contract on both backends (`store`).
//!
//! PostgreSQL tests skip, saying how to start the server, unless `COUPLE_REQUIRE_SERVERS=1` (set
//! by `make test`) makes a missing server a failure.

mod store;
