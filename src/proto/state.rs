//! The membership table: one entry per member ever heard of (live ones, and dead or left ones as
//! tombstones until `Timing::tombstone`), the local incarnation, and the rules that apply news
//! about a member — alive, dead, left — only when it is newer.

use super::suspicion::Pending;
use super::table::Table;
use super::types::{
    Attributes, Event, Incarnation, IncarnationOrder, MemberId, Millis, PackedAttributes, Route,
    Rumor, Status, ATTR_MAX,
};
use super::{Core, RunState};

/// Bound on the membership table (live members and tombstones); news of further members is
/// dropped and counted.
pub const MEMBERS_MAX: usize = 100_000;

/// A `peko_set` member never heard from is dropped after the timeout; while no exchange has
/// brought us a table yet (joining), after this many timeouts.
pub const JOIN_PATIENCE: Millis = 3;

/// Early anti-entropy rounds after members were listed without being rumored on
/// (`Core::sync_soon`): the exchanges carry them on, and keep going until exchanges stop
/// bringing news.
pub const SYNC_SOON_ROUNDS: u32 = 3;

/// A member that joined before it was given its seeds asks one of them this long after the
/// first is given (`Core::set_peer`): long enough for a caller's back-to-back `peko_set` calls.
pub const JOIN_PUSH_SETTLE: Millis = 2;

/// How news about a member reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Via {
    /// A rumor, including a datagram's `Alive` about its own claimed sender: anyone can claim
    /// any sender, so it is introduced within the budget like any other.
    Rumor,
    /// An anti-entropy exchange.
    Sync,
    /// A frame on a connection from the member itself (its own `Alive`, its entry in its own
    /// push-pull): how a member joins, exempt from the introduction budget so a forged table
    /// that spent it cannot keep real members out.
    Itself,
    /// The reply to our own join: the cluster knows these members already, we were the one
    /// missing them. Members new to us are listed quietly (not rumored on), or a member joining
    /// a cluster of N would queue N rumors (`sim rejoin`: 1,000 queued and 268 KB sent instead
    /// of 2 and 13 KB at N = 1000).
    JoinReply,
}

#[derive(Clone, Debug)]
pub(super) struct Member {
    pub incarnation: Incarnation,
    pub status: Status,
    pub attrs: PackedAttributes,
    pub since: Millis,
    /// Added by `peko_set` and not yet confirmed by the member itself or by a rumor: its
    /// incarnation and attributes are only the caller's guess.
    pub placeholder: bool,
    /// A placeholder never heard from: dropped at `deadline`.
    pub unheard: bool,
    /// Listed from the reply to our join and not rumored on (see `Via::JoinReply`).
    pub quiet: bool,
    /// It proved it exists (`Core::verified`): it acked our own probe, or answered on a
    /// connection we opened to it. A datagram naming it as sender is no proof. Gossip, digests
    /// and our own push-pull favour such members, so members a forged table introduced cannot
    /// crowd out the real ones.
    pub direct: bool,
    /// When an unheard placeholder is dropped, or a suspect declared dead; and the distinct
    /// members that suspected it at this incarnation (Lifeguard confirmations).
    pub pending: Pending,
}

impl Member {
    /// A member confirmed alive at `incarnation`.
    pub(super) fn alive(
        incarnation: Incarnation,
        attrs: PackedAttributes,
        now: Millis,
        quiet: bool,
    ) -> Member {
        Member {
            incarnation,
            status: Status::Alive,
            attrs,
            since: now,
            placeholder: false,
            unheard: false,
            quiet,
            direct: false,
            pending: Pending::default(),
        }
    }

    /// Listed, and not a `peko_set` guess still unheard: a member probes, gossip and
    /// anti-entropy may go to.
    pub(super) fn is_live_peer(&self) -> bool {
        self.status.is_listed() && !self.unheard
    }
}

/// The members gossip, probes and anti-entropy may go to (`Member::is_live_peer`), in ring
/// order (`member_hash`). A free function over the table so a caller can borrow the RNG beside it.
pub(super) fn live_peers(members: &Table) -> impl Iterator<Item = MemberId> + Clone + '_ {
    members.live().iter().copied()
}

/// A stable 64-bit hash of a member id (FNV-1a, then a final mix), the same on every build and
/// platform, unlike std's hasher. Without an incarnation it orders the probe ring; with one it
/// makes up the membership digest.
pub(super) fn member_hash(id: &MemberId, incarnation: Option<Incarnation>) -> u64 {
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

impl Core {
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
        1 + self.members.len() - self.members.tombstones()
    }

    /// Members alive and suspected (the local member counts as alive).
    pub fn counts(&self) -> (usize, usize) {
        let suspect = self.members.suspects();
        (self.listed_count() - suspect, suspect)
    }

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
        let mut guess = Member::alive(incarnation, PackedAttributes::pack(&attrs), now, false);
        guess.placeholder = true;
        guess.unheard = true;
        guess.pending.set_deadline(now + self.cfg.timing.timeout);
        self.members.insert(id, guess);
        self.watch.insert(id);
        self.seed_retries = 0;
        self.timers.seed_retry = now + self.first_seed_retry();
        if self.state != RunState::Running {
            return;
        }
        if self.exchanged {
            self.send_push_pull(id, Route::Request);
        } else if !self.join_pushed && self.timers.join_push.is_none() {
            // Joined before its seeds were given (`peko_join`, then `peko_set` for each): like
            // `join`, ask one seed, chosen at random once the caller's next few `set`s are in,
            // rather than each as it comes (with 3 seeds a join storm would have them send 3N
            // tables where N do). The others are asked at the seed retry.
            self.timers.join_push = Some(now + JOIN_PUSH_SETTLE);
        }
    }

    /// For simulations and benches: starts the protocol as if it had long been running, with
    /// `members` already known and alive, and nothing to announce.
    #[cfg(any(test, feature = "sim"))]
    pub fn join_converged(&mut self, now: Millis, members: &[(MemberId, Attributes)]) {
        let me = self.cfg.me;
        self.members.insert_many(
            members
                .iter()
                .filter(|(id, _)| *id != me)
                .map(|(id, attrs)| {
                    let mut m = Member::alive(0, PackedAttributes::pack(attrs), now, false);
                    m.direct = true;
                    (*id, m)
                }),
        );
        self.state = RunState::Running;
        self.reset_timers(now);
    }

    pub(super) fn announce_self(&mut self) {
        self.rumors.push(Rumor::Alive {
            id: self.cfg.me,
            incarnation: self.incarnation,
            attrs: PackedAttributes::pack(&self.cfg.attrs),
        });
    }

    /// The local incarnation, one higher (wrapping: incarnations compare as serial numbers).
    pub(super) fn next_incarnation(&mut self) {
        self.incarnation = self.incarnation.wrapping_add(1);
    }

    /// Answers a claim about us at `accused` with an incarnation one above it: newer than the
    /// claim wherever the claim is held, whatever the two numbers are.
    pub(super) fn refute(&mut self, accused: Incarnation) {
        self.incarnation = accused.wrapping_add(1);
        self.announce_self();
        // Being suspected hints that our own network or host is struggling (Lifeguard).
        self.health.worsen(1);
    }

    /// Whether our current incarnation already refutes a claim at `claimed` wherever it is held:
    /// ours is newer, and near enough to be believed there.
    fn refuted_by_ours(&self, claimed: Incarnation) -> bool {
        IncarnationOrder::of(self.incarnation, claimed) == IncarnationOrder::Newer
    }

    /// Whether an accusation (suspect, dead, left) at `incarnation` names the local member; if it
    /// does and we are running, refute it. An accusation our incarnation already answers (old
    /// news, or a holder that missed or disbelieved our refutation while its view was further
    /// behind) gets our `Alive` again; any other — at ours, ahead of it, or so far behind that
    /// its holders would not believe ours — gets a new incarnation above it.
    pub(super) fn accused_self(&mut self, id: MemberId, incarnation: Incarnation) -> bool {
        if id != self.cfg.me {
            return false;
        }
        if self.state == RunState::Running {
            if self.refuted_by_ours(incarnation) {
                self.announce_self();
            } else {
                self.refute(incarnation);
            }
        }
        true
    }

    /// News that the local member is alive at `incarnation` with `attrs`: a claim ahead of ours
    /// (our earlier life before a restart, or a forgery) or one with other attributes is refuted.
    fn alive_about_self(&mut self, incarnation: Incarnation, attrs: &PackedAttributes) {
        let ours = attrs.name() == self.cfg.attrs.name
            && attrs.private_data() == self.cfg.attrs.private_data;
        match IncarnationOrder::of(incarnation, self.incarnation) {
            IncarnationOrder::Newer | IncarnationOrder::TooFarAhead => self.refute(incarnation),
            IncarnationOrder::Same if !ours => self.refute(incarnation),
            IncarnationOrder::Older if !ours => {
                if self.refuted_by_ours(incarnation) {
                    self.announce_self();
                } else {
                    self.refute(incarnation);
                }
            }
            IncarnationOrder::Same | IncarnationOrder::Older => {}
        }
    }

    /// How a claim at `incarnation` about the known member `id` compares with what we hold;
    /// a claim too far ahead is counted here (the caller drops it).
    pub(super) fn judge(
        &mut self,
        id: &MemberId,
        incarnation: Incarnation,
    ) -> Option<IncarnationOrder> {
        let m = self.members.get(id)?;
        let order = if m.placeholder {
            // A `peko_set` guess: whatever the member says of itself is news.
            IncarnationOrder::Newer
        } else {
            IncarnationOrder::of(incarnation, m.incarnation)
        };
        if order == IncarnationOrder::TooFarAhead {
            self.incarnations_implausible += 1;
        }
        Some(order)
    }

    /// Newer news than an accusation (suspect or dead) of `id` at `incarnation` we were just
    /// told, if we have it: our own `Alive` when the accusation is about us and our incarnation
    /// answers it, or the member's `Alive` when we hold it alive at a later incarnation. Whoever
    /// told us still holds the accusation and will remove a live member when it runs out, unless
    /// the refutation reaches it; by then the rumor that carried the refutation may have been
    /// sent its last time, so the answer to the accusation carries it back (`Core::correct`).
    pub(super) fn correction(&self, id: MemberId, incarnation: Incarnation) -> Option<Rumor> {
        if id == self.cfg.me {
            return (self.state == RunState::Running && self.refuted_by_ours(incarnation)).then(
                || Rumor::Alive {
                    id,
                    incarnation: self.incarnation,
                    attrs: PackedAttributes::pack(&self.cfg.attrs),
                },
            );
        }
        let m = self.members.get(&id)?;
        let newer = IncarnationOrder::of(m.incarnation, incarnation) == IncarnationOrder::Newer;
        (m.status == Status::Alive && !m.placeholder && newer).then(|| Rumor::Alive {
            id,
            incarnation: m.incarnation,
            attrs: m.attrs.clone(),
        })
    }

    /// What we hold against `id` (suspected, dead or left), as the rumor that says so: a member
    /// that pings us while we hold it failed learns it from our ack, and can refute.
    pub(super) fn accusation_of(&self, id: MemberId) -> Option<Rumor> {
        let m = self.members.get(&id)?;
        match m.status {
            Status::Alive => None,
            Status::Suspect => self.suspicion_of(id),
            Status::Dead => Some(Rumor::Dead {
                id,
                incarnation: m.incarnation,
                from: self.cfg.me,
            }),
            Status::Left => Some(Rumor::Left {
                id,
                incarnation: m.incarnation,
            }),
        }
    }

    /// A message that names `id` as its sender arrived: a `peko_set` guess is confirmed (it is
    /// no longer dropped at its deadline). It proves nothing more: by datagram, anyone can name
    /// any sender (`verified` is for proof).
    pub(super) fn heard_from(&mut self, id: MemberId) {
        if let Some(mut m) = self.members.get_mut(&id) {
            if std::mem::take(&mut m.unheard) && m.status != Status::Suspect {
                self.watch.remove(&id);
            }
        }
    }

    /// `id` proved it is there: it acked our own probe, or answered on a connection we opened to
    /// it. Gossip, digests and our push-pull favour such members (`Member::direct`), and a
    /// metadata announcement by datagram is fetched only from one.
    pub(super) fn verified(&mut self, id: MemberId) {
        self.heard_from(id);
        if let Some(mut m) = self.members.get_mut(&id) {
            m.direct = true;
        }
    }

    /// Whether `id` is listed and has proved it is there (`verified`).
    pub(super) fn is_verified(&self, id: &MemberId) -> bool {
        self.members
            .get(id)
            .is_some_and(|m| m.direct && m.status.is_listed())
    }

    pub(super) fn apply_alive(
        &mut self,
        now: Millis,
        id: MemberId,
        incarnation: Incarnation,
        attrs: PackedAttributes,
        via: Via,
    ) {
        if id == self.cfg.me {
            self.alive_about_self(incarnation, &attrs);
            return;
        }
        // What we hold already, the common case of a merge or a rumor still spreading: one
        // lookup, nothing else (the checks below would find the same). Whether we hold it at
        // all is kept from the same lookup: nothing below adds or removes members before the
        // entry is written.
        let held = match self.members.get(&id) {
            Some(m) if !m.placeholder && !m.quiet && m.incarnation == incarnation => return,
            found => found.is_some(),
        };
        if attrs.name().len() > ATTR_MAX || attrs.private_data().len() > ATTR_MAX {
            return;
        }
        if self.members.len() >= MEMBERS_MAX && !held {
            self.members_refused += 1;
            return;
        }
        // A member new to us is rumored on only while the rumor path has room: news from an
        // exchange is spread by exchanges, and in a join storm (a deep rumor queue) rumors
        // about every joiner from every member would cost N² sends; anti-entropy carries them
        // instead, sooner (`Core::sync_soon`).
        let spread_new = match via {
            Via::JoinReply | Via::Sync => false,
            Via::Rumor => self.rumor_room(now),
            Via::Itself => true,
        };
        let quiet = via == Via::JoinReply;
        if !held
            && !matches!(via, Via::Itself | Via::JoinReply)
            && !self.introductions.take(now, self.cfg.timing.push_pull)
        {
            self.introductions_refused += 1;
            return;
        }
        let order = self.judge(&id, incarnation);
        if matches!(
            order,
            Some(IncarnationOrder::Older | IncarnationOrder::TooFarAhead)
        ) {
            return;
        }
        // What to tell the host, and whether to pass the news on as a rumor.
        let room = via == Via::Itself || self.rumor_room(now);
        let (event, spread) = if !held {
            let news = self.news_at(now);
            news[1] = news[1].saturating_add(1);
            let m = Member::alive(incarnation, attrs.clone(), now, quiet);
            self.members.insert(id, m);
            // Listed without a rumor: exchanges carry it on. That includes the reply to our
            // own join: in a join storm the seed knew only part of the cluster when it
            // answered, and a joiner that ran no early rounds of its own would wait for the
            // periodic round for the rest (few members pick a joiner nobody has verified).
            // Heard by rumor: with probability fan-out / N, one early exchange checks that we
            // miss nothing else (a rumor that died out before it reached everyone would
            // otherwise wait for a periodic round); about `amount` members do it per join.
            if !spread_new {
                self.sync_soon = SYNC_SOON_ROUNDS;
            } else if via == Via::Rumor {
                let n = self.members.len().max(1);
                if self.rng.below(n as u64) < self.cfg.amount as u64 {
                    self.sync_soon = self.sync_soon.max(1);
                }
            }
            (Some(Event::Joined(id, attrs.unpack())), spread_new)
        } else {
            let Some(mut m) = self.members.get_mut(&id) else {
                return;
            };
            if order == Some(IncarnationOrder::Same) && !m.placeholder {
                // A rumor still spreading about a member we listed quietly: take our part
                // in it, as if it had been news to us, so it reaches every member; past the
                // rumor backlog anti-entropy carries it instead (as for a member new to us).
                let rumor = matches!(via, Via::Rumor | Via::Itself);
                if !(m.quiet && rumor && incarnation == m.incarnation) {
                    return;
                }
                m.quiet = false;
                if !room {
                    self.sync_soon = SYNC_SOON_ROUNDS;
                }
                (None, room)
            } else {
                // Known to us but news for the cluster (a refutation, new attributes, a
                // placeholder confirmed): spread even from a join reply.
                m.quiet = false;
                let event = if m.placeholder || !m.status.is_listed() {
                    Some(Event::Joined(id, attrs.unpack()))
                } else if m.attrs != attrs {
                    Some(Event::Updated(id, attrs.unpack()))
                } else {
                    None
                };
                m.incarnation = incarnation;
                m.status = Status::Alive;
                m.attrs = attrs.clone();
                m.since = now;
                m.placeholder = false;
                m.unheard = false;
                // Alive and confirmed: no deadline or accusers apply any more.
                m.pending = Pending::default();
                self.watch.remove(&id);
                (event, true)
            }
        };
        if let Some(event) = event {
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

    /// `id` was declared dead by `from`, or left (`status` is `Dead` or `Left`).
    pub(super) fn apply_dead(
        &mut self,
        now: Millis,
        id: MemberId,
        incarnation: Incarnation,
        status: Status,
        from: MemberId,
    ) {
        if self.accused_self(id, incarnation) {
            return;
        }
        if !self.members.get(&id).is_some_and(|m| m.status.is_listed()) {
            return;
        }
        if !matches!(
            self.judge(&id, incarnation),
            Some(IncarnationOrder::Same | IncarnationOrder::Newer)
        ) {
            return;
        }
        let Some(mut m) = self.members.get_mut(&id) else {
            return;
        };
        m.status = status;
        m.incarnation = incarnation;
        m.since = now;
        m.placeholder = false;
        m.unheard = false;
        drop(m);
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

    /// Suspects whose suspicion ran out are declared dead; `peko_set` guesses never heard from
    /// are dropped.
    pub(super) fn check_deadlines(&mut self, now: Millis) {
        if self.watch.is_empty() {
            return;
        }
        let ids: Vec<MemberId> = self.watch.iter().copied().collect();
        let newcomer = !self.exchanged;
        for id in ids {
            let Some(m) = self.members.get(&id) else {
                self.watch.remove(&id);
                continue;
            };
            let patience = JOIN_PATIENCE * self.cfg.timing.timeout;
            if m.unheard && now >= m.pending.deadline() && newcomer && now < m.since + patience {
                // No exchange has brought us the cluster's table yet (rumors may have named a
                // few members): we cannot tell a seed that is down from one too busy to answer
                // us (a join storm), so it gets longer, and more spaced retries
                // (`retry_seeds`), before we call it failed.
                let deadline = (now + self.cfg.timing.timeout).min(m.since + patience);
                if let Some(mut m) = self.members.get_mut(&id) {
                    m.pending.set_deadline(deadline);
                }
            } else if m.unheard && now >= m.pending.deadline() {
                // Never heard from: the caller's guess was wrong (or the member is down).
                self.members.remove(&id);
                self.watch.remove(&id);
                self.push_event(Event::Failed(id));
            } else if m.status == Status::Suspect && now >= m.pending.deadline() {
                let incarnation = m.incarnation;
                self.apply_dead(now, id, incarnation, Status::Dead, self.cfg.me);
            } else if m.status != Status::Suspect && !m.unheard {
                self.watch.remove(&id);
            }
        }
    }

    pub(super) fn collect_tombstones(&mut self, now: Millis) {
        let ttl = self.cfg.timing.tombstone;
        if self.members.tombstones() == 0 {
            return;
        }
        self.members
            .retain(|_, m| m.status.is_listed() || now < m.since + ttl);
    }
}
