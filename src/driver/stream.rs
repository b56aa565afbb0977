//! TCP: length-prefixed frames. Outbound connections are kept per peer and reused (one writer
//! task each, with a bounded queue); inbound connections are read frame by frame. Both directions
//! have a bound on connections, on frame length and on idle time.

use super::shared::Shared;
use crate::proto::MemberId;
use crate::wire;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
/// Time allowed for the rest of a frame once its length has arrived.
const FRAME_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A kept outbound connection: the writer's queue, which writer it is, and when it was last used.
struct Conn {
    tx: mpsc::Sender<Arc<Vec<u8>>>,
    serial: u64,
    used: Instant,
}

#[derive(Default)]
pub struct Pool {
    conns: Mutex<HashMap<MemberId, Conn>>,
    next_serial: std::sync::atomic::AtomicU64,
    inbound: std::sync::atomic::AtomicUsize,
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
    let mut conns = shared.pool.conns.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = conns.get_mut(&to) {
        c.used = Instant::now();
        match c.tx.try_send(frame) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(_)) => {
                super::stats::add(&shared.stats.dropped_queue_full, 1);
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
    let serial = shared
        .pool
        .next_serial
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
        tokio::select! {
            _ = hard.cancelled() => {}
            _ = writer(&s, to, rx) => {}
        }
        let mut conns = s.pool.conns.lock().unwrap_or_else(|e| e.into_inner());
        if conns.get(&to).is_some_and(|c| c.serial == serial) {
            conns.remove(&to);
        }
    });
}

async fn writer(s: &Arc<Shared>, to: MemberId, mut rx: mpsc::Receiver<Arc<Vec<u8>>>) {
    let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
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
    loop {
        let frame = match tokio::time::timeout(OUTBOUND_IDLE, rx.recv()).await {
            Ok(Some(f)) => f,
            _ => return,
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
        let s2 = s.clone();
        s.spawn(async move {
            let soft = s2.soft_stop.clone();
            tokio::select! {
                _ = soft.cancelled() => {}
                _ = reader(&s2, stream) => {}
            }
            s2.pool
                .inbound
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let _ = peer;
        });
    }
}

async fn reader(s: &Arc<Shared>, mut stream: TcpStream) {
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
        if !s.receive(&frame, limits) {
            // Garbage or another key: this stream cannot be trusted any further.
            return;
        }
    }
}
