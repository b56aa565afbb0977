//! Real sockets on loopback, for UDP and for TCP mode. Every wait polls with a generous deadline.

mod common;
use common::*;
use pekonode::{Attributes, Config, Node, Protocol};
use std::time::Duration;

fn refs(nodes: &[Node]) -> Vec<&Node> {
    nodes.iter().collect()
}

fn five_converge(p: Protocol) {
    let nodes = cluster(5, config(p));
    let ids = ids(&nodes);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some());
    // Names and private data travel with the member.
    let listed = nodes[4].members();
    let first = listed.iter().find(|(id, _)| *id == ids[0]).unwrap();
    assert_eq!(first.1.name, "n0");
    assert_eq!(first.1.private_data, "data of n0");
}

fn metadata_reaches_all(p: Protocol) {
    let nodes = cluster(5, config(p));
    let ids = ids(&nodes);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some());
    nodes[2].publish(b"cluster config v1").unwrap();
    assert!(wait_for(GENEROUS, || nodes
        .iter()
        .all(|n| n.metadata().is_some_and(|m| m.data == b"cluster config v1")))
    .is_some());
    // A later publish elsewhere replaces it everywhere.
    nodes[4].publish(b"v2").unwrap();
    assert!(wait_for(GENEROUS, || nodes
        .iter()
        .all(|n| n.metadata().is_some_and(|m| m.data == b"v2")))
    .is_some());
}

fn concurrent_publishes_converge(p: Protocol) {
    let nodes = cluster(5, config(p));
    let ids = ids(&nodes);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some());
    std::thread::scope(|s| {
        s.spawn(|| nodes[1].publish(b"from one").unwrap());
        s.spawn(|| nodes[3].publish(b"from three").unwrap());
    });
    let same = || {
        let first = nodes[0].metadata();
        first.is_some() && nodes.iter().all(|n| n.metadata() == first)
    };
    assert!(
        wait_for(GENEROUS, same).is_some(),
        "members hold different metadata"
    );
    let winner = nodes[0].metadata().unwrap().data;
    assert!(winner == b"from one" || winner == b"from three");
}

fn late_joiner_gets_everything(p: Protocol) {
    let nodes = cluster(4, config(p));
    let ids4 = ids(&nodes);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids4)).is_some());
    nodes[1].publish(b"before you came").unwrap();
    assert!(wait_for(GENEROUS, || nodes.iter().all(|n| n.metadata().is_some())).is_some());
    // Rumors about the publish have long died out when the late member arrives: only the
    // join-time anti-entropy can give it the metadata.
    let late = node_with(config(p), "late");
    late.set(ids4[3], Attributes::default()).unwrap();
    let mut all = ids4.clone();
    all.push(late.local_id());
    let mut everyone = refs(&nodes);
    everyone.push(&late);
    assert!(wait_for(GENEROUS, || all_list(&everyone, &all)).is_some());
    assert!(wait_for(GENEROUS, || late
        .metadata()
        .is_some_and(|m| m.data == b"before you came"))
    .is_some());
}

fn stop_then_start(p: Protocol) {
    let cfg = config(p);
    let nodes = cluster(5, cfg.clone());
    let ids = ids(&nodes);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some());
    nodes[3].stop().unwrap();
    let live: Vec<&Node> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, n)| n)
        .collect();
    let live_ids: Vec<_> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, id)| *id)
        .collect();
    let mut live_dropped = false;
    let gone = wait_for(GENEROUS, || {
        for n in &live {
            let listed: Vec<_> = n.members().into_iter().map(|(id, _)| id).collect();
            live_dropped |= live_ids.iter().any(|id| !listed.contains(id));
        }
        all_list(&live, &live_ids)
    });
    assert!(gone.is_some(), "stopped member never dropped");
    assert!(
        !live_dropped,
        "a live member was dropped while one was stopped"
    );
    println!(
        "stopped member gone after {gone:?} (timeout {} ms)",
        cfg.timeout_ms
    );
    nodes[3].start().unwrap();
    nodes[3].start().unwrap(); // no-op on a running member
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some());
}

fn free_is_prompt(p: Protocol) {
    // With a one-minute timeout, a removal within 30 s can only come from the leave notice.
    let cfg = Config {
        timeout_ms: 60_000,
        ..config(p)
    };
    let mut nodes = cluster(4, cfg);
    let ids = ids(&nodes);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some());
    let leaving = nodes.pop().unwrap();
    let port = leaving.local_id();
    drop(leaving); // closes: leave notice, sockets closed before it returns
                   // The port is free at once.
    let again = std::net::UdpSocket::bind(port).expect("UDP port reusable after close");
    drop(again);
    let _tcp = std::net::TcpListener::bind(port).expect("TCP port reusable after close");
    assert!(wait_for(Duration::from_secs(30), || all_list(
        &refs(&nodes),
        &ids[..3]
    ))
    .is_some());
}

fn wrong_key_is_shut_out(p: Protocol) {
    let good = Config {
        secret_key: Some("right".into()),
        ..config(p)
    };
    let nodes = cluster(3, good.clone());
    let ids3 = ids(&nodes);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids3)).is_some());
    let intruder = node_with(
        Config {
            secret_key: Some("wrong".into()),
            ..config(p)
        },
        "intruder",
    );
    intruder.set(ids3[0], Attributes::default()).unwrap();
    nodes[1]
        .set(intruder.local_id(), Attributes::default())
        .unwrap();
    // Until its timeout the intruder lists its own guess; then only itself, and nobody ever
    // lists it after theirs.
    let alone = wait_for(GENEROUS, || {
        intruder.members().len() == 1 && all_list(&refs(&nodes), &ids3)
    });
    assert!(alone.is_some());
    for n in &nodes {
        assert!(n.members().iter().all(|(id, _)| *id != intruder.local_id()));
    }
    let dropped: u64 =
        nodes.iter().map(|n| n.stats().dropped_auth).sum::<u64>() + intruder.stats().dropped_auth;
    assert!(dropped > 0, "no frame was rejected for its MAC");
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod udp { $( #[test] fn $name() { super::$name(pekonode::Protocol::Udp) } )* }
        mod tcp { $( #[test] fn $name() { super::$name(pekonode::Protocol::Tcp) } )* }
    };
}

both!(
    five_converge,
    metadata_reaches_all,
    concurrent_publishes_converge,
    late_joiner_gets_everything,
    stop_then_start,
    free_is_prompt,
    wrong_key_is_shut_out,
);

#[test]
fn half_a_mebibyte_of_metadata_over_udp_mode() {
    let cfg = Config {
        size: 1 << 20,
        ..config(Protocol::Udp)
    };
    let nodes = cluster(4, cfg);
    let ids = ids(&nodes);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some());
    let big: Vec<u8> = (0..512 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    nodes[0].publish(&big).unwrap();
    assert!(wait_for(GENEROUS, || nodes
        .iter()
        .all(|n| n.metadata().is_some_and(|m| m.data == big)))
    .is_some());
    // Too large for `size` is refused with a clear error and changes nothing.
    let err = nodes[0].publish(&vec![0u8; (1 << 20) + 1]).unwrap_err();
    assert_eq!(err.status, pekonode::error::PEKO_ERR_TOO_LARGE);
    assert_eq!(nodes[0].metadata().unwrap().data, big);
}

#[test]
fn port_in_use_is_an_io_error() {
    let a = node_with(config(Protocol::Udp), "a");
    let b = Node::new(config(Protocol::Udp), a.local_id(), Attributes::default()).unwrap();
    let err = b.join().unwrap_err();
    assert_eq!(err.status, pekonode::error::PEKO_ERR_IO);
    assert!(err.message.contains("bind"), "{}", err.message);
    // A second join of a joined node is a state error.
    assert_eq!(
        a.join().unwrap_err().status,
        pekonode::error::PEKO_ERR_STATE
    );
}

#[test]
fn fifty_members_in_one_process_converge() {
    let cfg = Config {
        cycle_ms: 200,
        timeout_ms: 5000,
        ..Config::default()
    };
    let nodes = cluster(50, cfg);
    let ids = ids(&nodes);
    let t = wait_for(Duration::from_secs(60), || all_list(&refs(&nodes), &ids));
    assert!(t.is_some(), "50 members did not converge");
    println!("50 members converged in {t:?}");
}

#[test]
fn ipv6_loopback_members_converge() {
    let v6 = |name: &str| {
        let n = Node::new(
            config(Protocol::Udp),
            "[::1]:0".parse().unwrap(),
            Attributes {
                name: name.into(),
                private_data: String::new(),
            },
        )
        .unwrap();
        n.join().unwrap();
        n
    };
    let a = v6("a");
    let b = v6("b");
    b.set(a.local_id(), Attributes::default()).unwrap();
    let ids = [a.local_id(), b.local_id()];
    assert!(wait_for(GENEROUS, || all_list(&[&a, &b], &ids)).is_some());
    a.publish(b"v6").unwrap();
    assert!(wait_for(GENEROUS, || b.metadata().is_some_and(|m| m.data == b"v6")).is_some());
}

#[test]
fn restarted_member_at_the_same_address_is_accepted_again() {
    let nodes = cluster(4, config(Protocol::Udp));
    let ids = ids(&nodes);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some());
    let mut nodes = nodes;
    // Member 3 goes away (its leave is remembered with its incarnation) and a new process takes
    // its address, starting again from incarnation 0.
    let old = nodes.pop().unwrap();
    let addr = old.local_id();
    drop(old);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids[..3])).is_some());
    let again = Node::new(
        config(Protocol::Udp),
        addr,
        Attributes {
            name: "n3, second life".into(),
            private_data: String::new(),
        },
    )
    .unwrap();
    again.join().unwrap();
    again.set(ids[0], Attributes::default()).unwrap();
    nodes.push(again);
    assert!(wait_for(GENEROUS, || all_list(&refs(&nodes), &ids)).is_some());
    let seen = nodes[0].members();
    assert_eq!(
        seen.iter().find(|(id, _)| *id == addr).unwrap().1.name,
        "n3, second life"
    );
}

/// A port both of a member's sockets can bind now, from a range of fixed ports below the
/// ephemeral range (32768 and up): a port the kernel handed out for a moment (binding port 0)
/// may be taken again before the member binds it, as the source port of any outgoing
/// connection of the tests running beside this one ("Address already in use"). Nothing else in
/// the tests uses this range.
fn free_loopback_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 23_000;
    const COUNT: u16 = 1_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    for _ in 0..COUNT {
        let port = FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % COUNT;
        if port_is_free(port) {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + COUNT);
}

/// Whether both of a member's sockets could be bound on `port` now (nothing holds it), on every
/// address, as the member binds them.
fn port_is_free(port: u16) -> bool {
    std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok()
        && std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
}

fn unjoined_at(port: u16) -> Node {
    let at = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    Node::new(config(Protocol::Udp), at, Attributes::default()).unwrap()
}

/// A closed member cannot join: a join after `close` would bind sockets and start work that no
/// later close or drop shuts down (the port stays bound for the life of the process).
#[test]
fn join_after_close_is_refused_and_binds_nothing() {
    let port = free_loopback_port();
    let n = unjoined_at(port);
    n.close();
    let joined = n.join();
    drop(n);
    assert!(
        port_is_free(port),
        "port {port} still bound after close, join ({joined:?}) and drop"
    );
    let err = joined.expect_err("join after close succeeded");
    assert_eq!(err.status, pekonode::error::PEKO_ERR_STATE, "{err:?}");
    // The other calls that change the member's life are refused the same way.
    for (what, r) in [("start", n_closed().start()), ("stop", n_closed().stop())] {
        assert_eq!(
            r.unwrap_err().status,
            pekonode::error::PEKO_ERR_STATE,
            "{what} after close"
        );
    }
    let late = n_closed().leave(Duration::from_millis(10));
    assert_eq!(late.unwrap_err().status, pekonode::error::PEKO_ERR_STATE);
}

/// A joined member, closed.
fn n_closed() -> Node {
    let n = node_with(config(Protocol::Udp), "closed");
    n.close();
    n
}

/// `join` and `close` from two threads at once (as `peko_join` and a `peko_free` on another
/// thread): whichever comes first, nothing is left bound once the member is dropped. Either the
/// join completed before the close (which then shut it down) or it saw the close and was refused.
#[test]
fn join_racing_close_leaves_no_member_running() {
    const ROUNDS: usize = 200;
    let mut leaked = Vec::new();
    let (mut joined, mut refused) = (0, 0);
    for _ in 0..ROUNDS {
        let port = free_loopback_port();
        let n = unjoined_at(port);
        let go = std::sync::Barrier::new(2);
        let r = std::thread::scope(|s| {
            let join = s.spawn(|| {
                go.wait();
                n.join()
            });
            go.wait();
            n.close();
            join.join().unwrap()
        });
        match &r {
            Ok(()) => joined += 1,
            Err(e) if e.status == pekonode::error::PEKO_ERR_STATE => refused += 1,
            Err(e) => panic!("join failed otherwise: {e:?}"),
        }
        drop(n);
        if !port_is_free(port) {
            leaked.push((port, r));
        }
    }
    assert!(
        leaked.is_empty(),
        "{} of {ROUNDS} members stayed bound after join racing close and drop: {:?}",
        leaked.len(),
        &leaked[..leaked.len().min(5)]
    );
    println!("{joined} joins completed before the close, {refused} saw it and were refused");
}
