//! The timers derived from the user's `cycle_ms`, `timeout_ms` and `amount` (the README's
//! "Configuration" says how they map). The suspicion timeout's range is in `suspicion.rs`.

use super::types::Millis;

/// `Timing::sync_soon`, in cycles.
pub const SYNC_SOON_CYCLES: Millis = 2;

#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Gossip round: rumors go to `amount` random members every `cycle`.
    pub cycle: Millis,
    /// Fan-out, for the expected spread time of a rumor.
    pub fanout: usize,
    /// One probe per `probe_interval`: `max(cycle, 2 * timeout / 9)`. Probes (a ping and an ack,
    /// plus a verification ping every `VERIFY_EVERY` intervals while some member is unverified)
    /// are the whole steady-state traffic, so this sets it: 2 datagrams per interval, 1.8 per
    /// second at a 5 s timeout (memberlist's defaults send 2.0).
    pub probe_interval: Millis,
    /// Wait for a direct ack before asking others to probe indirectly.
    pub probe_timeout: Millis,
    /// A silent member is gone from every list within this.
    pub timeout: Millis,
    /// Base anti-entropy period (`30 * cycle`), stretched by log2(N / 32) beyond 32 members.
    pub push_pull: Millis,
    /// An early anti-entropy round after members were listed quietly (a join storm).
    pub sync_soon: Millis,
    /// Dead and left members are remembered this long (`max(12 * timeout, 300 * cycle)`), so old
    /// news about them is recognised and failed members are retried after a partition heals.
    pub tombstone: Millis,
}

impl Timing {
    pub fn new(cycle_ms: u32, timeout_ms: u32, amount: usize) -> Timing {
        let cycle = cycle_ms.max(1) as Millis;
        let timeout = timeout_ms as Millis;
        let probe_interval = cycle.max(timeout * 2 / 9);
        Timing {
            cycle,
            fanout: amount.max(1),
            probe_interval,
            probe_timeout: (probe_interval * 2 / 5).max(1),
            timeout,
            push_pull: cycle * 30,
            sync_soon: cycle * SYNC_SOON_CYCLES,
            tombstone: (timeout * 12).max(cycle * 300),
        }
    }

    /// Expected time for news to reach N members: (ceil(log_{f+1} N) + 1) rounds.
    pub fn spread(&self, members: usize) -> Millis {
        let n = members.max(2) as f64;
        let rounds = (n.ln() / ((self.fanout + 1) as f64).ln()).ceil() as Millis + 1;
        rounds * self.cycle
    }

    /// Longest time before some member probes a silent one and gives up: its ring predecessor
    /// probes it every interval, and a probe ends 9/10 into its interval.
    pub fn detection_max(&self) -> Millis {
        self.probe_interval * 19 / 10
    }

    /// The anti-entropy period for N members, before jitter.
    pub fn push_pull_for(&self, members: usize) -> Millis {
        let extra = if members > 32 {
            ((members as f64 / 32.0).log2().ceil()) as Millis
        } else {
            0
        };
        self.push_pull * (1 + extra)
    }
}
