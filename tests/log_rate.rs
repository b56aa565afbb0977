//! The log stays bounded per member whatever the network does: forged rumors naming hundreds of
//! members at closed ports (each a JOINED, then a FAILED line), and connects to closed ports
//! (each an error line), reach the host's logger at most `log::ERRORS_PER_WINDOW` error lines
//! and `log::EVENT_LINES_PER_WINDOW` member-news lines per member per `log::WINDOW`, plus one
//! line each saying how many were not printed. Lines are counted through `peko_set_log`.

mod common;

use common::*;
use pekonode::error::PEKO_OK;
use pekonode::ffi::*;
use pekonode::log::{ERRORS_PER_WINDOW, EVENT_LINES_PER_WINDOW, WINDOW};
use pekonode::proto::{Message, Rumor};
use pekonode::{wire, Attributes, Protocol};
use std::ffi::{c_char, c_void, CStr};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn keep_line(_: *mut c_void, _level: u32, line: *const c_char) {
    let line = CStr::from_ptr(line).to_string_lossy().into_owned();
    LINES.lock().unwrap_or_else(|e| e.into_inner()).push(line);
}

/// Ports on 127.0.0.1 that nothing listens on: bound by the OS's choice, then closed.
fn closed_ports(count: usize) -> Vec<u16> {
    let socks: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    socks
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

#[test]
fn forged_members_and_closed_ports_cannot_flood_the_log() {
    const FORGED: usize = 300;
    const SET: usize = 60;
    const PER_DATAGRAM: usize = 25;
    let victim = node_with(config(Protocol::Udp), "victim");
    let me = victim.local_id();
    let own = format!("] {me} ");
    assert_eq!(
        unsafe { peko_set_log(Some(keep_line), std::ptr::null_mut(), PEKO_LOG_INFO) },
        PEKO_OK
    );
    let start = Instant::now();

    // Connects to closed ports: each peer set is synced with over TCP, refused.
    let ports = closed_ports(FORGED + SET);
    for &p in &ports[FORGED..] {
        victim
            .set(SocketAddr::from(([127, 0, 0, 1], p)), Attributes::default())
            .unwrap();
    }
    // Forged members: each listed (a JOINED line), never heard from, then failed (a FAILED line).
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let from: SocketAddr = attacker.local_addr().unwrap();
    for chunk in ports[..FORGED].chunks(PER_DATAGRAM) {
        let rumors = chunk
            .iter()
            .map(|&p| Rumor::Alive {
                id: SocketAddr::from(([127, 0, 0, 1], p)),
                incarnation: 1,
                attrs: pekonode::proto::PackedAttributes::pack(&Attributes {
                    name: format!("forged-{p}"),
                    private_data: String::new(),
                }),
            })
            .collect();
        let frame = wire::encode(&Message::Gossip { from, rumors }, &wire::Key::new(None));
        attacker.send_to(&frame, me).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    // Until every closed peer set is gone (unheard, dropped after timeout_ms): by then each
    // was connected to (refused), and every forged member had arrived (listed, or already gone).
    let set: Vec<SocketAddr> = ports[FORGED..]
        .iter()
        .map(|&p| SocketAddr::from(([127, 0, 0, 1], p)))
        .collect();
    let healed = wait_for(GENEROUS, || {
        victim.members().iter().all(|(id, _)| !set.contains(id))
    });
    let elapsed = start.elapsed();
    unsafe { peko_set_log(None, std::ptr::null_mut(), PEKO_LOG_ERROR) };

    let lines = LINES.lock().unwrap().clone();
    let ours: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(&own) && !l.contains("[List]"))
        .collect();
    let errors = ours.iter().filter(|l| l.contains("[Error]")).count();
    let windows = (elapsed.as_secs_f64() / WINDOW.as_secs_f64()).ceil() as usize + 1;
    let bound = windows * (ERRORS_PER_WINDOW as usize + 1 + EVENT_LINES_PER_WINDOW as usize + 1);
    eprintln!(
        "{} lines ({errors} errors) from the victim in {:.1} s for {FORGED} forged members and \
         {SET} closed peers; bound {bound} ({windows} windows); closed peers gone after {healed:?}",
        ours.len(),
        elapsed.as_secs_f64()
    );
    for l in ours.iter().take(3).chain(ours.iter().rev().take(3)) {
        eprintln!("  {l}");
    }
    assert!(healed.is_some(), "the closed peers were never dropped");
    assert!(
        ours.len() <= bound,
        "{} lines in {:.1} s, more than {bound}",
        ours.len(),
        elapsed.as_secs_f64()
    );
    assert!(
        errors <= windows * (ERRORS_PER_WINDOW as usize + 1),
        "{errors} error lines"
    );
}
