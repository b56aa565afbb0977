//! The tokio runtime (one per process, created on first use) and the start and stop of a node's
//! background work: the UDP receive loop, the TCP accept loop and the timer loop that ticks the
//! core.

use super::accept;
use super::console::ListPrinter;
use super::net::{self, Sockets};
use super::shared::{lock, wall_ms, Shared};
use crate::error::{Error, Result};
use once_cell::sync::Lazy;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{EnterGuard, Runtime};

/// One runtime for the whole process, with few threads: hundreds of nodes share it.
static RUNTIME: Lazy<Runtime> = Lazy::new(|| {
    RUNTIME_PID.store(std::process::id(), Ordering::Relaxed);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pekonode")
        .enable_all()
        .build()
        .expect("cannot start the pekonode runtime")
});

/// The process that started `RUNTIME`. A fork child inherits the runtime's memory but not its
/// threads; it must not use it.
static RUNTIME_PID: AtomicU32 = AtomicU32::new(0);

/// An error when the runtime was started by another process (this one is a fork child of it).
pub(super) fn check_process() -> Result<()> {
    if Lazy::get(&RUNTIME).is_some() {
        let owner = RUNTIME_PID.load(Ordering::Relaxed);
        if owner != std::process::id() {
            return Err(Error::state(format!(
                "the library's runtime was started by process {owner} before fork(); in a \
                 child, members can be started only after exec"
            )));
        }
    }
    Ok(())
}

/// Time for queued leave notices and frames to go out in `stop`.
const CLOSE_FLUSH: Duration = Duration::from_millis(500);

/// Makes the runtime current on this thread (to register sockets with its reactor).
pub(super) fn enter() -> EnterGuard<'static> {
    RUNTIME.enter()
}

impl Shared {
    /// Runs `fut` on the runtime, tracked so that `stop` can wait for it.
    pub(super) fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn_on(fut, RUNTIME.handle());
    }
}

/// Starts a joined node's loops; each ends at the node's soft stop.
pub(super) fn start(s: &Arc<Shared>, sockets: Sockets) {
    let Sockets { tcp, udp, .. } = sockets;
    let (s1, s2, s3) = (s.clone(), s.clone(), s.clone());
    let soft = s.soft_stop.clone();
    let soft2 = soft.clone();
    let soft3 = soft.clone();
    s.spawn(async move {
        tokio::select! { _ = soft.cancelled() => {}, _ = net::udp_loop(s1, udp) => {} }
    });
    s.spawn(async move {
        tokio::select! { _ = soft2.cancelled() => {}, _ = accept::accept_loop(s2, tcp) => {} }
    });
    s.spawn(async move {
        tokio::select! { _ = soft3.cancelled() => {}, _ = tick_loop(s3) => {} }
    });
}

/// Ticks the core at its next deadline (at least once per cycle, sooner when woken), after the
/// datagrams already waiting in the socket, and looks at the member list once per cycle when the
/// console log is on (printed when it changed, `console::ListPrinter`). A tick that runs later
/// than the core asked for counts against its own health (`Core::tick`).
async fn tick_loop(s: Arc<Shared>) {
    let cycle = lock(&s.core).timing().cycle;
    let mut lists = ListPrinter::default();
    let mut buf = vec![0u8; crate::wire::DATAGRAM_RECV_MAX];
    loop {
        // What arrived while we were late is read before the tick judges the probes.
        s.receive_pending(&mut buf);
        let wake = s.with_core(|core, now| {
            // The core's wall clock follows the host's (a stepped clock is caught within a cycle).
            core.set_wall_clock(now, wall_ms());
            core.tick(now);
            core.next_wake()
        });
        let now = s.now();
        // Not a guard inside the call: `look` takes the core's lock itself.
        let running = lock(&s.core).is_running();
        lists.look(&s, now, cycle, running);
        s.sleep_until(wake, now, cycle).await;
    }
}

impl Shared {
    /// A tick loop's wait: until `wake` (at least 1 ms, at most a `cycle` from `now`), or until
    /// woken (`wake` notified: news to send now).
    pub(super) async fn sleep_until(&self, wake: u64, now: u64, cycle: u64) {
        let sleep_ms = wake.saturating_sub(now).clamp(1, cycle);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {}
            _ = self.wake.notified() => {}
        }
    }
}

/// Stops a joined node's background work from the calling thread and returns once every task
/// has ended and the sockets are closed: the loops stop at once, the TCP writers get
/// `CLOSE_FLUSH` to send what is queued (the leave notices).
pub(super) fn stop(s: &Arc<Shared>) {
    s.soft_stop.cancel();
    s.pool.close_all();
    s.tracker.close();
    let tracker = s.tracker.clone();
    let hard = s.hard_stop.clone();
    let wait = async move {
        if tokio::time::timeout(CLOSE_FLUSH, tracker.wait())
            .await
            .is_err()
        {
            hard.cancel();
            tracker.wait().await;
        }
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        // Called from inside a runtime (a Rust user): block on another thread.
        std::thread::scope(|sc| {
            sc.spawn(|| RUNTIME.block_on(wait));
        });
    } else {
        RUNTIME.block_on(wait);
    }
    s.hard_stop.cancel();
    s.set_udp_socket(None);
}
