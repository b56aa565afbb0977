//! TCP: stream frames (`wire::StreamHeader`), both ways on every connection. A request that
//! needs a TCP answer goes out on a connection its sender opened, and the answer comes back on
//! the same one: a peer that opened a connection proved its address, where a datagram's `from` is
//! only a claim. So every connection, inbound or outbound, has a reader (frames to the core, with
//! the connection's id) and a writer (a queue bounded in frames, and in bytes both per
//! connection and per member).
//! Outbound connections are kept per peer and reused; replies find their connection by id and
//! never open one. Inbound connections are accepted in `accept` (under the caps of `inbound`).
//! Every frame is read by `frame::read_frame` (its header checked before its body, within the
//! byte budgets of `budget` and a deadline proportional to its length). Both directions have a
//! bound on idle time.

use super::budget::Budget;
use super::frame::{read_frame, ReadError};
use super::inbound;
use super::shared::Shared;
use super::stats::add;
use crate::proto::{Arrival, ConnId, MemberId};
use crate::wire::{self, DecodeError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Outbound connections kept per member; beyond it the least recently used is closed. Probes
/// walk the whole membership, so keeping one per peer would cost 2(N-1) sockets per member.
pub const OUTBOUND_MAX: usize = 32;
/// Bytes a member may hold for writing (queued, or taken by a writer and not yet written) on
/// all its connections together. A frame that finds nothing held always goes, whatever its
/// length.
pub const OUTBOUND_QUEUE_BYTES: usize = 16 << 20;
/// Bytes one connection may hold for writing, so that a peer that sends requests and never
/// reads the answers cannot take the whole member's budget. A frame that finds nothing held on
/// its connection passes this bound (so a long push-pull still goes), not the member's.
pub const CONN_QUEUE_BYTES: usize = OUTBOUND_QUEUE_BYTES / 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const OUTBOUND_IDLE: Duration = Duration::from_secs(15);
/// Longer than the writer's idle time, so the writing side is the one that closes.
const INBOUND_IDLE: Duration = Duration::from_secs(30);
/// How long an outbound connection reads the peer's last frames after its writer is done.
pub(super) const LINGER: Duration = Duration::from_secs(1);
type Frame = Arc<Vec<u8>>;

/// Our outbound connection to one peer: which connection it is, and when it was last used.
struct Outbound {
    conn: ConnId,
    used: Instant,
}

/// The sending end of a connection's write queue, and the bytes held for writing on it.
struct Writer {
    tx: mpsc::Sender<Frame>,
    bytes: Arc<AtomicUsize>,
}

#[derive(Default)]
pub(super) struct Conns {
    /// The write queue of every open connection, inbound and outbound, by id: the map holds the
    /// only sender, so removing an entry lets its writer flush what is queued and end.
    queues: HashMap<ConnId, Writer>,
    /// Our outbound connections by peer, reused for later sends.
    outbound: HashMap<MemberId, Outbound>,
}

pub struct Pool {
    conns: Mutex<Conns>,
    next_conn: AtomicU64,
    /// Bytes held for writing on all the connections (queued, or being written).
    queued_bytes: Arc<AtomicUsize>,
    /// This member in the process's registry of inbound connections (`inbound`).
    pub(super) member: u64,
    /// In-flight inbound body bytes.
    pub(super) budget: Budget,
}

impl Default for Pool {
    fn default() -> Self {
        static MEMBERS: AtomicU64 = AtomicU64::new(0);
        Pool {
            conns: Mutex::default(),
            next_conn: AtomicU64::new(0),
            queued_bytes: Arc::default(),
            member: MEMBERS.fetch_add(1, Ordering::Relaxed),
            budget: Budget::default(),
        }
    }
}

/// The receiving end of a connection's write queue. What is still queued when it goes (the
/// writer ended or was cancelled) no longer counts as held, and counts as failed sends.
pub(super) struct Queue {
    rx: mpsc::Receiver<Frame>,
    held: Held,
}

/// What a frame held for writing counts against: its member's bytes and its connection's; and
/// where a frame that never went is counted (`send_errors`).
#[derive(Clone)]
struct Held {
    shared: Arc<Shared>,
    conn: Arc<AtomicUsize>,
}

impl Held {
    fn release(&self, len: usize, written: bool) {
        self.shared
            .pool
            .queued_bytes
            .fetch_sub(len, Ordering::Relaxed);
        self.conn.fetch_sub(len, Ordering::Relaxed);
        if !written {
            add(&self.shared.stats.send_errors, 1);
        }
    }
}

/// A frame a writer took from its queue: it counts as held until it has been written or the
/// write was given up (failed, timed out or cancelled), when this is dropped.
struct Writing {
    frame: Frame,
    held: Held,
    written: bool,
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.held.release(self.frame.len(), self.written);
    }
}

impl Queue {
    /// The next frame to write.
    async fn recv(&mut self) -> Option<Writing> {
        let frame = self.rx.recv().await?;
        Some(Writing {
            frame,
            held: self.held.clone(),
            written: false,
        })
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.rx.close();
        while let Ok(f) = self.rx.try_recv() {
            self.held.release(f.len(), false);
        }
    }
}

/// Adds `len` to `count` unless that would pass `max` (a frame that finds it at 0 always
/// passes).
fn take(count: &AtomicUsize, len: usize, max: usize) -> bool {
    let before = count.fetch_add(len, Ordering::Relaxed);
    if before > 0 && before + len > max {
        count.fetch_sub(len, Ordering::Relaxed);
        return false;
    }
    true
}

/// What became of a frame offered to a connection's queue.
enum Queued {
    Yes,
    /// The connection holds its share of bytes, the member its budget, or the queue its depth
    /// in frames: dropped.
    Full,
    /// The connection's writer has ended: the frame is given back.
    Closed(Frame),
}

impl Pool {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Conns> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Frames queued on connections and not yet written.
    pub fn queued(&self) -> usize {
        self.lock()
            .queues
            .values()
            .map(|w| w.tx.max_capacity() - w.tx.capacity())
            .sum()
    }

    /// Drops every writer's queue handle: writers flush what is queued, then close.
    pub fn close_all(&self) {
        let mut c = self.lock();
        c.queues.clear();
        c.outbound.clear();
    }

    /// A new connection's id and write queue (`cfg.buffer` frames deep), registered for
    /// replies.
    /// `held` counts the bytes held for writing on it (an inbound connection's is shared with
    /// its admission, which weighs it when choosing a connection to close).
    pub(super) fn register(
        &self,
        shared: &Arc<Shared>,
        conns: &mut Conns,
        held: Arc<AtomicUsize>,
    ) -> (ConnId, Queue) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(shared.cfg.buffer as usize);
        let held = Held {
            shared: shared.clone(),
            conn: held,
        };
        let bytes = held.conn.clone();
        conns.queues.insert(id, Writer { tx, bytes });
        (id, Queue { rx, held })
    }

    /// Queues `frame` on `w` if its bytes fit the connection's share (`CONN_QUEUE_BYTES`) and
    /// the member's budget (`OUTBOUND_QUEUE_BYTES`), and the queue has room.
    fn queue(&self, w: &Writer, frame: Frame) -> Queued {
        if w.tx.is_closed() {
            return Queued::Closed(frame);
        }
        let len = frame.len();
        if !take(&w.bytes, len, CONN_QUEUE_BYTES) {
            return Queued::Full;
        }
        if !take(&self.queued_bytes, len, OUTBOUND_QUEUE_BYTES) {
            w.bytes.fetch_sub(len, Ordering::Relaxed);
            return Queued::Full;
        }
        let back = |f: &Frame| {
            w.bytes.fetch_sub(f.len(), Ordering::Relaxed);
            self.queued_bytes.fetch_sub(f.len(), Ordering::Relaxed);
        };
        match w.tx.try_send(frame) {
            Ok(()) => Queued::Yes,
            Err(mpsc::error::TrySendError::Full(f)) => {
                back(&f);
                Queued::Full
            }
            Err(mpsc::error::TrySendError::Closed(f)) => {
                back(&f);
                Queued::Closed(f)
            }
        }
    }

    /// A connection ended: replies to it are dropped from now on.
    pub(super) fn forget(&self, id: ConnId) {
        let mut c = self.lock();
        c.queues.remove(&id);
        c.outbound.retain(|_, o| o.conn != id);
    }
}

/// Queues one frame for `to` on our outbound connection, opening (or reopening) it when needed.
pub fn send(shared: &Arc<Shared>, to: MemberId, frame: Frame) {
    let pool = &shared.pool;
    let mut conns = pool.lock();
    let mut frame = frame;
    if let Some(o) = conns.outbound.get_mut(&to) {
        o.used = Instant::now();
        let id = o.conn;
        frame = match conns.queues.get(&id) {
            Some(w) => match pool.queue(w, frame) {
                Queued::Yes => return,
                Queued::Full => {
                    add(&shared.stats.dropped_queue_full, 1);
                    return;
                }
                Queued::Closed(f) => f,
            },
            // Its task ended (`forget`) between our lookups: a new connection, as when closed.
            None => frame,
        };
        conns.queues.remove(&id);
        conns.outbound.remove(&to);
    }
    open(shared, &mut conns, to, frame);
}

/// Queues a reply on the connection its request came on. Never opens a connection: when that
/// one has closed, the reply is dropped (and counted as a failed send).
pub fn reply(shared: &Arc<Shared>, conn: ConnId, frame: Frame) {
    let pool = &shared.pool;
    let conns = pool.lock();
    match conns.queues.get(&conn).map(|w| pool.queue(w, frame)) {
        Some(Queued::Yes) => {}
        Some(Queued::Full) => add(&shared.stats.dropped_queue_full, 1),
        Some(Queued::Closed(_)) | None => add(&shared.stats.send_errors, 1),
    }
}

fn open(shared: &Arc<Shared>, conns: &mut Conns, to: MemberId, first: Frame) {
    if shared.hard_stop.is_cancelled() {
        return;
    }
    // A new connection has nothing held: only the member's budget can refuse its first frame.
    if !take(&shared.pool.queued_bytes, first.len(), OUTBOUND_QUEUE_BYTES) {
        add(&shared.stats.dropped_queue_full, 1);
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
    let (id, rx) = shared.pool.register(shared, conns, Arc::default());
    // A new queue has room for its first frame, whose bytes the member's budget counts already.
    if let Some(w) = conns.queues.get(&id) {
        w.bytes.fetch_add(first.len(), Ordering::Relaxed);
        let _ = w.tx.try_send(first);
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
/// `OUTBOUND_IDLE`), and what comes back (the answers to our requests) goes to the core. When
/// the connect fails, the frames queued count as failed sends (dropping `rx`).
async fn outbound(s: &Arc<Shared>, to: MemberId, id: ConnId, rx: Queue) {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
        Ok(Ok(st)) => st,
        Ok(Err(e)) => {
            s.log.error(format_args!("connect to {to}: {e}"));
            return;
        }
        Err(_) => {
            s.log.error(format_args!("connect to {to}: timed out"));
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut read, write) = stream.into_split();
    let reading = reader(s, &mut read, to, id, None);
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
/// was queued for that long. A frame not written (the write failed or timed out, or this was
/// cancelled) counts as a failed send when its `Writing` goes.
pub(super) async fn writer(
    s: &Arc<Shared>,
    to: SocketAddr,
    mut stream: OwnedWriteHalf,
    mut rx: Queue,
    idle: Option<Duration>,
) {
    loop {
        let next = match idle {
            Some(idle) => tokio::time::timeout(idle, rx.recv()).await.ok().flatten(),
            None => rx.recv().await,
        };
        // Held (counted against the queue bounds) until written or given up, even cancelled.
        let Some(mut writing) = next else {
            let _ = stream.shutdown().await;
            return;
        };
        let frame = writing.frame.clone();
        match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&frame)).await {
            Ok(Ok(())) => {
                writing.written = true;
                add(&s.stats.frames_sent, 1);
                add(&s.stats.stream_bytes_sent, frame.len() as u64);
            }
            Ok(Err(e)) => {
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
                s.log.error(format_args!("write to {to}: timed out"));
                return;
            }
        }
    }
}

/// How a connection's reader ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// The peer closed, went idle, sent garbage, or refused us.
    Closed,
    /// A frame on an inbound connection failed authentication or carried another label: the
    /// peer gets the refusal (`refuse`).
    Unauthenticated,
}

/// Reads frames from one connection (either side may have opened it; `admitted` is the inbound
/// registration, touched on every frame) and hands each to the core with the connection's id, so
/// answers go back on it.
pub(super) async fn reader(
    s: &Arc<Shared>,
    mut stream: impl AsyncRead + Unpin,
    peer: SocketAddr,
    conn: ConnId,
    admitted: Option<&inbound::Admitted>,
) -> Ended {
    let limits = wire::Limits::stream(s.cfg.size as usize);
    loop {
        match read_frame(
            &mut stream,
            || s.key(),
            limits,
            &s.pool.budget,
            INBOUND_IDLE,
        )
        .await
        {
            Ok((msg, len, grant)) => {
                if let Some(a) = admitted {
                    a.touch();
                }
                add(&s.stats.frames_received, 1);
                add(&s.stats.bytes_received, len as u64);
                let ours = admitted.is_none(); // we opened it (`outbound`)
                s.with_core(|core, now| core.handle(now, Arrival::Stream { conn, ours }, msg));
                // The body's bytes stay within the read budget until the message is handled.
                drop(grant);
                if let Some(a) = admitted {
                    a.handled();
                }
            }
            Err(ReadError::Rejected(DecodeError::Refused)) if admitted.is_none() => {
                s.log.error_about(
                    peer,
                    "refused",
                    format_args!(
                        "{peer} refused our frames: they fail authentication there (wrong or \
                         missing secret key, or another cluster label?; {})",
                        s.key_state()
                    ),
                );
                return Ended::Closed;
            }
            Err(ReadError::Rejected(e)) => {
                // Our own connection's peer is a member's address; an inbound one's port is not.
                s.count_dropped(e, peer, admitted.is_some());
                if e == DecodeError::TooLarge {
                    s.log.error(format_args!(
                        "dropped a stream frame over the limit ({} bytes)",
                        limits.frame
                    ));
                }
                // Garbage, another key or too long: this stream cannot be trusted any further.
                let unauthenticated = matches!(e, DecodeError::Auth | DecodeError::Label);
                return if unauthenticated && admitted.is_some() {
                    Ended::Unauthenticated
                } else {
                    Ended::Closed
                };
            }
            Err(ReadError::Closed) => return Ended::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::frame::tests::meta_request;

    use super::super::shared::unbound_for_tests as shared;

    /// A peer whose outbound entry has lost its queue (the connection ended between two
    /// lookups) still gets the frame, on a new connection, rather than nothing and no count.
    #[test]
    fn a_send_whose_connection_is_gone_opens_a_new_one() {
        let s = shared();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let to = listener.local_addr().unwrap();
        s.pool.lock().outbound.insert(
            to,
            Outbound {
                conn: u64::MAX,
                used: Instant::now(),
            },
        );
        let frame = meta_request();
        send(&s, to, Arc::new(frame.clone()));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut peer = loop {
            match listener.accept() {
                Ok((peer, _)) => break peer,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("no connection came for the frame: {e}"),
            }
        };
        peer.set_nonblocking(false).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut got = vec![0u8; frame.len()];
        std::io::Read::read_exact(&mut peer, &mut got).unwrap();
        assert_eq!(got, frame);
        s.pool.close_all();
    }
}
