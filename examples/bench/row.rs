//! What one cluster size measured, and the per-member figures derived from it.

use pekonode::StatsSnapshot;
use std::time::Duration;

#[derive(Default)]
pub struct Row {
    pub n: usize,
    /// Members that started (N unless one failed).
    pub started: usize,
    /// From the first member's creation to the last one's join.
    pub join: Option<Duration>,
    pub lists: Option<Duration>,
    /// Times a member that had listed everyone was found incomplete again while waiting.
    pub lists_regressions: u32,
    /// Bytes sent per member per second during the settle period (join traffic dying out).
    pub settle_bytes: Option<f64>,
    /// Length of the steady window, seconds, and the counters' growth over it.
    pub window_secs: Option<f64>,
    pub window: Option<StatsSnapshot>,
    pub cpu_pct: Option<f64>,
    pub rss_before: Option<f64>,
    pub rss: Option<f64>,
    pub rss_peak: Option<f64>,
    /// Datagram bytes per member per second in the two halves of the window (default mode).
    pub halves: Option<(f64, f64)>,
    pub fds: Option<usize>,
    /// Kernel UDP receive errors (InErrors, RcvbufErrors) from the first member's start until
    /// the lists were complete, and over the steady window.
    pub udp_errors_join: Option<(u64, u64)>,
    pub udp_errors_window: Option<(u64, u64)>,
    /// After the window (large mode): members listing all N, and the shortest list.
    pub complete_after: Option<(usize, usize)>,
    pub publish: Option<Duration>,
    pub gone: Option<Duration>,
    /// Whole close, and one close(): min, median, max.
    pub close: Option<(Duration, Duration, Duration, Duration)>,
    pub notes: Vec<String>,
}

impl Row {
    /// A counter's growth over the window, per member per second.
    pub fn rate(&self, f: fn(&StatsSnapshot) -> u64) -> Option<f64> {
        match (&self.window, self.window_secs) {
            (Some(w), Some(s)) if s > 0.0 => Some(f(w) as f64 / (self.n as f64 * s)),
            _ => None,
        }
    }

    /// Bytes sent per member per second over the window, datagrams and streams.
    pub fn bytes(&self) -> Option<f64> {
        self.rate(|s| s.datagram_bytes_sent + s.stream_bytes_sent)
    }

    /// CPU seconds per member per minute.
    pub fn cpu_member_min(&self) -> Option<f64> {
        self.cpu_pct.map(|p| p / 100.0 * 60.0 / self.n as f64)
    }
}
