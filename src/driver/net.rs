//! Sockets: binding a node's UDP socket and TCP listener, the UDP receive loop, and the two ends
//! every frame passes through — `dispatch` (core output to datagrams or TCP frames, by the route
//! the core chose) and `receive` (bytes to a core input, with how they arrived). TCP connections
//! themselves live in `stream`.

use super::runtime;
use super::shared::{lock, Shared};
use super::stats::add;
use super::stream;
use crate::config::{Config, Protocol};
use crate::error::{Error, Result};
use crate::proto::{Arrival, Message, Outgoing, Route};
use crate::wire::{self, DecodeError, SealMode};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::{TcpListener, UdpSocket};

/// A node's bound sockets, registered with the runtime.
pub(super) struct Sockets {
    pub(super) tcp: TcpListener,
    pub(super) udp: Arc<UdpSocket>,
    /// The port both are bound to (the OS's choice when the member's port is 0).
    pub(super) port: u16,
}

/// Binds UDP and TCP on the same port (before `join` returns, so a port in use is reported
/// there), sizes the UDP receive buffer for `buffer` datagrams, and hands both to the runtime.
pub(super) fn bind(cfg: &Config, local: SocketAddr) -> Result<Sockets> {
    let (tcp, udp) = bind_std(cfg, local)?;
    let port = tcp
        .local_addr()
        .map_err(|e| Error::io(e.to_string()))?
        .port();
    set_recv_buffer(&udp, cfg.buffer as usize * wire::DATAGRAM_MAX);
    tcp.set_nonblocking(true)
        .map_err(|e| Error::io(e.to_string()))?;
    udp.set_nonblocking(true)
        .map_err(|e| Error::io(e.to_string()))?;
    let _guard = runtime::enter();
    Ok(Sockets {
        tcp: TcpListener::from_std(tcp).map_err(|e| Error::io(e.to_string()))?,
        udp: Arc::new(UdpSocket::from_std(udp).map_err(|e| Error::io(e.to_string()))?),
        port,
    })
}

fn bind_std(
    cfg: &Config,
    local: SocketAddr,
) -> Result<(std::net::TcpListener, std::net::UdpSocket)> {
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

impl Shared {
    /// Encodes and sends what the core produced, by its route: our own messages as datagrams
    /// when they fit and the protocol is UDP (else on a connection we open), requests on a
    /// connection we open, replies on the connection their request came on (never a new one),
    /// answers to datagrams as datagrams no larger than the request. Nothing blocks: a full queue
    /// drops and counts.
    pub(super) fn dispatch(self: &Arc<Self>, out: Vec<Outgoing>) {
        if out.is_empty() {
            return;
        }
        let udp = self.udp_socket();
        let key = self.key();
        for o in out {
            let encoded = wire::Encoded::new(&o.msg);
            let small = encoded.datagram_len(&key) <= wire::DATAGRAM_MAX;
            // Our own messages go as datagrams when they fit and the protocol is UDP; answers to
            // datagrams only ever as datagrams; everything else as stream frames.
            let datagram = match (o.route, &udp, self.cfg.protocol) {
                (Route::Own, Some(_), Protocol::Udp) => small,
                (Route::Answer { .. }, _, _) => true,
                _ => false,
            };
            let frame = if datagram {
                encoded.datagram(&key)
            } else {
                encoded.stream(&key)
            };
            if matches!(
                o.msg,
                Message::PushPull { .. } | Message::Digest { .. } | Message::Offer { .. }
            ) {
                add(&self.stats.push_pulls, 1);
                add(&self.stats.anti_entropy_bytes_sent, frame.len() as u64);
            }
            match (o.route, &udp) {
                (Route::Own, Some(sock)) if datagram => self.send_datagram(sock, o.to, &frame),
                (Route::Own | Route::Request, _) => stream::send(self, o.to, Arc::new(frame)),
                (Route::Reply(conn), _) => stream::reply(self, conn, Arc::new(frame)),
                (Route::Answer { limit }, Some(sock)) if frame.len() <= limit && small => {
                    self.send_datagram(sock, o.to, &frame)
                }
                // A plain request to a member that sends sealed frames but still accepts plain
                // ones (`SealMode::Send`: a cluster being switched to keys) is answered plain, as
                // it came: sealed, the answer would outweigh it (40 bytes more) and be withheld,
                // and the requester accepts plain frames (it sent one).
                (Route::Answer { limit }, Some(sock)) if key.mode() == wire::SealMode::Send => {
                    let plain = encoded.datagram_plain(&key);
                    if plain.len() <= limit.min(wire::DATAGRAM_MAX) {
                        self.send_datagram(sock, o.to, &plain)
                    } else {
                        add(&self.stats.send_errors, 1)
                    }
                }
                // An answer that would outweigh its request (the core keeps within it; this is
                // the guarantee), or no socket any more: withheld, counted as a failed send.
                (Route::Answer { .. }, _) => add(&self.stats.send_errors, 1),
            }
        }
    }

    pub(super) fn send_datagram(&self, sock: &UdpSocket, to: std::net::SocketAddr, frame: &[u8]) {
        match sock.try_send_to(frame, to) {
            Ok(_) => {
                add(&self.stats.datagrams_sent, 1);
                add(&self.stats.datagram_bytes_sent, frame.len() as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                add(&self.stats.dropped_queue_full, 1)
            }
            Err(e) => {
                add(&self.stats.send_errors, 1);
                self.log.error(format_args!("send to {to}: {e}"));
            }
        }
    }

    /// Decodes and handles one datagram (stream frames are read by `frame::read_frame`). A
    /// message that travels only on streams (`wire::stream_only`) is malformed in a datagram:
    /// its `from` is only a claim, and its answer could outweigh it.
    fn receive_datagram(self: &Arc<Self>, datagram: &[u8], source: SocketAddr) {
        match wire::decode(datagram, &self.key(), wire::Limits::datagram()) {
            Ok(msg) if wire::stream_only(&msg) => add(&self.stats.dropped_malformed, 1),
            Ok(msg) => {
                let via = Arrival::Datagram {
                    weight: datagram.len(),
                };
                self.with_core(|core, now| core.handle(now, via, msg));
            }
            Err(e) => self.count_dropped(e, source, false),
        }
    }

    /// Counts a frame from `source` dropped for `e`. One that failed authentication, or carried
    /// another label, is also logged (`Logger::error_about`: once a minute per address) when it
    /// came on a connection or from a member in our table: it is a setting the operators of both
    /// members must see, and nothing else would tell them.
    /// `stream`: `source` is the far end of a connection it opened, whose port is an ephemeral
    /// one, not its member's: the notice names the address alone, once for all its connections.
    pub(super) fn count_dropped(&self, e: DecodeError, source: SocketAddr, stream: bool) {
        let counter = match e {
            DecodeError::Auth => &self.stats.dropped_auth,
            DecodeError::Replay => &self.stats.dropped_replay,
            DecodeError::Label => &self.stats.dropped_label,
            // Only a peer we sent to may refuse us (`stream::reader`): elsewhere it is garbage.
            DecodeError::Malformed | DecodeError::Refused => &self.stats.dropped_malformed,
            DecodeError::TooLarge => &self.stats.dropped_too_large,
        };
        add(counter, 1);
        if !matches!(e, DecodeError::Auth | DecodeError::Label) {
            return;
        }
        // A datagram's source is only a claim: one not in our table is not named, so forged
        // sources cannot fill the log (a member asking us over TCP, whose address the handshake
        // proved, is named on the stream path).
        if !stream && lock(&self.core).member_status(&source).is_none() {
            return;
        }
        let (key, from) = if stream {
            let ip = source.ip();
            let port = source.port();
            (
                SocketAddr::new(ip, 0),
                format!("{ip} (a TCP connection from its port {port})"),
            )
        } else {
            (source, source.to_string())
        };
        if e == DecodeError::Auth {
            self.log.error_about(
                key,
                "auth",
                format_args!(
                    "frames from {from} fail authentication: wrong or missing secret key? ({})",
                    self.key_state()
                ),
            );
        } else {
            self.log.error_about(
                key,
                "label",
                format_args!(
                    "frames from {from} carry another cluster label (or none, or one when this \
                     member has none): both must call peko_label_set with the same label"
                ),
            );
        }
    }

    /// What this member's keyring accepts, for the authentication notices.
    pub(super) fn key_state(&self) -> String {
        let key = self.key();
        let n = key.list().len();
        match key.mode() {
            _ if n == 0 => "this member has no secret key: it accepts only plain frames".into(),
            SealMode::Require => format!(
                "this member accepts only frames sealed under its {} secret key{}",
                n,
                if n == 1 { "" } else { "s" }
            ),
            SealMode::Accept | SealMode::Send => format!(
                "this member accepts plain frames and frames sealed under its {} secret key{}",
                n,
                if n == 1 { "" } else { "s" }
            ),
        }
    }
}

impl Shared {
    /// A datagram read from the socket: counted, then handled.
    fn on_datagram(self: &Arc<Self>, bytes: &[u8], source: SocketAddr) {
        add(&self.stats.datagrams_received, 1);
        add(&self.stats.bytes_received, bytes.len() as u64);
        self.receive_datagram(bytes, source);
    }
}

/// Datagrams handled before a tick, at most: what a starved receive task left in the socket.
const PENDING_BEFORE_TICK: usize = 256;

impl Shared {
    /// Handles the datagrams already waiting in the socket (up to `PENDING_BEFORE_TICK`), without
    /// waiting. The timer task calls it before each tick: when the process is starved the receive
    /// task falls behind, and a probe must not be judged unanswered while its ack sits unread.
    pub(super) fn receive_pending(self: &Arc<Self>, buf: &mut [u8]) {
        let Some(sock) = self.udp_socket() else {
            return;
        };
        for _ in 0..PENDING_BEFORE_TICK {
            match sock.try_recv_from(buf) {
                Ok((n, source)) => self.on_datagram(&buf[..n], source),
                // Empty (or an error the receive task will see and handle).
                Err(_) => return,
            }
        }
    }
}

pub(super) async fn udp_loop(s: Arc<Shared>, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; wire::DATAGRAM_RECV_MAX];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, source)) => s.on_datagram(&buf[..n], source),
            // ICMP errors from earlier sends (a peer went away) surface here on Linux.
            Err(_) => tokio::task::yield_now().await,
        }
    }
}
