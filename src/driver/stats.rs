//! Counters a user (and the benches) monitor. Relaxed atomics: they are figures, not locks.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Stats {
    pub datagrams_sent: AtomicU64,
    pub datagram_bytes_sent: AtomicU64,
    pub frames_sent: AtomicU64,
    pub stream_bytes_sent: AtomicU64,
    pub datagrams_received: AtomicU64,
    pub frames_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub dropped_auth: AtomicU64,
    pub dropped_malformed: AtomicU64,
    pub dropped_too_large: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub send_errors: AtomicU64,
    pub connections_refused: AtomicU64,
    pub push_pulls: AtomicU64,
    /// Bytes of anti-entropy messages (push-pull and digests), also counted in the totals above.
    pub anti_entropy_bytes_sent: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub datagrams_sent: u64,
    pub datagram_bytes_sent: u64,
    pub frames_sent: u64,
    pub stream_bytes_sent: u64,
    pub datagrams_received: u64,
    pub frames_received: u64,
    pub bytes_received: u64,
    pub dropped_auth: u64,
    pub dropped_malformed: u64,
    pub dropped_too_large: u64,
    pub dropped_queue_full: u64,
    pub send_errors: u64,
    pub connections_refused: u64,
    pub push_pulls: u64,
    pub anti_entropy_bytes_sent: u64,
}

pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            datagrams_sent: g(&self.datagrams_sent),
            datagram_bytes_sent: g(&self.datagram_bytes_sent),
            frames_sent: g(&self.frames_sent),
            stream_bytes_sent: g(&self.stream_bytes_sent),
            datagrams_received: g(&self.datagrams_received),
            frames_received: g(&self.frames_received),
            bytes_received: g(&self.bytes_received),
            dropped_auth: g(&self.dropped_auth),
            dropped_malformed: g(&self.dropped_malformed),
            dropped_too_large: g(&self.dropped_too_large),
            dropped_queue_full: g(&self.dropped_queue_full),
            send_errors: g(&self.send_errors),
            connections_refused: g(&self.connections_refused),
            push_pulls: g(&self.push_pulls),
            anti_entropy_bytes_sent: g(&self.anti_entropy_bytes_sent),
        }
    }
}
