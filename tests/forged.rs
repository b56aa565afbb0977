//! Issue 10, keyless clusters: forged datagrams, made with the wire module's own encoder and sent
//! on loopback to real members, cannot shut a member out, rename it, or pin the metadata; and a
//! member that joins without a key says once, in its log, what that exposes.
//!
//! Every attack is a bounded number of datagrams from one socket of the test's own. Waits poll
//! with a generous deadline; where a test checks that something never happens, it watches a
//! window that ends only after the member under attack has answered a ping sent behind the
//! forged datagrams (so they were processed: one member reads its socket in order).

mod common;
use common::*;
use pekonode::proto::{
    hlc::HLC_MAX, MemberId, Message, MetaVersion, Metadata, Rumor, INCARNATION_WINDOW,
};
use pekonode::wire::{self, Key, Limits, StreamHeader};
use pekonode::{Attributes, Node, Protocol};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// The wire's largest incarnation before issue 10 (`u32::MAX - 1`): forged at the top. Under
/// serial arithmetic this is *older* than a young member's incarnation, so every member drops
/// it: the attack of the issue, kept, but it cannot tell whether refutation works. The forgeries
/// just ahead of what is known (`own_incarnation`) can.
const TOP: u32 = u32::MAX - 1;

/// The attacker: a UDP socket of its own on loopback.
struct Attacker {
    sock: UdpSocket,
    id: MemberId,
    seq: u32,
}

impl Attacker {
    fn new() -> Attacker {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let id = sock.local_addr().unwrap();
        Attacker { sock, id, seq: 0 }
    }

    fn send(&self, to: SocketAddr, msg: &Message) {
        let frame = wire::encode(msg, &Key::new(None));
        assert!(
            frame.len() <= wire::DATAGRAM_RECV_MAX,
            "{} bytes",
            frame.len()
        );
        self.sock.send_to(&frame, to).unwrap();
    }

    fn gossip(&self, to: SocketAddr, rumors: Vec<Rumor>) {
        self.send(
            to,
            &Message::Gossip {
                from: self.id,
                rumors,
            },
        );
    }

    /// Pings `to` and waits for its ack: everything sent to it before has been handled.
    fn barrier(&mut self, to: SocketAddr) {
        let deadline = Instant::now() + GENEROUS;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            self.seq += 1;
            let seq = self.seq;
            self.send(
                to,
                &Message::Ping {
                    seq,
                    from: self.id,
                    target: to,
                    rumors: vec![],
                },
            );
            while let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                let got = wire::decode(&buf[..n], &Key::new(None), Limits::datagram());
                if matches!(got, Ok(Message::Ack { seq: s, .. }) if s == seq) {
                    return;
                }
            }
        }
        panic!("{to} never acked the attacker's ping");
    }
}

/// The incarnation `member` gives itself, as a keyless peer learns it: from the member's own
/// entry in the reply to a push-pull on a connection we open (with nothing in ours).
fn own_incarnation(member: SocketAddr, asker: MemberId) -> u32 {
    let key = Key::new(None);
    let mut stream = TcpStream::connect(member).unwrap();
    stream.set_read_timeout(Some(GENEROUS)).unwrap();
    let ask = Message::PushPull {
        from: asker,
        reply: false,
        members: vec![],
        meta_version: None,
        meta: None,
        holds: None,
    };
    stream.write_all(&wire::encode_stream(&ask, &key)).unwrap();
    let limits = Limits::stream(64 << 20);
    loop {
        let mut header = vec![0u8; wire::HEADER_LEN];
        stream.read_exact(&mut header).unwrap();
        header.resize(StreamHeader::len(&header).unwrap(), 0);
        stream.read_exact(&mut header[wire::HEADER_LEN..]).unwrap();
        let h = StreamHeader::decode(&header, &key, limits).unwrap();
        let mut rest = vec![0u8; h.rest_len()];
        stream.read_exact(&mut rest).unwrap();
        if let Ok(Message::PushPull { members, .. }) = h.decode_rest(&mut rest, limits) {
            return members
                .iter()
                .find(|m| m.id == member)
                .expect("a member's push-pull holds itself")
                .incarnation;
        }
    }
}

fn refs(nodes: &[Node]) -> Vec<&Node> {
    nodes.iter().collect()
}

/// Every member lists `victim`, with exactly `attrs`, and suspects no one (a suspect is still
/// listed, but not cleared: it would be removed when its suspicion runs out).
fn all_list_with(nodes: &[Node], victim: SocketAddr, attrs: &Attributes) -> bool {
    nodes.iter().filter(|n| n.local_id() != victim).all(|n| {
        n.counters().members_suspect == 0
            && n.members()
                .iter()
                .any(|(id, a)| *id == victim && a == attrs)
    })
}

/// Every member lists `victim` with `attrs` (suspected or not).
fn all_list_still(nodes: &[Node], victim: SocketAddr, attrs: &Attributes) -> bool {
    nodes.iter().filter(|n| n.local_id() != victim).all(|n| {
        n.members()
            .iter()
            .any(|(id, a)| *id == victim && a == attrs)
    })
}

/// Asserts `holds` at every poll (every 20 ms) for `hold` from now: a property that must stay
/// true, not one waited for.
fn holds_for(hold: Duration, failure: &str, holds: impl Fn() -> bool) {
    let end = Instant::now() + hold;
    while Instant::now() < end {
        assert!(holds(), "{failure}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Some member lists `victim` with attributes other than `attrs`.
fn renamed_anywhere(nodes: &[Node], victim: SocketAddr, attrs: &Attributes) -> bool {
    nodes.iter().filter(|n| n.local_id() != victim).any(|n| {
        n.members()
            .iter()
            .any(|(id, a)| *id == victim && a != attrs)
    })
}

fn converged_cluster() -> (Vec<Node>, Vec<SocketAddr>) {
    let nodes = cluster(5, config(Protocol::Udp));
    let ids = ids(&nodes);
    assert!(
        wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some(),
        "the cluster never converged"
    );
    (nodes, ids)
}

/// How long the victim of an accusation gets to be listed by all again: the README promises
/// `timeout_ms` for a silent member's removal; a refutation is given five times that, so a
/// loaded machine does not fail the test, and still far less than a tombstone's life (which is
/// how long a pinned member stayed out before issue 10).
fn refute_deadline(nodes: &[Node]) -> Duration {
    Duration::from_millis(5 * nodes[0].config().timeout_ms as u64)
}

#[test]
fn accusations_and_renames_at_the_top_incarnation_do_not_pin_a_member() {
    let (nodes, ids) = converged_cluster();
    let mut attacker = Attacker::new();
    let victim = ids[4];
    let own = Attributes {
        name: "n4".into(),
        private_data: "data of n4".into(),
    };
    let forged_attrs = Attributes {
        name: "impostor".into(),
        private_data: "forged".into(),
    };
    let attacks = [
        (
            "Dead",
            Rumor::Dead {
                id: victim,
                incarnation: TOP,
                from: attacker.id,
            },
        ),
        (
            "Suspect",
            Rumor::Suspect {
                id: victim,
                incarnation: TOP,
                from: attacker.id,
            },
        ),
        (
            "Left",
            Rumor::Left {
                id: victim,
                incarnation: TOP,
            },
        ),
        (
            "Alive with other attributes",
            Rumor::Alive {
                id: victim,
                incarnation: TOP,
                attrs: pekonode::proto::PackedAttributes::pack(&forged_attrs),
            },
        ),
    ];
    for (what, rumor) in attacks {
        // The same forgery to every member but the victim, then a ping behind it.
        for &to in &ids[..4] {
            attacker.gossip(to, vec![rumor.clone()]);
            attacker.barrier(to);
        }
        let deadline = refute_deadline(&nodes);
        let mut renamed = false;
        let back = wait_for(deadline, || {
            renamed |= renamed_anywhere(&nodes, victim, &own);
            all_list_with(&nodes, victim, &own)
        });
        assert!(
            !renamed,
            "forged {what}: a member showed the victim renamed"
        );
        assert!(
            back.is_some(),
            "forged {what} at incarnation {TOP}: the victim was not listed by all with its \
             attributes within {deadline:?}"
        );
        // And it stays listed: watch two more probe rounds' worth of polls.
        let hold = Duration::from_millis(4 * nodes[0].config().cycle_ms as u64);
        holds_for(
            hold,
            &format!("forged {what}: the victim was dropped again"),
            || all_list_with(&nodes, victim, &own),
        );
    }
}

/// Forgeries the others believe: one incarnation ahead of the victim's, and as far ahead as they
/// believe at all (`INCARNATION_WINDOW`). Each is refuted by the victim: listed by all, with its
/// own attributes and unsuspected, within the refutation deadline.
///
/// In a keyless cluster a forged `Alive` inside the window does rename the victim wherever it
/// lands, until the victim's refutation arrives: nobody can tell the forgery from a real
/// attribute change. So this test asserts that the victim gets its attributes back, not that it
/// never loses them (README, "What a keyless member still bounds").
#[test]
fn forgeries_just_ahead_of_the_victim_are_refuted() {
    let (nodes, ids) = converged_cluster();
    let mut attacker = Attacker::new();
    let victim = ids[4];
    let own = Attributes {
        name: "n4".into(),
        private_data: "data of n4".into(),
    };
    let forged_attrs = Attributes {
        name: "impostor".into(),
        private_data: "forged".into(),
    };
    for ahead in [1, INCARNATION_WINDOW] {
        for what in ["Dead", "Suspect", "Left", "Alive with other attributes"] {
            let incarnation = own_incarnation(victim, attacker.id).wrapping_add(ahead);
            let rumor = match what {
                "Dead" => Rumor::Dead {
                    id: victim,
                    incarnation,
                    from: attacker.id,
                },
                "Suspect" => Rumor::Suspect {
                    id: victim,
                    incarnation,
                    from: attacker.id,
                },
                "Left" => Rumor::Left {
                    id: victim,
                    incarnation,
                },
                _ => Rumor::Alive {
                    id: victim,
                    incarnation,
                    attrs: pekonode::proto::PackedAttributes::pack(&forged_attrs),
                },
            };
            for &to in &ids[..4] {
                attacker.gossip(to, vec![rumor.clone()]);
                attacker.barrier(to);
            }
            let deadline = refute_deadline(&nodes);
            let back = wait_for(deadline, || all_list_with(&nodes, victim, &own));
            assert!(
                back.is_some(),
                "forged {what} at the victim's incarnation + {ahead} ({incarnation}): the victim \
                 was not listed by all with its attributes within {deadline:?}"
            );
            eprintln!(
                "forged {what} at +{ahead}: listed by all again after {:?}",
                back.unwrap()
            );
        }
    }
}

/// Forged suspicions, each only `STEP` above the last (so a plausibility window of at least
/// `STEP` believes every one), walk the victim's incarnation up to the top, then on past
/// 2^32 - 1, and end with a death. The victim must still come back.
#[test]
fn a_stepping_flood_through_the_top_does_not_pin_a_member() {
    /// Below any plausibility window the library uses (`proto::INCARNATION_WINDOW` is 2^20).
    const STEP: u32 = (1 << 20) - 64;
    /// Rumors per forged datagram (each about 22 bytes).
    const PER_DATAGRAM: usize = 60;
    let (nodes, ids) = converged_cluster();
    let mut attacker = Attacker::new();
    let (target, victim) = (ids[0], ids[4]);
    let own = Attributes {
        name: "n4".into(),
        private_data: "data of n4".into(),
    };
    // Up to the top in steps of STEP, the top itself, then eight steps past the wrap.
    let mut steps: Vec<u32> = (1..)
        .map(|j| j * STEP as u64)
        .take_while(|v| *v < TOP as u64)
        .map(|v| v as u32)
        .collect();
    steps.push(TOP);
    steps.extend((1..=8).map(|j| TOP.wrapping_add(j * STEP)));
    let last = *steps.last().unwrap();
    let mut rumors: Vec<Rumor> = steps
        .iter()
        .map(|&incarnation| Rumor::Suspect {
            id: victim,
            incarnation,
            from: attacker.id,
        })
        .collect();
    rumors.push(Rumor::Dead {
        id: victim,
        incarnation: last,
        from: attacker.id,
    });
    let datagrams = rumors.len().div_ceil(PER_DATAGRAM);
    for chunk in rumors.chunks(PER_DATAGRAM) {
        attacker.gossip(target, chunk.to_vec());
        // Paced so the member's receive buffer never overflows: each step must arrive.
        std::thread::sleep(Duration::from_millis(2));
    }
    attacker.barrier(target);
    eprintln!(
        "stepping flood: {} forged rumors in {datagrams} datagrams, ending at {last}",
        rumors.len()
    );
    let deadline = refute_deadline(&nodes);
    let back = wait_for(deadline, || all_list_with(&nodes, victim, &own));
    assert!(
        back.is_some(),
        "after the stepping flood the victim was not listed by all (unsuspected) within \
         {deadline:?}"
    );
    eprintln!(
        "stepping flood: listed by all again after {:?}",
        back.unwrap()
    );
    // And it stays listed for longer than a suspicion lasts.
    let hold = Duration::from_millis(nodes[0].config().timeout_ms as u64);
    holds_for(
        hold,
        "after the stepping flood the victim was dropped again",
        || all_list_still(&nodes, victim, &own),
    );
}

#[test]
fn a_forged_maximal_clock_does_not_pin_the_metadata() {
    let (nodes, ids) = converged_cluster();
    let mut attacker = Attacker::new();
    let forged = Rumor::Meta(Metadata {
        version: MetaVersion {
            hlc: HLC_MAX,
            origin: attacker.id,
        },
        data: b"forged".to_vec(),
    });
    for &to in &ids {
        attacker.gossip(to, vec![forged.clone()]);
        attacker.barrier(to);
    }
    let refused: u64 = nodes.iter().map(|n| n.counters().clocks_implausible).sum();
    assert!(refused >= 5, "{refused} forged clocks refused, 5 sent");
    // A publish after it returns OK only if it will win: then it must reach every member.
    nodes[2]
        .publish(b"published after the forgery")
        .expect("publish");
    let reached = wait_for(GENEROUS, || {
        nodes.iter().all(|n| {
            n.metadata()
                .is_some_and(|m| m.data == b"published after the forgery")
        })
    });
    let held: Vec<String> = nodes
        .iter()
        .map(|n| {
            n.metadata().map_or("nothing".into(), |m| {
                String::from_utf8_lossy(&m.data).into()
            })
        })
        .collect();
    assert!(
        reached.is_some(),
        "the publish did not reach every member; they hold {held:?}"
    );
}

mod keyless_warning {
    use super::*;
    use pekonode::ffi::{peko_set_log, PEKO_LOG_ERROR};
    use std::ffi::{c_char, c_void, CStr};
    use std::sync::Mutex;

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    unsafe extern "C" fn collect(_: *mut c_void, _level: u32, line: *const c_char) {
        let line = CStr::from_ptr(line).to_string_lossy().into_owned();
        LINES.lock().unwrap().push(line);
    }

    fn warnings_naming(port: u16) -> Vec<String> {
        LINES
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("[Warning]") && l.contains(&format!("port {port}")))
            .cloned()
            .collect()
    }

    /// The sink is process-wide: other tests' members log into it too, so lines are picked by
    /// the port they name.
    #[test]
    fn a_keyless_join_warns_once_naming_the_port() {
        // At the errors-only level: the warning must reach a host that wants only errors.
        assert_eq!(
            unsafe { peko_set_log(Some(collect), std::ptr::null_mut(), PEKO_LOG_ERROR) },
            0
        );
        let open = node_with(config(Protocol::Udp), "open");
        let mut keyed_cfg = config(Protocol::Udp);
        keyed_cfg.secret_key = Some("a secret".into());
        let keyed = node_with(keyed_cfg, "keyed");
        keyed.set(open.local_id(), Attributes::default()).unwrap();
        let port = open.local_id().port();
        // Let both run a while: the warning is said at join, once, not every round.
        let ran = wait_for(GENEROUS, || open.counters().round >= 10);
        assert!(ran.is_some());
        let lines = warnings_naming(port);
        assert_eq!(lines.len(), 1, "warnings for port {port}: {lines:?}");
        let line = &lines[0];
        for word in ["secret key", "forge", "membership", "metadata"] {
            assert!(line.contains(word), "{word:?} missing from {line:?}");
        }
        assert!(
            warnings_naming(keyed.local_id().port()).is_empty(),
            "a keyed member warned"
        );
        drop(open);
        drop(keyed);
        assert_eq!(unsafe { peko_set_log(None, std::ptr::null_mut(), 0) }, 0);
    }
}
