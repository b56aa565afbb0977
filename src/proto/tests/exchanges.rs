//! Anti-entropy exchanges (issue 11): what a push-pull merges and skips, what its reply
//! carries, and the offer a differing digest brings, each side sending only what the other
//! lacks.

use super::*;

/// A push-pull's entries from a member of a converged cluster of 40, changed here and there: the
/// table's own incarnation, an older and a newer one, other statuses, a member named twice,
/// members we do not hold, one we hold quietly or only as a `peko_set` guess, and ourselves.
fn varied_push_pull(s: &mut Sim) -> Vec<MemberState> {
    s.start_converged();
    let now = s.now;
    let core = &mut s.cores[0];
    let quiet = s_id(5);
    core.members.get_mut(&quiet).unwrap().quiet = true;
    core.members.get_mut(&s_id(9)).unwrap().incarnation = 2;
    // Some we hold as not verified: the reply lists them in its second pass.
    for i in [3, 17, 21, 30] {
        core.members.get_mut(&s_id(i)).unwrap().direct = false;
    }
    let guess = "192.0.2.7:7946".parse().unwrap();
    core.set_peer(now, guess, Attributes::default());
    core.drain_outgoing();
    let held = |id: MemberId| core.members[&id].incarnation;
    let entry = |id: MemberId, incarnation, status| MemberState {
        id,
        incarnation,
        status,
        attrs: PackedAttributes::default(),
    };
    let mut states: Vec<MemberState> = (1..40)
        .map(|i| entry(s_id(i), held(s_id(i)), Status::Alive))
        .collect();
    states[7].incarnation += 1;
    states[8].incarnation = 1;
    states[9].status = Status::Suspect;
    states[10].status = Status::Left;
    states.push(entry(s_id(12), held(s_id(12)), Status::Alive));
    states.push(entry(s_id(13), held(s_id(13)) + 1, Status::Alive));
    states.push(entry(guess, 0, Status::Alive));
    states.push(entry("192.0.2.8:7946".parse().unwrap(), 1, Status::Alive));
    states.push(entry(s_id(0), 0, Status::Alive));
    states
}

/// What the walk beside the table marks as unchanged is exactly what a lookup per entry finds
/// `apply_alive` would return at once for, members named twice left out.
#[test]
fn a_push_pull_entry_is_skipped_only_where_applying_it_would_change_nothing() {
    let mut s = sim(40, 8);
    let states = varied_push_pull(&mut s);
    let core = &s.cores[0];
    let unchanged = core.unchanged(&states, &crate::proto::pushpull::id_order(&states));
    let want: Vec<bool> = states
        .iter()
        .map(|e| {
            let named = states.iter().filter(|o| o.id == e.id).count();
            e.status == Status::Alive
                && named == 1
                && core
                    .members
                    .get(&e.id)
                    .is_some_and(|m| !m.placeholder && !m.quiet && m.incarnation == e.incarnation)
        })
        .collect();
    assert_eq!(unchanged, want);
    let marked = unchanged.iter().filter(|u| **u).count();
    // Of the 39 members named once or twice: 5 (quiet), 8 (newer), 9 (older), 10 (suspect),
    // 11 (left), 12 and 13 (named twice) are not marked.
    assert_eq!(marked, 39 - 7, "the varied entries are the ones not marked");
}

/// The reply to a push-pull carries every member we hold differently from the pusher or that
/// it did not name, and nothing it holds as we do.
#[test]
fn a_push_pull_reply_carries_only_what_the_pusher_lacks_or_holds_otherwise() {
    let mut s = sim(40, 8);
    let states = varied_push_pull(&mut s);
    let from = s_id(1);
    let now = s.now;
    let core = &mut s.cores[0];
    // What we hold before the merge changes it, and what the pusher said about each member.
    let before: Vec<(MemberId, Incarnation, Status)> = core
        .members
        .iter()
        .filter(|(_, m)| !m.placeholder)
        .map(|(id, m)| (*id, m.incarnation, m.status))
        .collect();
    core.handle(
        now,
        Arrival::Stream {
            conn: 3,
            ours: false,
        },
        Message::PushPull {
            from,
            reply: false,
            members: states.clone(),
            meta_version: None,
            meta: None,
            holds: None,
        },
    );
    let reply = core
        .drain_outgoing()
        .into_iter()
        .find_map(|o| match o.msg {
            Message::PushPull {
                reply: true,
                members,
                ..
            } => Some(members),
            _ => None,
        })
        .expect("a reply");
    let sent: std::collections::BTreeSet<MemberId> = reply.iter().map(|m| m.id).collect();
    // The reply reflects the table after the merge; a member whose entry the merge left as the
    // pusher said is not sent, every other one is.
    for (id, _, _) in &before {
        let m = &core.members[id];
        let theirs = states
            .iter()
            .any(|e| e.id == *id && (e.incarnation, e.status) == (m.incarnation, m.status));
        assert_eq!(
            sent.contains(id),
            !theirs,
            "{id}: held at {} {:?}, the pusher said {:?}",
            m.incarnation,
            m.status,
            states.iter().filter(|e| e.id == *id).collect::<Vec<_>>()
        );
    }
    assert!(sent.contains(&core.cfg.me), "ourselves first");
    assert!(
        sent.len() < before.len(),
        "most entries matched and were left out"
    );
}

/// Skipping the entries `unchanged` marks changes nothing a push-pull does: over random tables
/// and push-pulls (requests and replies; other incarnations and statuses, members named twice,
/// strangers, ourselves, guesses, quiet and unverified members), the table, what is sent, the
/// events, the counters and the early rounds asked for are the same as when every entry is
/// applied.
#[test]
fn skipping_unchanged_entries_changes_nothing_a_push_pull_does() {
    use crate::proto::pushpull::APPLY_EVERY_ENTRY;
    let mut skipped_total = 0;
    for seed in 0..60u64 {
        let run = |apply_every: bool| {
            APPLY_EVERY_ENTRY.set(apply_every);
            let mut s = sim(40, seed);
            let mut states = varied_push_pull(&mut s);
            let mut rng = crate::proto::random::Rng::seed(seed);
            let core = &mut s.cores[0];
            for i in 1..40 {
                let mut m = core.members.get_mut(&s_id(i)).unwrap();
                match rng.below(8) {
                    0 => m.direct = !m.direct,
                    // The pusher itself among them: its own entry is how it joins.
                    1 => m.quiet = true,
                    _ => {}
                }
            }
            for e in states.iter_mut() {
                match rng.below(8) {
                    0 => e.incarnation += 1,
                    1 => e.incarnation = e.incarnation.saturating_sub(1),
                    2 => e.status = Status::Suspect,
                    3 => e.status = Status::Dead,
                    _ => {}
                }
            }
            if seed % 3 == 0 {
                // A short push-pull: looked up entry by entry, not walked.
                states.drain(..states.len() - 3);
            }
            let twice = states[rng.below(states.len() as u64) as usize].clone();
            states.push(twice);
            let reply = seed % 2 == 0;
            let now = s.now;
            let core = &mut s.cores[0];
            let skipped = core
                .unchanged(&states, &crate::proto::pushpull::id_order(&states))
                .iter()
                .filter(|u| **u)
                .count();
            core.handle(
                now,
                Arrival::Stream {
                    conn: 0,
                    ours: reply,
                },
                Message::PushPull {
                    from: s_id(1),
                    reply,
                    members: states,
                    meta_version: None,
                    meta: None,
                    holds: None,
                },
            );
            APPLY_EVERY_ENTRY.set(false);
            core.members.check();
            let table: Vec<String> = core.members.iter().map(|e| format!("{e:?}")).collect();
            let mut events = Vec::new();
            while let Some(e) = core.next_event() {
                events.push(format!("{e:?}"));
            }
            let out = format!("{:?}", core.drain_outgoing());
            let rest = format!(
                "{:?} {} {} {}",
                core.counters(),
                core.sync_soon,
                core.incarnation,
                core.rumors.len()
            );
            (table, events, out, rest, skipped)
        };
        let skipping = run(false);
        let every = run(true);
        assert_eq!(skipping.0, every.0, "seed {seed}: the tables differ");
        assert_eq!(skipping.1, every.1, "seed {seed}: the events differ");
        assert_eq!(skipping.2, every.2, "seed {seed}: what was sent differs");
        assert_eq!(
            skipping.3, every.3,
            "seed {seed}: counters or rounds differ"
        );
        skipped_total += skipping.4;
    }
    assert!(
        skipped_total > 40 * 10,
        "too few entries were skipped to compare: {skipped_total}"
    );
}

/// What `core` holds, as an offer or a push answering one says it: every member but `peko_set`
/// guesses, and itself, in id order.
fn held_by(core: &Core) -> Vec<Held> {
    let mut v: Vec<Held> = core
        .members
        .iter()
        .filter(|(_, m)| !m.placeholder)
        .map(|(id, m)| Held {
            id: *id,
            incarnation: m.incarnation,
            status: m.status,
        })
        .collect();
    v.push(Held {
        id: core.cfg.me,
        incarnation: core.incarnation,
        status: Status::Alive,
    });
    v.sort_by_key(|h| h.id);
    v
}

/// The ids of `held` that `other` does not hold as they are.
fn differing(held: &[Held], other: &[Held]) -> std::collections::BTreeSet<MemberId> {
    held.iter()
        .filter(|h| !other.contains(h))
        .map(|h| h.id)
        .collect()
}

/// The one message `core` sent, with its route.
fn only_sent(core: &mut Core) -> (Route, Message) {
    let mut out = core.drain_outgoing();
    assert_eq!(out.len(), 1, "one message: {out:?}");
    let o = out.pop().unwrap();
    (o.route, o.msg)
}

/// A digest that differs is answered by an offer (what the answerer holds, without attributes)
/// rather than a whole table; the push answering the offer carries exactly what the offer lacks
/// or holds otherwise, with what the pusher holds, and the reply exactly what the pusher lacks
/// or holds otherwise. After the four frames both tables hash the same.
#[test]
fn a_differing_digest_is_settled_by_an_offer_and_only_the_differences() {
    let mut s = sim(40, 12);
    s.start_converged();
    let (a, b) = (s_id(0), s_id(1));
    // Member 0 lacks members 5 to 8 and holds 9 at a newer incarnation; member 1 lacks 12 and
    // holds 13 as suspected.
    for i in 5..9 {
        s.cores[0].members.remove(&s_id(i));
    }
    s.cores[0].members.get_mut(&s_id(9)).unwrap().incarnation += 1;
    s.cores[1].members.remove(&s_id(12));
    s.cores[1].members.get_mut(&s_id(13)).unwrap().status = Status::Suspect;
    for c in s.cores.iter_mut() {
        c.drain_outgoing();
    }
    let now = s.now;
    let (at_a, at_b) = (
        Arrival::Stream {
            conn: 8,
            ours: true,
        },
        Arrival::Stream {
            conn: 7,
            ours: false,
        },
    );
    let digest = s.cores[0].digest();
    assert_ne!(digest, s.cores[1].digest());
    let held_b = held_by(&s.cores[1]);
    s.cores[1].handle(
        now,
        at_b,
        Message::Digest {
            from: a,
            digest,
            meta_version: None,
        },
    );
    let (route, offer) = only_sent(&mut s.cores[1]);
    assert_eq!(route, Route::Reply(7));
    match &offer {
        Message::Offer { holds, .. } => assert_eq!(holds, &held_b, "the offer is the table"),
        m => panic!("an offer, not {m:?}"),
    }

    let held_a = held_by(&s.cores[0]);
    s.cores[0].handle(now, at_a, offer);
    let (route, push) = only_sent(&mut s.cores[0]);
    assert_eq!(route, Route::Reply(8));
    let Message::PushPull {
        reply: false,
        members,
        holds: Some(holds),
        ..
    } = &push
    else {
        panic!("a push-pull request with holds, not {push:?}");
    };
    assert_eq!(holds, &held_a);
    let sent: std::collections::BTreeSet<MemberId> = members.iter().map(|m| m.id).collect();
    // Member 9 (newer here), 13 (alive here, suspected there), 12 (lacking there) and the
    // pusher itself, always first.
    let mut want = differing(&held_a, &held_b);
    want.insert(a);
    assert_eq!(sent, want);
    assert_eq!(want.len(), 4, "{want:?}");

    s.cores[1].handle(now, at_b, push);
    let (route, reply) = only_sent(&mut s.cores[1]);
    assert_eq!(route, Route::Reply(7));
    let Message::PushPull {
        reply: true,
        members,
        holds: None,
        ..
    } = &reply
    else {
        panic!("a push-pull reply, not {reply:?}");
    };
    let sent: std::collections::BTreeSet<MemberId> = members.iter().map(|m| m.id).collect();
    let mut want = differing(&held_by(&s.cores[1]), &held_a);
    want.insert(b);
    assert_eq!(sent, want);
    assert!(
        (5..9).all(|i| sent.contains(&s_id(i))) && sent.len() <= 6,
        "members 5 to 8, the answerer itself, and 13 if it still holds it otherwise: {sent:?}"
    );

    s.cores[0].handle(now, at_a, reply);
    assert!(s.cores[0].drain_outgoing().is_empty());
    assert_eq!(s.cores[0].digest(), s.cores[1].digest());
}

/// An offer answers a digest we sent, so it is taken only on a connection we opened: anyone
/// can open one to us, or send a datagram, and call what it sends an offer.
#[test]
fn an_offer_is_taken_only_on_a_connection_we_opened() {
    let mut s = sim(10, 13);
    s.start_converged();
    let now = s.now;
    let offer = Message::Offer {
        from: s_id(1),
        holds: vec![],
        meta_version: None,
    };
    let core = &mut s.cores[0];
    core.drain_outgoing();
    for arrival in [
        DATAGRAM,
        Arrival::Stream {
            conn: 4,
            ours: false,
        },
    ] {
        core.handle(now, arrival, offer.clone());
        assert!(core.drain_outgoing().is_empty(), "{arrival:?}");
    }
    core.handle(
        now,
        Arrival::Stream {
            conn: 4,
            ours: true,
        },
        offer,
    );
    let (_, push) = only_sent(core);
    assert!(
        matches!(&push, Message::PushPull { reply: false, members, holds: Some(_), .. } if members.len() == 10),
        "an empty offer gets the whole table: {push:?}"
    );
}
