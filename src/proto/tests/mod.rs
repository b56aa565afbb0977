//! Core tests on the virtual clock of `crate::sim`: no sockets, reproducible from the seed.
//!
//! - `cluster.rs`  the protocol at work: convergence, detection, refutation, metadata, partitions
//! - `answers.rs`  what a datagram can make a member send: answers within the request's weight,
//!   stream-only requests, fetches only from verified members (issue 10, finding 4)
//! - `forged.rs`   forged news: implausible incarnations and clocks, refused publishes,
//!   introduction limits, what verifies a member (issue 10, findings 1, 2, 5)
//! - `joins.rs`    joining and anti-entropy at scale: seeds, join replies, early and check
//!   rounds, the peers rounds and gossip go to (issue 11)
//! - `exchanges.rs` what one anti-entropy exchange merges, skips and sends: push-pulls and the
//!   offer a differing digest brings (issue 11)
//! - `overload.rs` a member that runs late itself accuses no one (issue 11)

use super::*;
use crate::sim::{Sim, SimConfig};
// Test-only: datagram sizes are checked in real bytes.
use crate::wire;

/// A full datagram: how rumors handed to a core in these tests arrive.
const DATAGRAM: Arrival = Arrival::Datagram {
    weight: wire::DATAGRAM_MAX,
};

fn sim(members: usize, seed: u64) -> Sim {
    let mut s = Sim::new(SimConfig {
        members,
        seed,
        ..SimConfig::default()
    });
    s.join_all();
    s
}

fn removed_anywhere(s: &Sim) -> bool {
    (0..s.cores.len())
        .filter(|&i| !s.crashed[i])
        .any(|i| s.listed_by(i) != s.crashed.iter().filter(|c| !**c).count() - 1)
}

mod answers;
mod cluster;
mod exchanges;
mod forged;
mod joins;
mod overload;

/// A converged three-member core with news queued (a 1000-byte attribute change rides on every
/// message while it lasts), and the ids of a member and of a stranger.
fn core_with_news() -> (Sim, MemberId, MemberId) {
    let mut s = sim(3, 5);
    s.start_converged();
    s.cores[0].update_attrs(Attributes {
        name: "m0".into(),
        private_data: "p".repeat(1000),
    });
    s.cores[0].drain_outgoing();
    let stranger: MemberId = "192.0.2.9:7946".parse().unwrap();
    (s, s_id(1), stranger)
}

fn s_id(i: usize) -> MemberId {
    crate::sim::member_id(i)
}

fn weight(msg: &Message) -> usize {
    wire::encode(msg, &wire::Key::new(None)).len()
}

/// A plausible metadata version newer than any `s` holds (published by member 2's core).
fn newer_version(s: &mut Sim) -> MetaVersion {
    let now = s.now;
    s.cores[2].publish(now, SIM_WALL, vec![3; 2000]).unwrap()
}

const SIM_WALL: u64 = crate::sim::SIM_WALL_MS;
