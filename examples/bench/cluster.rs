//! The members of one cluster in this process: starting them, polling their lists, adding up
//! their counters, closing them.

use crate::args::{Mode, Plan};
use crate::row::Row;
use crate::SEEDS;
use pekonode::{Attributes, Config, Node, StatsSnapshot};
use std::borrow::Borrow;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Polls `cond` every `every` until it holds or `deadline` passes; the time it took from `since`.
pub fn wait_for(
    since: Instant,
    every: Duration,
    deadline: Duration,
    mut cond: impl FnMut() -> bool,
) -> Option<Duration> {
    loop {
        if cond() {
            return Some(since.elapsed());
        }
        if since.elapsed() > deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// How many members `node` lists, and whether they are exactly `want`.
pub fn listing(node: &Node, want: &HashSet<SocketAddr>) -> (usize, bool) {
    let members = node.members();
    let all = members.len() == want.len() && members.iter().all(|(id, _)| want.contains(id));
    (members.len(), all)
}

fn lists_all(node: &Node, want: &HashSet<SocketAddr>) -> bool {
    listing(node, want).1
}

/// `op` applied to `a` and `b`, counter by counter.
fn each_counter(a: &StatsSnapshot, b: &StatsSnapshot, op: fn(u64, u64) -> u64) -> StatsSnapshot {
    StatsSnapshot {
        datagrams_sent: op(a.datagrams_sent, b.datagrams_sent),
        datagram_bytes_sent: op(a.datagram_bytes_sent, b.datagram_bytes_sent),
        frames_sent: op(a.frames_sent, b.frames_sent),
        stream_bytes_sent: op(a.stream_bytes_sent, b.stream_bytes_sent),
        datagrams_received: op(a.datagrams_received, b.datagrams_received),
        frames_received: op(a.frames_received, b.frames_received),
        bytes_received: op(a.bytes_received, b.bytes_received),
        dropped_auth: op(a.dropped_auth, b.dropped_auth),
        dropped_replay: op(a.dropped_replay, b.dropped_replay),
        dropped_label: op(a.dropped_label, b.dropped_label),
        dropped_malformed: op(a.dropped_malformed, b.dropped_malformed),
        dropped_too_large: op(a.dropped_too_large, b.dropped_too_large),
        dropped_queue_full: op(a.dropped_queue_full, b.dropped_queue_full),
        send_errors: op(a.send_errors, b.send_errors),
        connections_refused: op(a.connections_refused, b.connections_refused),
        connections_evicted: op(a.connections_evicted, b.connections_evicted),
        push_pulls: op(a.push_pulls, b.push_pulls),
        anti_entropy_bytes_sent: op(a.anti_entropy_bytes_sent, b.anti_entropy_bytes_sent),
    }
}

/// Every member's counters added up (members held as `Node` or `&Node`).
pub fn sum_stats<N: Borrow<Node>>(nodes: &[N]) -> StatsSnapshot {
    nodes.iter().fold(StatsSnapshot::default(), |total, node| {
        each_counter(&total, &node.borrow().stats(), |t, s| t + s)
    })
}

/// `b - a`, counter by counter.
pub fn delta(a: &StatsSnapshot, b: &StatsSnapshot) -> StatsSnapshot {
    each_counter(a, b, |a, b| b.saturating_sub(a))
}

/// Closes every node, several at a time (each close may wait for its queues to flush);
/// returns how long each single `close()` took, sorted.
fn close_all(nodes: Vec<Node>) -> Vec<Duration> {
    let threads = 16.min(nodes.len()).max(1);
    let chunk = nodes.len().div_ceil(threads).max(1);
    let mut took: Vec<Duration> = std::thread::scope(|sc| {
        let handles: Vec<_> = nodes
            .chunks(chunk)
            .map(|part| {
                sc.spawn(move || {
                    part.iter()
                        .map(|node| {
                            let t = Instant::now();
                            node.close();
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("close thread"))
            .collect()
    });
    took.sort();
    took
}

/// Closes every node and records how long that took in `row`.
pub fn close_into(row: &mut Row, nodes: Vec<Node>) {
    if nodes.is_empty() {
        return;
    }
    let closing = Instant::now();
    let took = close_all(nodes);
    let whole = closing.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (min, median, max) = (took[0], took[took.len() / 2], took[took.len() - 1]);
    row.close = Some((whole, min, median, max));
    row.notes.push(format!(
        "closed all in {:.3} s (16 threads); one close() took min {:.0} / median {:.0} / max {:.0} ms",
        whole.as_secs_f64(),
        ms(min),
        ms(median),
        ms(max),
    ));
}

/// Creates and joins N members; each later member is told about (up to) the first SEEDS
/// members. With a batch plan, batch k starts k intervals after the first.
pub fn start_members(
    row: &mut Row,
    n: usize,
    cfg: &Config,
    plan: &Plan,
) -> Result<(Vec<Node>, Vec<SocketAddr>), Vec<Node>> {
    let created = Instant::now();
    let mut nodes: Vec<Node> = Vec::with_capacity(n);
    let mut ids: Vec<SocketAddr> = Vec::with_capacity(n);
    for i in 0..n {
        if let Some((size, every)) = plan.batch {
            if i > 0 && i % size == 0 {
                let due = created + every * (i / size) as u32;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
        }
        let node = match Node::new(
            cfg.clone(),
            "127.0.0.1:0".parse().unwrap(),
            Attributes {
                name: format!("n{i}"),
                private_data: format!("bench member {i}"),
            },
        )
        .and_then(|node| node.join().map(|_| node))
        {
            Ok(node) => node,
            Err(e) => {
                eprintln!("bench: N={n}: member {i} failed to start: {e}");
                row.notes.push(format!("member {i} failed to start: {e}"));
                row.started = nodes.len();
                return Err(nodes);
            }
        };
        for seed in ids.iter().take(SEEDS) {
            node.set(*seed, Attributes::default()).expect("set a seed");
        }
        ids.push(node.local_id());
        nodes.push(node);
    }
    row.started = n;
    row.join = Some(created.elapsed());
    Ok((nodes, ids))
}

/// Polls until every member lists all N (at most every `plan.list_poll`); the time from `since`
/// at which the last list was found complete, confirmed by a second pass over all members.
pub fn wait_lists(
    row: &mut Row,
    nodes: &[Node],
    ids: &[SocketAddr],
    all: &HashSet<SocketAddr>,
    since: Instant,
    plan: &Plan,
) -> Option<Duration> {
    let n = nodes.len();
    // Resume from the first member not yet complete: earlier ones were checked already. Members
    // should not disappear from a healthy cluster; the confirming pass checks that.
    let mut laggard = 0;
    let mut next_report = Duration::from_secs(10);
    loop {
        let mut laggard_listed = 0;
        while laggard < n {
            let (listed, complete) = listing(&nodes[laggard], all);
            if !complete {
                laggard_listed = listed;
                break;
            }
            laggard += 1;
        }
        if laggard == n {
            let done = since.elapsed();
            match nodes.iter().position(|node| !lists_all(node, all)) {
                None => return Some(done),
                Some(i) => {
                    row.lists_regressions += 1;
                    laggard = i;
                }
            }
        }
        let elapsed = since.elapsed();
        if elapsed > plan.deadline {
            return None;
        }
        if plan.mode == Mode::Large && elapsed >= next_report && laggard < n {
            next_report += Duration::from_secs(10);
            // Progress, and whom the first incomplete member lacks (a few of them).
            let has: HashSet<SocketAddr> = nodes[laggard]
                .members()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            let missing: Vec<String> = ids
                .iter()
                .enumerate()
                .filter(|(_, id)| !has.contains(id))
                .map(|(i, _)| format!("n{i}"))
                .collect();
            eprintln!(
                "bench: N={n}: {:.0} s: the first {laggard} members list all {n}; n{laggard} lists \
                 {laggard_listed}, lacks {} (first: {})",
                elapsed.as_secs_f64(),
                missing.len(),
                missing
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        std::thread::sleep(plan.list_poll);
    }
}
