//! The driver: runs a protocol core on real sockets. It owns the (process-wide, lazily created)
//! tokio runtime, the UDP socket and TCP listener of each node, the timers, and turns bytes into
//! core inputs and core outputs into bytes on the wire.

pub mod events;
pub mod stats;
mod stream;

use crate::config::{Config, Protocol};
use crate::error::{Error, Result};
use crate::log::Logger;
use crate::proto::{Attributes, Core, CoreConfig, Event, Message, Metadata, Outgoing, Timing};
use crate::wire::{self, DecodeError};
use once_cell::sync::Lazy;
use stats::{add, Stats, StatsSnapshot};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, UdpSocket};
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// One runtime for the whole process, with few threads: hundreds of nodes share it.
static RUNTIME: Lazy<Runtime> = Lazy::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pekonode")
        .enable_all()
        .build()
        .expect("cannot start the pekonode runtime")
});

/// Time for queued leave notices and frames to go out in `close`.
const CLOSE_FLUSH: Duration = Duration::from_millis(500);

pub(crate) struct Shared {
    core: Mutex<Core>,
    cfg: Config,
    key: wire::Key,
    pub(crate) stats: Stats,
    pub(crate) log: Logger,
    epoch: Instant,
    udp: Mutex<Option<Arc<UdpSocket>>>,
    pool: stream::Pool,
    wake: Notify,
    events: events::Events,
    /// Stops receiving, ticking and accepting.
    soft_stop: CancellationToken,
    /// Stops the writers too (after they had a moment to flush).
    hard_stop: CancellationToken,
    tracker: TaskTracker,
}

/// A member of a cluster: the Rust face of `peko_node`.
pub struct Node {
    shared: Arc<Shared>,
    joined: Mutex<bool>,
    closed: Mutex<bool>,
}

fn lock(m: &Mutex<Core>) -> MutexGuard<'_, Core> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Shared {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn_on(fut, RUNTIME.handle());
    }

    /// Runs `f` on the core, then sends what it produced and logs what happened.
    fn with_core<R>(self: &Arc<Self>, f: impl FnOnce(&mut Core, u64) -> R) -> R {
        let (r, out, events) = {
            let mut core = lock(&self.core);
            let now = self.now();
            let r = f(&mut core, now);
            let out = core.drain_outgoing();
            let events: Vec<Event> = core.take_events().into();
            (r, out, events)
        };
        self.dispatch(out);
        if !events.is_empty() {
            self.events.push_all(&events);
            self.log_events(events);
        }
        r
    }

    fn dispatch(self: &Arc<Self>, out: Vec<Outgoing>) {
        if out.is_empty() {
            return;
        }
        let udp = self.udp.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for o in out {
            let frame = wire::encode(&o.msg, &self.key);
            if matches!(o.msg, Message::PushPull { .. } | Message::Digest { .. }) {
                add(&self.stats.push_pulls, 1);
                add(&self.stats.anti_entropy_bytes_sent, frame.len() as u64);
            }
            let small = frame.len() <= wire::DATAGRAM_MAX;
            match (&udp, self.cfg.protocol) {
                (Some(sock), Protocol::Udp) if small => match sock.try_send_to(&frame, o.to) {
                    Ok(_) => {
                        add(&self.stats.datagrams_sent, 1);
                        add(&self.stats.datagram_bytes_sent, frame.len() as u64);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        add(&self.stats.dropped_queue_full, 1)
                    }
                    Err(e) => {
                        add(&self.stats.send_errors, 1);
                        self.log.error(format_args!("send to {}: {e}", o.to));
                    }
                },
                _ => stream::send(self, o.to, Arc::new(frame)),
            }
        }
    }

    /// Decodes and handles one frame; false when it was rejected.
    fn receive(self: &Arc<Self>, frame: &[u8], limits: wire::Limits) -> bool {
        match wire::decode(frame, &self.key, limits) {
            Ok(msg) => {
                self.with_core(|core, now| core.handle(now, msg));
                true
            }
            Err(e) => {
                let counter = match e {
                    DecodeError::Auth => &self.stats.dropped_auth,
                    DecodeError::Malformed => &self.stats.dropped_malformed,
                    DecodeError::TooLarge => &self.stats.dropped_too_large,
                };
                add(counter, 1);
                false
            }
        }
    }

    fn log_events(&self, events: Vec<Event>) {
        if !self.log.enabled() {
            return;
        }
        for e in events {
            match e {
                Event::Joined(id, a) => self
                    .log
                    .info("Join", format_args!("{id} ({}) is alive", a.name)),
                Event::Updated(id, a) => self.log.info(
                    "Update",
                    format_args!("{id} is now ({}, {})", a.name, a.private_data),
                ),
                Event::Failed(id) => self.log.info("Failed", format_args!("{id} is gone")),
                Event::Left(id) => self.log.info("Leave", format_args!("{id} left")),
                Event::MetadataChanged(v) => self.log.info(
                    "Metadata",
                    format_args!("new metadata from {} (version {})", v.origin, v.hlc),
                ),
                Event::Synced(id) => self
                    .log
                    .info("PushPull", format_args!("state exchanged with {id}")),
            }
        }
    }

    fn print_list(&self) {
        let members = lock(&self.core).members();
        let list: Vec<String> = members
            .iter()
            .map(|(id, a)| {
                if a.name.is_empty() {
                    id.to_string()
                } else {
                    format!("{id}/{}", a.name)
                }
            })
            .collect();
        self.log.info(
            "List",
            format_args!("{} members: {}", list.len(), list.join(" ")),
        );
    }
}

async fn udp_loop(s: Arc<Shared>, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; wire::DATAGRAM_RECV_MAX];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, _src)) => {
                add(&s.stats.datagrams_received, 1);
                add(&s.stats.bytes_received, n as u64);
                s.receive(&buf[..n], wire::Limits::datagram());
            }
            // ICMP errors from earlier sends (a peer went away) surface here on Linux.
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

async fn tick_loop(s: Arc<Shared>) {
    let cycle = lock(&s.core).timing().cycle;
    let mut next_print = 0u64;
    loop {
        let wake = s.with_core(|core, now| {
            core.tick(now);
            core.next_wake()
        });
        let now = s.now();
        if s.log.enabled() && now >= next_print && lock(&s.core).is_running() {
            next_print = now + cycle;
            s.print_list();
        }
        let sleep_ms = wake.saturating_sub(now).clamp(1, cycle);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {}
            _ = s.wake.notified() => {}
        }
    }
}

fn bind(cfg: &Config, local: SocketAddr) -> Result<(std::net::TcpListener, std::net::UdpSocket)> {
    let ip = cfg.listen_addr.unwrap_or(match local.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    // With port 0 the OS picks the TCP port; the UDP port must then match, so retry a few times.
    let tries = if local.port() == 0 { 16 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let tcp = std::net::TcpListener::bind(SocketAddr::new(ip, local.port()))
            .map_err(|e| Error::io(format!("cannot bind TCP {}:{}: {e}", ip, local.port())))?;
        let port = tcp
            .local_addr()
            .map_err(|e| Error::io(e.to_string()))?
            .port();
        match std::net::UdpSocket::bind(SocketAddr::new(ip, port)) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) => last = Some(Error::io(format!("cannot bind UDP {ip}:{port}: {e}"))),
        }
    }
    Err(last.expect("at least one try"))
}

fn set_recv_buffer(sock: &std::net::UdpSocket, bytes: usize) {
    use std::os::fd::AsRawFd;
    let v: libc::c_int = bytes.min(i32::MAX as usize) as libc::c_int;
    // Best effort: the kernel caps it at net.core.rmem_max.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

impl Node {
    pub fn new(cfg: Config, local: SocketAddr, attrs: Attributes) -> Result<Node> {
        let cfg = cfg.resolve()?;
        let timing = Timing::new(cfg.cycle_ms, cfg.timeout_ms, cfg.amount as usize);
        let seed = wall_ms() ^ (local.port() as u64) << 48 ^ rand::random::<u64>();
        let core = Core::new(CoreConfig {
            me: local,
            attrs,
            amount: cfg.amount as usize,
            timing,
            max_meta: cfg.size as usize,
            seed,
            encoding: &wire::RUMOR_ENCODING,
        });
        let key = wire::Key::new(cfg.secret_key.as_deref());
        let log = Logger::new(cfg.is_print, local.to_string());
        Ok(Node {
            shared: Arc::new(Shared {
                core: Mutex::new(core),
                cfg,
                key,
                stats: Stats::default(),
                log,
                epoch: Instant::now(),
                udp: Mutex::new(None),
                pool: stream::Pool::default(),
                wake: Notify::new(),
                events: events::Events::new(),
                soft_stop: CancellationToken::new(),
                hard_stop: CancellationToken::new(),
                tracker: TaskTracker::new(),
            }),
            joined: Mutex::new(false),
            closed: Mutex::new(false),
        })
    }

    pub fn config(&self) -> &Config {
        &self.shared.cfg
    }

    pub fn local_id(&self) -> SocketAddr {
        lock(&self.shared.core).me()
    }

    pub fn set(&self, peer: SocketAddr, attrs: Attributes) -> Result<()> {
        if peer.port() == 0 {
            return Err(Error::invalid(format!("peer {peer} has port 0")));
        }
        if peer.ip().is_unspecified() {
            return Err(Error::invalid(format!(
                "peer address {} is unspecified",
                peer.ip()
            )));
        }
        self.shared
            .with_core(|core, now| core.set_peer(now, peer, attrs));
        Ok(())
    }

    /// Binds the sockets (before returning, so a port in use is reported here), then starts the
    /// background work and syncs with the known members.
    pub fn join(&self) -> Result<()> {
        let mut joined = self.joined.lock().unwrap_or_else(|e| e.into_inner());
        if *joined {
            return Err(Error::state("already joined"));
        }
        let s = &self.shared;
        let local = lock(&s.core).me();
        let (tcp, udp) = bind(&s.cfg, local)?;
        let port = tcp
            .local_addr()
            .map_err(|e| Error::io(e.to_string()))?
            .port();
        set_recv_buffer(&udp, s.cfg.buffer as usize * wire::DATAGRAM_MAX);
        tcp.set_nonblocking(true)
            .map_err(|e| Error::io(e.to_string()))?;
        udp.set_nonblocking(true)
            .map_err(|e| Error::io(e.to_string()))?;
        let (tcp, udp) = {
            let _guard = RUNTIME.enter();
            (
                TcpListener::from_std(tcp).map_err(|e| Error::io(e.to_string()))?,
                Arc::new(UdpSocket::from_std(udp).map_err(|e| Error::io(e.to_string()))?),
            )
        };
        let me = SocketAddr::new(local.ip(), port);
        s.log.set_label(me.to_string());
        *s.udp.lock().unwrap_or_else(|e| e.into_inner()) = Some(udp.clone());
        let soft = s.soft_stop.clone();
        let (s1, s2, s3) = (s.clone(), s.clone(), s.clone());
        let soft2 = soft.clone();
        let soft3 = soft.clone();
        s.spawn(async move {
            tokio::select! { _ = soft.cancelled() => {}, _ = udp_loop(s1, udp) => {} }
        });
        s.spawn(async move {
            tokio::select! { _ = soft2.cancelled() => {}, _ = stream::accept_loop(s2, tcp) => {} }
        });
        s.spawn(async move {
            tokio::select! { _ = soft3.cancelled() => {}, _ = tick_loop(s3) => {} }
        });
        s.log.info(
            "Join",
            format_args!(
                "listening on port {port} ({})",
                match s.cfg.protocol {
                    Protocol::Udp => "UDP, TCP for large messages",
                    Protocol::Tcp => "TCP",
                }
            ),
        );
        s.with_core(|core, now| {
            core.rebind(me);
            core.join(now);
        });
        s.wake.notify_one();
        *joined = true;
        Ok(())
    }

    pub fn members(&self) -> Vec<(SocketAddr, Attributes)> {
        lock(&self.shared.core).members()
    }

    pub fn publish(&self, data: &[u8]) -> Result<()> {
        let s = &self.shared;
        if data.len() > s.cfg.size as usize {
            return Err(Error::new(
                crate::error::PEKO_ERR_TOO_LARGE,
                format!(
                    "{} bytes of metadata is more than size = {}",
                    data.len(),
                    s.cfg.size
                ),
            ));
        }
        let data = data.to_vec();
        let len = data.len();
        s.with_core(|core, now| core.publish(now, wall_ms(), data));
        s.log
            .info("Publish", format_args!("{len} bytes of metadata"));
        s.wake.notify_one();
        Ok(())
    }

    pub fn metadata(&self) -> Option<Metadata> {
        lock(&self.shared.core).metadata().cloned()
    }

    /// Calls `f` with the local metadata without copying it out of the lock.
    pub fn with_metadata<R>(&self, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        let core = lock(&self.shared.core);
        f(core.metadata().map(|m| m.data.as_slice()))
    }

    pub fn stop(&self) -> Result<()> {
        if !*self.joined.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(Error::state("stop before join"));
        }
        lock(&self.shared.core).stop();
        self.shared.log.info("Stop", "silent until start");
        Ok(())
    }

    pub fn start(&self) -> Result<()> {
        if !*self.joined.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(Error::state("start before join"));
        }
        let was_running = lock(&self.shared.core).is_running();
        if !was_running {
            self.shared.with_core(|core, now| core.start(now));
            self.shared.log.info("Start", "gossiping again");
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// The next membership or metadata event, waiting up to `timeout` for one.
    pub fn next_event(&self, timeout: Duration) -> Option<events::UserEvent> {
        self.shared.events.next(timeout)
    }

    /// A descriptor that is readable while events are pending (owned by the node).
    pub fn event_fd(&self) -> Option<std::os::fd::RawFd> {
        self.shared.events.fd()
    }

    /// Changes the local member's name and private data at run time; the change spreads.
    pub fn update(&self, attrs: Attributes) -> Result<()> {
        if lock(&self.shared.core).has_left() {
            return Err(Error::state("the member has left"));
        }
        self.shared.log.info(
            "Update",
            format_args!("now ({}, {})", attrs.name, attrs.private_data),
        );
        self.shared.with_core(|core, _| core.update_attrs(attrs));
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Leaves the cluster gracefully: tells the others and waits until the notices have been
    /// handed to the network (or `timeout` passes). The member stays silent afterwards; free it
    /// with `close`.
    pub fn leave(&self, timeout: Duration) -> Result<bool> {
        if !*self.joined.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(Error::state("leave before join"));
        }
        let s = &self.shared;
        let notices = lock(&s.core).leave();
        let count = notices.len();
        s.dispatch(notices);
        s.log.info("Leave", format_args!("told {count} members"));
        let deadline = Instant::now() + timeout;
        loop {
            if s.pool.queued() == 0 {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Counters and the current view, for monitoring.
    pub fn health(&self) -> (usize, usize, u64) {
        let core = lock(&self.shared.core);
        let (alive, suspect) = core.counts();
        (alive, suspect, core.rounds())
    }

    /// Rumors still queued for sending: 0 once the news this member knows has been spread.
    pub fn pending_rumors(&self) -> usize {
        lock(&self.shared.core).pending_rumors()
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Leaves the cluster, waits for the notices to go out, and closes the sockets.
    pub fn close(&self) {
        let mut closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        if *closed {
            return;
        }
        *closed = true;
        let s = &self.shared;
        if !*self.joined.lock().unwrap_or_else(|e| e.into_inner()) {
            // Nothing was bound or spawned: no runtime to wake for a handle that never joined.
            return;
        }
        let notices = lock(&s.core).leave();
        s.dispatch(notices);
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
        s.udp.lock().unwrap_or_else(|e| e.into_inner()).take();
        s.log.info("Leave", "sockets closed");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.close();
    }
}
