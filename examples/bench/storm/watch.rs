//! The storm's watcher: one thread that, from the first join to the end of the run, drains every
//! member's events (so no queue overflows, and every FAILED or LEFT said about a live member is
//! counted) and, while asked to, counts how many members each list holds (the storm's time
//! series).

use pekonode::driver::events::Kind as EventKind;
use pekonode::Node;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Time between two sweeps over every member's event queue. The queue holds 1024 events; even
/// a seed learning of every joiner gets far fewer than that in this time.
const DRAIN_EVERY: Duration = Duration::from_millis(100);
/// How many false FAILED events are kept with who said it and when (for the notes).
const EXAMPLES: usize = 8;

/// One poll of every list during the storm.
#[derive(Clone, Copy, Serialize)]
pub struct Point {
    /// Seconds since the first member was created.
    pub t: f64,
    /// Members created and joined so far.
    pub started: usize,
    /// Members whose list holds all N.
    pub complete: usize,
    /// Mean over the started members of (members listed / N), self included.
    pub mean_listed: f64,
    /// FAILED events about live members so far.
    pub false_failed: u64,
}

/// A FAILED event about a live member: who reported it, about whom, when (s since first join).
pub struct FalseFailure {
    pub observer: usize,
    pub subject: usize,
    pub t: f64,
}

/// What the thread found besides the counters: read after it ends.
#[derive(Default)]
pub struct Summary {
    pub series: Vec<Point>,
    pub examples: Vec<FalseFailure>,
    /// Live members that some member reported FAILED, and members that reported one.
    pub subjects: usize,
    pub observers: usize,
    pub polls: usize,
    /// Wall time the polls took, all together.
    pub poll_secs: f64,
    /// Events drained, all kinds.
    pub events: u64,
}

/// Shared between the run (which starts members, flips the switches and reads the counters) and
/// the watcher thread.
pub struct Watch<'a> {
    slots: &'a [OnceLock<Node>],
    first_join: Instant,
    poll_every: Duration,
    /// Count the lists at every poll interval.
    pub polling: AtomicBool,
    /// Set when the last member has joined; complete lists are timed from then.
    pub last_join: OnceLock<Instant>,
    /// The first poll after the last join that found every list complete: its end, from the
    /// last join.
    pub complete: OnceLock<Duration>,
    /// The member about to be stopped: FAILED about it is expected, and what it reports after
    /// it stopped is not the cluster's view.
    pub stopped: Mutex<Option<usize>>,
    pub stop: AtomicBool,
    pub false_failed: AtomicU64,
    pub false_left: AtomicU64,
    /// Sum of the `lost` every delivered event carries: events the queues dropped.
    pub lost: AtomicU64,
}

impl<'a> Watch<'a> {
    pub fn new(slots: &'a [OnceLock<Node>], first_join: Instant, poll_every: Duration) -> Self {
        Watch {
            slots,
            first_join,
            poll_every,
            polling: AtomicBool::new(false),
            last_join: OnceLock::new(),
            complete: OnceLock::new(),
            stopped: Mutex::new(None),
            stop: AtomicBool::new(false),
            false_failed: AtomicU64::new(0),
            false_left: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }

    pub fn false_failed(&self) -> u64 {
        self.false_failed.load(Ordering::Relaxed)
    }

    pub fn false_left(&self) -> u64 {
        self.false_left.load(Ordering::Relaxed)
    }

    /// The thread's body: sweeps until `stop`.
    pub fn run(&self) -> Summary {
        let mut sum = Summary::default();
        let mut index: HashMap<SocketAddr, usize> = HashMap::new();
        let mut subjects = HashSet::new();
        let mut observers = HashSet::new();
        let mut next_poll = self.first_join;
        while !self.stop.load(Ordering::Relaxed) {
            let sweep = Instant::now();
            // Members are created in order: learn the ids of those started since the last sweep.
            while let Some(node) = self.slots.get(index.len()).and_then(|s| s.get()) {
                index.insert(node.local_id(), index.len());
            }
            let stopped = *self.stopped.lock().unwrap();
            for (observer, node) in self.slots.iter().map_while(|s| s.get()).enumerate() {
                while let Ok(Some(e)) = node.next_event(Duration::ZERO) {
                    sum.events += 1;
                    self.lost.fetch_add(e.lost, Ordering::Relaxed);
                    let subject = index.get(&e.member).copied();
                    let live = subject.is_some() && subject != stopped;
                    if !live || stopped == Some(observer) {
                        continue;
                    }
                    match e.kind {
                        EventKind::Failed => {
                            self.false_failed.fetch_add(1, Ordering::Relaxed);
                            subjects.insert(subject);
                            observers.insert(observer);
                            if sum.examples.len() < EXAMPLES {
                                sum.examples.push(FalseFailure {
                                    observer,
                                    subject: subject.unwrap_or(usize::MAX),
                                    t: self.first_join.elapsed().as_secs_f64(),
                                });
                            }
                        }
                        EventKind::Left => {
                            self.false_left.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
            }
            if self.polling.load(Ordering::Relaxed) && Instant::now() >= next_poll {
                // On a fixed schedule: the sweeps come every `DRAIN_EVERY` from their start,
                // and a poll due `poll_every` after this one would often miss the next sweep
                // by the time this one took.
                next_poll = (next_poll + self.poll_every).max(Instant::now());
                let point = self.poll(&mut sum);
                sum.series.push(point);
            }
            std::thread::sleep(DRAIN_EVERY.saturating_sub(sweep.elapsed()));
        }
        sum.subjects = subjects.len();
        sum.observers = observers.len();
        sum
    }

    /// Counts every started member's list. A member's list is complete when it holds N members
    /// (itself included): every member is one of ours, on 127.0.0.1, so the count is the test
    /// (the run confirms with the ids once, when the counts say complete).
    fn poll(&self, sum: &mut Summary) -> Point {
        let n = self.slots.len();
        let t0 = Instant::now();
        let (mut started, mut complete, mut listed) = (0, 0, 0.0);
        for node in self.slots.iter().map_while(|s| s.get()) {
            let c = node.counters();
            // The local member counts as alive.
            let holds = (c.members_alive + c.members_suspect) as usize;
            started += 1;
            complete += usize::from(holds == n);
            listed += holds as f64 / n as f64;
        }
        let now = Instant::now();
        sum.polls += 1;
        sum.poll_secs += (now - t0).as_secs_f64();
        if complete == n {
            if let Some(last) = self.last_join.get() {
                let _ = self.complete.set(now - *last);
            }
        }
        Point {
            t: (now - self.first_join).as_secs_f64(),
            started,
            complete,
            mean_listed: if started > 0 {
                listed / started as f64
            } else {
                0.0
            },
            false_failed: self.false_failed(),
        }
    }
}
