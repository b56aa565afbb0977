//! Counters: the v1 `peko_stats_t` snapshot, and every counter by id with `peko_counter`.

use super::{boundary, handle, null, peko_node};
use crate::driver::stats::Counters;
use crate::error::*;

/// Counters for monitoring, from `peko_stats`. (Named with `_t` because C does not allow a type
/// and a function of the same name.) Field order and types are ABI, fixed forever: peko_stats
/// writes exactly these fields, and counters added later are not appended here but read with
/// peko_counter (which reads these too: PEKO_COUNTER_MEMBERS_ALIVE to PEKO_COUNTER_ROUND).
#[repr(C)]
pub struct peko_stats_t {
    /// Members listed as alive, the local one included.
    pub members_alive: u64,
    /// Members currently suspected (still listed).
    pub members_suspect: u64,
    /// Datagrams and TCP frames sent.
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// Datagrams and TCP frames received.
    pub packets_received: u64,
    pub bytes_received: u64,
    /// Dropped: sealed under no key held, plain while sealed frames are required, or sealed
    /// with no key held (PEKO_COUNTER_DROPPED_AUTH).
    pub dropped_auth: u64,
    /// Dropped: garbage, truncated or oversized, or a TCP-only message that came by UDP.
    pub dropped_malformed: u64,
    /// Outgoing messages dropped, never sent, because there was no room for them: a UDP datagram
    /// the kernel's socket send buffer could not take at once (EAGAIN; the library never
    /// blocks), or a TCP frame that found its connection's write queue full (`buffer` frames,
    /// or 4 MiB on one connection) or the member's 16 MiB for all its connections taken. In a
    /// healthy cluster it stays at 0; a rise means a peer that does not read (its connection
    /// fills) or a host that cannot send as fast as the library produces. Received messages
    /// are never counted here.
    pub dropped_queue_full: u64,
    /// Anti-entropy messages sent (digests, offers and push-pulls).
    pub anti_entropy_exchanges: u64,
    /// Gossip rounds run since peko_join.
    pub round: u64,
}

/// Fills `*out` with this node's counters (exactly the fields of peko_stats_t above; the others
/// are read with peko_counter).
#[no_mangle]
pub unsafe extern "C" fn peko_stats(node: *mut peko_node, out: *mut peko_stats_t) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let out = out.as_mut().ok_or_else(|| null("out"))?;
        let c = n.counters();
        *out = peko_stats_t {
            members_alive: c.members_alive,
            members_suspect: c.members_suspect,
            packets_sent: c.packets_sent,
            bytes_sent: c.bytes_sent,
            packets_received: c.packets_received,
            bytes_received: c.bytes_received,
            dropped_auth: c.dropped_auth,
            dropped_malformed: c.dropped_malformed,
            dropped_queue_full: c.dropped_queue_full,
            anti_entropy_exchanges: c.anti_entropy_exchanges,
            round: c.round,
        };
        Ok(())
    })
}

// ---- counters by id -------------------------------------------------------------------------
// Ids are never renumbered or reused; new counters get new ids.

/// `peko_counter`: members listed as alive, the local one included (a current value, not a
/// running total). Same as peko_stats_t.members_alive.
pub const PEKO_COUNTER_MEMBERS_ALIVE: u32 = 1;
/// `peko_counter`: members currently suspected, still listed (a current value).
/// Same as peko_stats_t.members_suspect.
pub const PEKO_COUNTER_MEMBERS_SUSPECT: u32 = 2;
/// `peko_counter`: datagrams and TCP frames sent. Same as peko_stats_t.packets_sent.
pub const PEKO_COUNTER_PACKETS_SENT: u32 = 3;
/// `peko_counter`: bytes of datagrams and TCP frames sent (a TCP frame's header included).
/// Same as peko_stats_t.bytes_sent.
pub const PEKO_COUNTER_BYTES_SENT: u32 = 4;
/// `peko_counter`: datagrams and TCP frames received. Same as peko_stats_t.packets_received.
pub const PEKO_COUNTER_PACKETS_RECEIVED: u32 = 5;
/// `peko_counter`: bytes of datagrams and TCP frames received (a TCP frame's header included).
/// Same as peko_stats_t.bytes_received.
pub const PEKO_COUNTER_BYTES_RECEIVED: u32 = 6;
/// `peko_counter`: packets dropped as not ours to open: sealed under no key this member holds,
/// plain while it requires sealed frames (PEKO_ENCRYPTION_REQUIRE), or sealed while it has no
/// key. Same as peko_stats_t.dropped_auth.
pub const PEKO_COUNTER_DROPPED_AUTH: u32 = 7;
/// `peko_counter`: packets dropped as garbage, truncated or oversized, or a message that travels
/// only over TCP (push-pull, digest, metadata transfer) arriving by UDP; the oversized ones are
/// also counted alone in PEKO_COUNTER_DROPPED_TOO_LARGE. Same as peko_stats_t.dropped_malformed.
pub const PEKO_COUNTER_DROPPED_MALFORMED: u32 = 8;
/// `peko_counter`: messages dropped because a send queue was full. Same as
/// peko_stats_t.dropped_queue_full.
pub const PEKO_COUNTER_DROPPED_QUEUE_FULL: u32 = 9;
/// `peko_counter`: anti-entropy messages (digests, offers and push-pulls) handed to the
/// send path, whether or not the send then succeeded. Same as
/// peko_stats_t.anti_entropy_exchanges.
pub const PEKO_COUNTER_ANTI_ENTROPY_EXCHANGES: u32 = 10;
/// `peko_counter`: gossip rounds run since peko_join. Same as peko_stats_t.round.
pub const PEKO_COUNTER_ROUND: u32 = 11;
/// `peko_counter`: packets dropped because they were larger than a datagram or a TCP frame may
/// be (the configured `size` plus room for the member table). Part of
/// PEKO_COUNTER_DROPPED_MALFORMED.
pub const PEKO_COUNTER_DROPPED_TOO_LARGE: u32 = 12;
/// `peko_counter`: sends that failed: a datagram the OS refused, a TCP connect or write that
/// failed or timed out, a reply whose connection had closed, an answer to a datagram withheld
/// because it would have been larger than the datagram.
pub const PEKO_COUNTER_SEND_ERRORS: u32 = 13;
/// `peko_counter`: inbound TCP connections closed at once, unread, because a limit on inbound
/// connections was reached and no open one under it could be closed instead: every one had
/// work in hand, an answer not yet written or a request not read yet (see
/// PEKO_COUNTER_CONNECTIONS_EVICTED for the limits).
pub const PEKO_COUNTER_CONNECTIONS_REFUSED: u32 = 14;
/// `peko_counter`: news of members not added because the member table was full (100000).
pub const PEKO_COUNTER_MEMBERS_REFUSED: u32 = 15;
/// `peko_counter`: membership and metadata events that never reached peko_next_event: dropped
/// from the full event queue (the `lost` of the events delivered adds up to these, plus any
/// not reported yet) or inside the library before they were queued.
pub const PEKO_COUNTER_EVENTS_LOST: u32 = 16;
/// `peko_counter`: rumors (membership and metadata news) dropped from a full rumor queue before
/// they were spread as often as planned; the periodic anti-entropy exchange repairs what they
/// carried.
pub const PEKO_COUNTER_RUMORS_DROPPED: u32 = 17;
/// `peko_counter`: requests to probe a member on another's behalf (indirect probes) refused
/// because 1024 were already pending.
pub const PEKO_COUNTER_RELAYS_REFUSED: u32 = 18;
/// `peko_counter`: UDP datagrams sent (part of PEKO_COUNTER_PACKETS_SENT).
pub const PEKO_COUNTER_UDP_DATAGRAMS_SENT: u32 = 19;
/// `peko_counter`: bytes of UDP datagrams sent (part of PEKO_COUNTER_BYTES_SENT).
pub const PEKO_COUNTER_UDP_BYTES_SENT: u32 = 20;
/// `peko_counter`: TCP frames sent (part of PEKO_COUNTER_PACKETS_SENT).
pub const PEKO_COUNTER_TCP_FRAMES_SENT: u32 = 21;
/// `peko_counter`: bytes of TCP frames sent, headers included (part of
/// PEKO_COUNTER_BYTES_SENT).
pub const PEKO_COUNTER_TCP_BYTES_SENT: u32 = 22;
/// `peko_counter`: UDP datagrams received (part of PEKO_COUNTER_PACKETS_RECEIVED).
pub const PEKO_COUNTER_UDP_DATAGRAMS_RECEIVED: u32 = 23;
/// `peko_counter`: TCP frames received (part of PEKO_COUNTER_PACKETS_RECEIVED).
pub const PEKO_COUNTER_TCP_FRAMES_RECEIVED: u32 = 24;
/// `peko_counter`: bytes of the anti-entropy messages counted in
/// PEKO_COUNTER_ANTI_ENTROPY_EXCHANGES (whole datagram or TCP frames), whether or not the send
/// then succeeded; so not a strict part of PEKO_COUNTER_BYTES_SENT.
pub const PEKO_COUNTER_ANTI_ENTROPY_BYTES_SENT: u32 = 25;
/// `peko_counter`: open inbound TCP connections this member closed to make room for a new one:
/// the least recently active idle one (frames answered, or silent for 5 s; over the last two
/// limits, failing that, silent for 1 s) of those from the new one's source address when a
/// member keeps 128 from it, else of the member's own when it keeps 256, else of the whole
/// process's when all members of the process keep half of RLIMIT_NOFILE (read once) between
/// them.
pub const PEKO_COUNTER_CONNECTIONS_EVICTED: u32 = 26;
/// `peko_counter`: news about a member this one knows (alive, suspected, dead or left, by
/// gossip or anti-entropy) ignored because its incarnation, the member's version number, was
/// more than 2^20 (1048576) ahead of the one held for it (compared as serial numbers, so across
/// the wrap at 2^32): only a forgery, or a member unheard through a million refutations,
/// restarts or attribute changes, is that far ahead. Counted per arrival: the same news heard
/// twice counts twice. News about this member itself is never ignored so (it answers with a
/// higher incarnation of its own) and is not counted.
pub const PEKO_COUNTER_INCARNATIONS_IMPLAUSIBLE: u32 = 27;
/// `peko_counter`: metadata from another member, or an announcement of it, refused because its
/// version's clock was more than 60 s (60000 ms) ahead of this member's system clock: a forgery,
/// or a publisher whose clock is more than a minute fast (its peko_publish succeeds but the
/// others refuse it until its clock is set right). Only versions newer than the metadata held
/// are checked. Counted per refusal: the same version heard again counts again.
pub const PEKO_COUNTER_CLOCKS_IMPLAUSIBLE: u32 = 28;
/// `peko_counter`: members new to this member, named by a third party (gossip or anti-entropy),
/// not added because that message had already introduced 1024 of them, or because 4096 had been
/// introduced within the anti-entropy period (30 * cycle_ms; the allowance refills evenly over
/// it). Not limited: a member's own entry in a frame on a TCP connection it opened, and the
/// answer to this member's join on a connection this member opened (a datagram's claim about
/// its own sender is limited: anyone can write any sender there); a member not added now is
/// learned from a later message. Members refused because the member
/// table was full count in PEKO_COUNTER_MEMBERS_REFUSED instead.
pub const PEKO_COUNTER_INTRODUCTIONS_REFUSED: u32 = 29;
/// `peko_counter`: announcements of newer metadata that came in a datagram from a sender this
/// member has not verified (one that answered its own probe, or answered on a connection this
/// member opened), and so were not fetched: fetching would open a connection to whatever address
/// the datagram claimed. The announcement also spreads as a rumor, so a verified holder
/// announces it too, and anti-entropy repairs the rest.
pub const PEKO_COUNTER_ANNOUNCES_IGNORED: u32 = 30;
/// `peko_counter`: sealed frames (datagrams and TCP frames) dropped because their send time was
/// further from this member's system clock than the replay window, either way: 5 probe intervals
/// and at least 10 s (10 s at the defaults). A replayed frame, or a sender whose clock is that
/// far off (it hears no one and no one hears it: set its clock right). Counted once the frame
/// has opened under a key, so only frames sealed by a key holder count.
pub const PEKO_COUNTER_DROPPED_REPLAY: u32 = 31;
/// `peko_counter`: frames dropped because they carried another cluster label, or a label when
/// this member has none, or none when it has one (peko_label_set).
pub const PEKO_COUNTER_DROPPED_LABEL: u32 = 32;

/// Reads one of this node's counters, named by a PEKO_COUNTER_* id, into `*out`. Every counter
/// is here, those of peko_stats_t included (with the same values). Counters only grow, except
/// PEKO_COUNTER_MEMBERS_ALIVE and PEKO_COUNTER_MEMBERS_SUSPECT, which are current values. Each
/// call reads its counter at that moment: values from separate calls are not one snapshot.
/// An id this library does not know (0, or one from a newer header) is PEKO_ERR_INVALID_ARG,
/// with the id in peko_last_error; `*out` is written only on PEKO_OK. Valid before peko_join.
#[no_mangle]
pub unsafe extern "C" fn peko_counter(
    node: *mut peko_node,
    counter: u32,
    out: *mut u64,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let out = out.as_mut().ok_or_else(|| null("out"))?;
        *out = counter_value(&n.counters(), counter)?;
        Ok(())
    })
}

fn counter_value(c: &Counters, id: u32) -> Result<u64> {
    Ok(match id {
        PEKO_COUNTER_MEMBERS_ALIVE => c.members_alive,
        PEKO_COUNTER_MEMBERS_SUSPECT => c.members_suspect,
        PEKO_COUNTER_PACKETS_SENT => c.packets_sent,
        PEKO_COUNTER_BYTES_SENT => c.bytes_sent,
        PEKO_COUNTER_PACKETS_RECEIVED => c.packets_received,
        PEKO_COUNTER_BYTES_RECEIVED => c.bytes_received,
        PEKO_COUNTER_DROPPED_AUTH => c.dropped_auth,
        PEKO_COUNTER_DROPPED_MALFORMED => c.dropped_malformed,
        PEKO_COUNTER_DROPPED_QUEUE_FULL => c.dropped_queue_full,
        PEKO_COUNTER_ANTI_ENTROPY_EXCHANGES => c.anti_entropy_exchanges,
        PEKO_COUNTER_ROUND => c.round,
        PEKO_COUNTER_DROPPED_TOO_LARGE => c.dropped_too_large,
        PEKO_COUNTER_SEND_ERRORS => c.send_errors,
        PEKO_COUNTER_CONNECTIONS_REFUSED => c.connections_refused,
        PEKO_COUNTER_MEMBERS_REFUSED => c.members_refused,
        PEKO_COUNTER_EVENTS_LOST => c.events_lost,
        PEKO_COUNTER_RUMORS_DROPPED => c.rumors_dropped,
        PEKO_COUNTER_RELAYS_REFUSED => c.relays_refused,
        PEKO_COUNTER_UDP_DATAGRAMS_SENT => c.udp_datagrams_sent,
        PEKO_COUNTER_UDP_BYTES_SENT => c.udp_bytes_sent,
        PEKO_COUNTER_TCP_FRAMES_SENT => c.tcp_frames_sent,
        PEKO_COUNTER_TCP_BYTES_SENT => c.tcp_bytes_sent,
        PEKO_COUNTER_UDP_DATAGRAMS_RECEIVED => c.udp_datagrams_received,
        PEKO_COUNTER_TCP_FRAMES_RECEIVED => c.tcp_frames_received,
        PEKO_COUNTER_ANTI_ENTROPY_BYTES_SENT => c.anti_entropy_bytes_sent,
        PEKO_COUNTER_CONNECTIONS_EVICTED => c.connections_evicted,
        PEKO_COUNTER_INCARNATIONS_IMPLAUSIBLE => c.incarnations_implausible,
        PEKO_COUNTER_CLOCKS_IMPLAUSIBLE => c.clocks_implausible,
        PEKO_COUNTER_INTRODUCTIONS_REFUSED => c.introductions_refused,
        PEKO_COUNTER_ANNOUNCES_IGNORED => c.announces_ignored,
        PEKO_COUNTER_DROPPED_REPLAY => c.dropped_replay,
        PEKO_COUNTER_DROPPED_LABEL => c.dropped_label,
        _ => {
            return Err(Error::invalid(format!(
                "counter {id} is not a PEKO_COUNTER_* id this library knows \
                 (it knows {PEKO_COUNTER_MEMBERS_ALIVE} to {PEKO_COUNTER_LAST})"
            )))
        }
    })
}

/// The highest id `counter_value` knows (not exported: a program's copy would go stale).
const PEKO_COUNTER_LAST: u32 = PEKO_COUNTER_DROPPED_LABEL;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each field set to the id the header documents for it: a swapped arm in `counter_value`
    /// reads another field's id.
    #[test]
    fn every_counter_id_reads_its_own_field() {
        let c = Counters {
            members_alive: 1,
            members_suspect: 2,
            packets_sent: 3,
            bytes_sent: 4,
            packets_received: 5,
            bytes_received: 6,
            dropped_auth: 7,
            dropped_malformed: 8,
            dropped_queue_full: 9,
            anti_entropy_exchanges: 10,
            round: 11,
            dropped_too_large: 12,
            send_errors: 13,
            connections_refused: 14,
            members_refused: 15,
            events_lost: 16,
            rumors_dropped: 17,
            relays_refused: 18,
            udp_datagrams_sent: 19,
            udp_bytes_sent: 20,
            tcp_frames_sent: 21,
            tcp_bytes_sent: 22,
            udp_datagrams_received: 23,
            tcp_frames_received: 24,
            anti_entropy_bytes_sent: 25,
            connections_evicted: 26,
            incarnations_implausible: 27,
            clocks_implausible: 28,
            introductions_refused: 29,
            announces_ignored: 30,
            dropped_replay: 31,
            dropped_label: 32,
        };
        for id in 1..=PEKO_COUNTER_LAST {
            assert_eq!(counter_value(&c, id).ok(), Some(id as u64), "id {id}");
        }
        assert!(counter_value(&c, 0).is_err());
        assert!(counter_value(&c, PEKO_COUNTER_LAST + 1).is_err());
    }
}
