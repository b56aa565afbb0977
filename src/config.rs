//! The validated configuration, as the driver uses it. `ffi` converts `peko_config` into this.

use crate::error::{Error, Result};
use crate::wire;
use std::net::IpAddr;

pub const DEFAULT_AMOUNT: u32 = 3;
pub const DEFAULT_CYCLE_MS: u32 = 500;
pub const DEFAULT_BUFFER: u32 = 256;
pub const DEFAULT_SIZE: u32 = 16 * 1024;
/// `timeout_ms` 0 means this, or `DEFAULT_TIMEOUT_CYCLES` cycles when that is longer: the one
/// rule for every binding (a fixed 5 s would be shorter than the minimum at cycles over 1 s).
pub const DEFAULT_TIMEOUT_MS: u32 = 5000;
pub const DEFAULT_TIMEOUT_CYCLES: u32 = 10;
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
            // Derived from cycle_ms by `resolve` (`default_timeout_ms`).
            timeout_ms: 0,
            secret_key: None,
            protocol: Protocol::Udp,
            listen_addr: None,
            is_print: false,
        }
    }
}

/// What `timeout_ms` 0 means: 5000 ms, or 10 × `cycle_ms` when that is longer.
pub fn default_timeout_ms(cycle_ms: u32) -> u32 {
    DEFAULT_TIMEOUT_MS.max(cycle_ms.saturating_mul(DEFAULT_TIMEOUT_CYCLES))
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
            self.timeout_ms = default_timeout_ms(self.cycle_ms);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_for(cycle_ms: u32, timeout_ms: u32) -> Result<u32> {
        let cfg = Config {
            cycle_ms,
            timeout_ms,
            ..Config::default()
        };
        cfg.resolve().map(|c| c.timeout_ms)
    }

    /// One rule for a zero timeout, whichever binding passed it: 5 s, or 10 cycles when longer.
    #[test]
    fn a_zero_timeout_is_five_seconds_or_ten_cycles_when_longer() {
        assert_eq!(timeout_for(0, 0).unwrap(), 5000);
        assert_eq!(timeout_for(200, 0).unwrap(), 5000);
        assert_eq!(timeout_for(500, 0).unwrap(), 5000);
        assert_eq!(timeout_for(2000, 0).unwrap(), 20_000);
        assert_eq!(timeout_for(3_600_000, 0).unwrap(), 36_000_000);
        assert_eq!(
            timeout_for(200, 1000).unwrap(),
            1000,
            "a given timeout is kept"
        );
        assert!(timeout_for(200, 999).is_err(), "below 5 cycles");
    }

    /// The default configuration leaves the timeout to that rule, so changing only the cycle
    /// never makes the defaults invalid.
    #[test]
    fn the_defaults_with_any_cycle_resolve() {
        assert_eq!(Config::default().timeout_ms, 0);
        for cycle_ms in [10, 200, 999, 1000, 1001, 2000, 60_000, 3_600_000] {
            let t = timeout_for(cycle_ms, Config::default().timeout_ms)
                .unwrap_or_else(|e| panic!("cycle {cycle_ms}: {e}"));
            assert!(t >= cycle_ms * MIN_TIMEOUT_CYCLES && t >= DEFAULT_TIMEOUT_MS);
        }
    }
}
