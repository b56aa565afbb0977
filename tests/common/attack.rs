//! The TCP memory attack of issue 10 (finding 3), shared by the keyless and the keyed test
//! binaries (each its own process, so each measures its own peak RSS): 64 connections each send
//! one 8 MiB push-pull frame whose body is garbage, built with the wire module's own encoder,
//! at a real member. Bounded: one frame per connection (512 MiB in all) and `ATTACK_TIME`.

use crate::common::*;
use pekonode::proto::{Message, MetaVersion, Metadata};
use pekonode::wire::{self, Key};
use pekonode::{Attributes, Config, Node, Protocol};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const ATTACKERS: usize = 64;
/// Metadata carried by each attack frame: with the frame's other fields just over 8 MiB, within
/// a default member's stream frame limit (`size` + 8 MiB).
pub const CLAIMED: usize = 8 << 20;
/// Every attacker stops writing after this, sent or not.
pub const ATTACK_TIME: Duration = Duration::from_secs(10);
/// The bound of issue 10 on the process's peak resident memory under the attack.
pub const PEAK_RSS_MAX_KB: u64 = 150 * 1024;

/// This process's peak resident set size (VmHWM), in kB.
pub fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// One attack frame as it goes on a stream: a push-pull carrying `CLAIMED` bytes of metadata,
/// encoded with `key` (for a keyed victim: a key it does not know), and, without a key, with the
/// body's variant byte broken so that the body does not decode once read.
fn attack_frame(from: SocketAddr, key: &Key, keyed: bool) -> Vec<u8> {
    let msg = Message::PushPull {
        from,
        reply: false,
        members: vec![],
        meta_version: None,
        meta: Some(Metadata {
            version: MetaVersion {
                hlc: 1,
                origin: from,
            },
            data: vec![0x5a; CLAIMED],
        }),
        holds: None,
    };
    let mut frame = wire::encode_stream(&msg, key);
    if !keyed {
        frame[wire::STREAM_HEADER_LEN] = 0xff; // the body's variant index: no such message
    }
    frame
}

/// Sends `frame` on one connection to `to`, stopping at `deadline` or on the first error.
fn attacker(to: SocketAddr, frame: Arc<Vec<u8>>, deadline: Instant) -> usize {
    let Ok(mut s) = TcpStream::connect(to) else {
        return 0;
    };
    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
    let mut sent = 0;
    while sent < frame.len() && Instant::now() < deadline {
        let end = (sent + (64 << 10)).min(frame.len());
        match s.write(&frame[sent..end]) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => break,
        }
    }
    sent
}

/// Runs the attack at a member of a two-member cluster with `secret` (the attackers use another
/// key when there is one), checks the process's peak RSS, then that the member still works: a
/// new member joins through it and a publish of 4 KiB (fetched over TCP) reaches it.
pub fn run(secret: Option<&str>) {
    let cfg = Config {
        secret_key: secret.map(String::from),
        ..config(Protocol::Udp)
    };
    let victim = node_with(cfg.clone(), "victim");
    let peer = node_with(cfg.clone(), "peer");
    peer.set(victim.local_id(), Attributes::default()).unwrap();
    let two = vec![victim.local_id(), peer.local_id()];
    assert!(wait_for(GENEROUS, || all_list(&[&victim, &peer], &two)).is_some());

    let before_kb = peak_rss_kb();
    let attack_key = Key::new(secret.map(|_| "not the cluster's key"));
    let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let frame = Arc::new(attack_frame(from, &attack_key, secret.is_some()));
    let target = victim.local_id();
    let start = Instant::now();
    let deadline = start + ATTACK_TIME;
    let sent: usize = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..ATTACKERS)
            .map(|_| {
                let f = frame.clone();
                sc.spawn(move || attacker(target, f, deadline))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    drop(frame);
    let peak_kb = peak_rss_kb();
    let c = victim.counters();
    eprintln!(
        "attack ({}): {} MiB sent in {:.1} s by {ATTACKERS} connections; peak RSS {} MB \
         before, {} MB after; victim dropped {} (auth), {} (malformed), {} (too large)",
        if secret.is_some() { "keyed" } else { "keyless" },
        sent >> 20,
        start.elapsed().as_secs_f64(),
        before_kb / 1024,
        peak_kb / 1024,
        c.dropped_auth,
        c.dropped_malformed,
        c.dropped_too_large
    );
    assert!(
        peak_kb < PEAK_RSS_MAX_KB,
        "peak RSS {peak_kb} kB under the attack (bound {PEAK_RSS_MAX_KB} kB)"
    );

    // The member still works: a new member joins through it...
    let late = node_with(cfg, "late");
    late.set(victim.local_id(), Attributes::default()).unwrap();
    let three = vec![victim.local_id(), peer.local_id(), late.local_id()];
    assert!(
        wait_for(GENEROUS, || all_list(&[&victim, &peer, &late], &three)).is_some(),
        "the new member did not join"
    );
    // ...and metadata too large for a datagram, fetched over TCP, reaches it.
    let data = vec![7u8; 4096];
    late.publish(&data).unwrap();
    assert!(
        wait_for(GENEROUS, || [&victim, &peer]
            .iter()
            .all(|n: &&Node| n.metadata().is_some_and(|m| m.data == data)))
        .is_some(),
        "a publish did not reach the attacked member"
    );
}
