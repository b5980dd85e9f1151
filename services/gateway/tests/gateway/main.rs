//! Black-box tests: the gateway on a real socket in front of fake upstreams written here, and in
//! front of the real services (`e2e.rs`, `questions.rs`, `schedules.rs`, `chat.rs`).

mod auth;
mod chat;
mod e2e;
mod limits;
mod openapi;
mod questions;
mod redis;
mod resilience;
mod routing;
mod schedules;
mod support;
mod websocket;
