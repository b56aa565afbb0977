//! A member whose frames fail authentication somewhere is told so, on both sides, at the error
//! level: the receiver logs that frames from that address fail authentication (or carry another
//! label), and on a stream it answers with the refusal, so the sender logs that it was refused,
//! even when it is a newcomer that only asked a seed. Lines are read through `peko_set_log` at
//! the error level (the level a host gets by default). Its own test binary: the log sink is
//! the process's.

mod common;

use common::*;
use pekonode::error::PEKO_OK;
use pekonode::ffi::*;
use pekonode::proto::Message;
use pekonode::{wire, Attributes, Config, Node, Protocol};
use std::ffi::{c_char, c_void, CStr};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Mutex, Once};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn keep_line(_: *mut c_void, _level: u32, line: *const c_char) {
    let line = CStr::from_ptr(line).to_string_lossy().into_owned();
    LINES.lock().unwrap_or_else(|e| e.into_inner()).push(line);
}

fn capture_errors() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let st = unsafe { peko_set_log(Some(keep_line), std::ptr::null_mut(), PEKO_LOG_ERROR) };
        assert_eq!(st, PEKO_OK);
    });
}

/// Whether `member` has logged an error line containing every one of `words`.
fn logged(member: SocketAddr, words: &[&str]) -> bool {
    let own = format!("[Error] {member} ");
    LINES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|l| l.contains(&own) && words.iter().all(|w| l.contains(w)))
}

fn lines_of(member: SocketAddr) -> Vec<String> {
    let own = format!("] {member} ");
    LINES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| l.contains(&own))
        .cloned()
        .collect()
}

fn member(secret: Option<&str>, label: &str, name: &str) -> Node {
    let cfg = Config {
        secret_key: secret.map(String::from),
        ..config(Protocol::Udp)
    };
    let n = Node::new(
        cfg,
        "127.0.0.1:0".parse().unwrap(),
        Attributes {
            name: name.into(),
            private_data: String::new(),
        },
    )
    .expect("new");
    n.set_label(label).expect("label");
    n.join().expect("join");
    n
}

/// A newcomer configured unlike the seed it was given (it only asks the seed; the seed knows
/// nothing of it): both log, each naming the other's address, within `GENEROUS` (the time is
/// printed; it is the join's first ask, so well within a cycle or two).
fn both_sides_say_so(seed: &Node, newcomer: &Node, seed_words: &[&str]) {
    let (s, n) = (seed.local_id(), newcomer.local_id());
    newcomer.set(s, Attributes::default()).unwrap();
    // The seed sees the newcomer's connections, from ephemeral ports of its address.
    let mut words = seed_words.to_vec();
    let from = format!("frames from {} (a TCP connection from its port ", n.ip());
    words.push(&from);
    let took = wait_for(GENEROUS, || {
        logged(s, &words) && logged(n, &[&format!("{s} refused our frames"), "secret key"])
    });
    assert!(
        took.is_some(),
        "seed {s} should log {words:?}, newcomer {n} that {s} refused it;\nseed's lines: \
         {:#?}\nnewcomer's lines: {:#?}",
        lines_of(s),
        lines_of(n)
    );
    eprintln!(
        "both sides logged it {:?} after the newcomer's set",
        took.unwrap()
    );
    let seed_lines = lines_of(s).iter().filter(|l| l.contains(&from)).count();
    assert_eq!(seed_lines, 1, "one line for all the newcomer's connections");
    assert!(
        seed.members().iter().all(|(id, _)| *id != n),
        "the seed listed the newcomer"
    );
}

#[test]
fn another_key_is_logged_on_both_sides() {
    capture_errors();
    let seed = member(Some("the cluster's key"), "", "seed");
    let newcomer = member(Some("a mistyped key"), "", "newcomer");
    both_sides_say_so(
        &seed,
        &newcomer,
        &[
            "fail authentication: wrong or missing secret key?",
            "accepts only frames sealed under its 1 secret key",
        ],
    );
}

#[test]
fn a_missing_key_is_logged_on_both_sides_either_way() {
    capture_errors();
    // The seed has a key, the newcomer none...
    let seed = member(Some("the cluster's key"), "", "seed");
    let plain = member(None, "", "plain newcomer");
    both_sides_say_so(
        &seed,
        &plain,
        &["fail authentication", "accepts only frames sealed"],
    );
    // ...and the other way round.
    let plain_seed = member(None, "", "plain seed");
    let keyed = member(Some("a key"), "", "keyed newcomer");
    both_sides_say_so(
        &plain_seed,
        &keyed,
        &["fail authentication", "has no secret key"],
    );
}

#[test]
fn another_label_is_logged_on_both_sides() {
    capture_errors();
    let seed = member(None, "prod", "seed");
    let newcomer = member(None, "staging", "newcomer");
    both_sides_say_so(&seed, &newcomer, &["carry another cluster label"]);
}

/// Datagrams (which get no answer: their source is only a claim) are logged by their receiver
/// when the source is in its table, once per address per `log::NOTICE_PERIOD` however many
/// come; from a source it does not know (anyone can forge one) they are only counted.
#[test]
fn datagrams_under_another_key_are_logged_once_per_known_address() {
    capture_errors();
    let seed = member(Some("the cluster's key"), "", "datagram seed");
    let s = seed.local_id();
    let known = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let from = known.local_addr().unwrap();
    seed.set(from, Attributes::default()).unwrap();
    let ping = |sock: &UdpSocket| {
        wire::encode(
            &Message::Ping {
                seq: 1,
                from: sock.local_addr().unwrap(),
                target: s,
                rumors: Vec::new(),
            },
            &wire::Key::new(Some("another key")),
        )
    };
    let auth0 = seed.counters().dropped_auth;
    for _ in 0..20 {
        stranger.send_to(&ping(&stranger), s).unwrap();
        known.send_to(&ping(&known), s).unwrap();
    }
    assert!(
        wait_for(GENEROUS, || seed.counters().dropped_auth >= auth0 + 40).is_some(),
        "the seed did not drop the 40 datagrams"
    );
    let needle = format!("frames from {from} fail authentication");
    assert!(
        wait_for(GENEROUS, || logged(s, &[&needle])).is_some(),
        "no line: {:#?}",
        lines_of(s)
    );
    let said = lines_of(s).iter().filter(|l| l.contains(&needle)).count();
    assert_eq!(said, 1, "20 datagrams from one address, one line");
    let unknown = format!("frames from {} ", stranger.local_addr().unwrap());
    assert!(
        !lines_of(s).iter().any(|l| l.contains(&unknown)),
        "a source not in the table was named: {:#?}",
        lines_of(s)
    );
}
