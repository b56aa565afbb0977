//! The command line: which mode, which sizes, and the timings each mode defaults to.

use crate::AMOUNT;
use pekonode::Protocol;
use std::process::exit;
use std::time::Duration;

/// `--large`: members started per batch, and the time from one batch's start to the next.
pub const LARGE_BATCH: usize = 50;
pub const LARGE_BATCH_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Default,
    Large,
    /// `--storm`: all N started back to back, then the issue-11 figures (see `storm`).
    Storm,
}

/// What to run; the defaults depend on the mode.
pub struct Plan {
    pub mode: Mode,
    pub sizes: Vec<usize>,
    pub cycle_ms: u32,
    pub timeout_ms: u32,
    /// The quiet window over which traffic, CPU and memory are measured.
    pub steady: Duration,
    /// Stretch the window to at least one anti-entropy period at N (the library's mean period,
    /// jittered +-50% per member), so the anti-entropy figure is measured over exchanges that
    /// happened rather than a window too short to see one (large mode, unless --steady).
    pub steady_covers_ae: bool,
    /// Time between complete lists and the steady window: the join storm's rumors die out.
    pub settle: Duration,
    /// How long any convergence step may take before it is reported as "timeout".
    pub deadline: Duration,
    /// Time between two polls of the member lists while waiting for them to be complete.
    pub list_poll: Duration,
    /// Start members in batches of this many, one batch per interval (None: all at once).
    pub batch: Option<(usize, Duration)>,
    pub protocol: Protocol,
    pub json: Option<String>,
    /// `--overload` (default mode's timings, N = 200): the scenario in `overload.rs` instead.
    pub overload: bool,
    /// `--overload`: threads that spin in this process, for how long, and how long to watch after.
    pub spin_threads: usize,
    pub spin: Duration,
    pub after: Duration,
    /// `--storm --storm-phase`: stop once the lists are complete and print what the storm took
    /// (the A/B runs of a change to the storm; no settle, window, publish or stop).
    pub storm_phase: bool,
    /// `--secret S`: every member configured with this secret key (frames sealed).
    pub secret: Option<String>,
}

pub fn usage(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    eprintln!(
        "usage: bench [--sizes 50,100,200] [--cycle MS] [--timeout MS] [--steady SECS] \
         [--settle SECS] [--tcp] [--secret KEY] [--large | --storm [--storm-phase]] [--json FILE]\n       \
         bench --overload [--sizes 200] [--settle SECS] [--spin-secs 30] [--spin-threads 2] \
         [--after-secs 30] [--json FILE]"
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

fn parse_sizes(v: &str) -> Vec<usize> {
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
    list
}

pub fn parse_args() -> Plan {
    let mut large = false;
    let mut overload = false;
    let mut spin_threads = 2usize;
    let mut spin = Duration::from_secs(30);
    let mut after = Duration::from_secs(30);
    let mut storm = false;
    let mut storm_phase = false;
    let mut secret: Option<String> = None;
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
            "--sizes" => sizes = Some(parse_sizes(&value("--sizes"))),
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
            "--overload" => overload = true,
            "--spin-secs" => spin = positive_secs(&value("--spin-secs"), "--spin-secs"),
            "--after-secs" => after = positive_secs(&value("--after-secs"), "--after-secs"),
            "--spin-threads" => {
                spin_threads = value("--spin-threads")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --spin-threads"))
            }
            "--storm" => storm = true,
            "--storm-phase" => storm_phase = true,
            "--secret" => secret = Some(value("--secret")),
            "--json" => json = Some(value("--json")),
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if [large, storm, overload].iter().filter(|m| **m).count() > 1 {
        usage("--large, --storm and --overload are different runs: pick one");
    }
    if storm_phase && !storm {
        usage("--storm-phase goes with --storm");
    }
    if storm {
        Plan {
            mode: Mode::Storm,
            sizes: sizes.unwrap_or_else(|| vec![1000]),
            cycle_ms: cycle_ms.unwrap_or(200),
            timeout_ms: timeout_ms.unwrap_or(5000),
            steady_covers_ae: false,
            steady: steady.unwrap_or(Duration::from_secs(180)),
            settle: settle.unwrap_or(Duration::from_secs(10)),
            // Today's core takes tens of seconds at N = 1000: the deadline leaves room to
            // measure how far it is from the target rather than give up.
            deadline: Duration::from_secs(300),
            // Every member's list at each poll, on each of the watcher's sweeps (every 100 ms):
            // about 1-5 ms at N = 1,000 (the run prints what each poll took), a few percent of
            // one core at most. Finer than the 500 ms `--large` polls at, so that the time to
            // complete lists is measured to within about a sweep.
            list_poll: Duration::from_millis(100),
            batch: None,
            protocol,
            json,
            overload: false,
            spin_threads,
            spin,
            after,
            storm_phase,
            secret: secret.clone(),
        }
    } else if large {
        Plan {
            mode: Mode::Large,
            sizes: sizes.unwrap_or_else(|| vec![1000]),
            cycle_ms: cycle_ms.unwrap_or(1000),
            // 0: the library's default, 5000 ms or 10 x cycle_ms when that is longer (10 s at
            // the 1 s cycle).
            timeout_ms: timeout_ms.unwrap_or(0),
            steady_covers_ae: steady.is_none(),
            steady: steady.unwrap_or(Duration::from_secs(30)),
            settle: settle.unwrap_or(Duration::from_secs(10)),
            deadline: Duration::from_secs(180),
            list_poll: Duration::from_millis(500),
            batch: Some((LARGE_BATCH, LARGE_BATCH_EVERY)),
            protocol,
            json,
            overload,
            spin_threads,
            spin,
            after,
            storm_phase: false,
            secret: secret.clone(),
        }
    } else {
        Plan {
            mode: Mode::Default,
            sizes: sizes.unwrap_or_else(|| match overload {
                true => vec![200],
                false => vec![50, 100, 200],
            }),
            cycle_ms: cycle_ms.unwrap_or(200),
            // What the library's default (0) comes to at a 200 ms cycle: 5000 ms.
            timeout_ms: timeout_ms.unwrap_or(5000),
            steady_covers_ae: false,
            steady: steady.unwrap_or(Duration::from_secs(20)),
            settle: settle.unwrap_or(Duration::from_secs(5)),
            deadline: Duration::from_secs(60),
            list_poll: Duration::from_millis(20),
            batch: None,
            protocol,
            json,
            overload,
            spin_threads,
            spin,
            after,
            storm_phase: false,
            secret: secret.clone(),
        }
    }
}

impl Plan {
    /// The library's mean anti-entropy period for N members.
    pub fn ae_period(&self, n: usize) -> Duration {
        let timing = pekonode::proto::Timing::new(self.cycle_ms, self.timeout_ms, AMOUNT as usize);
        Duration::from_millis(timing.push_pull_for(n))
    }

    /// The steady window for N members.
    pub fn steady_for(&self, n: usize) -> Duration {
        if self.steady_covers_ae {
            self.steady.max(self.ae_period(n))
        } else {
            self.steady
        }
    }
}
