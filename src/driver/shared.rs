//! The state one node's background tasks and its `Node` handle share, and the one way to drive
//! the core: `with_core` runs a step, then sends what the step produced and queues its events.

use super::events::Events;
use super::stats::Stats;
use super::stream;
use crate::compat::CompatCore;
use crate::config::Config;
use crate::log::Logger;
use crate::proto::{Core, Event, Outgoing};
use crate::wire;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) struct Shared {
    pub(super) core: Mutex<Core>,
    pub(super) cfg: Config,
    /// The keyring, sealing mode, label and replay window: swapped whole on a change, so each
    /// frame is sealed or opened under one consistent set (`key`).
    keys: RwLock<Arc<wire::Key>>,
    pub(crate) stats: Stats,
    pub(crate) log: Logger,
    pub(super) epoch: Instant,
    /// The bound UDP socket, from `join` until `close`.
    pub(super) udp: Mutex<Option<Arc<UdpSocket>>>,
    pub(super) pool: stream::Pool,
    /// Wakes the timer loop early (a publish, a start, an update: news to send now).
    pub(super) wake: Notify,
    pub(super) events: Events,
    /// Stops receiving, ticking and accepting.
    pub(super) soft_stop: CancellationToken,
    /// Stops the writers too (after they had a moment to flush).
    pub(super) hard_stop: CancellationToken,
    pub(super) tracker: TaskTracker,
    /// The Go pekonode compatibility core, set at `join` when that mode was chosen; the native
    /// core then only keeps the local member's address (`driver::compat`).
    pub(super) compat: OnceLock<Mutex<CompatCore>>,
    /// The compatibility mode's outbound TCP connections in flight (`compat::TCP_SENDS_MAX`).
    pub(super) compat_sends: Arc<Semaphore>,
}

/// What one step of the core produced: messages to send and events to report.
pub(super) struct Produced {
    out: Vec<Outgoing>,
    events: Vec<Event>,
}

/// The core's lock; a panic elsewhere while holding it does not make the node unusable.
pub(super) fn lock(m: &Mutex<Core>) -> MutexGuard<'_, Core> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Wall-clock nanoseconds since the epoch: the Go original's metadata version (`compat`).
pub(super) fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

/// Wall-clock milliseconds, for the metadata's hybrid logical clock and the core's seed.
pub(super) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Shared {
    pub(super) fn new(core: Core, cfg: Config, log: Logger) -> Shared {
        Shared {
            core: Mutex::new(core),
            keys: RwLock::new(Arc::new(
                wire::Key::new(cfg.secret_key.as_deref()).with_window(
                    crate::proto::Timing::new(cfg.cycle_ms, cfg.timeout_ms, cfg.amount as usize)
                        .probe_interval,
                ),
            )),
            cfg,
            stats: Stats::default(),
            log,
            epoch: Instant::now(),
            udp: Mutex::new(None),
            pool: stream::Pool::default(),
            wake: Notify::new(),
            events: Events::new(),
            soft_stop: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
            compat: OnceLock::new(),
            compat_sends: Arc::new(Semaphore::new(super::compat::TCP_SENDS_MAX)),
        }
    }

    /// The keys and settings frames are sealed and opened with now.
    pub(super) fn key(&self) -> Arc<wire::Key> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes the keys and settings with `f`; nothing changes when it fails.
    pub(super) fn change_key<R, E>(
        &self,
        f: impl FnOnce(&mut wire::Key) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let mut k = wire::Key::clone(&keys);
        let r = f(&mut k)?;
        *keys = Arc::new(k);
        Ok(r)
    }

    /// The core's clock: milliseconds since this node was created.
    pub(super) fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub(super) fn udp_socket(&self) -> Option<Arc<UdpSocket>> {
        self.udp.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn set_udp_socket(&self, sock: Option<Arc<UdpSocket>>) {
        *self.udp.lock().unwrap_or_else(|e| e.into_inner()) = sock;
    }

    /// Runs `f` on the core, then sends what it produced and logs what happened.
    pub(super) fn with_core<R>(self: &Arc<Self>, f: impl FnOnce(&mut Core, u64) -> R) -> R {
        let (r, produced) = self.step(f);
        self.deliver(produced);
        r
    }

    /// Runs `f` on the core under its lock, queues the events it produced for the user, and
    /// collects what is left to do (send, log) once the caller holds no lock of its own either
    /// (`Node::join` holds one around the step).
    ///
    /// The events are queued before the core's lock is released: several threads step the core
    /// (the receive and timer tasks, API calls), and a step that queued after releasing it could
    /// be overtaken by the next one's events (a FAILED before the JOINED that preceded it).
    /// Queueing reaches no host code (the queue only signals its descriptor and condition).
    pub(super) fn step<R>(&self, f: impl FnOnce(&mut Core, u64) -> R) -> (R, Produced) {
        let mut core = lock(&self.core);
        let now = self.now();
        let r = f(&mut core, now);
        // The step left work due now (news to pass on at once): the tick loop may be asleep
        // until a later deadline.
        if core.is_running() && core.next_wake() <= now {
            self.wake.notify_one();
        }
        let events: Vec<Event> = core.take_events().into();
        if !events.is_empty() {
            self.events.push_all(&events);
        }
        let produced = Produced {
            out: core.drain_outgoing(),
            events,
        };
        (r, produced)
    }

    /// Sends and logs what a step produced (its events are queued already). Call with no
    /// library lock held: sending and logging may reach the host's logger, which may call back
    /// into the library. (Log lines of steps on different threads may interleave.)
    pub(super) fn deliver(self: &Arc<Self>, p: Produced) {
        self.dispatch(p.out);
        if !p.events.is_empty() {
            self.log_events(p.events);
        }
    }

    pub(super) fn log_events(&self, events: Vec<Event>) {
        if !self.log.enabled() {
            return;
        }
        for e in events {
            match e {
                Event::Joined(id, a) => self
                    .log
                    .event("Join", format_args!("{id} ({}) is alive", a.name)),
                Event::Updated(id, a) => self.log.event(
                    "Update",
                    format_args!("{id} is now ({}, {})", a.name, a.private_data),
                ),
                Event::Failed(id) => self.log.event("Failed", format_args!("{id} is gone")),
                Event::Left(id) => self.log.event("Leave", format_args!("{id} left")),
                Event::MetadataChanged(v) => self.log.event(
                    "Metadata",
                    format_args!("new metadata, version {}", super::console::version(&v)),
                ),
                Event::Synced(id) => self
                    .log
                    .event("PushPull", format_args!("state exchanged with {id}")),
            }
        }
    }
}

/// A member's shared state as `Node::new` makes it, with the default configuration, at
/// 127.0.0.1:7000 and without sockets (for the driver's unit tests).
#[cfg(test)]
pub(super) fn unbound_for_tests() -> Arc<Shared> {
    use crate::proto::{Attributes, CoreConfig, Timing};
    let cfg = Config::default().resolve().unwrap();
    let me: std::net::SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let core = Core::new(CoreConfig {
        me,
        attrs: Attributes::default(),
        amount: cfg.amount as usize,
        timing: Timing::new(cfg.cycle_ms, cfg.timeout_ms, cfg.amount as usize),
        max_meta: cfg.size as usize,
        seed: 1,
        wall_ms: wall_ms(),
        encoding: &crate::wire::RUMOR_ENCODING,
    });
    Arc::new(Shared::new(core, cfg, Logger::new(false, me.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Arrival, Message, Rumor};
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::time::Duration;

    /// A member's shared state as `Node::new` makes it, started (no sockets: nothing it does
    /// here sends anything).
    fn started() -> Arc<Shared> {
        let s = unbound_for_tests();
        s.with_core(|core, now| core.join(now));
        s
    }

    /// Several threads step the core at once (as the receive task, the timer task and API calls
    /// do), each applying a newer incarnation of one member with a new name. The core reports an
    /// update only for an incarnation newer than the one it holds, so the order it produced the
    /// events in has strictly growing names; the user must see them in that order.
    #[test]
    fn events_reach_the_user_in_the_order_the_core_produced_them() {
        const THREADS: usize = 8;
        const STEPS: u32 = 200_000;
        let s = started();
        let other: SocketAddr = "127.0.0.1:7001".parse().unwrap();
        let next = Arc::new(AtomicU32::new(1));
        let done = Arc::new(AtomicBool::new(false));
        s.events.subscribe();
        let reader = {
            let (s, done) = (s.clone(), done.clone());
            std::thread::spawn(move || {
                let (mut last, mut seen, mut lost) = (0u32, 0u64, 0u64);
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    match s.events.next(Duration::from_millis(50)).expect("open") {
                        Some(e) => {
                            lost += e.lost;
                            seen += 1;
                            let n: u32 = e.attrs.name.parse().expect("a number");
                            assert!(
                                n > last,
                                "{:?} named {n} reached the user after {last} \
                                 ({seen} events seen)",
                                e.kind
                            );
                            last = n;
                        }
                        None if finished => return (seen, lost),
                        None => {}
                    }
                }
            })
        };
        let steppers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (s, next) = (s.clone(), next.clone());
                std::thread::spawn(move || loop {
                    let inc = next.fetch_add(1, Ordering::SeqCst);
                    if inc > STEPS {
                        return;
                    }
                    let attrs = crate::proto::PackedAttributes::from_parts(&inc.to_string(), "");
                    let msg = Message::Gossip {
                        from: other,
                        rumors: vec![Rumor::Alive {
                            id: other,
                            incarnation: inc,
                            attrs,
                        }],
                    };
                    s.with_core(|core, now| {
                        core.handle(now, Arrival::Datagram { weight: 1400 }, msg)
                    });
                })
            })
            .collect();
        for t in steppers {
            t.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let (seen, lost) = reader.join().unwrap();
        assert!(seen > 1000, "only {seen} events reached the user");
        eprintln!("{seen} events in order, {lost} dropped by the full queue");
    }
}
