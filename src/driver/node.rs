//! `Node`: the public face of one cluster member, what `ffi` forwards every `peko_*` call to.

use super::args;
use super::compat::lock as compat_lock;
use super::events::UserEvent;
use super::net;
use super::runtime;
use super::shared::{lock, wall_ms, wall_ns, Shared};
use super::stats::{CoreView, Counters, StatsSnapshot};
use crate::compat::{CompatConfig, CompatCore};
use crate::config::{Config, Protocol};
use crate::error::{Error, Result};
use crate::log::Logger;
use crate::proto::{Attributes, Core, CoreConfig, Metadata, Timing};
use crate::wire;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A member of a cluster: the Rust face of `peko_node`.
pub struct Node {
    shared: Arc<Shared>,
    /// Where the member is in its life. `join` holds this lock while it binds and starts, and
    /// `close` takes it to mark the member closed: a join either finished before the close
    /// (which then shuts it down) or sees the close and is refused. (As two flags under two
    /// locks they were read out of step: a close that found the member not joined, then a join,
    /// left sockets bound that nothing would ever close.)
    life: Mutex<Life>,
    /// The Go pekonode compatibility mode was chosen (`set_go_compat`, before `join`).
    go_compat: AtomicBool,
}

/// The states of `Node::life`; `Closed` is final.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Made by `new`: nothing bound, nothing running.
    Created,
    /// Sockets bound and the background work running.
    Joined,
    /// `close` has run (or is running): nothing may bind or start again.
    Closed,
}

impl Node {
    /// A member reached at `local` (port 0: the OS picks one at `join`), with its name and
    /// private data. Nothing is bound or sent until `join`. Errors: see `args::local_member`,
    /// `args::attributes` and `Config::resolve`.
    pub fn new(cfg: Config, local: SocketAddr, attrs: Attributes) -> Result<Node> {
        args::local_member(local)?;
        args::attributes(&attrs)?;
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
            wall_ms: wall_ms(),
            encoding: &wire::RUMOR_ENCODING,
        });
        let log = Logger::new(cfg.is_print, local.to_string());
        Ok(Node {
            shared: Arc::new(Shared::new(core, cfg, log)),
            life: Mutex::new(Life::Created),
            go_compat: AtomicBool::new(false),
        })
    }

    fn life(&self) -> MutexGuard<'_, Life> {
        self.life.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The life lock of a joined member, for a call that changes what a running member does
    /// (`what`: "stop", ...): held across the core step so that `close` cannot slip in between
    /// the check and the change.
    fn joined(&self, what: &str) -> Result<MutexGuard<'_, Life>> {
        let life = self.life();
        match *life {
            Life::Joined => Ok(life),
            Life::Created => Err(Error::state(format!("{what} before join"))),
            Life::Closed => Err(closed(what)),
        }
    }

    /// The state this node's handle and background tasks share.
    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A state error unless the member is yet to join, for settings fixed at `join`.
    pub(super) fn before_join(&self, what: &str) -> Result<()> {
        match *self.life() {
            Life::Created => Ok(()),
            Life::Joined => Err(Error::state(format!("{what} after join"))),
            Life::Closed => Err(closed(what)),
        }
    }

    /// A state error once the member is closed, for calls that change it.
    pub(super) fn open(&self, what: &str) -> Result<()> {
        if *self.life() == Life::Closed {
            return Err(closed(what));
        }
        Ok(())
    }

    /// Chooses the Go pekonode compatibility mode (`true`) or the native protocol, before
    /// `join`: in that mode the member speaks only the original's packets (`crate::compat`).
    pub fn set_go_compat(&self, on: bool) -> Result<()> {
        // Under the life lock, which `join` holds while it reads the flag and starts: the mode
        // is either set before the join or refused, never changed under a running member.
        let life = self.life();
        match *life {
            Life::Created => {}
            Life::Joined => return Err(Error::state("peko_compat_set after join")),
            Life::Closed => return Err(closed("peko_compat_set")),
        }
        self.go_compat.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// The life lock of a member not closed, for a call that changes a core: held while the
    /// call picks the core (native, or the compatibility core `join` starts) and changes it,
    /// so a `join` on another thread cannot switch cores in between. Send and log only after
    /// it is released (the host's logger may call back into the library).
    fn not_closed(&self, what: &str) -> Result<MutexGuard<'_, Life>> {
        let life = self.life();
        if *life == Life::Closed {
            return Err(closed(what));
        }
        Ok(life)
    }

    /// Whether the member runs (or will run, once joined) in the Go compatibility mode.
    pub fn go_compat(&self) -> bool {
        self.go_compat.load(Ordering::Relaxed)
    }

    /// A state error in the Go compatibility mode, for what only the native protocol has.
    pub(super) fn native_only(&self, what: &str) -> Result<()> {
        if self.go_compat() {
            return Err(Error::state(format!(
                "{what} is not available in the Go pekonode compatibility mode"
            )));
        }
        Ok(())
    }

    pub fn config(&self) -> &Config {
        &self.shared.cfg
    }

    pub fn local_id(&self) -> SocketAddr {
        lock(&self.shared.core).me()
    }

    /// Adds a known member (before or after `join`; a state error after `close`). Errors: see
    /// `args::peer` and `args::attributes`.
    pub fn set(&self, peer: SocketAddr, attrs: Attributes) -> Result<()> {
        args::peer(peer)?;
        args::attributes(&attrs)?;
        let produced = {
            let _life = self.not_closed("set")?;
            if let Some(m) = self.shared.compat() {
                // Listing a node sends nothing.
                compat_lock(m).set(self.shared.now(), peer, attrs);
                return Ok(());
            }
            self.shared
                .step(|core, now| core.set_peer(now, peer, attrs))
                .1
        };
        self.shared.deliver(produced);
        // After `join` the core may have armed a timer for its first push (`set_peer`).
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Binds the sockets (before returning, so a port in use is reported here), then starts the
    /// background work and syncs with the known members. A state error when joined already or
    /// closed (a join racing `close` either completes first, and the close shuts it down, or is
    /// refused).
    pub fn join(&self) -> Result<()> {
        let s = &self.shared;
        let (port, produced) = {
            let mut life = self.life();
            match *life {
                Life::Created => {}
                Life::Joined => return Err(Error::state("already joined")),
                Life::Closed => return Err(closed("join")),
            }
            runtime::check_process()?;
            let local = lock(&s.core).me();
            let sockets = net::bind(&s.cfg, local)?;
            let port = sockets.port;
            let me = SocketAddr::new(local.ip(), port);
            s.log.set_label(me.to_string());
            s.set_udp_socket(Some(sockets.udp.clone()));
            let produced = if self.go_compat() {
                self.start_go_compat(me, sockets)
            } else {
                runtime::start(s, sockets);
                s.step(|core, now| {
                    core.rebind(me);
                    core.join(now);
                })
                .1
            };
            *life = Life::Joined;
            (port, produced)
        };
        // Log and send (which may log) only once the guard is gone: the host's logger may call
        // back into the library, and calls like peko_stop take that guard.
        s.log.info(
            "Join",
            format_args!(
                "listening on port {port} ({})",
                match (self.go_compat(), s.cfg.protocol) {
                    (false, Protocol::Udp) => "UDP, TCP for large messages",
                    (false, Protocol::Tcp) => "TCP",
                    (true, Protocol::Udp) => "Go pekonode compatibility mode, UDP",
                    (true, Protocol::Tcp) => "Go pekonode compatibility mode, TCP",
                }
            ),
        );
        if self.go_compat() {
            s.log.warn(format_args!(
                "Go pekonode compatibility mode: packets are plain JSON and carry the key's MD5 \
                 in clear; anyone who sees one can join and forge membership and metadata: use \
                 it only to migrate a Go cluster, on a trusted network"
            ));
        } else if s.key().mode() != wire::SealMode::Require {
            s.log.warn(format_args!(
                "plain frames accepted (no secret key, or encryption not required): anyone who \
                 can reach port {port} (UDP and TCP) can read and forge membership and metadata \
                 (add, remove or rename members, replace the published data); run so only on a \
                 trusted network"
            ));
        }
        s.deliver(produced);
        s.wake.notify_one();
        Ok(())
    }

    /// Builds and starts the compatibility core at `me` (the bound address), with the members
    /// given to `set` before; the native core only keeps the address (`local_id`).
    fn start_go_compat(&self, me: SocketAddr, sockets: net::Sockets) -> super::shared::Produced {
        let s = &self.shared;
        let (attrs, peers) = {
            let mut members = lock(&s.core).members();
            let me = members.remove(0);
            (me.1, members)
        };
        let mut core = CompatCore::new(CompatConfig {
            me,
            attrs,
            amount: s.cfg.amount as usize,
            cycle_ms: s.cfg.cycle_ms.into(),
            timeout_ms: s.cfg.timeout_ms.into(),
            token: wire::gojson::token(s.cfg.secret_key.as_deref()),
            seed: wall_ms() ^ (me.port() as u64) << 48 ^ rand::random::<u64>(),
        });
        let now = s.now();
        for (id, a) in peers {
            core.set(now, id, a);
        }
        // Metadata published before join goes out in the exchanges.
        if let Some(m) = lock(&s.core).metadata() {
            core.publish(wall_ns(), m.data.clone(), |p| {
                s.fits_go_buffer(p.encode().len())
            });
        }
        core.join(now);
        let _ = s.compat.set(Mutex::new(core));
        super::compat::start(s, sockets.tcp, sockets.udp);
        s.step(|core, _| core.rebind(me)).1
    }

    pub fn members(&self) -> Vec<(SocketAddr, Attributes)> {
        self.shared.member_view()
    }

    /// Replaces the cluster metadata everywhere. More than the configured `size` bytes is
    /// `PEKO_ERR_TOO_LARGE` (`args::metadata`); a publish the clock cannot make newer than the
    /// metadata held is `PEKO_ERR_STATE`, and changes nothing.
    pub fn publish(&self, data: &[u8]) -> Result<()> {
        let s = &self.shared;
        args::metadata(data.len(), s.cfg.size)?;
        self.open("publish")?;
        let data = data.to_vec();
        let len = data.len();
        let too_large = || {
            Error::new(
                crate::error::PEKO_ERR_TOO_LARGE,
                format!(
                    "{len} bytes of metadata make a packet that fills a Go node's {}-byte \
                     buffer (base64 adds a third): it would be dropped",
                    s.cfg.size
                ),
            )
        };
        let life = self.not_closed("publish")?;
        if s.compat().is_some() {
            let fits = |p: &wire::gojson::GoPacket| s.fits_go_buffer(p.encode().len());
            let (published, produced) = s
                .compat_step(|c, _| c.publish(wall_ns(), data, fits))
                .expect("the compatibility core runs");
            drop(life);
            s.compat_deliver(produced);
            if !published {
                return Err(too_large());
            }
            s.log
                .info("Publish", format_args!("{len} bytes of metadata"));
            return Ok(());
        }
        // Before join in the compatibility mode the native core keeps it until `join` hands it
        // over: refused now if its packet could not fit then.
        if self.go_compat() && !s.go_publish_may_fit(len) {
            return Err(too_large());
        }
        let (published, produced) = s.step(|core, now| {
            let wall = wall_ms();
            core.set_wall_clock(now, wall);
            core.publish(now, wall, data)
        });
        drop(life);
        s.deliver(produced);
        published.map_err(|refused| {
            Error::state(format!(
                "the metadata held (version {}) is at the top of the clock: a new version \
                 cannot be newer, so the publish was not applied",
                super::console::version(&refused.held)
            ))
        })?;
        s.log
            .info("Publish", format_args!("{len} bytes of metadata"));
        s.wake.notify_one();
        Ok(())
    }

    pub fn metadata(&self) -> Option<Metadata> {
        if let Some(m) = self.shared.compat() {
            return compat_lock(m).metadata();
        }
        lock(&self.shared.core).metadata().cloned()
    }

    /// Calls `f` with the local metadata without copying it out of the lock.
    pub fn with_metadata<R>(&self, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        if let Some(m) = self.shared.compat() {
            return f(compat_lock(m).metadata_data());
        }
        let core = lock(&self.shared.core);
        f(core.metadata().map(|m| m.data.as_slice()))
    }

    /// Goes silent until `start`. A state error before `join` and after `close`.
    pub fn stop(&self) -> Result<()> {
        {
            let _life = self.joined("stop")?;
            match self.shared.compat() {
                Some(m) => compat_lock(m).stop(),
                None => lock(&self.shared.core).stop(),
            }
        }
        self.shared.log.info("Stop", "silent until start");
        Ok(())
    }

    /// Resumes after `stop` (nothing to do on a running member). A state error before `join`
    /// and after `close`.
    pub fn start(&self) -> Result<()> {
        let s = &self.shared;
        if s.compat().is_some() {
            let started = {
                let _life = self.joined("start")?;
                s.with_compat(|c, now| {
                    let was = c.is_running();
                    c.start(now);
                    !was && c.is_running()
                })
            };
            if started == Some(true) {
                s.log.info("Start", "gossiping again");
                s.wake.notify_one();
            }
            return Ok(());
        }
        let (started, produced) = {
            let _life = self.joined("start")?;
            s.step(|core, now| {
                let was_running = core.is_running();
                if !was_running {
                    core.start(now);
                }
                !was_running
            })
        };
        s.deliver(produced);
        if started {
            s.log.info("Start", "gossiping again");
            s.wake.notify_one();
        }
        Ok(())
    }

    /// The next membership or metadata event, waiting up to `timeout` for one (`Ok(None)` when
    /// none came). A state error once the node is closed, also for a caller already waiting
    /// then: `close` wakes it.
    pub fn next_event(&self, timeout: Duration) -> Result<Option<UserEvent>> {
        self.shared
            .events
            .next(timeout)
            .map_err(|_| Error::state("the member was closed (peko_free): no more events"))
    }

    /// A descriptor that is readable while events are pending (owned by the node).
    pub fn event_fd(&self) -> Option<std::os::fd::RawFd> {
        self.shared.events.fd()
    }

    /// Changes the local member's name and private data at run time; the change spreads.
    pub fn update(&self, attrs: Attributes) -> Result<()> {
        args::attributes(&attrs)?;
        let line = format!("now ({}, {})", attrs.name, attrs.private_data);
        let produced = {
            let _life = self.not_closed("update")?;
            match self.shared.compat() {
                Some(m) => {
                    let mut c = compat_lock(m);
                    if c.has_left() {
                        return Err(Error::state("the member has left"));
                    }
                    // Goes out with the next heartbeat.
                    c.update_attrs(attrs);
                    None
                }
                None => {
                    if lock(&self.shared.core).has_left() {
                        return Err(Error::state("the member has left"));
                    }
                    Some(self.shared.step(|core, _| core.update_attrs(attrs)).1)
                }
            }
        };
        self.shared.log.info("Update", line);
        if let Some(p) = produced {
            self.shared.deliver(p);
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Leaves the cluster gracefully: tells the others and waits until the notices have been
    /// handed to the network (or `timeout` passes). The member stays silent afterwards; free it
    /// with `close`. A state error before `join` and after `close` (which leaves by itself).
    pub fn leave(&self, timeout: Duration) -> Result<bool> {
        let s = &self.shared;
        let notices = {
            let _life = self.joined("leave")?;
            if let Some(m) = s.compat() {
                // The original has no leave message: the others time us out.
                compat_lock(m).leave();
                s.log
                    .info("Leave", "silent (Go nodes drop it within their timeout)");
                return Ok(true);
            }
            lock(&s.core).leave()
        };
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

    /// Rumors still queued for sending: 0 once the news this member knows has been spread.
    pub fn pending_rumors(&self) -> usize {
        if self.shared.compat().is_some() {
            return 0;
        }
        lock(&self.shared.core).pending_rumors()
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Every counter a user can read (`peko_stats`, `peko_counter`), copied now.
    pub fn counters(&self) -> Counters {
        if let Some(m) = self.shared.compat() {
            let (c, listed) = {
                let core = compat_lock(m);
                (core.counters(), core.listed())
            };
            let view = CoreView {
                alive: listed,
                suspect: 0,
                rounds: c.rounds,
                counters: crate::proto::CoreCounters {
                    members_refused: c.members_refused,
                    clocks_implausible: c.clocks_implausible,
                    ..Default::default()
                },
            };
            let mut stats = self.shared.stats.snapshot();
            // Packets whose node we cannot list are as unusable as garbage.
            stats.dropped_malformed += c.bad_node;
            return Counters::new(&stats, &view, self.shared.events.lost_total());
        }
        let core = {
            let core = lock(&self.shared.core);
            let (alive, suspect) = core.counts();
            CoreView {
                alive,
                suspect,
                rounds: core.rounds(),
                counters: core.counters(),
            }
        };
        Counters::new(
            &self.shared.stats.snapshot(),
            &core,
            self.shared.events.lost_total(),
        )
    }

    /// Leaves the cluster, waits for the notices to go out, and closes the sockets. A `join`
    /// running on another thread finishes first (and is shut down here); from then on `join`,
    /// `start`, `stop`, `leave`, `set`, `publish` and `update` are state errors. A second close
    /// does nothing.
    pub fn close(&self) {
        let was = std::mem::replace(&mut *self.life(), Life::Closed);
        if was == Life::Closed {
            return;
        }
        // Whoever waits for events returns now rather than at its timeout.
        self.shared.events.close();
        // No guard from here on: sending and stopping may log, and the logger may call back
        // (into `start`, say, which takes the life lock).
        if was == Life::Created {
            // Nothing was bound or spawned, and nothing can be any more.
            return;
        }
        let s = &self.shared;
        match s.compat() {
            Some(m) => compat_lock(m).leave(),
            None => {
                let notices = lock(&s.core).leave();
                s.dispatch(notices);
            }
        }
        runtime::stop(s);
        s.log.info("Leave", "sockets closed");
    }
}

/// The error of a call that would change a closed member.
fn closed(what: &str) -> Error {
    Error::state(format!(
        "the member is closed (peko_free or Node::close was called): {what} is refused"
    ))
}

impl Drop for Node {
    fn drop(&mut self) {
        self.close();
    }
}
