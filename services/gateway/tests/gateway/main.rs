//! Black-box tests: the gateway on a real socket in front of fake upstreams written here.

mod auth;
mod e2e;
mod limits;
mod openapi;
mod redis;
mod resilience;
mod routing;
mod support;
mod websocket;
