//! A member's life as the user drives it: join, stop (go silent), start (resume), leave for
//! good, and attribute changes, each announced the way the others need to hear it.

use super::state::live_peers;
use super::types::{Attributes, MemberId, Message, Millis, Route, Rumor, Status};
use super::{Core, Outgoing, RunState};

/// Beyond this many members the final leave notice goes to a random subset, which gossips it on.
const LEAVE_DIRECT_MAX: usize = 64;

impl Core {
    /// Changes the local member's id before joining (the OS picked the port).
    pub fn rebind(&mut self, me: MemberId) {
        if self.state == RunState::Idle {
            self.members.remove(&me);
            self.watch.remove(&me);
            self.cfg.me = me;
        }
    }

    /// Starts the protocol: announces the local member and syncs with one known member, chosen
    /// at random. The seeds its table does not bring are asked at the next seed retry
    /// (`retry_seeds`; until a table comes, one seed at a time): with 3 seeds each, a join storm
    /// of N members would otherwise have the seeds send 3N tables where N do.
    pub fn join(&mut self, now: Millis) {
        if self.state != RunState::Idle {
            return;
        }
        self.state = RunState::Running;
        self.announce_self();
        self.reset_timers(now);
        self.push_to_a_seed();
    }

    /// The join's push-pull, to one of the seeds given so far and not heard from: a random one
    /// the first time, then the next in turn (a joiner's retries, `retry_seeds`).
    pub(super) fn push_to_a_seed(&mut self) {
        let seeds = self.unheard_seeds();
        if seeds.is_empty() {
            return;
        }
        self.seed_turn = if self.seed_turn == usize::MAX {
            self.rng.below(seeds.len() as u64) as usize
        } else {
            self.seed_turn.wrapping_add(1)
        };
        self.join_pushed = true;
        self.send_push_pull(seeds[self.seed_turn % seeds.len()], Route::Request);
    }

    /// Goes silent: no gossip, no probes, no answers.
    pub fn stop(&mut self) {
        if self.state == RunState::Running {
            self.state = RunState::Stopped;
            self.probe = None;
            self.relays.clear();
        }
    }

    /// Resumes after `stop`. The others may have removed us meanwhile, so a higher incarnation is
    /// announced at once and anti-entropy runs with a random member.
    pub fn start(&mut self, now: Millis) {
        if self.state != RunState::Stopped {
            return;
        }
        self.state = RunState::Running;
        self.next_incarnation();
        self.announce_self();
        let suspicion = self.cfg.timing.suspicion_for(self.members.len() + 1, 0);
        self.members.for_each_mut(|_, m| {
            if m.status == Status::Suspect {
                m.pending.set_deadline(now + suspicion);
            }
            if m.unheard {
                let at = m.pending.deadline().max(now + suspicion);
                m.pending.set_deadline(at);
            }
        });
        self.reset_timers(now);
        self.timers.gossip = now;
        self.timers.push_pull = now;
    }

    /// Leaves for good: returns the notices to send before the sockets close.
    pub fn leave(&mut self) -> Vec<Outgoing> {
        if matches!(self.state, RunState::Idle | RunState::Left) {
            self.state = RunState::Left;
            return Vec::new();
        }
        self.state = RunState::Left;
        let rumor = Rumor::Left {
            id: self.cfg.me,
            incarnation: self.incarnation,
        };
        let mut targets: Vec<MemberId> = live_peers(&self.members).collect();
        if targets.len() > LEAVE_DIRECT_MAX {
            self.rng.shuffle(&mut targets);
            targets.truncate(self.cfg.amount.max(1) * 4);
        }
        targets
            .into_iter()
            .map(|to| Outgoing {
                to,
                msg: Message::Gossip {
                    from: self.cfg.me,
                    rumors: vec![rumor.clone()],
                },
                route: Route::Own,
            })
            .collect()
    }

    /// Changes the local member's name and private data; the change spreads as a new incarnation.
    pub fn update_attrs(&mut self, attrs: Attributes) {
        if attrs != self.cfg.attrs {
            self.cfg.attrs = attrs;
            if matches!(self.state, RunState::Running | RunState::Stopped) {
                self.next_incarnation();
                self.announce_self();
                self.timers.gossip = 0;
            }
        }
    }

    /// Timers start at a random point of their period, so members started together spread out.
    pub(super) fn reset_timers(&mut self, now: Millis) {
        self.last_tick = now;
        let t = self.cfg.timing;
        self.timers.gossip = now + self.rng.below(t.cycle);
        self.timers.probe = now + self.rng.below(t.probe_interval);
        self.timers.push_pull = now + self.push_pull_delay();
        self.timers.seed_retry = now + self.first_seed_retry();
        self.timers.join_push = None;
        self.timers.tick_due = None;
        self.probe = None;
    }
}
