//! Joining and anti-entropy at scale (issue 11): seeds a joiner keeps and asks, the reply to
//! its join, early and check rounds, and the peers rounds and gossip go to.

use super::*;
use crate::proto::storm::{SPREAD_BACKLOG, STORM_NEWS};

#[test]
fn unconfirmed_seed_is_dropped_after_timeout() {
    // A member that knows another one for sure: a guess never heard from goes at the timeout.
    let mut s = sim(2, 1);
    s.run_until(2_000, |s| s.converged())
        .expect("the pair converges");
    let ghost = crate::sim::member_id(99);
    let now = s.now;
    s.cores[0].set_peer(now, ghost, Attributes::default());
    assert_eq!(s.cores[0].listed_count(), 3, "listed at once");
    let t = s.cfg.timeout_ms as u64;
    s.run_for(t - 50);
    assert_eq!(s.cores[0].listed_count(), 3, "dropped before the timeout");
    s.run_for(t / 2);
    assert_eq!(s.cores[0].listed_count(), 2);
}

#[test]
fn a_member_that_has_heard_from_no_one_keeps_its_seeds_longer_and_asks_them_less_often() {
    // A joining member whose only seed never answers (down, or too busy in a join storm)
    // cannot tell which: it keeps the seed for JOIN_PATIENCE timeouts and keeps asking, each
    // retry waiting twice as long as the one before, up to the anti-entropy period.
    let mut s = sim(1, 1);
    let ghost = crate::sim::member_id(99);
    let now = s.now;
    s.cores[0].set_peer(now, ghost, Attributes::default());
    let t = s.cfg.timeout_ms as u64;
    let sent0 = s.sent[0];
    let patience = crate::proto::JOIN_PATIENCE * t;
    s.run_for(patience - 50);
    // (Dropping it is what raises the FAILED event.)
    assert_eq!(s.cores[0].listed_count(), 2, "the seed was dropped");
    let asked = s.sent[0] - sent0;
    let timing = *s.cores[0].timing();
    let every_interval = patience / timing.probe_interval;
    assert!(
        asked >= 3 && asked < every_interval * 2 / 3,
        "{asked} push-pulls to the seed in {patience} ms (one per probe interval: {every_interval})"
    );
    // Then it is called failed, as any guess never heard from.
    s.run_for(t / 2);
    assert_eq!(s.cores[0].listed_count(), 1, "the seed was kept");
}

#[test]
fn a_rumor_before_any_exchange_does_not_end_a_joiners_patience_with_its_seeds() {
    // In a join storm a joiner whose seeds are too busy to answer may still hear rumors from
    // members that learned of it: those name a few members, not the cluster, and do not make
    // the silent seeds dead.
    let mut s = sim(1, 1);
    let ghost = crate::sim::member_id(99);
    let gossiper = crate::sim::member_id(98);
    let now = s.now;
    s.cores[0].set_peer(now, ghost, Attributes::default());
    let rumor = Rumor::Alive {
        id: gossiper,
        incarnation: 1,
        attrs: crate::proto::PackedAttributes::default(),
    };
    s.cores[0].handle(
        now,
        DATAGRAM,
        Message::Gossip {
            from: gossiper,
            rumors: vec![rumor],
        },
    );
    assert_eq!(s.cores[0].listed_count(), 3, "the rumor listed its member");
    let t = s.cfg.timeout_ms as u64;
    s.run_for(2 * t);
    let listed = s.cores[0].member_status(&ghost).is_some();
    assert!(
        listed,
        "the silent seed was dropped at the timeout, before any exchange"
    );
}

/// A member whose early anti-entropy rounds failed (its connections timed out, as a busy
/// member's do in a join storm) and that still misses a member finds it at one of the check
/// rounds that follow, not at the periodic round (tens of seconds at a thousand members; a
/// minute here, where no other member runs a round).
#[test]
fn a_member_whose_early_rounds_failed_catches_up_at_a_check_round() {
    let mut s = sim(30, 12);
    s.start_converged();
    s.run_for(1_000);
    let (z, y) = (5, 9);
    let now = s.now;
    for c in s.cores.iter_mut() {
        c.cfg.timing.push_pull = 60_000;
        c.timers.push_pull = now + 60_000;
    }
    s.cores[z].members.remove(&s_id(y));
    s.cores[z].sync_soon = 1;
    s.stream_outage[z] = now + 3_000;
    let t = s.run_until(20_000, |s| s.lists(z, y));
    assert!(
        t.is_some(),
        "member {z} did not list member {y} again within 20 s of its failed early round"
    );
}

/// A joiner whose seed knew only part of the cluster when it answered (a join storm: the seed's
/// table was still filling) runs early anti-entropy rounds of its own and finds the rest, rather
/// than waiting for the periodic round (a minute here, where no other member runs one) or for
/// another member to pick it.
#[test]
fn a_joiner_whose_seed_knew_part_of_the_cluster_finds_the_rest_early() {
    let n = 31;
    let joiner = n - 1;
    let mut s = Sim::new(SimConfig {
        members: n,
        seed: 21,
        ..SimConfig::default()
    });
    let old: Vec<usize> = (0..joiner).collect();
    s.start_converged_among(&old);
    s.run_for(1_000);
    let now = s.now;
    for c in s.cores.iter_mut() {
        c.cfg.timing.push_pull = 60_000;
        c.timers.push_pull = now + 60_000;
    }
    // The seed has not heard of half the cluster yet.
    for i in 15..joiner {
        s.cores[0].members.remove(&s_id(i));
    }
    s.join_one(joiner, &[0]);
    let t = s.run_until(10_000, |s| (1..joiner).all(|i| s.lists(joiner, i)));
    assert!(
        t.is_some(),
        "the joiner listed {} of the {} others 10 s after joining through a seed that knew half",
        (0..joiner).filter(|&i| s.lists(joiner, i)).count(),
        joiner
    );
}

/// A converged cluster of 31 in which member 0 has verified only member 1 (returned), with
/// nothing left to send.
fn converged_with_one_verified(seed: u64) -> (Sim, MemberId) {
    let mut s = sim(31, seed);
    s.start_converged();
    let verified = s_id(1);
    let core = &mut s.cores[0];
    core.members
        .for_each_mut(|id, m| m.direct = *id == verified);
    core.drain_outgoing();
    (s, verified)
}

/// Anti-entropy rounds alternate between members that proved they exist and any live member.
/// In a join storm the members a joiner has verified are its seeds: always choosing among
/// those sent every member's rounds to the seeds. Half still go to verified members, so a
/// forged table's members cannot take them all.
#[test]
fn anti_entropy_rounds_go_to_verified_members_only_every_other_time() {
    let (mut s, seed) = converged_with_one_verified(4);
    let core = &mut s.cores[0];
    let now = s.now;
    let mut to_seed = 0;
    let mut others = std::collections::BTreeSet::new();
    for _ in 0..200 {
        core.anti_entropy_round(now);
        for o in core.drain_outgoing() {
            if let Message::Digest { .. } = o.msg {
                if o.to == seed {
                    to_seed += 1;
                } else {
                    others.insert(o.to);
                }
            }
        }
    }
    assert!(
        (100..=120).contains(&to_seed),
        "{to_seed} of 200 rounds went to the one verified member"
    );
    assert!(
        others.len() >= 20,
        "the other rounds went to {} members",
        others.len()
    );
}

/// A member that joins before it is given its seeds (`peko_join`, then `peko_set` for each)
/// asks one of them, chosen at random once the back-to-back calls are in, as `join` does when
/// the seeds come first: not each seed as it is given (a join storm would have the seeds send
/// three tables per joiner).
#[test]
fn seeds_given_after_join_get_one_push_pull_between_them() {
    let mut chosen = std::collections::BTreeSet::new();
    for seed in 0..12 {
        let mut s = Sim::new(SimConfig {
            members: 4,
            seed,
            ..SimConfig::default()
        });
        s.start_converged_among(&[0, 1, 2]);
        let now = s.now;
        let joiner = &mut s.cores[3];
        joiner.join(now);
        for i in 0..3 {
            joiner.set_peer(now, s_id(i), Attributes::default());
        }
        let pushes = |out: Vec<Outgoing>| -> Vec<MemberId> {
            out.into_iter()
                .filter(|o| matches!(o.msg, Message::PushPull { .. }))
                .map(|o| o.to)
                .collect()
        };
        assert_eq!(
            pushes(joiner.drain_outgoing()),
            vec![],
            "a push as a seed was given"
        );
        joiner.tick(now + JOIN_PUSH_SETTLE);
        let sent = pushes(joiner.drain_outgoing());
        assert_eq!(
            sent.len(),
            1,
            "seed {seed}: pushes after the settle time: {sent:?}"
        );
        chosen.insert(sent[0]);
    }
    assert_eq!(
        chosen.len(),
        3,
        "the first seed given is not always the one asked"
    );
}

/// When no sampled gossip target has proved it exists, one of them gives way to a member that
/// has; which one is random. The sample comes in ring order, and always replacing the last
/// left the member latest on the ring a target about ten times less often than the others.
#[test]
fn a_gossip_target_given_up_for_a_verified_member_is_chosen_at_random() {
    let (mut s, verified) = converged_with_one_verified(6);
    let core = &mut s.cores[0];
    let mut hits: std::collections::BTreeMap<MemberId, u32> = Default::default();
    for inc in 1..=3_000u32 {
        core.rumors.push(Rumor::Alive {
            id: s_id(5),
            incarnation: inc,
            attrs: PackedAttributes::default(),
        });
        core.gossip_round();
        for o in core.drain_outgoing() {
            *hits.entry(o.to).or_default() += 1;
        }
    }
    let last = *core
        .members
        .live()
        .iter()
        .rev()
        .find(|id| **id != verified)
        .unwrap();
    let others: Vec<u32> = hits
        .iter()
        .filter(|(id, _)| **id != verified && **id != last)
        .map(|(_, n)| *n)
        .collect();
    let mean = others.iter().sum::<u32>() as f64 / others.len() as f64;
    assert!(
        hits.get(&last).copied().unwrap_or(0) as f64 >= mean / 2.0,
        "the member latest on the ring was a target {:?} times, the others {mean:.0} on average",
        hits.get(&last)
    );
}

/// A joiner that has no answer yet (in a join storm its push can wait behind hundreds at a busy
/// seed, or be refused there) asks again one seed at a time, each in turn, never two at once, at
/// a moment of its own, sooner than a probe interval on average: every joiner asking every seed exactly a
/// probe interval after they all joined made the seeds refuse most of them again.
#[test]
fn a_joiner_without_an_answer_asks_one_seed_again_soon_at_its_own_moment() {
    let seeds: Vec<MemberId> = (97..100).map(crate::sim::member_id).collect();
    let mut first_retries = Vec::new();
    let mut probe = 0;
    for seed in 0..8 {
        let mut s = sim(1, 30 + seed);
        let t0 = s.now;
        let core = &mut s.cores[0];
        for id in &seeds {
            core.set_peer(t0, *id, Attributes::default());
        }
        probe = core.timing().probe_interval;
        let mut pushes: Vec<(Millis, MemberId)> = Vec::new();
        for now in (t0..t0 + 6 * probe).step_by(5) {
            core.tick(now);
            for o in core.drain_outgoing() {
                if matches!(o.msg, Message::PushPull { reply: false, .. }) {
                    pushes.push((now, o.to));
                }
            }
        }
        assert!(pushes.len() >= 3, "{pushes:?}");
        assert!(pushes.iter().all(|(_, to)| seeds.contains(to)));
        assert!(
            pushes.windows(2).all(|w| w[0].0 != w[1].0),
            "two seeds asked at once: {pushes:?}"
        );
        // Each in turn: a live seed among dead ones is reached within three asks.
        let turn: std::collections::BTreeSet<MemberId> =
            pushes[..3].iter().map(|(_, to)| *to).collect();
        assert_eq!(turn.len(), 3, "{pushes:?}");
        first_retries.push(pushes[1].0 - t0);
    }
    let mean = first_retries.iter().sum::<Millis>() / first_retries.len() as Millis;
    let spread = first_retries.iter().max().unwrap() - first_retries.iter().min().unwrap();
    assert!(
        mean < probe && spread >= probe / 4,
        "first retries {first_retries:?} ms after joining (probe interval {probe} ms)"
    );
}

/// The reply to our join starts early anti-entropy rounds even when it names no member new to
/// us: the first joiners of a storm hear back from a seed that knows no one else yet, and would
/// otherwise list only their seeds until the periodic round or until someone picks them.
#[test]
fn a_join_reply_that_brings_nothing_new_still_starts_early_rounds() {
    let mut s = sim(1, 4);
    let seed = crate::sim::member_id(97);
    let t0 = s.now;
    let core = &mut s.cores[0];
    core.set_peer(t0, seed, Attributes::default());
    core.tick(t0 + 5);
    core.drain_outgoing();
    core.handle(
        t0 + 10,
        Arrival::Stream {
            conn: 1,
            ours: true,
        },
        Message::PushPull {
            from: seed,
            reply: true,
            members: vec![MemberState {
                id: seed,
                incarnation: 0,
                status: Status::Alive,
                attrs: PackedAttributes::default(),
            }],
            meta_version: None,
            meta: None,
            holds: None,
        },
    );
    let early = core.timing().sync_soon * 3 / 2;
    let mut digest_at = None;
    for now in (t0 + 10..t0 + 10 + early + 10).step_by(5) {
        core.tick(now);
        if core
            .drain_outgoing()
            .iter()
            .any(|o| matches!(o.msg, Message::Digest { .. }))
        {
            digest_at = Some(now - t0 - 10);
            break;
        }
    }
    assert!(
        digest_at.is_some(),
        "no anti-entropy round within {early} ms of the join reply (the periodic one is {} ms)",
        core.timing().push_pull
    );
}

/// However many seeds a joiner was given, each is asked more than once before the seeds are given
/// up (`JOIN_PATIENCE` timeouts), even at a long cycle: one seed per ask must not leave the only
/// live one unasked.
#[test]
fn a_joiner_asks_every_seed_more_than_once_before_it_gives_them_up() {
    for (seeds, cycle_ms) in [(3, 200), (5, 1000), (12, 1000)] {
        let mut s = Sim::new(SimConfig {
            members: 1,
            seed: 40,
            cycle_ms,
            timeout_ms: 5000,
            ..SimConfig::default()
        });
        s.join_all();
        let ids: Vec<MemberId> = (100..100 + seeds).map(crate::sim::member_id).collect();
        let t0 = s.now;
        let core = &mut s.cores[0];
        for id in &ids {
            core.set_peer(t0, *id, Attributes::default());
        }
        let patience = crate::proto::JOIN_PATIENCE * 5000;
        let mut asked = std::collections::BTreeMap::<MemberId, u32>::new();
        for now in (t0..t0 + patience - 50).step_by(5) {
            core.tick(now);
            for o in core.drain_outgoing() {
                if matches!(o.msg, Message::PushPull { reply: false, .. }) {
                    *asked.entry(o.to).or_default() += 1;
                }
            }
        }
        assert!(
            ids.iter()
                .all(|id| asked.get(id).copied().unwrap_or(0) >= 2),
            "{seeds} seeds at a {cycle_ms} ms cycle, asked before the patience ran out: {asked:?}"
        );
    }
}

/// A member that listed `STORM_NEWS` members new to it over the last two gossip cycles is in a
/// join storm, whatever its rumor backlog: a member new to it heard of by rumor is listed
/// quietly (exchanges carry it on) rather than rumored on. Once two cycles have passed without
/// news, one is rumored on again.
#[test]
fn a_member_that_learns_many_members_at_once_lists_those_heard_by_rumor_quietly() {
    let mut s = sim(3, 7);
    s.start_converged();
    s.run_for(1_000);
    let from = s_id(1);
    let stranger = |i: u16| -> MemberId { format!("192.0.2.7:{}", 1000 + i).parse().unwrap() };
    let alive = |id: MemberId| Rumor::Alive {
        id,
        incarnation: 0,
        attrs: PackedAttributes::default(),
    };
    let core = &mut s.cores[0];
    let cycle = core.cfg.timing.cycle;
    let mut now = s.now;
    core.drain_outgoing();
    let queued = core.rumors.len();
    // One exchange brings `STORM_NEWS` members new to us: listed, not rumored on.
    pushed(core, now, from, 1, strangers(7, 0, STORM_NEWS as u16));
    assert!(core.members.get(&stranger(0)).is_some());
    assert_eq!(
        core.rumors.len(),
        queued,
        "an exchange's news is not rumored on"
    );
    // In the storm: a member new to us heard of by rumor is listed quietly, with a short backlog.
    let quiet = stranger(100);
    core.handle(
        now,
        DATAGRAM,
        Message::Gossip {
            from,
            rumors: vec![alive(quiet)],
        },
    );
    assert!(core
        .members
        .get(&quiet)
        .is_some_and(|m| m.status == Status::Alive));
    assert!(
        core.rumors.len() < SPREAD_BACKLOG,
        "the backlog rule alone would pass this one on"
    );
    assert_eq!(
        core.rumors.len(),
        queued,
        "in a storm, a member heard of by rumor was rumored on"
    );
    // One gossip cycle later the storm's news still counts; two later it does not, and the
    // next member heard of by rumor is rumored on.
    now += cycle;
    core.tick(now);
    assert!(
        !rumored_on(core, now, from, alive(stranger(102))),
        "one cycle after the storm's news, a member heard of by rumor was rumored on"
    );
    now += cycle;
    core.tick(now);
    assert!(
        rumored_on(core, now, from, alive(stranger(101))),
        "a member new to us heard of by rumor outside a storm was not rumored on"
    );
}

/// Whether `rumor`, arriving by datagram from `from`, was queued to be passed on.
fn rumored_on(core: &mut Core, now: Millis, from: MemberId, rumor: Rumor) -> bool {
    let queued = core.rumors.len();
    core.handle(
        now,
        DATAGRAM,
        Message::Gossip {
            from,
            rumors: vec![rumor],
        },
    );
    core.rumors.len() > queued
}

/// After a join storm the table's tree is packed (`Table::pack`) once two gossip cycles pass
/// with no member new to it, and not while members are still being added: in `bench --storm`
/// at N = 1,000 the tables filled by push-pulls' sorted runs kept their nodes about half full.
#[test]
fn the_table_is_packed_once_a_storm_has_passed() {
    let mut s = sim(3, 11);
    s.start_converged();
    s.run_for(1_000);
    let core = &mut s.cores[0];
    let cycle = core.cfg.timing.cycle;
    let mut now = s.now;
    let from = s_id(1);
    // Members keep coming, every cycle: no packing.
    for k in 0..4 {
        pushed(
            core,
            now,
            from,
            1 + u64::from(k),
            strangers(8, k * 100, 100),
        );
        now += cycle;
        core.tick(now);
        assert!(core.members.grown() >= 100 * (usize::from(k) + 1));
    }
    // Two quiet cycles later, it is packed, and every member is still there.
    for _ in 0..3 {
        now += cycle;
        core.tick(now);
    }
    assert_eq!(
        core.members.grown(),
        0,
        "the table was not packed after the storm"
    );
    assert!(core.members.len() >= 400);
    core.members.check();
}

/// `count` members alive at incarnation 0 as an exchange names them, 192.0.2.`net` and ports
/// from 1000 + `first`.
fn strangers(net: u8, first: u16, count: u16) -> Vec<MemberState> {
    (first..first + count)
        .map(|i| MemberState {
            id: format!("192.0.2.{net}:{}", 1000 + i).parse().unwrap(),
            incarnation: 0,
            status: Status::Alive,
            attrs: PackedAttributes::default(),
        })
        .collect()
}

/// `members` reach `core` as the reply of an exchange, on a connection it did not open.
fn pushed(core: &mut Core, now: Millis, from: MemberId, conn: u64, members: Vec<MemberState>) {
    core.handle(
        now,
        Arrival::Stream { conn, ours: false },
        Message::PushPull {
            from,
            reply: true,
            members,
            meta_version: None,
            meta: None,
            holds: None,
        },
    );
}
