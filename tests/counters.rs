//! The counters a user could not read before (dropped as too large, send errors, events lost)
//! reach `Node::counters()`; `peko_counter` reads any counter by id, rejects ids it does not
//! know, and agrees with `peko_stats` on the fields they share.

mod common;
use common::*;
use pekonode::error::{PEKO_ERR_INVALID_ARG, PEKO_ERR_NULL_ARG, PEKO_OK};
use pekonode::ffi::*;
use pekonode::proto::Message;
use pekonode::wire;
use pekonode::{Attributes, Protocol};
use std::ffi::c_char;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A loopback TCP port held by a socket that is bound but never listens: a connection to it is
/// refused at once, and no other process can take the port meanwhile.
fn refusing_port() -> (OwnedFd, u16) {
    unsafe {
        let raw = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(raw >= 0, "socket");
        let fd = OwnedFd::from_raw_fd(raw);
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let p = &mut sa as *mut libc::sockaddr_in as *mut libc::sockaddr;
        assert_eq!(libc::bind(fd.as_raw_fd(), p, len), 0, "bind");
        assert_eq!(libc::getsockname(fd.as_raw_fd(), p, &mut len), 0);
        (fd, u16::from_be(sa.sin_port))
    }
}

/// More silent peers than the event queue keeps (64 while nobody reads events): each ends in
/// a FAILED event, so some are lost.
const SILENT_PEERS: usize = 70;

#[test]
fn new_counters_reach_a_rust_caller() {
    let node = node_with(config(Protocol::Tcp), "counted");
    let held: Vec<(OwnedFd, u16)> = (0..SILENT_PEERS).map(|_| refusing_port()).collect();
    for (_, port) in &held {
        let peer = SocketAddr::from(([127, 0, 0, 1], *port));
        node.set(peer, Attributes::default()).unwrap();
    }
    // A stream header whose body length is beyond any limit.
    let push_pull = Message::PushPull {
        from: node.local_id(),
        reply: false,
        members: vec![],
        meta_version: None,
        meta: None,
        holds: None,
    };
    let mut header = wire::encode_stream(&push_pull, &wire::Key::new(None));
    header.truncate(wire::STREAM_HEADER_LEN);
    header[5..].copy_from_slice(&u32::MAX.to_be_bytes());
    let mut s = TcpStream::connect(node.local_id()).unwrap();
    s.write_all(&header).unwrap();

    let ok = wait_for(GENEROUS, || {
        let c = node.counters();
        c.dropped_too_large >= 1
            && c.send_errors >= 1
            && c.events_lost >= (SILENT_PEERS - 64) as u64
    });
    let c = node.counters();
    assert!(ok.is_some(), "counters did not move: {c:?}");
    assert!(c.dropped_malformed >= c.dropped_too_large, "{c:?}");
    assert_eq!(c.udp_datagrams_sent, 0, "TCP mode sent a datagram: {c:?}");
    assert_eq!(c.connections_refused, 0);
    assert_eq!(c.members_refused, 0);
    drop(held);
}

fn last_error() -> String {
    let mut buf = vec![0u8; 512];
    let n = unsafe { peko_last_error(buf.as_mut_ptr() as *mut c_char, buf.len()) };
    buf.truncate(n.min(511));
    String::from_utf8(buf).unwrap()
}

#[test]
fn peko_counter_ids() {
    let (n, _) = new_node("ids");
    let ids: Vec<u32> = (PEKO_COUNTER_MEMBERS_ALIVE..=PEKO_COUNTER_DROPPED_LABEL).collect();
    for id in &ids {
        let mut v = u64::MAX;
        assert_eq!(
            unsafe { peko_counter(n.0, *id, &mut v) },
            PEKO_OK,
            "id {id}"
        );
        assert_ne!(v, u64::MAX, "id {id} was not written");
    }
    for bad in [0, PEKO_COUNTER_DROPPED_LABEL + 1, u32::MAX] {
        let mut v = 12345u64;
        assert_eq!(
            unsafe { peko_counter(n.0, bad, &mut v) },
            PEKO_ERR_INVALID_ARG
        );
        assert_eq!(v, 12345, "out written for id {bad}");
        assert!(
            last_error().contains(&format!("counter {bad} ")),
            "{}",
            last_error()
        );
    }
    assert_eq!(
        unsafe { peko_counter(n.0, PEKO_COUNTER_ROUND, std::ptr::null_mut()) },
        PEKO_ERR_NULL_ARG
    );
    let mut v = 0;
    assert_eq!(
        unsafe { peko_counter(std::ptr::null_mut(), PEKO_COUNTER_ROUND, &mut v) },
        PEKO_ERR_NULL_ARG
    );

    // The peko_stats_t fields, read both ways: a counter read between two peko_stats calls
    // lies between the two values.
    let stats = || {
        let mut s = unsafe { std::mem::zeroed::<peko_stats_t>() };
        assert_eq!(unsafe { peko_stats(n.0, &mut s) }, PEKO_OK);
        [
            s.members_alive,
            s.members_suspect,
            s.packets_sent,
            s.bytes_sent,
            s.packets_received,
            s.bytes_received,
            s.dropped_auth,
            s.dropped_malformed,
            s.dropped_queue_full,
            s.anti_entropy_exchanges,
            s.round,
        ]
    };
    assert!(
        wait_for(GENEROUS, || stats()[10] >= 3).is_some(),
        "no rounds"
    );
    let before = stats();
    let mut read = [0u64; 11];
    for (i, v) in read.iter_mut().enumerate() {
        assert_eq!(
            unsafe { peko_counter(n.0, PEKO_COUNTER_MEMBERS_ALIVE + i as u32, v) },
            PEKO_OK
        );
    }
    let after = stats();
    for i in 0..11 {
        assert!(
            before[i] <= read[i] && read[i] <= after[i],
            "counter {}: {} not within peko_stats' {}..{}",
            i + 1,
            read[i],
            before[i],
            after[i]
        );
    }
}
