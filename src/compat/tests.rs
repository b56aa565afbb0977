use super::*;
use crate::wire::gojson::token;

const CYCLE: Millis = 1000;
const TIMEOUT: Millis = 5000;

fn id(port: u16) -> MemberId {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn core(amount: usize) -> CompatCore {
    CompatCore::new(CompatConfig {
        me: id(7000),
        attrs: Attributes {
            name: "ours".into(),
            private_data: "p".into(),
        },
        amount,
        cycle_ms: CYCLE,
        timeout_ms: TIMEOUT,
        token: token(Some("k")),
        seed: 7,
    })
}

fn go_node(port: u16) -> GoNode {
    GoNode {
        addr: "127.0.0.1".into(),
        port: port.into(),
        name: format!("go-{port}"),
        private_data: String::new(),
    }
}

/// A Go node's heartbeat, as it leaves that node.
fn heartbeat(port: u16) -> GoPacket {
    GoPacket {
        node: go_node(port),
        infected: [(format!("127.0.0.1:{port}"), true)].into_iter().collect(),
        secret_key: token(Some("k")),
        ..GoPacket::default()
    }
}

fn exchange(port: u16, is_swap: u8, update: i64, data: &[u8]) -> GoPacket {
    GoPacket {
        node: go_node(port),
        data: Some(data.to_vec()),
        update,
        is_swap,
        secret_key: token(Some("k")),
        ..GoPacket::default()
    }
}

fn joined_with(ports: &[u16], amount: usize) -> CompatCore {
    let mut c = core(amount);
    c.join(0);
    for &p in ports {
        c.handle(0, heartbeat(p));
    }
    c.take_events();
    c.drain_outgoing();
    c
}

#[test]
fn each_cycle_sends_the_heartbeat_to_amount_nodes_and_asks_one_for_an_exchange() {
    let mut c = joined_with(&[8001, 8002, 8003, 8004, 8005], 3);
    c.tick(0);
    let out = c.drain_outgoing();
    let beats: Vec<&(MemberId, GoPacket)> = out.iter().filter(|(_, p)| p.is_swap == 0).collect();
    let asks: Vec<&(MemberId, GoPacket)> = out.iter().filter(|(_, p)| p.is_swap == 1).collect();
    assert_eq!(beats.len(), 3);
    assert_eq!(asks.len(), 1);
    let p = &beats[0].1;
    assert_eq!(p.node.port, 7000);
    assert_eq!(p.node.name, "ours");
    assert_eq!(p.data, None, "a heartbeat carries Go's zero metadata");
    assert_eq!(p.infected.len(), 4, "itself and the three it goes to");
    for (to, _) in &beats {
        assert!(p.infected.contains_key(&format!("127.0.0.1:{}", to.port())));
    }
    assert!(p.infected.contains_key("127.0.0.1:7000"));
    assert_eq!(
        asks[0].1.data,
        Some(Vec::new()),
        "never published: empty, Update 0"
    );
    c.tick(CYCLE - 1);
    assert!(c.drain_outgoing().is_empty(), "once per cycle");
    c.tick(CYCLE);
    assert_eq!(c.drain_outgoing().len(), 4);
}

#[test]
fn a_heartbeat_lists_its_node_and_is_passed_on_to_nodes_it_has_not_reached() {
    let mut c = joined_with(&[8001, 8002, 8003, 8004], 2);
    let mut p = heartbeat(8009);
    p.infected.insert("127.0.0.1:8001".into(), true);
    p.infected.insert("127.0.0.1:7000".into(), true);
    c.handle(10, p);
    assert!(
        matches!(c.take_events()[..], [Event::Joined(who, ref a)] if who == id(8009) && a.name == "go-8009")
    );
    let out = c.drain_outgoing();
    assert_eq!(out.len(), 2, "passed on to `amount` nodes");
    for (to, q) in &out {
        assert_ne!(to.port(), 8001, "already reached");
        assert_ne!(to.port(), 8009, "its own node is in Infected");
        assert_eq!(q.node.port, 8009, "passed on as it came");
        assert_eq!(q.infected.len(), 5);
    }
    // A packet that reached everyone goes nowhere.
    let mut all = heartbeat(8009);
    for port in [7000, 8001, 8002, 8003, 8004] {
        all.infected.insert(format!("127.0.0.1:{port}"), true);
    }
    c.handle(20, all);
    assert!(c.drain_outgoing().is_empty());
    assert!(c.take_events().is_empty(), "refreshed, nothing new");
}

#[test]
fn a_packet_with_another_key_token_or_an_unusable_node_is_dropped() {
    let mut c = joined_with(&[8001, 8002], 3);
    let mut wrong = heartbeat(8009);
    wrong.secret_key = token(Some("other"));
    c.handle(0, wrong);
    let mut none = heartbeat(8009);
    none.secret_key = String::new();
    c.handle(0, none);
    assert_eq!(c.counters().wrong_token, 2);
    for (addr, port) in [("0.0.0.0", 8009), ("node-a.local", 8009), ("127.0.0.1", 0)] {
        let mut p = heartbeat(8009);
        p.node.addr = addr.into();
        p.node.port = port;
        c.handle(0, p);
    }
    assert_eq!(c.counters().bad_node, 3);
    assert!(c.drain_outgoing().is_empty());
    assert!(c.take_events().is_empty());
    assert_eq!(c.listed(), 3);
}

#[test]
fn a_node_not_heard_from_for_the_timeout_fails() {
    let mut c = joined_with(&[8001], 3);
    c.set(0, id(8002), Attributes::default());
    c.tick(TIMEOUT - 1);
    assert_eq!(c.listed(), 3);
    c.handle(TIMEOUT - 1, heartbeat(8001));
    c.tick(TIMEOUT);
    assert_eq!(c.take_events(), vec![Event::Failed(id(8002))]);
    c.tick(2 * TIMEOUT - 1);
    assert_eq!(c.take_events(), vec![Event::Failed(id(8001))]);
    assert_eq!(c.listed(), 1);
}

#[test]
fn publish_and_exchange_keep_the_newest_update() {
    let mut c = joined_with(&[8001, 8002], 3);
    assert!(c.publish(1_000, b"a".to_vec(), |_| true));
    let out = c.drain_outgoing();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|(_, p)| p.is_update && p.update == 1_000));
    // The clock stepped back: still newer than what we hold.
    assert!(c.publish(500, b"b".to_vec(), |_| true));
    assert_eq!(c.metadata_data(), Some(&b"b"[..]));
    c.drain_outgoing();
    let own: Vec<Event> = c.take_events();
    assert!(
        matches!(own[..], [Event::MetadataChanged(a), Event::MetadataChanged(b)] if a.origin == id(7000) && b.origin == id(7000)),
        "our own publishes are reported, as in the native mode: {own:?}"
    );
    // An older exchange request from a listed node gets ours back...
    c.handle(0, exchange(8001, 1, 10, b"old"));
    let answers = c.drain_outgoing();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].0, id(8001));
    assert_eq!((answers[0].1.is_swap, answers[0].1.update), (2, 1_001));
    assert_eq!(answers[0].1.data.as_deref(), Some(&b"b"[..]));
    // ...once per cycle at most (a Go node asks once per cycle)...
    c.handle(CYCLE - 1, exchange(8001, 1, 10, b"old"));
    assert!(c.drain_outgoing().is_empty());
    assert_eq!(c.counters().swaps_refused, 1);
    c.handle(CYCLE, exchange(8001, 1, 10, b"old"));
    assert_eq!(c.drain_outgoing().len(), 1);
    // ...and from a node we do not list, nothing.
    c.handle(CYCLE, exchange(8099, 1, 10, b"old"));
    assert!(c.drain_outgoing().is_empty());
    assert_eq!(c.counters().swaps_refused, 2);
    // A newer one, request or answer, replaces ours, with no answer and no passing on.
    c.handle(0, exchange(8002, 2, 2_000, b"new"));
    assert!(c.drain_outgoing().is_empty());
    assert_eq!(c.metadata_data(), Some(&b"new"[..]));
    assert!(matches!(c.take_events()[..], [Event::MetadataChanged(v)] if v.origin == id(8002)));
    // A publish in a heartbeat that is older changes nothing, but is still passed on.
    let mut p = heartbeat(8003);
    p.is_update = true;
    p.update = 1_500;
    p.data = Some(b"older".to_vec());
    c.handle(0, p);
    assert_eq!(c.metadata_data(), Some(&b"new"[..]));
    assert_eq!(c.drain_outgoing().len(), 2);
    // A publish that does not fit a receiver's buffer is refused and changes nothing; the
    // packet checked is the one sent, its targets marked in Infected.
    assert!(!c.publish(3_000, vec![0; 10], |_| false));
    assert_eq!(c.metadata_data(), Some(&b"new"[..]));
    assert!(c.drain_outgoing().is_empty());
    let marked = std::cell::Cell::new(0);
    assert!(c.publish(3_000, vec![0; 10], |p| {
        marked.set(p.infected.len());
        true
    }));
    assert_eq!(marked.get(), 4, "itself and the three nodes it goes to");
    let sent = c.drain_outgoing();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|(_, p)| p.infected.len() == 4));
}

#[test]
fn a_stopped_member_sends_nothing_and_one_packet_in_sends_at_most_amount_out() {
    let mut c = joined_with(&[8001, 8002, 8003, 8004, 8005, 8006], 3);
    for i in 0..50 {
        let mut p = heartbeat(8100 + i);
        p.is_update = i % 2 == 0;
        p.update = i as i64 + 1;
        c.handle(0, p);
        assert!(c.drain_outgoing().len() <= 3, "packet {i}");
    }
    c.stop();
    c.tick(10 * CYCLE);
    c.handle(10 * CYCLE, heartbeat(8001));
    c.handle(10 * CYCLE, exchange(8001, 1, 0, b""));
    assert!(c.drain_outgoing().is_empty());
    c.start(11 * CYCLE);
    c.tick(11 * CYCLE);
    assert!(!c.drain_outgoing().is_empty());
}

/// An `Update` further ahead of our wall clock than the drift bound is refused and counted: a
/// forged one at the top of the range would pin the metadata for good.
#[test]
fn an_update_far_ahead_of_our_clock_is_refused() {
    let mut c = joined_with(&[8001], 3);
    let wall: i64 = 1_764_670_668_000_000_000;
    c.set_wall_clock(wall);
    c.handle(0, exchange(8001, 2, i64::MAX, b"forged"));
    c.handle(0, exchange(8001, 2, wall + DRIFT_MAX_NS + 1, b"too far"));
    assert_eq!(c.metadata_data(), None);
    assert_eq!(c.counters().clocks_implausible, 2);
    c.handle(0, exchange(8001, 2, wall + DRIFT_MAX_NS, b"fast clock"));
    assert_eq!(c.metadata_data(), Some(&b"fast clock"[..]));
    assert!(
        c.publish(wall, b"ours".to_vec(), |_| true),
        "ours still publishes after it"
    );
    assert_eq!(c.metadata_data(), Some(&b"ours"[..]));
}
