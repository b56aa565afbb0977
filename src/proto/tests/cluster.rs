//! The protocol at work: convergence, failure detection, refutation, metadata, partitions.

use super::*;

#[test]
fn members_converge_through_one_seed() {
    for seed in 1..=3 {
        let mut s = sim(30, seed);
        let t = s.run_until(20_000, |s| s.converged());
        assert!(
            t.is_some(),
            "seed {seed}: 30 members did not converge in 20 s"
        );
    }
}

#[test]
fn publish_reaches_everyone_and_datagrams_stay_small() {
    let mut s = sim(40, 7);
    assert!(s.run_until(20_000, |s| s.converged()).is_some());
    let v = s.cores[5].publish(s.now, 1_000, b"hello".to_vec()).unwrap();
    let t = s.run_until(10_000, |s| {
        s.cores
            .iter()
            .all(|c| c.metadata().map(|m| m.version) == Some(v))
    });
    assert!(t.is_some(), "publish did not reach all 40 members");
    assert!(s
        .cores
        .iter()
        .all(|c| c.metadata().unwrap().data == b"hello"));
    assert!(
        s.largest_datagram <= wire::DATAGRAM_MAX,
        "a datagram of {} bytes",
        s.largest_datagram
    );
}

/// A member that receives newer metadata passes it on in a gossip round at once, not at its next
/// cycle: a publish then crosses the cluster in network hops rather than in cycles.
#[test]
fn newer_metadata_is_passed_on_at_once() {
    let mut s = sim(20, 7);
    s.start_converged();
    s.run_for(1_000);
    let now = s.now;
    s.cores[5]
        .publish(now, SIM_WALL, b"hello".to_vec())
        .unwrap();
    s.cores[5].tick(now);
    let carries_meta = |o: &Outgoing| match &o.msg {
        Message::Gossip { rumors, .. } => rumors.iter().any(|r| matches!(r, Rumor::Meta(_))),
        _ => false,
    };
    let first = s.cores[5]
        .drain_outgoing()
        .into_iter()
        .find(|o| carries_meta(o))
        .expect("the publisher gossips at once");
    let to = s.index_of(&first.to).expect("a member");
    let core = &mut s.cores[to];
    core.drain_outgoing();
    core.handle(now, DATAGRAM, first.msg);
    assert_eq!(
        core.metadata().map(|m| m.data.clone()),
        Some(b"hello".to_vec())
    );
    assert_eq!(
        core.next_wake(),
        now,
        "the receiver waits for its next cycle"
    );
    core.tick(now);
    let passed_on = core
        .drain_outgoing()
        .iter()
        .filter(|o| carries_meta(o))
        .count();
    assert!(
        passed_on > 0,
        "the receiver's round at once did not carry the metadata"
    );
}

#[test]
fn large_metadata_is_announced_and_fetched() {
    let mut s = sim(12, 3);
    assert!(s.run_until(20_000, |s| s.converged()).is_some());
    let big = vec![0xAB; 200_000];
    let v = s.cores[2].publish(s.now, 5, big.clone()).unwrap();
    let t = s.run_until(10_000, |s| {
        s.cores
            .iter()
            .all(|c| c.metadata().map(|m| m.version) == Some(v))
    });
    assert!(t.is_some());
    assert!(s.cores.iter().all(|c| c.metadata().unwrap().data == big));
    assert!(s.largest_datagram <= wire::DATAGRAM_MAX);
}

#[test]
fn crashed_member_is_removed_within_timeout_and_no_one_else() {
    for seed in 1..=3 {
        let mut s = sim(20, seed);
        assert!(s.run_until(20_000, |s| s.converged()).is_some());
        s.crash(7);
        let timeout = s.cfg.timeout_ms as u64;
        let t = s.run_until(timeout, |s| {
            assert!(!removed_anywhere(s), "a live member was removed");
            s.listed_by(7) == 0
        });
        assert!(
            t.is_some(),
            "seed {seed}: crashed member still listed after the timeout"
        );
    }
}

#[test]
fn suspected_member_refutes_and_stays() {
    let mut s = sim(10, 11);
    assert!(s.run_until(20_000, |s| s.converged()).is_some());
    let victim = s.ids[4];
    let before = s.cores[4].incarnation();
    // Member 1 hears a (false) suspicion about member 4 from member 2.
    let accuser = s.ids[2];
    s.cores[1].handle(
        s.now,
        DATAGRAM,
        Message::Gossip {
            from: accuser,
            rumors: vec![Rumor::Suspect {
                id: victim,
                incarnation: before,
                from: accuser,
            }],
        },
    );
    assert_eq!(
        s.cores[1].member_status(&victim).unwrap().0,
        Status::Suspect
    );
    let timeout = s.cfg.timeout_ms as u64;
    s.run_for(timeout * 2);
    assert!(
        s.cores[4].incarnation() > before,
        "the suspect never refuted"
    );
    assert_eq!(s.listed_by(4), 9);
    for c in &s.cores {
        if c.me() != victim {
            assert_eq!(c.member_status(&victim).unwrap().0, Status::Alive);
        }
    }
}

#[test]
fn no_false_removal_at_five_percent_loss() {
    let mut s = Sim::new(SimConfig {
        members: 40,
        loss: 0.05,
        seed: 5,
        ..SimConfig::default()
    });
    s.join_all();
    assert!(s.run_until(30_000, |s| s.converged()).is_some());
    let mut ok = true;
    let _ = s.run_until(120_000, |s| {
        ok &= !removed_anywhere(s);
        !ok
    });
    assert!(ok, "a live member was removed at 5% loss");
}

#[test]
fn concurrent_publishes_converge_and_newest_wins() {
    let mut s = sim(15, 2);
    assert!(s.run_until(20_000, |s| s.converged()).is_some());
    // Same wall-clock millisecond on two members: the tie-break picks one everywhere.
    let a = s.cores[3].publish(s.now, 50_000, b"a".to_vec()).unwrap();
    let b = s.cores[9].publish(s.now, 50_000, b"b".to_vec()).unwrap();
    let winner = a.max(b);
    assert!(s
        .run_until(10_000, |s| s
            .cores
            .iter()
            .all(|c| c.metadata().map(|m| m.version) == Some(winner)))
        .is_some());
    // A member with a clock 50 s fast (within the drift bound) publishes; a later publish
    // elsewhere with an honest clock must still win.
    let wall = crate::sim::SIM_WALL_MS + s.now;
    let fast = s.cores[1]
        .publish(s.now, wall + 50_000, b"fast".to_vec())
        .unwrap();
    assert!(s
        .run_until(10_000, |s| s
            .cores
            .iter()
            .all(|c| c.metadata().map(|m| m.version) == Some(fast)))
        .is_some());
    let honest = s.cores[12]
        .publish(s.now, crate::sim::SIM_WALL_MS + s.now, b"honest".to_vec())
        .unwrap();
    assert!(honest > fast);
    assert!(s
        .run_until(10_000, |s| s
            .cores
            .iter()
            .all(|c| c.metadata().is_some_and(|m| m.data == b"honest")))
        .is_some());
    // An hour fast is beyond the bound: the others refuse it (and count it) rather than let it
    // hold the metadata for an hour.
    let wall = crate::sim::SIM_WALL_MS + s.now;
    s.cores[1]
        .publish(s.now, wall + 3_600_000, b"an hour fast".to_vec())
        .unwrap();
    s.run_for(5_000);
    let refused: u64 = s
        .cores
        .iter()
        .map(|c| c.counters().clocks_implausible)
        .sum();
    assert!(refused > 0);
    assert!(s
        .cores
        .iter()
        .enumerate()
        .all(|(i, c)| i == 1 || c.metadata().unwrap().data == b"honest"));
}

#[test]
fn applying_a_rumor_twice_or_an_old_one_changes_nothing() {
    let mut s = sim(3, 1);
    assert!(s.run_until(20_000, |s| s.converged()).is_some());
    let id = s.ids[2];
    let (_, inc) = s.cores[0].member_status(&id).unwrap();
    let stale = Message::Gossip {
        from: s.ids[1],
        rumors: vec![Rumor::Dead {
            id,
            incarnation: inc.wrapping_sub(1).min(inc),
            from: s.ids[1],
        }],
    };
    if inc > 0 {
        s.cores[0].handle(s.now, DATAGRAM, stale);
        assert_eq!(s.cores[0].member_status(&id).unwrap().0, Status::Alive);
    }
    let alive = Message::Gossip {
        from: s.ids[1],
        rumors: vec![Rumor::Alive {
            id,
            incarnation: inc,
            attrs: crate::proto::PackedAttributes::pack(&Attributes {
                name: "impostor".into(),
                private_data: String::new(),
            }),
        }],
    };
    s.cores[0].handle(s.now, DATAGRAM, alive.clone());
    s.cores[0].handle(s.now, DATAGRAM, alive);
    let listed = s.cores[0].members();
    let m = listed.iter().find(|(i, _)| *i == id).unwrap();
    assert_eq!(
        m.1.name, "m2",
        "an equal incarnation must not change attributes"
    );
}

#[test]
fn partition_heals_through_anti_entropy() {
    for seed in 1..=4 {
        let mut s = sim(16, seed);
        assert!(s.run_until(20_000, |s| s.converged()).is_some());
        for i in 8..16 {
            s.group[i] = 1;
        }
        // 60 rounds apart, longer than the timeout. (Each side starts removing the other; with
        // half the cluster unreachable, Lifeguard's local health slows probing on both sides,
        // so not every removal need be done by then.)
        s.run_for(60 * s.cfg.cycle_ms as u64);
        assert!(s.cores[0].listed_count() < 16);
        assert!(s.cores[15].listed_count() < 16);
        let v = s.cores[10]
            .publish(s.now, 9, b"from the other side".to_vec())
            .unwrap();
        for g in s.group.iter_mut() {
            *g = 0;
        }
        let pp = s.cores[0].timing().push_pull_for(16);
        let healed = s.run_until(pp * 3, |s| {
            s.converged()
                && s.cores
                    .iter()
                    .all(|c| c.metadata().map(|m| m.version) == Some(v))
        });
        assert!(
            healed.is_some(),
            "seed {seed}: not healed within 3 anti-entropy intervals"
        );
    }
}

#[test]
fn leave_is_spread_at_once_and_stop_start_comes_back() {
    let mut s = sim(8, 4);
    assert!(s.run_until(20_000, |s| s.converged()).is_some());
    // Stop member 3: dropped within the timeout, then back after start.
    s.cores[3].stop();
    let t = s.cfg.timeout_ms as u64;
    assert!(s.run_until(t, |s| s.listed_by(3) == 0).is_some());
    let now = s.now;
    s.cores[3].start(now);
    assert!(s.run_until(t, |s| s.listed_by(3) == 7).is_some());
    // Member 5 leaves: the notice goes straight to everyone.
    for o in s.cores[5].leave() {
        let to = s.index_of(&o.to).unwrap();
        let now = s.now;
        s.cores[to].handle(now, DATAGRAM, o.msg);
    }
    s.crash(5);
    assert_eq!(s.listed_by(5), 0);
}

#[test]
fn suspicion_shrinks_with_confirmations_down_to_a_log_n_floor() {
    let t = Timing::new(200, 10_000, 3);
    let none = t.suspicion_for(100, 0);
    let one = t.suspicion_for(100, 1);
    let three = t.suspicion_for(100, 3);
    assert_eq!(none, t.suspicion_bounds(100).1);
    assert!(none > one && one > three, "{none} {one} {three}");
    assert_eq!(
        three,
        t.suspicion_for(100, 10),
        "floor reached at 3 confirmations"
    );
    assert!(
        t.suspicion_for(1000, 3) > t.suspicion_for(10, 3),
        "floor grows with N"
    );
    assert!(t.suspicion_for(10_000, 3) <= t.suspicion_bounds(10_000).1);
    // Removal within the timeout wins when the timeout is short.
    let short = Timing::new(500, 5000, 3);
    let (_, longest) = short.suspicion_bounds(5);
    assert!(short.detection_max() + longest + short.spread(5) <= 5000);
}

/// Claims about a member at any incarnation, the extremes and both sides of the window
/// included: the member always refutes with an incarnation that is newer than the claim (as
/// serial numbers), and what it sends still decodes.
#[test]
fn a_member_refutes_a_claim_at_any_incarnation() {
    let mut s = sim(3, 11);
    s.start_converged();
    let now = s.now;
    let (me, other) = (s.ids[0], s.ids[1]);
    let core = &mut s.cores[0];
    let claims = [
        0,
        1,
        INCARNATION_WINDOW,
        INCARNATION_WINDOW + 1,
        (1 << 31) - 1,
        1 << 31,
        (1 << 31) + 1,
        u32::MAX - 1,
        u32::MAX,
    ];
    for claimed in claims {
        for rumor in [
            Rumor::Suspect {
                id: me,
                incarnation: claimed,
                from: other,
            },
            Rumor::Dead {
                id: me,
                incarnation: claimed,
                from: other,
            },
            Rumor::Left {
                id: me,
                incarnation: claimed,
            },
            Rumor::Alive {
                id: me,
                incarnation: claimed,
                attrs: crate::proto::PackedAttributes::pack(&Attributes {
                    name: "impostor".into(),
                    private_data: String::new(),
                }),
            },
        ] {
            core.handle(
                now,
                DATAGRAM,
                Message::Gossip {
                    from: other,
                    rumors: vec![rumor.clone()],
                },
            );
            assert_eq!(
                IncarnationOrder::of(core.incarnation(), claimed),
                IncarnationOrder::Newer,
                "{rumor:?} left us at {}",
                core.incarnation()
            );
        }
    }
    // The local incarnation wraps rather than stops: walked to the top by accusations each
    // ahead of it, then a stop and a start.
    for claimed in [1 << 30, 3 << 30, u32::MAX - 1] {
        core.handle(
            now,
            DATAGRAM,
            Message::Gossip {
                from: other,
                rumors: vec![Rumor::Suspect {
                    id: me,
                    incarnation: claimed,
                    from: other,
                }],
            },
        );
    }
    assert_eq!(core.incarnation(), u32::MAX);
    core.stop();
    core.start(now + 1);
    assert_eq!(core.incarnation(), 0);
    core.tick(now + 10_000);
    core.handle(
        now + 10_000,
        Arrival::Stream {
            conn: 1,
            ours: false,
        },
        Message::PushPull {
            from: other,
            reply: false,
            members: vec![],
            meta_version: None,
            meta: None,
            holds: None,
        },
    );
    let out = core.drain_outgoing();
    assert!(out
        .iter()
        .any(|o| matches!(o.msg, Message::PushPull { .. })));
    let key = wire::Key::new(None);
    for o in out {
        let frame = wire::encode(&o.msg, &key);
        let limits = wire::Limits::stream(1 << 20);
        assert_eq!(wire::decode(&frame, &key, limits), Ok(o.msg));
    }
}
