//! Failure detection by probing (SWIM): a direct ping to one member per probe interval; without
//! an ack, ping-reqs through `INDIRECT_CHECKS` others, who relay the ack or answer with a nack
//! (Lifeguard); without any ack by 9/10 of the interval, the target is suspected.
//!
//! A probe's `from` is only a claim when it comes by datagram, so what answers it is never
//! larger than it: an ack carries only the rumors that fit in the ping's own weight, and a
//! member relays probes only to members it lists (never to an address a stranger names), with
//! the relayed ping's rumors and the answer sharing the request's weight. Only an ack to our own
//! probe, from its target, proves that a member is there (`Core::verified`).

use super::state::{live_peers, member_hash};
use super::types::{Arrival, MemberId, Message, Millis, Route, Rumor, Status};
use super::Core;

/// Members asked to probe a silent member on our behalf.
pub const INDIRECT_CHECKS: usize = 3;
/// Bound on indirect probes run for others at once; further requests are refused and counted.
pub const RELAYS_MAX: usize = 1024;
/// Every this many probe intervals, one more ping goes to a random member, preferably one we
/// have not verified: probes all go to the ring successor, and an ack to our own ping is what
/// verifies a member (`Core::verified`), which gossip, digests and metadata fetches rely on.
pub const VERIFY_EVERY: u64 = 10;

/// Our probe in flight.
#[derive(Debug)]
pub(super) struct Probe {
    pub target: MemberId,
    pub seq: u32,
    /// The latest a late tick may push its verdict back to: twice its own length.
    pub latest: Millis,
    pub direct_deadline: Millis,
    pub end: Millis,
    pub indirect_sent: bool,
    pub nacks_expected: u32,
    pub nacks: u32,
}

impl Probe {
    /// When this probe next needs `tick`.
    pub fn wake(&self) -> Millis {
        if self.indirect_sent {
            self.end
        } else {
            self.direct_deadline
        }
    }
}

/// A probe run for another member (it sent us a `PingReq`), keyed by our own sequence number.
#[derive(Debug)]
pub(super) struct Relay {
    pub requester: MemberId,
    /// How the ack or nack goes back (within the request's weight, or on its connection).
    pub answer: Route,
    pub seq: u32,
    pub deadline: Millis,
}

impl Core {
    /// A ping: the ack carries first what answers the ping's own rumors (`corrections`: newer
    /// news than accusations the pinger holds), then what we hold against the pinger (it may
    /// not know, and only it can refute), each if it fits the ping's weight (`room`, measured);
    /// then queued rumors, within the worst-case `answer_overhead`.
    pub(super) fn on_ping(
        &mut self,
        from: MemberId,
        seq: u32,
        target: MemberId,
        via: Arrival,
        room: usize,
        corrections: Vec<Rumor>,
    ) {
        if target != self.cfg.me {
            return;
        }
        let me = self.cfg.me;
        let answer = via.answer();
        let mut news = corrections;
        news.extend(self.accusation_of(from));
        let mut rumors = self.fitting(news, answer, room, |rumors| Message::Ack {
            seq,
            from: me,
            rumors,
        });
        let used: usize = rumors.iter().map(|r| self.rumors.encoded_len(r)).sum();
        let budget = self.rumor_budget(answer).saturating_sub(used);
        rumors.extend(self.rumors.take(budget, self.rumor_sends()));
        self.send(
            from,
            Message::Ack {
                seq,
                from: me,
                rumors,
            },
            answer,
        );
    }

    /// An ack from `from`. One to our probe in flight (its sequence number) from the target
    /// itself proves the target is there (`Core::verified`); one relayed by a helper ends the
    /// probe all the same.
    pub(super) fn on_ack(&mut self, from: MemberId, seq: u32) {
        if self.verifying == Some((seq, from)) {
            self.verifying = None;
            self.verified(from);
        } else if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
            let p = self.probe.take().expect("checked");
            if from == p.target {
                self.verified(p.target);
            } else {
                self.heard_from(p.target);
            }
            self.health.improve();
        } else if let Some(r) = self.relays.remove(&seq) {
            let rumors = self.piggyback_for(r.answer);
            self.send(
                r.requester,
                Message::Ack {
                    seq: r.seq,
                    from: self.cfg.me,
                    rumors,
                },
                r.answer,
            );
        }
    }

    pub(super) fn on_ping_req(
        &mut self,
        now: Millis,
        from: MemberId,
        seq: u32,
        target: MemberId,
        via: Arrival,
    ) {
        if target == self.cfg.me || target == from {
            return;
        }
        let answer = via.answer();
        if !self
            .members
            .get(&target)
            .is_some_and(|m| m.status.is_listed())
        {
            // Not a member we know: we probe no address a stranger names. The nack (smaller than
            // the request) still tells the requester that its own network works.
            self.send(
                from,
                Message::Nack {
                    seq,
                    from: self.cfg.me,
                },
                answer,
            );
            return;
        }
        if self.relays.len() >= RELAYS_MAX {
            self.relays_refused += 1;
            return;
        }
        let my_seq = self.next_seq();
        let mut ping = Message::Ping {
            seq: my_seq,
            from: self.cfg.me,
            target,
            rumors: Vec::new(),
        };
        // By datagram, the relayed ping's rumors and the answer (the relayed ack, or a nack)
        // come out of one weight, the request's: what the ping carries beyond a bare probe is
        // taken from what the answer may weigh. A probe of a listed member is what the protocol
        // sends anyway; nothing else goes out beyond the request's weight.
        let answer = match via {
            Arrival::Datagram { weight } => {
                let bare = self.cfg.encoding.datagram_len(&ping);
                if let Message::Ping { rumors, .. } = &mut ping {
                    *rumors = self.piggyback_for(Route::Answer { limit: weight });
                }
                let spent = self.cfg.encoding.datagram_len(&ping).saturating_sub(bare);
                Route::Answer {
                    limit: weight.saturating_sub(spent),
                }
            }
            Arrival::Stream { .. } => {
                if let Message::Ping { rumors, .. } = &mut ping {
                    *rumors = self.piggyback();
                }
                answer
            }
        };
        self.relays.insert(
            my_seq,
            Relay {
                requester: from,
                answer,
                seq,
                deadline: now + self.cfg.timing.probe_timeout,
            },
        );
        self.send(target, ping, Route::Own);
    }

    pub(super) fn on_nack(&mut self, seq: u32) {
        if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
            p.nacks += 1;
        }
    }

    /// Relays whose target did not answer in time: tell the requester with a nack.
    pub(super) fn expire_relays(&mut self, now: Millis) {
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
                r.answer,
            );
        }
    }

    /// Moves the probe in flight on (indirect probes, then the verdict), then starts the next.
    pub(super) fn step_probe(&mut self, now: Millis) {
        if self
            .probe
            .as_ref()
            .is_some_and(|p| !p.indirect_sent && now >= p.direct_deadline)
        {
            self.probe_indirectly();
        }
        if self.probe.as_ref().is_some_and(|p| now >= p.end) {
            self.probe_failed(now);
        }
        if self.probe.is_none() && now >= self.timers.probe {
            self.start_probe(now);
        }
    }

    fn probe_indirectly(&mut self) {
        let Some(p) = self.probe.as_mut() else {
            return;
        };
        p.indirect_sent = true;
        let (target, seq) = (p.target, p.seq);
        let mut helpers: Vec<MemberId> = live_peers(&self.members)
            .filter(|id| *id != target)
            .collect();
        self.rng.shuffle(&mut helpers);
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
                Route::Own,
            );
        }
    }

    fn probe_failed(&mut self, now: Millis) {
        let Some(p) = self.probe.take() else {
            return;
        };
        // No ack. If no helper even nacked, the trouble may be ours (Lifeguard): slow down
        // rather than accuse. One nack proves that our own messages go out and answers come
        // back, so the nacks the other helpers did not send say something about them, not us:
        // when part of the cluster goes silent at once (a partition), the helpers picked there
        // send none, and counting each (Lifeguard's rule, memberlist's too) stretched probe
        // intervals up to 9x. A 5|5 split of 10 members at 5% loss took 11.2 s (median of 30
        // simulated) with suspects passed over (`next_probe_target`) and this rule as it was,
        // 6.4 s with both; 20 members: 18.7 s (over 20 s in 3 seeds of 30) and 12.6 s.
        let missing = match (p.nacks_expected, p.nacks) {
            (0, _) => 1,
            (expected, 0) => expected,
            _ => 0,
        };
        self.health.worsen(missing);
        let Some(m) = self.members.get(&p.target) else {
            return;
        };
        if !m.status.is_listed() {
            return;
        }
        let incarnation = m.incarnation;
        self.apply_suspect(now, p.target, incarnation, self.cfg.me);
        // Tell the suspect directly, so it can refute without waiting for the rumor to reach it.
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
            Route::Own,
        );
    }

    fn start_probe(&mut self, now: Millis) {
        let t = self.cfg.timing;
        let stretch = self.health.stretch();
        self.timers.probe = now + t.probe_interval * stretch;
        let Some(target) = self.next_probe_target() else {
            return;
        };
        // The ring successor skipped for being suspected is still told of its suspicion each
        // interval, as our probe told it before, so a member that is alive refutes at once.
        if let Some((s, rumor)) = self
            .ring_successor()
            .filter(|s| *s != target)
            .and_then(|s| Some((s, self.suspicion_of(s)?)))
        {
            let seq = self.next_seq();
            let rumors = self.piggyback_after(rumor);
            self.send_ping(s, seq, rumors);
        }
        let seq = self.next_seq();
        self.probe = Some(Probe {
            target,
            seq,
            latest: now + 2 * (t.probe_interval * stretch * 9 / 10),
            direct_deadline: now + t.probe_timeout * stretch,
            end: now + t.probe_interval * stretch * 9 / 10,
            indirect_sent: false,
            nacks_expected: 0,
            nacks: 0,
        });
        // A suspect learns of the suspicion from the probe itself, and can refute at once.
        let rumors = match self.suspicion_of(target) {
            None => self.piggyback(),
            Some(r) => self.piggyback_after(r),
        };
        self.send_ping(target, seq, rumors);
        self.probes_started = self.probes_started.wrapping_add(1);
        if let Some(id) = self.verify_next.take().filter(|id| *id != target) {
            self.verify(id);
        } else if self.probes_started % VERIFY_EVERY == 0 {
            self.verify_one(target);
        }
    }

    /// `id` announced news we fetch only from verified members: if we list it, it gets a
    /// verification ping with our next probe (at most one per interval, and only while there
    /// is news, so no steady-state traffic; never to an address we do not list).
    pub(super) fn verify_soon(&mut self, id: MemberId) {
        if self.members.get(&id).is_some_and(|m| m.status.is_listed()) {
            self.verify_next = Some(id);
        }
    }

    /// A ping to a random member other than `probed` not verified yet, if there is one. Its ack
    /// verifies it; no answer means nothing (detection is the ring's), and the next one replaces
    /// it.
    fn verify_one(&mut self, probed: MemberId) {
        // Once every member is verified there is nothing to learn: no ping.
        if let Some(target) = self.members.choose_unverified(&mut self.rng, &probed) {
            self.verify(target);
        }
    }

    fn verify(&mut self, target: MemberId) {
        let seq = self.next_seq();
        self.verifying = Some((seq, target));
        // No rumors: the address may be one a forged rumor named, and every member may pick it;
        // what it receives stays one small ping from each.
        self.send_ping(target, seq, Vec::new());
    }

    fn send_ping(&mut self, target: MemberId, seq: u32, rumors: Vec<Rumor>) {
        let from = self.cfg.me;
        let ping = Message::Ping {
            seq,
            from,
            target,
            rumors,
        };
        self.send(target, ping, Route::Own);
    }

    /// Every probe goes to our successor on a ring ordered by a hash of the ids, so every member
    /// is probed by its predecessor every interval: a silent member is found within
    /// `detection_max` (1.9 intervals). Random targets would leave a long tail, and each one in
    /// the sequence would double the gap between two probes of the successor; the probe budget
    /// (one ping per interval) goes where it bounds detection.
    ///
    /// A successor we suspect is passed over for the next one (its suspicion decides it, and
    /// `start_probe` still tells it): when many members go silent at once (a partition) each
    /// survivor suspects the silent ones after it one interval apart, not one suspicion timeout
    /// apart, each waiting for the one before it to be removed. Only when every live peer is
    /// suspected is a suspect probed.
    fn next_probe_target(&self) -> Option<MemberId> {
        let mut ring = self.members.ring_from(member_hash(&self.cfg.me, None));
        let first = ring.clone().next()?;
        ring.find(|id| {
            self.members
                .get(id)
                .is_some_and(|m| m.status != Status::Suspect)
        })
        .or(Some(first))
    }

    fn ring_successor(&self) -> Option<MemberId> {
        self.members.ring_after(member_hash(&self.cfg.me, None))
    }
}
