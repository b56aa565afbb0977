//! The driver: runs a protocol core on real sockets, one file per job.
//!
//! - `node`: `Node`, the public API (what every `peko_*` call forwards to).
//! - `args`: the argument rules `Node` applies, the same for Rust and C callers.
//! - `shared`: the state a node's handle and its background tasks share; `with_core`.
//! - `runtime`: the process-wide tokio runtime; starting and stopping a node's background work
//!   (receive, accept and timer loops).
//! - `net`: binding the UDP socket and TCP listener, the UDP receive loop, and the send and
//!   receive ends every frame passes through (core output to bytes, bytes to core input).
//! - `stream`: TCP connections, both ways on each (kept outbound ones, admitted inbound ones),
//!   their write queues bounded in bytes, replies routed by connection.
//! - `accept`: inbound connections: admitted, read, answered, refused after a failed
//!   authentication.
//! - `frame`: reading one stream frame, header before body, within budgets and deadlines.
//! - `inbound`: the caps on inbound connections, per source, per member and per process (a
//!   descriptor budget from RLIMIT_NOFILE), with eviction of idle connections first.
//! - `budget`: the byte budgets inbound frame bodies are read within.
//! - `keys`: the keyring, sealing mode and cluster label of a node.
//! - `events`: the user's pull-style event queue and its pollable descriptor.
//! - `stats`: the counters.
//! - `console`: what the console log prints on its own (the member list when it changes).
//! - `compat`: the Go pekonode compatibility mode's sockets and loops (`crate::compat` is its
//!   core).

mod accept;
pub mod args;
mod budget;
mod compat;
mod console;
pub mod events;
mod frame;
mod inbound;
mod keys;
mod net;
mod node;
mod runtime;
mod shared;
pub mod stats;
mod stream;

pub use node::Node;
