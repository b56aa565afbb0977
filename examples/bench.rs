//! Cluster benchmark: N members in one process on 127.0.0.1, one cluster size after another.
//!
//!     cargo run --release --example bench -- [--sizes 50,100,200] [--cycle MS] [--timeout MS]
//!                                            [--steady SECS] [--tcp]
//!
//! For each N: time until every member lists all N, steady-state traffic and CPU per member,
//! time for a published metadata blob to reach everyone, and time until a stopped member is
//! dropped by all others. Anything that does not converge before its deadline prints "timeout".

use pekonode::{Attributes, Config, Node, Protocol, StatsSnapshot};
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::exit;
use std::time::{Duration, Instant};

/// Time between convergence and the steady-state window: the join storm's rumors die out.
const SETTLE: Duration = Duration::from_secs(5);

/// How long any convergence step may take before it is reported as "timeout".
const DEADLINE: Duration = Duration::from_secs(60);
/// How many of the first members serve as seeds.
const SEEDS: usize = 3;
const AMOUNT: u32 = 3;
const PAYLOAD_LEN: usize = 300;

struct Args {
    sizes: Vec<usize>,
    cycle_ms: u32,
    timeout_ms: u32,
    steady: Duration,
    protocol: Protocol,
}

fn usage(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    eprintln!(
        "usage: bench [--sizes 50,100,200] [--cycle MS] [--timeout MS] [--steady SECS] [--tcp]"
    );
    exit(2);
}

fn parse_args() -> Args {
    let mut a = Args {
        sizes: vec![50, 100, 200],
        cycle_ms: 200,
        // peko_config_default's timeout: the library's defaults with a faster cycle.
        timeout_ms: 5000,
        steady: Duration::from_secs(20),
        protocol: Protocol::Udp,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match flag.as_str() {
            "--sizes" => {
                let v = value("--sizes");
                a.sizes = v
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
                if a.sizes.is_empty() {
                    usage("--sizes is empty");
                }
            }
            "--cycle" => {
                a.cycle_ms = value("--cycle")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --cycle"))
            }
            "--timeout" => {
                a.timeout_ms = value("--timeout")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --timeout"))
            }
            "--steady" => {
                let secs: f64 = value("--steady")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --steady"));
                if !(secs > 0.0 && secs.is_finite()) {
                    usage("--steady must be positive");
                }
                a.steady = Duration::from_secs_f64(secs);
            }
            "--tcp" => a.protocol = Protocol::Tcp,
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    a
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

/// Polls `cond` every `every` until it holds or DEADLINE passes; the time it took from `since`.
fn wait_for(since: Instant, every: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    loop {
        if cond() {
            return Some(since.elapsed());
        }
        if since.elapsed() > DEADLINE {
            return None;
        }
        std::thread::sleep(every);
    }
}

fn lists_all(node: &Node, want: &HashSet<SocketAddr>) -> bool {
    let members = node.members();
    members.len() == want.len() && members.iter().all(|(id, _)| want.contains(id))
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
    }
    t
}

fn secs(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.3}", d.as_secs_f64()),
        None => "timeout".into(),
    }
}

#[derive(Default)]
struct Row {
    n: usize,
    lists: Option<Duration>,
    publish: Option<Duration>,
    datagrams: f64,
    bytes: f64,
    stream_bytes: f64,
    cpu: f64,
    gone: Option<Duration>,
    notes: Vec<String>,
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

fn run(n: usize, cfg: &Config, steady: Duration) -> Row {
    let mut row = Row {
        n,
        ..Row::default()
    };
    let mut rng = rand::thread_rng();

    // 1. Create and join; each later member is told about (up to) the first SEEDS members.
    let created = Instant::now();
    let mut nodes: Vec<Node> = Vec::with_capacity(n);
    let mut ids: Vec<SocketAddr> = Vec::with_capacity(n);
    for i in 0..n {
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
                close_all(nodes);
                return row;
            }
        };
        for seed in ids.iter().take(SEEDS) {
            node.set(*seed, Attributes::default()).expect("set a seed");
        }
        ids.push(node.local_id());
        nodes.push(node);
    }
    let last_join = Instant::now();
    row.notes.push(format!(
        "created and joined {n} members in {:.3} s",
        (last_join - created).as_secs_f64()
    ));
    let all: HashSet<SocketAddr> = ids.iter().copied().collect();
    assert_eq!(all.len(), n, "two members got the same id");

    // 2. Until every member lists all N.
    let mut laggard = 0;
    row.lists = wait_for(last_join, Duration::from_millis(20), || {
        // Resume from the first member not yet complete: earlier ones were checked already,
        // and members do not disappear from a healthy cluster.
        while laggard < n && lists_all(&nodes[laggard], &all) {
            laggard += 1;
        }
        laggard == n
    });
    if row.lists.is_none() {
        let incomplete: Vec<String> = nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| !lists_all(node, &all))
            .map(|(i, node)| format!("n{i}:{}", node.members().len()))
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
    eprintln!("bench: N={n}: lists complete after {}", secs(row.lists));

    // 3. Steady state: traffic and CPU over a quiet window (no polling meanwhile), after the
    // join rumors have run their course (each is sent a bounded number of times).
    std::thread::sleep(SETTLE);
    let before = sum_stats(&nodes);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    // A snapshot at half time too: it shows whether traffic is still settling (join rumors).
    std::thread::sleep(steady / 2);
    let mid = sum_stats(&nodes);
    let t_mid = t0.elapsed().as_secs_f64();
    std::thread::sleep(steady.saturating_sub(t0.elapsed()));
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds();
    let after = sum_stats(&nodes);
    let per = (n as f64) * elapsed;
    let d = |f: fn(&StatsSnapshot) -> u64| f(&after).saturating_sub(f(&before)) as f64;
    row.datagrams = d(|s| s.datagrams_sent) / per;
    row.bytes = (d(|s| s.datagram_bytes_sent) + d(|s| s.stream_bytes_sent)) / per;
    row.stream_bytes = d(|s| s.stream_bytes_sent) / per;
    row.cpu = (cpu1 - cpu0) / n as f64 / (elapsed / 60.0);
    row.notes.push(format!(
        "steady {:.1} s: frames/member/s {:.2}, received bytes/member/s {:.1}, push-pulls/member/s {:.3}, \
         dropped (auth {}, malformed {}, too large {}, queue full {}), send errors {}, connections refused {}",
        elapsed,
        d(|s| s.frames_sent) / per,
        d(|s| s.bytes_received) / per,
        d(|s| s.push_pulls) / per,
        d(|s| s.dropped_auth),
        d(|s| s.dropped_malformed),
        d(|s| s.dropped_too_large),
        d(|s| s.dropped_queue_full),
        d(|s| s.send_errors),
        d(|s| s.connections_refused),
    ));
    row.notes.push(format!(
        "open fds in the process at the end of the window: {} (limit {})",
        open_fds().map_or("?".into(), |c| c.to_string()),
        raise_nofile().0,
    ));
    let half = |a: &StatsSnapshot, b: &StatsSnapshot, secs: f64| {
        (b.datagram_bytes_sent - a.datagram_bytes_sent) as f64 / n as f64 / secs
    };
    row.notes.push(format!(
        "datagram bytes/member/s: first half of the window {:.1}, second half {:.1}",
        half(&before, &mid, t_mid),
        half(&mid, &after, elapsed - t_mid),
    ));
    eprintln!("bench: N={n}: steady state measured");

    // 4. Publish a few hundred bytes from a random member; until every member has them.
    let publisher = rng.gen_range(0..n);
    let mut payload = format!("bench N={n} from n{publisher} ").into_bytes();
    payload
        .extend((0..PAYLOAD_LEN.saturating_sub(payload.len())).map(|_| rng.gen_range(b'a'..=b'z')));
    let published = Instant::now();
    match nodes[publisher].publish(&payload) {
        Ok(()) => {
            let mut laggard = 0;
            row.publish = wait_for(published, Duration::from_millis(5), || {
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
            row.gone = wait_for(stopped, Duration::from_millis(20), || {
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
                    DEADLINE.as_secs()
                ));
            }
        }
        Err(e) => row.notes.push(format!("stop failed: {e}")),
    }
    eprintln!("bench: N={n}: stopped member gone after {}", secs(row.gone));

    let closing = Instant::now();
    let took = close_all(nodes);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    row.notes.push(format!(
        "closed all in {:.3} s (16 threads); one close() took min {:.0} / median {:.0} / max {:.0} ms",
        closing.elapsed().as_secs_f64(),
        ms(took[0]),
        ms(took[took.len() / 2]),
        ms(took[took.len() - 1]),
    ));
    row
}

fn main() {
    let args = parse_args();
    let (soft, hard) = raise_nofile();
    let cfg = Config {
        amount: AMOUNT,
        cycle_ms: args.cycle_ms,
        timeout_ms: args.timeout_ms,
        protocol: args.protocol,
        ..Config::default()
    };
    let cfg = match cfg.resolve() {
        Ok(c) => c,
        Err(e) => usage(&format!("invalid configuration: {e}")),
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    let need = args.sizes.iter().max().copied().unwrap_or(0) as u64 * 2 + 64;
    if soft < need {
        eprintln!(
            "bench: warning: open-files limit {soft} (hard {hard}) may be too low for {need} fds"
        );
    }

    println!(
        "pekonode bench: cycle_ms = {}, timeout_ms = {}, amount = {}, protocol = {}, cores = {}, \
         steady = {:.1} s, loopback 127.0.0.1, one process",
        cfg.cycle_ms,
        cfg.timeout_ms,
        cfg.amount,
        match cfg.protocol {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
        },
        cores,
        args.steady.as_secs_f64(),
    );
    println!();

    let started = Instant::now();
    let mut rows = Vec::new();
    for &n in &args.sizes {
        eprintln!("bench: N={n}: starting");
        rows.push(run(n, &cfg, args.steady));
    }

    println!("| N | lists complete (s) | publish to all (s) | datagrams/member/s | bytes/member/s | TCP bytes/member/s | CPU s/member/min | stopped member gone (s) |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.1} | {:.1} | {:.3} | {} |",
            r.n,
            secs(r.lists),
            secs(r.publish),
            r.datagrams,
            r.bytes,
            r.stream_bytes,
            r.cpu,
            secs(r.gone),
        );
    }
    println!();
    for r in &rows {
        for note in &r.notes {
            println!("- N={}: {note}", r.n);
        }
    }
    let maxrss_kb = rusage().ru_maxrss;
    println!(
        "- max resident memory: {:.1} MiB; total run {:.1} s",
        maxrss_kb as f64 / 1024.0,
        started.elapsed().as_secs_f64()
    );
}
