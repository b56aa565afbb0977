//! Rumor mongering: news rides on every ping, ack and ping-req, and each round a member with
//! queued rumors sends one `Gossip` datagram to `amount` random members. Incoming rumors are
//! dispatched here to the part of the core that applies them.

use super::rumors::retransmit_limit;
use super::state::{direct_peers, live_peers, Via};
use super::types::{Arrival, MemberId, Message, Millis, Route, Rumor, Status};
use super::Core;

impl Core {
    /// Queued rumors for one outgoing datagram message, as many as fit.
    pub(super) fn piggyback(&mut self) -> Vec<Rumor> {
        self.piggyback_for(Route::Own)
    }

    /// Bytes of rumors a message sent by `route` may carry: an answer to a datagram only as many
    /// as keep it within the request's own weight (so a spoofed `from` gains nothing by it).
    fn rumor_budget(&self, route: Route) -> usize {
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

    /// `first`, then as many queued rumors as fit beside it, for a message sent by `route`. When
    /// `first` alone does not fit (an answer to a small datagram), only what fits goes.
    pub(super) fn piggyback_after(&mut self, first: Rumor, route: Route) -> Vec<Rumor> {
        let budget = self.rumor_budget(route);
        let Some(rest) = budget.checked_sub(self.rumors.encoded_len(&first)) else {
            return self.rumors.take(budget, self.rumor_sends());
        };
        let mut v = vec![first];
        v.extend(self.rumors.take(rest, self.rumor_sends()));
        v
    }

    /// How many times each queued rumor is sent, for the current table size.
    fn rumor_sends(&self) -> u32 {
        // The table's size (tombstones included) is close enough for a log factor, and O(1).
        retransmit_limit(self.members.len() + 1)
    }

    pub(super) fn gossip_round(&mut self) {
        if self.rumors.is_empty() {
            return;
        }
        let mut targets: Vec<MemberId> =
            self.rng.sample(live_peers(&self.members), self.cfg.amount);
        // At least one target is a member that has spoken to us itself: members known only from
        // others (a forged table's, say) may outnumber the real ones, but cannot take every
        // round's news away from them.
        if !targets.is_empty()
            && !targets
                .iter()
                .any(|t| self.members.get(t).is_some_and(|m| m.direct))
        {
            let direct: Vec<MemberId> = direct_peers(&self.members).collect();
            if let Some(d) = self.rng.choose(&direct) {
                let last = targets.len() - 1;
                targets[last] = d;
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
    pub(super) fn apply_rumors(
        &mut self,
        now: Millis,
        from: MemberId,
        via: Arrival,
        rumors: Vec<Rumor>,
    ) {
        for r in rumors {
            match r {
                Rumor::Alive {
                    id,
                    incarnation,
                    attrs,
                } => {
                    let via = if id == from { Via::Itself } else { Via::Rumor };
                    self.apply_alive(now, id, incarnation, attrs, via)
                }
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
                Rumor::MetaAnnounce(v) => self.on_meta_announce(now, v, from, via),
            }
        }
    }
}
