//! The Go pekonode compatibility mode's protocol core: a member that behaves, on the wire, like a
//! node of github.com/dpwgc/pekonode v1.0.8, so it can join a running cluster of Go nodes and
//! replace them one at a time. Sans-IO like `proto`: fed `(now, packet)` and ticked; it returns
//! the packets to send (`wire::gojson::GoPacket`, to an address) and the events that happened
//! (`proto::Event`, the same the native mode reports).
//!
//! What a Go node does, and so this core:
//! - every cycle it refreshes itself, sends its heartbeat to `amount` listed nodes (its own
//!   `addr:port` and theirs marked in `Infected`), and asks one random node for a metadata
//!   exchange (`IsSwap` 1, carrying its own metadata);
//! - a heartbeat received lists (or refreshes) its node, a publish in it (`IsUpdate`) newer than
//!   the metadata held replaces it, and it is passed on to up to `amount` listed nodes not yet in
//!   its `Infected` (marked there);
//! - an exchange request newer than ours replaces ours; older, it is answered with ours
//!   (`IsSwap` 2) — here only when its node is one we list, so a forged request cannot make us
//!   send our metadata to any address; an answer newer than ours replaces ours;
//! - a node not heard from for `timeout` leaves the list (a FAILED event here);
//! - the newest `Update` (nanoseconds of wall time) wins.
//!
//! Where we differ, and why: members are keyed by `addr:port` (a Go node keys by the whole
//! node, name and private data included, so a member of ours that changes its attributes is
//! listed twice by the Go nodes until the old entry times out); nodes whose `Addr` is not an IP
//! literal we could send to are not listed; the table is bounded (`MEMBERS_MAX`); a stopped
//! member sends nothing (a Go node stopped still passes packets on). Nothing received makes us
//! send more than a Go node would: at most `amount` packets passed on per packet received, one
//! answer per exchange request.

use crate::proto::random::Rng;
use crate::proto::{Attributes, Event, MemberId, MetaVersion, Metadata, Millis};
use crate::wire::gojson::{GoNode, GoPacket};
use std::collections::BTreeMap;
use std::net::SocketAddr;

#[cfg(test)]
mod tests;

/// Nodes listed at most (a Go cluster is far smaller: its traffic grows with the square).
pub const MEMBERS_MAX: usize = 4096;
/// How far ahead of our wall clock a metadata `Update` may be and still be taken, as the native
/// mode bounds its clock (`proto::hlc::DRIFT_MAX_MS`): a forged `Update` at the top would
/// otherwise pin the metadata for good.
pub const DRIFT_MAX_NS: i64 = crate::proto::hlc::DRIFT_MAX_MS as i64 * 1_000_000;

pub struct CompatConfig {
    pub me: MemberId,
    pub attrs: Attributes,
    pub amount: usize,
    pub cycle_ms: Millis,
    pub timeout_ms: Millis,
    /// The key token every packet carries (`gojson::token`).
    pub token: String,
    pub seed: u64,
}

/// A listed node.
struct Entry {
    /// The `Addr` text it announced (the `Infected` keys use it as written).
    addr: String,
    attrs: Attributes,
    heard_at: Millis,
    /// Never heard from yet: given to `set`.
    unheard: bool,
    /// When we last answered its exchange request: at most one answer per cycle, as a Go node
    /// asks at most once per cycle (a forged request cannot draw our metadata faster).
    answered_at: Option<Millis>,
}

/// The metadata held: the data and its `Update` (wall-clock nanoseconds), and who it came from.
#[derive(Clone)]
struct Held {
    data: Vec<u8>,
    update: i64,
    origin: MemberId,
}

/// What the core counts, for the counters a user reads.
#[derive(Default, Clone, Copy, Debug)]
pub struct CompatCounters {
    /// Packets dropped: the key token differed.
    pub wrong_token: u64,
    /// Packets whose node was not usable (not an IP literal, port out of range).
    pub bad_node: u64,
    /// Nodes not listed: the table was full.
    pub members_refused: u64,
    /// Exchange requests not answered: their node is not one we list, or it had its answer
    /// this cycle.
    pub swaps_refused: u64,
    /// Metadata refused: its `Update` was more than `DRIFT_MAX_NS` ahead of our wall clock.
    pub clocks_implausible: u64,
    pub rounds: u64,
}

pub struct CompatCore {
    cfg: CompatConfig,
    rng: Rng,
    members: BTreeMap<MemberId, Entry>,
    held: Option<Held>,
    running: bool,
    left: bool,
    next_cycle: Millis,
    /// Our wall clock in nanoseconds, as the driver last set it (`set_wall_clock`); 0: not
    /// known, no drift bound (the unit tests and the fuzz target run without one).
    wall_ns: i64,
    out: Vec<(MemberId, GoPacket)>,
    events: Vec<Event>,
    counters: CompatCounters,
}

/// `addr:port` as a Go node writes it (no brackets around an IPv6 address).
fn infected_key(addr: &str, port: u16) -> String {
    format!("{addr}:{port}")
}

impl CompatCore {
    pub fn new(cfg: CompatConfig) -> CompatCore {
        CompatCore {
            rng: Rng::seed(cfg.seed),
            cfg,
            members: BTreeMap::new(),
            held: None,
            running: false,
            left: false,
            next_cycle: 0,
            wall_ns: 0,
            out: Vec::new(),
            events: Vec::new(),
            counters: CompatCounters::default(),
        }
    }

    /// The wall clock (nanoseconds since the epoch) that bounds the `Update`s taken.
    pub fn set_wall_clock(&mut self, wall_ns: i64) {
        self.wall_ns = wall_ns;
    }

    pub fn me(&self) -> MemberId {
        self.cfg.me
    }

    /// The address the sockets were bound to (port 0 resolved).
    pub fn rebind(&mut self, me: MemberId) {
        self.cfg.me = me;
    }

    fn my_node(&self) -> GoNode {
        GoNode {
            addr: self.cfg.me.ip().to_string(),
            port: self.cfg.me.port().into(),
            name: self.cfg.attrs.name.clone(),
            private_data: self.cfg.attrs.private_data.clone(),
        }
    }

    fn my_key(&self) -> String {
        infected_key(&self.cfg.me.ip().to_string(), self.cfg.me.port())
    }

    /// A node we were told of (`peko_set`): listed at once, as a Go node's `Set` does, and
    /// dropped after `timeout` unless it is heard from.
    pub fn set(&mut self, now: Millis, id: MemberId, attrs: Attributes) {
        if id == self.cfg.me || self.members.contains_key(&id) {
            return;
        }
        if self.members.len() >= MEMBERS_MAX {
            self.counters.members_refused += 1;
            return;
        }
        self.members.insert(
            id,
            Entry {
                addr: id.ip().to_string(),
                attrs,
                heard_at: now,
                unheard: true,
                answered_at: None,
            },
        );
    }

    pub fn join(&mut self, now: Millis) {
        self.running = true;
        self.next_cycle = now;
    }

    pub fn stop(&mut self) {
        self.running = false;
    }

    pub fn start(&mut self, now: Millis) {
        if !self.running && !self.left {
            self.running = true;
            self.next_cycle = now;
        }
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Goes silent for good: the original has no leave message; the others time us out.
    pub fn leave(&mut self) {
        self.running = false;
        self.left = true;
    }

    pub fn has_left(&self) -> bool {
        self.left
    }

    pub fn update_attrs(&mut self, attrs: Attributes) {
        self.cfg.attrs = attrs;
    }

    /// The local member first, then every listed node, ordered by address.
    pub fn members(&self) -> Vec<(MemberId, Attributes)> {
        let mut v = vec![(self.cfg.me, self.cfg.attrs.clone())];
        v.extend(self.members.iter().map(|(id, e)| (*id, e.attrs.clone())));
        v
    }

    pub fn listed(&self) -> usize {
        self.members.len() + 1
    }

    pub fn counters(&self) -> CompatCounters {
        self.counters
    }

    /// The metadata held, as the native mode reports it: its version's clock is the `Update`'s
    /// milliseconds (the counter part 0), its origin the node that sent it.
    pub fn metadata(&self) -> Option<Metadata> {
        self.held.as_ref().map(|h| Metadata {
            version: version(h),
            data: h.data.clone(),
        })
    }

    pub fn metadata_data(&self) -> Option<&[u8]> {
        self.held.as_ref().map(|h| h.data.as_slice())
    }

    /// Publishes `data`: the packet, with the nodes it goes to marked in its `Infected`, must
    /// pass `fits` (a receiver's buffer holds it) before anything changes: `false` leaves the
    /// metadata as it was and sends nothing.
    pub fn publish(
        &mut self,
        wall_ns: i64,
        data: Vec<u8>,
        fits: impl Fn(&GoPacket) -> bool,
    ) -> bool {
        let update = match &self.held {
            Some(h) => wall_ns.max(h.update.saturating_add(1)),
            None => wall_ns,
        };
        let mut p = GoPacket {
            node: self.my_node(),
            infected: [(self.my_key(), true)].into_iter().collect(),
            data: Some(data),
            update,
            is_update: true,
            is_swap: 0,
            secret_key: self.cfg.token.clone(),
        };
        let targets = if self.running {
            self.mark_targets(&mut p)
        } else {
            Vec::new()
        };
        if !fits(&p) {
            return false;
        }
        let held = Held {
            data: p.data.clone().unwrap_or_default(),
            update,
            origin: self.cfg.me,
        };
        // As the native mode reports its own publish.
        self.events.push(Event::MetadataChanged(version(&held)));
        self.held = Some(held);
        for id in targets {
            self.out.push((id, p.clone()));
        }
        true
    }

    /// When the core next needs a tick.
    pub fn next_wake(&self, now: Millis) -> Millis {
        let expiry = self
            .members
            .values()
            .map(|e| e.heard_at + self.cfg.timeout_ms)
            .min()
            .unwrap_or(Millis::MAX);
        let cycle = if self.running {
            self.next_cycle
        } else {
            Millis::MAX
        };
        expiry.min(cycle).max(now)
    }

    /// Drops the nodes not heard from for `timeout`; once per cycle (while running) sends the
    /// heartbeat and asks one node for a metadata exchange.
    pub fn tick(&mut self, now: Millis) {
        let timeout = self.cfg.timeout_ms;
        let gone: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, e)| now >= e.heard_at + timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.members.remove(&id);
            self.events.push(Event::Failed(id));
        }
        if !self.running || now < self.next_cycle {
            return;
        }
        self.counters.rounds += 1;
        // Catch up without a burst after a pause: the next cycle is a whole cycle from now.
        self.next_cycle = now + self.cfg.cycle_ms;
        let mut heartbeat = GoPacket {
            node: self.my_node(),
            infected: [(self.my_key(), true)].into_iter().collect(),
            secret_key: self.cfg.token.clone(),
            ..GoPacket::default()
        };
        self.pass_on(&mut heartbeat);
        let ids: Vec<MemberId> = self.members.keys().copied().collect();
        if let Some(to) = self.rng.choose(&ids) {
            let request = self.exchange(1);
            self.out.push((to, request));
        }
    }

    /// Our metadata in an exchange packet (`is_swap` 1: a request, 2: an answer). A member that
    /// never published sends what a new Go node holds: empty data, `Update` 0.
    fn exchange(&self, is_swap: u8) -> GoPacket {
        let (data, update) = match &self.held {
            Some(h) => (h.data.clone(), h.update),
            None => (Vec::new(), 0),
        };
        GoPacket {
            node: self.my_node(),
            data: Some(data),
            update,
            is_swap,
            secret_key: self.cfg.token.clone(),
            ..GoPacket::default()
        }
    }

    /// Sends `p` to up to `amount` listed nodes not in its `Infected`, in random order, after
    /// marking them there (all of them, before the first is sent, as a Go node does).
    fn pass_on(&mut self, p: &mut GoPacket) {
        for id in self.mark_targets(p) {
            self.out.push((id, p.clone()));
        }
    }

    /// Chooses up to `amount` listed nodes not in `p`'s `Infected`, in random order, and marks
    /// them there.
    fn mark_targets(&mut self, p: &mut GoPacket) -> Vec<MemberId> {
        let mut ids: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(id, e)| {
                !p.infected
                    .get(&infected_key(&e.addr, id.port()))
                    .copied()
                    .unwrap_or(false)
            })
            .map(|(id, _)| *id)
            .collect();
        self.rng.shuffle(&mut ids);
        ids.truncate(self.cfg.amount);
        for id in &ids {
            let addr = &self.members[id].addr;
            p.infected.insert(infected_key(addr, id.port()), true);
        }
        ids
    }

    /// Whether a packet's key token is ours (the original compares it, in clear).
    pub fn accepts_token(&self, token: &str) -> bool {
        token == self.cfg.token
    }

    /// A packet that came off the network (any transport), already decoded.
    pub fn handle(&mut self, now: Millis, mut p: GoPacket) {
        if !self.accepts_token(&p.secret_key) {
            self.counters.wrong_token += 1;
            return;
        }
        let Some(from) = node_id(&p.node) else {
            self.counters.bad_node += 1;
            return;
        };
        if p.is_swap != 0 {
            self.on_exchange(now, from, p);
            return;
        }
        if from != self.cfg.me {
            self.heard(now, from, &p.node);
        }
        if p.is_update {
            self.offer(from, &p);
        }
        if self.running {
            self.pass_on(&mut p);
        }
    }

    fn on_exchange(&mut self, now: Millis, from: MemberId, p: GoPacket) {
        let ours = self.held.as_ref().map_or(0, |h| h.update);
        if p.update > ours {
            self.offer(from, &p);
        } else if p.update < ours && p.is_swap == 1 && self.running {
            let cycle = self.cfg.cycle_ms;
            let due = match self.members.get_mut(&from) {
                Some(e) if e.answered_at.is_none_or(|t| now >= t + cycle) => {
                    e.answered_at = Some(now);
                    true
                }
                _ => false,
            };
            if !due {
                self.counters.swaps_refused += 1;
                return;
            }
            let answer = self.exchange(2);
            self.out.push((from, answer));
        }
    }

    /// Takes `p`'s metadata when it is newer than what we hold.
    fn offer(&mut self, from: MemberId, p: &GoPacket) {
        if self.held.as_ref().is_some_and(|h| p.update <= h.update) || p.update <= 0 {
            return;
        }
        if self.wall_ns > 0 && p.update > self.wall_ns.saturating_add(DRIFT_MAX_NS) {
            self.counters.clocks_implausible += 1;
            return;
        }
        let held = Held {
            data: p.data.clone().unwrap_or_default(),
            update: p.update,
            origin: from,
        };
        self.events.push(Event::MetadataChanged(version(&held)));
        self.held = Some(held);
    }

    /// A heartbeat from `node` (at `id`): listed or refreshed; news is a JOINED (first heard)
    /// or an UPDATED (its name or private data changed).
    fn heard(&mut self, now: Millis, id: MemberId, node: &GoNode) {
        let attrs = Attributes {
            name: node.name.clone(),
            private_data: node.private_data.clone(),
        };
        let full = self.members.len() >= MEMBERS_MAX;
        match self.members.get_mut(&id) {
            Some(e) => {
                e.heard_at = now;
                e.addr = node.addr.clone();
                if e.unheard {
                    e.unheard = false;
                    e.attrs = attrs.clone();
                    self.events.push(Event::Joined(id, attrs));
                } else if e.attrs != attrs {
                    e.attrs = attrs.clone();
                    self.events.push(Event::Updated(id, attrs));
                }
            }
            None if full => self.counters.members_refused += 1,
            None => {
                self.members.insert(
                    id,
                    Entry {
                        addr: node.addr.clone(),
                        attrs: attrs.clone(),
                        heard_at: now,
                        unheard: false,
                        answered_at: None,
                    },
                );
                self.events.push(Event::Joined(id, attrs));
            }
        }
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn drain_outgoing(&mut self) -> Vec<(MemberId, GoPacket)> {
        std::mem::take(&mut self.out)
    }
}

/// Where a node is reached: its `Addr` must be an IP literal we can send to, its port 1..=65535.
fn node_id(n: &GoNode) -> Option<MemberId> {
    let ip: std::net::IpAddr = n.addr.parse().ok()?;
    let port = u16::try_from(n.port).ok().filter(|p| *p != 0)?;
    (!ip.is_unspecified() && !ip.is_multicast()).then_some(SocketAddr::new(ip, port))
}

/// The native mode's version of metadata held here: the `Update`'s milliseconds as the clock's
/// wall part (so the log shows its time), the counter 0.
fn version(h: &Held) -> MetaVersion {
    let ms = (h.update.max(0) / 1_000_000) as u64;
    MetaVersion {
        hlc: ms << 16,
        origin: h.origin,
    }
}
