//! Simulator benches: the protocol core for N members in one thread on a virtual clock.
//!
//!     cargo run --release --example sim -- dissemination [--n 1000] [--seeds 20] [--loss 0.05]
//!     cargo run --release --example sim -- detection     [--n 1000] [--seeds 10] [--loss 0]
//!     cargo run --release --example sim -- pause         [--n 1000] [--seeds 3]
//!     cargo run --release --example sim -- scale         [--n 10000]
//!     cargo run --release --example sim -- rejoin        [--n 1000] [--seeds 3]
//!     cargo run --release --example sim -- storm         [--n 1000] [--seeds 3] [--every MS]
//!                                                        [--join-first] [--trace]
//!     (all take --cycle MS --timeout MS --amount F --json FILE)
//!
//! Every run is reproducible from its seed. `--json` writes one object per table line (a figure
//! that is not a finite number, such as the percentiles of runs that never completed, as null).

use pekonode::proto::Millis;
use pekonode::sim::{Sim, SimConfig};
use serde::Serialize;
use std::time::Instant;

struct Args {
    mode: String,
    n: Vec<usize>,
    seeds: u64,
    loss: Vec<f64>,
    cycle: u32,
    timeout: u32,
    amount: usize,
    /// `storm`: milliseconds between two members' joins.
    every: Millis,
    /// `storm`: each member joins before it is told its seeds (`peko_join`, then `peko_set`).
    join_first: bool,
    /// `storm`: print completeness, queued rumors and traffic every 500 ms until complete.
    trace: bool,
    json: Option<String>,
}

fn usage() -> ! {
    eprintln!("usage: sim dissemination|detection|partition|pause|scale|rejoin|storm [--n N[,N..]] [--seeds K] [--loss P[,P..]] [--cycle MS] [--timeout MS] [--amount F] [--every MS] [--join-first] [--trace] [--json FILE]");
    std::process::exit(2)
}

fn parse() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| usage());
    let mut a = Args {
        mode,
        n: vec![1000],
        seeds: 10,
        loss: vec![0.0],
        cycle: 200,
        timeout: 5000,
        amount: 3,
        every: 2,
        join_first: false,
        trace: false,
        json: None,
    };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--join-first" => {
                a.join_first = true;
                continue;
            }
            "--trace" => {
                a.trace = true;
                continue;
            }
            _ => {}
        }
        let v = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--n" => {
                a.n = v
                    .split(',')
                    .map(|x| x.parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--seeds" => a.seeds = v.parse().unwrap_or_else(|_| usage()),
            "--loss" => {
                a.loss = v
                    .split(',')
                    .map(|x| x.parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--cycle" => a.cycle = v.parse().unwrap_or_else(|_| usage()),
            "--timeout" => a.timeout = v.parse().unwrap_or_else(|_| usage()),
            "--amount" => a.amount = v.parse().unwrap_or_else(|_| usage()),
            "--every" => a.every = v.parse().unwrap_or_else(|_| usage()),
            "--json" => a.json = Some(v),
            _ => usage(),
        }
    }
    a
}

fn config(a: &Args, n: usize, loss: f64, seed: u64) -> SimConfig {
    SimConfig {
        members: n,
        amount: a.amount,
        cycle_ms: a.cycle,
        timeout_ms: a.timeout,
        loss,
        seed,
        ..SimConfig::default()
    }
}

/// A converged cluster that does not encode its messages (no byte counts, which cost time at
/// large N).
fn converged(a: &Args, n: usize, loss: f64, seed: u64) -> Sim {
    let mut sim = Sim::new(config(a, n, loss, seed));
    sim.count_bytes = false;
    sim.start_converged();
    sim
}

/// The round bound the issue sets for dissemination: log_{f+1}(N) + ln(N)/f + 3.
pub fn bound_rounds(n: usize, f: usize) -> f64 {
    let n = n as f64;
    let f = f as f64;
    n.ln() / (f + 1.0).ln() + n.ln() / f + 3.0
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// Rounds from a publish until every member holds it; `None` if not within 100 rounds.
fn disseminate(sim: &mut Sim) -> Option<f64> {
    // Let the start-up settle so the publish is the only news.
    sim.run_for(2 * sim.cfg.cycle_ms as Millis);
    let origin = (sim.cfg.seed as usize * 7919) % sim.cores.len();
    let now = sim.now;
    let v = sim.cores[origin]
        .publish(now, 1_000_000, b"x".to_vec())
        .unwrap();
    let cycle = sim.cfg.cycle_ms as Millis;
    sim.run_until_step(100 * cycle, 5, |s| {
        s.cores
            .iter()
            .all(|c| c.metadata().map(|m| m.version) == Some(v))
    })
    .map(|t| t as f64 / cycle as f64)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|x| x.parse().ok()))
        })
        .unwrap_or(0)
}

/// One `dissemination` line: rounds until every member holds a publish, over seeds (sorted;
/// runs that never completed are left out, and with none completed the percentiles are null).
#[derive(Serialize)]
struct DisseminationRow {
    n: usize,
    loss: f64,
    seeds: u64,
    p50: f64,
    p99: f64,
    max: f64,
    bound: f64,
    rounds: Vec<f64>,
}

fn dissemination(a: &Args) -> Vec<DisseminationRow> {
    let mut rows = Vec::new();
    println!("| N | loss | seeds | rounds p50 | rounds p99 | max | bound log_(f+1)N + lnN/f + 3 |");
    println!("|---|---|---|---|---|---|---|");
    for &n in &a.n {
        for &loss in &a.loss {
            let mut rounds = Vec::new();
            let mut failed = 0;
            for seed in 1..=a.seeds {
                let mut sim = converged(a, n, loss, seed);
                match disseminate(&mut sim) {
                    Some(r) => rounds.push(r),
                    None => failed += 1,
                }
            }
            let bound = bound_rounds(n, a.amount);
            let (p50, p99, max) = if rounds.is_empty() {
                (f64::NAN, f64::NAN, f64::NAN)
            } else {
                let max = rounds.iter().cloned().fold(0.0, f64::max);
                (
                    percentile(&mut rounds, 50.0),
                    percentile(&mut rounds, 99.0),
                    max,
                )
            };
            println!(
                "| {n} | {:.0}% | {} | {p50:.1} | {p99:.1} | {max:.1} | {bound:.1} |{}",
                loss * 100.0,
                a.seeds,
                if failed > 0 {
                    format!(" {failed} runs never completed")
                } else {
                    String::new()
                }
            );
            rows.push(DisseminationRow {
                n,
                loss,
                seeds: a.seeds,
                p50,
                p99,
                max,
                bound,
                rounds,
            });
        }
    }
    rows
}

/// One `detection` line: ms from a crash until no member lists the crashed one, one per seed in
/// seed order (null: not within 4 timeouts).
#[derive(Serialize)]
struct DetectionRow {
    n: usize,
    loss: f64,
    timeout: u32,
    detection_ms: Vec<f64>,
    false_removals: usize,
}

fn detection(a: &Args) -> Vec<DetectionRow> {
    let mut rows = Vec::new();
    println!("| N | loss | seeds | removed everywhere after (ms): p50 | p99 | max | timeout | live members removed |");
    println!("|---|---|---|---|---|---|---|---|");
    for &n in &a.n {
        for &loss in &a.loss {
            let mut times = Vec::new();
            let mut false_removals = 0;
            for seed in 1..=a.seeds {
                let mut sim = converged(a, n, loss, seed);
                sim.run_for(20 * a.cycle as Millis);
                let victim = (seed as usize * 31) % n;
                let t0 = sim.now;
                sim.crash(victim);
                let t = sim.run_until_step(4 * a.timeout as Millis, 10, |s| s.listers[victim] == 0);
                false_removals += sim.live_removals_since(t0);
                times.push(t.map(|t| t as f64).unwrap_or(f64::INFINITY));
            }
            let max = times.iter().cloned().fold(0.0, f64::max);
            let raw = times.clone();
            println!(
                "| {n} | {:.0}% | {} | {:.0} | {:.0} | {max:.0} | {} | {false_removals} |",
                loss * 100.0,
                a.seeds,
                percentile(&mut times, 50.0),
                percentile(&mut times, 99.0),
                a.timeout
            );
            rows.push(DetectionRow {
                n,
                loss,
                timeout: a.timeout,
                detection_ms: raw,
                false_removals,
            });
        }
    }
    rows
}

/// One `partition` line: per seed, ms from the cut until no member lists anyone across it
/// (null: not within 4 timeouts), and live removals on the same side.
#[derive(Serialize)]
struct PartitionRow {
    n: usize,
    loss: f64,
    timeout: u32,
    detection_ms: Vec<Option<u64>>,
    same_side_removals: usize,
}

/// The cluster is cut in two halves that cannot reach each other: how long until every member
/// has dropped every member of the other half (the README's "gone from every list within
/// timeout_ms", for a whole half going silent at once).
fn partition(a: &Args) -> Vec<PartitionRow> {
    let mut rows = Vec::new();
    println!("| N | loss | seeds | both halves dropped after (ms): p50 | p90 | max | timeout |");
    println!("|---|---|---|---|---|---|---|");
    for &n in &a.n {
        for &loss in &a.loss {
            let mut times = Vec::new();
            let mut raw = Vec::new();
            let mut same_side = 0;
            for seed in 1..=a.seeds {
                let mut sim = converged(a, n, loss, seed);
                sim.run_for(20 * a.cycle as Millis + seed * 7);
                let t0 = sim.now;
                for i in 0..n / 2 {
                    sim.group[i] = 1;
                }
                let across = |s: &Sim| {
                    (0..n).all(|i| (0..n).all(|j| s.group[i] == s.group[j] || !s.lists(i, j)))
                };
                let t = sim.run_until_step(4 * a.timeout as Millis, 10, across);
                same_side += sim
                    .removals
                    .iter()
                    .filter(|&&(at, by, whom)| at >= t0 && sim.group[by] == sim.group[whom])
                    .count();
                times.push(t.map(|t| t as f64).unwrap_or(f64::INFINITY));
                raw.push(t);
            }
            let max = times.iter().cloned().fold(0.0, f64::max);
            println!(
                "| {n} | {:.0}% | {} | {:.0} | {:.0} | {max:.0} | {} |",
                loss * 100.0,
                a.seeds,
                percentile(&mut times, 50.0),
                percentile(&mut times, 90.0),
                a.timeout
            );
            rows.push(PartitionRow {
                n,
                loss,
                timeout: a.timeout,
                detection_ms: raw,
                same_side_removals: same_side,
            });
        }
    }
    rows
}

/// `pause` prints its table only.
fn pause(a: &Args) {
    println!("| N | seed | 10% paused T/2: removals | one paused 2T: removed after (ms) | listed again after resume (ms) |");
    println!("|---|---|---|---|---|");
    for &n in &a.n {
        for seed in 1..=a.seeds {
            let mut sim = converged(a, n, 0.0, seed);
            sim.run_for(20 * a.cycle as Millis);
            let t = a.timeout as Millis;
            for i in (0..n).step_by(10) {
                sim.pause(i, t / 2);
            }
            let t0 = sim.now;
            sim.run_for(3 * t);
            let worst = sim.live_removals_since(t0);
            let victim = n / 2 + 1;
            sim.pause(victim, 2 * t);
            let gone = sim.run_until_step(2 * t, 10, |s| s.listers[victim] == 0);
            let back = gone.and_then(|g| {
                sim.run_for(2 * t - g);
                sim.run_until_step(2 * t, 10, |s| s.listers[victim] == n as i64 - 1)
            });
            println!("| {n} | {seed} | {worst} | {gone:?} | {back:?} |");
        }
    }
}

/// One `rejoin` line (a seed whose crashed member was never removed has none).
#[derive(Serialize)]
struct RejoinRow {
    n: usize,
    seed: u64,
    listed_ms: Option<Millis>,
    most_queued: usize,
    joiner_msgs: u64,
    joiner_bytes: u64,
}

/// One member of a converged cluster crashes, is removed, and restarts (empty state, joining
/// through one other member): how long until everyone lists it again, and what the joiner sends
/// meanwhile and over the following rounds.
fn rejoin(a: &Args) -> Vec<RejoinRow> {
    const ROUNDS: u64 = 300;
    let mut rows = Vec::new();
    println!("| N | seed | listed by all after (ms) | joiner's most queued rumors | joiner msgs in {ROUNDS} rounds | joiner bytes in {ROUNDS} rounds | cluster bytes/member/round |");
    println!("|---|---|---|---|---|---|---|");
    let cycle = a.cycle as Millis;
    for &n in &a.n {
        for seed in 1..=a.seeds {
            let mut sim = Sim::new(config(a, n, a.loss[0], seed));
            sim.start_converged();
            sim.run_for(20 * cycle);
            let j = (seed as usize * 7919) % n;
            let home = if j == 0 { 1 } else { 0 };
            sim.crash(j);
            if sim
                .run_until_step(10 * a.timeout as Millis, 10, |s| s.listers[j] == 0)
                .is_none()
            {
                println!("| {n} | {seed} | the crashed member was never removed | | | | |");
                continue;
            }
            sim.restart(j, home);
            let (m0, b0) = (sim.sent[j], sim.sent_bytes[j]);
            let all0: u64 = sim.sent_bytes.iter().sum();
            let t0 = sim.now;
            let mut most_queued = 0;
            let mut listed = None;
            while sim.now - t0 < ROUNDS * cycle {
                most_queued = most_queued.max(sim.cores[j].pending_rumors());
                if listed.is_none() && sim.listed_by(j) == n - 1 {
                    listed = Some(sim.now - t0);
                }
                sim.run_for(10);
            }
            let all = sim.sent_bytes.iter().sum::<u64>() - all0;
            let listed_s = listed.map_or("not within the rounds".into(), |t| t.to_string());
            println!(
                "| {n} | {seed} | {listed_s} | {most_queued} | {} | {} | {:.0} |",
                sim.sent[j] - m0,
                sim.sent_bytes[j] - b0,
                all as f64 / n as f64 / ROUNDS as f64
            );
            rows.push(RejoinRow {
                n,
                seed,
                listed_ms: listed,
                most_queued,
                joiner_msgs: sim.sent[j] - m0,
                joiner_bytes: sim.sent_bytes[j] - b0,
            });
        }
    }
    rows
}

/// One `storm` line: N members joined one every `every_ms`, each through the first three.
#[derive(Serialize)]
struct StormRow {
    n: usize,
    seed: u64,
    /// From the last join until every member lists every member (null: not within 120 s).
    complete_ms: Option<Millis>,
    /// Per member, from the first join until complete: datagrams, and bytes on connections.
    datagrams_per_member: f64,
    stream_kib_per_member: f64,
    /// The most rumors any member held queued.
    most_queued: usize,
    /// Live members some member removed.
    false_removals: usize,
}

fn storm(a: &Args) -> Vec<StormRow> {
    const LIMIT: Millis = 120_000;
    let mut rows = Vec::new();
    println!("| N | seed | complete after last join (ms) | datagrams/member | stream KiB/member | most queued | false removals |");
    println!("|---|---|---|---|---|---|---|");
    for &n in &a.n {
        for seed in 1..=a.seeds {
            let mut sim = Sim::new(config(a, n, a.loss[0], seed));
            let mut most_queued = 0;
            for i in 0..n {
                sim.run_for(a.every);
                let seeds: Vec<usize> = (0..3.min(i)).collect();
                if a.join_first {
                    sim.join_then_set(i, &seeds);
                } else {
                    sim.join_one(i, &seeds);
                }
            }
            let mut complete = None;
            let t0 = sim.now;
            while sim.now - t0 < LIMIT {
                most_queued = most_queued.max(
                    sim.cores
                        .iter()
                        .map(|c| c.pending_rumors())
                        .max()
                        .unwrap_or(0),
                );
                if sim.converged() {
                    complete = Some(sim.now - t0);
                    break;
                }
                if a.trace && (sim.now - t0) % 500 == 0 {
                    let listed: Vec<usize> = sim.cores.iter().map(|c| c.listed_count()).collect();
                    let full = listed.iter().filter(|&&l| l == n).count();
                    let missing: usize = listed.iter().map(|&l| n - l.min(n)).sum();
                    let queued: usize = sim.cores.iter().map(|c| c.pending_rumors()).sum();
                    eprintln!(
                        "t={:>6} complete={full:>4} missing={missing:>7} queued={queued:>6} dgrams/member={:.0} streamKiB/member={:.1}",
                        sim.now - t0,
                        sim.datagrams as f64 / n as f64,
                        sim.stream_bytes as f64 / 1024.0 / n as f64
                    );
                }
                sim.run_for(100);
            }
            let row = StormRow {
                n,
                seed,
                complete_ms: complete,
                datagrams_per_member: sim.datagrams as f64 / n as f64,
                stream_kib_per_member: sim.stream_bytes as f64 / 1024.0 / n as f64,
                most_queued,
                false_removals: sim.live_removals_since(0),
            };
            println!(
                "| {n} | {seed} | {} | {:.0} | {:.1} | {} | {} |",
                complete.map_or("not within 120 s".into(), |t| t.to_string()),
                row.datagrams_per_member,
                row.stream_kib_per_member,
                most_queued,
                row.false_removals
            );
            rows.push(row);
        }
    }
    rows
}

/// One `scale` line (rounds: null when not within 100).
#[derive(Serialize)]
struct ScaleRow {
    n: usize,
    kib_per_member: f64,
    rounds: Option<f64>,
    msgs_per_member_round: f64,
    bytes_per_member_round: f64,
}

fn scale(a: &Args) -> Vec<ScaleRow> {
    let mut rows = Vec::new();
    println!("| N | memory/member (KiB) | build (s) | rounds to full dissemination | messages/member/round | bytes/member/round | wall (s) |");
    println!("|---|---|---|---|---|---|---|");
    for &n in &a.n {
        let t0 = Instant::now();
        let before = rss_kib();
        let mut sim = Sim::new(config(a, n, a.loss[0], 1));
        sim.start_converged();
        let built = t0.elapsed().as_secs_f64();
        let per_member = (rss_kib().saturating_sub(before)) as f64 / n as f64;
        sim.run_for(2 * a.cycle as Millis);
        let sent0: u64 = sim.sent.iter().sum();
        let bytes0: u64 = sim.sent_bytes.iter().sum();
        let start = sim.now;
        let rounds = disseminate(&mut sim);
        let elapsed_rounds = (sim.now - start) as f64 / a.cycle as f64;
        let msgs = (sim.sent.iter().sum::<u64>() - sent0) as f64 / n as f64 / elapsed_rounds;
        let bytes =
            (sim.sent_bytes.iter().sum::<u64>() - bytes0) as f64 / n as f64 / elapsed_rounds;
        println!(
            "| {n} | {per_member:.0} | {built:.1} | {} | {msgs:.2} | {bytes:.0} | {:.1} |",
            rounds
                .map(|r| format!("{r:.1}"))
                .unwrap_or("not within 100".into()),
            t0.elapsed().as_secs_f64()
        );
        rows.push(ScaleRow {
            n,
            kib_per_member: per_member,
            rounds,
            msgs_per_member_round: msgs,
            bytes_per_member_round: bytes,
        });
    }
    rows
}

/// The `--json` file: one object per table line, compact.
fn to_json<T: Serialize>(rows: &[T]) -> String {
    serde_json::to_string(rows).expect("the rows serialize")
}

fn main() {
    let a = parse();
    let json = match a.mode.as_str() {
        "dissemination" => to_json(&dissemination(&a)),
        "detection" => to_json(&detection(&a)),
        "pause" => {
            pause(&a);
            to_json::<()>(&[])
        }
        "rejoin" => to_json(&rejoin(&a)),
        "storm" => to_json(&storm(&a)),
        "partition" => to_json(&partition(&a)),
        "scale" => to_json(&scale(&a)),
        _ => usage(),
    };
    if let Some(f) = a.json {
        std::fs::write(&f, json).expect("write --json file");
    }
}
