//! A deterministic simulator: many protocol cores in one thread on a virtual clock, with a seeded
//! random source, message loss and latency, partitions and crashes. Any run is replayed from its
//! seed. Used by the core's tests (and by the scale benches of later work).

use crate::proto::{Attributes, Core, CoreConfig, MemberId, Message, Millis, Timing};
use crate::wire;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
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

struct InFlight {
    at: Millis,
    order: u64,
    to: usize,
    msg: Message,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
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
    /// Members in different groups cannot reach each other.
    pub group: Vec<u32>,
    flight: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    rng: SmallRng,
    pub sent: Vec<u64>,
    pub sent_bytes: Vec<u64>,
    /// Largest datagram-class message seen (everything but push-pull and metadata transfer).
    pub largest_datagram: usize,
}

pub fn member_id(i: usize) -> MemberId {
    MemberId::new(
        std::net::Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8).into(),
        7946,
    )
}

impl Sim {
    /// Builds `members` cores; member 0 is the seed every other member was `peko_set` with. No
    /// core has joined yet.
    pub fn new(cfg: SimConfig) -> Sim {
        let mut rng = SmallRng::seed_from_u64(cfg.seed);
        let ids: Vec<MemberId> = (0..cfg.members).map(member_id).collect();
        let cores = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                Core::new(CoreConfig {
                    me: *id,
                    attrs: Attributes {
                        name: format!("m{i}"),
                        private_data: String::new(),
                    },
                    amount: cfg.amount,
                    timing: Timing::new(cfg.cycle_ms, cfg.timeout_ms),
                    max_meta: 1 << 20,
                    seed: rng.gen(),
                })
            })
            .collect();
        let n = cfg.members;
        Sim {
            cfg,
            now: 0,
            cores,
            ids,
            crashed: vec![false; n],
            group: vec![0; n],
            flight: BinaryHeap::new(),
            order: 0,
            rng,
            sent: vec![0; n],
            sent_bytes: vec![0; n],
            largest_datagram: 0,
        }
    }

    /// Every member learns of member 0 and joins, in order, one millisecond apart.
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

    fn flush(&mut self, from: usize) {
        for o in self.cores[from].drain_outgoing() {
            self.sent[from] += 1;
            let bytes = wire::encode(&o.msg, &wire::Key::new(None)).len();
            self.sent_bytes[from] += bytes as u64;
            if !matches!(
                o.msg,
                Message::PushPull { .. } | Message::MetaResponse { .. }
            ) {
                self.largest_datagram = self.largest_datagram.max(bytes);
            }
            let Some(to) = self.index_of(&o.to) else {
                continue;
            };
            if self.rng.gen_bool(self.cfg.loss) {
                continue;
            }
            let jitter = if self.cfg.jitter > 0 {
                self.rng.gen_range(0..=self.cfg.jitter)
            } else {
                0
            };
            self.order += 1;
            self.flight.push(Reverse(InFlight {
                at: self.now + self.cfg.latency + jitter,
                order: self.order,
                to,
                msg: o.msg,
            }));
        }
    }

    /// Advances the virtual clock to `until`, delivering messages and ticking members in time
    /// order (ticks every millisecond a member has work due).
    pub fn run_for(&mut self, ms: Millis) {
        let until = self.now + ms;
        while self.now < until {
            self.now += 1;
            while self.flight.peek().is_some_and(|f| f.0.at <= self.now) {
                let Reverse(f) = self.flight.pop().expect("peeked");
                let from = self.index_of(&f.msg.from());
                let reachable = from.is_none_or(|s| self.group[s] == self.group[f.to]);
                if self.crashed[f.to] || !reachable {
                    continue;
                }
                self.cores[f.to].handle(self.now, f.msg);
                self.flush(f.to);
            }
            for i in 0..self.cores.len() {
                if !self.crashed[i] && self.cores[i].next_wake() <= self.now {
                    self.cores[i].tick(self.now);
                    self.flush(i);
                }
            }
        }
    }

    /// Runs until `done` holds or `limit` ms pass; returns the time it took.
    pub fn run_until(
        &mut self,
        limit: Millis,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Option<Millis> {
        let start = self.now;
        while self.now - start < limit {
            if done(self) {
                return Some(self.now - start);
            }
            self.run_for(10);
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

    /// How many running members list member `i`.
    pub fn listed_by(&self, i: usize) -> usize {
        (0..self.cores.len())
            .filter(|&j| j != i && !self.crashed[j])
            .filter(|&j| self.lists(j, i))
            .count()
    }
}
