//! Inbound TCP connections: admitted under the caps (`inbound`), their requests read by
//! `stream::reader` and answered through the connection's queue (`stream::writer`), and the
//! refusal written back to a peer whose frame failed authentication.

use super::inbound;
use super::shared::Shared;
use super::stats::add;
use super::stream::{reader, reply, writer, Ended, LINGER};
use crate::proto::ConnId;
use crate::wire;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;

pub async fn accept_loop(s: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Some(admitted) = inbound::admit(s.pool.member, peer.ip()) else {
            add(&s.stats.connections_refused, 1);
            continue;
        };
        let (id, rx) = {
            let mut conns = s.pool.lock();
            s.pool.register(&s, &mut conns, admitted.held())
        };
        let s2 = s.clone();
        s.spawn(async move {
            let soft = s2.soft_stop.clone();
            let _ = stream.set_nodelay(true);
            let (mut read, write) = stream.into_split();
            // The peer's requests are read here; our answers go back through the queue. The
            // reader decides when the connection ends.
            let writing = writer(&s2, peer, write, rx, None);
            tokio::pin!(writing);
            let end = {
                let reading = reader(&s2, &mut read, peer, id, Some(&admitted));
                tokio::select! {
                    _ = soft.cancelled() => Ended::Closed,
                    _ = admitted.evicted() => {
                        add(&s2.stats.connections_evicted, 1);
                        Ended::Closed
                    }
                    end = reading => end,
                    _ = &mut writing => Ended::Closed,
                }
            };
            if end == Ended::Unauthenticated {
                // Bounded, and cut short like the connection itself: evicted (its slot is
                // already given back) or the member stopping.
                tokio::select! {
                    _ = refuse(&s2, id, &mut read, writing) => {}
                    _ = admitted.evicted() => add(&s2.stats.connections_evicted, 1),
                    _ = soft.cancelled() => {}
                }
            }
            s2.pool.forget(id);
        });
    }
}

/// Tells the peer of an inbound connection that its frame failed authentication (or carried
/// another label), so its operator learns why it hears nothing: queues the refusal behind any
/// answers, closes the queue, lets the writer finish, then reads (and drops) what the peer still
/// sends until it closes, briefly, so that closing with unread bytes does not reset the
/// connection and discard the refusal. Nine bytes, once, to an address the handshake proved:
/// no more than the header it answers.
async fn refuse(
    s: &Arc<Shared>,
    id: ConnId,
    read: &mut (impl AsyncRead + Unpin),
    writing: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) {
    reply(s, id, Arc::new(wire::REFUSAL.to_vec()));
    s.pool.forget(id);
    let drain = async {
        let _ = writing.await;
        let mut sink = [0u8; 4096];
        while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
