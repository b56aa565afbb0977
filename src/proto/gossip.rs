//! Rumor mongering: news rides on every ping, ack and ping-req, and each round a member with
//! queued rumors sends one `Gossip` datagram to `amount` random members. Incoming rumors are
//! dispatched here to the part of the core that applies them.

use super::rumors::retransmit_limit;
use super::state::Via;
use super::types::{Arrival, MemberId, Message, Millis, Route, Rumor, Status};
use super::Core;

impl Core {
    /// Queued rumors for one outgoing datagram message, as many as fit.
    pub(super) fn piggyback(&mut self) -> Vec<Rumor> {
        self.piggyback_for(Route::Own)
    }

    /// Bytes of rumors a message sent by `route` may carry: an answer to a datagram only as many
    /// as keep it within the request's own weight (so a spoofed `from` gains nothing by it).
    pub(super) fn rumor_budget(&self, route: Route) -> usize {
        let budget = self.rumors.budget();
        match route {
            Route::Answer { limit } => {
                budget.min(limit.saturating_sub(self.rumors.answer_overhead()))
            }
            _ => budget,
        }
    }

    /// Queued rumors for a message sent by `route`, as many as `rumor_budget` allows.
    pub(super) fn piggyback_for(&mut self, route: Route) -> Vec<Rumor> {
        let budget = self.rumor_budget(route);
        self.rumors.take(budget, self.rumor_sends())
    }

    /// `first`, then as many queued rumors as fit beside it, for one of our own datagrams. When
    /// `first` alone does not fit (attributes near their limit), only the queued rumors go.
    pub(super) fn piggyback_after(&mut self, first: Rumor) -> Vec<Rumor> {
        let budget = self.rumors.budget();
        let Some(rest) = budget.checked_sub(self.rumors.encoded_len(&first)) else {
            return self.rumors.take(budget, self.rumor_sends());
        };
        let mut v = vec![first];
        v.extend(self.rumors.take(rest, self.rumor_sends()));
        v
    }

    /// How many times each queued rumor is sent, for the current table size.
    pub(super) fn rumor_sends(&self) -> u32 {
        // The table's size (tombstones included) is close enough for a log factor, and O(1).
        retransmit_limit(self.members.len() + 1)
    }

    pub(super) fn gossip_round(&mut self) {
        if self.rumors.is_empty() {
            return;
        }
        let mut targets: Vec<MemberId> = self.rng.sample(self.members.live(), self.cfg.amount);
        // At least one target is a member that has spoken to us itself: members known only from
        // others (a forged table's, say) may outnumber the real ones, but cannot take every
        // round's news away from them.
        if !targets.is_empty()
            && !targets
                .iter()
                .any(|t| self.members.get(t).is_some_and(|m| m.direct))
        {
            if let Some(d) = self.members.choose_direct(&mut self.rng) {
                // A random slot: the sample comes in ring order, and always replacing the last
                // would never leave the member latest in the ring a target.
                let slot = self.rng.below(targets.len() as u64) as usize;
                targets[slot] = d;
            }
        }
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
                Route::Own,
            );
        }
    }

    /// Rumors that arrived on a message from `from` (`via`: how, for fetching what they announce).
    /// Returns the corrections they call for (`Core::correction`): newer news than an accusation
    /// the sender holds, for the answer to carry.
    pub(super) fn apply_rumors(
        &mut self,
        now: Millis,
        from: MemberId,
        via: Arrival,
        rumors: Vec<Rumor>,
    ) -> Vec<Rumor> {
        let mut corrections = Vec::new();
        for r in rumors {
            match r {
                Rumor::Alive {
                    id,
                    incarnation,
                    attrs,
                } => {
                    // Only a connection's sender speaks for itself: a datagram's is a claim.
                    let itself = id == from && matches!(via, Arrival::Stream { .. });
                    let via = if itself { Via::Itself } else { Via::Rumor };
                    self.apply_alive(now, id, incarnation, attrs, via)
                }
                Rumor::Suspect {
                    id,
                    incarnation,
                    from: accuser,
                } => {
                    self.apply_suspect(now, id, incarnation, accuser);
                    corrections.extend(self.correction(id, incarnation));
                }
                Rumor::Dead {
                    id,
                    incarnation,
                    from: accuser,
                } => {
                    self.apply_dead(now, id, incarnation, Status::Dead, accuser);
                    corrections.extend(self.correction(id, incarnation));
                }
                Rumor::Left { id, incarnation } => {
                    self.apply_dead(now, id, incarnation, Status::Left, id)
                }
                Rumor::Meta(m) => self.apply_meta(now, m),
                Rumor::MetaAnnounce(v) => self.on_meta_announce(now, v, from, via),
            }
        }
        corrections
    }

    /// Of `news`, in order, those that fit beside the others in `make(rumors)` sent by `route`
    /// as an answer to a datagram that measured `room` bytes (`RumorEncoding::datagram_len`):
    /// measured exactly, so an answer to a small datagram can still carry a small rumor that the
    /// worst-case `answer_overhead` would leave out. Other routes take up to a datagram's budget.
    pub(super) fn fitting(
        &self,
        news: Vec<Rumor>,
        route: Route,
        room: usize,
        make: impl Fn(Vec<Rumor>) -> Message,
    ) -> Vec<Rumor> {
        let mut kept = Vec::new();
        let mut used = 0;
        for r in news {
            let len = self.rumors.encoded_len(&r);
            if used + len > self.rumors.budget() {
                continue;
            }
            kept.push(r);
            let fits = match route {
                Route::Answer { limit } => {
                    self.cfg.encoding.datagram_len(&make(kept.clone())) <= limit.min(room)
                }
                _ => true,
            };
            if fits {
                used += len;
            } else {
                kept.pop();
            }
        }
        kept
    }

    /// Answers a datagram (or frame) whose rumors called for `corrections` with a `Gossip` that
    /// carries those that fit within it (`fitting`): its sender holds an accusation that has
    /// been refuted since, and would otherwise keep it until it removes a live member.
    pub(super) fn correct(
        &mut self,
        to: MemberId,
        corrections: Vec<Rumor>,
        via: Arrival,
        room: usize,
    ) {
        if corrections.is_empty() {
            return;
        }
        let me = self.cfg.me;
        let answer = via.answer();
        let rumors = self.fitting(corrections, answer, room, |rumors| Message::Gossip {
            from: me,
            rumors,
        });
        if !rumors.is_empty() {
            self.send(to, Message::Gossip { from: me, rumors }, answer);
        }
    }
}
