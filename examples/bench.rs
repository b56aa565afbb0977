//! Cluster benchmark: N members in one process on 127.0.0.1, one cluster size after another.
//!
//!     cargo run --release --example bench -- [--sizes 50,100,200] [--cycle MS] [--timeout MS]
//!                                            [--steady SECS] [--settle SECS] [--tcp]
//!                                            [--large] [--json FILE]
//!
//! Default mode, for each N: time until every member lists all N, steady-state traffic and CPU
//! per member, time for a published metadata blob to reach everyone, and time until a stopped
//! member is dropped by all others. Anything that does not converge before its deadline prints
//! "timeout".
//!
//! `--large`: the scale test. N = 1000 (or `--sizes`), `cycle_ms` = 1000, `timeout_ms` = 0 (the
//! library's 10 cycles); members start in batches of 50 every 100 ms, each told about the first
//! three. Time until every list is complete (deadline 180 s, polled every 500 ms), then after a
//! settle period, over a steady window with no polling at all: process CPU as a percentage of one
//! core, resident memory (now and peak), datagrams, bytes and anti-entropy bytes per member per
//! second, next to the targets (CPU <= 25% of one core, RSS <= 256 MiB).
//!
//! `--json FILE` (either mode) also writes the configuration and one object per N, every figure
//! a number or null, for a report script.

use pekonode::{Attributes, Config, Node, Protocol, StatsSnapshot};
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::exit;
use std::time::{Duration, Instant};

/// How many of the first members serve as seeds.
const SEEDS: usize = 3;
const AMOUNT: u32 = 3;
const PAYLOAD_LEN: usize = 300;

/// `--large`: members started per batch, and the time from one batch's start to the next.
const LARGE_BATCH: usize = 50;
const LARGE_BATCH_EVERY: Duration = Duration::from_millis(100);
/// `--large` targets.
const CPU_TARGET_PCT: f64 = 25.0;
const RSS_TARGET_MIB: f64 = 256.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Default,
    Large,
}

/// What to run; the defaults depend on the mode.
/// Longest wait, after the settle period, for every rumor queue to drain.
const QUIET_DEADLINE: Duration = Duration::from_secs(300);

struct Plan {
    mode: Mode,
    sizes: Vec<usize>,
    cycle_ms: u32,
    timeout_ms: u32,
    /// The quiet window over which traffic, CPU and memory are measured.
    steady: Duration,
    /// Stretch the window to at least one anti-entropy period at N (the library's mean period,
    /// jittered +-50% per member), so the anti-entropy figure is measured over exchanges that
    /// happened rather than a window too short to see one (large mode, unless --steady).
    steady_covers_ae: bool,
    /// Time between complete lists and the steady window: the join storm's rumors die out.
    settle: Duration,
    /// How long any convergence step may take before it is reported as "timeout".
    deadline: Duration,
    /// Time between two polls of the member lists while waiting for them to be complete.
    list_poll: Duration,
    /// Start members in batches of this many, one batch per interval (None: all at once).
    batch: Option<(usize, Duration)>,
    protocol: Protocol,
    json: Option<String>,
}

fn usage(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    eprintln!(
        "usage: bench [--sizes 50,100,200] [--cycle MS] [--timeout MS] [--steady SECS] \
         [--settle SECS] [--tcp] [--large] [--json FILE]"
    );
    exit(2);
}

fn positive_secs(v: &str, name: &str) -> Duration {
    let secs: f64 = v.parse().unwrap_or_else(|_| usage(&format!("bad {name}")));
    if !(secs > 0.0 && secs.is_finite()) {
        usage(&format!("{name} must be positive"));
    }
    Duration::from_secs_f64(secs)
}

fn parse_args() -> Plan {
    let mut large = false;
    let mut sizes: Option<Vec<usize>> = None;
    let mut cycle_ms: Option<u32> = None;
    let mut timeout_ms: Option<u32> = None;
    let mut steady: Option<Duration> = None;
    let mut settle: Option<Duration> = None;
    let mut protocol = Protocol::Udp;
    let mut json = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match flag.as_str() {
            "--sizes" => {
                let v = value("--sizes");
                let list: Vec<usize> = v
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| {
                        s.trim()
                            .parse::<usize>()
                            .ok()
                            .filter(|&n| n >= 2)
                            .unwrap_or_else(|| usage(&format!("bad size {s:?} (need >= 2)")))
                    })
                    .collect();
                if list.is_empty() {
                    usage("--sizes is empty");
                }
                sizes = Some(list);
            }
            "--cycle" => {
                cycle_ms = Some(
                    value("--cycle")
                        .parse()
                        .unwrap_or_else(|_| usage("bad --cycle")),
                )
            }
            "--timeout" => {
                timeout_ms = Some(
                    value("--timeout")
                        .parse()
                        .unwrap_or_else(|_| usage("bad --timeout")),
                )
            }
            "--steady" => steady = Some(positive_secs(&value("--steady"), "--steady")),
            "--settle" => settle = Some(positive_secs(&value("--settle"), "--settle")),
            "--tcp" => protocol = Protocol::Tcp,
            "--large" => large = true,
            "--json" => json = Some(value("--json")),
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if large {
        Plan {
            mode: Mode::Large,
            sizes: sizes.unwrap_or_else(|| vec![1000]),
            cycle_ms: cycle_ms.unwrap_or(1000),
            // 0: the library's default, 10 cycles.
            timeout_ms: timeout_ms.unwrap_or(0),
            steady_covers_ae: steady.is_none(),
            steady: steady.unwrap_or(Duration::from_secs(30)),
            settle: settle.unwrap_or(Duration::from_secs(10)),
            deadline: Duration::from_secs(180),
            list_poll: Duration::from_millis(500),
            batch: Some((LARGE_BATCH, LARGE_BATCH_EVERY)),
            protocol,
            json,
        }
    } else {
        Plan {
            mode: Mode::Default,
            sizes: sizes.unwrap_or_else(|| vec![50, 100, 200]),
            cycle_ms: cycle_ms.unwrap_or(200),
            // peko_config_default's timeout: the library's defaults with a faster cycle.
            timeout_ms: timeout_ms.unwrap_or(5000),
            steady_covers_ae: false,
            steady: steady.unwrap_or(Duration::from_secs(20)),
            settle: settle.unwrap_or(Duration::from_secs(5)),
            deadline: Duration::from_secs(60),
            list_poll: Duration::from_millis(20),
            batch: None,
            protocol,
            json,
        }
    }
}

impl Plan {
    /// The library's mean anti-entropy period for N members.
    fn ae_period(&self, n: usize) -> Duration {
        let timing = pekonode::proto::Timing::new(self.cycle_ms, self.timeout_ms, AMOUNT as usize);
        Duration::from_millis(timing.push_pull_for(n))
    }

    /// The steady window for N members.
    fn steady_for(&self, n: usize) -> Duration {
        if self.steady_covers_ae {
            self.steady.max(self.ae_period(n))
        } else {
            self.steady
        }
    }
}

/// Raises the soft open-files limit to the hard limit: 200 members need ~400 fds plus streams.
fn raise_nofile() -> (u64, u64) {
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return (0, 0);
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
        (r.rlim_cur as u64, r.rlim_max as u64)
    }
}

/// File descriptors the process holds (Linux: entries of /proc/self/fd).
fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

fn rusage() -> libc::rusage {
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    }
}

/// User + system CPU time of the whole process, in seconds.
fn cpu_seconds() -> f64 {
    let u = rusage();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Resident memory of the process now (VmRSS in /proc/self/status), MiB.
fn rss_now_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The kernel's UDP receive errors (whole network namespace, /proc/net/snmp): InErrors and
/// RcvbufErrors. Datagrams the kernel dropped never reach the library's counters.
fn udp_errors() -> Option<(u64, u64)> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = udp.next()?.split_whitespace().collect();
    let values: Vec<&str> = udp.next()?.split_whitespace().collect();
    let get = |name: &str| -> Option<u64> {
        let i = names.iter().position(|n| *n == name)?;
        values.get(i)?.parse().ok()
    };
    Some((get("InErrors")?, get("RcvbufErrors")?))
}

/// Peak resident memory of the process so far (ru_maxrss, KiB on Linux), MiB.
fn rss_peak_mib() -> f64 {
    rusage().ru_maxrss as f64 / 1024.0
}

/// Polls `cond` every `every` until it holds or `deadline` passes; the time it took from `since`.
fn wait_for(
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
fn listing(node: &Node, want: &HashSet<SocketAddr>) -> (usize, bool) {
    let members = node.members();
    let all = members.len() == want.len() && members.iter().all(|(id, _)| want.contains(id));
    (members.len(), all)
}

fn lists_all(node: &Node, want: &HashSet<SocketAddr>) -> bool {
    listing(node, want).1
}

fn sum_stats(nodes: &[Node]) -> StatsSnapshot {
    let mut t = StatsSnapshot::default();
    for n in nodes {
        let s = n.stats();
        t.datagrams_sent += s.datagrams_sent;
        t.datagram_bytes_sent += s.datagram_bytes_sent;
        t.frames_sent += s.frames_sent;
        t.stream_bytes_sent += s.stream_bytes_sent;
        t.datagrams_received += s.datagrams_received;
        t.frames_received += s.frames_received;
        t.bytes_received += s.bytes_received;
        t.dropped_auth += s.dropped_auth;
        t.dropped_malformed += s.dropped_malformed;
        t.dropped_too_large += s.dropped_too_large;
        t.dropped_queue_full += s.dropped_queue_full;
        t.send_errors += s.send_errors;
        t.connections_refused += s.connections_refused;
        t.push_pulls += s.push_pulls;
        t.anti_entropy_bytes_sent += s.anti_entropy_bytes_sent;
    }
    t
}

/// `b - a`, counter by counter.
fn delta(a: &StatsSnapshot, b: &StatsSnapshot) -> StatsSnapshot {
    let d = |f: fn(&StatsSnapshot) -> u64| f(b).saturating_sub(f(a));
    StatsSnapshot {
        datagrams_sent: d(|s| s.datagrams_sent),
        datagram_bytes_sent: d(|s| s.datagram_bytes_sent),
        frames_sent: d(|s| s.frames_sent),
        stream_bytes_sent: d(|s| s.stream_bytes_sent),
        datagrams_received: d(|s| s.datagrams_received),
        frames_received: d(|s| s.frames_received),
        bytes_received: d(|s| s.bytes_received),
        dropped_auth: d(|s| s.dropped_auth),
        dropped_malformed: d(|s| s.dropped_malformed),
        dropped_too_large: d(|s| s.dropped_too_large),
        dropped_queue_full: d(|s| s.dropped_queue_full),
        send_errors: d(|s| s.send_errors),
        connections_refused: d(|s| s.connections_refused),
        push_pulls: d(|s| s.push_pulls),
        anti_entropy_bytes_sent: d(|s| s.anti_entropy_bytes_sent),
    }
}

fn secs(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.3}", d.as_secs_f64()),
        None => "timeout".into(),
    }
}

fn fixed(v: Option<f64>, decimals: usize) -> String {
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

#[derive(Default)]
struct Row {
    n: usize,
    /// Members that started (N unless one failed).
    started: usize,
    /// From the first member's creation to the last one's join.
    join: Option<Duration>,
    lists: Option<Duration>,
    /// Times a member that had listed everyone was found incomplete again while waiting.
    lists_regressions: u32,
    /// Bytes sent per member per second during the settle period (join traffic dying out).
    settle_bytes: Option<f64>,
    /// Length of the steady window, seconds, and the counters' growth over it.
    window_secs: Option<f64>,
    window: Option<StatsSnapshot>,
    cpu_pct: Option<f64>,
    rss_before: Option<f64>,
    rss: Option<f64>,
    rss_peak: Option<f64>,
    /// Datagram bytes per member per second in the two halves of the window (default mode).
    halves: Option<(f64, f64)>,
    fds: Option<usize>,
    /// Kernel UDP receive errors (InErrors, RcvbufErrors) from the first member's start until
    /// the lists were complete, and over the steady window.
    udp_errors_join: Option<(u64, u64)>,
    udp_errors_window: Option<(u64, u64)>,
    /// After the window (large mode): members listing all N, and the shortest list.
    complete_after: Option<(usize, usize)>,
    publish: Option<Duration>,
    gone: Option<Duration>,
    /// Whole close, and one close(): min, median, max.
    close: Option<(Duration, Duration, Duration, Duration)>,
    notes: Vec<String>,
}

impl Row {
    /// A counter's growth over the window, per member per second.
    fn rate(&self, f: fn(&StatsSnapshot) -> u64) -> Option<f64> {
        match (&self.window, self.window_secs) {
            (Some(w), Some(s)) if s > 0.0 => Some(f(w) as f64 / (self.n as f64 * s)),
            _ => None,
        }
    }

    fn bytes(&self) -> Option<f64> {
        self.rate(|s| s.datagram_bytes_sent + s.stream_bytes_sent)
    }

    /// CPU seconds per member per minute.
    fn cpu_member_min(&self) -> Option<f64> {
        self.cpu_pct.map(|p| p / 100.0 * 60.0 / self.n as f64)
    }
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

fn close_into(row: &mut Row, nodes: Vec<Node>) {
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
fn start_members(
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
fn wait_lists(
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

fn run(n: usize, cfg: &Config, plan: &Plan) -> Row {
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
    let udp_err1 = udp_errors();
    let udp_diff = |a: Option<(u64, u64)>, b: Option<(u64, u64)>| match (a, b) {
        (Some(a), Some(b)) => Some((b.0.saturating_sub(a.0), b.1.saturating_sub(a.1))),
        _ => None,
    };
    row.udp_errors_join = udp_diff(udp_err0, udp_err1);

    // 3. Steady state: traffic, CPU and memory over a quiet window (no polling meanwhile), after
    // the join rumors have run their course (each is sent a bounded number of times).
    let settle0 = sum_stats(&nodes);
    let settle_t0 = Instant::now();
    std::thread::sleep(plan.settle);
    // Steady state means the join news has been spread: wait (bounded) until no member has a
    // rumor left to send, polling rarely so the wait itself costs little.
    let quiet_deadline = Instant::now() + QUIET_DEADLINE;
    let mut quiet = false;
    while Instant::now() < quiet_deadline {
        if nodes.iter().all(|n| n.pending_rumors() == 0) {
            quiet = true;
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    row.notes.push(format!(
        "steady state began {:.1} s after the lists were complete{}",
        settle_t0.elapsed().as_secs_f64(),
        if quiet {
            " (no member had a rumor left to send)"
        } else {
            " (rumors were still queued at the deadline)"
        }
    ));
    let before = sum_stats(&nodes);
    let settle_d = delta(&settle0, &before);
    row.settle_bytes = Some(
        (settle_d.datagram_bytes_sent + settle_d.stream_bytes_sent) as f64
            / n as f64
            / settle_t0.elapsed().as_secs_f64(),
    );
    let udp_err2 = udp_errors();
    let steady = plan.steady_for(n);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut mid = None;
    if plan.mode == Mode::Default {
        // A snapshot at half time too: it shows whether traffic is still settling.
        std::thread::sleep(steady / 2);
        mid = Some((sum_stats(&nodes), t0.elapsed().as_secs_f64()));
    }
    std::thread::sleep(steady.saturating_sub(t0.elapsed()));
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds();
    let after = sum_stats(&nodes);
    row.udp_errors_window = udp_diff(udp_err2, udp_errors());
    row.rss = rss_now_mib();
    // What of that is live data: glibc keeps freed memory (the join burst's) until asked.
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe { libc::malloc_trim(0) };
    row.notes.push(format!(
        "resident memory after malloc_trim (freed memory given back to the OS): {:.1} MiB",
        rss_now_mib().unwrap_or(f64::NAN)
    ));
    row.rss_peak = Some(rss_peak_mib());
    row.window_secs = Some(elapsed);
    let w = delta(&before, &after);
    row.window = Some(w);
    row.cpu_pct = Some((cpu1 - cpu0) / elapsed * 100.0);
    let per = n as f64 * elapsed;
    row.notes.push(format!(
        "steady {:.1} s: frames/member/s {:.2}, received bytes/member/s {:.1}, push-pulls/member/s {:.3}, \
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
    if let Some((mid, t_mid)) = mid {
        let half = |a: &StatsSnapshot, b: &StatsSnapshot, secs: f64| {
            (b.datagram_bytes_sent - a.datagram_bytes_sent) as f64 / n as f64 / secs
        };
        let halves = (
            half(&before, &mid, t_mid),
            half(&mid, &after, elapsed - t_mid),
        );
        row.halves = Some(halves);
        row.notes.push(format!(
            "datagram bytes/member/s: first half of the window {:.1}, second half {:.1}",
            halves.0, halves.1,
        ));
    }
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
         +-50%); over the {:.0} s window {:.2} exchanges (digests and push-pulls) per member, \
         {} bytes per exchange on average",
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
    let publisher = rng.gen_range(0..n);
    let mut payload = format!("bench N={n} from n{publisher} ").into_bytes();
    payload
        .extend((0..PAYLOAD_LEN.saturating_sub(payload.len())).map(|_| rng.gen_range(b'a'..=b'z')));
    let published = Instant::now();
    match nodes[publisher].publish(&payload) {
        Ok(()) => {
            let mut laggard = 0;
            row.publish = wait_for(published, Duration::from_millis(5), plan.deadline, || {
                while laggard < n && nodes[laggard].with_metadata(|m| m == Some(payload.as_slice()))
                {
                    laggard += 1;
                }
                laggard == n
            });
            if row.publish.is_none() {
                let missing = nodes
                    .iter()
                    .filter(|node| !node.with_metadata(|m| m == Some(payload.as_slice())))
                    .count();
                row.notes.push(format!(
                    "{missing} members never got the published metadata"
                ));
            }
        }
        Err(e) => row.notes.push(format!("publish failed: {e}")),
    }
    eprintln!(
        "bench: N={n}: publish reached all after {}",
        secs(row.publish)
    );

    // 5. Stop a random member; until no other member lists it.
    let victim = rng.gen_range(0..n);
    let victim_id = ids[victim];
    let others: Vec<usize> = (0..n).filter(|&i| i != victim).collect();
    let stopped = Instant::now();
    match nodes[victim].stop() {
        Ok(()) => {
            let mut order = others.clone();
            order.shuffle(&mut rng);
            let mut k = 0;
            row.gone = wait_for(stopped, Duration::from_millis(20), plan.deadline, || {
                while k < order.len()
                    && !nodes[order[k]]
                        .members()
                        .iter()
                        .any(|(id, _)| *id == victim_id)
                {
                    k += 1;
                }
                k == order.len()
            });
            if row.gone.is_none() {
                let still = others
                    .iter()
                    .filter(|&&i| nodes[i].members().iter().any(|(id, _)| *id == victim_id))
                    .count();
                row.notes.push(format!(
                    "{still} members still list the stopped n{victim} after {} s",
                    plan.deadline.as_secs()
                ));
            }
        }
        Err(e) => row.notes.push(format!("stop failed: {e}")),
    }
    eprintln!("bench: N={n}: stopped member gone after {}", secs(row.gone));

    close_into(&mut row, nodes);
    row
}

/// Just enough JSON to write the results by hand.
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Int(u64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    fn num(v: Option<f64>) -> Json {
        match v {
            Some(v) if v.is_finite() => Json::Num(v),
            _ => Json::Null,
        }
    }

    fn int(v: Option<u64>) -> Json {
        v.map_or(Json::Null, Json::Int)
    }

    fn secs(d: Option<Duration>) -> Json {
        Json::num(d.map(|d| d.as_secs_f64()))
    }

    fn ms(d: Option<Duration>) -> Json {
        Json::num(d.map(|d| d.as_secs_f64() * 1000.0))
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, k: usize| out.extend(std::iter::repeat_n(' ', k));
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            // Display of a finite f64 is plain decimal (never "1e21" or "inf"): valid JSON.
            Json::Num(v) => out.push_str(&v.to_string()),
            Json::Int(v) => out.push_str(&v.to_string()),
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Arr(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    pad(out, indent + 2);
                    item.write(out, indent + 2);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Obj(fields) => {
                out.push_str("{\n");
                for (i, (key, value)) in fields.iter().enumerate() {
                    pad(out, indent + 2);
                    Json::Str((*key).to_string()).write(out, indent + 2);
                    out.push_str(": ");
                    value.write(out, indent + 2);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

fn row_json(r: &Row) -> Json {
    let w = |f: fn(&StatsSnapshot) -> u64| Json::int(r.window.as_ref().map(f));
    let (close, close_min, close_median, close_max) = match r.close {
        Some((a, b, c, d)) => (Some(a), Some(b), Some(c), Some(d)),
        None => (None, None, None, None),
    };
    Json::Obj(vec![
        ("n", Json::Int(r.n as u64)),
        ("members_started", Json::Int(r.started as u64)),
        ("join_s", Json::secs(r.join)),
        ("lists_complete_s", Json::secs(r.lists)),
        ("lists_regressions", Json::Int(r.lists_regressions as u64)),
        ("settle_bytes_per_member_s", Json::num(r.settle_bytes)),
        ("steady_s", Json::num(r.window_secs)),
        ("cpu_percent_of_one_core", Json::num(r.cpu_pct)),
        ("cpu_s_per_member_per_min", Json::num(r.cpu_member_min())),
        ("rss_before_mib", Json::num(r.rss_before)),
        ("rss_mib", Json::num(r.rss)),
        ("rss_peak_mib", Json::num(r.rss_peak)),
        (
            "datagrams_per_member_s",
            Json::num(r.rate(|s| s.datagrams_sent)),
        ),
        ("bytes_per_member_s", Json::num(r.bytes())),
        (
            "datagram_bytes_per_member_s",
            Json::num(r.rate(|s| s.datagram_bytes_sent)),
        ),
        (
            "stream_bytes_per_member_s",
            Json::num(r.rate(|s| s.stream_bytes_sent)),
        ),
        (
            "anti_entropy_bytes_per_member_s",
            Json::num(r.rate(|s| s.anti_entropy_bytes_sent)),
        ),
        ("frames_per_member_s", Json::num(r.rate(|s| s.frames_sent))),
        (
            "received_bytes_per_member_s",
            Json::num(r.rate(|s| s.bytes_received)),
        ),
        (
            "push_pulls_per_member_s",
            Json::num(r.rate(|s| s.push_pulls)),
        ),
        (
            "datagram_bytes_per_member_s_first_half",
            Json::num(r.halves.map(|h| h.0)),
        ),
        (
            "datagram_bytes_per_member_s_second_half",
            Json::num(r.halves.map(|h| h.1)),
        ),
        ("window_dropped_auth", w(|s| s.dropped_auth)),
        ("window_dropped_malformed", w(|s| s.dropped_malformed)),
        ("window_dropped_too_large", w(|s| s.dropped_too_large)),
        ("window_dropped_queue_full", w(|s| s.dropped_queue_full)),
        ("window_send_errors", w(|s| s.send_errors)),
        ("window_connections_refused", w(|s| s.connections_refused)),
        ("open_fds", Json::int(r.fds.map(|c| c as u64))),
        (
            "kernel_udp_in_errors_until_lists_complete",
            Json::int(r.udp_errors_join.map(|e| e.0)),
        ),
        (
            "kernel_udp_rcvbuf_errors_until_lists_complete",
            Json::int(r.udp_errors_join.map(|e| e.1)),
        ),
        (
            "kernel_udp_in_errors_window",
            Json::int(r.udp_errors_window.map(|e| e.0)),
        ),
        (
            "kernel_udp_rcvbuf_errors_window",
            Json::int(r.udp_errors_window.map(|e| e.1)),
        ),
        (
            "complete_lists_after_window",
            Json::int(r.complete_after.map(|c| c.0 as u64)),
        ),
        (
            "shortest_list_after_window",
            Json::int(r.complete_after.map(|c| c.1 as u64)),
        ),
        ("publish_to_all_s", Json::secs(r.publish)),
        ("stopped_member_gone_s", Json::secs(r.gone)),
        ("close_all_s", Json::secs(close)),
        ("close_one_ms_min", Json::ms(close_min)),
        ("close_one_ms_median", Json::ms(close_median)),
        ("close_one_ms_max", Json::ms(close_max)),
        (
            "notes",
            Json::Arr(r.notes.iter().map(|s| Json::Str(s.clone())).collect()),
        ),
    ])
}

fn write_json(
    path: &str,
    plan: &Plan,
    cfg: &Config,
    cores: Option<usize>,
    nofile: u64,
    rows: &[Row],
    total: Duration,
) {
    let config = Json::Obj(vec![
        (
            "mode",
            Json::Str(
                match plan.mode {
                    Mode::Default => "default",
                    Mode::Large => "large",
                }
                .into(),
            ),
        ),
        (
            "sizes",
            Json::Arr(plan.sizes.iter().map(|&n| Json::Int(n as u64)).collect()),
        ),
        ("cycle_ms", Json::Int(cfg.cycle_ms.into())),
        ("timeout_ms", Json::Int(cfg.timeout_ms.into())),
        ("amount", Json::Int(cfg.amount.into())),
        (
            "protocol",
            Json::Str(
                match cfg.protocol {
                    Protocol::Udp => "UDP",
                    Protocol::Tcp => "TCP",
                }
                .into(),
            ),
        ),
        ("cores", Json::int(cores.map(|c| c as u64))),
        ("seeds", Json::Int(SEEDS as u64)),
        ("batch_size", Json::int(plan.batch.map(|b| b.0 as u64))),
        ("batch_interval_ms", Json::ms(plan.batch.map(|b| b.1))),
        ("settle_s", Json::secs(Some(plan.settle))),
        ("steady_s", Json::secs(Some(plan.steady))),
        (
            "steady_covers_anti_entropy_period",
            Json::Bool(plan.steady_covers_ae),
        ),
        ("deadline_s", Json::secs(Some(plan.deadline))),
        ("list_poll_ms", Json::ms(Some(plan.list_poll))),
        ("open_files_limit", Json::Int(nofile)),
        (
            "cpu_target_percent_of_one_core",
            Json::num((plan.mode == Mode::Large).then_some(CPU_TARGET_PCT)),
        ),
        (
            "rss_target_mib",
            Json::num((plan.mode == Mode::Large).then_some(RSS_TARGET_MIB)),
        ),
    ]);
    let doc = Json::Obj(vec![
        ("bench", Json::Str("pekonode".into())),
        ("config", config),
        ("results", Json::Arr(rows.iter().map(row_json).collect())),
        ("max_rss_mib", Json::num(Some(rss_peak_mib()))),
        ("total_run_s", Json::secs(Some(total))),
    ]);
    let mut out = String::new();
    doc.write(&mut out, 0);
    out.push('\n');
    if let Err(e) = std::fs::write(path, out) {
        eprintln!("bench: cannot write {path}: {e}");
    }
}

fn main() {
    let plan = parse_args();
    let (soft, hard) = raise_nofile();
    let cfg = Config {
        amount: AMOUNT,
        cycle_ms: plan.cycle_ms,
        timeout_ms: plan.timeout_ms,
        protocol: plan.protocol,
        ..Config::default()
    };
    let cfg = match cfg.resolve() {
        Ok(c) => c,
        Err(e) => usage(&format!("invalid configuration: {e}")),
    };
    let cores = std::thread::available_parallelism().ok().map(|n| n.get());
    let need = plan.sizes.iter().max().copied().unwrap_or(0) as u64 * 2 + 64;
    if soft < need {
        eprintln!(
            "bench: warning: open-files limit {soft} (hard {hard}) may be too low for {need} fds"
        );
    }

    let protocol = match cfg.protocol {
        Protocol::Udp => "UDP",
        Protocol::Tcp => "TCP",
    };
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

    let started = Instant::now();
    let mut rows = Vec::new();
    for &n in &plan.sizes {
        eprintln!("bench: N={n}: starting");
        rows.push(run(n, &cfg, &plan));
        // Rewritten after each N, so an interrupted run leaves what it measured.
        if let Some(path) = &plan.json {
            write_json(path, &plan, &cfg, cores, soft, &rows, started.elapsed());
        }
    }

    match plan.mode {
        Mode::Default => {
            println!("| N | lists complete (s) | publish to all (s) | datagrams/member/s | bytes/member/s | TCP bytes/member/s | CPU s/member/min | stopped member gone (s) |");
            println!("|---|---|---|---|---|---|---|---|");
            for r in &rows {
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.n,
                    secs(r.lists),
                    secs(r.publish),
                    fixed(r.rate(|s| s.datagrams_sent), 2),
                    fixed(r.bytes(), 1),
                    fixed(r.rate(|s| s.stream_bytes_sent), 1),
                    fixed(r.cpu_member_min(), 3),
                    secs(r.gone),
                );
            }
        }
        Mode::Large => {
            println!(
                "| N | lists complete (s) | CPU % of one core (target <= {CPU_TARGET_PCT:.0}) | \
                 RSS MiB (target <= {RSS_TARGET_MIB:.0}) | peak RSS MiB | datagrams/member/s | \
                 bytes/member/s | anti-entropy bytes/member/s |"
            );
            println!("|---|---|---|---|---|---|---|---|");
            for r in &rows {
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.n,
                    secs(r.lists),
                    against(r.cpu_pct, CPU_TARGET_PCT),
                    against(r.rss, RSS_TARGET_MIB),
                    fixed(r.rss_peak, 1),
                    fixed(r.rate(|s| s.datagrams_sent), 2),
                    fixed(r.bytes(), 1),
                    fixed(r.rate(|s| s.anti_entropy_bytes_sent), 1),
                );
            }
        }
    }
    println!();
    for r in &rows {
        for note in &r.notes {
            println!("- N={}: {note}", r.n);
        }
    }
    println!(
        "- max resident memory: {:.1} MiB; total run {:.1} s",
        rss_peak_mib(),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &plan.json {
        write_json(path, &plan, &cfg, cores, soft, &rows, started.elapsed());
        println!("- results written to {path}");
    }
}
