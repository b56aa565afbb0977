//! The validated configuration, as the driver uses it. `ffi` converts `peko_config` into this.

use crate::error::{Error, Result};
use crate::wire;
use std::net::IpAddr;

pub const DEFAULT_AMOUNT: u32 = 3;
pub const DEFAULT_CYCLE_MS: u32 = 500;
pub const DEFAULT_BUFFER: u32 = 256;
pub const DEFAULT_SIZE: u32 = 16 * 1024;
pub const DEFAULT_TIMEOUT_MS: u32 = 5000;
/// `timeout_ms` must leave room for a few probe rounds.
pub const MIN_TIMEOUT_CYCLES: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    Tcp,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub amount: u32,
    pub cycle_ms: u32,
    pub buffer: u32,
    pub size: u32,
    pub timeout_ms: u32,
    pub secret_key: Option<String>,
    pub protocol: Protocol,
    /// `None`: the wildcard address of the local member's family.
    pub listen_addr: Option<IpAddr>,
    pub is_print: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            amount: DEFAULT_AMOUNT,
            cycle_ms: DEFAULT_CYCLE_MS,
            buffer: DEFAULT_BUFFER,
            size: DEFAULT_SIZE,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            secret_key: None,
            protocol: Protocol::Udp,
            listen_addr: None,
            is_print: false,
        }
    }
}

impl Config {
    /// Replaces zeros with defaults and checks ranges.
    pub fn resolve(mut self) -> Result<Config> {
        if self.amount == 0 {
            self.amount = DEFAULT_AMOUNT;
        }
        if self.cycle_ms == 0 {
            self.cycle_ms = DEFAULT_CYCLE_MS;
        }
        if self.buffer == 0 {
            self.buffer = DEFAULT_BUFFER;
        }
        if self.size == 0 {
            self.size = DEFAULT_SIZE;
        }
        if self.timeout_ms == 0 {
            self.timeout_ms = self.cycle_ms.saturating_mul(10);
        }
        if self.amount > 64 {
            return Err(Error::invalid(format!(
                "amount {} is above 64",
                self.amount
            )));
        }
        if !(10..=3_600_000).contains(&self.cycle_ms) {
            return Err(Error::invalid(format!(
                "cycle_ms {} is outside 10..=3600000",
                self.cycle_ms
            )));
        }
        if self.buffer > 65_536 {
            return Err(Error::invalid(format!(
                "buffer {} is above 65536",
                self.buffer
            )));
        }
        if self.size < 1024 || self.size as usize > wire::SIZE_MAX {
            return Err(Error::invalid(format!(
                "size {} is outside 1024..={}",
                self.size,
                wire::SIZE_MAX
            )));
        }
        if self.timeout_ms < self.cycle_ms.saturating_mul(MIN_TIMEOUT_CYCLES) {
            return Err(Error::invalid(format!(
                "timeout_ms {} is shorter than {} cycles of {} ms",
                self.timeout_ms, MIN_TIMEOUT_CYCLES, self.cycle_ms
            )));
        }
        if self.secret_key.as_deref() == Some("") {
            self.secret_key = None;
        }
        Ok(self)
    }
}
