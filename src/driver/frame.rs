//! Reading one stream frame (`wire::StreamHeader`) off a connection, either side's: the header
//! first, checked before a byte of the body is read; then the body, within the member's byte
//! budgets (`budget`) and a deadline proportional to its length, the buffer growing as bytes
//! arrive.

use super::budget::{self, Budget};
use crate::proto::Message;
use crate::wire::{self, DecodeError, StreamHeader};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Time allowed for the rest of a header once its first byte has arrived...
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// ...and for a body: this, plus its length at `BODY_MIN_RATE` (waiting for the byte budget
/// included). A slow sender gets a minimum rate, not a fixed time per frame.
const BODY_TIMEOUT: Duration = Duration::from_secs(5);
const BODY_MIN_RATE: u64 = 1 << 20; // bytes per second
/// A body's buffer grows by at most this much (or its size so far) per step, as bytes arrive.
const BODY_CHUNK: usize = 64 << 10;

/// Why no frame came from a stream.
#[derive(Debug)]
pub(super) enum ReadError {
    /// End of stream, an I/O error, idle for too long, or a header or body not in time.
    Closed,
    /// The frame was rejected (its header, its body, or its tag).
    Rejected(DecodeError),
}

/// Reads one frame from `r`: waits up to `idle` for its first byte, checks the header (type,
/// length, label and key: the keys `key` gives once that byte has come, so a key removed while
/// the connection was idle no longer opens) before reading the body, then reads the body only
/// within `budget` and a deadline proportional to its length (waiting for the budget included),
/// growing the buffer as bytes arrive. Returns the message, the frame's length on the wire, and the body's grant: hold
/// it until the message has been handled.
pub(super) async fn read_frame<'b, R: AsyncRead + Unpin>(
    r: &mut R,
    key: impl FnOnce() -> Arc<wire::Key>,
    limits: wire::Limits,
    budget: &'b Budget,
    idle: Duration,
) -> Result<(Message, usize, budget::Grant<'b>), ReadError> {
    let mut header = [0u8; wire::STREAM_HEADER_MAX];
    match tokio::time::timeout(idle, r.read(&mut header[..1])).await {
        Ok(Ok(1)) => {}
        _ => return Err(ReadError::Closed),
    }
    let key = key();
    // The first bytes say how long the header is (sealed, labeled); all of it comes in time.
    let header_by = tokio::time::Instant::now() + HEADER_TIMEOUT;
    read_by(r, &mut header[1..wire::HEADER_LEN], header_by).await?;
    let n = StreamHeader::len(&header[..wire::HEADER_LEN]).map_err(ReadError::Rejected)?;
    read_by(r, &mut header[wire::HEADER_LEN..n], header_by).await?;
    let h = StreamHeader::decode(&header[..n], &key, limits).map_err(ReadError::Rejected)?;
    let len = h.rest_len();
    let deadline = tokio::time::Instant::now()
        + BODY_TIMEOUT
        + Duration::from_secs(len as u64 / BODY_MIN_RATE);
    let body = async {
        let grant = budget.grant(len).await;
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
        Some((rest, grant))
    };
    let (mut rest, grant) = match tokio::time::timeout_at(deadline, body).await {
        Ok(Some(read)) => read,
        _ => return Err(ReadError::Closed),
    };
    let msg = h
        .decode_rest(&mut rest, limits)
        .map_err(ReadError::Rejected)?;
    Ok((msg, h.frame_len(), grant))
}

/// Fills `buf` from `r` by `deadline`.
async fn read_by<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    deadline: tokio::time::Instant,
) -> Result<(), ReadError> {
    match tokio::time::timeout_at(deadline, r.read_exact(buf)).await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(ReadError::Closed),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A keyless stream frame: a MetaRequest from 127.0.0.1:9.
    pub(in crate::driver) fn meta_request() -> Vec<u8> {
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        wire::encode_stream(&Message::MetaRequest { from }, &wire::Key::new(None))
    }

    /// A body's bytes stay granted until the message read from it has been handled (its
    /// decoded form is as large), not only while the body is read.
    #[test]
    fn a_frame_keeps_its_grant_until_it_is_dropped() {
        runtime().block_on(async {
            let budget = Budget::default();
            let full = budget.available();
            let frame = meta_request();
            let limits = wire::Limits::stream(1 << 20);
            let key = || Arc::new(wire::Key::new(None));
            let read = read_frame(&mut &frame[..], key, limits, &budget, BODY_TIMEOUT).await;
            assert!(read.is_ok());
            let body = frame.len() - wire::STREAM_HEADER_LEN;
            assert_eq!(
                budget.available(),
                full - body,
                "the body's grant went before the message was handled"
            );
            drop(read);
            assert_eq!(budget.available(), full);
        });
    }

    /// Long frames holding the member's whole budget (claimed, and never sent) leave small
    /// frames their own: a request is read and decoded while they wait.
    #[test]
    fn a_small_frame_is_read_while_long_frames_hold_the_budget() {
        runtime().block_on(async {
            let budget = Budget::default();
            let _long = budget.grant(budget::MEMBER_BYTES).await;
            let frame = meta_request();
            let limits = wire::Limits::stream(1 << 20);
            let key = || Arc::new(wire::Key::new(None));
            let read = read_frame(&mut &frame[..], key, limits, &budget, BODY_TIMEOUT).await;
            assert!(
                read.is_ok(),
                "a small frame waited behind long ones until its deadline"
            );
        });
    }
}
