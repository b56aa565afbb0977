//! One cluster size from start to close: join, complete lists, steady state, then (default
//! mode) a publish and a stopped member, or (large mode) a last look at the lists.

use crate::args::{Mode, Plan};
use crate::cluster::{close_into, delta, listing, start_members, sum_stats, wait_for, wait_lists};
use crate::procfs::{
    cpu_seconds, open_fds, raise_nofile, rss_now_mib, rss_peak_mib, trim_heap, udp_errors,
    udp_errors_between,
};
use crate::report::{fixed, secs};
use crate::row::Row;
use pekonode::{Config, Node, StatsSnapshot};
use rand::rngs::ThreadRng;
use rand::seq::SliceRandom;
use rand::Rng;
use std::borrow::Borrow;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Size of the metadata blob published in default mode.
const PAYLOAD_LEN: usize = 300;
/// Longest wait, after the settle period, for every rumor queue to drain.
const QUIET_DEADLINE: Duration = Duration::from_secs(300);

pub fn run(n: usize, cfg: &Config, plan: &Plan) -> Row {
    let mut row = Row {
        n,
        ..Row::default()
    };
    let mut rng = rand::thread_rng();
    row.rss_before = rss_now_mib();
    let udp_err0 = udp_errors();

    // 1. Create and join.
    let (nodes, ids) = match start_members(&mut row, n, cfg, plan) {
        Ok(v) => v,
        Err(nodes) => {
            close_into(&mut row, nodes);
            return row;
        }
    };
    let last_join = Instant::now();
    row.notes.push(format!(
        "created and joined {n} members in {:.3} s{}",
        row.join.unwrap_or_default().as_secs_f64(),
        match plan.batch {
            Some((size, every)) =>
                format!(" (batches of {size}, one every {} ms)", every.as_millis()),
            None => String::new(),
        }
    ));
    let all: HashSet<SocketAddr> = ids.iter().copied().collect();
    assert_eq!(all.len(), n, "two members got the same id");

    // 2. Until every member lists all N.
    row.lists = wait_lists(&mut row, &nodes, &ids, &all, last_join, plan);
    if row.lists.is_none() {
        let incomplete: Vec<String> = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, node)| match listing(node, &all) {
                (_, true) => None,
                (listed, false) => Some(format!("n{i}:{listed}")),
            })
            .collect();
        row.notes.push(format!(
            "{} members never listed all {n} (member:listed) {}",
            incomplete.len(),
            incomplete
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if row.lists_regressions > 0 {
        row.notes.push(format!(
            "{} times a member that had listed all {n} was found incomplete again",
            row.lists_regressions
        ));
    }
    eprintln!("bench: N={n}: lists complete after {}", secs(row.lists));
    row.udp_errors_join = udp_errors_between(udp_err0, udp_errors());

    // 3. Steady state: traffic, CPU and memory over a quiet window (no polling meanwhile), after
    // the join rumors have run their course (each is sent a bounded number of times).
    let before = settle(&mut row, &nodes, plan);
    measure_window(&mut row, &nodes, plan, &before);
    eprintln!("bench: N={n}: steady state measured");

    if plan.mode == Mode::Large {
        // One full pass after the window: did the lists stay complete?
        let mut complete = 0;
        let mut shortest = usize::MAX;
        for node in &nodes {
            let (listed, all_listed) = listing(node, &all);
            complete += usize::from(all_listed);
            shortest = shortest.min(listed);
        }
        row.complete_after = Some((complete, shortest));
        row.notes.push(format!(
            "after the window {complete} of {n} members list all {n}; the shortest list has {shortest}"
        ));
        close_into(&mut row, nodes);
        return row;
    }

    // 4. Publish a few hundred bytes from a random member; until every member has them.
    publish_to_all(&mut row, &nodes, plan, &mut rng);
    eprintln!(
        "bench: N={n}: publish reached all after {}",
        secs(row.publish)
    );

    // 5. Stop a random member; until no other member lists it.
    stop_one(&mut row, &nodes, &ids, plan, &mut rng);
    eprintln!("bench: N={n}: stopped member gone after {}", secs(row.gone));

    close_into(&mut row, nodes);
    row
}

/// Waits out the settle period, then (bounded) until no member has a rumor left to send, so the
/// join news has been spread; the counters at that moment.
pub fn settle<N: Borrow<Node>>(row: &mut Row, nodes: &[N], plan: &Plan) -> StatsSnapshot {
    let settle0 = sum_stats(nodes);
    let settle_t0 = Instant::now();
    std::thread::sleep(plan.settle);
    // Polling rarely, so the wait itself costs little. The storm measures the window it was
    // asked for, quiet or not: rumors still queued then are part of what it measures.
    let quiet_deadline = match plan.mode {
        Mode::Storm => Instant::now(),
        _ => Instant::now() + QUIET_DEADLINE,
    };
    let quiet = loop {
        if nodes.iter().all(|n| n.borrow().pending_rumors() == 0) {
            break true;
        }
        if Instant::now() >= quiet_deadline {
            break false;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    row.notes.push(format!(
        "steady state began {:.1} s after the lists were complete{}",
        settle_t0.elapsed().as_secs_f64(),
        match (quiet, plan.mode) {
            (true, _) => " (no member had a rumor left to send)",
            (false, Mode::Storm) => " (rumors were still queued then)",
            (false, _) => " (rumors were still queued at the deadline)",
        }
    ));
    let before = sum_stats(nodes);
    let settle_d = delta(&settle0, &before);
    row.settle_bytes = Some(
        (settle_d.datagram_bytes_sent + settle_d.stream_bytes_sent) as f64
            / nodes.len() as f64
            / settle_t0.elapsed().as_secs_f64(),
    );
    before
}

/// The steady window from `before` on: counters, CPU, memory and kernel drops, with no polling
/// of the members meanwhile.
pub fn measure_window<N: Borrow<Node>>(
    row: &mut Row,
    nodes: &[N],
    plan: &Plan,
    before: &StatsSnapshot,
) {
    let n = nodes.len();
    let udp_err0 = udp_errors();
    let steady = plan.steady_for(n);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut mid = None;
    if plan.mode == Mode::Default {
        // A snapshot at half time too: it shows whether traffic is still settling.
        std::thread::sleep(steady / 2);
        mid = Some((sum_stats(nodes), t0.elapsed().as_secs_f64()));
    }
    std::thread::sleep(steady.saturating_sub(t0.elapsed()));
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds();
    let after = sum_stats(nodes);
    row.udp_errors_window = udp_errors_between(udp_err0, udp_errors());
    row.rss = rss_now_mib();
    // What of that is live data.
    trim_heap();
    row.notes.push(format!(
        "resident memory after malloc_trim (freed memory given back to the OS): {:.1} MiB",
        rss_now_mib().unwrap_or(f64::NAN)
    ));
    row.rss_peak = Some(rss_peak_mib());
    row.window_secs = Some(elapsed);
    let w = delta(before, &after);
    row.window = Some(w);
    row.cpu_pct = Some((cpu1 - cpu0) / elapsed * 100.0);
    row.halves = mid.map(|(mid, t_mid)| {
        let half = |a: &StatsSnapshot, b: &StatsSnapshot, secs: f64| {
            (b.datagram_bytes_sent - a.datagram_bytes_sent) as f64 / n as f64 / secs
        };
        (
            half(before, &mid, t_mid),
            half(&mid, &after, elapsed - t_mid),
        )
    });
    note_window(row, plan, &w, elapsed);
}

/// The window's figures that have no column in the table, as notes.
fn note_window(row: &mut Row, plan: &Plan, w: &StatsSnapshot, elapsed: f64) {
    let n = row.n;
    let per = n as f64 * elapsed;
    row.notes.push(format!(
        "steady {:.1} s: frames/member/s {:.2}, received bytes/member/s {:.1}, anti-entropy frames (digests, offers, push-pulls)/member/s {:.3}, \
         dropped (auth {}, malformed {}, too large {}, queue full {}), send errors {}, connections refused {}",
        elapsed,
        w.frames_sent as f64 / per,
        w.bytes_received as f64 / per,
        w.push_pulls as f64 / per,
        w.dropped_auth,
        w.dropped_malformed,
        w.dropped_too_large,
        w.dropped_queue_full,
        w.send_errors,
        w.connections_refused,
    ));
    let udp_note = |e: Option<(u64, u64)>| {
        e.map_or("?".into(), |(inerr, rcvbuf)| {
            format!("InErrors {inerr}, RcvbufErrors {rcvbuf}")
        })
    };
    row.notes.push(format!(
        "kernel UDP receive errors (/proc/net/snmp, whole host namespace): from the first start \
         until the lists were complete {}; over the steady window {}",
        udp_note(row.udp_errors_join),
        udp_note(row.udp_errors_window),
    ));
    row.fds = open_fds();
    row.notes.push(format!(
        "open fds in the process at the end of the window: {} (limit {})",
        row.fds.map_or("?".into(), |c| c.to_string()),
        raise_nofile().0,
    ));
    if let Some((first, second)) = row.halves {
        row.notes.push(format!(
            "datagram bytes/member/s: first half of the window {first:.1}, second half {second:.1}",
        ));
    }
    row.notes.push(format!(
        "bytes/member/s with IP/UDP headers (the table's figure counts payload only; this adds \
         28 B per datagram, TCP/IP headers of stream frames not counted): {:.1}",
        row.bytes().unwrap_or(0.0) + 28.0 * row.rate(|s| s.datagrams_sent).unwrap_or(0.0),
    ));
    row.notes.push(format!(
        "bytes/member/s: settle period ({:.0} s) {:.1}, steady window {:.1}; of the latter \
         anti-entropy {:.1}, over TCP {:.1}",
        plan.settle.as_secs_f64(),
        row.settle_bytes.unwrap_or(0.0),
        row.bytes().unwrap_or(0.0),
        row.rate(|s| s.anti_entropy_bytes_sent).unwrap_or(0.0),
        row.rate(|s| s.stream_bytes_sent).unwrap_or(0.0),
    ));
    row.notes.push(format!(
        "anti-entropy: the library's period at N={n} is {:.0} s on average (each member's jittered \
         +-50%); over the {:.0} s window {:.2} anti-entropy frames (digests, offers and push-pulls) per member, \
         {} bytes per frame on average",
        plan.ae_period(n).as_secs_f64(),
        elapsed,
        w.push_pulls as f64 / n as f64,
        if w.push_pulls > 0 {
            format!("{:.0}", w.anti_entropy_bytes_sent as f64 / w.push_pulls as f64)
        } else {
            "-".into()
        },
    ));
    row.notes.push(format!(
        "process CPU over the window {:.1}% of one core; resident memory {} MiB before starting \
         members, {} MiB at the end of the window, peak so far {:.1} MiB",
        row.cpu_pct.unwrap_or(0.0),
        fixed(row.rss_before, 1),
        fixed(row.rss, 1),
        row.rss_peak.unwrap_or(0.0),
    ));
}

/// A random member publishes PAYLOAD_LEN bytes; the time until every member holds them.
pub fn publish_to_all<N: Borrow<Node>>(
    row: &mut Row,
    nodes: &[N],
    plan: &Plan,
    rng: &mut ThreadRng,
) {
    let n = nodes.len();
    let publisher = rng.gen_range(0..n);
    let mut payload = format!("bench N={n} from n{publisher} ").into_bytes();
    payload
        .extend((0..PAYLOAD_LEN.saturating_sub(payload.len())).map(|_| rng.gen_range(b'a'..=b'z')));
    let published = Instant::now();
    match nodes[publisher].borrow().publish(&payload) {
        Ok(()) => {
            let mut laggard = 0;
            row.publish = wait_for(published, Duration::from_millis(5), plan.deadline, || {
                while laggard < n
                    && nodes[laggard]
                        .borrow()
                        .with_metadata(|m| m == Some(payload.as_slice()))
                {
                    laggard += 1;
                }
                laggard == n
            });
            if row.publish.is_none() {
                let missing = nodes
                    .iter()
                    .filter(|node| {
                        !Borrow::<Node>::borrow(*node)
                            .with_metadata(|m| m == Some(payload.as_slice()))
                    })
                    .count();
                row.notes.push(format!(
                    "{missing} members never got the published metadata"
                ));
            }
        }
        Err(e) => row.notes.push(format!("publish failed: {e}")),
    }
}

/// The time since `stopped` until none of the members `others` lists `victim` (checked one
/// member at a time: once one no longer lists it, on to the next), or a note saying how many
/// still did at the deadline.
pub fn wait_unlisted(
    nodes: &[impl Borrow<Node>],
    victim: usize,
    victim_id: SocketAddr,
    others: &[usize],
    stopped: Instant,
    plan: &Plan,
) -> (Option<Duration>, Option<String>) {
    let lists_victim = |i: usize| {
        let listed = nodes[i].borrow().members();
        listed.iter().any(|(id, _)| *id == victim_id)
    };
    let mut k = 0;
    let gone = wait_for(stopped, Duration::from_millis(20), plan.deadline, || {
        while k < others.len() && !lists_victim(others[k]) {
            k += 1;
        }
        k == others.len()
    });
    let note = gone.is_none().then(|| {
        let still = others.iter().filter(|&&i| lists_victim(i)).count();
        format!(
            "{still} members still list the stopped n{victim} after {} s",
            plan.deadline.as_secs()
        )
    });
    (gone, note)
}

/// Stops a random member; the time until no other member lists it.
fn stop_one(row: &mut Row, nodes: &[Node], ids: &[SocketAddr], plan: &Plan, rng: &mut ThreadRng) {
    let n = nodes.len();
    let victim = rng.gen_range(0..n);
    let victim_id = ids[victim];
    let others: Vec<usize> = (0..n).filter(|&i| i != victim).collect();
    let stopped = Instant::now();
    match nodes[victim].stop() {
        Ok(()) => {
            let mut order = others.clone();
            order.shuffle(rng);
            let (gone, note) = wait_unlisted(nodes, victim, victim_id, &order, stopped, plan);
            row.gone = gone;
            row.notes.extend(note);
        }
        Err(e) => row.notes.push(format!("stop failed: {e}")),
    }
}
