//! The sans-IO protocol core: membership table, rumor queue, metadata register, failure detection
//! and anti-entropy decisions. It owns no socket, thread or clock and no global randomness: it is
//! fed `(now, input)` and returns the messages to send and what happened. The driver runs it on
//! real sockets; tests run many cores in one thread on a virtual clock.

pub mod hlc;
pub mod rumors;
pub mod types;

pub use types::*;

use crate::wire;
use hlc::Hlc;
use rand::rngs::SmallRng;
use rand::seq::IteratorRandom;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rumors::{retransmit_limit, RumorQueue};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Members asked to probe a silent member on our behalf.
pub const INDIRECT_CHECKS: usize = 3;
/// Local health (Lifeguard): 0 is healthy; each step stretches the probe interval and probe
/// timeout by one more multiple. Capped here.
pub const HEALTH_MAX: u32 = 8;
/// Independent confirmations that bring a suspicion down to its shortest timeout.
pub const SUSPICION_CONFIRMATIONS: usize = 3;
/// Beyond this many members the final leave notice goes to a random subset, which gossips it on.
const LEAVE_DIRECT_MAX: usize = 64;
const EVENTS_MAX: usize = 4096;
/// Bound on the membership table (live members and tombstones); news of further members is
/// dropped and counted.
pub const MEMBERS_MAX: usize = 100_000;
/// Bound on indirect probes run for others at once; further requests are refused and counted.
pub const RELAYS_MAX: usize = 1024;

/// The timers derived from the user's `cycle_ms`, `timeout_ms` and `amount` (see the README).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Gossip round: rumors go to `amount` random members every `cycle`.
    pub cycle: Millis,
    /// Fan-out, for the expected spread time of a rumor.
    pub fanout: usize,
    /// One probe per `probe_interval`: `max(cycle, timeout / 10)`.
    pub probe_interval: Millis,
    /// Wait for a direct ack before asking others to probe indirectly.
    pub probe_timeout: Millis,
    /// A silent member is gone from every list within this.
    pub timeout: Millis,
    /// Base anti-entropy period (`30 * cycle`), stretched by log2(N / 32) beyond 32 members.
    pub push_pull: Millis,
    /// Dead and left members are remembered this long (`max(12 * timeout, 300 * cycle)`), so old
    /// news about them is recognised and failed members are retried after a partition heals.
    pub tombstone: Millis,
}

impl Timing {
    pub fn new(cycle_ms: u32, timeout_ms: u32, amount: usize) -> Timing {
        let cycle = cycle_ms.max(1) as Millis;
        let timeout = timeout_ms as Millis;
        let probe_interval = cycle.max(timeout / 10);
        Timing {
            cycle,
            fanout: amount.max(1),
            probe_interval,
            probe_timeout: (probe_interval * 2 / 5).max(1),
            timeout,
            push_pull: cycle * 30,
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
    /// probes it every second interval, and a probe ends 9/10 into its interval.
    pub fn detection_max(&self) -> Millis {
        3 * self.probe_interval
    }

    /// The range of the suspicion timeout for N members: `(floor, longest)`.
    ///
    /// The longest is what the timeout leaves after detection and the spread of the news, so a
    /// silent member is gone everywhere within `timeout`. The floor is long enough that a member
    /// silent for half the timeout (a pause) can resume and refute before anyone removes it; it
    /// grows with log N because the refutation needs that long to spread. When the timeout is too
    /// short for both (with P = timeout/10: timeout < (2 * spread + cycle) / 0.29, about 45
    /// cycles at N = 1000 and fan-out 3), removal within `timeout` wins.
    pub fn suspicion_bounds(&self, members: usize) -> (Millis, Millis) {
        let spread = self.spread(members);
        let p = self.probe_interval;
        let longest = self
            .timeout
            .saturating_sub(self.detection_max() + spread)
            .max(p);
        let floor = (self.timeout / 2 + spread + self.cycle)
            .saturating_sub(p * 9 / 10)
            .clamp(p.min(longest), longest);
        (floor, longest)
    }

    /// Lifeguard's dynamic suspicion timeout: it starts at the longest and shrinks as
    /// independent members confirm the suspicion, down to the floor (`suspicion_bounds`).
    pub fn suspicion_for(&self, members: usize, confirmations: usize) -> Millis {
        let (min, max) = self.suspicion_bounds(members);
        let k = SUSPICION_CONFIRMATIONS.min(members.saturating_sub(2));
        if k == 0 {
            return max;
        }
        let frac = ((confirmations as f64) + 1.0).ln() / ((k as f64) + 1.0).ln();
        let t = max as f64 - (max - min) as f64 * frac.min(1.0);
        (t as Millis).max(min)
    }

    pub fn push_pull_for(&self, members: usize) -> Millis {
        let extra = if members > 32 {
            ((members as f64 / 32.0).log2().ceil()) as Millis
        } else {
            0
        };
        self.push_pull * (1 + extra)
    }
}

#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub me: MemberId,
    pub attrs: Attributes,
    pub amount: usize,
    pub timing: Timing,
    /// Largest metadata accepted, bytes.
    pub max_meta: usize,
    pub seed: u64,
}

/// A message for the driver to deliver.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub to: MemberId,
    pub msg: Message,
}

/// How news about a member reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// A rumor or a message from the member itself.
    Rumor,
    /// An anti-entropy exchange.
    Sync,
    /// The reply to our own join: the cluster knows these members already, we were the one
    /// missing them. Members new to us are listed quietly (not rumored on), or a member joining
    /// a cluster of N would queue N rumors (`sim rejoin`: 1,000 queued and 268 KB sent instead
    /// of 2 and 13 KB at N = 1000).
    JoinReply,
}

#[derive(Clone, Debug)]
struct Member {
    incarnation: Incarnation,
    status: Status,
    attrs: PackedAttributes,
    since: Millis,
    /// Added by `peko_set` and not yet confirmed by the member itself or by a rumor: its
    /// incarnation and attributes are only the caller's guess.
    placeholder: bool,
    /// A placeholder never heard from: dropped at `deadline`.
    unheard: bool,
    /// Listed from the reply to our join and not rumored on (see `Via::JoinReply`).
    quiet: bool,
    /// When an unheard placeholder is dropped, or a suspect declared dead.
    deadline: Millis,
    /// Distinct members that suspected it at this incarnation (Lifeguard confirmations), at most
    /// `SUSPICION_CONFIRMATIONS + 1`.
    accusers: Accusers,
}

/// Distinct members that suspected one member at its current incarnation. Boxed so the common
/// case (nobody suspects it) costs one pointer in every table entry, not an empty Vec's three.
#[derive(Clone, Debug, Default)]
#[allow(clippy::box_collection)]
struct Accusers(Option<Box<Vec<MemberId>>>);

impl Accusers {
    fn contains(&self, id: &MemberId) -> bool {
        self.0.as_ref().is_some_and(|v| v.contains(id))
    }
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |v| v.len())
    }
    fn push(&mut self, id: MemberId) {
        self.0.get_or_insert_with(Default::default).push(id);
    }
    fn clear(&mut self) {
        self.0 = None;
    }
    fn first(&self) -> Option<&MemberId> {
        self.0.as_ref().and_then(|v| v.first())
    }
}

#[derive(Debug)]
struct Probe {
    target: MemberId,
    seq: u32,
    direct_deadline: Millis,
    end: Millis,
    indirect_sent: bool,
    nacks_expected: u32,
    nacks: u32,
}

#[derive(Debug)]
struct Relay {
    requester: MemberId,
    seq: u32,
    deadline: Millis,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum RunState {
    Idle,
    Running,
    Stopped,
    Left,
}

pub struct Core {
    cfg: CoreConfig,
    incarnation: Incarnation,
    /// Ordered maps: iteration order feeds random choices, and a run must replay from its seed.
    members: BTreeMap<MemberId, Member>,
    /// Members with a pending deadline (suspects, unconfirmed placeholders), so ticks need not
    /// scan the whole table.
    watch: BTreeSet<MemberId>,
    rumors: RumorQueue,
    meta: Option<Metadata>,
    hlc: Hlc,
    meta_fetch: Option<(MetaVersion, Millis)>,
    rng: SmallRng,
    state: RunState,
    next_gossip: Millis,
    next_probe: Millis,
    next_push_pull: Millis,
    next_seed_retry: Millis,
    probe: Option<Probe>,
    seq: u32,
    relays: HashMap<u32, Relay>,
    /// Lifeguard's local health multiplier, 0..=HEALTH_MAX.
    health: u32,
    probes_started: u64,
    rounds: u64,
    /// When `tick` last ran: a long gap means this member was paused or starved.
    last_tick: Millis,
    out: Vec<Outgoing>,
    events: VecDeque<Event>,
    pub events_lost: u64,
    /// Members not added because the table was full.
    pub members_refused: u64,
    /// Indirect probe requests not taken because `RELAYS_MAX` were pending.
    relays_refused: u64,
}

/// Counters of what the core refused or dropped (see `Core::counters`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreCounters {
    /// News of members not added because the table held `MEMBERS_MAX`.
    pub members_refused: u64,
    /// Events dropped because the core's event queue held `EVENTS_MAX` undelivered ones.
    pub events_lost: u64,
    /// Rumors dropped from a full rumor queue (anti-entropy repairs what they carried).
    pub rumors_dropped: u64,
    /// Indirect probe requests refused because `RELAYS_MAX` were pending.
    pub relays_refused: u64,
}

impl Core {
    pub fn new(cfg: CoreConfig) -> Core {
        let rng = SmallRng::seed_from_u64(cfg.seed);
        Core {
            cfg,
            incarnation: 0,
            members: BTreeMap::new(),
            watch: BTreeSet::new(),
            rumors: RumorQueue::default(),
            meta: None,
            hlc: Hlc::default(),
            meta_fetch: None,
            rng,
            state: RunState::Idle,
            next_gossip: 0,
            next_probe: 0,
            next_push_pull: 0,
            next_seed_retry: 0,
            probe: None,
            seq: 0,
            relays: HashMap::new(),
            health: 0,
            probes_started: 0,
            rounds: 0,
            last_tick: 0,
            out: Vec::new(),
            events: VecDeque::new(),
            events_lost: 0,
            members_refused: 0,
            relays_refused: 0,
        }
    }

    // ---- queries -------------------------------------------------------------------------

    pub fn me(&self) -> MemberId {
        self.cfg.me
    }

    pub fn timing(&self) -> &Timing {
        &self.cfg.timing
    }

    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// Lifeguard's local health score: 0 when this member's own probes and network look fine.
    pub fn health(&self) -> u32 {
        self.health
    }

    pub fn is_running(&self) -> bool {
        self.state == RunState::Running
    }

    pub fn has_joined(&self) -> bool {
        self.state != RunState::Idle
    }

    pub fn has_left(&self) -> bool {
        self.state == RunState::Left
    }

    pub fn attrs(&self) -> &Attributes {
        &self.cfg.attrs
    }

    /// The local member first, then every member believed alive, ordered by address.
    pub fn members(&self) -> Vec<(MemberId, Attributes)> {
        let mut v: Vec<(MemberId, Attributes)> = self
            .members
            .iter()
            .filter(|(_, m)| m.status.is_listed())
            .map(|(id, m)| (*id, m.attrs.unpack()))
            .collect();
        v.sort_by_key(|(id, _)| (id.ip(), id.port()));
        v.insert(0, (self.cfg.me, self.cfg.attrs.clone()));
        v
    }

    pub fn member_status(&self, id: &MemberId) -> Option<(Status, Incarnation)> {
        self.members.get(id).map(|m| (m.status, m.incarnation))
    }

    pub fn listed_count(&self) -> usize {
        1 + self
            .members
            .values()
            .filter(|m| m.status.is_listed())
            .count()
    }

    pub fn metadata(&self) -> Option<&Metadata> {
        self.meta.as_ref()
    }

    pub fn pending_rumors(&self) -> usize {
        self.rumors.len()
    }

    /// What the core refused or dropped since it was created (figures for `peko_stats`).
    pub fn counters(&self) -> CoreCounters {
        CoreCounters {
            members_refused: self.members_refused,
            events_lost: self.events_lost,
            rumors_dropped: self.rumors.dropped,
            relays_refused: self.relays_refused,
        }
    }

    /// The earliest time `tick` has work to do (deadlines of suspects and placeholders are
    /// checked at every tick, which happens at least once per cycle).
    pub fn next_wake(&self) -> Millis {
        let mut t = self
            .next_gossip
            .min(self.next_probe)
            .min(self.next_push_pull);
        if let Some(p) = &self.probe {
            t = t.min(if p.indirect_sent {
                p.end
            } else {
                p.direct_deadline
            });
        }
        if !self.watch.is_empty() {
            t = t.min(self.next_seed_retry);
        }
        if let Some(r) = self.relays.values().map(|r| r.deadline).min() {
            t = t.min(r);
        }
        t
    }

    pub fn drain_outgoing(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.out)
    }

    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// All pending events at once. The queue goes with them, so a burst (a push-pull that adds a
    /// thousand members) does not leave a thousand-event buffer in every member.
    pub fn take_events(&mut self) -> VecDeque<Event> {
        std::mem::take(&mut self.events)
    }

    /// Changes the local member's id before joining (the OS picked the port).
    pub fn rebind(&mut self, me: MemberId) {
        if self.state == RunState::Idle {
            self.members.remove(&me);
            self.watch.remove(&me);
            self.cfg.me = me;
        }
    }

    // ---- commands --------------------------------------------------------------------------

    /// Adds a known member (`peko_set`). It is listed at once and dropped after the timeout if it
    /// is never heard from.
    pub fn set_peer(&mut self, now: Millis, id: MemberId, attrs: Attributes) {
        if id == self.cfg.me {
            return;
        }
        if let Some(m) = self.members.get(&id) {
            if m.status.is_listed() {
                return;
            }
        }
        let incarnation = self.members.get(&id).map_or(0, |m| m.incarnation);
        self.members.insert(
            id,
            Member {
                incarnation,
                status: Status::Alive,
                attrs: PackedAttributes::pack(&attrs),
                since: now,
                placeholder: true,
                quiet: false,
                unheard: true,
                deadline: now + self.cfg.timing.timeout,
                accusers: Accusers::default(),
            },
        );
        self.watch.insert(id);
        if self.state == RunState::Running {
            self.send_push_pull(id);
        }
    }

    /// Starts the protocol: announces the local member and syncs with every known member.
    pub fn join(&mut self, now: Millis) {
        if self.state != RunState::Idle {
            return;
        }
        self.state = RunState::Running;
        self.announce_self();
        self.reset_timers(now);
        let seeds: Vec<MemberId> = self.members.keys().copied().collect();
        for id in seeds {
            self.send_push_pull(id);
        }
    }

    /// For simulations and tests: starts the protocol as if it had long been running, with
    /// `members` already known and alive, and nothing to announce.
    pub fn join_converged(&mut self, now: Millis, members: &[(MemberId, Attributes)]) {
        for (id, attrs) in members {
            if *id != self.cfg.me {
                self.members.insert(
                    *id,
                    Member {
                        incarnation: 0,
                        status: Status::Alive,
                        attrs: PackedAttributes::pack(attrs),
                        since: now,
                        placeholder: false,
                        unheard: false,
                        quiet: false,
                        deadline: 0,
                        accusers: Accusers::default(),
                    },
                );
            }
        }
        self.state = RunState::Running;
        self.reset_timers(now);
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
        self.incarnation += 1;
        self.announce_self();
        let suspicion = self.cfg.timing.suspicion_for(self.members.len() + 1, 0);
        for m in self.members.values_mut() {
            if m.status == Status::Suspect {
                m.deadline = now + suspicion;
            }
            if m.unheard {
                m.deadline = m.deadline.max(now + suspicion);
            }
        }
        self.reset_timers(now);
        self.next_gossip = now;
        self.next_push_pull = now;
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
        let mut targets = self.gossip_candidates();
        if targets.len() > LEAVE_DIRECT_MAX {
            targets.shuffle(&mut self.rng);
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
            })
            .collect()
    }

    /// Changes the local member's name and private data; the change spreads as a new incarnation.
    pub fn update_attrs(&mut self, attrs: Attributes) {
        if attrs != self.cfg.attrs {
            self.cfg.attrs = attrs;
            if matches!(self.state, RunState::Running | RunState::Stopped) {
                self.incarnation += 1;
                self.announce_self();
                self.next_gossip = 0;
            }
        }
    }

    /// Members alive and suspected (the local member counts as alive).
    pub fn counts(&self) -> (usize, usize) {
        let suspect = self
            .members
            .values()
            .filter(|m| m.status == Status::Suspect)
            .count();
        (self.listed_count() - suspect, suspect)
    }

    /// Gossip rounds run so far.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// Replaces the cluster metadata. `wall_ms` is the wall clock, for the hybrid logical clock.
    pub fn publish(&mut self, now: Millis, wall_ms: u64, data: Vec<u8>) -> MetaVersion {
        let version = MetaVersion {
            hlc: self.hlc.tick(wall_ms),
            origin: self.cfg.me,
        };
        self.apply_meta(now, Metadata { version, data });
        // Spread it at once rather than at the next round.
        self.next_gossip = self.next_gossip.min(now);
        version
    }

    // ---- inputs ------------------------------------------------------------------------------

    pub fn handle(&mut self, now: Millis, msg: Message) {
        if self.state != RunState::Running {
            return;
        }
        let from = msg.from();
        if from == self.cfg.me {
            return;
        }
        self.heard_from(from);
        match msg {
            Message::Ping {
                seq,
                target,
                rumors,
                ..
            } => {
                self.apply_rumors(now, from, rumors);
                if target == self.cfg.me {
                    let rumors = self.piggyback();
                    self.send(
                        from,
                        Message::Ack {
                            seq,
                            from: self.cfg.me,
                            rumors,
                        },
                    );
                }
            }
            Message::Ack { seq, rumors, .. } => {
                self.apply_rumors(now, from, rumors);
                if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
                    let p = self.probe.take().expect("checked");
                    self.heard_from(p.target);
                    self.health = self.health.saturating_sub(1);
                } else if let Some(r) = self.relays.remove(&seq) {
                    let rumors = self.piggyback();
                    self.send(
                        r.requester,
                        Message::Ack {
                            seq: r.seq,
                            from: self.cfg.me,
                            rumors,
                        },
                    );
                }
            }
            Message::PingReq {
                seq,
                target,
                rumors,
                ..
            } => {
                self.apply_rumors(now, from, rumors);
                if target != self.cfg.me && self.relays.len() >= RELAYS_MAX {
                    self.relays_refused += 1;
                } else if target != self.cfg.me {
                    let my_seq = self.next_seq();
                    self.relays.insert(
                        my_seq,
                        Relay {
                            requester: from,
                            seq,
                            deadline: now + self.cfg.timing.probe_timeout,
                        },
                    );
                    let rumors = self.piggyback();
                    self.send(
                        target,
                        Message::Ping {
                            seq: my_seq,
                            from: self.cfg.me,
                            target,
                            rumors,
                        },
                    );
                }
            }
            Message::Gossip { rumors, .. } => self.apply_rumors(now, from, rumors),
            Message::PushPull {
                reply,
                members,
                meta_version,
                meta,
                ..
            } => {
                // The reply to a newcomer's first exchange holds what the cluster already knows.
                let via = if reply && self.is_newcomer() {
                    Via::JoinReply
                } else {
                    Via::Sync
                };
                self.merge_state(now, members, via);
                if let Some(m) = meta {
                    self.apply_meta(now, m);
                }
                if !reply {
                    let mine = self.meta.as_ref().map(|m| m.version);
                    let meta = match (&self.meta, meta_version) {
                        (Some(m), Some(theirs)) if m.version > theirs => Some(m.clone()),
                        (Some(m), None) => Some(m.clone()),
                        _ => None,
                    };
                    let members = self.state_snapshot();
                    self.send(
                        from,
                        Message::PushPull {
                            from: self.cfg.me,
                            reply: true,
                            members,
                            meta_version: mine,
                            meta,
                        },
                    );
                }
                if let Some(theirs) = meta_version {
                    if self.meta.as_ref().map(|m| m.version) < Some(theirs) {
                        self.request_meta(now, theirs, from);
                    }
                }
                self.push_event(Event::Synced(from));
            }
            Message::Nack { seq, .. } => {
                if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
                    p.nacks += 1;
                }
            }
            Message::Digest {
                digest,
                meta_version,
                ..
            } => {
                if digest != self.digest() {
                    self.send_push_pull(from);
                } else {
                    let mine = self.meta.as_ref().map(|m| m.version);
                    if meta_version > mine {
                        if let Some(v) = meta_version {
                            self.request_meta(now, v, from);
                        }
                    } else if mine > meta_version {
                        let meta = self.meta.clone().expect("mine is Some");
                        self.send(
                            from,
                            Message::MetaResponse {
                                from: self.cfg.me,
                                meta,
                            },
                        );
                    }
                }
            }
            Message::MetaRequest { .. } => {
                if let Some(m) = self.meta.clone() {
                    self.send(
                        from,
                        Message::MetaResponse {
                            from: self.cfg.me,
                            meta: m,
                        },
                    );
                }
            }
            Message::MetaResponse { meta, .. } => self.apply_meta(now, meta),
        }
    }

    /// Advances timers: probes, gossip rounds, anti-entropy, suspicion and placeholder deadlines.
    pub fn tick(&mut self, now: Millis) {
        if self.state != RunState::Running {
            return;
        }
        let t = self.cfg.timing;
        if now.saturating_sub(self.last_tick) > 2 * t.probe_interval + t.cycle {
            // We did not run for a while (a pause, an overloaded host): others may suspect us,
            // so refute before they ask, and distrust our own view for a while.
            self.health = (self.health + 2).min(HEALTH_MAX);
            self.refute(self.incarnation);
            self.probe = None;
            self.next_gossip = now;
        }
        self.last_tick = now;
        self.check_deadlines(now);
        self.step_probe(now);
        if now >= self.next_gossip {
            self.next_gossip = now + self.cfg.timing.cycle;
            self.rounds += 1;
            self.gossip_round();
        }
        if now >= self.next_push_pull {
            self.next_push_pull = now + self.push_pull_delay();
            let candidates = self.gossip_candidates();
            if let Some(&to) = candidates.choose(&mut self.rng) {
                let digest = self.digest();
                let meta_version = self.meta.as_ref().map(|m| m.version);
                self.send(
                    to,
                    Message::Digest {
                        from: self.cfg.me,
                        digest,
                        meta_version,
                    },
                );
            }
            // Reconnect: also try one member we believe failed. If it was only cut off (a healed
            // partition), the exchange makes both sides refute and list each other again.
            let failed: Vec<MemberId> = self
                .members
                .iter()
                .filter(|(_, m)| m.status == Status::Dead)
                .map(|(id, _)| *id)
                .collect();
            if let Some(&to) = failed.choose(&mut self.rng) {
                self.send_push_pull(to);
            }
            self.collect_tombstones(now);
        }
        if !self.watch.is_empty() && now >= self.next_seed_retry {
            self.next_seed_retry = now + self.cfg.timing.probe_interval;
            let unheard: Vec<MemberId> = self
                .watch
                .iter()
                .filter(|id| self.members.get(id).is_some_and(|m| m.unheard))
                .copied()
                .collect();
            for id in unheard {
                self.send_push_pull(id);
            }
        }
        let expired: Vec<u32> = self
            .relays
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in expired {
            let r = self.relays.remove(&seq).expect("listed");
            self.send(
                r.requester,
                Message::Nack {
                    seq: r.seq,
                    from: self.cfg.me,
                },
            );
        }
    }

    // ---- internals ---------------------------------------------------------------------------

    fn reset_timers(&mut self, now: Millis) {
        self.last_tick = now;
        let t = self.cfg.timing;
        self.next_gossip = now + self.rng.gen_range(0..t.cycle);
        self.next_probe = now + self.rng.gen_range(0..t.probe_interval);
        self.next_push_pull = now + self.push_pull_delay();
        self.next_seed_retry = now + t.probe_interval;
        self.probe = None;
    }

    /// The anti-entropy period with +-50% jitter, so members that joined together do not all
    /// exchange state at the same moment.
    fn push_pull_delay(&mut self) -> Millis {
        let p = self.cfg.timing.push_pull_for(self.members.len() + 1);
        p / 2 + self.rng.gen_range(0..=p)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&mut self, to: MemberId, msg: Message) {
        self.out.push(Outgoing { to, msg });
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= EVENTS_MAX {
            self.events.pop_front();
            self.events_lost += 1;
        }
        self.events.push_back(e);
    }

    fn announce_self(&mut self) {
        self.rumors.push(Rumor::Alive {
            id: self.cfg.me,
            incarnation: self.incarnation,
            attrs: self.cfg.attrs.clone(),
        });
    }

    fn refute(&mut self, accused: Incarnation) {
        self.incarnation = self.incarnation.max(accused) + 1;
        self.announce_self();
        // Being suspected hints that our own network or host is struggling (Lifeguard).
        self.health = (self.health + 1).min(HEALTH_MAX);
    }

    /// Order-independent hash of the listed members (and their incarnations), self included.
    /// Equal digests mean a full exchange would change nothing in either table.
    pub fn digest(&self) -> u64 {
        let entry = |id: &MemberId, inc: Incarnation| mix_hash(id, Some(inc));
        self.members
            .iter()
            .filter(|(_, m)| m.status.is_listed() && !m.placeholder)
            .fold(entry(&self.cfg.me, self.incarnation), |acc, (id, m)| {
                acc ^ entry(id, m.incarnation)
            })
    }

    fn heard_from(&mut self, id: MemberId) {
        if let Some(m) = self.members.get_mut(&id) {
            if std::mem::take(&mut m.unheard) && m.status != Status::Suspect {
                self.watch.remove(&id);
            }
        }
    }

    /// Members gossip and anti-entropy may go to: listed, and not an unconfirmed guess.
    fn gossip_candidates(&self) -> Vec<MemberId> {
        self.members
            .iter()
            .filter(|(_, m)| m.status.is_listed() && !m.unheard)
            .map(|(id, _)| *id)
            .collect()
    }

    fn datagram_budget(&self) -> usize {
        wire::DATAGRAM_MAX - wire::MESSAGE_OVERHEAD
    }

    fn piggyback(&mut self) -> Vec<Rumor> {
        // The table's size (tombstones included) is close enough for a log factor, and O(1).
        let limit = retransmit_limit(self.members.len() + 1);
        let budget = self.datagram_budget();
        self.rumors.take(budget, limit)
    }

    fn state_snapshot(&self) -> Vec<MemberState> {
        let mut v = Vec::with_capacity(self.members.len() + 1);
        v.push(MemberState {
            id: self.cfg.me,
            incarnation: self.incarnation,
            status: Status::Alive,
            attrs: self.cfg.attrs.clone(),
        });
        v.extend(
            self.members
                .iter()
                .filter(|(_, m)| !m.placeholder)
                .map(|(id, m)| MemberState {
                    id: *id,
                    incarnation: m.incarnation,
                    status: m.status,
                    attrs: m.attrs.unpack(),
                }),
        );
        v
    }

    /// Whether this member has yet to learn any member for sure (its table holds only the
    /// placeholders `set` added): it is joining.
    fn is_newcomer(&self) -> bool {
        self.members.values().all(|m| m.placeholder)
    }

    fn send_push_pull(&mut self, to: MemberId) {
        let members = self.state_snapshot();
        let meta_version = self.meta.as_ref().map(|m| m.version);
        self.send(
            to,
            Message::PushPull {
                from: self.cfg.me,
                reply: false,
                members,
                meta_version,
                meta: None,
            },
        );
    }

    fn check_deadlines(&mut self, now: Millis) {
        if self.watch.is_empty() {
            return;
        }
        let ids: Vec<MemberId> = self.watch.iter().copied().collect();
        for id in ids {
            let Some(m) = self.members.get(&id) else {
                self.watch.remove(&id);
                continue;
            };
            if m.unheard && now >= m.deadline {
                // Never heard from: the caller's guess was wrong (or the member is down).
                self.members.remove(&id);
                self.watch.remove(&id);
                self.push_event(Event::Failed(id));
            } else if m.status == Status::Suspect && now >= m.deadline {
                let incarnation = m.incarnation;
                self.apply_dead(now, id, incarnation, Status::Dead, self.cfg.me);
            } else if m.status != Status::Suspect && !m.unheard {
                self.watch.remove(&id);
            }
        }
    }

    fn step_probe(&mut self, now: Millis) {
        if let Some(p) = &mut self.probe {
            if !p.indirect_sent && now >= p.direct_deadline {
                p.indirect_sent = true;
                let (target, seq) = (p.target, p.seq);
                let mut helpers: Vec<MemberId> = self
                    .gossip_candidates()
                    .into_iter()
                    .filter(|id| *id != target)
                    .collect();
                helpers.shuffle(&mut self.rng);
                helpers.truncate(INDIRECT_CHECKS);
                if let Some(p) = self.probe.as_mut() {
                    p.nacks_expected = helpers.len() as u32;
                }
                for h in helpers {
                    let rumors = self.piggyback();
                    self.send(
                        h,
                        Message::PingReq {
                            seq,
                            from: self.cfg.me,
                            target,
                            rumors,
                        },
                    );
                }
            }
            if now >= self.probe.as_ref().expect("some").end {
                let p = self.probe.take().expect("some");
                // No ack. If the helpers did not even nack, the trouble may be ours (Lifeguard):
                // slow down rather than accuse.
                let missing = if p.nacks_expected > 0 {
                    p.nacks_expected.saturating_sub(p.nacks)
                } else {
                    1
                };
                self.health = (self.health + missing).min(HEALTH_MAX);
                if let Some(m) = self.members.get(&p.target) {
                    if m.status.is_listed() {
                        let incarnation = m.incarnation;
                        self.apply_suspect(now, p.target, incarnation, self.cfg.me);
                        // Tell the suspect directly, so it can refute without waiting for the
                        // rumor to reach it.
                        let rumor = Rumor::Suspect {
                            id: p.target,
                            incarnation,
                            from: self.cfg.me,
                        };
                        self.send(
                            p.target,
                            Message::Gossip {
                                from: self.cfg.me,
                                rumors: vec![rumor],
                            },
                        );
                    }
                }
            }
        }
        if self.probe.is_none() && now >= self.next_probe {
            let t = self.cfg.timing;
            let stretch = 1 + self.health as Millis;
            self.next_probe = now + t.probe_interval * stretch;
            if let Some(target) = self.next_probe_target() {
                let seq = self.next_seq();
                self.probe = Some(Probe {
                    target,
                    seq,
                    direct_deadline: now + t.probe_timeout * stretch,
                    end: now + t.probe_interval * stretch * 9 / 10,
                    indirect_sent: false,
                    nacks_expected: 0,
                    nacks: 0,
                });
                // A suspect learns of the suspicion from the probe itself, and can refute at once.
                let suspicion = self.members.get(&target).and_then(|m| {
                    (m.status == Status::Suspect).then(|| Rumor::Suspect {
                        id: target,
                        incarnation: m.incarnation,
                        from: m.accusers.first().copied().unwrap_or(self.cfg.me),
                    })
                });
                let rumors = match suspicion {
                    None => self.piggyback(),
                    Some(r) => {
                        let limit = retransmit_limit(self.members.len() + 1);
                        let budget = self.datagram_budget().saturating_sub(wire::rumor_len(&r));
                        let mut v = vec![r];
                        v.extend(self.rumors.take(budget, limit));
                        v
                    }
                };
                self.send(
                    target,
                    Message::Ping {
                        seq,
                        from: self.cfg.me,
                        target,
                        rumors,
                    },
                );
            }
        }
    }

    /// Every other probe goes to our successor on a ring ordered by a hash of the ids, so every
    /// member is probed by its predecessor at least every second interval (a bound on detection
    /// time, where random choice alone leaves a long tail); the others go to a random member, so
    /// suspicions get independent confirmations.
    fn next_probe_target(&mut self) -> Option<MemberId> {
        self.probes_started = self.probes_started.wrapping_add(1);
        if self.probes_started % 2 == 0 {
            if let Some(id) = self.ring_successor() {
                return Some(id);
            }
        }
        let candidates = self
            .members
            .iter()
            .filter(|(_, m)| m.status.is_listed() && !m.unheard)
            .map(|(id, _)| *id);
        // Sampling the iterator: no copy of the table per probe.
        candidates.choose(&mut self.rng)
    }

    fn ring_successor(&self) -> Option<MemberId> {
        let mine = ring_hash(&self.cfg.me);
        let mut first: Option<(u64, MemberId)> = None;
        let mut next: Option<(u64, MemberId)> = None;
        for (id, m) in &self.members {
            if !m.status.is_listed() || m.unheard {
                continue;
            }
            let h = ring_hash(id);
            if first.is_none_or(|(f, _)| h < f) {
                first = Some((h, *id));
            }
            if h > mine && next.is_none_or(|(n, _)| h < n) {
                next = Some((h, *id));
            }
        }
        next.or(first).map(|(_, id)| id)
    }

    fn gossip_round(&mut self) {
        if self.rumors.is_empty() {
            return;
        }
        let targets: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, m)| m.status.is_listed() && !m.unheard)
            .map(|(id, _)| *id)
            .choose_multiple(&mut self.rng, self.cfg.amount);
        for to in targets {
            let rumors = self.piggyback();
            if rumors.is_empty() {
                break;
            }
            self.send(
                to,
                Message::Gossip {
                    from: self.cfg.me,
                    rumors,
                },
            );
        }
    }

    fn collect_tombstones(&mut self, now: Millis) {
        let ttl = self.cfg.timing.tombstone;
        self.members
            .retain(|_, m| m.status.is_listed() || now < m.since + ttl);
    }

    fn apply_rumors(&mut self, now: Millis, from: MemberId, rumors: Vec<Rumor>) {
        for r in rumors {
            match r {
                Rumor::Alive {
                    id,
                    incarnation,
                    attrs,
                } => self.apply_alive(now, id, incarnation, attrs, Via::Rumor),
                Rumor::Suspect {
                    id,
                    incarnation,
                    from: accuser,
                } => self.apply_suspect(now, id, incarnation, accuser),
                Rumor::Dead {
                    id,
                    incarnation,
                    from: accuser,
                } => self.apply_dead(now, id, incarnation, Status::Dead, accuser),
                Rumor::Left { id, incarnation } => {
                    self.apply_dead(now, id, incarnation, Status::Left, id)
                }
                Rumor::Meta(m) => self.apply_meta(now, m),
                Rumor::MetaAnnounce(v) => {
                    if self.meta.as_ref().map(|m| m.version) < Some(v) {
                        self.request_meta(now, v, from);
                    }
                }
            }
        }
    }

    /// Anti-entropy merge. A remote "dead" only makes us suspect (the member may refute); a
    /// remote "left" is final.
    fn merge_state(&mut self, now: Millis, states: Vec<MemberState>, via: Via) {
        for s in states {
            match s.status {
                Status::Alive => self.apply_alive(now, s.id, s.incarnation, s.attrs, via),
                Status::Suspect | Status::Dead => {
                    self.apply_suspect(now, s.id, s.incarnation, s.id)
                }
                Status::Left => self.apply_dead(now, s.id, s.incarnation, Status::Left, s.id),
            }
        }
    }

    fn apply_alive(
        &mut self,
        now: Millis,
        id: MemberId,
        incarnation: Incarnation,
        attrs: Attributes,
        via: Via,
    ) {
        if id == self.cfg.me {
            if incarnation > self.incarnation
                || (incarnation == self.incarnation && attrs != self.cfg.attrs)
            {
                self.refute(incarnation);
            }
            return;
        }
        if attrs.name.len() > wire::ATTR_MAX || attrs.private_data.len() > wire::ATTR_MAX {
            return;
        }
        if self.members.len() >= MEMBERS_MAX && !self.members.contains_key(&id) {
            self.members_refused += 1;
            return;
        }
        let quiet = via == Via::JoinReply;
        // What to tell the host, and whether to pass the news on as a rumor.
        let (event, spread) = match self.members.get_mut(&id) {
            None => {
                self.members.insert(
                    id,
                    Member {
                        incarnation,
                        status: Status::Alive,
                        attrs: PackedAttributes::pack(&attrs),
                        since: now,
                        placeholder: false,
                        unheard: false,
                        quiet,
                        deadline: 0,
                        accusers: Accusers::default(),
                    },
                );
                (Some(Event::Joined(id, attrs.clone())), !quiet)
            }
            Some(m) => {
                let newer =
                    incarnation > m.incarnation || (m.placeholder && incarnation >= m.incarnation);
                if !newer {
                    // A rumor still spreading about a member we listed quietly: take our part
                    // in it, as if it had been news to us, so it reaches every member.
                    if !(m.quiet && via == Via::Rumor && incarnation == m.incarnation) {
                        return;
                    }
                    m.quiet = false;
                    (None, true)
                } else {
                    // Known to us but news for the cluster (a refutation, new attributes, a
                    // placeholder confirmed): spread even from a join reply.
                    m.quiet = false;
                    let event = if m.placeholder || !m.status.is_listed() {
                        Event::Joined(id, attrs.clone())
                    } else if m.attrs != PackedAttributes::pack(&attrs) {
                        Event::Updated(id, attrs.clone())
                    } else {
                        Event::Synced(id)
                    };
                    m.incarnation = incarnation;
                    m.status = Status::Alive;
                    m.attrs = PackedAttributes::pack(&attrs);
                    m.since = now;
                    m.placeholder = false;
                    m.unheard = false;
                    self.watch.remove(&id);
                    (Some(event), true)
                }
            }
        };
        if let Some(event) = event.filter(|e| !matches!(e, Event::Synced(_))) {
            self.push_event(event);
        }
        if spread {
            self.rumors.push(Rumor::Alive {
                id,
                incarnation,
                attrs,
            });
        }
    }

    fn apply_suspect(
        &mut self,
        now: Millis,
        id: MemberId,
        incarnation: Incarnation,
        from: MemberId,
    ) {
        if id == self.cfg.me {
            if incarnation >= self.incarnation && self.state == RunState::Running {
                self.refute(incarnation);
            }
            return;
        }
        let members = self.members.len() + 1;
        let timing = self.cfg.timing;
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        // A `peko_set` guess never heard from has its own deadline; it cannot be suspected.
        if m.unheard || !m.status.is_listed() || incarnation < m.incarnation {
            return;
        }
        if m.status == Status::Suspect && incarnation == m.incarnation {
            // A confirmation from another member shortens the timeout, and is passed on.
            if from == id
                || m.accusers.contains(&from)
                || m.accusers.len() > SUSPICION_CONFIRMATIONS
            {
                return;
            }
            m.accusers.push(from);
            m.deadline = m.since + timing.suspicion_for(members, m.accusers.len() - 1);
        } else {
            m.status = Status::Suspect;
            m.incarnation = incarnation;
            m.since = now;
            m.accusers.clear();
            if from != id {
                m.accusers.push(from);
            }
            m.deadline = now + timing.suspicion_for(members, 0);
            self.watch.insert(id);
        }
        self.rumors.push(Rumor::Suspect {
            id,
            incarnation,
            from,
        });
    }

    fn apply_dead(
        &mut self,
        now: Millis,
        id: MemberId,
        incarnation: Incarnation,
        status: Status,
        from: MemberId,
    ) {
        if id == self.cfg.me {
            if incarnation >= self.incarnation && self.state == RunState::Running {
                self.refute(incarnation);
            }
            return;
        }
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if !m.status.is_listed() || incarnation < m.incarnation {
            return;
        }
        m.status = status;
        m.incarnation = incarnation;
        m.since = now;
        m.placeholder = false;
        m.unheard = false;
        self.watch.remove(&id);
        let (event, rumor) = if status == Status::Left {
            (Event::Left(id), Rumor::Left { id, incarnation })
        } else {
            (
                Event::Failed(id),
                Rumor::Dead {
                    id,
                    incarnation,
                    from,
                },
            )
        };
        self.push_event(event);
        self.rumors.push(rumor);
    }

    fn apply_meta(&mut self, _now: Millis, m: Metadata) {
        if m.data.len() > self.cfg.max_meta {
            return;
        }
        if self
            .meta
            .as_ref()
            .is_some_and(|cur| cur.version >= m.version)
        {
            return;
        }
        self.hlc.observe(m.version.hlc);
        if self.meta_fetch.is_some_and(|(v, _)| v <= m.version) {
            self.meta_fetch = None;
        }
        let version = m.version;
        let rumor = Rumor::Meta(m.clone());
        let rumor = if wire::rumor_len(&rumor) <= wire::INLINE_META_MAX {
            rumor
        } else {
            Rumor::MetaAnnounce(version)
        };
        self.meta = Some(m);
        self.rumors.push(rumor);
        self.push_event(Event::MetadataChanged(version));
    }

    fn request_meta(&mut self, now: Millis, version: MetaVersion, holder: MemberId) {
        if let Some((v, at)) = self.meta_fetch {
            if v >= version && now < at + self.cfg.timing.probe_interval {
                return;
            }
        }
        self.meta_fetch = Some((version, now));
        self.send(holder, Message::MetaRequest { from: self.cfg.me });
    }
}

/// A stable 64-bit hash of a member id (FNV-1a, then a final mix): the same on every build and
/// platform, unlike std's hasher. Orders the probe ring; with the incarnation mixed in, it makes
/// up the membership digest.
fn ring_hash(id: &MemberId) -> u64 {
    mix_hash(id, None)
}

fn mix_hash(id: &MemberId, incarnation: Option<Incarnation>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    match id.ip() {
        std::net::IpAddr::V4(a) => a.octets().iter().for_each(|b| eat(*b)),
        std::net::IpAddr::V6(a) => a.octets().iter().for_each(|b| eat(*b)),
    }
    id.port().to_le_bytes().iter().for_each(|b| eat(*b));
    if let Some(inc) = incarnation {
        inc.to_le_bytes().iter().for_each(|b| eat(*b));
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests;
