//! The Go pekonode compatibility mode's share (the `gojson` target): a running `CompatCore` to
//! apply decoded Go packets to, the checks that it never sends more than a Go node would for a
//! packet (at most `amount` relays, one exchange answer), and the seeds.
//!
//! The core knows five nodes: two told with `set` and never heard from, three heard from (one of
//! them over IPv6), so a relay has more candidates than `amount`. It holds the key `KEY`, whose
//! token the golden packets' keyed ones carry, and metadata published at `PUBLISHED_NS`, between
//! the golden exchange request's `Update` and its answer's, so the one is answered and the other
//! taken.

use pekonode::compat::{CompatConfig, CompatCore};
use pekonode::proto::{Attributes, MemberId, Millis};
use pekonode::wire::gojson::{token, GoNode, GoPacket, INFECTED_MAX};
use std::collections::BTreeSet;
use std::net::IpAddr;

pub const AMOUNT: usize = 3;
pub const CYCLE_MS: Millis = 1000;
pub const TIMEOUT_MS: Millis = 5000;
/// The key the fuzzed member holds (`gojson::token` of it is "5ebe2294…", as in the goldens).
pub const KEY: &str = "secret";
/// The `Update` of the metadata the fuzzed member published.
pub const PUBLISHED_NS: i64 = 1_764_670_668_600_000_000;
/// The longest `Infected` mark a listed node's key can add to a packet: `,"<IPv6 text>:65535":true`
/// (an `Addr` must parse as an IP literal, 45 characters at most, for its node to be listed).
pub const MARK_MAX: usize = 1 + 1 + 45 + 1 + 5 + 1 + 5;

/// The golden packets (`src/wire/tests/gopekonode_golden.txt`: Go's own bytes), by name.
const GOLDEN: &str = include_str!("../../src/wire/tests/gopekonode_golden.txt");

pub fn me() -> MemberId {
    "127.0.0.1:7000".parse().unwrap()
}

fn my_attrs() -> Attributes {
    Attributes {
        name: "fuzzed".into(),
        private_data: "p".into(),
    }
}

/// Told with `set`: the golden packets' node (127.0.0.1:8000), so its exchange requests are
/// answered, and one more.
pub const SET: [&str; 2] = ["127.0.0.1:8000", "127.0.0.1:8001"];
/// Heard from (a heartbeat each, decoded as it would arrive): `Addr` text and port.
pub const HEARD: [(&str, u16); 3] = [("127.0.0.1", 8002), ("10.0.0.7", 8000), ("::1", 8003)];

/// A Go node's heartbeat as it leaves that node, carrying the right token.
pub fn heartbeat(addr: &str, port: u16) -> GoPacket {
    GoPacket {
        node: GoNode {
            addr: addr.into(),
            port: port.into(),
            name: format!("go-{port}"),
            private_data: String::new(),
        },
        infected: [(format!("{addr}:{port}"), true)].into_iter().collect(),
        secret_key: token(Some(KEY)),
        ..GoPacket::default()
    }
}

/// A member in the compatibility mode that has joined, heard from its nodes, published and run
/// its first cycle; what that sent is checked and drained.
pub fn running_core() -> CompatCore {
    let mut core = CompatCore::new(CompatConfig {
        me: me(),
        attrs: my_attrs(),
        amount: AMOUNT,
        cycle_ms: CYCLE_MS,
        timeout_ms: TIMEOUT_MS,
        token: token(Some(KEY)),
        seed: 1,
    });
    for id in SET {
        core.set(0, id.parse().unwrap(), Attributes::default());
    }
    assert!(core.publish(PUBLISHED_NS, b"metadata".to_vec(), |_| true));
    core.join(0);
    for (addr, port) in HEARD {
        let p = GoPacket::decode(&heartbeat(addr, port).encode(), 1024, 1024)
            .expect("a heartbeat decodes");
        core.handle(0, p);
    }
    core.drain_outgoing();
    core.tick(0);
    check_cycle(&mut core, 1024);
    core.take_events();
    core
}

fn listed(core: &CompatCore) -> BTreeSet<MemberId> {
    core.members()
        .into_iter()
        .skip(1)
        .map(|(id, _)| id)
        .collect()
}

/// Where a Go node's `Addr:Port` is reached, when the core could list it.
fn node_id(n: &GoNode) -> Option<MemberId> {
    let ip: IpAddr = n.addr.parse().ok()?;
    let port = u16::try_from(n.port).ok().filter(|p| *p != 0)?;
    (!ip.is_unspecified() && !ip.is_multicast()).then(|| MemberId::new(ip, port))
}

/// Whether an `Infected` key (`addr:port`, as a Go node writes it) names `id`.
fn names(key: &str, id: MemberId) -> bool {
    key.rsplit_once(':').is_some_and(|(addr, port)| {
        addr.parse::<IpAddr>().ok() == Some(id.ip()) && port.parse::<u16>().ok() == Some(id.port())
    })
}

/// The most a packet of ours weighs beyond the metadata it carries: our node, the token, our
/// mark and `amount` more, the longest `Update`. Its metadata came in a packet within
/// `max_len`, whose base64 was at least as long, so ours encodes within `max_len` plus this.
fn own_overhead() -> usize {
    let mut p = GoPacket {
        node: GoNode {
            addr: me().ip().to_string(),
            port: me().port().into(),
            name: my_attrs().name,
            private_data: my_attrs().private_data,
        },
        data: Some(Vec::new()),
        update: i64::MIN,
        is_update: true,
        is_swap: 2,
        secret_key: token(Some(KEY)),
        ..GoPacket::default()
    };
    p.infected
        .insert(format!("{}:{}", me().ip(), me().port()), true);
    let longest = p.encode().len();
    longest + AMOUNT * MARK_MAX
}

/// A packet the core sends as its own (a heartbeat, an exchange request or answer, a publish):
/// our node and token, and within the size.
fn check_own(p: &GoPacket, max_len: usize) {
    assert_eq!(
        node_id(&p.node),
        Some(me()),
        "a packet of ours names another node: {p:?}"
    );
    assert_eq!(
        p.secret_key,
        token(Some(KEY)),
        "a packet of ours without our token"
    );
    let len = p.encode().len();
    assert!(
        len <= max_len + own_overhead(),
        "a {len}-byte packet of ours, beyond the {max_len}-byte size and our overhead: {p:?}"
    );
}

/// A cycle's packets: a heartbeat to at most `amount` listed nodes, each once, and at most one
/// exchange request, as a Go node sends.
pub fn check_cycle(core: &mut CompatCore, max_len: usize) {
    let members = listed(core);
    let out = core.drain_outgoing();
    let mut beats = BTreeSet::new();
    let mut asks = 0;
    for (to, p) in &out {
        check_own(p, max_len);
        assert!(
            members.contains(to),
            "a cycle sent to {to}, which is not listed"
        );
        match p.is_swap {
            0 => {
                assert!(beats.insert(*to), "two heartbeats in a cycle to {to}");
                assert!(
                    p.infected.keys().any(|k| names(k, *to)),
                    "a heartbeat to {to} does not mark it: {p:?}"
                );
            }
            1 => asks += 1,
            _ => panic!("a cycle sent an exchange answer: {p:?}"),
        }
    }
    assert!(
        beats.len() <= AMOUNT,
        "{} heartbeats in a cycle",
        beats.len()
    );
    assert!(asks <= 1, "{asks} exchange requests in a cycle");
}

/// Hands `p` to the core at `now` and checks what it sent for it against what a Go node sends:
/// for a heartbeat or publish, the same packet passed on to at most `amount` listed nodes it
/// had not reached, each marked in `Infected` (all of them in every copy), and nothing else;
/// for an exchange request, at most one answer, to its node and only when that was listed; for
/// an exchange answer, nothing. `max_len` is the size `p` was decoded within.
pub fn apply(core: &mut CompatCore, now: Millis, p: &GoPacket, max_len: usize) {
    let before = listed(core);
    core.handle(now, p.clone());
    let after = listed(core);
    let out = core.drain_outgoing();
    core.take_events();
    assert!(
        out.len() <= AMOUNT + 1,
        "{} packets sent for one: {p:?}",
        out.len()
    );
    let accepted = p.secret_key == token(Some(KEY)) && node_id(&p.node).is_some();
    if !accepted {
        assert!(out.is_empty(), "a refused packet made the core send: {p:?}");
        return;
    }
    if p.is_swap != 0 {
        assert!(
            out.len() <= 1,
            "{} answers to one exchange packet",
            out.len()
        );
        if let Some((to, answer)) = out.first() {
            assert_eq!(p.is_swap, 1, "an exchange answer was answered: {p:?}");
            assert_eq!(Some(*to), node_id(&p.node), "an answer to another node");
            assert!(
                before.contains(to),
                "an answer to {to}, which was not listed"
            );
            assert_eq!(answer.is_swap, 2);
            assert!(
                answer.update > p.update,
                "an answer not newer than the request"
            );
            check_own(answer, max_len);
        }
        return;
    }
    assert!(
        out.len() <= AMOUNT,
        "a packet passed on {} times (amount {AMOUNT})",
        out.len()
    );
    let Some((_, first)) = out.first() else {
        return;
    };
    let marks: Vec<&String> = first
        .infected
        .iter()
        .filter(|(k, v)| **v && p.infected.get(*k) != Some(&true))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        marks.len(),
        out.len(),
        "marks for every copy, no more: {first:?}"
    );
    let was = p.encode().len();
    let mut sent_to = BTreeSet::new();
    for (to, relay) in &out {
        assert!(
            after.contains(to),
            "a packet passed on to {to}, which is not listed"
        );
        assert!(sent_to.insert(*to), "a packet passed on twice to {to}");
        // Reached means its key, as the text was announced, is in `Infected` (a Go node
        // compares the text too): its mark must be a new one.
        assert!(
            marks.iter().any(|k| names(k, *to)),
            "a copy to {to} does not add a mark for it: {first:?}"
        );
        let mut unmarked = relay.clone();
        unmarked.infected = p.infected.clone();
        assert_eq!(&unmarked, p, "a relay changed more than Infected");
        assert_eq!(relay.infected, first.infected, "copies marked differently");
        let len = relay.encode().len();
        assert!(
            len <= was + AMOUNT * MARK_MAX,
            "a {was}-byte packet passed on as {len} bytes"
        );
    }
    assert!(first.infected.len() <= p.infected.len() + AMOUNT);
    assert!(first.infected.len() <= INFECTED_MAX + AMOUNT);
}

/// A publish on whatever state the input left: checked like a cycle's packets (its copies go
/// to at most `amount` nodes).
pub fn publish(core: &mut CompatCore, wall_ns: i64, max_len: usize) {
    let members = listed(core);
    let fits = |p: &GoPacket| p.encode().len() < max_len;
    assert!(core.publish(wall_ns, b"published".to_vec(), fits));
    let out = core.drain_outgoing();
    assert!(out.len() <= AMOUNT, "a publish sent {} packets", out.len());
    for (to, p) in &out {
        assert!(members.contains(to), "a publish sent to {to}, not listed");
        assert!(p.is_update && p.is_swap == 0);
        check_own(p, max_len);
    }
    core.take_events();
}

/// The golden packets, one `(name, bytes)` each: the seeds of the `gojson` target. (No seed at
/// the `Infected` bound: 1024 keys take some 20 KB, an input that size would raise libFuzzer's
/// length limit from 4 KB for every input and cut the executions tenfold; the unit tests in
/// `src/wire/tests/gojson.rs` check that bound.)
pub fn golden_packets() -> Vec<(&'static str, &'static [u8])> {
    GOLDEN
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(name, json)| (name, json.as_bytes()))
        .collect()
}
