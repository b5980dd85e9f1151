//! Schedule-meeting's tests in one binary: the HTTP API black-box (`api`), the store contract on
//! both backends (`store`), the weather cards and forecasts (`weather`) against a local
//! stand-in for the KMA open API (`kma`), and the month calendar, the calendar feeds
//! (`calendar`) and recommendations (`recommend`) against a local stand-in for user-couple and
//! question-answer (`peers`).
//!
//! PostgreSQL tests skip, saying how to start the server, unless `COUPLE_REQUIRE_SERVERS=1` (set
//! by `make test`) makes a missing server a failure.

mod api;
mod calendar;
mod kma;
mod peers;
mod recommend;
mod store;
mod support;
mod weather;
