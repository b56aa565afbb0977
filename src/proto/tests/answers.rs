//! What a datagram can make a member send (issue 10, finding 4): no answer outweighs its
//! request, requests that need a TCP answer are answered only on their connection, and a
//! datagram makes no connection to the address it claims.

use super::*;

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
            holds: None,
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
        attrs: crate::proto::PackedAttributes::pack(&Attributes {
            name: "m1".into(),
            private_data: String::new(),
        }),
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
                attrs: crate::proto::PackedAttributes::default(),
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
            attrs: crate::proto::PackedAttributes::default(),
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

/// What `core` sent: each ping's target and rumor count, every ping answered at once with an ack
/// from its target unless the target is `silent`; events dropped.
fn ack_pings(core: &mut Core, now: Millis, silent: &[MemberId]) -> Vec<(MemberId, usize)> {
    let mut pings = Vec::new();
    for o in core.drain_outgoing() {
        if let Message::Ping { seq, rumors, .. } = o.msg {
            pings.push((o.to, rumors.len()));
            if !silent.contains(&o.to) {
                let ack = Message::Ack {
                    seq,
                    from: o.to,
                    rumors: vec![],
                };
                core.handle(now, DATAGRAM, ack);
            }
        }
    }
    core.take_events();
    pings
}

#[test]
fn a_verification_ping_to_an_address_a_rumor_named_carries_no_rumors() {
    // A forged `Alive` introduces an address nobody has verified; every member's verification
    // ping may pick it. What it receives must stay one small ping from each, not a datagram of
    // news (which would make one forged rumor worth N full datagrams to its victim).
    let mut s = Sim::new(SimConfig {
        members: 6,
        ..SimConfig::default()
    });
    s.start_converged();
    // An address that does not become member 0's ring successor (probes carry rumors, as they
    // should; only the verification ping is in question).
    let successor = |ids: &[MemberId]| {
        let h = |id: &MemberId| crate::proto::state::member_hash(id, None);
        let mine = h(&ids[0]);
        let after = ids[1..]
            .iter()
            .filter(|id| h(id) > mine)
            .min_by_key(|id| h(id));
        *after.unwrap_or_else(|| ids[1..].iter().min_by_key(|id| h(id)).expect("peers"))
    };
    let victim = (70..200)
        .map(crate::sim::member_id)
        .find(|v| {
            let mut ids = s.ids.clone();
            ids.push(*v);
            successor(&ids) != *v
        })
        .expect("an address that is not the successor");
    let now = s.now;
    let core = &mut s.cores[0];
    core.drain_outgoing();
    core.handle(
        now,
        DATAGRAM,
        Message::Gossip {
            from: crate::sim::member_id(1),
            rumors: vec![Rumor::Alive {
                id: victim,
                incarnation: 1,
                attrs: crate::proto::PackedAttributes::default(),
            }],
        },
    );
    let mut now = now;
    let mut pings = Vec::new();
    let mut round = 0;
    while now < 300 * core.timing().probe_interval {
        // News to piggyback all along: the members' own newer incarnations.
        round += 1;
        let news = (1..6)
            .map(|j| Rumor::Alive {
                id: crate::sim::member_id(j),
                incarnation: round,
                attrs: crate::proto::PackedAttributes::pack(&Attributes {
                    name: format!("m{j}"),
                    private_data: String::new(),
                }),
            })
            .collect();
        core.handle(
            now,
            DATAGRAM,
            Message::Gossip {
                from: crate::sim::member_id(1),
                rumors: news,
            },
        );
        now = core.next_wake().max(now + 1);
        core.tick(now);
        // The others answer, so none is suspected and the ring stays as it is.
        for (to, rumors) in ack_pings(core, now, &[victim]) {
            if to == victim {
                pings.push(rumors);
            }
        }
    }
    let listed = s.cores[0].member_status(&victim);
    assert!(
        !pings.is_empty(),
        "the unverified address was never pinged ({listed:?})"
    );
    assert!(
        pings.iter().all(|&n| n == 0),
        "pings to the address a rumor named carried rumors: {pings:?}"
    );
}

#[test]
fn with_every_member_verified_a_member_sends_one_ping_per_probe_interval() {
    // The steady state the packet budget counts on (issue 11: at most memberlist's 2 datagrams
    // per member per second): a probe and its ack, no verification pings once all are verified.
    let mut s = Sim::new(SimConfig {
        members: 6,
        ..SimConfig::default()
    });
    s.start_converged();
    let core = &mut s.cores[0];
    core.drain_outgoing();
    let interval = core.timing().probe_interval;
    let (mut now, mut pings) = (0, 0u64);
    let end = 100 * interval;
    while now < end {
        now = core.next_wake().max(now + 1);
        core.tick(now);
        pings += ack_pings(core, now, &[]).len() as u64;
    }
    assert!(
        (99..=101).contains(&pings),
        "{pings} pings in 100 probe intervals with every member verified"
    );
}
