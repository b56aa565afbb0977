//! What a run shows: the header line, the markdown table and notes on stdout, and the JSON file
//! that scripts/report.py reads (its keys are the names of the fields below, in this order).

use crate::args::{Mode, Plan, LARGE_BATCH, LARGE_BATCH_EVERY};
use crate::procfs::rss_peak_mib;
use crate::row::Row;
use crate::SEEDS;
use pekonode::{Config, Protocol, StatsSnapshot};
use serde::Serialize;
use std::time::Duration;

/// `--large` and `--storm` targets.
pub const CPU_TARGET_PCT: f64 = 25.0;
pub const RSS_TARGET_MIB: f64 = 256.0;

pub fn secs(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.3}", d.as_secs_f64()),
        None => "timeout".into(),
    }
}

pub fn fixed(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "n/a".into(),
    }
}

/// A figure next to its upper target: "12.3 (ok)" or "31.0 (over)".
fn against(v: Option<f64>, target: f64) -> String {
    match v {
        Some(v) if v <= target => format!("{v:.1} (ok)"),
        Some(v) => format!("{v:.1} (over)"),
        None => "n/a".into(),
    }
}

pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Udp => "UDP",
        Protocol::Tcp => "TCP",
    }
}

/// The transport and whether frames are sealed (`--secret`), for the headers.
pub fn transport(cfg: &Config) -> String {
    let sealed = if cfg.secret_key.is_some() {
        ", frames sealed (--secret)"
    } else {
        ""
    };
    format!("{}{sealed}", protocol_name(cfg.protocol))
}

/// The line above the table: what was run, and how.
pub fn print_header(plan: &Plan, cfg: &Config, cores: Option<usize>) {
    let protocol = transport(cfg);
    let cores_s = cores.map_or("?".into(), |c| c.to_string());
    match plan.mode {
        Mode::Default => println!(
            "pekonode bench: cycle_ms = {}, timeout_ms = {}, amount = {}, protocol = {}, cores = {}, \
             steady = {:.1} s, loopback 127.0.0.1, one process",
            cfg.cycle_ms,
            cfg.timeout_ms,
            cfg.amount,
            protocol,
            cores_s,
            plan.steady.as_secs_f64(),
        ),
        Mode::Storm => return crate::storm::report::print_header(plan, cfg, &cores_s),
        Mode::Large => println!(
            "pekonode bench --large: cycle_ms = {}, timeout_ms = {}, amount = {}, protocol = {}, \
             cores = {}, members started in batches of {} every {} ms through {} seeds, \
             lists polled every {} ms (deadline {} s), settle = {:.1} s, steady = {:.1} s{} \
             (no polling), loopback 127.0.0.1, one process",
            cfg.cycle_ms,
            cfg.timeout_ms,
            cfg.amount,
            protocol,
            cores_s,
            LARGE_BATCH,
            LARGE_BATCH_EVERY.as_millis(),
            SEEDS,
            plan.list_poll.as_millis(),
            plan.deadline.as_secs(),
            plan.settle.as_secs_f64(),
            plan.steady.as_secs_f64(),
            if plan.steady_covers_ae {
                " or one anti-entropy period at N if longer"
            } else {
                ""
            },
        ),
    }
    println!();
}

/// One line per N, then every N's notes.
pub fn print_table(mode: Mode, rows: &[Row]) {
    // Both tables begin with N and the time until every list was complete.
    let (columns, cells): (String, fn(&Row) -> [String; 6]) = match mode {
        Mode::Default => (
            "publish to all (s) | datagrams/member/s | bytes/member/s | TCP bytes/member/s | \
             CPU s/member/min | stopped member gone (s)"
                .into(),
            |r| {
                [
                    secs(r.publish),
                    fixed(r.rate(|s| s.datagrams_sent), 2),
                    fixed(r.bytes(), 1),
                    fixed(r.rate(|s| s.stream_bytes_sent), 1),
                    fixed(r.cpu_member_min(), 3),
                    secs(r.gone),
                ]
            },
        ),
        Mode::Large | Mode::Storm => (
            format!(
                "CPU % of one core (target <= {CPU_TARGET_PCT:.0}) | \
                 RSS MiB (target <= {RSS_TARGET_MIB:.0}) | peak RSS MiB | datagrams/member/s | \
                 bytes/member/s | anti-entropy bytes/member/s"
            ),
            |r| {
                [
                    against(r.cpu_pct, CPU_TARGET_PCT),
                    against(r.rss, RSS_TARGET_MIB),
                    fixed(r.rss_peak, 1),
                    fixed(r.rate(|s| s.datagrams_sent), 2),
                    fixed(r.bytes(), 1),
                    fixed(r.rate(|s| s.anti_entropy_bytes_sent), 1),
                ]
            },
        ),
    };
    println!("| N | lists complete (s) | {columns} |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} |", r.n, secs(r.lists), cells(r).join(" | "));
    }
    println!();
    for r in rows {
        for note in &r.notes {
            println!("- N={}: {note}", r.n);
        }
    }
}

/// The whole file. Every figure is a number or null (serde_json writes a non-finite f64 as
/// null).
#[derive(Serialize)]
struct Document<'a, R> {
    bench: &'static str,
    config: ConfigJson<'a>,
    results: Vec<R>,
    max_rss_mib: f64,
    total_run_s: f64,
}

#[derive(Serialize)]
pub struct ConfigJson<'a> {
    mode: &'static str,
    sizes: &'a [usize],
    cycle_ms: u32,
    timeout_ms: u32,
    amount: u32,
    protocol: &'static str,
    /// Every member had a secret key: frames sealed.
    sealed: bool,
    cores: Option<usize>,
    seeds: usize,
    batch_size: Option<usize>,
    batch_interval_ms: Option<f64>,
    settle_s: f64,
    steady_s: f64,
    steady_covers_anti_entropy_period: bool,
    deadline_s: f64,
    list_poll_ms: f64,
    open_files_limit: u64,
    cpu_target_percent_of_one_core: Option<f64>,
    rss_target_mib: Option<f64>,
}

#[derive(Serialize)]
pub struct RowJson<'a> {
    n: usize,
    members_started: usize,
    join_s: Option<f64>,
    lists_complete_s: Option<f64>,
    lists_regressions: u32,
    settle_bytes_per_member_s: Option<f64>,
    steady_s: Option<f64>,
    cpu_percent_of_one_core: Option<f64>,
    cpu_s_per_member_per_min: Option<f64>,
    rss_before_mib: Option<f64>,
    rss_mib: Option<f64>,
    rss_peak_mib: Option<f64>,
    datagrams_per_member_s: Option<f64>,
    bytes_per_member_s: Option<f64>,
    datagram_bytes_per_member_s: Option<f64>,
    stream_bytes_per_member_s: Option<f64>,
    anti_entropy_bytes_per_member_s: Option<f64>,
    frames_per_member_s: Option<f64>,
    received_bytes_per_member_s: Option<f64>,
    push_pulls_per_member_s: Option<f64>,
    datagram_bytes_per_member_s_first_half: Option<f64>,
    datagram_bytes_per_member_s_second_half: Option<f64>,
    window_dropped_auth: Option<u64>,
    window_dropped_malformed: Option<u64>,
    window_dropped_too_large: Option<u64>,
    window_dropped_queue_full: Option<u64>,
    window_send_errors: Option<u64>,
    window_connections_refused: Option<u64>,
    open_fds: Option<usize>,
    kernel_udp_in_errors_until_lists_complete: Option<u64>,
    kernel_udp_rcvbuf_errors_until_lists_complete: Option<u64>,
    kernel_udp_in_errors_window: Option<u64>,
    kernel_udp_rcvbuf_errors_window: Option<u64>,
    complete_lists_after_window: Option<usize>,
    shortest_list_after_window: Option<usize>,
    publish_to_all_s: Option<f64>,
    stopped_member_gone_s: Option<f64>,
    close_all_s: Option<f64>,
    close_one_ms_min: Option<f64>,
    close_one_ms_median: Option<f64>,
    close_one_ms_max: Option<f64>,
    notes: &'a [String],
}

pub fn s(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64())
}

fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1000.0)
}

impl<'a> From<&'a Row> for RowJson<'a> {
    fn from(r: &'a Row) -> Self {
        let w = |f: fn(&StatsSnapshot) -> u64| r.window.as_ref().map(f);
        let close =
            |f: fn(&(Duration, Duration, Duration, Duration)) -> Duration| r.close.as_ref().map(f);
        RowJson {
            n: r.n,
            members_started: r.started,
            join_s: s(r.join),
            lists_complete_s: s(r.lists),
            lists_regressions: r.lists_regressions,
            settle_bytes_per_member_s: r.settle_bytes,
            steady_s: r.window_secs,
            cpu_percent_of_one_core: r.cpu_pct,
            cpu_s_per_member_per_min: r.cpu_member_min(),
            rss_before_mib: r.rss_before,
            rss_mib: r.rss,
            rss_peak_mib: r.rss_peak,
            datagrams_per_member_s: r.rate(|s| s.datagrams_sent),
            bytes_per_member_s: r.bytes(),
            datagram_bytes_per_member_s: r.rate(|s| s.datagram_bytes_sent),
            stream_bytes_per_member_s: r.rate(|s| s.stream_bytes_sent),
            anti_entropy_bytes_per_member_s: r.rate(|s| s.anti_entropy_bytes_sent),
            frames_per_member_s: r.rate(|s| s.frames_sent),
            received_bytes_per_member_s: r.rate(|s| s.bytes_received),
            push_pulls_per_member_s: r.rate(|s| s.push_pulls),
            datagram_bytes_per_member_s_first_half: r.halves.map(|h| h.0),
            datagram_bytes_per_member_s_second_half: r.halves.map(|h| h.1),
            window_dropped_auth: w(|s| s.dropped_auth),
            window_dropped_malformed: w(|s| s.dropped_malformed),
            window_dropped_too_large: w(|s| s.dropped_too_large),
            window_dropped_queue_full: w(|s| s.dropped_queue_full),
            window_send_errors: w(|s| s.send_errors),
            window_connections_refused: w(|s| s.connections_refused),
            open_fds: r.fds,
            kernel_udp_in_errors_until_lists_complete: r.udp_errors_join.map(|e| e.0),
            kernel_udp_rcvbuf_errors_until_lists_complete: r.udp_errors_join.map(|e| e.1),
            kernel_udp_in_errors_window: r.udp_errors_window.map(|e| e.0),
            kernel_udp_rcvbuf_errors_window: r.udp_errors_window.map(|e| e.1),
            complete_lists_after_window: r.complete_after.map(|c| c.0),
            shortest_list_after_window: r.complete_after.map(|c| c.1),
            publish_to_all_s: s(r.publish),
            stopped_member_gone_s: s(r.gone),
            close_all_s: s(close(|c| c.0)),
            close_one_ms_min: ms(close(|c| c.1)),
            close_one_ms_median: ms(close(|c| c.2)),
            close_one_ms_max: ms(close(|c| c.3)),
            notes: &r.notes,
        }
    }
}

/// Writes the configuration and one object per N to `path` (a failure is reported, not fatal:
/// the table on stdout still counts).
pub fn write_json<R: Serialize>(
    path: &str,
    plan: &Plan,
    cfg: &Config,
    cores: Option<usize>,
    nofile: u64,
    results: Vec<R>,
    total: Duration,
) {
    write_doc(path, config_json(plan, cfg, cores, nofile), results, total);
}

/// The run's configuration as the JSON file gives it.
pub fn config_json<'a>(
    plan: &'a Plan,
    cfg: &Config,
    cores: Option<usize>,
    nofile: u64,
) -> ConfigJson<'a> {
    let targets = plan.mode != Mode::Default;
    ConfigJson {
        mode: match plan.mode {
            Mode::Default => "default",
            Mode::Large => "large",
            Mode::Storm => "storm",
        },
        sizes: &plan.sizes,
        cycle_ms: cfg.cycle_ms,
        timeout_ms: cfg.timeout_ms,
        amount: cfg.amount,
        protocol: protocol_name(cfg.protocol),
        sealed: cfg.secret_key.is_some(),
        cores,
        seeds: SEEDS,
        batch_size: plan.batch.map(|b| b.0),
        batch_interval_ms: ms(plan.batch.map(|b| b.1)),
        settle_s: plan.settle.as_secs_f64(),
        steady_s: plan.steady.as_secs_f64(),
        steady_covers_anti_entropy_period: plan.steady_covers_ae,
        deadline_s: plan.deadline.as_secs_f64(),
        list_poll_ms: plan.list_poll.as_secs_f64() * 1000.0,
        open_files_limit: nofile,
        cpu_target_percent_of_one_core: targets.then_some(CPU_TARGET_PCT),
        rss_target_mib: targets.then_some(RSS_TARGET_MIB),
    }
}

/// Writes the document: the configuration, one object per N, and the process's totals.
pub fn write_doc<R: Serialize>(path: &str, config: ConfigJson, results: Vec<R>, total: Duration) {
    let doc = Document {
        bench: "pekonode",
        config,
        results,
        max_rss_mib: rss_peak_mib(),
        total_run_s: total.as_secs_f64(),
    };
    let mut out = serde_json::to_string_pretty(&doc).expect("the results serialize");
    out.push('\n');
    if let Err(e) = std::fs::write(path, out) {
        eprintln!("bench: cannot write {path}: {e}");
    }
}
