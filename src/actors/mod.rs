//! Actors: the programs a lab runs inside its namespaces, over the real kernel TCP stack.
//!
//! The built-in HTTP/1.1 server and pooled client reproduce Go net/http's behaviour (the
//! reference for every knob and default) and emit trace events like Go's httptrace, on the same
//! clock as the wire's frames.
//!
//! Runtime contract: each actor runs on its own OS thread that entered the actor's network
//! namespace, inside a current-thread tokio runtime, so every socket it creates belongs to that
//! namespace. Nothing here uses spawn_blocking or name resolution.

pub mod client_report;
pub mod db_pool;
pub mod exec;
pub mod h2_client;
pub mod h2_server;
pub mod h2_wire;
pub mod http_client;
pub mod http_exchange;
pub mod http_headers;
pub mod http_server;
pub mod pool;
pub mod run_as;
pub mod shutdown;
pub mod socket;
pub mod stream;
pub mod tcp;
pub mod tls;
pub mod worker;
pub mod ws;
pub mod ws_session;
