//! `--storm`: issue 11's join storm. All N members are created and joined back to back (no
//! batching), each told about the first three; then the time until every list is complete, with
//! a time series of completeness polled from the first join on; a settle period and a steady
//! window with no list polling (CPU, memory, traffic); a 300-byte publish; one stopped member.
//! Throughout, a watcher thread drains every member's events and counts FAILED and LEFT said
//! about members that were never stopped (`watch`). The figures and their targets: `report`.

pub mod report;
mod watch;

use crate::args::Plan;
use crate::cluster::{close_into, listing, wait_for};
use crate::procfs::{cpu_seconds, rss_now_mib, udp_errors, udp_errors_between};
use crate::report::secs;
use crate::row::Row;
use crate::run::{measure_window, publish_to_all, settle, wait_unlisted};
use crate::SEEDS;
use pekonode::{Attributes, Config, Counters, Node};
use rand::Rng;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use watch::{Point, Summary, Watch};

/// What one storm run measured: the common figures in `base`, the storm's own beside them.
#[derive(Default)]
pub struct StormRow {
    pub base: Row,
    pub timeout_ms: u32,
    /// Time between two polls of every list during the storm.
    pub poll: Duration,
    pub series: Vec<Point>,
    /// Seconds from the first join to the last.
    pub last_join_t: Option<f64>,
    /// FAILED events about live members: first join to last join, to complete lists (or the
    /// deadline), to the start of the steady window, over the window, and over the whole run.
    pub false_failed_join: u64,
    pub false_failed_storm: u64,
    pub false_failed_settle: u64,
    pub false_failed_window: u64,
    /// First join to the end of the steady window: what the target counts.
    pub false_failed_to_window_end: u64,
    pub false_failed_total: u64,
    pub false_left_total: u64,
    /// `lost` of the events delivered, added up (dropped from full queues).
    pub events_lost_delivered: u64,
    /// The library's counters over every member, just before closing.
    pub counters: Counters,
    /// When the counts said complete: did every list hold exactly the N ids?
    pub ids_confirmed: Option<bool>,
    pub watch: Summary,
    /// What the storm cost until the lists were complete (`storm_cost`).
    pub storm_cost: Option<StormCost>,
}

/// Totals over every member from the first join until complete lists.
#[derive(Default, Clone, Copy)]
pub struct StormCost {
    pub datagrams: u64,
    pub frames: u64,
    pub push_pulls: u64,
    pub bytes: u64,
    /// Process CPU (user + system, every thread, the bench's own polling included) from the
    /// first join until the bench saw the lists complete (it polls every 50 ms).
    pub cpu_s: f64,
}

/// Creates, joins and tells each member about the seeds, one after the other, into `slots`;
/// the time it took, or the members that did start if one failed.
fn start_all(row: &mut Row, slots: &[OnceLock<Node>], cfg: &Config) -> Vec<SocketAddr> {
    let n = slots.len();
    let mut ids: Vec<SocketAddr> = Vec::with_capacity(n);
    for (i, slot) in slots.iter().enumerate() {
        let attrs = Attributes {
            name: format!("n{i}"),
            private_data: format!("bench member {i}"),
        };
        let node = Node::new(cfg.clone(), "127.0.0.1:0".parse().unwrap(), attrs).and_then(|node| {
            // Subscribe before joining: the queue of a member nobody reads keeps only 64 events,
            // fewer than a seed gets before the watcher's first sweep.
            node.event_fd();
            for seed in ids.iter().take(SEEDS) {
                node.set(*seed, Attributes::default())?;
            }
            node.join().map(|_| node)
        });
        let node = match node {
            Ok(node) => node,
            Err(e) => {
                eprintln!("bench: N={n}: member {i} failed to start: {e}");
                row.notes.push(format!("member {i} failed to start: {e}"));
                break;
            }
        };
        ids.push(node.local_id());
        let _ = slot.set(node);
    }
    row.started = ids.len();
    ids
}

/// The members created so far, as a slice the common measurements take.
fn started(slots: &[OnceLock<Node>]) -> Vec<&Node> {
    slots.iter().map_while(|s| s.get()).collect()
}

pub fn run(n: usize, cfg: &Config, plan: &Plan) -> StormRow {
    let mut row = StormRow {
        timeout_ms: cfg.timeout_ms,
        poll: plan.list_poll,
        ..StormRow::default()
    };
    row.base.n = n;
    row.base.rss_before = rss_now_mib();
    let slots: Vec<OnceLock<Node>> = (0..n).map(|_| OnceLock::new()).collect();
    let first_join = Instant::now();
    let watch = Watch::new(&slots, first_join, row.poll);
    watch.polling.store(true, Ordering::Relaxed);
    std::thread::scope(|sc| {
        let watcher = sc.spawn(|| watch.run());
        measure(&mut row, &slots, &watch, cfg, plan, first_join);
        watch.stop.store(true, Ordering::Relaxed);
        row.watch = watcher.join().expect("the watcher thread");
    });
    row.series = std::mem::take(&mut row.watch.series);
    row.false_failed_total = watch.false_failed();
    row.false_left_total = watch.false_left();
    row.events_lost_delivered = watch.lost.load(Ordering::Relaxed);
    notes(&mut row);
    let nodes: Vec<Node> = slots.into_iter().filter_map(OnceLock::into_inner).collect();
    close_into(&mut row.base, nodes);
    row
}

/// Everything between the first join and closing, while the watcher runs.
fn measure(
    row: &mut StormRow,
    slots: &[OnceLock<Node>],
    watch: &Watch,
    cfg: &Config,
    plan: &Plan,
    first_join: Instant,
) {
    let n = slots.len();
    let udp_err0 = udp_errors();
    let cpu0 = cpu_seconds();

    // 1. Create and join, back to back.
    let ids = start_all(&mut row.base, slots, cfg);
    let last_join = Instant::now();
    let _ = watch.last_join.set(last_join);
    row.base.join = Some(first_join.elapsed());
    row.last_join_t = Some((last_join - first_join).as_secs_f64());
    row.false_failed_join = watch.false_failed();
    if ids.len() < n {
        return;
    }
    let all: HashSet<SocketAddr> = ids.iter().copied().collect();
    assert_eq!(all.len(), n, "two members got the same id");
    eprintln!(
        "bench: N={n}: created and joined all in {}",
        secs(row.base.join)
    );
    let nodes = started(slots);

    // 2. Until every list is complete (the watcher polls and records the series).
    let poll_check = Duration::from_millis(50);
    row.base.lists = wait_for(last_join, poll_check, plan.deadline, || {
        watch.complete.get().is_some()
    })
    .and(watch.complete.get().copied());
    watch.polling.store(false, Ordering::Relaxed);
    row.false_failed_storm = watch.false_failed();
    row.storm_cost = Some(storm_cost(&nodes, cpu_seconds() - cpu0));
    if row.base.lists.is_some() {
        row.ids_confirmed = Some(nodes.iter().all(|node| listing(node, &all).1));
    }
    row.base.udp_errors_join = udp_errors_between(udp_err0, udp_errors());
    eprintln!(
        "bench: N={n}: lists complete {} s after the last join; {} false FAILED so far",
        secs(row.base.lists),
        row.false_failed_storm
    );
    if plan.storm_phase {
        return;
    }

    // 3. Settle, then the steady window: no list polling, only the watcher's event draining.
    let before = settle(&mut row.base, &nodes, plan);
    let window0 = watch.false_failed();
    row.false_failed_settle = window0 - row.false_failed_storm;
    measure_window(&mut row.base, &nodes, plan, &before);
    row.false_failed_to_window_end = watch.false_failed();
    row.false_failed_window = row.false_failed_to_window_end - window0;
    eprintln!(
        "bench: N={n}: steady window: CPU {:.1}% of one core, {} false FAILED",
        row.base.cpu_pct.unwrap_or(f64::NAN),
        row.false_failed_window
    );

    // 4. A 300-byte publish from a random member, until every member holds it.
    let mut rng = rand::thread_rng();
    publish_to_all(&mut row.base, &nodes, plan, &mut rng);
    eprintln!(
        "bench: N={n}: publish reached all after {}",
        secs(row.base.publish)
    );

    // 5. Stop a member that is not a seed, until no other list holds it.
    if n > SEEDS + 1 {
        let victim = rng.gen_range(SEEDS..n);
        stop_one(&mut row.base, &nodes, &ids, victim, watch, plan);
        eprintln!(
            "bench: N={n}: stopped n{victim} gone after {}",
            secs(row.base.gone)
        );
    }
    row.counters = nodes.iter().fold(Counters::default(), |total, node| {
        add_counters(&total, &node.counters())
    });
}

/// What the storm cost, first join to complete lists, added up over every member: datagrams
/// sent, stream frames sent, anti-entropy frames sent (digests, offers, push-pulls), and bytes sent (datagram and stream payload);
/// with the process CPU `cpu_s` the storm took.
fn storm_cost(nodes: &[&Node], cpu_s: f64) -> StormCost {
    let start = StormCost {
        cpu_s,
        ..StormCost::default()
    };
    nodes.iter().fold(start, |c, node| {
        let s = node.stats();
        StormCost {
            datagrams: c.datagrams + s.datagrams_sent,
            frames: c.frames + s.frames_sent,
            push_pulls: c.push_pulls + s.push_pulls,
            bytes: c.bytes + s.datagram_bytes_sent + s.stream_bytes_sent,
            ..c
        }
    })
}

/// Stops `victim` (telling the watcher first); the time until no other member lists it.
fn stop_one(
    row: &mut Row,
    nodes: &[&Node],
    ids: &[SocketAddr],
    victim: usize,
    watch: &Watch,
    plan: &Plan,
) {
    let others: Vec<usize> = (0..nodes.len()).filter(|&i| i != victim).collect();
    *watch.stopped.lock().unwrap() = Some(victim);
    let stopped = Instant::now();
    if let Err(e) = nodes[victim].stop() {
        row.notes.push(format!("stop failed: {e}"));
        return;
    }
    let (gone, note) = wait_unlisted(nodes, victim, ids[victim], &others, stopped, plan);
    row.gone = gone;
    row.notes.extend(note);
}

/// The counters of interest added up (the others stay 0).
fn add_counters(a: &Counters, b: &Counters) -> Counters {
    Counters {
        dropped_queue_full: a.dropped_queue_full + b.dropped_queue_full,
        dropped_malformed: a.dropped_malformed + b.dropped_malformed,
        dropped_too_large: a.dropped_too_large + b.dropped_too_large,
        send_errors: a.send_errors + b.send_errors,
        connections_refused: a.connections_refused + b.connections_refused,
        connections_evicted: a.connections_evicted + b.connections_evicted,
        members_refused: a.members_refused + b.members_refused,
        events_lost: a.events_lost + b.events_lost,
        rumors_dropped: a.rumors_dropped + b.rumors_dropped,
        relays_refused: a.relays_refused + b.relays_refused,
        incarnations_implausible: a.incarnations_implausible + b.incarnations_implausible,
        introductions_refused: a.introductions_refused + b.introductions_refused,
        anti_entropy_exchanges: a.anti_entropy_exchanges + b.anti_entropy_exchanges,
        ..Counters::default()
    }
}

/// The storm's figures that have no column in the table.
fn notes(row: &mut StormRow) {
    let w = &row.watch;
    let notes = &mut row.base.notes;
    notes.push(format!(
        "lists polled every {} ms from the first join until complete: {} polls, {:.1} ms each on \
         average (members_alive + members_suspect of every member); events drained every 100 ms \
         for the whole run ({} events)",
        row.poll.as_millis(),
        w.polls,
        if w.polls > 0 {
            w.poll_secs * 1000.0 / w.polls as f64
        } else {
            0.0
        },
        w.events,
    ));
    if let Some(c) = row.storm_cost {
        let n = row.base.n.max(1) as f64;
        notes.push(format!(
            "the storm, first join to complete lists, per member: {:.0} datagrams and {:.0} stream \
             frames sent ({:.1} anti-entropy messages: digests, offers, push-pulls), {:.1} KB sent; process CPU {:.1} s ({:.1} ms \
             per member)",
            c.datagrams as f64 / n,
            c.frames as f64 / n,
            c.push_pulls as f64 / n,
            c.bytes as f64 / n / 1000.0,
            c.cpu_s,
            c.cpu_s * 1000.0 / n
        ));
    }
    if row.ids_confirmed == Some(false) {
        notes.push("the counts said complete but some list did not hold exactly the N ids".into());
    }
    notes.push(format!(
        "FAILED about live members: {} during the join, {} until the lists were complete, {} in \
         the settle period, {} in the steady window, {} in all, publish and stop included ({} \
         members reported, by {} members); LEFT about live members: {}",
        row.false_failed_join,
        row.false_failed_storm,
        row.false_failed_settle,
        row.false_failed_window,
        row.false_failed_total,
        w.subjects,
        w.observers,
        row.false_left_total,
    ));
    if !w.examples.is_empty() {
        let first: Vec<String> = w
            .examples
            .iter()
            .map(|f| format!("n{} said n{} at {:.1} s", f.observer, f.subject, f.t))
            .collect();
        notes.push(format!("first false FAILED: {}", first.join("; ")));
    }
    let c = &row.counters;
    notes.push(format!(
        "library counters over all members at the end: events_lost {} (lost reported by delivered \
         events {}), rumors_dropped {}, dropped_queue_full {}, members_refused {}, \
         introductions_refused {}, relays_refused {}, send_errors {}, connections refused {} / \
         evicted {}, incarnations_implausible {}",
        c.events_lost,
        row.events_lost_delivered,
        c.rumors_dropped,
        c.dropped_queue_full,
        c.members_refused,
        c.introductions_refused,
        c.relays_refused,
        c.send_errors,
        c.connections_refused,
        c.connections_evicted,
        c.incarnations_implausible,
    ));
}
