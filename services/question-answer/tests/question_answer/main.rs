//! Question-answer's tests in one binary: the HTTP API black-box (`api`), the store contract on
//! both backends (`store`), the vector-store contract on the relational store and MongoDB
//! (`vector_store`), the vector outbox (`outbox`), the service on MongoDB, through an outage too (`mongo_service`) and the
//! shipped seed (`seed`).
//!
//! PostgreSQL and MongoDB-wire tests skip, saying how to start the server, unless
//! `COUPLE_REQUIRE_SERVERS=1` (set by `make test`) makes a missing server a failure; the real
//! MongoDB runs are optional (`TEST_MONGODB_URL`).

mod api;
mod mongo_service;
mod outbox;
mod seed;
mod store;
mod support;
mod vector_store;
