//! pekonode: gossip membership and cluster metadata, shipped as a C ABI.
//!
//! Layers, each in its own module: `proto` (the sans-IO protocol core), `wire` (the one place
//! the byte format lives), `driver` (tokio runtime, sockets, timers), `ffi` (the thin C boundary),
//! and `compat`, the sans-IO core of the Go pekonode compatibility mode (its packets are in
//! `wire::gojson`).

pub mod compat;
pub mod config;
pub mod driver;
pub mod error;
pub mod log;
pub mod proto;
/// The deterministic simulator: a test and bench tool, built with the `sim` feature.
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod wire;

pub use config::{Config, Protocol};
pub use driver::stats::{Counters, StatsSnapshot};
pub use driver::Node;
pub use error::{Error, Result};
pub use proto::{Attributes, MemberId};
#[allow(non_camel_case_types, clippy::missing_safety_doc)]
pub mod ffi;
