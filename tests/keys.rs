//! Issue 12: keys on a running cluster. A key rotated (install everywhere, use everywhere, remove
//! the old one everywhere) and a plain cluster switched to keys in three steps, 10 members each,
//! with no member ever removed; cluster labels keep clusters apart; a replayed frame is dropped
//! and counted.

mod common;
use common::*;
use pekonode::driver::events::Kind;
use pekonode::proto::Message;
use pekonode::wire::{self, SealMode};
use pekonode::{Attributes, Config, Node, Protocol};
use std::net::{SocketAddr, UdpSocket};

const MEMBERS: usize = 10;

/// FAILED and LEFT events seen so far, over every member: drained on each call.
struct Removals(u64);

impl Removals {
    fn drain(&mut self, nodes: &[Node]) -> u64 {
        for n in nodes {
            while let Ok(Some(e)) = n.next_event(std::time::Duration::ZERO) {
                if matches!(e.kind, Kind::Failed | Kind::Left) {
                    eprintln!("{}: {:?} about {}", n.local_id(), e.kind, e.member);
                    self.0 += 1;
                }
            }
        }
        self.0
    }
}

/// Waits until every member has run `rounds` more gossip rounds (probes and exchanges went on
/// meanwhile), draining events; every list must stay complete throughout.
fn run_rounds(nodes: &[Node], rounds: u64, removals: &mut Removals, step: &str) {
    let ids = ids(nodes);
    let refs: Vec<&Node> = nodes.iter().collect();
    let start: Vec<u64> = nodes.iter().map(|n| n.counters().round).collect();
    let done = wait_for(GENEROUS * 2, || {
        removals.drain(nodes);
        assert!(all_list(&refs, &ids), "{step}: a list lost a member");
        nodes
            .iter()
            .zip(&start)
            .all(|(n, s)| n.counters().round >= s + rounds)
    });
    assert!(done.is_some(), "{step}: the members stopped running rounds");
    assert_eq!(removals.drain(nodes), 0, "{step}: a member was removed");
}

fn keyed(secret: Option<&str>) -> Config {
    Config {
        secret_key: secret.map(String::from),
        ..config(Protocol::Udp)
    }
}

/// A member that was never told the new key: it joins the cluster's first member and is
/// refused (its frames do not open there), which proves the cluster no longer takes `secret`.
fn outsider_is_refused(nodes: &[Node], cfg: Config) {
    let seed = &nodes[0];
    let auth0 = seed.counters().dropped_auth;
    let out = node_with(cfg, "outsider");
    out.set(seed.local_id(), Attributes::default()).unwrap();
    assert!(
        wait_for(GENEROUS, || seed.counters().dropped_auth > auth0).is_some(),
        "the outsider's frames never reached the seed"
    );
    // (The outsider lists the seed it was given until that times out: `set` lists it.)
    assert!(
        nodes
            .iter()
            .all(|n| !n.members().iter().any(|(id, _)| *id == out.local_id())),
        "a member listed the outsider"
    );
}

/// `MEMBERS` joined with `cfg` and every list complete; the removals seen so far (the steps
/// after assert that there are none, from the first join on).
fn listing_cluster(cfg: Config) -> (Vec<Node>, Removals) {
    let nodes = cluster(MEMBERS, cfg);
    let ids = ids(&nodes);
    let refs: Vec<&Node> = nodes.iter().collect();
    assert!(wait_for(GENEROUS, || all_list(&refs, &ids)).is_some());
    let mut removals = Removals(0);
    removals.drain(&nodes);
    (nodes, removals)
}

#[test]
fn a_key_rotates_on_a_running_cluster_without_a_removal() {
    let (nodes, mut removals) = listing_cluster(keyed(Some("old key")));
    // Each step on half the members first, then, more than the timeout later (2 s; a round is
    // a 100 ms cycle), on the others: members with and without the change hear each other.
    for n in &nodes {
        n.key_install("new key").unwrap();
    }
    run_rounds(&nodes, 3, &mut removals, "installed");
    for half in nodes.chunks(MEMBERS / 2) {
        for n in half {
            n.key_use("new key").unwrap();
        }
        run_rounds(&nodes, 30, &mut removals, "half more use the new key");
    }
    for half in nodes.chunks(MEMBERS / 2) {
        for n in half {
            assert_eq!(
                n.key_list(),
                vec![wire::Key::id_of("new key"), wire::Key::id_of("old key")]
            );
            n.key_remove("old key").unwrap();
        }
        run_rounds(&nodes, 30, &mut removals, "half more removed the old key");
    }
    for n in &nodes {
        assert_eq!(n.key_list(), vec![wire::Key::id_of("new key")]);
        assert!(n.key_remove("new key").is_err(), "the primary was removed");
    }
    outsider_is_refused(&nodes, keyed(Some("old key")));
    eprintln!("rotation: 0 removals over 10 members");
}

#[test]
fn a_plain_cluster_switches_to_keys_in_three_steps() {
    let (nodes, mut removals) = listing_cluster(keyed(None));
    for n in &nodes {
        assert!(
            n.set_seal_mode(SealMode::Send).is_err(),
            "Send without a key"
        );
        n.key_install("k").unwrap();
        assert_eq!(n.seal_mode(), SealMode::Accept);
    }
    run_rounds(&nodes, 3, &mut removals, "installed");
    // Each step on half the members, then, more than the timeout later, on the others.
    for mode in [SealMode::Send, SealMode::Require] {
        for half in nodes.chunks(MEMBERS / 2) {
            for n in half {
                n.set_seal_mode(mode).unwrap();
            }
            run_rounds(&nodes, 30, &mut removals, &format!("half more in {mode:?}"));
        }
    }
    // Every answer went out: a member in Send answers a plain ping plain (sealed, the ack would
    // outweigh the ping and be withheld, counted as a send error, and the pinger would suspect
    // a member that is there).
    let withheld: u64 = nodes.iter().map(|n| n.counters().send_errors).sum();
    assert_eq!(withheld, 0, "answers withheld during the switch");
    outsider_is_refused(&nodes, keyed(None));
}

fn labeled(label: &str, secret: Option<&str>, name: &str) -> Node {
    let n = Node::new(
        keyed(secret),
        "127.0.0.1:0".parse().unwrap(),
        Attributes {
            name: name.into(),
            private_data: String::new(),
        },
    )
    .unwrap();
    n.set_label(label).unwrap();
    n.join().unwrap();
    assert!(n.set_label("late").is_err(), "a label set after join");
    n
}

/// Two clusters on one network, each told about the other's first member: with labels each
/// lists only its own, with or without keys, and counts the other's frames.
#[test]
fn clusters_with_other_labels_stay_apart() {
    for secret in [None, Some("shared key")] {
        let a: Vec<Node> = (0..3)
            .map(|i| labeled("a", secret, &format!("a{i}")))
            .collect();
        let b: Vec<Node> = (0..3)
            .map(|i| labeled("b", secret, &format!("b{i}")))
            .collect();
        for (side, other) in [(&a, &b), (&b, &a)] {
            for n in side.iter() {
                n.set(side[0].local_id(), Attributes::default()).unwrap();
                n.set(other[0].local_id(), Attributes::default()).unwrap();
            }
        }
        let (ia, ib) = (ids(&a), ids(&b));
        let refs_a: Vec<&Node> = a.iter().collect();
        let refs_b: Vec<&Node> = b.iter().collect();
        let dropped =
            |side: &[Node]| -> u64 { side.iter().map(|n| n.counters().dropped_label).sum() };
        assert!(
            wait_for(GENEROUS, || all_list(&refs_a, &ia)
                && all_list(&refs_b, &ib)
                && dropped(&a) > 0
                && dropped(&b) > 0)
            .is_some(),
            "each side lists only itself and drops the other's frames ({secret:?})"
        );
        let all: Vec<SocketAddr> = ia.iter().chain(&ib).copied().collect();
        assert!(a
            .iter()
            .chain(&b)
            .all(|n| n.members().len() == 3 && !lists_exactly(n, &all)));
        eprintln!(
            "labels ({}): {} and {} frames of the other label dropped",
            if secret.is_some() { "sealed" } else { "plain" },
            dropped(&a),
            dropped(&b)
        );
    }
}

/// A sealed datagram recorded and sent again later than the window is dropped and counted; the
/// same message sealed now is taken.
#[test]
fn a_replayed_datagram_is_dropped_and_counted() {
    let n = node_with(keyed(Some("k")), "target");
    let key = wire::Key::new(Some("k"));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let gossip = Message::Gossip {
        from: sock.local_addr().unwrap(),
        rumors: vec![],
    };
    let before = n.counters();
    let old = wire::wall_ms() - 60_000;
    sock.send_to(&wire::encode_at(&gossip, &key, old), n.local_id())
        .unwrap();
    assert!(
        wait_for(GENEROUS, || n.counters().dropped_replay
            == before.dropped_replay + 1)
        .is_some(),
        "a frame sealed 60 s ago was not dropped as a replay"
    );
    let received = n.counters().udp_datagrams_received;
    sock.send_to(&wire::encode(&gossip, &key), n.local_id())
        .unwrap();
    assert!(wait_for(GENEROUS, || n.counters().udp_datagrams_received > received).is_some());
    let c = n.counters();
    assert_eq!(c.dropped_replay, before.dropped_replay + 1);
    assert_eq!(c.dropped_auth, before.dropped_auth);
    assert_eq!(c.dropped_malformed, before.dropped_malformed);
}
