//! Core tests on the virtual clock of `crate::sim`: no sockets, reproducible from the seed.

use super::*;
use crate::sim::{Sim, SimConfig};
// Test-only: datagram sizes are checked in real bytes.
use crate::wire;

/// A full datagram: how rumors handed to a core in these tests arrive.
const DATAGRAM: Arrival = Arrival::Datagram {
    weight: wire::DATAGRAM_MAX,
};

fn sim(members: usize, seed: u64) -> Sim {
    let mut s = Sim::new(SimConfig {
        members,
        seed,
        ..SimConfig::default()
    });
    s.join_all();
    s
}

fn removed_anywhere(s: &Sim) -> bool {
    (0..s.cores.len())
        .filter(|&i| !s.crashed[i])
        .any(|i| s.listed_by(i) != s.crashed.iter().filter(|c| !**c).count() - 1)
}

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
            attrs: Attributes {
                name: "impostor".into(),
                private_data: String::new(),
            },
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
fn unconfirmed_seed_is_dropped_after_timeout() {
    let mut s = sim(1, 1);
    let ghost = crate::sim::member_id(99);
    let now = s.now;
    s.cores[0].set_peer(now, ghost, Attributes::default());
    assert_eq!(s.cores[0].listed_count(), 2, "listed at once");
    let t = s.cfg.timeout_ms as u64;
    s.run_for(t - 50);
    assert_eq!(s.cores[0].listed_count(), 2, "dropped before the timeout");
    s.run_for(t / 2);
    assert_eq!(s.cores[0].listed_count(), 1);
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
                attrs: Attributes {
                    name: "impostor".into(),
                    private_data: String::new(),
                },
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

// ---- no reflection (issue 10, finding 4) -------------------------------------------------------

/// A converged three-member core with news queued (a 1000-byte attribute change rides on every
/// message while it lasts), and the ids of a member and of a stranger.
fn core_with_news() -> (Sim, MemberId, MemberId) {
    let mut s = sim(3, 5);
    s.start_converged();
    s.cores[0].update_attrs(Attributes {
        name: "m0".into(),
        private_data: "p".repeat(1000),
    });
    s.cores[0].drain_outgoing();
    let stranger: MemberId = "192.0.2.9:7946".parse().unwrap();
    (s, s_id(1), stranger)
}

fn s_id(i: usize) -> MemberId {
    crate::sim::member_id(i)
}

fn weight(msg: &Message) -> usize {
    wire::encode(msg, &wire::Key::new(None)).len()
}

#[test]
fn requests_that_need_a_tcp_answer_are_not_answered_by_datagram() {
    let (mut s, _, stranger) = core_with_news();
    let now = s.now;
    let core = &mut s.cores[0];
    core.publish(now, 1, vec![1; 4000]).unwrap();
    core.drain_outgoing();
    let requests = [
        Message::Digest {
            from: stranger,
            digest: 1,
            meta_version: None,
        },
        Message::MetaRequest { from: stranger },
        Message::PushPull {
            from: stranger,
            reply: false,
            members: vec![],
            meta_version: None,
            meta: None,
        },
    ];
    for msg in requests.clone() {
        let weight = weight(&msg);
        core.handle(now, Arrival::Datagram { weight }, msg.clone());
        assert_eq!(core.drain_outgoing(), vec![], "{msg:?} by datagram");
    }
    // On a connection, each is answered on that connection and nowhere else.
    for msg in requests {
        core.handle(
            now,
            Arrival::Stream {
                conn: 42,
                ours: false,
            },
            msg.clone(),
        );
        let out = core.drain_outgoing();
        assert!(!out.is_empty(), "{msg:?} on a stream went unanswered");
        assert!(
            out.iter().all(|o| o.route == Route::Reply(42)),
            "{msg:?}: {out:?}"
        );
    }
}

#[test]
fn an_answer_to_a_datagram_never_outweighs_it() {
    let (mut s, member, stranger) = core_with_news();
    let now = s.now;
    let me = s.ids[0];
    let core = &mut s.cores[0];
    for rumors in [
        vec![],
        vec![
            Rumor::Left {
                id: stranger,
                incarnation: 1
            };
            40
        ],
    ] {
        let ping = Message::Ping {
            seq: 1,
            from: stranger,
            target: me,
            rumors: rumors.clone(),
        };
        let ping_req = Message::PingReq {
            seq: 2,
            from: stranger,
            target: member,
            rumors: rumors.clone(),
        };
        let unknown_target = Message::PingReq {
            seq: 3,
            from: stranger,
            target: "192.0.2.10:7946".parse().unwrap(),
            rumors,
        };
        for msg in [ping, ping_req, unknown_target] {
            let w = weight(&msg);
            core.handle(now, Arrival::Datagram { weight: w }, msg.clone());
            for o in core.drain_outgoing() {
                // Whatever it sends, to anyone, weighs no more than the request.
                assert!(weight(&o.msg) <= w, "{msg:?} -> {o:?}");
                if o.to == stranger {
                    assert_eq!(o.route, Route::Answer { limit: w });
                } else {
                    assert_eq!(o.to, member, "relayed only to a listed member");
                    assert_eq!(o.route, Route::Own);
                }
            }
        }
    }
    // The relayed ack (when the member answers) and the nack (when it does not) are answers too.
    core.tick(now + 10_000);
    for o in core
        .drain_outgoing()
        .into_iter()
        .filter(|o| o.to == stranger)
    {
        assert!(matches!(o.route, Route::Answer { limit } if weight(&o.msg) <= limit));
    }
}

#[test]
fn a_cluster_converges_spreads_news_and_never_makes_an_oversized_answer() {
    let mut s = sim(40, 9);
    assert!(s.run_until(30_000, |s| s.converged()).is_some());
    let now = s.now;
    s.cores[3].publish(now, 1, vec![9; 3000]).unwrap();
    let v = s.cores[3].metadata().unwrap().version;
    assert!(s
        .run_until(30_000, |s| s
            .cores
            .iter()
            .all(|c| c.metadata().is_some_and(|m| m.version == v)))
        .is_some());
    assert_eq!(s.answers_oversized, 0);
}

/// News about a known member is believed only within `INCARNATION_WINDOW` of what we hold;
/// beyond it, it is dropped and counted.
#[test]
fn implausible_incarnations_are_dropped_and_counted() {
    let mut s = sim(3, 5);
    s.start_converged();
    let now = s.now;
    let (victim, other) = (s.ids[2], s.ids[1]);
    let core = &mut s.cores[0];
    let (_, known) = core.member_status(&victim).unwrap();
    let dead = |incarnation| Message::Gossip {
        from: other,
        rumors: vec![Rumor::Dead {
            id: victim,
            incarnation,
            from: other,
        }],
    };
    for far in [
        known + INCARNATION_WINDOW + 1,
        known + (1 << 30),
        known + (1 << 31) - 1,
    ] {
        core.handle(now, DATAGRAM, dead(far));
        assert_eq!(core.member_status(&victim), Some((Status::Alive, known)));
    }
    assert_eq!(core.counters().incarnations_implausible, 3);
    // Behind us (as serial numbers): old news, ignored without counting.
    core.handle(now, DATAGRAM, dead(known.wrapping_sub(1)));
    assert_eq!(core.member_status(&victim), Some((Status::Alive, known)));
    assert_eq!(core.counters().incarnations_implausible, 3);
    // At the edge of the window: believed.
    core.handle(now, DATAGRAM, dead(known + INCARNATION_WINDOW));
    assert_eq!(
        core.member_status(&victim),
        Some((Status::Dead, known + INCARNATION_WINDOW))
    );
}

/// A forged suspicion walked around the whole circle of incarnations, one window at a time:
/// the victim refutes wherever the walk ends, and is listed everywhere again.
#[test]
fn a_stepping_flood_around_the_circle_does_not_pin_a_member() {
    let mut s = sim(6, 21);
    s.start_converged();
    s.run_for(2_000);
    let victim = s.ids[5];
    let forger = crate::sim::member_id(99);
    let mut incarnation = s.cores[1].member_status(&victim).unwrap().1;
    let steps = (1u64 << 32) / INCARNATION_WINDOW as u64 + 3;
    for _ in 0..steps {
        incarnation = incarnation.wrapping_add(INCARNATION_WINDOW);
        let now = s.now;
        s.cores[1].handle(
            now,
            DATAGRAM,
            Message::Gossip {
                from: forger,
                rumors: vec![Rumor::Suspect {
                    id: victim,
                    incarnation,
                    from: forger,
                }],
            },
        );
    }
    assert_eq!(
        s.cores[1].member_status(&victim),
        Some((Status::Suspect, incarnation)),
        "every step was believed"
    );
    let t = s.cfg.timeout_ms as u64;
    let back = s.run_until(3 * t, |s| {
        (0..5).all(|i| s.cores[i].member_status(&victim).unwrap().0 == Status::Alive)
    });
    assert!(back.is_some(), "the victim never refuted the walk");
    assert_eq!(s.listed_by(5), 5);
}

/// A metadata version with its clock beyond the drift bound is refused and counted; a publish
/// after it is newer than what is held, and so spreads.
#[test]
fn a_clock_beyond_the_drift_bound_is_refused_and_publish_stays_newest() {
    let mut s = sim(3, 7);
    s.start_converged();
    let now = s.now;
    let other = s.ids[1];
    let wall = crate::sim::SIM_WALL_MS + now;
    let forged = |hlc| Message::Gossip {
        from: other,
        rumors: vec![Rumor::Meta(Metadata {
            version: MetaVersion { hlc, origin: other },
            data: b"forged".to_vec(),
        })],
    };
    let core = &mut s.cores[0];
    for hlc in [hlc::HLC_MAX, (wall + hlc::DRIFT_MAX_MS + 1_000) << 16] {
        core.handle(now, DATAGRAM, forged(hlc));
        assert_eq!(core.metadata(), None);
    }
    // Announcements of such versions are not fetched either.
    core.handle(
        now,
        Arrival::Stream {
            conn: 1,
            ours: false,
        },
        Message::Digest {
            from: other,
            digest: core.digest(),
            meta_version: Some(MetaVersion {
                hlc: hlc::HLC_MAX,
                origin: other,
            }),
        },
    );
    assert!(core.drain_outgoing().is_empty());
    assert_eq!(core.counters().clocks_implausible, 3);
    // Within the bound: believed; our publish still orders after it.
    let ahead = (wall + hlc::DRIFT_MAX_MS - 1_000) << 16;
    core.handle(now, DATAGRAM, forged(ahead));
    assert_eq!(core.metadata().unwrap().version.hlc, ahead);
    let v = core.publish(now, wall, b"ours".to_vec()).unwrap();
    assert!(v.hlc > ahead);
}

/// The only way a publish can lose at its own member: the clock has reached its top (a wall
/// clock near 2^48 ms, year 10889). It is refused, and nothing changes.
#[test]
fn a_publish_that_cannot_be_newer_is_refused() {
    let mut s = sim(3, 8);
    s.start_converged();
    let now = s.now;
    // The origin sorts after member 0's address, so a version at the top from it wins ties.
    let other = s.ids[2];
    let core = &mut s.cores[0];
    let top_wall = (1u64 << 48) - 1;
    core.set_wall_clock(now, top_wall);
    let held = MetaVersion {
        hlc: hlc::HLC_MAX,
        origin: other,
    };
    core.handle(
        now,
        Arrival::Stream {
            conn: 1,
            ours: false,
        },
        Message::MetaResponse {
            from: other,
            meta: Metadata {
                version: held,
                data: b"at the top".to_vec(),
            },
        },
    );
    assert_eq!(core.metadata().unwrap().version, held);
    assert_eq!(
        core.publish(now, top_wall, b"mine".to_vec()),
        Err(PublishRefused { held })
    );
    assert_eq!(core.metadata().unwrap().data, b"at the top");
}

#[test]
fn a_refuted_accusation_is_answered_with_the_refutation_within_its_weight() {
    let mut s = Sim::new(SimConfig {
        members: 3,
        ..SimConfig::default()
    });
    s.start_converged();
    let now = s.now;
    let (me, member, holder) = (s.ids[0], s.ids[1], s.ids[2]);
    let core = &mut s.cores[0];
    core.drain_outgoing();
    // `member` refuted a suspicion: we hold it alive at 1.
    let refutation = Rumor::Alive {
        id: member,
        incarnation: 1,
        attrs: Attributes {
            name: "m1".into(),
            private_data: String::new(),
        },
    };
    let gossip = Message::Gossip {
        from: member,
        rumors: vec![refutation.clone()],
    };
    core.handle(now, Arrival::Datagram { weight: 100 }, gossip);
    core.drain_outgoing();
    // `holder` still spreads the suspicion at 0, on a bare gossip: it gets the refutation back.
    let stale = Message::Gossip {
        from: holder,
        rumors: vec![Rumor::Suspect {
            id: member,
            incarnation: 0,
            from: holder,
        }],
    };
    let w = weight(&stale);
    core.handle(now, Arrival::Datagram { weight: w }, stale);
    let out = core.drain_outgoing();
    let answer = out.iter().find(|o| o.to == holder).expect("a correction");
    assert_eq!(answer.route, Route::Answer { limit: w });
    assert!(weight(&answer.msg) <= w, "{answer:?}");
    assert!(matches!(&answer.msg, Message::Gossip { rumors, .. } if rumors == &vec![refutation]));
    // A ping from `holder` that accuses us of what our incarnation already refutes: the ack,
    // no heavier than the ping, carries our `Alive`.
    let ours = core.incarnation();
    let ping = Message::Ping {
        seq: 7,
        from: holder,
        target: me,
        rumors: vec![Rumor::Suspect {
            id: me,
            incarnation: ours,
            from: holder,
        }],
    };
    let w = weight(&ping);
    core.handle(now, Arrival::Datagram { weight: w }, ping);
    let out = core.drain_outgoing();
    let ack = out.iter().find(|o| o.to == holder).expect("an ack");
    assert!(weight(&ack.msg) <= w, "{ack:?}");
    let refuted = core.incarnation();
    assert!(matches!(&ack.msg, Message::Ack { rumors, .. }
        if rumors.iter().any(|r| matches!(r, Rumor::Alive { id, incarnation, .. }
            if *id == me && *incarnation == refuted))));
    // A datagram too light for the correction gets none rather than a heavier answer.
    core.handle(
        now,
        Arrival::Datagram { weight: 10 },
        Message::Gossip {
            from: holder,
            rumors: vec![Rumor::Suspect {
                id: member,
                incarnation: 0,
                from: holder,
            }],
        },
    );
    assert!(core.drain_outgoing().iter().all(|o| o.to != holder));
}

// ---- review of issue 10: what a datagram's claimed sender can make us do -----------------------

/// A plausible metadata version newer than any `s` holds (published by member 2's core).
fn newer_version(s: &mut Sim) -> MetaVersion {
    let now = s.now;
    s.cores[2].publish(now, SIM_WALL, vec![3; 2000]).unwrap()
}

const SIM_WALL: u64 = crate::sim::SIM_WALL_MS;

/// A `MetaAnnounce` by datagram leads to a fetch (a connection we open) only from a member we
/// list and have verified; one from a stranger, or from a member only others told us of, is
/// dropped and counted. The same announce on a connection is fetched on that connection.
#[test]
fn a_datagram_meta_announce_opens_no_connection_to_an_unverified_sender() {
    let (mut s, member, stranger) = core_with_news();
    let v = newer_version(&mut s);
    let now = s.now;
    let heard_of: MemberId = "192.0.2.77:7946".parse().unwrap();
    let core = &mut s.cores[0];
    // A member we list only because a member told us of it.
    core.handle(
        now,
        DATAGRAM,
        Message::Gossip {
            from: member,
            rumors: vec![Rumor::Alive {
                id: heard_of,
                incarnation: 1,
                attrs: Attributes::default(),
            }],
        },
    );
    assert!(core.member_status(&heard_of).is_some());
    core.drain_outgoing();
    for holder in [stranger, heard_of] {
        let msg = Message::Gossip {
            from: holder,
            rumors: vec![Rumor::MetaAnnounce(v)],
        };
        let w = weight(&msg);
        core.handle(now, Arrival::Datagram { weight: w }, msg);
        let out = core.drain_outgoing();
        assert!(
            out.iter()
                .all(|o| o.route != Route::Request && o.to != holder),
            "an announce claimed by {holder} -> {out:?}"
        );
    }
    assert_eq!(core.counters().announces_ignored, 2);
    // From a member we verified (start_converged: all of them), it is fetched.
    let msg = Message::Gossip {
        from: member,
        rumors: vec![Rumor::MetaAnnounce(v)],
    };
    core.handle(
        now,
        Arrival::Datagram {
            weight: weight(&msg),
        },
        msg,
    );
    let out = core.drain_outgoing();
    assert!(
        out.iter().any(|o| o.to == member
            && o.route == Route::Request
            && matches!(o.msg, Message::MetaRequest { .. })),
        "{out:?}"
    );
}

/// A ping-req by datagram: the relayed ping and the answer (ack or nack) to the requester carry
/// rumors out of one weight, the request's. All they send beyond the probe itself (a bare ping,
/// which a real requester would have sent the target anyway) weighs no more than the request.
#[test]
fn a_relayed_probe_and_its_answer_share_the_requests_weight() {
    let (mut s, member, stranger) = core_with_news();
    let now = s.now;
    let me = s.ids[0];
    let core = &mut s.cores[0];
    // Small rumors queued: they would fill both the relayed ping and the answer.
    let news: Vec<Rumor> = (0..60u8)
        .map(|i| Rumor::Alive {
            id: MemberId::from(([192, 0, 2, i], 7946)),
            incarnation: 1,
            attrs: Attributes::default(),
        })
        .collect();
    core.handle(
        now,
        Arrival::Stream {
            conn: 7,
            ours: false,
        },
        Message::Gossip {
            from: member,
            rumors: news,
        },
    );
    core.drain_outgoing();
    for (seq, acked) in [(10u32, true), (11, false)] {
        let req = Message::PingReq {
            seq,
            from: stranger,
            target: member,
            rumors: vec![
                Rumor::Left {
                    id: stranger,
                    incarnation: 1
                };
                40
            ],
        };
        let w = weight(&req);
        core.handle(now, Arrival::Datagram { weight: w }, req);
        let out = core.drain_outgoing();
        let ping = out.iter().find(|o| o.to == member).expect("relayed ping");
        let Message::Ping { seq: my_seq, .. } = ping.msg else {
            panic!("{ping:?}")
        };
        let bare = weight(&Message::Ping {
            seq: my_seq,
            from: me,
            target: member,
            rumors: vec![],
        });
        let mut total = weight(&ping.msg);
        if acked {
            core.handle(
                now + 1,
                DATAGRAM,
                Message::Ack {
                    seq: my_seq,
                    from: member,
                    rumors: vec![],
                },
            );
        } else {
            core.tick(now + 10_000);
        }
        let answers: Vec<Outgoing> = core
            .drain_outgoing()
            .into_iter()
            .filter(|o| o.to == stranger)
            .collect();
        assert_eq!(answers.len(), 1, "{answers:?}");
        total += weight(&answers[0].msg);
        assert!(
            total <= w + bare,
            "acked {acked}: a {w}-byte request -> {total} bytes (a bare ping is {bare})"
        );
    }
}

/// A datagram's own `Alive` about its claimed sender introduces that member only within the
/// per-period budget, and marks no one as having spoken to us: only an ack to our own probe or
/// a frame on a connection we opened proves that.
#[test]
fn datagrams_that_introduce_their_own_sender_are_limited_and_prove_nothing() {
    let (mut s, member, _) = core_with_news();
    let now = s.now;
    let core = &mut s.cores[0];
    let before = core.listed_count();
    let forged = INTRODUCTIONS_PER_PERIOD as usize + 500;
    for i in 0..forged {
        let x = MemberId::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 9000));
        let msg = Message::Gossip {
            from: x,
            rumors: vec![Rumor::Alive {
                id: x,
                incarnation: 1,
                attrs: Attributes::default(),
            }],
        };
        core.handle(
            now,
            Arrival::Datagram {
                weight: weight(&msg),
            },
            msg,
        );
    }
    let added = core.listed_count() - before;
    assert!(
        added <= INTRODUCTIONS_PER_PERIOD as usize,
        "{forged} forged self-introductions added {added}, refused {}",
        core.counters().introductions_refused
    );
    assert!(core.counters().introductions_refused >= 500);
    let direct = core.members.values().filter(|m| m.direct).count();
    assert_eq!(direct, 2, "only the two members start_converged verified");
    // A datagram from a listed member proves nothing either.
    core.members.get_mut(&member).unwrap().direct = false;
    let ping = Message::Ping {
        seq: 5,
        from: member,
        target: s.ids[0],
        rumors: vec![],
    };
    let core = &mut s.cores[0];
    core.handle(
        now,
        Arrival::Datagram {
            weight: weight(&ping),
        },
        ping.clone(),
    );
    assert!(!core.members[&member].direct);
    // Nor does a frame on a connection it opened (it proves a source address, not the id).
    core.handle(
        now,
        Arrival::Stream {
            conn: 1,
            ours: false,
        },
        ping.clone(),
    );
    assert!(!core.members[&member].direct);
    // A frame on a connection we opened to it does.
    core.handle(
        now,
        Arrival::Stream {
            conn: 2,
            ours: true,
        },
        ping,
    );
    assert!(core.members[&member].direct);
}

/// An ack to our own probe, from its target, proves the target is there; one that answers no
/// probe of ours, or comes from someone else, does not.
#[test]
fn only_an_ack_to_our_own_probe_from_its_target_verifies_it() {
    let mut s = sim(3, 5);
    s.start_converged();
    let now = s.now;
    let other = s.ids[2];
    let core = &mut s.cores[0];
    core.members.values_mut().for_each(|m| m.direct = false);
    core.tick(now + 1_000);
    let out = core.drain_outgoing();
    let (target, seq) = out
        .iter()
        .find_map(|o| match o.msg {
            Message::Ping { seq, target, .. } => Some((target, seq)),
            _ => None,
        })
        .expect("a probe");
    let ack = |from, seq| Message::Ack {
        seq,
        from,
        rumors: vec![],
    };
    core.handle(now + 1_001, DATAGRAM, ack(target, seq.wrapping_add(7)));
    assert!(!core.members[&target].direct, "an ack to no probe of ours");
    let helper = if target == other { s.ids[1] } else { other };
    let core = &mut s.cores[0];
    core.handle(now + 1_001, DATAGRAM, ack(helper, seq));
    assert!(!core.members[&target].direct && !core.members[&helper].direct);
    core.tick(now + 2_000);
    core.drain_outgoing();
    core.tick(now + 3_000);
    let (target, seq) = core
        .drain_outgoing()
        .iter()
        .find_map(|o| match o.msg {
            Message::Ping { seq, target, .. } => Some((target, seq)),
            _ => None,
        })
        .expect("a second probe");
    core.handle(now + 3_001, DATAGRAM, ack(target, seq));
    assert!(core.members[&target].direct);
}

/// A push-pull that says it is a reply is taken as the reply to our join (listed without the
/// introduction limits) only on a connection we opened.
#[test]
fn a_join_reply_counts_only_on_a_connection_we_opened() {
    let mut s = sim(2, 3);
    let seed = s.ids[1];
    let now = s.now;
    let core = &mut s.cores[0];
    core.set_peer(now, seed, Attributes::default());
    core.join(now);
    core.drain_outgoing();
    let table = |n: usize| -> Vec<MemberState> {
        (0..n)
            .map(|i| MemberState {
                id: MemberId::from(([10, 1, (i >> 8) as u8, i as u8], 9000)),
                incarnation: 1,
                status: Status::Alive,
                attrs: Attributes::default(),
            })
            .collect()
    };
    let forged = INTRODUCTIONS_PER_MESSAGE as usize + 500;
    core.handle(
        now,
        Arrival::Stream {
            conn: 3,
            ours: false,
        },
        Message::PushPull {
            from: seed,
            reply: true,
            members: table(forged),
            meta_version: None,
            meta: None,
        },
    );
    let listed = core.listed_count();
    assert!(
        listed <= 2 + INTRODUCTIONS_PER_MESSAGE as usize,
        "a reply on a connection the sender opened listed {listed}"
    );
    // The real reply, on the connection we opened for our join, lists everyone it holds.
    let mut s = sim(2, 3);
    let now = s.now;
    let core = &mut s.cores[0];
    core.set_peer(now, seed, Attributes::default());
    core.join(now);
    core.drain_outgoing();
    core.handle(
        now,
        Arrival::Stream {
            conn: 0,
            ours: true,
        },
        Message::PushPull {
            from: seed,
            reply: true,
            members: table(forged),
            meta_version: None,
            meta: None,
        },
    );
    assert_eq!(core.listed_count(), 2 + forged);
    assert!(core.members[&seed].direct);
}
