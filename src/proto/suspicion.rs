//! Suspicion (SWIM with Lifeguard): a member that failed a probe is suspected, not removed; it can
//! refute by raising its incarnation. The suspicion timeout starts at its longest and shrinks as
//! independent members confirm the suspicion.

use super::timing::Timing;
use super::types::{Incarnation, IncarnationOrder, MemberId, Millis, Rumor, Status};
use super::Core;

/// Independent confirmations that bring a suspicion down to its shortest timeout.
pub const SUSPICION_CONFIRMATIONS: usize = 3;

/// What only some members carry: when a `peko_set` guess never heard from is dropped or a
/// suspect declared dead (`deadline`), and the distinct members that suspected it at its current
/// incarnation (at most `SUSPICION_CONFIRMATIONS + 1`). Boxed, so a member that has neither (most
/// of them) costs one pointer in every table entry: with the deadline beside the other fields a
/// table entry took 64 bytes, now 56 (`Member`), 8% less memory for the N^2 entries of a process
/// that runs many members. The box stays once made (only members that were suspected or were
/// guesses have one) until the member is confirmed alive again (`apply_alive`).
#[derive(Clone, Debug, Default)]
pub struct Pending(Option<Box<PendingInner>>);

#[derive(Clone, Debug, Default)]
struct PendingInner {
    deadline: Millis,
    accusers: Vec<MemberId>,
}

impl Pending {
    /// 0 when none was set.
    pub fn deadline(&self) -> Millis {
        self.0.as_ref().map_or(0, |p| p.deadline)
    }
    pub fn set_deadline(&mut self, at: Millis) {
        self.inner().deadline = at;
    }
    pub fn accused_by(&self, id: &MemberId) -> bool {
        self.0.as_ref().is_some_and(|p| p.accusers.contains(id))
    }
    pub fn accusers(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.accusers.len())
    }
    pub fn accuse(&mut self, id: MemberId) {
        self.inner().accusers.push(id);
    }
    pub fn clear_accusers(&mut self) {
        if let Some(p) = self.0.as_mut() {
            p.accusers = Vec::new();
        }
    }
    pub fn first_accuser(&self) -> Option<&MemberId> {
        self.0.as_ref().and_then(|p| p.accusers.first())
    }
    fn inner(&mut self) -> &mut PendingInner {
        self.0.get_or_insert_with(Default::default)
    }
}

impl Timing {
    /// The range of the suspicion timeout for N members: `(floor, longest)`.
    ///
    /// The longest is what the timeout leaves after detection and the spread of the news, so a
    /// silent member is gone everywhere within `timeout`. The floor is long enough that a member
    /// silent for half the timeout (a pause) can resume and refute before anyone removes it; it
    /// grows with log N because the refutation needs that long to spread. When the timeout is too
    /// short for both (with P = 2 * timeout / 9: timeout < (2 * spread + cycle) / 0.28, about 47
    /// cycles at N = 1000 and fan-out 3), removal within `timeout` wins.
    pub fn suspicion_bounds(&self, members: usize) -> (Millis, Millis) {
        let spread = self.spread(members);
        let p = self.probe_interval;
        let longest = self
            .timeout
            .saturating_sub(self.detection_max() + spread)
            .max(p);
        let floor = (self.timeout / 2 + spread + self.cycle)
            .saturating_sub(p * 9 / 10)
            .clamp(p.min(longest), longest);
        (floor, longest)
    }

    /// Lifeguard's dynamic suspicion timeout: it starts at the longest and shrinks as
    /// independent members confirm the suspicion, down to the floor (`suspicion_bounds`).
    pub fn suspicion_for(&self, members: usize, confirmations: usize) -> Millis {
        let (min, max) = self.suspicion_bounds(members);
        let k = SUSPICION_CONFIRMATIONS.min(members.saturating_sub(2));
        if k == 0 {
            return max;
        }
        let frac = ((confirmations as f64) + 1.0).ln() / ((k as f64) + 1.0).ln();
        let t = max as f64 - (max - min) as f64 * frac.min(1.0);
        (t as Millis).max(min)
    }
}

impl Core {
    /// `from` suspects `id` at `incarnation` (a rumor, a merge, or our own failed probe).
    pub(super) fn apply_suspect(
        &mut self,
        now: Millis,
        id: MemberId,
        incarnation: Incarnation,
        from: MemberId,
    ) {
        if self.accused_self(id, incarnation) {
            return;
        }
        let members = self.members.len() + 1;
        let timing = self.cfg.timing;
        // A `peko_set` guess never heard from has its own deadline; it cannot be suspected.
        if !self
            .members
            .get(&id)
            .is_some_and(|m| !m.unheard && m.status.is_listed())
        {
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
        if m.status == Status::Suspect && incarnation == m.incarnation {
            // A confirmation from another member shortens the timeout, and is passed on.
            if from == id
                || m.pending.accused_by(&from)
                || m.pending.accusers() > SUSPICION_CONFIRMATIONS
            {
                return;
            }
            m.pending.accuse(from);
            let at = m.since + timing.suspicion_for(members, m.pending.accusers() - 1);
            m.pending.set_deadline(at);
        } else {
            m.status = Status::Suspect;
            m.incarnation = incarnation;
            m.since = now;
            m.pending.clear_accusers();
            if from != id {
                m.pending.accuse(from);
            }
            m.pending
                .set_deadline(now + timing.suspicion_for(members, 0));
            self.watch.insert(id);
        }
        self.rumors.push(Rumor::Suspect {
            id,
            incarnation,
            from,
        });
    }

    /// The suspicion a probe to a suspect carries, so the suspect can refute at once.
    pub(super) fn suspicion_of(&self, target: MemberId) -> Option<Rumor> {
        self.members.get(&target).and_then(|m| {
            (m.status == Status::Suspect).then(|| Rumor::Suspect {
                id: target,
                incarnation: m.incarnation,
                from: m.pending.first_accuser().copied().unwrap_or(self.cfg.me),
            })
        })
    }
}
