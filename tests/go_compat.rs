//! The Go pekonode compatibility mode against nodes that behave like the Go original's:
//! `tests/gopekonode/fixture`, a Go program (standard library only) written from the
//! original's description, since the module proxy reachable here does not serve the original.
//! It is built with `go build` into cargo's test temp dir; without Go on the PATH these tests
//! say so and pass (`make test` has Go: see mk/go.mk).
//!
//! Every wait polls with a generous deadline; the fixture exits by itself after its `-life`.

mod common;

use common::*;
use pekonode::{Attributes, Config, Node, Protocol};
use std::net::SocketAddr;

const CYCLE_MS: u32 = 200;
const TIMEOUT_MS: u32 = 2000;

#[path = "gopekonode/harness.rs"]
mod harness;
use harness::Fixture;

/// The fixture with three (or `nodes`) Go nodes at the tests' timing; `None` without Go.
fn go_nodes(nodes: usize, protocol: &str, key: &str) -> Option<Fixture> {
    let t = harness::Timing {
        cycle_ms: CYCLE_MS,
        timeout_ms: TIMEOUT_MS,
        life_s: 240,
    };
    Fixture::start(env!("CARGO_TARGET_TMPDIR"), nodes, protocol, key, &t)
}

fn compat_member(protocol: Protocol, key: &str, name: &str, seed: SocketAddr) -> Node {
    let cfg = Config {
        cycle_ms: CYCLE_MS,
        timeout_ms: TIMEOUT_MS,
        protocol,
        secret_key: Some(key.to_string()),
        ..Config::default()
    };
    let n = Node::new(
        cfg,
        "127.0.0.1:0".parse().unwrap(),
        Attributes {
            name: name.into(),
            private_data: "ours".into(),
        },
    )
    .unwrap();
    n.set_go_compat(true).unwrap();
    n.set(seed, Attributes::default()).unwrap();
    n.join().unwrap();
    n
}

fn lists_all(n: &Node, ids: &[SocketAddr]) -> bool {
    let have: Vec<SocketAddr> = n.members().into_iter().map(|(id, _)| id).collect();
    ids.iter().all(|id| have.contains(id))
}

fn read(n: &Node) -> Vec<u8> {
    n.with_metadata(|d| d.unwrap_or_default().to_vec())
}

/// Ours joins three Go nodes through one of them: lists, metadata both ways, and its silence.
fn joins_a_go_cluster(protocol: Protocol, proto_name: &str) {
    let Some(mut go) = go_nodes(3, proto_name, "k") else {
        return;
    };
    let ours = compat_member(protocol, "k", "ours", go.id(0));
    let me = ours.local_id();
    let mut everyone = go.ids();
    everyone.push(me);
    let took = wait_for(GENEROUS, || {
        lists_all(&ours, &everyone) && go.dump().iter().all(|v| v.lists(me))
    });
    assert!(
        took.is_some(),
        "not every list is complete: ours {:?}, theirs {:#?}",
        ours.members(),
        go.dump()
    );
    eprintln!(
        "{proto_name}: all four list all four after {:?}",
        took.unwrap()
    );
    let names: Vec<String> = ours.members().into_iter().map(|(_, a)| a.name).collect();
    assert!(names.contains(&"go-1".to_string()), "{names:?}");
    assert!(
        go.dump()[2].list.contains(&format!("{me}/ours")),
        "the Go node lists ours by its name"
    );

    go.command("publish 1 from go");
    assert!(
        wait_for(GENEROUS, || read(&ours) == b"from go").is_some(),
        "ours never read the Go node's publish"
    );
    ours.publish(b"from ours").unwrap();
    assert!(
        wait_for(GENEROUS, || go
            .dump()
            .iter()
            .all(|v| v.meta == b"from ours"))
        .is_some(),
        "a Go node never took ours: {:#?}",
        go.dump()
    );

    drop(ours);
    assert!(
        wait_for(GENEROUS, || go.dump().iter().all(|v| !v.lists(me))).is_some(),
        "the Go nodes still list ours after it closed"
    );
}

#[test]
fn a_compat_member_joins_go_nodes_over_udp() {
    joins_a_go_cluster(Protocol::Udp, "udp");
}

#[test]
fn a_compat_member_joins_go_nodes_over_tcp() {
    joins_a_go_cluster(Protocol::Tcp, "tcp");
}

/// A compat member with another key is dropped by the Go nodes (they count its packets as
/// another key's) and never listed by them.
#[test]
fn a_compat_member_with_another_key_is_ignored() {
    let Some(mut go) = go_nodes(3, "udp", "k") else {
        return;
    };
    let ours = compat_member(Protocol::Udp, "not k", "outsider", go.id(0));
    let me = ours.local_id();
    assert!(
        wait_for(GENEROUS, || go.dump()[0].wrong_key >= 5).is_some(),
        "the Go node never received the outsider's packets"
    );
    assert!(
        go.dump().iter().all(|v| !v.lists(me)),
        "a Go node listed the outsider: {:#?}",
        go.dump()
    );
    // The Go nodes keep their own cluster.
    assert!(go.dump().iter().all(|v| v.list.len() == 3));
}

/// Three Go nodes and two of ours; the Go nodes go away one by one, and ours keep a
/// consistent list and metadata between them.
#[test]
fn go_nodes_replaced_one_by_one() {
    let Some(mut go) = go_nodes(3, "udp", "k") else {
        return;
    };
    let a = compat_member(Protocol::Udp, "k", "a", go.id(0));
    let b = compat_member(Protocol::Udp, "k", "b", go.id(1));
    let ours = [a.local_id(), b.local_id()];
    let mut everyone = go.ids();
    everyone.extend(ours);
    assert!(
        wait_for(GENEROUS, || {
            lists_all(&a, &everyone)
                && lists_all(&b, &everyone)
                && go.dump().iter().all(|v| ours.iter().all(|o| v.lists(*o)))
        })
        .is_some(),
        "the mixed cluster never converged"
    );
    go.command("publish 2 v1");
    assert!(wait_for(GENEROUS, || read(&a) == b"v1" && read(&b) == b"v1").is_some());
    for i in 0..3 {
        go.command(&format!("kill {i}"));
        let gone = go.id(i);
        let left: Vec<SocketAddr> = everyone.iter().copied().filter(|id| *id != gone).collect();
        everyone = left;
        assert!(
            wait_for(GENEROUS, || {
                [&a, &b].iter().all(|n| {
                    let have: Vec<SocketAddr> = n.members().into_iter().map(|(id, _)| id).collect();
                    !have.contains(&gone) && lists_all(n, &everyone)
                })
            })
            .is_some(),
            "after Go node {i} went: a {:?}, b {:?}",
            a.members(),
            b.members()
        );
    }
    a.publish(b"v2").unwrap();
    assert!(
        wait_for(GENEROUS, || read(&b) == b"v2").is_some(),
        "with no Go node left, b never read a's publish"
    );
    assert_eq!(a.members().len(), 2);
    assert_eq!(b.members().len(), 2);
}
