//! Forged news (issue 10, findings 1, 2 and 5): implausible incarnations and clocks, publishes
//! that cannot win, the introduction limits, and what verifies a member.

use super::*;

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
                attrs: crate::proto::PackedAttributes::default(),
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
    core.members.for_each_mut(|_, m| m.direct = false);
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
    // Ticks when the core asks to (a late tick would count against its health and hold the
    // next probe back), until the next probe goes out.
    let mut at = now + 1_000;
    let (target, seq) = (0..100)
        .find_map(|_| {
            at = core.next_wake().max(at + 1);
            core.tick(at);
            core.drain_outgoing().iter().find_map(|o| match o.msg {
                Message::Ping { seq, target, .. } => Some((target, seq)),
                _ => None,
            })
        })
        .expect("a second probe");
    core.handle(at + 1, DATAGRAM, ack(target, seq));
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
                attrs: crate::proto::PackedAttributes::default(),
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
            holds: None,
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
            holds: None,
        },
    );
    assert_eq!(core.listed_count(), 2 + forged);
    assert!(core.members[&seed].direct);
}
