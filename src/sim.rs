//! A deterministic simulator: many protocol cores in one thread on a virtual clock, with a seeded
//! random source. Network model: per-message loss, latency with jitter, partitions (groups that
//! cannot reach each other), crashes, pauses (a member stops processing, then resumes with its
//! old state) and restarts. Events run in time order from one queue, so any run is replayed from
//! its seed. Used by the core's tests and by `examples/sim.rs`.

use crate::proto::random::Rng;
use crate::proto::{
    Arrival, Attributes, Core, CoreConfig, Event, MemberId, Message, Millis, Route, Timing,
};
use crate::wire;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub members: usize,
    pub amount: usize,
    pub cycle_ms: u32,
    pub timeout_ms: u32,
    /// Probability that one message is lost.
    pub loss: f64,
    /// One-way latency, plus a uniform jitter of up to `jitter`.
    pub latency: Millis,
    pub jitter: Millis,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            members: 10,
            amount: 3,
            cycle_ms: 200,
            timeout_ms: 5000,
            loss: 0.0,
            latency: 1,
            jitter: 2,
            seed: 1,
        }
    }
}

enum What {
    Deliver {
        to: usize,
        arrival: Arrival,
        /// Boxed, so that a queued wake-up does not take the room of a message.
        msg: Box<Message>,
    },
    Wake {
        member: usize,
    },
}

struct Scheduled {
    at: Millis,
    order: u64,
    what: What,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

pub struct Sim {
    pub cfg: SimConfig,
    pub now: Millis,
    pub cores: Vec<Core>,
    pub ids: Vec<MemberId>,
    /// A crashed member neither sends nor receives nor ticks.
    pub crashed: Vec<bool>,
    /// A paused member does nothing until this time; messages to it meanwhile are lost.
    pub paused_until: Vec<Millis>,
    /// Members in different groups cannot reach each other.
    pub group: Vec<u32>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    /// The wake-up each member has in the queue (later ones supersede it).
    wake_at: Vec<Millis>,
    order: u64,
    rng: Rng,
    /// Messages and encoded bytes sent by each member.
    pub sent: Vec<u64>,
    pub sent_bytes: Vec<u64>,
    /// Of those, datagrams (our own and answers to datagrams), and bytes sent on connections.
    pub datagrams: u64,
    pub stream_bytes: u64,
    /// Whether to encode every message to count its bytes (costly at large N).
    pub count_bytes: bool,
    /// Largest datagram-class message seen (everything but push-pull and metadata transfer).
    pub largest_datagram: usize,
    /// Answers to datagrams larger than the request (the driver would withhold them; the core
    /// should never make one).
    pub answers_oversized: u64,
    /// Every removal any member made: (time, by, whom), from the cores' events.
    pub removals: Vec<(Millis, usize, usize)>,
    /// How many members list each member, kept from the cores' events. Exact for clusters
    /// started with `start_converged` (a `peko_set` guess is listed without an event).
    pub listers: Vec<i64>,
    /// Until when each member's connections fail (a busy member whose connects time out):
    /// exchanges from or to it are lost; its datagrams still go through.
    pub stream_outage: Vec<Millis>,
}

/// The wall clock of every simulated member at virtual time 0 (2026-01-01 00:00 UTC): the
/// publishes of tests and benches pass smaller wall-clock values, which are behind it (their
/// versions then count on from the clock), never ahead beyond the drift bound.
pub const SIM_WALL_MS: u64 = 1_767_225_600_000;

pub fn member_id(i: usize) -> MemberId {
    MemberId::new(
        std::net::Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8).into(),
        7946,
    )
}

fn attrs(i: usize) -> Attributes {
    Attributes {
        name: format!("m{i}"),
        private_data: String::new(),
    }
}

impl Sim {
    /// Builds `members` cores; none has joined yet.
    pub fn new(cfg: SimConfig) -> Sim {
        let mut rng = Rng::seed(cfg.seed);
        let ids: Vec<MemberId> = (0..cfg.members).map(member_id).collect();
        let cores = (0..cfg.members)
            .map(|i| Self::make_core(&cfg, ids[i], i, rng.next_u64()))
            .collect();
        let n = cfg.members;
        Sim {
            cfg,
            now: 0,
            cores,
            ids,
            crashed: vec![false; n],
            paused_until: vec![0; n],
            group: vec![0; n],
            queue: BinaryHeap::new(),
            wake_at: vec![Millis::MAX; n],
            order: 0,
            rng,
            sent: vec![0; n],
            sent_bytes: vec![0; n],
            datagrams: 0,
            stream_bytes: 0,
            count_bytes: true,
            largest_datagram: 0,
            answers_oversized: 0,
            removals: Vec::new(),
            listers: vec![0; n],
            stream_outage: vec![0; n],
        }
    }

    fn make_core(cfg: &SimConfig, id: MemberId, i: usize, seed: u64) -> Core {
        Core::new(CoreConfig {
            me: id,
            attrs: attrs(i),
            amount: cfg.amount,
            timing: Timing::new(cfg.cycle_ms, cfg.timeout_ms, cfg.amount),
            max_meta: 1 << 20,
            seed,
            wall_ms: SIM_WALL_MS,
            encoding: &wire::RUMOR_ENCODING,
        })
    }

    /// Every member learns of member 0 and joins, in order, at the current time.
    pub fn join_all(&mut self) {
        let seed = self.ids[0];
        for i in 0..self.cores.len() {
            if i != 0 {
                self.cores[i].set_peer(self.now, seed, Attributes::default());
            }
            self.cores[i].join(self.now);
            self.flush(i);
        }
    }

    /// Member `i` learns of `seeds` (other members' indices) and joins, at the current time.
    pub fn join_one(&mut self, i: usize, seeds: &[usize]) {
        for &s in seeds {
            if s != i {
                let id = self.ids[s];
                self.cores[i].set_peer(self.now, id, Attributes::default());
            }
        }
        self.cores[i].join(self.now);
        self.flush(i);
    }

    /// Member `i` joins, then learns of `seeds`, at the current time (the order a program that
    /// calls `peko_join` before `peko_set` uses).
    pub fn join_then_set(&mut self, i: usize, seeds: &[usize]) {
        self.cores[i].join(self.now);
        for &s in seeds {
            if s != i {
                let id = self.ids[s];
                self.cores[i].set_peer(self.now, id, Attributes::default());
            }
        }
        self.flush(i);
    }

    /// Starts every member as if the cluster had long converged: each knows all the others.
    pub fn start_converged(&mut self) {
        let all: Vec<usize> = (0..self.ids.len()).collect();
        self.start_converged_among(&all);
    }

    /// Starts `members` as if they had long formed a cluster of their own: each knows all the
    /// others of them. The rest have not joined.
    pub fn start_converged_among(&mut self, members: &[usize]) {
        let all: Vec<(MemberId, Attributes)> =
            members.iter().map(|&i| (self.ids[i], attrs(i))).collect();
        for &i in members {
            self.cores[i].join_converged(self.now, &all);
            self.flush(i);
        }
        for &i in members {
            self.listers[i] = members.len() as i64 - 1;
        }
    }

    pub fn index_of(&self, id: &MemberId) -> Option<usize> {
        // Ids are built from the index, so this is arithmetic rather than a search.
        match id.ip() {
            std::net::IpAddr::V4(v4) => {
                let o = v4.octets();
                let i = ((o[1] as usize) << 16) | ((o[2] as usize) << 8) | o[3] as usize;
                (i < self.ids.len() && self.ids[i] == *id).then_some(i)
            }
            _ => None,
        }
    }

    fn push(&mut self, at: Millis, what: What) {
        self.order += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            order: self.order,
            what,
        }));
    }

    /// Sends what member `from` produced, records what happened, and books its next wake-up.
    fn flush(&mut self, from: usize) {
        while let Some(e) = self.cores[from].next_event() {
            match e {
                Event::Joined(id, _) => {
                    if let Some(j) = self.index_of(&id) {
                        self.listers[j] += 1;
                    }
                }
                Event::Failed(id) | Event::Left(id) => {
                    if let Some(j) = self.index_of(&id) {
                        self.listers[j] -= 1;
                        self.removals.push((self.now, from, j));
                    }
                }
                _ => {}
            }
        }
        for o in self.cores[from].drain_outgoing() {
            self.sent[from] += 1;
            // A datagram's weight matters to its receiver only when it may answer it.
            let datagram = matches!(o.route, Route::Own | Route::Answer { .. });
            self.datagrams += datagram as u64;
            let weigh = datagram
                && matches!(
                    o.msg,
                    Message::Ping { .. }
                        | Message::PingReq { .. }
                        | Message::Ack { .. }
                        | Message::Gossip { .. }
                );
            let mut bytes = None;
            if self.count_bytes || weigh || matches!(o.route, Route::Answer { .. }) {
                let n = wire::encode(&o.msg, &wire::Key::new(None)).len();
                bytes = Some(n);
                if self.count_bytes {
                    self.sent_bytes[from] += n as u64;
                    if !datagram {
                        self.stream_bytes += n as u64;
                    }
                    if !wire::stream_only(&o.msg) {
                        self.largest_datagram = self.largest_datagram.max(n);
                    }
                }
            }
            if let (Route::Answer { limit }, Some(n)) = (o.route, bytes) {
                if n > limit {
                    self.answers_oversized += 1;
                    continue;
                }
            }
            let Some(to) = self.index_of(&o.to) else {
                continue;
            };
            // Connections are between member pairs here, named by the member that opened them: a
            // request opens one (`from`'s), a reply travels on the one its request came on.
            let arrival = match o.route {
                _ if datagram => Arrival::Datagram {
                    weight: bytes.unwrap_or(0),
                },
                Route::Reply(conn) => Arrival::Stream {
                    conn,
                    ours: conn == to as u64,
                },
                _ => Arrival::Stream {
                    conn: from as u64,
                    ours: false,
                },
            };
            if self.cfg.loss > 0.0 && self.rng.chance(self.cfg.loss) {
                continue;
            }
            if !datagram && self.now < self.stream_outage[from].max(self.stream_outage[to]) {
                continue;
            }
            let jitter = if self.cfg.jitter > 0 {
                self.rng.between(0, self.cfg.jitter)
            } else {
                0
            };
            let at = self.now + self.cfg.latency + jitter;
            self.push(
                at,
                What::Deliver {
                    to,
                    arrival,
                    msg: Box::new(o.msg),
                },
            );
        }
        let wake = self.cores[from].next_wake().max(self.now + 1);
        if wake < self.wake_at[from] || self.wake_at[from] <= self.now {
            self.wake_at[from] = wake;
            self.push(wake, What::Wake { member: from });
        }
    }

    fn active(&self, i: usize) -> bool {
        !self.crashed[i] && self.paused_until[i] <= self.now
    }

    /// Advances the virtual clock by `ms`, running every delivery and wake-up in time order.
    pub fn run_for(&mut self, ms: Millis) {
        let until = self.now + ms;
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > until {
                break;
            }
            let Reverse(ev) = self.queue.pop().expect("peeked");
            self.now = self.now.max(ev.at);
            match ev.what {
                What::Deliver { to, arrival, msg } => {
                    let from = self.index_of(&msg.from());
                    let reachable = from.is_none_or(|s| self.group[s] == self.group[to]);
                    if !self.active(to) || !reachable {
                        continue;
                    }
                    self.cores[to].handle(self.now, arrival, *msg);
                    self.flush(to);
                }
                What::Wake { member } => {
                    if self.wake_at[member] != ev.at || self.crashed[member] {
                        continue;
                    }
                    if self.paused_until[member] > self.now {
                        let at = self.paused_until[member];
                        self.wake_at[member] = at;
                        self.push(at, What::Wake { member });
                        continue;
                    }
                    self.cores[member].tick(self.now);
                    self.flush(member);
                }
            }
        }
        self.now = until;
    }

    /// Runs until `done` holds (checked every `step` ms) or `limit` ms pass; returns the time it
    /// took.
    pub fn run_until(
        &mut self,
        limit: Millis,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Option<Millis> {
        self.run_until_step(limit, 10, &mut done)
    }

    pub fn run_until_step(
        &mut self,
        limit: Millis,
        step: Millis,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Option<Millis> {
        let start = self.now;
        while self.now - start < limit {
            if done(self) {
                return Some(self.now - start);
            }
            self.run_for(step);
        }
        done(self).then(|| self.now - start)
    }

    /// True when every running member lists exactly the running members.
    pub fn converged(&self) -> bool {
        let running: Vec<usize> = (0..self.ids.len()).filter(|&i| !self.crashed[i]).collect();
        running.iter().all(|&i| {
            self.cores[i].listed_count() == running.len()
                && running.iter().all(|&j| j == i || self.lists(i, j))
        })
    }

    /// Whether member `i` lists member `j`.
    pub fn lists(&self, i: usize, j: usize) -> bool {
        self.cores[i]
            .member_status(&self.ids[j])
            .is_some_and(|(st, _)| st.is_listed())
    }

    pub fn crash(&mut self, i: usize) {
        self.crashed[i] = true;
    }

    /// Member `i` stops processing for `ms`, then carries on with its old state.
    pub fn pause(&mut self, i: usize, ms: Millis) {
        self.paused_until[i] = self.now + ms;
    }

    /// A crashed member comes back as a new process at the same address: empty state,
    /// incarnation 0, joining through member `seed`.
    pub fn restart(&mut self, i: usize, seed: usize) {
        let s = self.rng.next_u64();
        self.cores[i] = Self::make_core(&self.cfg, self.ids[i], i, s);
        self.crashed[i] = false;
        self.paused_until[i] = 0;
        self.cores[i].set_peer(self.now, self.ids[seed], Attributes::default());
        self.cores[i].join(self.now);
        self.wake_at[i] = Millis::MAX;
        self.flush(i);
    }

    /// How many running members (other than `i`) list member `i`.
    pub fn listed_by(&self, i: usize) -> usize {
        (0..self.cores.len())
            .filter(|&j| j != i && !self.crashed[j])
            .filter(|&j| self.lists(j, i))
            .count()
    }

    /// Members (not crashed) that some other running member does not list.
    pub fn removed_anywhere(&self) -> Vec<usize> {
        let running = self.crashed.iter().filter(|c| !**c).count();
        (0..self.cores.len())
            .filter(|&i| !self.crashed[i] && self.listed_by(i) != running - 1)
            .collect()
    }

    /// Removals since `t` of members that were not crashed: false removals.
    pub fn live_removals_since(&self, t: Millis) -> usize {
        self.removals
            .iter()
            .filter(|(at, _, whom)| *at >= t && !self.crashed[*whom])
            .count()
    }
}
