//! A join storm in one process: 200 members on 127.0.0.1, all told about the same seed, join at
//! once. Every joiner's push-pull reaches the seed on a connection from 127.0.0.1, more than the
//! per-source cap (128) keeps, so the seed closes the least recently active idle one as new ones
//! arrive (answered, or silent for 5 s), and refuses a new one when every connection from the
//! source has work in hand (its joiner asks again). The lists complete, and no answer is lost to
//! a closed connection: the seed counts no failed send. (Until the seed refused rather than
//! closed a connection with work in hand, three runs lost 0, 0 and 12 answers.)
//! `cargo test --release --test join_storm -- --nocapture` shows the figures. Its own binary:
//! the inbound caps are the process's.
mod common;
use common::*;
use pekonode::{Node, Protocol};
use std::time::Instant;

/// Members; `PEKO_STORM_MEMBERS` sets another number (to measure, not for CI).
fn members() -> usize {
    std::env::var("PEKO_STORM_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

#[test]
fn two_hundred_members_join_one_seed_in_one_process() {
    let members = members();
    let start = Instant::now();
    let nodes = cluster(members, config(Protocol::Udp));
    let made = start.elapsed();
    let ids = ids(&nodes);
    let refs: Vec<&Node> = nodes.iter().collect();
    let done = wait_for(GENEROUS * 4, || all_list(&refs, &ids));
    let seed = nodes[0].stats();
    let evicted: u64 = nodes.iter().map(|n| n.stats().connections_evicted).sum();
    let send_errors: u64 = nodes.iter().map(|n| n.stats().send_errors).sum();
    eprintln!(
        "{members} members made in {made:?}; lists complete after {:?}; seed: {} frames read, \
         {} evicted, {} refused, {} failed sends, {} dropped (queue full); all members: {} \
         evicted, {} failed sends",
        done,
        seed.frames_received,
        seed.connections_evicted,
        seed.connections_refused,
        seed.send_errors,
        seed.dropped_queue_full,
        evicted,
        send_errors
    );
    assert!(done.is_some(), "the lists did not complete");
    assert_eq!(seed.send_errors, 0, "the seed lost answers");
}
