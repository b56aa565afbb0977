//! The membership table's storage: the members by id, and the indexes the protocol reads every
//! round kept beside them, so that no round walks the whole table. At a thousand members a walk
//! costs ~0.2 ms (the entries are spread over memory), and a gossip round, a probe and an
//! anti-entropy round each made one, several times a second in every member of a process.
//!
//! - `ring`: the live peers (`Member::is_live_peer`) ordered by `member_hash`: the probe ring's
//!   successor, and uniform sampling by index (any order samples uniformly);
//! - `ring_direct`: beside each of them, whether it proved it exists (`Member::direct`), and
//!   how many did;
//! - `digest`: the XOR of `member_hash(id, incarnation)` over listed, confirmed members;
//! - `tombstones`: how many entries are not listed (dead or left), so that forgetting old ones
//!   costs nothing when there are none;
//! - `suspects`: how many are suspected, so that counting the listed members (`peko_stats`,
//!   `members_alive`, which a host may poll for every member it runs) walks nothing.
//!
//! One id and one flag per live peer: 33 bytes a member, 33 MB for the N^2 entries of a
//! thousand-member process (`bench --storm`).
//!
//! Every change goes through `insert`, `remove`, `retain`, `for_each_mut` or the guard `get_mut`
//! returns, which compares what the entry contributed before and after and updates the indexes
//! on drop.

use super::random::Rng;
use super::state::{member_hash, Member};
use super::types::{MemberId, Status};
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

/// What one entry contributes to the indexes.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
struct Marks {
    live: bool,
    direct: bool,
    /// `member_hash(id, incarnation)` when it counts in the digest, else 0.
    digest: u64,
    tombstone: bool,
    suspect: bool,
}

impl Marks {
    fn of(id: &MemberId, m: &Member) -> Marks {
        let live = m.is_live_peer();
        Marks {
            live,
            direct: live && m.direct,
            digest: if m.status.is_listed() && !m.placeholder {
                member_hash(id, Some(m.incarnation))
            } else {
                0
            },
            tombstone: !m.status.is_listed(),
            suspect: m.status == Status::Suspect,
        }
    }
}

#[derive(Default, Debug, PartialEq, Eq)]
struct Index {
    ring: Vec<MemberId>,
    ring_direct: Vec<bool>,
    direct: usize,
    digest: u64,
    tombstones: usize,
    suspects: usize,
}

/// Where `id` is, or would go, on the ring: ordered by `member_hash`, ties by id.
fn ring_position(ring: &[MemberId], id: &MemberId) -> Result<usize, usize> {
    let key = (member_hash(id, None), *id);
    ring.binary_search_by(|x| (member_hash(x, None), *x).cmp(&key))
}

impl Index {
    /// The indexes of `map`, built from scratch, with no spare capacity.
    #[cfg(any(test, feature = "sim"))]
    fn build(map: &BTreeMap<MemberId, Member>) -> Index {
        let mut index = Index::default();
        let mut ring: Vec<(u64, MemberId, bool)> = Vec::new();
        for (id, m) in map {
            let marks = Marks::of(id, m);
            index.digest ^= marks.digest;
            index.tombstones += marks.tombstone as usize;
            index.suspects += marks.suspect as usize;
            index.direct += marks.direct as usize;
            if marks.live {
                ring.push((member_hash(id, None), *id, marks.direct));
            }
        }
        ring.sort_unstable();
        index.ring = ring.iter().map(|(_, id, _)| *id).collect();
        index.ring_direct = ring.iter().map(|(_, _, d)| *d).collect();
        index
    }

    fn update(&mut self, id: &MemberId, before: Marks, after: Marks) {
        if before == after {
            return;
        }
        if before.live != after.live || before.direct != after.direct {
            match (ring_position(&self.ring, id), after.live) {
                (Err(at), true) => {
                    self.ring.insert(at, *id);
                    self.ring_direct.insert(at, after.direct);
                }
                (Ok(at), true) => self.ring_direct[at] = after.direct,
                (Ok(at), false) => {
                    self.ring.remove(at);
                    self.ring_direct.remove(at);
                }
                (Err(_), false) => {}
            }
            self.direct = self.direct + after.direct as usize - before.direct as usize;
        }
        self.digest ^= before.digest ^ after.digest;
        self.tombstones = self.tombstones + after.tombstone as usize - before.tombstone as usize;
        self.suspects = self.suspects + after.suspect as usize - before.suspect as usize;
    }
}

#[derive(Default)]
pub(super) struct Table {
    map: BTreeMap<MemberId, Member>,
    index: Index,
    /// Members added since the tree was last packed (`pack`).
    grown: usize,
}

/// A member borrowed for change: the indexes follow whatever changed when it is dropped.
pub(super) struct MemberMut<'a> {
    id: MemberId,
    before: Marks,
    member: &'a mut Member,
    index: &'a mut Index,
}

impl Deref for MemberMut<'_> {
    type Target = Member;
    fn deref(&self) -> &Member {
        self.member
    }
}

impl DerefMut for MemberMut<'_> {
    fn deref_mut(&mut self) -> &mut Member {
        self.member
    }
}

impl Drop for MemberMut<'_> {
    fn drop(&mut self) {
        let after = Marks::of(&self.id, self.member);
        self.index.update(&self.id, self.before, after);
    }
}

impl Table {
    pub fn get(&self, id: &MemberId) -> Option<&Member> {
        self.map.get(id)
    }

    pub fn get_mut(&mut self, id: &MemberId) -> Option<MemberMut<'_>> {
        let index = &mut self.index;
        self.map.get_mut(id).map(|member| MemberMut {
            id: *id,
            before: Marks::of(id, member),
            member,
            index,
        })
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn iter(&self) -> std::collections::btree_map::Iter<'_, MemberId, Member> {
        self.map.iter()
    }

    pub fn values(&self) -> std::collections::btree_map::Values<'_, MemberId, Member> {
        self.map.values()
    }

    pub fn insert(&mut self, id: MemberId, m: Member) -> Option<Member> {
        let after = Marks::of(&id, &m);
        let old = self.map.insert(id, m);
        self.grown += usize::from(old.is_none());
        let before = old.as_ref().map_or(Marks::default(), |o| Marks::of(&id, o));
        self.index.update(&id, before, after);
        old
    }

    /// Inserts many entries, then builds the indexes once: one sorted insert per entry would
    /// move half the ring each time (the simulator's converged start of 10,000 members). Into
    /// an empty table the entries are bulk-built, which packs the tree's nodes full; inserted
    /// one by one in order, the nodes split and stay about half full, and the simulator's
    /// 10,000 tables of 10,000 members each did not fit in this machine's 24 GB.
    #[cfg(any(test, feature = "sim"))]
    pub fn insert_many(&mut self, entries: impl IntoIterator<Item = (MemberId, Member)>) {
        if self.map.is_empty() {
            self.map = entries.into_iter().collect();
        } else {
            self.map.extend(entries);
        }
        self.index = Index::build(&self.map);
    }

    /// Members added since the tree was last packed.
    pub fn grown(&self) -> usize {
        self.grown
    }

    /// Rebuilds the tree from its entries in order, which packs its nodes full: a table filled
    /// by the sorted runs of push-pulls (a join storm) keeps its nodes about half full
    /// (`insert_many`). The indexes hold ids, not positions in the tree: they stay as they are.
    pub fn pack(&mut self) {
        self.map = std::mem::take(&mut self.map).into_iter().collect();
        self.grown = 0;
    }

    pub fn remove(&mut self, id: &MemberId) -> Option<Member> {
        let old = self.map.remove(id)?;
        self.index.update(id, Marks::of(id, &old), Marks::default());
        Some(old)
    }

    /// Keeps the entries `keep` accepts; `keep` sees each entry but may not change it.
    pub fn retain(&mut self, mut keep: impl FnMut(&MemberId, &Member) -> bool) {
        let index = &mut self.index;
        self.map.retain(|id, m| {
            let k = keep(id, m);
            if !k {
                index.update(id, Marks::of(id, m), Marks::default());
            }
            k
        });
    }

    /// Calls `f` on every entry, for a change to many at once.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&MemberId, &mut Member)) {
        for (id, m) in self.map.iter_mut() {
            let before = Marks::of(id, m);
            f(id, m);
            self.index.update(id, before, Marks::of(id, m));
        }
    }

    /// The live peers, in ring order (`member_hash`).
    pub fn live(&self) -> &[MemberId] {
        &self.index.ring
    }

    /// How many live peers proved they exist (`Member::direct`).
    pub fn direct_count(&self) -> usize {
        self.index.direct
    }

    /// A live peer that proved it exists, uniformly; `None` when there is none.
    pub fn choose_direct(&self, rng: &mut Rng) -> Option<MemberId> {
        self.choose_where(rng, true, None)
    }

    /// A live peer other than `except` that has not proved it exists, uniformly; `None` when
    /// there is none.
    pub fn choose_unverified(&self, rng: &mut Rng, except: &MemberId) -> Option<MemberId> {
        self.choose_where(rng, false, Some(except))
    }

    /// A live peer whose verified flag is `direct`, other than `except`, uniformly: one random
    /// number, and no lookup in the table.
    fn choose_where(
        &self,
        rng: &mut Rng,
        direct: bool,
        except: Option<&MemberId>,
    ) -> Option<MemberId> {
        let ring = &self.index.ring;
        let matching = || {
            (0..ring.len())
                .filter(move |&i| self.index.ring_direct[i] == direct && Some(&ring[i]) != except)
        };
        let count = match (direct, except) {
            (true, None) => self.index.direct,
            _ => matching().count(),
        };
        if count == 0 {
            return None;
        }
        let k = rng.below(count as u64) as usize;
        matching().nth(k).map(|i| ring[i])
    }

    /// The live peer after `hash` on the ring, wrapping to the first; `None` when there are no
    /// live peers.
    pub fn ring_after(&self, hash: u64) -> Option<MemberId> {
        self.ring_from(hash).next()
    }

    /// The live peers in ring order from the first after `hash`, wrapping, each once.
    pub fn ring_from(&self, hash: u64) -> impl Iterator<Item = MemberId> + Clone + '_ {
        let ring = &self.index.ring;
        let at = ring.partition_point(|id| member_hash(id, None) <= hash);
        ring[at..].iter().chain(&ring[..at]).copied()
    }

    /// XOR of `member_hash(id, Some(incarnation))` over the listed members that are not
    /// `peko_set` guesses.
    pub fn digest(&self) -> u64 {
        self.index.digest
    }

    /// Entries not listed (dead or left members kept as tombstones).
    pub fn tombstones(&self) -> usize {
        self.index.tombstones
    }

    /// Entries listed as suspected.
    pub fn suspects(&self) -> usize {
        self.index.suspects
    }

    /// The indexes rebuilt from the entries, compared with the ones kept (tests run it after
    /// every step of the core).
    #[cfg(test)]
    pub fn check(&self) {
        let mut fresh = Index::default();
        for (id, m) in &self.map {
            fresh.update(id, Marks::default(), Marks::of(id, m));
        }
        assert_eq!(
            fresh, self.index,
            "the table's indexes drifted from its entries"
        );
        assert_eq!(
            Index::build(&self.map),
            self.index,
            "a rebuilt index differs"
        );
    }
}

impl<'a> IntoIterator for &'a Table {
    type Item = (&'a MemberId, &'a Member);
    type IntoIter = std::collections::btree_map::Iter<'a, MemberId, Member>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl std::ops::Index<&MemberId> for Table {
    type Output = Member;
    fn index(&self, id: &MemberId) -> &Member {
        &self.map[id]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::random::Rng;
    use crate::proto::types::{PackedAttributes, Status};

    /// Packing rebuilds the tree and nothing else: the same entries, the same indexes, and the
    /// count of members added since starts again.
    #[test]
    fn packing_keeps_every_entry_and_index() {
        let mut t = Table::default();
        for p in (1..200u16).rev() {
            let id: MemberId = format!("127.0.0.1:{p}").parse().unwrap();
            let mut m = Member::alive(u32::from(p % 7), PackedAttributes::default(), 0, false);
            m.direct = p % 3 == 0;
            if p % 11 == 0 {
                m.status = Status::Dead;
            }
            t.insert(id, m);
        }
        assert_eq!(t.grown(), 199);
        // `Member` has no `PartialEq`: its debug form names every field.
        let entries = format!("{:?}", t.iter().collect::<Vec<_>>());
        let (digest, live) = (t.digest(), t.live().to_vec());
        t.pack();
        assert_eq!(t.grown(), 0);
        assert_eq!(format!("{:?}", t.iter().collect::<Vec<_>>()), entries);
        assert_eq!((t.digest(), t.live().to_vec()), (digest, live));
        t.check();
    }

    /// A table entry stays within 56 bytes (64 with the deadline beside the other fields): the
    /// N^2 entries of a process that runs many members are most of its memory.
    #[test]
    fn a_member_entry_takes_at_most_56_bytes() {
        assert!(
            std::mem::size_of::<Member>() <= 56,
            "{}",
            std::mem::size_of::<Member>()
        );
    }

    /// Random inserts, changes and removals: after each, the kept indexes equal the ones rebuilt
    /// from the entries.
    #[test]
    fn indexes_follow_every_change() {
        let mut rng = Rng::seed(11);
        let mut t = Table::default();
        let ids: Vec<MemberId> = (1..40u16)
            .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
            .collect();
        let statuses = [Status::Alive, Status::Suspect, Status::Dead, Status::Left];
        for step in 0..5_000 {
            let id = ids[rng.below(ids.len() as u64) as usize];
            match rng.below(6) {
                0 => {
                    let m = Member::alive(
                        rng.below(4) as u32,
                        PackedAttributes::default(),
                        step,
                        false,
                    );
                    t.insert(id, m);
                }
                1 => {
                    t.remove(&id);
                }
                2 => t.retain(|_, m| m.status.is_listed() || m.incarnation % 2 == 0),
                3 => t.for_each_mut(|_, m| m.incarnation = m.incarnation.wrapping_add(1)),
                _ => {
                    if let Some(mut m) = t.get_mut(&id) {
                        m.status = statuses[rng.below(4) as usize];
                        m.direct = rng.below(2) == 0;
                        m.unheard = rng.below(3) == 0;
                        m.placeholder = rng.below(3) == 0;
                        m.incarnation = rng.below(4) as u32;
                    }
                }
            }
            t.check();
        }
        assert!(!t.live().is_empty() || t.len() == 0);
    }

    #[test]
    fn ring_after_wraps_to_the_first() {
        let mut t = Table::default();
        assert_eq!(t.ring_after(0), None);
        let ids: Vec<MemberId> = (1..6u16)
            .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
            .collect();
        for id in &ids {
            t.insert(*id, Member::alive(0, PackedAttributes::default(), 0, false));
        }
        let mut ring: Vec<(u64, MemberId)> =
            ids.iter().map(|id| (member_hash(id, None), *id)).collect();
        ring.sort();
        for (i, (h, _)) in ring.iter().enumerate() {
            assert_eq!(t.ring_after(*h), Some(ring[(i + 1) % ring.len()].1));
        }
        assert_eq!(t.ring_after(u64::MAX), Some(ring[0].1));
    }

    /// `choose_direct` picks only verified live peers, each of them; `choose_unverified` the
    /// other live peers but the one it is told to leave out.
    #[test]
    fn choose_direct_picks_every_verified_live_peer_and_no_other() {
        let mut t = Table::default();
        let mut rng = Rng::seed(3);
        assert_eq!(t.choose_direct(&mut rng), None);
        let ids: Vec<MemberId> = (1..30u16)
            .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let mut m = Member::alive(0, PackedAttributes::default(), 0, false);
            m.direct = i % 3 == 0;
            if i % 5 == 0 {
                m.status = Status::Dead;
            }
            t.insert(*id, m);
        }
        let want: std::collections::BTreeSet<MemberId> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == 0 && i % 5 != 0)
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(t.direct_count(), want.len());
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1_000 {
            seen.insert(t.choose_direct(&mut rng).unwrap());
        }
        assert_eq!(seen, want);
        let except = ids[1];
        let want: std::collections::BTreeSet<MemberId> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0 && i % 5 != 0 && *i != 1)
            .map(|(_, id)| *id)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1_000 {
            seen.insert(t.choose_unverified(&mut rng, &except).unwrap());
        }
        assert_eq!(seen, want);
    }
}
