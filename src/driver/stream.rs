//! TCP: stream frames (`wire::StreamHeader`). Outbound connections are kept per peer and reused
//! (one writer task each, with a queue bounded in frames and, per member, in bytes); inbound
//! connections are admitted under the caps of `inbound` and read frame by frame, each header
//! checked before its body is read within the byte budgets of `budget` and a deadline
//! proportional to its length. Both directions have a bound on idle time.

use super::budget::Budget;
use super::inbound;
use super::shared::Shared;
use super::stats::add;
use crate::proto::{MemberId, Message};
use crate::wire::{self, DecodeError, StreamHeader};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Outbound connections kept per member; beyond it the least recently used is closed. Probes
/// walk the whole membership, so keeping one per peer would cost 2(N-1) sockets per member.
pub const OUTBOUND_MAX: usize = 32;
/// Bytes a member may have queued on all its outbound connections together. A frame that
/// finds nothing queued always goes, whatever its length.
pub const OUTBOUND_QUEUE_BYTES: usize = 16 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const OUTBOUND_IDLE: Duration = Duration::from_secs(15);
/// Longer than the writer's idle time, so the writing side is the one that closes.
const INBOUND_IDLE: Duration = Duration::from_secs(30);
/// Time allowed for the rest of a header once its first byte has arrived...
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// ...and for a body: this, plus its length at `BODY_MIN_RATE` (waiting for the byte budget
/// included). A slow sender gets a minimum rate, not a fixed time per frame.
const BODY_TIMEOUT: Duration = Duration::from_secs(5);
const BODY_MIN_RATE: u64 = 1 << 20; // bytes per second
/// A body's buffer grows by at most this much (or its size so far) per step, as bytes arrive.
const BODY_CHUNK: usize = 64 << 10;

/// A kept outbound connection: the writer's queue, which writer it is, and when it was last used.
struct Conn {
    tx: mpsc::Sender<Arc<Vec<u8>>>,
    serial: u64,
    used: Instant,
}

pub struct Pool {
    conns: Mutex<HashMap<MemberId, Conn>>,
    next_serial: AtomicU64,
    /// Bytes queued on the outbound connections and not yet written.
    queued_bytes: Arc<AtomicUsize>,
    /// This member in the process's registry of inbound connections (`inbound`).
    member: u64,
    /// In-flight inbound body bytes.
    budget: Budget,
}

impl Default for Pool {
    fn default() -> Self {
        static MEMBERS: AtomicU64 = AtomicU64::new(0);
        Pool {
            conns: Mutex::default(),
            next_serial: AtomicU64::new(0),
            queued_bytes: Arc::default(),
            member: MEMBERS.fetch_add(1, Ordering::Relaxed),
            budget: Budget::default(),
        }
    }
}

impl Pool {
    /// Frames queued on outbound connections and not yet written.
    pub fn queued(&self) -> usize {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|c| c.tx.max_capacity() - c.tx.capacity())
            .sum()
    }

    /// Drops every writer's queue handle: writers flush what is queued, then close.
    pub fn close_all(&self) {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Queues one frame for `to`, opening (or reopening) the connection when needed.
pub fn send(shared: &Arc<Shared>, to: MemberId, frame: Arc<Vec<u8>>) {
    let queued = &shared.pool.queued_bytes;
    let len = frame.len();
    let before = queued.fetch_add(len, Ordering::Relaxed);
    if before > 0 && before + len > OUTBOUND_QUEUE_BYTES {
        queued.fetch_sub(len, Ordering::Relaxed);
        add(&shared.stats.dropped_queue_full, 1);
        return;
    }
    let mut conns = shared.pool.conns.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = conns.get_mut(&to) {
        c.used = Instant::now();
        match c.tx.try_send(frame) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(_)) => {
                queued.fetch_sub(len, Ordering::Relaxed);
                add(&shared.stats.dropped_queue_full, 1);
                return;
            }
            Err(mpsc::error::TrySendError::Closed(f)) => {
                conns.remove(&to);
                return open(shared, &mut conns, to, f);
            }
        }
    }
    open(shared, &mut conns, to, frame);
}

fn open(
    shared: &Arc<Shared>,
    conns: &mut HashMap<MemberId, Conn>,
    to: MemberId,
    first: Arc<Vec<u8>>,
) {
    if shared.hard_stop.is_cancelled() {
        shared
            .pool
            .queued_bytes
            .fetch_sub(first.len(), Ordering::Relaxed);
        return;
    }
    if conns.len() >= OUTBOUND_MAX {
        // Close the least recently used: dropping its queue handle lets the writer flush and end.
        if let Some(k) = conns.iter().min_by_key(|(_, c)| c.used).map(|(k, _)| *k) {
            conns.remove(&k);
        }
    }
    let (tx, rx) = mpsc::channel(shared.cfg.buffer as usize);
    let _ = tx.try_send(first);
    let serial = shared.pool.next_serial.fetch_add(1, Ordering::Relaxed);
    // The map holds the only sender, so clearing the map closes the queue.
    conns.insert(
        to,
        Conn {
            tx,
            serial,
            used: Instant::now(),
        },
    );
    let s = shared.clone();
    shared.spawn(async move {
        let hard = s.hard_stop.clone();
        let mut rx = rx;
        tokio::select! {
            _ = hard.cancelled() => {}
            _ = writer(&s, to, &mut rx) => {}
        }
        // What was queued and not written no longer counts against the byte bound.
        rx.close();
        while let Ok(f) = rx.try_recv() {
            s.pool.queued_bytes.fetch_sub(f.len(), Ordering::Relaxed);
        }
        let mut conns = s.pool.conns.lock().unwrap_or_else(|e| e.into_inner());
        if conns.get(&to).is_some_and(|c| c.serial == serial) {
            conns.remove(&to);
        }
    });
}

async fn writer(s: &Arc<Shared>, to: MemberId, rx: &mut mpsc::Receiver<Arc<Vec<u8>>>) {
    let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
        Ok(Ok(st)) => st,
        Ok(Err(e)) => {
            add(&s.stats.send_errors, 1);
            s.log.error(format_args!("connect to {to}: {e}"));
            return;
        }
        Err(_) => {
            add(&s.stats.send_errors, 1);
            s.log.error(format_args!("connect to {to}: timed out"));
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    loop {
        let frame = match tokio::time::timeout(OUTBOUND_IDLE, rx.recv()).await {
            Ok(Some(f)) => f,
            _ => return,
        };
        let written = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&frame)).await;
        s.pool
            .queued_bytes
            .fetch_sub(frame.len(), Ordering::Relaxed);
        match written {
            Ok(Ok(())) => {
                add(&s.stats.frames_sent, 1);
                add(&s.stats.stream_bytes_sent, frame.len() as u64);
            }
            Ok(Err(e)) => {
                add(&s.stats.send_errors, 1);
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
                add(&s.stats.send_errors, 1);
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
        let Some(conn) = inbound::admit(s.pool.member, peer.ip()) else {
            add(&s.stats.connections_refused, 1);
            continue;
        };
        let s2 = s.clone();
        s.spawn(async move {
            let soft = s2.soft_stop.clone();
            tokio::select! {
                _ = soft.cancelled() => {}
                _ = conn.evicted() => add(&s2.stats.connections_evicted, 1),
                _ = reader(&s2, stream, &conn) => {}
            }
        });
    }
}

async fn reader(s: &Arc<Shared>, mut stream: TcpStream, conn: &inbound::Admitted) {
    let limits = wire::Limits::stream(s.cfg.size as usize);
    loop {
        match read_frame(&mut stream, &s.key, limits, &s.pool.budget, INBOUND_IDLE).await {
            Ok((msg, len)) => {
                conn.touch();
                add(&s.stats.frames_received, 1);
                add(&s.stats.bytes_received, len as u64);
                s.with_core(|core, now| core.handle(now, msg));
            }
            Err(ReadError::Rejected(e)) => {
                s.count_dropped(e);
                if e == DecodeError::TooLarge {
                    s.log.error(format_args!(
                        "dropped a stream frame over the limit ({} bytes)",
                        limits.frame
                    ));
                }
                // Garbage, another key or too long: this stream cannot be trusted any further.
                return;
            }
            Err(ReadError::Closed) => return,
        }
    }
}

/// Why no frame came from a stream.
#[derive(Debug)]
pub(super) enum ReadError {
    /// End of stream, an I/O error, idle for too long, or a header or body not in time.
    Closed,
    /// The frame was rejected (its header, its body, or its tag).
    Rejected(DecodeError),
}

/// Reads one frame from `r`: waits up to `idle` for its first byte, checks the header (type,
/// length and key) before reading the body, then reads the body only within `budget` and a
/// deadline proportional to its length, growing the buffer as bytes arrive. Returns the message
/// and the frame's length on the wire.
pub(super) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    key: &wire::Key,
    limits: wire::Limits,
    budget: &Budget,
    idle: Duration,
) -> Result<(Message, usize), ReadError> {
    let mut header = [0u8; wire::STREAM_HEADER_LEN + wire::MAC_LEN];
    let header = &mut header[..StreamHeader::len(key)];
    match tokio::time::timeout(idle, r.read(&mut header[..1])).await {
        Ok(Ok(1)) => {}
        _ => return Err(ReadError::Closed),
    }
    match tokio::time::timeout(HEADER_TIMEOUT, r.read_exact(&mut header[1..])).await {
        Ok(Ok(_)) => {}
        _ => return Err(ReadError::Closed),
    }
    let h = StreamHeader::decode(header, key, limits).map_err(ReadError::Rejected)?;
    let len = h.rest_len();
    let deadline = tokio::time::Instant::now()
        + BODY_TIMEOUT
        + Duration::from_secs(len as u64 / BODY_MIN_RATE);
    let body = async {
        let _grant = budget.grant(len).await;
        let mut rest = Vec::new();
        while rest.len() < len {
            let step = (len - rest.len()).min(BODY_CHUNK.max(rest.len()));
            rest.reserve_exact(step);
            let mut part = (&mut *r).take(step as u64);
            match part.read_buf(&mut rest).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        Some(rest)
    };
    let rest = match tokio::time::timeout_at(deadline, body).await {
        Ok(Some(rest)) => rest,
        _ => return Err(ReadError::Closed),
    };
    let msg = h
        .decode_rest(&rest, key, limits)
        .map_err(ReadError::Rejected)?;
    Ok((msg, h.frame_len()))
}
