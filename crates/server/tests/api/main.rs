//! Black-box tests of the HTTP API: the real server on a random 127.0.0.1 port, on the
//! in-memory store, driven over HTTP by cookie-keeping clients.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod helpers;

mod accounts;
mod chats;
mod client_flows;
mod edges;
mod events;
mod http_edges;
mod messages;
mod openapi;
mod routes;
mod sessions;
