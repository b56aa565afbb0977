//! The sans-IO protocol core: membership table, rumor queue, metadata register, failure detection
//! and anti-entropy decisions. It owns no socket, thread or clock and no global randomness: it is
//! fed `(now, input)` and returns the messages to send and what happened. The driver runs it on
//! real sockets; tests run many cores in one thread on a virtual clock.
//!
//! `Core` is defined here with its dispatch (`handle`, `tick`) and the timer table behind
//! `next_wake`; each concern is a file of its own (`impl Core` blocks):
//!
//! - `state.rs`      the member table, incarnations, alive/dead/left, tombstones
//! - `storm.rs`      join-storm detection: when news of a member is left to anti-entropy
//! - `table.rs`      the table's storage and the indexes kept beside it (live peers, ring, digest)
//! - `introductions.rs` the budget for members introduced by third parties
//! - `suspicion.rs`  suspicion, accusers and the shrinking suspicion timeout
//! - `probe.rs`      direct and indirect probes, relays, nacks, the probe ring
//! - `awareness.rs`  Lifeguard's local health
//! - `gossip.rs`     piggybacking and gossip rounds; incoming rumors dispatched
//! - `rumors.rs`     the rumor queue, and the one thing the core knows of bytes
//! - `pushpull.rs`   anti-entropy: push-pull, digests, seed retries
//! - `metadata.rs`   publish, apply and fetch of the metadata (`hlc.rs`: its clock)
//! - `lifecycle.rs`  join, stop, start, leave, attribute changes
//! - `timing.rs`     the timers derived from the configuration
//! - `random.rs`     the seeded random source, specified so runs replay anywhere
//! - `types.rs`      the protocol's vocabulary (members, rumors, messages, events)

mod awareness;
mod gossip;
pub mod hlc;
mod introductions;
mod lifecycle;
mod metadata;
mod probe;
mod pushpull;
pub(crate) mod random;
mod rumors;
mod state;
mod storm;
mod suspicion;
mod table;
mod timing;
pub mod types;

pub use awareness::HEALTH_MAX;
pub use introductions::{INTRODUCTIONS_PER_MESSAGE, INTRODUCTIONS_PER_PERIOD};
pub use metadata::PublishRefused;
pub use probe::{INDIRECT_CHECKS, RELAYS_MAX};
pub use rumors::{retransmit_limit, RumorEncoding, QUEUE_MAX, RETRANSMIT_MULT};
pub use state::{JOIN_PATIENCE, JOIN_PUSH_SETTLE, MEMBERS_MAX};
pub use suspicion::SUSPICION_CONFIRMATIONS;
pub use timing::Timing;
pub use types::*;

use awareness::Awareness;
use hlc::Hlc;
use probe::{Probe, Relay};
use random::Rng;
use rumors::RumorQueue;
use std::collections::{BTreeSet, HashMap, VecDeque};
use table::Table;

/// Bound on undelivered events; beyond it the oldest is dropped and counted.
const EVENTS_MAX: usize = 4096;
/// Members added since the table's tree was last packed beyond which it is packed again
/// (`Table::pack`) once two gossip cycles pass without a member new to us: after a join storm,
/// not during it, and never in a steady cluster.
const PACK_AFTER: usize = 64;

#[derive(Clone)]
pub struct CoreConfig {
    pub me: MemberId,
    pub attrs: Attributes,
    pub amount: usize,
    pub timing: Timing,
    /// Largest metadata accepted, bytes.
    pub max_meta: usize,
    pub seed: u64,
    /// The wall clock (milliseconds since the Unix epoch) at `now` = 0; later readings come
    /// through `Core::set_wall_clock`. Remote metadata versions are judged against it.
    pub wall_ms: u64,
    /// How rumors are encoded (`wire::RUMOR_ENCODING`): for packing datagrams.
    pub encoding: &'static dyn RumorEncoding,
}

impl std::fmt::Debug for CoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreConfig")
            .field("me", &self.me)
            .field("attrs", &self.attrs)
            .field("amount", &self.amount)
            .field("timing", &self.timing)
            .field("max_meta", &self.max_meta)
            .field("seed", &self.seed)
            .field("wall_ms", &self.wall_ms)
            .finish_non_exhaustive()
    }
}

/// A message for the driver to deliver, and how (`Route`).
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub to: MemberId,
    pub msg: Message,
    pub route: Route,
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
    /// News about a member dropped because its incarnation was implausibly far ahead of the one
    /// we hold (`INCARNATION_WINDOW`).
    pub incarnations_implausible: u64,
    /// Metadata versions refused because their clock was more than `hlc::DRIFT_MAX_MS` ahead of
    /// our wall clock.
    pub clocks_implausible: u64,
    /// Members new to us not added because the message or the period had introduced as many as
    /// it may (`INTRODUCTIONS_PER_MESSAGE`, `INTRODUCTIONS_PER_PERIOD`).
    pub introductions_refused: u64,
    /// Metadata announcements that came by datagram from a sender we have not verified
    /// (`Member::direct`), not fetched: the fetch would open a connection to whatever address
    /// the datagram claimed. The announcement also spreads as a rumor, so a verified holder
    /// announces it too.
    pub announces_ignored: u64,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum RunState {
    Idle,
    Running,
    Stopped,
    Left,
}

/// When each periodic job is next due. `next_wake` reads these and the probe and relay
/// deadlines; `tick` runs whatever is due.
#[derive(Debug, Default)]
struct Timers {
    gossip: Millis,
    probe: Millis,
    push_pull: Millis,
    seed_retry: Millis,
    /// Seeds were given after `join` and none has been asked yet: one of them, chosen at
    /// random, gets the join's push-pull at this time (`Core::set_peer`).
    join_push: Option<Millis>,
    /// When the last tick asked to run next (`next_wake` then); None before the first tick
    /// after a join or start. A tick much later than this means we are starved.
    tick_due: Option<Millis>,
}

pub struct Core {
    cfg: CoreConfig,
    incarnation: Incarnation,
    /// Ordered maps: iteration order feeds random choices, and a run must replay from its seed.
    members: Table,
    /// Members with a pending deadline (suspects, unconfirmed placeholders), so ticks need not
    /// scan the whole table.
    watch: BTreeSet<MemberId>,
    rumors: RumorQueue,
    meta: Option<Metadata>,
    hlc: Hlc,
    meta_fetch: Option<(MetaVersion, Millis)>,
    rng: Rng,
    state: RunState,
    timers: Timers,
    probe: Option<Probe>,
    seq: u32,
    relays: HashMap<u32, Relay>,
    health: Awareness,
    probes_started: u64,
    /// Our verification ping in flight (`probe::VERIFY_EVERY`): its sequence number and target.
    verifying: Option<(u32, MemberId)>,
    /// A listed member to verify with the next probe (it announced news we could not fetch).
    verify_next: Option<MemberId>,
    rounds: u64,
    /// When `tick` last ran: a long gap means this member was paused or starved.
    last_tick: Millis,
    out: Vec<Outgoing>,
    events: VecDeque<Event>,
    events_lost: u64,
    members_refused: u64,
    relays_refused: u64,
    incarnations_implausible: u64,
    clocks_implausible: u64,
    introductions: introductions::Introductions,
    introductions_refused: u64,
    announces_ignored: u64,
    /// The last wall-clock reading: (`now` when taken, milliseconds since the Unix epoch).
    wall: (Millis, u64),
    /// Members were listed without being rumored on (from an exchange, or past the rumor
    /// backlog or `STORM_NEWS`): this many more anti-entropy rounds come early (`Timing::sync_soon`), so
    /// exchanges spread them.
    sync_soon: u32,
    /// Check rounds still to come after the last early one (`Core::anti_entropy_tick`).
    tail_checks: u32,
    /// Anti-entropy rounds so far (`anti_entropy_round` alternates its choice of peer).
    rounds_ae: u32,
    /// Members new to our table in the previous gossip cycle and in this one (`STORM_NEWS`),
    /// and which cycle (`now / cycle`) "this one" is (`Core::news_at`).
    news: [u32; 2],
    news_cycle: Millis,
    /// Seed retries since the last `peko_set` (`retry_seeds` backs off with them).
    seed_retries: u32,
    /// A push-pull has brought us a member's table: we have joined (`JOIN_PATIENCE`).
    exchanged: bool,
    /// Since `join`, a push-pull went to one of the seeds (`join`, or `timers.join_push`).
    join_pushed: bool,
    /// Which unheard seed a joining member asks next (`push_to_a_seed`): a random one first,
    /// then each in turn, so that a live seed among dead ones is reached within a round.
    seed_turn: usize,
}

impl Core {
    pub fn new(cfg: CoreConfig) -> Core {
        let cfg_wall = cfg.wall_ms;
        let rng = Rng::seed(cfg.seed);
        let rumors = RumorQueue::new(cfg.encoding);
        Core {
            cfg,
            incarnation: 0,
            members: Table::default(),
            watch: BTreeSet::new(),
            rumors,
            meta: None,
            hlc: Hlc::default(),
            meta_fetch: None,
            rng,
            state: RunState::Idle,
            timers: Timers::default(),
            probe: None,
            seq: 0,
            relays: HashMap::new(),
            health: Awareness::default(),
            probes_started: 0,
            verifying: None,
            verify_next: None,
            rounds: 0,
            last_tick: 0,
            out: Vec::new(),
            events: VecDeque::new(),
            events_lost: 0,
            members_refused: 0,
            relays_refused: 0,
            incarnations_implausible: 0,
            clocks_implausible: 0,
            introductions: Default::default(),
            introductions_refused: 0,
            announces_ignored: 0,
            wall: (0, cfg_wall),
            sync_soon: 0,
            tail_checks: 0,
            rounds_ae: 0,
            news: [0, 0],
            news_cycle: 0,
            seed_retries: 0,
            exchanged: false,
            join_pushed: false,
            seed_turn: usize::MAX,
        }
    }

    // ---- queries (the member table's are in state.rs) --------------------------------------

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
        self.health.score()
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

    pub fn pending_rumors(&self) -> usize {
        self.rumors.len()
    }

    /// Gossip rounds run so far.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// What the core refused or dropped since it was created (figures for `peko_stats`).
    pub fn counters(&self) -> CoreCounters {
        CoreCounters {
            members_refused: self.members_refused,
            events_lost: self.events_lost,
            rumors_dropped: self.rumors.dropped,
            relays_refused: self.relays_refused,
            incarnations_implausible: self.incarnations_implausible,
            clocks_implausible: self.clocks_implausible,
            introductions_refused: self.introductions_refused,
            announces_ignored: self.announces_ignored,
        }
    }

    /// The earliest time `tick` has work to do (deadlines of suspects and placeholders are
    /// checked at every tick, which happens at least once per cycle).
    pub fn next_wake(&self) -> Millis {
        let t = &self.timers;
        let mut wake = t.gossip.min(t.push_pull);
        // The next probe starts only once the one in flight has its verdict (`step_probe`).
        match &self.probe {
            Some(p) => wake = wake.min(p.wake()),
            None => wake = wake.min(t.probe),
        }
        if !self.watch.is_empty() {
            wake = wake.min(t.seed_retry);
        }
        if let Some(at) = t.join_push {
            wake = wake.min(at);
        }
        if let Some(r) = self.relays.values().map(|r| r.deadline).min() {
            wake = wake.min(r);
        }
        wake
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

    // ---- inputs ------------------------------------------------------------------------------

    /// One message, and how it arrived (which decides how it may be answered).
    pub fn handle(&mut self, now: Millis, arrival: Arrival, msg: Message) {
        if self.state != RunState::Running {
            return;
        }
        let from = msg.from();
        if from == self.cfg.me {
            return;
        }
        self.heard_from(from);
        self.introductions.next_message();
        // What an answer to a datagram may weigh, measured as `RumorEncoding::datagram_len`
        // measures it (plain: sealing adds the same to a sealed request and its answer); only the
        // messages whose answer may carry news beyond the worst-case overhead are measured.
        let room = match (arrival, &msg) {
            (
                Arrival::Datagram { weight },
                Message::Ping { .. } | Message::Ack { .. } | Message::Gossip { .. },
            ) => weight.min(self.cfg.encoding.datagram_len(&msg)),
            _ => usize::MAX,
        };
        match msg {
            Message::Ping {
                seq,
                target,
                rumors,
                ..
            } => {
                let corrections = self.apply_rumors(now, from, arrival, rumors);
                self.on_ping(from, seq, target, arrival, room, corrections);
            }
            Message::Ack { seq, rumors, .. } => {
                let corrections = self.apply_rumors(now, from, arrival, rumors);
                self.on_ack(from, seq);
                self.correct(from, corrections, arrival, room);
            }
            Message::PingReq {
                seq,
                target,
                rumors,
                ..
            } => {
                // The relayed ack or nack is this request's answer: no correction beside it.
                self.apply_rumors(now, from, arrival, rumors);
                self.on_ping_req(now, from, seq, target, arrival);
            }
            Message::Gossip { rumors, .. } => {
                let corrections = self.apply_rumors(now, from, arrival, rumors);
                self.correct(from, corrections, arrival, room);
            }
            // Requests that need a TCP answer, and those answers, travel only on connections:
            // by datagram, `from` is only a claim (the driver drops these; so does the core).
            Message::PushPull { .. }
            | Message::Digest { .. }
            | Message::MetaRequest { .. }
            | Message::MetaResponse { .. }
                if !matches!(arrival, Arrival::Stream { .. }) => {}
            // An offer answers our digest: only on a connection we opened.
            Message::Offer { .. } if !matches!(arrival, Arrival::Stream { ours: true, .. }) => {}
            Message::PushPull {
                reply,
                members,
                meta_version,
                meta,
                holds,
                ..
            } => self.on_push_pull(
                now,
                from,
                arrival,
                reply,
                members,
                meta_version,
                meta,
                holds,
            ),
            Message::Offer {
                holds,
                meta_version,
                ..
            } => self.on_offer(from, arrival, holds, meta_version),
            Message::Nack { seq, .. } => self.on_nack(seq),
            Message::Digest {
                digest,
                meta_version,
                ..
            } => self.on_digest(now, from, arrival, digest, meta_version),
            Message::MetaRequest { .. } => self.on_meta_request(from, arrival),
            Message::MetaResponse { meta, .. } => self.apply_meta(now, meta),
        }
        // A frame on a connection we opened to a member proves that it is there (after the
        // message, which may have been what listed it: a join reply).
        if let Arrival::Stream { ours: true, .. } = arrival {
            self.verified(from);
        }
    }

    /// Advances timers: probes, gossip rounds, anti-entropy, suspicion and placeholder deadlines.
    pub fn tick(&mut self, now: Millis) {
        if self.state != RunState::Running {
            return;
        }
        let t = self.cfg.timing;
        let late = self
            .timers
            .tick_due
            .map_or(0, |due| now.saturating_sub(due));
        if now.saturating_sub(self.last_tick) > 2 * t.probe_interval + t.cycle {
            // We did not run for a while (a pause, an overloaded host): others may suspect us,
            // so refute before they ask, and distrust our own view for a while.
            self.health.worsen(2);
            self.refute(self.incarnation);
            self.probe = None;
            self.timers.gossip = now;
        }
        if late > awareness::late_tolerance(&t) {
            // We run late (a starved process): count it against our own health, not against
            // the members whose answers may be waiting unread.
            self.fell_behind(now, late);
        } else if self.health.ran_on_time(now, t.probe_interval) {
            // The next probe comes at the interval health allows now, not at the stretched one
            // set when the last probe started.
            let sooner = now + t.probe_interval * self.health.stretch();
            self.timers.probe = self.timers.probe.min(sooner);
        }
        self.last_tick = now;
        self.check_deadlines(now);
        self.step_probe(now);
        if now >= self.timers.gossip {
            self.timers.gossip = now + t.cycle;
            self.rounds += 1;
            if self.news_recent(now) == 0 && self.members.grown() >= PACK_AFTER {
                self.members.pack();
            }
            self.gossip_round();
        }
        self.anti_entropy_tick(now);
        if self.timers.join_push.is_some_and(|at| now >= at) {
            self.timers.join_push = None;
            self.push_to_a_seed();
        }
        if !self.watch.is_empty() && now >= self.timers.seed_retry {
            self.retry_seeds(now);
        }
        self.expire_relays(now);
        self.timers.tick_due = Some(self.next_wake().max(now));
        #[cfg(test)]
        self.members.check();
    }

    // ---- outputs -----------------------------------------------------------------------------

    fn send(&mut self, to: MemberId, msg: Message, route: Route) {
        self.out.push(Outgoing { to, msg, route });
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= EVENTS_MAX {
            self.events.pop_front();
            self.events_lost += 1;
        }
        self.events.push_back(e);
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }
}

#[cfg(test)]
mod tests;
