//! `--overload`: N members in one process while threads of the same process spin on every core.
//!
//! Lifeguard's premise is that a member that is itself late must not accuse others. Here the whole
//! process is starved: its own threads take the CPU from the library's runtime, so timers fire
//! late and datagrams wait in the receive queues. Nobody is stopped, so every FAILED or LEFT event
//! is a false removal.
//!
//! Timeline: start N members and wait until every list is complete; a quiet period (`--settle`);
//! `--spin-threads` threads busy-loop for `--spin-secs`; then `--after-secs` of watching. Every
//! member's event queue is drained all along (a thread of its own); process CPU (percentage of
//! one core) and the cumulative false removals are sampled once a second. At the end, the
//! (member, listed member) pairs missing from the lists.

use crate::args::Plan;
use crate::cluster::{close_into, start_members, wait_lists};
use crate::procfs::cpu_seconds;
use crate::row::Row;
use pekonode::driver::events::Kind;
use pekonode::{Config, Node, Protocol};
use serde::Serialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Time between two passes over every member's event queue.
const DRAIN_EVERY: Duration = Duration::from_millis(50);

#[derive(Serialize, Clone, Copy)]
pub struct Sample {
    /// Seconds since the spinning started (negative before).
    pub t: f64,
    pub cpu_pct: f64,
    /// False removals seen so far (since the lists were complete).
    pub false_removals: u64,
}

#[derive(Serialize)]
pub struct OverloadRow {
    pub n: usize,
    pub spin_threads: usize,
    pub spin_secs: f64,
    pub false_removals: u64,
    pub missing_at_end: u64,
    pub series: Vec<Sample>,
}

/// What the run saw beyond the JSON row (printed as notes).
struct Seen {
    row: Row,
    /// False removals by phase: quiet, spinning, after.
    by_phase: [u64; 3],
    /// Mean CPU% of one core by phase.
    cpu: [f64; 3],
    /// Distinct members someone reported as failed or left.
    accused: usize,
    /// Events the queues dropped (full) while drained.
    lost: u64,
    /// Members missing from at least one list at the end.
    missing_members: usize,
}

#[derive(Serialize)]
struct Document<'a> {
    mode: &'static str,
    config: ConfigJson,
    rows: [&'a OverloadRow; 1],
}

#[derive(Serialize)]
struct ConfigJson {
    n: usize,
    cycle_ms: u32,
    timeout_ms: u32,
    amount: u32,
    protocol: &'static str,
    cores: Option<usize>,
    quiet_s: f64,
    spin_threads: usize,
    spin_secs: f64,
    after_secs: f64,
    sample_every_s: f64,
}

/// Runs the scenario for `plan.sizes[0]` members, prints the table and writes the JSON.
pub fn main(plan: &Plan, cfg: &Config, cores: Option<usize>) {
    let n = plan.sizes[0];
    eprintln!("bench: overload N={n}: starting");
    let (out, seen) = run(n, cfg, plan);
    print(&out, &seen, plan);
    if let Some(path) = &plan.json {
        let doc = Document {
            mode: "overload",
            config: ConfigJson {
                n,
                cycle_ms: cfg.cycle_ms,
                timeout_ms: cfg.timeout_ms,
                amount: cfg.amount,
                protocol: match cfg.protocol {
                    Protocol::Udp => "UDP",
                    Protocol::Tcp => "TCP",
                },
                cores,
                quiet_s: plan.settle.as_secs_f64(),
                spin_threads: plan.spin_threads,
                spin_secs: plan.spin.as_secs_f64(),
                after_secs: plan.after.as_secs_f64(),
                sample_every_s: 1.0,
            },
            rows: [&out],
        };
        let text = serde_json::to_string_pretty(&doc).expect("serialize");
        std::fs::write(path, text + "\n").unwrap_or_else(|e| panic!("write {path}: {e}"));
        println!("- results written to {path}");
    }
}

fn run(n: usize, cfg: &Config, plan: &Plan) -> (OverloadRow, Seen) {
    let mut row = Row {
        n,
        ..Row::default()
    };
    let mut out = OverloadRow {
        n,
        spin_threads: plan.spin_threads,
        spin_secs: plan.spin.as_secs_f64(),
        false_removals: 0,
        missing_at_end: 0,
        series: Vec::new(),
    };
    let empty = |row| Seen {
        row,
        by_phase: [0; 3],
        cpu: [f64::NAN; 3],
        accused: 0,
        lost: 0,
        missing_members: 0,
    };
    let (nodes, ids) = match start_members(&mut row, n, cfg, plan) {
        Ok(v) => v,
        Err(nodes) => {
            close_into(&mut row, nodes);
            return (out, empty(row));
        }
    };
    let all: HashSet<SocketAddr> = ids.iter().copied().collect();
    let lists = wait_lists(&mut row, &nodes, &ids, &all, Instant::now(), plan);
    eprintln!(
        "bench: overload N={n}: lists complete: {}",
        lists.map_or("timeout".into(), |d| format!("{:.1} s", d.as_secs_f64()))
    );
    if lists.is_none() {
        row.notes
            .push("the lists never became complete: no overload run".into());
        close_into(&mut row, nodes);
        return (out, empty(row));
    }
    // The join's events are not false removals: read and drop them.
    drain(&nodes, |_, _| {});

    let false_removals = AtomicU64::new(0);
    let accused: Mutex<HashSet<SocketAddr>> = Mutex::default();
    let lost = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let spinning = AtomicBool::new(false);
    let phase_counts = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
    let phase = AtomicU64::new(0);
    let mut cpu_by_phase = [(0.0f64, 0.0f64); 3];

    std::thread::scope(|sc| {
        // Every member's events, all along.
        sc.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                drain(&nodes, |kind, e| {
                    lost.fetch_add(e.lost, Ordering::Relaxed);
                    if matches!(kind, Kind::Failed | Kind::Left) {
                        false_removals.fetch_add(1, Ordering::Relaxed);
                        phase_counts[phase.load(Ordering::Relaxed) as usize]
                            .fetch_add(1, Ordering::Relaxed);
                        accused.lock().unwrap().insert(e.member);
                    }
                });
                std::thread::sleep(DRAIN_EVERY);
            }
        });

        let t0 = Instant::now();
        let spin_at = t0 + plan.settle;
        let spin_end = spin_at + plan.spin;
        let end = spin_end + plan.after;
        let mut spinners = Vec::new();
        let mut last = (Instant::now(), cpu_seconds());
        let mut next = last.0 + Duration::from_secs(1);
        loop {
            let now = Instant::now();
            if spinners.is_empty() && now >= spin_at {
                spinning.store(true, Ordering::SeqCst);
                phase.store(1, Ordering::Relaxed);
                eprintln!(
                    "bench: overload N={n}: {} threads spin for {:.0} s",
                    plan.spin_threads,
                    plan.spin.as_secs_f64()
                );
                for _ in 0..plan.spin_threads {
                    spinners.push(sc.spawn(|| {
                        let mut x = 0u64;
                        while spinning.load(Ordering::Relaxed) {
                            x = std::hint::black_box(x.wrapping_add(1));
                        }
                    }));
                }
            }
            if !spinners.is_empty() && now >= spin_end && spinning.load(Ordering::SeqCst) {
                spinning.store(false, Ordering::SeqCst);
                phase.store(2, Ordering::Relaxed);
                eprintln!("bench: overload N={n}: spinning stopped");
            }
            if now >= end {
                break;
            }
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            next += Duration::from_secs(1);
            let (t, cpu) = (Instant::now(), cpu_seconds());
            let wall = t.duration_since(last.0).as_secs_f64();
            let pct = (cpu - last.1) / wall * 100.0;
            let p = phase.load(Ordering::Relaxed) as usize;
            cpu_by_phase[p].0 += cpu - last.1;
            cpu_by_phase[p].1 += wall;
            last = (t, cpu);
            let since_spin = if t >= spin_at {
                t.duration_since(spin_at).as_secs_f64()
            } else {
                -spin_at.duration_since(t).as_secs_f64()
            };
            out.series.push(Sample {
                t: (since_spin * 10.0).round() / 10.0,
                cpu_pct: (pct * 10.0).round() / 10.0,
                false_removals: false_removals.load(Ordering::Relaxed),
            });
        }
        spinning.store(false, Ordering::SeqCst);
        // One more pass after the last sample, then the drainer stops.
        std::thread::sleep(DRAIN_EVERY * 2);
        done.store(true, Ordering::Relaxed);
    });
    drain(&nodes, |kind, e| {
        if matches!(kind, Kind::Failed | Kind::Left) {
            false_removals.fetch_add(1, Ordering::Relaxed);
            phase_counts[2].fetch_add(1, Ordering::Relaxed);
            accused.lock().unwrap().insert(e.member);
        }
    });

    // Who is missing from whose list now.
    let mut missing_pairs = 0u64;
    let mut missing: HashSet<SocketAddr> = HashSet::new();
    for node in &nodes {
        let has: HashSet<SocketAddr> = node.members().into_iter().map(|(id, _)| id).collect();
        for id in &ids {
            if !has.contains(id) {
                missing_pairs += 1;
                missing.insert(*id);
            }
        }
    }
    out.false_removals = false_removals.load(Ordering::Relaxed);
    out.missing_at_end = missing_pairs;
    let seen = Seen {
        by_phase: phase_counts.map(|c| c.load(Ordering::Relaxed)),
        cpu: cpu_by_phase.map(|(cpu, wall)| {
            if wall > 0.0 {
                cpu / wall * 100.0
            } else {
                f64::NAN
            }
        }),
        accused: accused.lock().unwrap().len(),
        lost: lost.load(Ordering::Relaxed),
        missing_members: missing.len(),
        row,
    };
    let mut seen = seen;
    close_into(&mut seen.row, nodes);
    (out, seen)
}

/// One pass over every member's event queue, without waiting.
fn drain(nodes: &[Node], mut f: impl FnMut(Kind, &pekonode::driver::events::UserEvent)) {
    for node in nodes {
        while let Ok(Some(e)) = node.next_event(Duration::ZERO) {
            f(e.kind, &e);
        }
    }
}

fn print(out: &OverloadRow, seen: &Seen, plan: &Plan) {
    println!(
        "| N | spin threads | spin s | CPU % quiet | CPU % spinning | CPU % after | \
         false removals (quiet / spinning / after) | false removals | missing at end |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let [q, s, a] = seen.by_phase;
    let [cq, cs, ca] = seen.cpu;
    println!(
        "| {} | {} | {:.0} | {cq:.1} | {cs:.1} | {ca:.1} | {q} / {s} / {a} | {} | {} |",
        out.n, out.spin_threads, out.spin_secs, out.false_removals, out.missing_at_end
    );
    println!();
    let n = out.n;
    println!(
        "- N={n}: quiet {:.0} s, spinning {:.0} s, after {:.0} s; CPU is the whole process's \
         (spinning threads included), percent of one core",
        plan.settle.as_secs_f64(),
        plan.spin.as_secs_f64(),
        plan.after.as_secs_f64()
    );
    println!(
        "- N={n}: {} distinct members were reported failed or left; {} members missing from at \
         least one list at the end ({} (member, listed member) pairs); {} events dropped by full \
         queues while drained",
        seen.accused, seen.missing_members, out.missing_at_end, seen.lost
    );
    for note in &seen.row.notes {
        println!("- N={n}: {note}");
    }
}
