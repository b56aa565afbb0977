//! No reflection, no amplification (issue 10, finding 4). A keyless member gets spoofed datagrams
//! of every message type whose `from` names a "victim" (a UDP socket and a TCP listener on one
//! port of 127.0.0.1 that only count what they receive): for each message type on its own,
//! whatever the member sends the victim in answer must weigh no more than the datagrams of that
//! type that named it, and no datagram makes the member open a connection to the victim. And with replies carried on the
//! requester's own connections, members still converge and fetch metadata too large to travel
//! inline.

mod common;
use common::*;
use pekonode::proto::{Attributes, MemberState, Message, MetaVersion, Metadata, Rumor, Status};
use pekonode::wire::{self, Key};
use pekonode::{Node, Protocol};
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A socket pair that counts bytes and never answers. Stops (and closes everything) when dropped.
struct Victim {
    id: SocketAddr,
    udp_bytes: Arc<AtomicU64>,
    tcp_bytes: Arc<AtomicU64>,
    tcp_connections: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Victim {
    fn start() -> Victim {
        // UDP and TCP on one port, as a member's id names both.
        let (tcp, udp) = (0..16)
            .find_map(|_| {
                let tcp = TcpListener::bind("127.0.0.1:0").ok()?;
                let port = tcp.local_addr().ok()?.port();
                let udp = UdpSocket::bind(("127.0.0.1", port)).ok()?;
                Some((tcp, udp))
            })
            .expect("a free port for both UDP and TCP");
        let id = tcp.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let udp_bytes = Arc::new(AtomicU64::new(0));
        let tcp_bytes = Arc::new(AtomicU64::new(0));
        let tcp_connections = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        {
            let (stop, bytes) = (stop.clone(), udp_bytes.clone());
            udp.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = udp.recv(&mut buf) {
                        bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }));
        }
        {
            let (stop, bytes, conns) = (stop.clone(), tcp_bytes.clone(), tcp_connections.clone());
            tcp.set_nonblocking(true).unwrap();
            threads.push(std::thread::spawn(move || {
                let mut readers: Vec<JoinHandle<()>> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match tcp.accept() {
                        Ok((mut s, _)) => {
                            conns.fetch_add(1, Ordering::Relaxed);
                            let (stop, bytes) = (stop.clone(), bytes.clone());
                            readers.push(std::thread::spawn(move || {
                                s.set_nonblocking(false).unwrap();
                                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                                let mut buf = [0u8; 65536];
                                while !stop.load(Ordering::Relaxed) {
                                    match s.read(&mut buf) {
                                        Ok(0) => return,
                                        Ok(n) => {
                                            bytes.fetch_add(n as u64, Ordering::Relaxed);
                                        }
                                        Err(e)
                                            if matches!(
                                                e.kind(),
                                                std::io::ErrorKind::WouldBlock
                                                    | std::io::ErrorKind::TimedOut
                                            ) => {}
                                        Err(_) => return,
                                    }
                                }
                            }));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                for r in readers {
                    let _ = r.join();
                }
            }));
        }
        Victim {
            id,
            udp_bytes,
            tcp_bytes,
            tcp_connections,
            stop,
            threads,
        }
    }

    fn received(&self) -> (u64, u64) {
        (
            self.udp_bytes.load(Ordering::Relaxed),
            self.tcp_bytes.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Every message type, each naming `victim` as its sender, built as an attacker would: with the
/// wire module's own encoder. `round` varies what a member might otherwise ignore as a repeat;
/// `held` is the member's metadata version, so the announced one is newer (and plausible).
fn spoofed(
    victim: SocketAddr,
    member: SocketAddr,
    other: SocketAddr,
    held: MetaVersion,
    round: u32,
) -> Vec<Message> {
    let newer = MetaVersion {
        hlc: held.hlc + 1 + u64::from(round),
        origin: victim,
    };
    vec![
        // An ack answers a ping: with rumors piggybacked, it can outweigh the ping.
        Message::Ping {
            seq: round,
            from: victim,
            target: member,
            rumors: vec![],
        },
        // An indirect probe: a ping to a real member, then its ack relayed (or a nack).
        Message::PingReq {
            seq: round,
            from: victim,
            target: other,
            rumors: vec![],
        },
        // ... or to the victim itself.
        Message::PingReq {
            seq: round + 1000,
            from: victim,
            target: victim,
            rumors: vec![],
        },
        // A digest that differs from the member's: it used to start a push-pull to `from`.
        Message::Digest {
            from: victim,
            digest: u64::from(round) * 0x9e37_79b9_7f4a_7c15 + 1,
            meta_version: None,
        },
        // A request for the (large) metadata.
        Message::MetaRequest { from: victim },
        // A push-pull request from a member with nothing: it used to get the table and the
        // metadata back.
        Message::PushPull {
            from: victim,
            reply: false,
            members: vec![MemberState {
                id: victim,
                incarnation: 0,
                status: Status::Left,
                attrs: pekonode::proto::PackedAttributes::default(),
            }],
            meta_version: None,
            meta: None,
            holds: None,
        },
        // News of newer metadata held by the "sender": a fetch from it.
        Message::Gossip {
            from: victim,
            rumors: vec![Rumor::MetaAnnounce(newer)],
        },
        // Messages that answer nothing, for completeness.
        Message::Ack {
            seq: round,
            from: victim,
            rumors: vec![],
        },
        Message::Nack {
            seq: round,
            from: victim,
        },
        Message::MetaResponse {
            from: victim,
            meta: Metadata {
                version: MetaVersion {
                    hlc: 1,
                    origin: victim,
                },
                data: b"old".to_vec(),
            },
        },
    ]
}

/// Waits until the victim's counters have not moved for `quiet` (the member has answered all it
/// will), within `GENEROUS`.
fn settle(victim: &Victim, quiet: Duration) {
    let mut last = victim.received();
    let mut since = Instant::now();
    let settled = wait_for(GENEROUS, || {
        let now = victim.received();
        if now != last {
            last = now;
            since = Instant::now();
        }
        since.elapsed() >= quiet
    });
    assert!(settled.is_some(), "the victim kept receiving for 30 s");
}

#[test]
fn spoofed_senders_get_no_more_than_the_datagrams_weighed() {
    let nodes = cluster(3, config(Protocol::Udp));
    let ids = ids(&nodes);
    assert!(
        wait_for(GENEROUS, || all_list(
            &nodes.iter().collect::<Vec<_>>(),
            &ids
        ))
        .is_some(),
        "the cluster did not converge"
    );
    let member: &Node = &nodes[0];
    // What a reflector would love to send: metadata far larger than a request, and queued
    // rumors (a large attribute change) that ride on every answer while they last.
    member.publish(&vec![b'm'; 8000]).unwrap();
    assert!(wait_for(GENEROUS, || nodes.iter().all(|n| n.metadata().is_some())).is_some());
    member
        .update(Attributes {
            name: "n0".into(),
            private_data: "p".repeat(1000),
        })
        .unwrap();

    let victim = Victim::start();
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let key = Key::new(None);
    let held = member.metadata().expect("published").version;
    const ROUNDS: u32 = 20;
    let kinds = spoofed(victim.id, ids[0], ids[1], held, 0).len();
    // One message type at a time, each measured on its own: a heavy datagram that gets no
    // answer must not pad the sent bytes and hide a light one that gets a large answer (or a
    // connection).
    let mut failures = Vec::new();
    let (mut all_sent, mut all_got) = (0u64, 0u64);
    for kind in 0..kinds {
        let before = member.stats().datagrams_received;
        let got_before = victim.received();
        let conns_before = victim.tcp_connections.load(Ordering::Relaxed);
        let mut sent_bytes = 0u64;
        let mut what = String::new();
        for round in 0..ROUNDS {
            let msg = spoofed(victim.id, ids[0], ids[1], held, round).swap_remove(kind);
            if what.is_empty() {
                what = format!("{msg:?}").chars().take(60).collect();
            }
            let frame = wire::encode(&msg, &key);
            assert!(frame.len() <= wire::DATAGRAM_MAX);
            attacker.send_to(&frame, ids[0]).unwrap();
            sent_bytes += frame.len() as u64;
            // Paced, so the member's receive buffer holds them all.
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            wait_for(GENEROUS, || member.stats().datagrams_received
                >= before + u64::from(ROUNDS))
            .is_some(),
            "the member did not receive the spoofed datagrams"
        );
        // Relays expire after a probe timeout, fetches retry after a probe interval: 2 s of
        // silence is well past both (cycle 100 ms, timeout 2 s). A connection attempt counts
        // once the victim accepts it, well within that.
        settle(&victim, Duration::from_secs(2));
        let (udp, tcp) = victim.received();
        let got = (udp - got_before.0) + (tcp - got_before.1);
        let conns = victim.tcp_connections.load(Ordering::Relaxed) - conns_before;
        println!(
            "reflection: {ROUNDS} x {what}..: {sent_bytes} bytes spoofed -> victim got {} by UDP, \
             {} by TCP, {conns} connections: amplification {:.3}",
            udp - got_before.0,
            tcp - got_before.1,
            got as f64 / sent_bytes as f64
        );
        if got > sent_bytes || conns > 0 {
            failures.push(format!(
                "{what}..: {sent_bytes} bytes spoofed, {got} reflected, {conns} connections"
            ));
        }
        all_sent += sent_bytes;
        all_got += got;
    }
    println!(
        "reflection: all types: {all_sent} bytes spoofed -> {all_got} reflected ({:.3})",
        all_got as f64 / all_sent as f64
    );
    assert!(
        failures.is_empty(),
        "reflected more than spoofed, or opened a connection to the victim: {failures:#?}"
    );
    assert_eq!(
        victim.tcp_connections.load(Ordering::Relaxed),
        0,
        "a connection to the victim"
    );
    // The member is none the worse: the cluster still lists exactly its members.
    assert!(wait_for(GENEROUS, || all_list(
        &nodes.iter().collect::<Vec<_>>(),
        &ids
    ))
    .is_some());
}

fn converge_and_fetch_large_metadata(p: Protocol) {
    let nodes = cluster(4, config(p));
    let ids4 = ids(&nodes);
    assert!(
        wait_for(GENEROUS, || all_list(
            &nodes.iter().collect::<Vec<_>>(),
            &ids4
        ))
        .is_some(),
        "four members did not converge"
    );
    // Larger than a datagram's inline bound (900 bytes): announced, then fetched over TCP.
    let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    nodes[2].publish(&big).unwrap();
    assert!(
        wait_for(GENEROUS, || nodes
            .iter()
            .all(|n| n.metadata().is_some_and(|m| m.data == big)))
        .is_some(),
        "the large metadata did not reach every member"
    );
    // A late member learns the table and the metadata from its join alone (the rumors are
    // long gone by then).
    let late = node_with(config(p), "late");
    late.set(ids4[3], Attributes::default()).unwrap();
    let mut all = ids4.clone();
    all.push(late.local_id());
    let mut everyone: Vec<&Node> = nodes.iter().collect();
    everyone.push(&late);
    assert!(
        wait_for(GENEROUS, || all_list(&everyone, &all)).is_some(),
        "the late member and the others did not list each other"
    );
    assert!(
        wait_for(GENEROUS, || late.metadata().is_some_and(|m| m.data == big)).is_some(),
        "the late member did not fetch the large metadata"
    );
    // A larger publish from the newcomer reaches the old members.
    let bigger = vec![7u8; 12_000];
    late.publish(&bigger).unwrap();
    assert!(
        wait_for(GENEROUS, || nodes
            .iter()
            .all(|n| n.metadata().is_some_and(|m| m.data == bigger)))
        .is_some(),
        "the newcomer's large publish did not reach every member"
    );
}

#[test]
fn members_converge_and_fetch_large_metadata_udp() {
    converge_and_fetch_large_metadata(Protocol::Udp);
}

#[test]
fn members_converge_and_fetch_large_metadata_tcp() {
    converge_and_fetch_large_metadata(Protocol::Tcp);
}
