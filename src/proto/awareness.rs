//! Lifeguard's local health: a member that misses nacks, is suspected, or notices that it did not
//! run for a while distrusts its own view, and stretches its probe interval and timeout rather
//! than accuse others.
//!
//! "Did not run" includes running late: when the whole process is starved of CPU, the driver's
//! timers fire late and answers wait unread in the receive queue, so a probe that looks unanswered
//! may have been answered. A tick that comes later than the core asked for (`next_wake`) is
//! counted against our own health, and the verdicts it would have reached (a failed probe, an
//! expired suspicion) wait until we have run on time for a moment: the time we lost is not
//! counted against the others. The wait is bounded, so a member that is late for good still
//! detects failures, only more slowly.

use super::state::Member;
use super::timing::Timing;
use super::types::{Millis, Status};
use super::Core;

/// Local health is 0 (healthy) ..= `HEALTH_MAX`; each step stretches the probe interval and probe
/// timeout by one more multiple.
pub const HEALTH_MAX: u32 = 8;

#[derive(Clone, Copy, Debug, Default)]
pub struct Awareness {
    score: u32,
    /// Of `score`, the steps late ticks added that have not decayed yet (`ran_on_time`).
    late_steps: u32,
    /// Since when ticks have run on time.
    on_time_since: Millis,
}

impl Awareness {
    pub fn score(&self) -> u32 {
        self.score
    }

    /// The factor probe timers are multiplied by: `1 + score`.
    pub fn stretch(&self) -> Millis {
        1 + self.score as Millis
    }

    /// Something hints that the trouble is ours: `by` steps less healthy, up to `HEALTH_MAX`.
    pub fn worsen(&mut self, by: u32) {
        self.score = self.score.saturating_add(by).min(HEALTH_MAX);
    }

    /// An acked probe: one step healthier.
    pub fn improve(&mut self) {
        self.score = self.score.saturating_sub(1);
        // Acked probes may take back steps lateness added: those never decay twice.
        self.late_steps = self.late_steps.min(self.score);
    }

    /// A tick ran late (`Core::fell_behind`): `by` steps less healthy, steps that decay again
    /// once ticks run on time.
    pub fn ran_late(&mut self, now: Millis, by: u32) {
        let before = self.score;
        self.worsen(by);
        self.late_steps = (self.late_steps + self.score - before).min(self.score);
        self.on_time_since = now;
    }

    /// A tick ran on time. After a whole `interval` on time, the distrust that lateness earned
    /// (only that: missed nacks still wait for acked probes) decays by one step; returns whether
    /// it did. Without it a member starved for a moment (a join storm) probes up to 9 intervals
    /// apart, recovering one step per probe, and detects failures many timeouts late long after
    /// it is over.
    pub fn ran_on_time(&mut self, now: Millis, interval: Millis) -> bool {
        if self.late_steps == 0 || now.saturating_sub(self.on_time_since) < interval {
            return false;
        }
        self.late_steps -= 1;
        self.on_time_since = now;
        self.improve();
        true
    }
}

/// How late a tick may come before it counts (timer granularity and ordinary scheduling delays
/// on a busy host stay below it): half the probe timeout.
pub fn late_tolerance(t: &Timing) -> Millis {
    (t.probe_timeout / 2).max(1)
}

impl Core {
    /// `tick` ran `late` ms after the time it asked for (beyond `late_tolerance`): the trouble is
    /// ours. Less healthy (more so the later), and the verdicts pending on the others are pushed
    /// back by the time we lost, and at least until we have run on time for a probe timeout
    /// (what was answered meanwhile may still be unread), but never beyond twice their own length.
    pub(super) fn fell_behind(&mut self, now: Millis, late: Millis) {
        let t = self.cfg.timing;
        let steps = 1 + (late / t.probe_timeout.max(1)).min(HEALTH_MAX as Millis) as u32;
        self.health.ran_late(now, steps);
        let grace = t.probe_timeout;
        let defer = |deadline: Millis, cap: Millis| (deadline + late).max(now + grace).min(cap);
        if let Some(p) = self.probe.as_mut() {
            if !p.indirect_sent {
                let direct = defer(p.direct_deadline, p.latest);
                p.end = (p.end + direct.saturating_sub(p.direct_deadline)).min(p.latest);
                p.direct_deadline = direct;
            } else {
                p.end = defer(p.end, p.latest);
            }
            // The next probe starts after this one's verdict, not before it: a probe timer left
            // in the past would make every tick look late (`tick_due`).
            self.timers.probe = self.timers.probe.max(p.end);
        }
        // A relay waits at most one more probe interval, however often we fall behind.
        let relay_cap = now + t.probe_interval;
        for r in self.relays.values_mut() {
            r.deadline = r.deadline.max(defer(r.deadline, relay_cap));
        }
        let (_, longest) = t.suspicion_bounds(self.members.len() + 1);
        for id in &self.watch {
            if let Some(mut m) = self.members.get_mut(id) {
                if is_suspect(&m) {
                    let cap = m.since + 2 * longest;
                    let at = m.pending.deadline();
                    m.pending.set_deadline(defer(at, cap.max(at)));
                }
            }
        }
    }
}

fn is_suspect(m: &Member) -> bool {
    m.status == Status::Suspect && !m.unheard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_both_ways() {
        let mut a = Awareness::default();
        a.improve();
        assert_eq!(a.score(), 0);
        assert_eq!(a.stretch(), 1);
        a.worsen(u32::MAX);
        assert_eq!(a.score(), HEALTH_MAX);
        assert_eq!(a.stretch(), 1 + HEALTH_MAX as Millis);
        a.improve();
        assert_eq!(a.score(), HEALTH_MAX - 1);
    }
}
