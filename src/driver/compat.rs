//! The Go pekonode compatibility mode on real sockets: the same UDP socket and TCP listener as
//! the native mode, carrying the original's JSON packets (`wire::gojson`) to and from the
//! compatibility core (`compat::CompatCore`). Over UDP a packet is one datagram; over TCP, as
//! the original does it, one connection: the sender dials, writes the packet, closes.
//!
//! Bounds: a datagram that fills the receive buffer (`size` bytes, the original's `Size`) is
//! dropped, as a Go node drops it, and we never send a packet that would fill a Go node's
//! buffer (a publish too large for one is refused at the call); an inbound connection is
//! admitted under the native caps (`inbound::admit`) and read for at most `size` bytes within
//! `TCP_READ_TIMEOUT`; at most `TCP_SENDS_MAX` outbound connections are open at once.

use super::inbound;
use super::shared::{wall_ns, Shared};
use super::stats::add;
use crate::compat::CompatCore;
use crate::proto::{Event, MemberId, Millis};
use crate::wire::gojson::GoPacket;
use crate::wire::DecodeError;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Time a Go node's packet may take to arrive in full on its connection.
const TCP_READ_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Outbound connections open at once; a packet beyond them is dropped (`dropped_queue_full`).
pub const TCP_SENDS_MAX: usize = 64;

/// What one step of the compatibility core produced: packets to send, events to log.
pub(super) struct CompatProduced {
    out: Vec<(MemberId, GoPacket)>,
    events: Vec<Event>,
}

pub(super) fn lock(m: &Mutex<CompatCore>) -> MutexGuard<'_, CompatCore> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// The compatibility core, when this member runs in that mode (from `join`).
    pub(super) fn compat(&self) -> Option<&Mutex<CompatCore>> {
        self.compat.get()
    }

    /// Runs `f` on the compatibility core, then sends and logs what it produced. `None` in
    /// native mode.
    pub(super) fn with_compat<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut CompatCore, Millis) -> R,
    ) -> Option<R> {
        let (r, produced) = self.compat_step(f)?;
        self.compat_deliver(produced);
        Some(r)
    }

    /// Runs `f` on the compatibility core (its wall clock set first) and queues the events it
    /// produced, under its lock so they keep their order; what is left to send and log goes to
    /// `compat_deliver`, to be called with no library lock held (sending and logging may reach
    /// the host's logger, which may call back into the library).
    pub(super) fn compat_step<R>(
        &self,
        f: impl FnOnce(&mut CompatCore, Millis) -> R,
    ) -> Option<(R, CompatProduced)> {
        let m = self.compat()?;
        let mut c = lock(m);
        c.set_wall_clock(wall_ns());
        let r = f(&mut c, self.now());
        let events: Vec<Event> = c.take_events();
        if !events.is_empty() {
            self.events.push_all(&events);
        }
        let out = c.drain_outgoing();
        Some((r, CompatProduced { out, events }))
    }

    pub(super) fn compat_deliver(self: &Arc<Self>, p: CompatProduced) {
        self.send_packets(p.out);
        if !p.events.is_empty() {
            self.log_events(p.events);
        }
    }

    /// Whether an encoded packet fits a Go node's receive buffer (it drops one that fills it).
    pub(super) fn fits_go_buffer(&self, len: usize) -> bool {
        len < self.cfg.size as usize
    }

    /// Whether a publish of `len` bytes made before `join` can fit once the compatibility core
    /// sends it: its base64, with room for the longest node and `amount` + 1 marks.
    pub(super) fn go_publish_may_fit(&self, len: usize) -> bool {
        use crate::wire::gojson::{GO_ADDR_MAX, GO_ATTR_MAX, GO_TOKEN_MAX};
        let fixed = 200 + 2 * GO_ATTR_MAX + GO_ADDR_MAX + GO_TOKEN_MAX;
        let marks = (self.cfg.amount as usize + 1) * (GO_ADDR_MAX + 8);
        self.fits_go_buffer(len.div_ceil(3) * 4 + fixed + marks)
    }

    fn send_packets(self: &Arc<Self>, out: Vec<(MemberId, GoPacket)>) {
        for (to, p) in out {
            let bytes = p.encode();
            if !self.fits_go_buffer(bytes.len()) {
                add(&self.stats.dropped_too_large, 1);
                continue;
            }
            match self.cfg.protocol {
                crate::Protocol::Udp => {
                    if let Some(sock) = self.udp_socket() {
                        self.send_datagram(&sock, to, &bytes);
                    }
                }
                crate::Protocol::Tcp => self.send_connection(to, bytes),
            }
        }
    }

    /// One packet, one connection, as the original sends it.
    fn send_connection(self: &Arc<Self>, to: SocketAddr, bytes: Vec<u8>) {
        let Ok(permit) = self.compat_sends.clone().try_acquire_owned() else {
            add(&self.stats.dropped_queue_full, 1);
            return;
        };
        let s = self.clone();
        let hard = self.hard_stop.clone();
        self.spawn(async move {
            let _permit = permit;
            let send = async {
                let mut st =
                    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
                        Ok(Ok(st)) => st,
                        Ok(Err(e)) => return Err(format!("connect to {to}: {e}")),
                        Err(_) => return Err(format!("connect to {to}: timed out")),
                    };
                match tokio::time::timeout(WRITE_TIMEOUT, st.write_all(&bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(format!("write to {to}: {e}")),
                    Err(_) => return Err(format!("write to {to}: timed out")),
                }
                let _ = st.shutdown().await;
                Ok(())
            };
            tokio::select! {
                r = send => match r {
                    Ok(()) => {
                        add(&s.stats.frames_sent, 1);
                        add(&s.stats.stream_bytes_sent, bytes.len() as u64);
                    }
                    Err(e) => {
                        add(&s.stats.send_errors, 1);
                        s.log.error(e);
                    }
                },
                _ = hard.cancelled() => {}
            }
        });
    }

    /// A packet off the network: decoded within the size, then handed to the core. `peer` is a
    /// connection's far end (its address proven by the handshake), for the log.
    fn on_go_packet(self: &Arc<Self>, bytes: &[u8], peer: Option<SocketAddr>) {
        let size = self.cfg.size as usize;
        match GoPacket::decode(bytes, size, size) {
            Ok(p) => {
                let token_ok = self
                    .compat()
                    .is_some_and(|m| lock(m).accepts_token(&p.secret_key));
                if !token_ok {
                    add(&self.stats.dropped_auth, 1);
                    if let Some(peer) = peer {
                        self.log.error_about(
                            SocketAddr::new(peer.ip(), 0),
                            "token",
                            format_args!(
                                "packets from {} carry another key token (wrong or missing \
                                 secret key?)",
                                peer.ip()
                            ),
                        );
                    }
                    return;
                }
                self.with_compat(|c, now| c.handle(now, p));
            }
            Err(DecodeError::TooLarge) => add(&self.stats.dropped_too_large, 1),
            Err(_) => add(&self.stats.dropped_malformed, 1),
        }
    }
}

/// Starts the compatibility mode's loops; each ends at the node's soft stop.
pub(super) fn start(s: &Arc<Shared>, tcp: TcpListener, udp: Arc<UdpSocket>) {
    let (s1, s2, s3) = (s.clone(), s.clone(), s.clone());
    let (soft1, soft2, soft3) = (
        s.soft_stop.clone(),
        s.soft_stop.clone(),
        s.soft_stop.clone(),
    );
    s.spawn(async move {
        tokio::select! { _ = soft1.cancelled() => {}, _ = udp_loop(s1, udp) => {} }
    });
    s.spawn(async move {
        tokio::select! { _ = soft2.cancelled() => {}, _ = accept_loop(s2, tcp) => {} }
    });
    s.spawn(async move {
        tokio::select! { _ = soft3.cancelled() => {}, _ = tick_loop(s3) => {} }
    });
}

async fn udp_loop(s: Arc<Shared>, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; s.cfg.size as usize];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, _src)) => {
                add(&s.stats.datagrams_received, 1);
                add(&s.stats.bytes_received, n as u64);
                if n >= buf.len() {
                    // It filled the buffer: maybe cut short. A Go node drops it too.
                    add(&s.stats.dropped_too_large, 1);
                    continue;
                }
                s.on_go_packet(&buf[..n], None);
            }
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

async fn accept_loop(s: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((mut stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Some(admitted) = inbound::admit(s.pool.member, peer.ip()) else {
            add(&s.stats.connections_refused, 1);
            continue;
        };
        let s2 = s.clone();
        s.spawn(async move {
            let soft = s2.soft_stop.clone();
            let size = s2.cfg.size as usize;
            let read = async {
                // Within the member's byte budget for inbound frames, as the native reader:
                // a packet may be as long as the size (one more byte shows it was longer).
                let grant = s2.pool.budget.grant(size + 1).await;
                let mut buf = Vec::new();
                let mut limited = (&mut stream).take(size as u64 + 1);
                limited.read_to_end(&mut buf).await.map(|_| (buf, grant))
            };
            tokio::select! {
                _ = soft.cancelled() => {}
                _ = admitted.evicted() => add(&s2.stats.connections_evicted, 1),
                r = tokio::time::timeout(TCP_READ_TIMEOUT, read) => {
                    if let Ok(Ok((buf, _grant))) = r {
                        add(&s2.stats.frames_received, 1);
                        add(&s2.stats.bytes_received, buf.len() as u64);
                        // As a datagram: one that fills the size-byte buffer is dropped.
                        if buf.len() >= size {
                            add(&s2.stats.dropped_too_large, 1);
                        } else {
                            s2.on_go_packet(&buf, Some(peer));
                        }
                    }
                }
            }
        });
    }
}

/// Ticks the core when it asks (at least once per cycle, sooner when woken) and prints the
/// member list when it changed, as the native tick loop does.
async fn tick_loop(s: Arc<Shared>) {
    let cycle = s.cfg.cycle_ms as u64;
    let mut lists = super::console::ListPrinter::default();
    loop {
        let wake = s
            .with_compat(|c, now| {
                c.tick(now);
                c.next_wake(now)
            })
            .unwrap_or(u64::MAX);
        let now = s.now();
        let running = s.compat().is_some_and(|m| lock(m).is_running());
        lists.look(&s, now, cycle, running);
        s.sleep_until(wake, now, cycle).await;
    }
}
