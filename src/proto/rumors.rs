//! The rumor queue: each rumor is piggybacked a bounded number of times (growing with log N),
//! least-sent first, and a newer rumor about the same member replaces the older one.

use super::types::{Message, Metadata, Rumor, RumorKey};
use std::collections::{BTreeSet, HashMap};

/// All the core knows of bytes: how a rumor is encoded inside a datagram (to pack datagrams, and
/// to keep the queue compact) and how many bytes of rumors a datagram message carries. The wire
/// module implements it (`wire::RUMOR_ENCODING`); the core never imports the wire module.
pub trait RumorEncoding: Sync {
    /// The rumor as it appears inside a message body. Every rumor the core makes can be encoded.
    fn encode(&self, rumor: &Rumor) -> Vec<u8>;
    /// The inverse of `encode`; `None` unless `bytes` is exactly one rumor.
    fn decode(&self, bytes: &[u8]) -> Option<Rumor>;
    /// Encoded bytes of rumors that fit in one datagram beside the message's other fields.
    fn datagram_budget(&self) -> usize;
    /// Largest encoded `Rumor::Meta` sent inline; larger metadata is announced and fetched.
    fn inline_meta_max(&self) -> usize;
    /// Most bytes a `Ping`, `Ack` or `Nack` takes besides its rumors (header, label tag, sealing,
    /// sequence number, ids, rumor count): what an answer to a datagram needs before any rumor.
    fn answer_overhead(&self) -> usize;
    /// Bytes of `msg` as a plain datagram frame. Sealing adds the same to a sealed request and its
    /// sealed answer, and a plain request gets a plain answer (the driver, in `SealMode::Send`),
    /// so comparing two of these compares the frames themselves: how the core checks that an
    /// answer carrying news beyond `answer_overhead`'s worst case still weighs no more than the
    /// datagram it answers.
    fn datagram_len(&self, msg: &Message) -> usize;
    /// At most how many bytes one member state with attributes of these lengths encodes to.
    fn member_state_max_len(&self, name_len: usize, private_data_len: usize) -> usize;
    /// Encoded bytes of member states a push-pull may carry so that every peer's stream frame
    /// limit accepts it (beside the metadata, which each peer's limit makes room for).
    fn table_budget(&self) -> usize;
    /// At most how many bytes one `Held` encodes to (an `Offer`'s and a push-pull's `holds`).
    fn held_max_len(&self) -> usize;
}

/// How many times each rumor is sent per member, times ceil(log10(N + 1)) (memberlist's
/// RetransmitMult).
pub const RETRANSMIT_MULT: u32 = 4;
/// Bound on queued rumors; beyond it the most-sent are dropped (anti-entropy repairs the rest).
pub const QUEUE_MAX: usize = 4096;

/// A queued rumor, kept encoded: in a mass join every member queues a rumor about every other.
/// Kept decoded instead, `bench --large` (N = 1000) ends at 310 MiB resident, peak 522 MiB,
/// against 234 and 342 encoded. The price is a decode per transmission while rumors are queued.
struct Queued {
    bytes: Box<[u8]>,
    transmits: u32,
    order: u64,
}

impl Queued {
    /// Its place in the sending order: least sent first, then newest first.
    fn rank(&self, key: RumorKey) -> Rank {
        (self.transmits, u64::MAX - self.order, key)
    }
}

type Rank = (u32, u64, RumorKey);

/// The rumors by key, and beside them the same rumors in sending order (`Queued::rank`), kept in
/// step by `push_encoded` and `take`. A join storm queues hundreds of rumors in every member;
/// sorting the whole queue for each datagram cost 6% of the process's CPU at N = 1,000
/// (`perf` over `bench --storm`), walking the order costs only the rumors taken.
pub struct RumorQueue {
    encoding: &'static dyn RumorEncoding,
    items: HashMap<RumorKey, Queued>,
    order: BTreeSet<Rank>,
    next_order: u64,
    pub dropped: u64,
}

pub fn retransmit_limit(members: usize) -> u32 {
    let log = ((members + 1) as f64).log10().ceil().max(1.0) as u32;
    RETRANSMIT_MULT * log
}

impl RumorQueue {
    pub fn new(encoding: &'static dyn RumorEncoding) -> RumorQueue {
        RumorQueue {
            encoding,
            items: HashMap::new(),
            order: BTreeSet::new(),
            next_order: 0,
            dropped: 0,
        }
    }

    /// Encoded bytes of rumors that fit in one datagram.
    pub fn budget(&self) -> usize {
        self.encoding.datagram_budget()
    }

    /// Bytes of an answer besides its rumors (`RumorEncoding::answer_overhead`).
    pub fn answer_overhead(&self) -> usize {
        self.encoding.answer_overhead()
    }

    /// A rumor's size inside a datagram.
    pub fn encoded_len(&self, rumor: &Rumor) -> usize {
        self.encoding.encode(rumor).len()
    }

    /// Queues metadata: inline as a `Rumor::Meta` when it encodes small enough, otherwise as a
    /// `Rumor::MetaAnnounce` that receivers fetch from. Data longer than the inline bound is
    /// never encoded (or copied) just to find that out.
    pub fn push_meta(&mut self, meta: &Metadata) {
        let max = self.encoding.inline_meta_max();
        if meta.data.len() <= max {
            let inline = Rumor::Meta(meta.clone());
            let bytes = self.encoding.encode(&inline);
            if bytes.len() <= max {
                return self.push_encoded(inline.key(), bytes);
            }
        }
        self.push(Rumor::MetaAnnounce(meta.version));
    }

    pub fn push(&mut self, rumor: Rumor) {
        let bytes = self.encoding.encode(&rumor);
        self.push_encoded(rumor.key(), bytes);
    }

    fn push_encoded(&mut self, key: RumorKey, bytes: Vec<u8>) {
        let bytes = bytes.into_boxed_slice();
        self.next_order += 1;
        let queued = Queued {
            bytes,
            transmits: 0,
            order: self.next_order,
        };
        self.order.insert(queued.rank(key));
        if let Some(old) = self.items.insert(key, queued) {
            self.order.remove(&old.rank(key));
        }
        if self.items.len() > QUEUE_MAX {
            // The most sent, oldest first among them.
            if let Some((_, _, worst)) = self.order.pop_last() {
                self.items.remove(&worst);
                self.dropped += 1;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Takes rumors that fit in `budget` encoded bytes, least-sent and newest first, counting one
    /// transmission for each; rumors sent `limit` times leave the queue.
    pub fn take(&mut self, budget: usize, limit: u32) -> Vec<Rumor> {
        let mut left = budget;
        let mut out = Vec::new();
        // Ranks change as rumors are taken: collect first, then move them.
        let mut taken: Vec<Rank> = Vec::new();
        let mut refused: Vec<Rank> = Vec::new();
        for &rank in &self.order {
            let q = &self.items[&rank.2];
            if q.bytes.len() > left {
                continue;
            }
            let Some(rumor) = self.encoding.decode(&q.bytes) else {
                // Only if the core made a rumor the wire refuses to read (a bug): never send
                // what a receiver would drop. Counted with the dropped ones.
                refused.push(rank);
                continue;
            };
            left -= q.bytes.len();
            out.push(rumor);
            taken.push(rank);
            if left < 8 {
                break;
            }
        }
        for rank in refused {
            self.order.remove(&rank);
            self.items.remove(&rank.2);
            self.dropped += 1;
        }
        for rank in taken {
            self.order.remove(&rank);
            let q = self
                .items
                .get_mut(&rank.2)
                .expect("ranked rumors are queued");
            q.transmits += 1;
            if q.transmits >= limit {
                self.items.remove(&rank.2);
            } else {
                self.order.insert(q.rank(rank.2));
            }
        }
        // After a burst (a mass join) give the memory back rather than keep the peak's table.
        if self.items.capacity() > 64 && self.items.len() * 4 < self.items.capacity() {
            self.items.shrink_to(self.items.len() * 2);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::Rumor;
    // Test-only: the real encoding, so the budgets below are in real bytes.
    use crate::wire::RUMOR_ENCODING;

    fn alive(port: u16, inc: u32) -> Rumor {
        Rumor::Alive {
            id: format!("127.0.0.1:{port}").parse().unwrap(),
            incarnation: inc,
            attrs: crate::proto::PackedAttributes::default(),
        }
    }

    #[test]
    fn newer_rumor_replaces_older_and_limit_is_kept() {
        let mut q = RumorQueue::new(&RUMOR_ENCODING);
        q.push(alive(1, 1));
        q.push(alive(1, 2));
        assert_eq!(q.len(), 1);
        for _ in 0..3 {
            assert_eq!(q.take(1000, 3), vec![alive(1, 2)]);
        }
        assert!(q.is_empty());
    }

    #[test]
    fn packing_respects_budget_and_prefers_least_sent() {
        let mut q = RumorQueue::new(&RUMOR_ENCODING);
        for p in 0..100 {
            q.push(alive(p, 0));
        }
        let one = q.encoded_len(&alive(1, 0));
        let first = q.take(one * 10, 5);
        assert_eq!(first.len(), 10);
        let second = q.take(one * 10, 5);
        assert!(second.iter().all(|r| !first.contains(r)));
    }

    /// The queue against a model that sorts everything on every take (what it did before the
    /// order was kept beside the rumors): the same rumors in the same order, under random
    /// pushes, replacements, evictions and budgets.
    #[test]
    fn takes_match_a_queue_sorted_on_every_take() {
        let mut rng = crate::proto::random::Rng::seed(11);
        let mut q = RumorQueue::new(&RUMOR_ENCODING);
        // key -> (rumor, transmits, order)
        let mut model: HashMap<RumorKey, (Rumor, u32, u64)> = HashMap::new();
        let mut order = 0;
        let one = q.encoded_len(&alive(1, 0));
        for step in 0..30_000 {
            // Mostly pushes, so that the queue fills and evicts.
            if rng.below(8) > 0 {
                let r = alive(rng.below(2 * QUEUE_MAX as u64) as u16, rng.below(4) as u32);
                order += 1;
                model.insert(r.key(), (r.clone(), 0, order));
                q.push(r);
                if model.len() > QUEUE_MAX {
                    let worst = *model
                        .iter()
                        .max_by_key(|(_, m)| (m.1, u64::MAX - m.2))
                        .unwrap()
                        .0;
                    model.remove(&worst);
                }
            } else {
                let budget = one * rng.below(12) as usize + rng.below(one as u64) as usize;
                let limit = 1 + rng.below(6) as u32;
                let mut ranked: Vec<(u32, u64, RumorKey)> = model
                    .iter()
                    .map(|(k, m)| (m.1, u64::MAX - m.2, *k))
                    .collect();
                ranked.sort_unstable();
                let mut left = budget;
                let mut want = Vec::new();
                for (_, _, k) in ranked {
                    let len = q.encoded_len(&model[&k].0);
                    if len > left {
                        continue;
                    }
                    left -= len;
                    want.push(model[&k].0.clone());
                    let m = model.get_mut(&k).unwrap();
                    m.1 += 1;
                    if m.1 >= limit {
                        model.remove(&k);
                    }
                    if left < 8 {
                        break;
                    }
                }
                assert_eq!(q.take(budget, limit), want, "step {step}");
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.order.len(), q.items.len());
        }
        assert!(q.dropped > 0, "the run never filled the queue");
    }

    #[test]
    fn retransmit_limit_grows_with_log_n() {
        assert_eq!(retransmit_limit(5), 4);
        assert_eq!(retransmit_limit(100), 12);
        assert_eq!(retransmit_limit(10_000), 20);
    }
}
