//! The Go pekonode compatibility mode's figures: a mixed cluster of Go nodes (played by
//! `tests/gopekonode/fixture`, built with `go build`) and members of ours in that mode, on
//! 127.0.0.1.
//!
//!     cargo run --release --example compat_bench -- [--go 5] [--ours 5] [--cycle MS]
//!                                                   [--timeout MS] [--steady SECS] [--tcp]
//!
//! Prints: the time from the first join until every list (theirs and ours) is complete; the
//! time until a publish by a Go node, then one by ours, is held by all; then, over a steady
//! window, what each member of ours sends per second (packets and bytes, as counted by the
//! library) next to what each Go node of the fixture sends. Defaults: 5 and 5, the
//! original's cycle scaled to 1 s (`--cycle 1000`), its default timeout (3 cycles + 2 s: 5 s),
//! a 30 s window, UDP. `--timeout` is the Go nodes'; ours take it, or 5 cycles when that is
//! longer (the least `Node::new` accepts), as the README's migration steps say. Go is `$GO`, or
//! `go` on the PATH.

#[path = "../tests/gopekonode/harness.rs"]
mod harness;

use harness::{Fixture, Timing};
use pekonode::{Attributes, Config, Node, Protocol};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Args {
    go: usize,
    ours: usize,
    cycle_ms: u32,
    timeout_ms: u32,
    /// Ours: `timeout_ms`, or 5 cycles when that is longer.
    ours_timeout_ms: u32,
    steady_s: u64,
    tcp: bool,
}

fn args() -> Args {
    let mut a = Args {
        go: 5,
        ours: 5,
        cycle_ms: 1000,
        timeout_ms: 0,
        ours_timeout_ms: 0,
        steady_s: 30,
        tcp: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |what: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{what} needs a number")))
        };
        match flag.as_str() {
            "--go" => a.go = num("--go") as usize,
            "--ours" => a.ours = num("--ours") as usize,
            "--cycle" => a.cycle_ms = num("--cycle") as u32,
            "--timeout" => a.timeout_ms = num("--timeout") as u32,
            "--steady" => a.steady_s = num("--steady"),
            "--tcp" => a.tcp = true,
            other => usage(&format!("unknown option {other}")),
        }
    }
    if a.go == 0 || a.ours == 0 {
        usage("--go and --ours must be at least 1");
    }
    if a.timeout_ms == 0 {
        // The original's default: 3 cycles + 2 s (in seconds there).
        a.timeout_ms = a.cycle_ms.saturating_mul(3).saturating_add(2000);
    }
    a.ours_timeout_ms = a.timeout_ms.max(a.cycle_ms.saturating_mul(5));
    a
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "compat_bench: {msg}\nusage: compat_bench [--go N] [--ours N] [--cycle MS] [--timeout MS] \
         [--steady SECS] [--tcp]"
    );
    std::process::exit(2)
}

/// Polls `cond` every 20 ms for up to `limit`; the time it took.
fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("timeout".into(), |d| format!("{:.3} s", d.as_secs_f64()))
}

fn main() {
    let a = args();
    let limit = Duration::from_millis(60 * a.timeout_ms as u64).max(Duration::from_secs(60));
    let t = Timing {
        cycle_ms: a.cycle_ms,
        timeout_ms: a.timeout_ms,
        life_s: (limit.as_secs() * 3 + a.steady_s + 60) as u32,
    };
    let dir = std::env::temp_dir().join("pekonode-compat-bench");
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let proto = if a.tcp { "tcp" } else { "udp" };
    let start = Instant::now();
    let Some(mut go) = Fixture::start(dir.to_str().unwrap(), a.go, proto, "bench", &t) else {
        eprintln!("compat_bench: needs Go to build the fixture (PEKO_SKIP_GO_FIXTURE is set)");
        std::process::exit(1);
    };
    let ours: Vec<Node> = (0..a.ours)
        .map(|i| {
            let cfg = Config {
                cycle_ms: a.cycle_ms,
                timeout_ms: a.ours_timeout_ms,
                protocol: if a.tcp { Protocol::Tcp } else { Protocol::Udp },
                secret_key: Some("bench".into()),
                ..Config::default()
            };
            let n = Node::new(
                cfg,
                "127.0.0.1:0".parse().unwrap(),
                Attributes {
                    name: format!("ours-{i}"),
                    private_data: String::new(),
                },
            )
            .expect("new");
            n.set_go_compat(true).expect("compat");
            n.set(go.id(i % a.go), Attributes::default()).expect("set");
            n.join().expect("join");
            n
        })
        .collect();
    let mut everyone: Vec<SocketAddr> = go.ids();
    everyone.extend(ours.iter().map(|n| n.local_id()));
    let complete = |go: &mut Fixture| {
        ours.iter().all(|n| {
            let have: Vec<SocketAddr> = n.members().into_iter().map(|(id, _)| id).collect();
            everyone.iter().all(|id| have.contains(id))
        }) && go
            .dump()
            .iter()
            .all(|v| everyone.iter().all(|id| v.lists(*id)))
    };
    let lists = wait(limit, || complete(&mut go)).map(|_| start.elapsed());
    println!(
        "mixed cluster: {} Go nodes (fixture) + {} of ours, {proto}, cycle {} ms, timeout {} ms \
         (ours {} ms)",
        a.go, a.ours, a.cycle_ms, a.timeout_ms, a.ours_timeout_ms
    );
    println!("every list complete, from the start: {}", secs(lists));

    let holds = |go: &mut Fixture, want: &[u8]| {
        ours.iter().all(|n| n.with_metadata(|d| d == Some(want)))
            && go.dump().iter().all(|v| v.meta == want)
    };
    go.command("publish 0 from-go");
    let from_go = wait(limit, || holds(&mut go, b"from-go"));
    println!("a Go node's publish held by all: {}", secs(from_go));
    ours[0].publish(b"from-ours").expect("publish");
    let from_ours = wait(limit, || holds(&mut go, b"from-ours"));
    println!("a publish of ours held by all: {}", secs(from_ours));

    let before: Vec<(u64, u64)> = ours.iter().map(sent).collect();
    let go_before = go_sent(&mut go);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(a.steady_s));
    let window = t0.elapsed().as_secs_f64();
    let after: Vec<(u64, u64)> = ours.iter().map(sent).collect();
    let go_after = go_sent(&mut go);
    let (mut packets, mut bytes) = (0u64, 0u64);
    for (b, f) in before.iter().zip(&after) {
        packets += f.0 - b.0;
        bytes += f.1 - b.1;
    }
    let per = |x: u64| x as f64 / window / a.ours as f64;
    let go_per = |x: u64| x as f64 / window / a.go as f64;
    println!(
        "steady {:.0} s, sent per member per second: ours {:.2} packets, {:.0} bytes; the Go \
         nodes {:.2} packets, {:.0} bytes",
        window,
        per(packets),
        per(bytes),
        go_per(go_after.0 - go_before.0),
        go_per(go_after.1 - go_before.1),
    );
    drop(ours);
    drop(go);
}

/// The Go nodes' packets and bytes sent, all together.
fn go_sent(go: &mut Fixture) -> (u64, u64) {
    go.dump()
        .iter()
        .fold((0, 0), |(p, b), v| (p + v.sent, b + v.sent_bytes))
}

fn sent(n: &Node) -> (u64, u64) {
    let c = n.counters();
    (c.packets_sent, c.bytes_sent)
}
