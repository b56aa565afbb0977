//! What a storm run shows: the header, a table, every target with PASS or MISS (a missed target
//! is reported, never an exit status), the notes, and the JSON file scripts/report.py reads.

use super::watch::Point;
use super::StormRow;
use crate::args::Plan;
use crate::report::{fixed, s, secs, transport, RowJson, CPU_TARGET_PCT, RSS_TARGET_MIB};
use crate::SEEDS;
use pekonode::Config;
use serde::Serialize;

/// Issue 11: seconds from the last join until every list is complete (N <= 500: 3 s).
fn lists_target_s(n: usize) -> f64 {
    if n <= 500 {
        3.0
    } else {
        5.0
    }
}
/// Seconds until a published 300-byte blob reaches every member.
const PUBLISH_TARGET_S: f64 = 1.0;

pub fn print_header(plan: &Plan, cfg: &Config, cores: &str) {
    println!(
        "pekonode bench --storm: cycle_ms = {}, timeout_ms = {}, amount = {}, protocol = {}, \
         cores = {cores}, all members created and joined back to back, each told about the \
         first {SEEDS}; lists polled every {} ms until complete (deadline \
         {} s), events drained every 100 ms throughout; settle = {:.1} s, steady = {:.1} s \
         (no list polling); loopback 127.0.0.1, one process",
        cfg.cycle_ms,
        cfg.timeout_ms,
        cfg.amount,
        transport(cfg),
        plan.list_poll.as_millis(),
        plan.deadline.as_secs(),
        plan.settle.as_secs_f64(),
        plan.steady.as_secs_f64(),
    );
    println!();
}

/// One target: its name, the limit, the figure (None: not measured or never reached).
struct Target {
    name: String,
    limit: f64,
    measured: Option<f64>,
}

impl Target {
    fn pass(&self) -> bool {
        self.measured.is_some_and(|v| v <= self.limit)
    }
}

fn targets(r: &StormRow) -> Vec<Target> {
    let n = r.base.n;
    let t = |name: String, limit: f64, measured: Option<f64>| Target {
        name,
        limit,
        measured,
    };
    vec![
        t(
            format!("every list complete after the last join (s), N = {n}"),
            lists_target_s(n),
            s(r.base.lists),
        ),
        t(
            "300-byte publish reaches all (s)".into(),
            PUBLISH_TARGET_S,
            s(r.base.publish),
        ),
        t(
            "FAILED about live members, first join to end of steady window".into(),
            0.0,
            Some(r.false_failed_to_window_end as f64),
        ),
        t(
            "steady CPU, % of one core (whole process)".into(),
            CPU_TARGET_PCT,
            r.base.cpu_pct,
        ),
        t(
            "peak RSS, join included (MiB)".into(),
            RSS_TARGET_MIB,
            r.base.rss_peak,
        ),
        t(
            "stopped member gone from every list (s), timeout_ms".into(),
            r.timeout_ms as f64 / 1000.0,
            s(r.base.gone),
        ),
    ]
}

/// `--storm-phase`: one line per N, from the first join until the lists were complete.
pub fn print_phase(rows: &[StormRow]) {
    println!(
        "| N | lists complete after last join (s) | CPU s | KB sent per member | false FAILED |"
    );
    println!("|---|---|---|---|---|");
    for r in rows {
        let c = r.storm_cost;
        println!(
            "| {} | {} | {} | {} | {} |",
            r.base.n,
            secs(r.base.lists),
            fixed(c.map(|c| c.cpu_s), 2),
            fixed(
                c.map(|c| c.bytes as f64 / r.base.n.max(1) as f64 / 1000.0),
                1
            ),
            r.false_failed_storm,
        );
    }
}

pub fn print_table(rows: &[StormRow]) {
    println!(
        "| N | join all (s) | lists complete after last join (s) | false FAILED: storm / steady \
         window / all | CPU % of one core | RSS / peak MiB | datagrams/member/s | bytes/member/s \
         | publish to all (s) | stopped member gone (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let b = &r.base;
        println!(
            "| {} | {} | {} | {} / {} / {} | {} | {} / {} | {} | {} | {} | {} |",
            b.n,
            secs(b.join),
            secs(b.lists),
            r.false_failed_storm,
            r.false_failed_window,
            r.false_failed_total,
            fixed(b.cpu_pct, 1),
            fixed(b.rss, 1),
            fixed(b.rss_peak, 1),
            fixed(b.rate(|s| s.datagrams_sent), 2),
            fixed(b.bytes(), 1),
            secs(b.publish),
            secs(b.gone),
        );
    }
    println!();
    println!("| N | target | limit | measured | |");
    println!("|---|---|---|---|---|");
    for r in rows {
        for t in targets(r) {
            println!(
                "| {} | {} | <= {} | {} | {} |",
                r.base.n,
                t.name,
                t.limit,
                t.measured
                    .map_or("not reached".into(), |v| format!("{v:.3}")),
                if t.pass() { "PASS" } else { "MISS" },
            );
        }
    }
    println!();
    for r in rows {
        for note in &r.base.notes {
            println!("- N={}: {note}", r.base.n);
        }
    }
}

#[derive(Serialize)]
struct TargetJson {
    name: String,
    limit: f64,
    measured: Option<f64>,
    pass: bool,
}

#[derive(Serialize)]
pub struct StormRowJson<'a> {
    #[serde(flatten)]
    base: RowJson<'a>,
    list_poll_ms: f64,
    last_join_s: Option<f64>,
    false_failed_join: u64,
    false_failed_storm: u64,
    false_failed_settle: u64,
    false_failed_window: u64,
    false_failed_to_window_end: u64,
    false_failed_total: u64,
    false_left_total: u64,
    false_failed_subjects: usize,
    false_failed_observers: usize,
    events_drained: u64,
    events_lost: u64,
    events_lost_delivered: u64,
    rumors_dropped: u64,
    dropped_queue_full: u64,
    members_refused: u64,
    introductions_refused: u64,
    relays_refused: u64,
    send_errors: u64,
    connections_refused: u64,
    connections_evicted: u64,
    incarnations_implausible: u64,
    polls: usize,
    poll_ms_mean: Option<f64>,
    lists_ids_confirmed: Option<bool>,
    targets: Vec<TargetJson>,
    series: &'a [Point],
}

impl<'a> From<&'a StormRow> for StormRowJson<'a> {
    fn from(r: &'a StormRow) -> Self {
        let c = &r.counters;
        let w = &r.watch;
        StormRowJson {
            base: RowJson::from(&r.base),
            list_poll_ms: r.poll.as_secs_f64() * 1000.0,
            last_join_s: r.last_join_t,
            false_failed_join: r.false_failed_join,
            false_failed_storm: r.false_failed_storm,
            false_failed_settle: r.false_failed_settle,
            false_failed_window: r.false_failed_window,
            false_failed_to_window_end: r.false_failed_to_window_end,
            false_failed_total: r.false_failed_total,
            false_left_total: r.false_left_total,
            false_failed_subjects: w.subjects,
            false_failed_observers: w.observers,
            events_drained: w.events,
            events_lost: c.events_lost,
            events_lost_delivered: r.events_lost_delivered,
            rumors_dropped: c.rumors_dropped,
            dropped_queue_full: c.dropped_queue_full,
            members_refused: c.members_refused,
            introductions_refused: c.introductions_refused,
            relays_refused: c.relays_refused,
            send_errors: c.send_errors,
            connections_refused: c.connections_refused,
            connections_evicted: c.connections_evicted,
            incarnations_implausible: c.incarnations_implausible,
            polls: w.polls,
            poll_ms_mean: (w.polls > 0).then(|| w.poll_secs * 1000.0 / w.polls as f64),
            lists_ids_confirmed: r.ids_confirmed,
            targets: targets(r)
                .into_iter()
                .map(|t| TargetJson {
                    pass: t.pass(),
                    name: t.name,
                    limit: t.limit,
                    measured: t.measured,
                })
                .collect(),
            series: &r.series,
        }
    }
}
