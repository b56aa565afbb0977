//! Cluster benchmark: N members in one process on 127.0.0.1, one cluster size after another.
//!
//!     cargo run --release --example bench -- [--sizes 50,100,200] [--cycle MS] [--timeout MS]
//!                                            [--steady SECS] [--settle SECS] [--tcp] [--secret KEY]
//!                                            [--large | --storm] [--json FILE]
//!
//! Default mode, for each N: time until every member lists all N, steady-state traffic and CPU
//! per member, time for a published metadata blob to reach everyone, and time until a stopped
//! member is dropped by all others. Anything that does not converge before its deadline prints
//! "timeout".
//!
//! `--large`: the scale test. N = 1000 (or `--sizes`), `cycle_ms` = 1000, `timeout_ms` = 0 (the
//! library's default: 5000 ms, or 10 x `cycle_ms` when that is longer, so 10 s at this cycle);
//! members start in batches of 50 every 100 ms, each told about the first three. Time until every
//! list is complete (deadline 180 s, polled every 500 ms), then after a settle period, over a
//! steady window with no polling at all: process CPU as a percentage of one core, resident memory
//! (now and peak), datagrams, bytes and anti-entropy bytes per member per second, next to the
//! targets (CPU <= 25% of one core, RSS <= 256 MiB).
//!
//! `--storm`: issue 11's join storm. N = 1000 (or `--sizes 500,1000`), `cycle_ms` = 200,
//! `timeout_ms` = 5000 (`--cycle`, `--timeout` override), all members created and joined back to
//! back. The time until every list is complete after the last join, with a time series of
//! completeness from the first join; FAILED and LEFT events about live members over the whole
//! run (every member's events are drained throughout); after a settle period (10 s) a steady
//! window (180 s, `--steady`) with no list polling: CPU, memory, traffic; a 300-byte publish;
//! a stopped member. Each figure is printed next to its target with PASS or MISS (the exit
//! status does not depend on them). N = 2000 at a 1 s cycle: `--storm --sizes 2000 --cycle 1000`.
//! `--storm --storm-phase` stops once the lists are complete and prints one line per N: the
//! time to complete lists, and the CPU, bytes and false FAILED of the storm (for A/B runs).
//!
//! `--overload`: N = 200 (or the first of `--sizes`) while threads of this process spin on every
//! core (`--spin-threads 2`, `--spin-secs 30`, then `--after-secs 30` of watching): false
//! removals and process CPU, once a second (`overload.rs`).
//!
//! `--json FILE` (any mode) also writes the configuration and one object per N, every figure
//! a number or null, for a report script.
//!
//! The parts: `args` (the command line), `cluster` (starting, polling and closing members),
//! `run` (one N's measurements), `row` (what one N measured), `procfs` (what the kernel says
//! about the process), `report` (tables and JSON), `storm` (the storm run, its event watcher
//! and its report).

mod args;
mod cluster;
mod overload;
mod procfs;
mod report;
mod row;
mod run;
mod storm;

use args::Mode;
use pekonode::Config;
use std::time::Instant;

/// How many of the first members serve as seeds.
const SEEDS: usize = 3;
const AMOUNT: u32 = 3;

fn main() {
    let plan = args::parse_args();
    let (soft, hard) = procfs::raise_nofile();
    let cfg = Config {
        amount: AMOUNT,
        cycle_ms: plan.cycle_ms,
        timeout_ms: plan.timeout_ms,
        protocol: plan.protocol,
        secret_key: plan.secret.clone(),
        ..Config::default()
    };
    let cfg = match cfg.resolve() {
        Ok(c) => c,
        Err(e) => args::usage(&format!("invalid configuration: {e}")),
    };
    let cores = std::thread::available_parallelism().ok().map(|n| n.get());
    let need = plan.sizes.iter().max().copied().unwrap_or(0) as u64 * 2 + 64;
    if soft < need {
        eprintln!(
            "bench: warning: open-files limit {soft} (hard {hard}) may be too low for {need} fds"
        );
    }
    if plan.overload {
        overload::main(&plan, &cfg, cores);
        return;
    }
    report::print_header(&plan, &cfg, cores);

    let started = Instant::now();
    if plan.mode == Mode::Storm {
        let mut rows = Vec::new();
        for &n in &plan.sizes {
            eprintln!("bench: N={n}: storm: starting");
            rows.push(storm::run(n, &cfg, &plan));
            if let Some(path) = &plan.json {
                let results = rows.iter().map(storm::report::StormRowJson::from).collect();
                report::write_json(path, &plan, &cfg, cores, soft, results, started.elapsed());
            }
        }
        if plan.storm_phase {
            storm::report::print_phase(&rows);
        } else {
            storm::report::print_table(&rows);
        }
        finish(&plan, started);
        return;
    }
    let mut rows = Vec::new();
    for &n in &plan.sizes {
        eprintln!("bench: N={n}: starting");
        rows.push(run::run(n, &cfg, &plan));
        // Rewritten after each N, so an interrupted run leaves what it measured.
        if let Some(path) = &plan.json {
            let results = rows.iter().map(report::RowJson::from).collect();
            report::write_json(path, &plan, &cfg, cores, soft, results, started.elapsed());
        }
    }

    report::print_table(plan.mode, &rows);
    if let Some(path) = &plan.json {
        let results = rows.iter().map(report::RowJson::from).collect();
        report::write_json(path, &plan, &cfg, cores, soft, results, started.elapsed());
    }
    finish(&plan, started);
}

/// The last lines: the process's memory and time, and where the JSON went.
fn finish(plan: &args::Plan, started: Instant) {
    println!(
        "- max resident memory: {:.1} MiB; total run {:.1} s",
        procfs::rss_peak_mib(),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &plan.json {
        println!("- results written to {path}");
    }
}
