//! TCP: length-prefixed frames, both ways on every connection. A request that needs a TCP
//! answer goes out on a connection its sender opened, and the answer comes back on the same one:
//! a peer that opened a connection proved its address, where a datagram's `from` is only a claim.
//! So every connection, inbound or outbound, has a reader (frames to the core, with the
//! connection's id) and a writer (a bounded queue). Outbound connections are kept per peer and
//! reused; replies find their connection by id and never open one. Both directions have a bound
//! on connections, on frame length and on idle time.

use super::shared::Shared;
use crate::proto::{Arrival, ConnId, MemberId};
use crate::wire;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Outbound connections kept per member; beyond it the least recently used is closed. Probes
/// walk the whole membership, so keeping one per peer would cost 2(N-1) sockets per member.
pub const OUTBOUND_MAX: usize = 32;
pub const INBOUND_MAX: usize = 512;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const OUTBOUND_IDLE: Duration = Duration::from_secs(15);
/// Longer than the writer's idle time, so the writing side is the one that closes.
const INBOUND_IDLE: Duration = Duration::from_secs(30);
/// How long an outbound connection reads the peer's last frames after its writer is done.
const LINGER: Duration = Duration::from_secs(1);
/// Time allowed for the rest of a frame once its length has arrived.
const FRAME_READ_TIMEOUT: Duration = Duration::from_secs(10);

type Frame = Arc<Vec<u8>>;

/// Our outbound connection to one peer: which connection it is, and when it was last used.
struct Outbound {
    conn: ConnId,
    used: Instant,
}

#[derive(Default)]
struct Conns {
    /// The write queue of every open connection, inbound and outbound, by id: the map holds the
    /// only sender, so removing an entry lets its writer flush what is queued and end.
    queues: HashMap<ConnId, mpsc::Sender<Frame>>,
    /// Our outbound connections by peer, reused for later sends.
    outbound: HashMap<MemberId, Outbound>,
}

#[derive(Default)]
pub struct Pool {
    conns: Mutex<Conns>,
    next_conn: std::sync::atomic::AtomicU64,
    inbound: std::sync::atomic::AtomicUsize,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Conns> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Frames queued on connections and not yet written.
    pub fn queued(&self) -> usize {
        self.lock()
            .queues
            .values()
            .map(|tx| tx.max_capacity() - tx.capacity())
            .sum()
    }

    /// Drops every writer's queue handle: writers flush what is queued, then close.
    pub fn close_all(&self) {
        let mut c = self.lock();
        c.queues.clear();
        c.outbound.clear();
    }

    /// A new connection's id and write queue, registered for replies.
    fn register(&self, conns: &mut Conns, depth: usize) -> (ConnId, mpsc::Receiver<Frame>) {
        let id = self
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(depth);
        conns.queues.insert(id, tx);
        (id, rx)
    }

    /// A connection ended: replies to it are dropped from now on.
    fn forget(&self, id: ConnId) {
        let mut c = self.lock();
        c.queues.remove(&id);
        c.outbound.retain(|_, o| o.conn != id);
    }
}

/// Queues one frame for `to` on our outbound connection, opening (or reopening) it when needed.
pub fn send(shared: &Arc<Shared>, to: MemberId, frame: Frame) {
    let mut conns = shared.pool.lock();
    if let Some(o) = conns.outbound.get_mut(&to) {
        o.used = Instant::now();
        let id = o.conn;
        match conns.queues.get(&id).map(|tx| tx.try_send(frame)) {
            Some(Ok(())) => return,
            Some(Err(mpsc::error::TrySendError::Full(_))) => {
                super::stats::add(&shared.stats.dropped_queue_full, 1);
                return;
            }
            Some(Err(mpsc::error::TrySendError::Closed(f))) => {
                conns.queues.remove(&id);
                conns.outbound.remove(&to);
                return open(shared, &mut conns, to, f);
            }
            None => {
                conns.outbound.remove(&to);
                return;
            }
        }
    }
    open(shared, &mut conns, to, frame);
}

/// Queues a reply on the connection its request came on. Never opens a connection: when that
/// one has closed, the reply is dropped (and counted as a failed send).
pub fn reply(shared: &Arc<Shared>, conn: ConnId, frame: Frame) {
    let conns = shared.pool.lock();
    match conns.queues.get(&conn).map(|tx| tx.try_send(frame)) {
        Some(Ok(())) => {}
        Some(Err(mpsc::error::TrySendError::Full(_))) => {
            super::stats::add(&shared.stats.dropped_queue_full, 1)
        }
        Some(Err(mpsc::error::TrySendError::Closed(_))) | None => {
            super::stats::add(&shared.stats.send_errors, 1)
        }
    }
}

fn open(shared: &Arc<Shared>, conns: &mut Conns, to: MemberId, first: Frame) {
    if shared.hard_stop.is_cancelled() {
        return;
    }
    if conns.outbound.len() >= OUTBOUND_MAX {
        // Close the least recently used: dropping its queue handle lets the writer flush and end.
        if let Some((k, id)) = conns
            .outbound
            .iter()
            .min_by_key(|(_, o)| o.used)
            .map(|(k, o)| (*k, o.conn))
        {
            conns.outbound.remove(&k);
            conns.queues.remove(&id);
        }
    }
    let (id, rx) = shared.pool.register(conns, shared.cfg.buffer as usize);
    if let Some(tx) = conns.queues.get(&id) {
        let _ = tx.try_send(first);
    }
    conns.outbound.insert(
        to,
        Outbound {
            conn: id,
            used: Instant::now(),
        },
    );
    let s = shared.clone();
    shared.spawn(async move {
        let hard = s.hard_stop.clone();
        tokio::select! {
            _ = hard.cancelled() => {}
            _ = outbound(&s, to, id, rx) => {}
        }
        s.pool.forget(id);
    });
}

/// Our connection to `to`: frames from the queue go out (until it has been idle for
/// `OUTBOUND_IDLE`), and what comes back (the answers to our requests) goes to the core.
async fn outbound(s: &Arc<Shared>, to: MemberId, id: ConnId, rx: mpsc::Receiver<Frame>) {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
        Ok(Ok(st)) => st,
        Ok(Err(e)) => {
            super::stats::add(&s.stats.send_errors, 1);
            s.log.error(format_args!("connect to {to}: {e}"));
            return;
        }
        Err(_) => {
            super::stats::add(&s.stats.send_errors, 1);
            s.log.error(format_args!("connect to {to}: timed out"));
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let reading = reader(s, read, id);
    tokio::pin!(reading);
    // The reader ending (the peer closed, or sent garbage) ends the connection.
    tokio::select! {
        _ = writer(s, to, write, rx, Some(OUTBOUND_IDLE)) => {}
        _ = &mut reading => return,
    }
    // All written and our side shut (the queue closed or went idle): read what the peer still
    // sends until it closes too, briefly. Closing with unread bytes would reset the connection
    // and could discard what we wrote last (a leave notice).
    let _ = tokio::time::timeout(LINGER, &mut reading).await;
}

/// Writes queued frames to `to` until the queue closes, a write fails, or (with `idle`) nothing
/// was queued for that long.
async fn writer(
    s: &Arc<Shared>,
    to: SocketAddr,
    mut stream: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Frame>,
    idle: Option<Duration>,
) {
    loop {
        let next = match idle {
            Some(idle) => tokio::time::timeout(idle, rx.recv()).await.ok().flatten(),
            None => rx.recv().await,
        };
        let Some(frame) = next else {
            let _ = stream.shutdown().await;
            return;
        };
        let prefix = wire::length_prefix(frame.len());
        let write = async {
            stream.write_all(&prefix).await?;
            stream.write_all(&frame).await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(())) => {
                super::stats::add(&s.stats.frames_sent, 1);
                super::stats::add(&s.stats.stream_bytes_sent, (frame.len() + 4) as u64);
            }
            Ok(Err(e)) => {
                super::stats::add(&s.stats.send_errors, 1);
                // A peer that closed (it left, or restarted) is news for the failure detector,
                // not an error for the host's log.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) {
                    s.log.error(format_args!("write to {to}: {e}"));
                }
                return;
            }
            Err(_) => {
                super::stats::add(&s.stats.send_errors, 1);
                s.log.error(format_args!("write to {to}: timed out"));
                return;
            }
        }
    }
}

pub async fn accept_loop(s: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let open = s.pool.inbound.load(std::sync::atomic::Ordering::Relaxed);
        if open >= INBOUND_MAX {
            super::stats::add(&s.stats.connections_refused, 1);
            continue;
        }
        s.pool
            .inbound
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (id, rx) = {
            let mut conns = s.pool.lock();
            s.pool.register(&mut conns, s.cfg.buffer as usize)
        };
        let s2 = s.clone();
        s.spawn(async move {
            let soft = s2.soft_stop.clone();
            let _ = stream.set_nodelay(true);
            let (read, write) = stream.into_split();
            // The peer's requests are read here; our answers go back through the queue. The
            // reader decides when the connection ends.
            tokio::select! {
                _ = soft.cancelled() => {}
                _ = reader(&s2, read, id) => {}
                _ = writer(&s2, peer, write, rx, None) => {}
            }
            s2.pool.forget(id);
            s2.pool
                .inbound
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
}

/// Reads frames from one connection (either side may have opened it) and hands each to the core
/// with the connection's id, so answers go back on it.
async fn reader(s: &Arc<Shared>, mut stream: impl AsyncRead + Unpin, conn: ConnId) {
    let limits = wire::Limits::stream(s.cfg.size as usize);
    let limit = limits.frame;
    loop {
        let mut len = [0u8; 4];
        match tokio::time::timeout(INBOUND_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > limit {
            super::stats::add(&s.stats.dropped_too_large, 1);
            s.log
                .error(format_args!("dropped a {len}-byte frame (limit {limit})"));
            return;
        }
        // Grow the buffer as bytes arrive rather than trusting the length up front.
        let mut frame = Vec::new();
        let mut body = (&mut stream).take(len as u64);
        match tokio::time::timeout(FRAME_READ_TIMEOUT, body.read_to_end(&mut frame)).await {
            Ok(Ok(n)) if n == len => {}
            _ => return,
        }
        super::stats::add(&s.stats.frames_received, 1);
        super::stats::add(&s.stats.bytes_received, (len + 4) as u64);
        if !s.receive(&frame, limits, Arrival::Stream(conn)) {
            // Garbage or another key: this stream cannot be trusted any further.
            return;
        }
    }
}
