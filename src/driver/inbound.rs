//! Inbound TCP connections of every member in the process, and their caps: per member and
//! source address, per member, and a descriptor budget for the whole process taken from
//! RLIMIT_NOFILE. A new connection over a cap closes the least recently active idle connection
//! under that cap (the one from the same source first), so idle connections cannot lock real
//! peers out; over the per-member and process caps, failing that, one silent for `SILENT_MS`.
//! A connection with work in hand (an answer held, a request not read yet) is never closed for
//! a newcomer: when nothing else can go, the newcomer is refused.

use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Inbound connections one member keeps from one source address: half of `PER_MEMBER_MAX`, so
/// one source cannot take them all, and generous because all members of a process on one host
/// share their source address. In `bench --storm` (1,000 members in one process, each seed
/// sent about 330 join push-pulls within 0.2 s) a cap of 64 closed 150-200 connections at the
/// seeds before their push was read, and those joiners listed only themselves and their seeds
/// for one to four seconds (80-260 joiners had no table a probe interval after joining); with
/// 128, and the newcomer refused rather than a connection with work in hand closed, six runs
/// had 0-14 joiners ask a seed again and refused 0-11 connections in all.
pub const PER_SOURCE_MAX: usize = 128;
/// Inbound connections one member keeps.
pub const PER_MEMBER_MAX: usize = 256;
/// The process's inbound connections may use this share of RLIMIT_NOFILE (the rest is for the
/// members' own sockets, their outbound connections and the host program)...
const BUDGET_SHARE: (u64, u64) = (1, 2);
/// ...within these bounds.
const BUDGET_MIN: usize = 16;
const BUDGET_MAX: usize = 1 << 16;

/// How many inbound connections the whole process keeps: half of RLIMIT_NOFILE's soft limit,
/// read once, when the first member accepts a connection.
pub fn process_budget() -> usize {
    static BUDGET: Lazy<usize> = Lazy::new(|| {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit through a valid pointer.
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target
        let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
            r.rlim_cur as u64
        } else {
            1024
        };
        let share = soft.saturating_mul(BUDGET_SHARE.0) / BUDGET_SHARE.1;
        (share.min(BUDGET_MAX as u64) as usize).max(BUDGET_MIN)
    });
    *BUDGET
}

static EPOCH: Lazy<Instant> = Lazy::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

struct Entry {
    member: u64,
    source: IpAddr,
    active: Arc<AtomicU64>,
    evict: CancellationToken,
    admitted_at: u64,
    work: Arc<Work>,
}

/// A connection admitted this long ago without a frame handled is idle, as one whose frames
/// have all been answered is (a real request is read well within it).
const STALE_MS: u64 = 5_000;
/// Over the per-member and process caps, a connection silent this long (no frame handled, no
/// answer held) may be closed for a newcomer from another source when no idle one is left:
/// many silent sources then hold a member's slots for a second, not `STALE_MS`, while a
/// request that waits to be read in a join storm (up to about half a second in `bench
/// --storm` at 1,000 members) keeps its place.
const SILENT_MS: u64 = 1_000;

/// What a connection has in hand, for choosing which to close: frames handled on it, and bytes
/// of answers held for writing on it (its write queue counts them).
#[derive(Default)]
pub struct Work {
    handled: AtomicU64,
    held: Arc<AtomicUsize>,
}

impl Entry {
    /// Nothing would be lost by closing it: no answer waits to be written on it, and it has
    /// either had its frames handled or sent none for `silent` ms.
    fn idle(&self, now: u64, silent: u64) -> bool {
        self.work.held.load(Ordering::Relaxed) == 0
            && (self.work.handled.load(Ordering::Relaxed) > 0
                || now.saturating_sub(self.admitted_at) >= silent)
    }
}

#[derive(Default)]
struct Registry {
    next: u64,
    conns: HashMap<u64, Entry>,
    per_member: HashMap<u64, usize>,
    per_source: HashMap<(u64, IpAddr), usize>,
}

static REGISTRY: Lazy<Mutex<Registry>> = Lazy::new(Default::default);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.conns.remove(&id)?;
        decrement(&mut self.per_member, e.member);
        decrement(&mut self.per_source, (e.member, e.source));
        Some(e)
    }

    /// The connection to close among those `pick` selects: the least recently active of the
    /// idle ones (`Entry::idle`, silent for `STALE_MS`), else, with `silent`, of those silent
    /// for that long. None when every one has work in hand (an answer held for writing, or a
    /// request not read yet that has not waited that long): the newcomer is refused instead.
    /// Closing one of them would lose work as surely, after its sender had waited longer and
    /// often after the answer was made.
    fn least_active(
        &self,
        now: u64,
        pick: impl Fn(&Entry) -> bool,
        silent: Option<u64>,
    ) -> Option<u64> {
        let oldest = |silent: u64| {
            self.conns
                .iter()
                .filter(|(_, e)| pick(e) && e.idle(now, silent))
                .min_by_key(|(id, e)| (e.active.load(Ordering::Relaxed), **id))
                .map(|(id, _)| *id)
        };
        oldest(STALE_MS).or_else(|| silent.and_then(oldest))
    }
}

fn decrement<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, k: K) {
    if let Some(n) = counts.get_mut(&k) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&k);
        }
    }
}

/// An admitted connection: its place in the registry, left when dropped.
pub struct Admitted {
    id: u64,
    active: Arc<AtomicU64>,
    evict: CancellationToken,
    work: Arc<Work>,
}

impl Admitted {
    /// Marks the connection active now (a frame arrived).
    pub fn touch(&self) {
        self.active.store(now_ms(), Ordering::Relaxed);
    }

    /// A frame read on this connection has been handled.
    pub fn handled(&self) {
        self.work.handled.fetch_add(1, Ordering::Relaxed);
    }

    /// The counter of bytes held for writing on this connection, for its write queue to keep.
    pub fn held(&self) -> Arc<AtomicUsize> {
        self.work.held.clone()
    }

    /// Completes when the connection was closed to make room for another.
    pub async fn evicted(&self) {
        self.evict.cancelled().await
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        registry().remove(self.id);
    }
}

/// Admits a connection to `member` (a `Pool`'s serial) from `source`, closing the least
/// recently active one under the first cap it would exceed; `None` when it is refused.
pub fn admit(member: u64, source: IpAddr) -> Option<Admitted> {
    let budget = process_budget();
    let (id, active, evict, work) = registry().admit(member, source, budget, now_ms())?;
    Some(Admitted {
        id,
        active,
        evict,
        work,
    })
}

impl Registry {
    fn admit(
        &mut self,
        member: u64,
        source: IpAddr,
        budget: usize,
        now: u64,
    ) -> Option<(u64, Arc<AtomicU64>, CancellationToken, Arc<Work>)> {
        let from_source = self.per_source.get(&(member, source)).copied();
        let victim = if from_source.unwrap_or(0) >= PER_SOURCE_MAX {
            // Within one source, first come first served: when every connection from it has
            // work in hand the newcomer is refused, not one whose request waited longer (a
            // source can only hold up itself, and a connection that sends nothing is idle
            // after `STALE_MS`).
            Some(self.least_active(now, |e| e.member == member && e.source == source, None))
        } else if self.per_member.get(&member).copied().unwrap_or(0) >= PER_MEMBER_MAX {
            // Across sources a newcomer may also close one silent for `SILENT_MS`: many
            // silent sources must not lock real peers out for `STALE_MS`.
            Some(self.least_active(now, |e| e.member == member, Some(SILENT_MS)))
        } else if self.conns.len() >= budget {
            Some(self.least_active(now, |_| true, Some(SILENT_MS)))
        } else {
            None
        };
        match victim {
            None => {}
            Some(None) => return None,
            Some(Some(id)) => {
                if let Some(e) = self.remove(id) {
                    e.evict.cancel();
                }
            }
        }
        let id = self.next;
        self.next += 1;
        let active = Arc::new(AtomicU64::new(now));
        let evict = CancellationToken::new();
        let work = Arc::new(Work::default());
        self.conns.insert(
            id,
            Entry {
                member,
                source,
                active: active.clone(),
                evict: evict.clone(),
                admitted_at: now,
                work: work.clone(),
            },
        );
        *self.per_member.entry(member).or_insert(0) += 1;
        *self.per_source.entry((member, source)).or_insert(0) += 1;
        Some((id, active, evict, work))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    /// Admits one connection and marks it active at `at` (ms), so the order is explicit.
    fn admit_at(
        r: &mut Registry,
        member: u64,
        source: IpAddr,
        budget: usize,
        at: u64,
    ) -> (u64, CancellationToken) {
        let (id, active, evict, work) =
            r.admit(member, source, budget, now_ms()).expect("admitted");
        active.store(at, Ordering::Relaxed);
        // Its request answered: idle, so it may be closed for a new one.
        work.handled.store(1, Ordering::Relaxed);
        (id, evict)
    }

    #[test]
    fn a_full_source_gives_up_its_own_least_active() {
        let mut r = Registry::default();
        let peer = admit_at(&mut r, 1, ip(2), usize::MAX, 0);
        let flood: Vec<_> = (0..PER_SOURCE_MAX)
            .map(|i| admit_at(&mut r, 1, ip(9), usize::MAX, 10 + i as u64))
            .collect();
        // One more from the full source closes that source's oldest, not the other peer's
        // (older still).
        admit_at(&mut r, 1, ip(9), usize::MAX, 1000);
        assert!(flood[0].1.is_cancelled());
        assert!(flood[1..].iter().all(|(_, t)| !t.is_cancelled()));
        assert!(!peer.1.is_cancelled());
        assert_eq!(r.per_source[&(1, ip(9))], PER_SOURCE_MAX);
        // Another member's count from the same source is its own.
        admit_at(&mut r, 2, ip(9), usize::MAX, 1001);
        assert_eq!(r.per_source[&(2, ip(9))], 1);
    }

    #[test]
    fn a_full_member_and_a_full_process_close_their_least_active() {
        let mut r = Registry::default();
        let mut tokens = Vec::new();
        for i in 0..PER_MEMBER_MAX {
            let source = ip((i / PER_SOURCE_MAX) as u8);
            tokens.push(admit_at(&mut r, 1, source, usize::MAX, 100 + i as u64));
        }
        // The least active is made the fifth admitted: it goes, whatever its source.
        r.conns[&tokens[4].0].active.store(1, Ordering::Relaxed);
        admit_at(&mut r, 1, ip(200), usize::MAX, 5000);
        assert!(tokens[4].1.is_cancelled());
        assert_eq!(tokens.iter().filter(|(_, t)| t.is_cancelled()).count(), 1);
        assert_eq!(r.per_member[&1], PER_MEMBER_MAX);

        // The process's budget: a connection to another member closes the least active of
        // all, here member 1's oldest.
        let budget = r.conns.len();
        let (_, t) = admit_at(&mut r, 2, ip(1), budget, 6000);
        assert!(tokens[0].1.is_cancelled());
        assert_eq!(r.conns.len(), budget);
        assert!(!t.is_cancelled());
        // Dropping entries frees their counts.
        let ids: Vec<u64> = r.conns.keys().copied().collect();
        for id in ids {
            r.remove(id);
        }
        assert!(r.per_member.is_empty() && r.per_source.is_empty());
        // With nothing to close, a full budget refuses.
        assert!(r.admit(3, ip(1), 0, now_ms()).is_none());
    }

    #[test]
    fn a_full_source_refuses_a_newcomer_rather_than_close_one_with_work_in_hand() {
        let mut r = Registry::default();
        let now = now_ms();
        let take = |r: &mut Registry, at: u64| {
            let (id, active, evict, work) =
                r.admit(1, ip(9), usize::MAX, now_ms()).expect("admitted");
            active.store(at, Ordering::Relaxed);
            (id, evict, work)
        };
        // The least active holds an answer; the next has a request not read yet (admitted just
        // now, nothing handled); the third has had its frames answered: it is the one to go.
        let answering = take(&mut r, 1);
        answering.2.handled.store(1, Ordering::Relaxed);
        answering.2.held.store(100, Ordering::Relaxed);
        let unread = take(&mut r, 2);
        let done = take(&mut r, now);
        done.2.handled.store(3, Ordering::Relaxed);
        for i in 3..PER_SOURCE_MAX {
            let (_, _, w) = take(&mut r, now + i as u64);
            w.held.store(1, Ordering::Relaxed);
        }
        take(&mut r, now + 1000);
        assert!(done.1.is_cancelled());
        assert!(!answering.1.is_cancelled() && !unread.1.is_cancelled());
        // With no idle one left, the new connection is refused and every one with work stays.
        assert!(r.admit(1, ip(9), usize::MAX, now_ms()).is_none());
        assert!(!answering.1.is_cancelled() && !unread.1.is_cancelled());
        assert_eq!(r.per_source[&(1, ip(9))], PER_SOURCE_MAX);
        // Once its request has been answered, a connection is idle again and can go.
        unread.2.handled.store(1, Ordering::Relaxed);
        assert!(r.admit(1, ip(9), usize::MAX, now_ms()).is_some());
        assert!(unread.1.is_cancelled() && !answering.1.is_cancelled());
    }

    #[test]
    fn a_full_member_closes_a_connection_silent_for_a_second_never_one_with_an_answer() {
        // Many silent sources must not hold a member's every slot for `STALE_MS`: across
        // sources a newcomer closes one silent for `SILENT_MS`; a request not read yet keeps
        // its place for that long, and an answer held, always.
        let mut r = Registry::default();
        let now = 100_000;
        let mut tokens = Vec::new();
        for i in 0..PER_MEMBER_MAX {
            let source = ip((i % 4) as u8);
            let (id, active, evict, _) = r.admit(1, source, usize::MAX, now).expect("admitted");
            active.store(now + i as u64, Ordering::Relaxed);
            tokens.push((id, evict));
        }
        // All admitted just now, nothing read: the newcomer is refused.
        assert!(r.admit(1, ip(100), usize::MAX, now + 10).is_none());
        assert!(tokens.iter().all(|(_, t)| !t.is_cancelled()));
        // The two least active have been silent for a second; the first holds an answer.
        for (id, _) in &tokens[..2] {
            r.conns.get_mut(id).unwrap().admitted_at = now - SILENT_MS;
        }
        r.conns[&tokens[0].0].work.held.store(10, Ordering::Relaxed);
        assert!(r.admit(1, ip(100), usize::MAX, now + 10).is_some());
        assert!(!tokens[0].1.is_cancelled() && tokens[1].1.is_cancelled());
        assert_eq!(tokens.iter().filter(|(_, t)| t.is_cancelled()).count(), 1);
    }
}
