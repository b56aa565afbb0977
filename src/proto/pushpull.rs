//! Anti-entropy: a push-pull exchange of the membership table (on join, on `peko_set`, on
//! restart, and whenever digests differ), a periodic 64-bit digest to one random member, a
//! periodic exchange with one member believed dead (heals partitions), and seed retries.
//!
//! Every exchange runs on one TCP connection, opened by the member that starts it: a push-pull
//! request or a digest goes out on it (`Route::Request`) and whatever answers it — the reply, the
//! offer a differing digest brings (`Message::Offer`), the push-pull answering that offer and its
//! reply, a metadata fetch — goes back on it (`Route::Reply`).
//! Nothing here answers a datagram, whose `from` anyone can forge.

use super::state::{member_hash, Via, MEMBERS_MAX, SYNC_SOON_ROUNDS};
use super::types::{
    Arrival, Event, Held, MemberId, MemberState, Message, MetaVersion, Metadata, Millis,
    PackedAttributes, Route, Status,
};
use super::Core;

/// After the last early anti-entropy round (`Core::sync_soon`), check rounds come this many
/// early-round periods later, then twice, four and eight times as long after the one before
/// (`TAIL_CHECKS` in all; 0.8, 2.4, 5.6 and 12 s after it at a 200 ms cycle), unless the
/// periodic round comes first. The last lists of a join storm wait for them: in the storm
/// phase of `bench --storm --sizes 2000 --cycle 1000` lists were complete 22.3 and 23.3 s after
/// the last join with 2, against 28.1 and 29.0 s with 5 (alternating runs); the same number of
/// checks, only sooner.
const FINAL_CHECK_AFTER: Millis = 2;
const TAIL_CHECKS: u32 = 4;
/// `Core::unchanged` walks the table when a push-pull names at least one member in this many of
/// those we hold, and looks each entry up otherwise.
const LOOKUPS_PER_WALK: usize = 8;

impl Core {
    /// Order-independent hash of the listed members (and their incarnations), self included.
    /// Equal digests mean a full exchange would change nothing in either table.
    pub fn digest(&self) -> u64 {
        self.members.digest() ^ member_hash(&self.cfg.me, Some(self.incarnation))
    }

    /// The anti-entropy period with +-50% jitter, so members that joined together do not all
    /// exchange state at the same moment.
    pub(super) fn push_pull_delay(&mut self) -> Millis {
        let p = self.cfg.timing.push_pull_for(self.members.len() + 1);
        p / 2 + self.rng.between(0, p)
    }

    /// The anti-entropy timer: early rounds while `sync_soon` asks for them, and after the last
    /// of them check rounds at growing gaps (`FINAL_CHECK_AFTER`, `TAIL_CHECKS`); otherwise
    /// the periodic round. News still spreading when the early rounds ended (a join storm's last
    /// joiners), or an early round whose exchange failed (a busy peer's connection timed out),
    /// would otherwise wait for a periodic round, tens of seconds at a thousand members. A check
    /// that brings news starts early rounds again; one that finds our digest equal to the
    /// peer's costs one small frame each way.
    pub(super) fn anti_entropy_tick(&mut self, now: Millis) {
        let t = self.cfg.timing;
        if self.sync_soon > 0 && self.timers.push_pull > now + t.sync_soon * 3 / 2 {
            self.timers.push_pull = now + self.sync_soon_delay();
        }
        if now < self.timers.push_pull {
            return;
        }
        if self.sync_soon == 1 {
            self.tail_checks = TAIL_CHECKS;
        }
        self.sync_soon = self.sync_soon.saturating_sub(1);
        self.timers.push_pull = now + self.push_pull_delay();
        if self.sync_soon == 0 && self.tail_checks > 0 {
            let gap = (FINAL_CHECK_AFTER * t.sync_soon) << (TAIL_CHECKS - self.tail_checks);
            self.tail_checks -= 1;
            self.timers.push_pull = self.timers.push_pull.min(now + gap);
        }
        self.anti_entropy_round(now);
    }

    /// How soon an early anti-entropy round comes (`Core::sync_soon`), with +-50% jitter.
    pub(super) fn sync_soon_delay(&mut self) -> Millis {
        let p = self.cfg.timing.sync_soon;
        p / 2 + self.rng.between(0, p)
    }

    /// The periodic part: a digest to one random member, a full exchange with one member
    /// believed failed, and old tombstones forgotten.
    pub(super) fn anti_entropy_round(&mut self, now: Millis) {
        // Every other round a member that has spoken to us itself, when there is one (see
        // `Member::direct`), so that members a forged table introduced get at most half the
        // rounds; the others any live member. Not always a verified one: in a join storm the
        // members most have verified are the seeds, and every member's rounds would go there.
        self.rounds_ae = self.rounds_ae.wrapping_add(1);
        let to = match self.members.direct_count() {
            n if n > 0 && self.rounds_ae % 2 == 0 => self.members.choose_direct(&mut self.rng),
            _ => self.rng.choose(self.members.live()),
        };
        if let Some(to) = to {
            let digest = self.digest();
            let meta_version = self.meta_version();
            self.send(
                to,
                Message::Digest {
                    from: self.cfg.me,
                    digest,
                    meta_version,
                },
                Route::Request,
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
        if let Some(to) = self.rng.choose(&failed) {
            self.send_push_pull(to, Route::Request);
        }
        self.collect_tombstones(now);
    }

    /// `peko_set` members not heard from yet get another push-pull; the next retry comes after
    /// twice the wait of this one (from one probe interval up to the anti-entropy period), so
    /// a storm of joiners does not keep a busy seed busier. While no exchange has brought us a
    /// table (joining), one seed is asked again instead, the next in turn, sooner
    /// (`join_retry_wait`): in a join storm a seed refuses connections beyond what it keeps
    /// (`driver::inbound`) and answers late, and a joiner whose push was refused or is still
    /// waiting would otherwise wait a probe interval, then ask every seed at the moment all the
    /// others who joined with it do (in `bench --storm` at 1,000 members 80-260 joiners had no
    /// table after a probe interval, and their retries were refused again).
    pub(super) fn retry_seeds(&mut self, now: Millis) {
        if !self.exchanged {
            self.seed_retries = self.seed_retries.saturating_add(1);
            self.timers.seed_retry = now + self.join_retry_wait(self.seed_retries);
            self.push_to_a_seed();
            return;
        }
        let t = self.cfg.timing;
        let wait = (t.probe_interval << self.seed_retries.min(8)).min(t.push_pull);
        self.seed_retries = self.seed_retries.saturating_add(1);
        self.timers.seed_retry = now + wait;
        for id in self.unheard_seeds() {
            self.send_push_pull(id, Route::Request);
        }
    }

    /// When seeds are asked again after they were given or the member (re)started: sooner while
    /// joining (`join_retry_wait`).
    pub(super) fn first_seed_retry(&mut self) -> Millis {
        if self.exchanged {
            self.cfg.timing.probe_interval
        } else {
            self.join_retry_wait(0)
        }
    }

    /// How long a joining member waits before asking a seed again (`retry_seeds`), `asks` asks
    /// after its join push. The seeds not heard from are asked in turn, a round of them in
    /// each period: the first `min(2 x sync_soon, probe interval)` (800 ms at a 200 ms cycle),
    /// each next twice as long, up to the anti-entropy period. The join push has a whole period
    /// to be answered before another seed is asked; the other asks of a round are a period /
    /// seeds apart, so a round never lasts longer than two periods whatever the number of seeds:
    /// every seed is asked before `JOIN_PATIENCE` timeouts give the seeds up, most of them more
    /// than once. Each wait +-50%, so that members that joined together do not ask together.
    pub(super) fn join_retry_wait(&mut self, asks: u32) -> Millis {
        let t = self.cfg.timing;
        let seeds = self.unheard_seeds().len().max(1) as u32;
        let base = (t.sync_soon * 2).min(t.probe_interval);
        let period = (base << (asks / seeds).min(8)).min(t.push_pull);
        let wait = if asks == 0 {
            period
        } else {
            (period / seeds as Millis).max(1)
        };
        wait / 2 + self.rng.between(0, wait)
    }

    /// The `peko_set` members not heard from yet.
    pub(super) fn unheard_seeds(&self) -> Vec<MemberId> {
        self.watch
            .iter()
            .filter(|id| self.members.get(id).is_some_and(|m| m.unheard))
            .copied()
            .collect()
    }

    /// Starts an exchange with `to` on a connection we open (`Route::Request`): our whole table.
    pub(super) fn send_push_pull(&mut self, to: MemberId, route: Route) {
        let members = self.state_snapshot(None, self.cfg.encoding.table_budget());
        let meta_version = self.meta_version();
        self.send(
            to,
            Message::PushPull {
                from: self.cfg.me,
                reply: false,
                members,
                meta_version,
                meta: None,
                holds: None,
            },
            route,
        );
    }

    /// What we hold, in id order and without attributes, ourselves included: what an `Offer`
    /// and a push-pull answering one carry. The same members as `state_snapshot` sends, at most
    /// `MEMBERS_MAX` (the rest, if any, the peer sends us again: only bytes).
    fn holdings(&self) -> Vec<Held> {
        let me = Held {
            id: self.cfg.me,
            incarnation: self.incarnation,
            status: Status::Alive,
        };
        let mut v = Vec::with_capacity((self.members.len() + 1).min(MEMBERS_MAX));
        let mut me = Some(me);
        for (id, m) in &self.members {
            if m.placeholder {
                continue;
            }
            if let Some(h) = me.filter(|h| h.id < *id) {
                v.push(h);
                me = None;
            }
            v.push(Held {
                id: *id,
                incarnation: m.incarnation,
                status: m.status,
            });
        }
        v.extend(me);
        v.truncate(MEMBERS_MAX);
        v
    }

    /// The metadata to send a peer whose version is `theirs`: ours when it is newer.
    fn meta_for(&self, theirs: Option<MetaVersion>) -> Option<Metadata> {
        match (&self.meta, theirs) {
            (Some(m), Some(theirs)) if m.version > theirs => Some(m.clone()),
            (Some(m), None) => Some(m.clone()),
            _ => None,
        }
    }

    /// An offer, on a connection we opened (`handle` drops it elsewhere): the answer to our
    /// digest from a member whose table differs. We push what it lacks or holds otherwise, our
    /// newer metadata, and what we hold; its reply brings what we lack.
    pub(super) fn on_offer(
        &mut self,
        from: MemberId,
        arrival: Arrival,
        mut holds: Vec<Held>,
        meta_version: Option<MetaVersion>,
    ) {
        // Ours come in id order (a stable sort of a sorted run is one pass); a forged order
        // only costs the sort.
        holds.sort_by_key(|h| h.id);
        let mine = self.holdings();
        let enc = self.cfg.encoding;
        let budget = enc
            .table_budget()
            .saturating_sub(mine.len() * enc.held_max_len());
        let members = self.state_snapshot(Some(&holds), budget);
        let meta = self.meta_for(meta_version);
        let meta_version = self.meta_version();
        self.send(
            from,
            Message::PushPull {
                from: self.cfg.me,
                reply: false,
                members,
                meta_version,
                meta,
                holds: Some(mine),
            },
            arrival.answer(),
        );
    }

    /// A push-pull on a connection (`handle` drops those that come by datagram).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_push_pull(
        &mut self,
        now: Millis,
        from: MemberId,
        arrival: Arrival,
        reply: bool,
        members: Vec<MemberState>,
        meta_version: Option<MetaVersion>,
        meta: Option<Metadata>,
        holds: Option<Vec<Held>>,
    ) {
        // The reply to a newcomer's first exchange holds what the cluster already knows. Only on
        // a connection we opened: anyone may open one to us and call what it sends a reply.
        let ours = matches!(arrival, Arrival::Stream { ours: true, .. });
        let via = if reply && ours && self.is_newcomer() {
            Via::JoinReply
        } else {
            Via::Sync
        };
        // The pusher's entries in id order: which of them we hold as they are (`unchanged`),
        // and, unless it said what it holds (`holds`, answering our offer), what it holds, for
        // a reply that carries only what differs (`state_snapshot`).
        let order = id_order(&members);
        let theirs: Option<Vec<Held>> = match holds {
            _ if reply => None,
            Some(mut holds) => {
                holds.sort_by_key(|h| h.id);
                Some(holds)
            }
            None => Some(
                order
                    .iter()
                    .map(|&i| {
                        let s = &members[i as usize];
                        Held {
                            id: s.id,
                            incarnation: s.incarnation,
                            status: s.status,
                        }
                    })
                    .collect(),
            ),
        };
        let unchanged = self.unchanged(&members, &order);
        #[cfg(test)]
        let unchanged = if APPLY_EVERY_ENTRY.get() {
            vec![false; members.len()]
        } else {
            unchanged
        };
        self.merge_state(now, from, members, &unchanged, via);
        // The reply to our join starts early rounds even when it brought no member new to us
        // (which would start them too, `apply_alive`): in a join storm the first joiners' seed
        // knew no one else yet when it answered, and their lists would wait for whoever
        // happened to pick them.
        if via == Via::JoinReply {
            self.sync_soon = self.sync_soon.max(SYNC_SOON_ROUNDS);
        }
        // A table from a member that opened an exchange with us, or the reply on a connection we
        // opened: we have joined. (Anyone can open a connection and call what it sends a reply.)
        if !reply || ours {
            self.exchanged = true;
        }
        if let Some(m) = meta {
            self.apply_meta(now, m);
        }
        if !reply {
            let mine = self.meta_version();
            let meta = self.meta_for(meta_version);
            let budget = self.cfg.encoding.table_budget();
            let members = self.state_snapshot(theirs.as_deref(), budget);
            self.send(
                from,
                Message::PushPull {
                    from: self.cfg.me,
                    reply: true,
                    members,
                    meta_version: mine,
                    meta,
                    holds: None,
                },
                arrival.answer(),
            );
        }
        if let Some(theirs) = meta_version {
            self.on_meta_announce(now, theirs, from, arrival);
        }
        self.push_event(Event::Synced(from));
    }

    /// A digest on a connection (`handle` drops those that come by datagram): what it calls for
    /// goes back on that connection.
    pub(super) fn on_digest(
        &mut self,
        now: Millis,
        from: MemberId,
        via: Arrival,
        digest: u64,
        meta_version: Option<MetaVersion>,
    ) {
        if digest != self.digest() {
            let holds = self.holdings();
            let meta_version = self.meta_version();
            self.send(
                from,
                Message::Offer {
                    from: self.cfg.me,
                    holds,
                    meta_version,
                },
                via.answer(),
            );
        } else {
            self.sync_meta_versions(now, from, via, meta_version);
        }
    }

    /// Anti-entropy merge. A remote "dead" only makes us suspect (the member may refute); a
    /// remote "left" is final. Entries `unchanged` marks are skipped: applying them would
    /// change nothing.
    fn merge_state(
        &mut self,
        now: Millis,
        from: MemberId,
        states: Vec<MemberState>,
        unchanged: &[bool],
        via: Via,
    ) {
        for (s, &same) in states.into_iter().zip(unchanged) {
            if same {
                continue;
            }
            match s.status {
                Status::Alive => {
                    let via = if s.id == from { Via::Itself } else { via };
                    self.apply_alive(now, s.id, s.incarnation, s.attrs, via)
                }
                Status::Suspect | Status::Dead => {
                    self.apply_suspect(now, s.id, s.incarnation, s.id)
                }
                Status::Left => self.apply_dead(now, s.id, s.incarnation, Status::Left, s.id),
            }
        }
    }

    /// Which of `states` (walked in `order`, see `id_order`) say that a member is alive at the
    /// incarnation we hold it at, confirmed and not listed quietly: `apply_alive` returns at
    /// once for those, and most entries of a push-pull are such. One walk of the table in id
    /// order beside the entries instead of a lookup per entry: at a thousand members the lookups
    /// were a tenth of a join storm's CPU (`perf` over `bench --storm`), the table's nodes being
    /// spread over memory. A few entries (a reply carrying only what differs) are looked up
    /// instead: a walk costs the whole table. A member named twice is never marked: an earlier
    /// entry about it could change what we hold before the later one is applied. Ourselves is
    /// never in the table, so never marked (`apply_alive` refutes what needs it).
    pub(super) fn unchanged(&self, states: &[MemberState], order: &[u32]) -> Vec<bool> {
        let mut same = vec![false; states.len()];
        let mut held = self.members.iter().peekable();
        let walk = states.len() * LOOKUPS_PER_WALK >= self.members.len();
        let id_at = |k: usize| order.get(k).map(|&i| states[i as usize].id);
        for (k, &i) in order.iter().enumerate() {
            let s = &states[i as usize];
            let twice = id_at(k + 1) == Some(s.id) || (k > 0 && id_at(k - 1) == Some(s.id));
            let m = if walk {
                while held.next_if(|(id, _)| **id < s.id).is_some() {}
                held.peek().filter(|(id, _)| **id == s.id).map(|(_, m)| *m)
            } else {
                self.members.get(&s.id)
            };
            same[i as usize] = m.is_some_and(|m| {
                !twice
                    && s.id != self.cfg.me
                    && s.status == Status::Alive
                    && !m.placeholder
                    && !m.quiet
                    && m.incarnation == s.incarnation
            });
        }
        same
    }

    /// Our table as a push-pull carries it: ourselves, then the members that have spoken to us
    /// themselves, then the others, as many as every peer's frame limit accepts
    /// (`RumorEncoding::table_budget`, and at most `MEMBERS_MAX`). A table swollen by members
    /// nobody has heard from (a forged one) is cut, not sent whole for the peers to refuse.
    ///
    /// A reply leaves out what the push it answers (`theirs`) already holds as we do: the pusher
    /// has it, and in a join storm the full tables would double what exchanges cost.
    fn state_snapshot(&self, theirs: Option<&[Held]>, mut budget: usize) -> Vec<MemberState> {
        let enc = self.cfg.encoding;
        let mut v = Vec::with_capacity((self.members.len() + 1).min(MEMBERS_MAX));
        let mut add = |s: MemberState| {
            let len = enc.member_state_max_len(s.attrs.name().len(), s.attrs.private_data().len());
            if len > budget || v.len() >= MEMBERS_MAX {
                return false;
            }
            budget -= len;
            v.push(s);
            true
        };
        add(MemberState {
            id: self.cfg.me,
            incarnation: self.incarnation,
            status: Status::Alive,
            attrs: PackedAttributes::pack(&self.cfg.attrs),
        });
        for direct in [true, false] {
            // `theirs` is in id order, like the table: walked beside it.
            let mut theirs = theirs.unwrap_or_default().iter().peekable();
            for (id, m) in &self.members {
                if m.placeholder || m.direct != direct {
                    continue;
                }
                while theirs.next_if(|t| t.id < *id).is_some() {}
                // A member the pusher named twice: left out if either entry is ours.
                let mut same = false;
                while let Some(t) = theirs.next_if(|t| t.id == *id) {
                    same |= (t.incarnation, t.status) == (m.incarnation, m.status);
                }
                if same {
                    continue;
                }
                let s = MemberState {
                    id: *id,
                    incarnation: m.incarnation,
                    status: m.status,
                    attrs: m.attrs.clone(),
                };
                if !add(s) {
                    break;
                }
            }
        }
        v
    }

    /// Whether this member has yet to learn any member for sure (its table holds only the
    /// placeholders `set` added): it is joining.
    fn is_newcomer(&self) -> bool {
        self.members.values().all(|m| m.placeholder)
    }
}

#[cfg(test)]
thread_local! {
    /// Tests: merge every entry of a push-pull, skipping none that `Core::unchanged` marks, to
    /// compare the two.
    pub(super) static APPLY_EVERY_ENTRY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Positions of `states` in id order (stable: a member named twice keeps its entries' order).
/// A push-pull lists its members in three runs each in id order (`Core::state_snapshot`: the
/// sender, the members that spoke to it, the others), which the sort merges in linear time;
/// any other order (a forged table) only costs a full sort.
pub(super) fn id_order(states: &[MemberState]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..states.len() as u32).collect();
    order.sort_by_key(|&i| states[i as usize].id);
    order
}
