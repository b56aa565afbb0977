//! pekonode: gossip membership and cluster metadata, shipped as a C ABI.
//!
//! Layers, each in its own module: `proto` (the sans-IO protocol core), `wire` (the one place
//! the byte format lives), `driver` (tokio runtime, sockets, timers), `ffi` (the thin C boundary).

pub mod proto;
pub mod sim;
pub mod wire;
