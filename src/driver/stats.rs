//! Counters a user (and the benches) monitor. Relaxed atomics: they are figures, not locks.

use crate::proto::CoreCounters;
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
    pub dropped_replay: AtomicU64,
    pub dropped_label: AtomicU64,
    pub dropped_malformed: AtomicU64,
    pub dropped_too_large: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub send_errors: AtomicU64,
    pub connections_refused: AtomicU64,
    pub connections_evicted: AtomicU64,
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
    pub dropped_replay: u64,
    pub dropped_label: u64,
    pub dropped_malformed: u64,
    pub dropped_too_large: u64,
    pub dropped_queue_full: u64,
    pub send_errors: u64,
    pub connections_refused: u64,
    pub connections_evicted: u64,
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
            dropped_replay: g(&self.dropped_replay),
            dropped_label: g(&self.dropped_label),
            dropped_malformed: g(&self.dropped_malformed),
            dropped_too_large: g(&self.dropped_too_large),
            dropped_queue_full: g(&self.dropped_queue_full),
            send_errors: g(&self.send_errors),
            connections_refused: g(&self.connections_refused),
            connections_evicted: g(&self.connections_evicted),
            push_pulls: g(&self.push_pulls),
            anti_entropy_bytes_sent: g(&self.anti_entropy_bytes_sent),
        }
    }
}

/// Every counter a user can read, copied at one moment: what `peko_stats` and `peko_counter`
/// report, from the driver's counters, the core's and the event queue's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    // The fields of `peko_stats_t`, with the meaning its documentation (src/ffi/counters.rs) gives;
    // `dropped_malformed` includes `dropped_too_large`.
    pub members_alive: u64,
    pub members_suspect: u64,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub packets_received: u64,
    pub bytes_received: u64,
    pub dropped_auth: u64,
    pub dropped_malformed: u64,
    pub dropped_queue_full: u64,
    pub anti_entropy_exchanges: u64,
    pub round: u64,
    /// Dropped: larger than a datagram or frame may be (part of `dropped_malformed`).
    pub dropped_too_large: u64,
    /// Sends that failed: a datagram not sent, or a TCP frame not written (its connect or write
    /// failed or timed out, or its connection closed or was evicted first).
    pub send_errors: u64,
    /// Inbound TCP connections refused: a cap of `inbound` was reached and there was no
    /// connection to close instead.
    pub connections_refused: u64,
    /// News of members not added because the table was full (`proto::MEMBERS_MAX`).
    pub members_refused: u64,
    /// Events that never reached the user: dropped from the full event queue (what the `lost`
    /// of delivered events adds up to, and those still to be reported) or inside the core.
    pub events_lost: u64,
    /// Rumors dropped from a full rumor queue (anti-entropy repairs what they carried).
    pub rumors_dropped: u64,
    /// Indirect probe requests refused because `proto::RELAYS_MAX` were pending.
    pub relays_refused: u64,
    /// The parts of `packets_sent` and `bytes_sent` that went as UDP datagrams...
    pub udp_datagrams_sent: u64,
    pub udp_bytes_sent: u64,
    /// ...and as TCP frames.
    pub tcp_frames_sent: u64,
    pub tcp_bytes_sent: u64,
    /// The parts of `packets_received` that came as UDP datagrams and as TCP frames.
    pub udp_datagrams_received: u64,
    pub tcp_frames_received: u64,
    /// Bytes of anti-entropy messages handed to the send path (whole datagram or TCP frames),
    /// whether or not the send succeeded.
    pub anti_entropy_bytes_sent: u64,
    /// Inbound TCP connections closed to make room for a new one (a cap of `inbound` reached).
    pub connections_evicted: u64,
    /// News about a member dropped: its incarnation was implausibly far ahead of the one held
    /// (`proto::INCARNATION_WINDOW`). `PEKO_COUNTER_INCARNATIONS_IMPLAUSIBLE`.
    pub incarnations_implausible: u64,
    /// Metadata versions refused: their clock was more than `proto::hlc::DRIFT_MAX_MS` ahead of
    /// the wall clock. `PEKO_COUNTER_CLOCKS_IMPLAUSIBLE`.
    pub clocks_implausible: u64,
    /// Members new to us not added: a message or the period had introduced as many as allowed
    /// (`proto::INTRODUCTIONS_PER_MESSAGE`, `proto::INTRODUCTIONS_PER_PERIOD`).
    /// `PEKO_COUNTER_INTRODUCTIONS_REFUSED`.
    pub introductions_refused: u64,
    /// Metadata announcements by datagram from an unverified sender, not fetched.
    /// `PEKO_COUNTER_ANNOUNCES_IGNORED`.
    pub announces_ignored: u64,
    /// Sealed frames sent further from our clock than the replay window (`wire::Key::window_ms`).
    /// `PEKO_COUNTER_DROPPED_REPLAY`.
    pub dropped_replay: u64,
    /// Frames of another cluster label (or with a label when we have none, or none when we have
    /// one). `PEKO_COUNTER_DROPPED_LABEL`.
    pub dropped_label: u64,
}

/// What the core reports, for `Counters::new`.
pub struct CoreView {
    pub alive: usize,
    pub suspect: usize,
    pub rounds: u64,
    pub counters: CoreCounters,
}

impl Counters {
    pub fn new(s: &StatsSnapshot, core: &CoreView, events_lost: u64) -> Counters {
        Counters {
            members_alive: core.alive as u64,
            members_suspect: core.suspect as u64,
            packets_sent: s.datagrams_sent + s.frames_sent,
            bytes_sent: s.datagram_bytes_sent + s.stream_bytes_sent,
            packets_received: s.datagrams_received + s.frames_received,
            bytes_received: s.bytes_received,
            dropped_auth: s.dropped_auth,
            dropped_malformed: s.dropped_malformed + s.dropped_too_large,
            dropped_queue_full: s.dropped_queue_full,
            anti_entropy_exchanges: s.push_pulls,
            round: core.rounds,
            dropped_too_large: s.dropped_too_large,
            send_errors: s.send_errors,
            connections_refused: s.connections_refused,
            members_refused: core.counters.members_refused,
            events_lost: core.counters.events_lost + events_lost,
            rumors_dropped: core.counters.rumors_dropped,
            relays_refused: core.counters.relays_refused,
            udp_datagrams_sent: s.datagrams_sent,
            udp_bytes_sent: s.datagram_bytes_sent,
            tcp_frames_sent: s.frames_sent,
            tcp_bytes_sent: s.stream_bytes_sent,
            udp_datagrams_received: s.datagrams_received,
            tcp_frames_received: s.frames_received,
            anti_entropy_bytes_sent: s.anti_entropy_bytes_sent,
            connections_evicted: s.connections_evicted,
            incarnations_implausible: core.counters.incarnations_implausible,
            clocks_implausible: core.counters.clocks_implausible,
            introductions_refused: core.counters.introductions_refused,
            announces_ignored: core.counters.announces_ignored,
            dropped_replay: s.dropped_replay,
            dropped_label: s.dropped_label,
        }
    }
}
