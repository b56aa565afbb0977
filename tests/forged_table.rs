//! Issue 10, finding 5 (keyless): a forged push-pull table of 130,000 members, sent over TCP to
//! one member of a real 5-member cluster in frames its stream limit accepts, leaves every
//! member's table (and so its memory) bounded, every member's own push-pull within its peers'
//! frame limit, and a publish afterwards reaching every real member.
//!
//! A file of its own so that the process's resident memory, printed as a figure, is this
//! attack's alone. The forged members' ids lie in 127.0.0.0/8 (the kernel keeps that range on
//! the loopback interface), port 9, so the probes the members send them never leave the host.

mod common;
use common::*;
use pekonode::proto::{Attributes, MemberId, MemberState, Message, Status};
use pekonode::wire::{self, Key, Limits};
use pekonode::{Node, Protocol};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

const FORGED: usize = 130_000;
/// Private data of each forged member: the table's cost is in its attributes.
const DATA_LEN: usize = 512;

fn fake(i: usize) -> MemberId {
    let ip = Ipv4Addr::new(127, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8);
    SocketAddr::new(ip.into(), 9)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn refs(nodes: &[Node]) -> Vec<&Node> {
    nodes.iter().collect()
}

#[test]
fn a_forged_table_of_130000_members_leaves_memory_bounded_and_publishes_reaching_all() {
    let nodes = cluster(5, config(Protocol::Udp));
    let ids = ids(&nodes);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some());
    let rss_before = rss_kib();
    let target = ids[0];
    let limits = Limits::stream(nodes[0].config().size as usize);
    let malformed_before = nodes[0].counters().dropped_malformed;

    // Frames as large as the target's stream limit accepts, built one at a time.
    let mut stream = TcpStream::connect(target).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    // The target answers each push-pull on this connection. Read (and discard) its answers all
    // along: closing a socket with unread data sends a reset, and a reset makes the target's
    // kernel discard what it has not read yet — the garbage frame below included.
    let mut answers = stream.try_clone().unwrap();
    answers
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        while matches!(answers.read(&mut buf), Ok(n) if n > 0) {}
    });
    let per_frame = (limits.frame - 1024) / (DATA_LEN + 40);
    let mut frames = 0;
    for start in (0..FORGED).step_by(per_frame) {
        let members: Vec<MemberState> = (start..(start + per_frame).min(FORGED))
            .map(|i| MemberState {
                id: fake(i),
                incarnation: 1,
                status: Status::Alive,
                attrs: pekonode::proto::PackedAttributes::pack(&Attributes {
                    name: format!("forged-{i}"),
                    private_data: "x".repeat(DATA_LEN),
                }),
            })
            .collect();
        let msg = Message::PushPull {
            from: fake(FORGED + 1),
            reply: false,
            members,
            meta_version: None,
            meta: None,
            holds: None,
        };
        let frame = wire::encode(&msg, &Key::new(None));
        assert!(frame.len() <= limits.frame, "a forged frame over the limit");
        assert_eq!(
            wire::decode(&frame, &Key::new(None), limits).map(|_| ()),
            Ok(()),
            "the target's own decoder must accept each forged frame"
        );
        stream
            .write_all(&wire::encode_stream(&msg, &Key::new(None)))
            .unwrap();
        frames += 1;
    }
    // Garbage behind the table (a stream header of version 1): once it is counted, every forged
    // frame before it was handled.
    let garbage = [b'P', b'K', 1, 8, 0, 0, 0, 0, 2, 0xff, 0xff];
    stream.write_all(&garbage).unwrap();
    // Our side done: the target reads to the garbage, drops it, and closes; then the drain ends.
    stream.shutdown(Shutdown::Write).unwrap();
    let handled = wait_for(Duration::from_secs(120), || {
        nodes[0].counters().dropped_malformed > malformed_before
    });
    assert!(handled.is_some(), "the target never read the forged table");
    drain.join().unwrap();
    drop(stream);
    eprintln!(
        "forged table: {FORGED} members in {frames} frames of up to {per_frame}, read in {:?}",
        handled.unwrap()
    );

    // A publish after the attack reaches every real member.
    nodes[3].publish(b"after the forged table").unwrap();
    let reached = wait_for(GENEROUS, || {
        nodes.iter().all(|n| {
            n.metadata()
                .is_some_and(|m| m.data == b"after the forged table")
        })
    });
    let listed: Vec<usize> = nodes.iter().map(|n| n.members().len()).collect();
    let rss_after = rss_kib();
    eprintln!(
        "forged table: members listed {listed:?}; resident memory {} MiB before, {} MiB after",
        rss_before / 1024,
        rss_after / 1024
    );
    let holding = nodes
        .iter()
        .filter(|n| {
            n.metadata()
                .is_some_and(|m| m.data == b"after the forged table")
        })
        .count();
    assert!(
        reached.is_some(),
        "the publish reached {holding} of 5 members"
    );
    // Memory: an order of magnitude under the table's cap of 100,000, at every member.
    for (i, n) in listed.iter().enumerate() {
        assert!(*n <= 10_000, "member {i} lists {n} members");
    }
    assert!(
        nodes[0].counters().introductions_refused > 0,
        "the target refused no introduction"
    );
    // Every member's own push-pull fitted its peers' frame limit.
    for (i, n) in nodes.iter().enumerate() {
        let c = n.counters();
        assert_eq!(
            c.dropped_too_large, 0,
            "member {i} dropped a frame over its limit"
        );
    }
}
