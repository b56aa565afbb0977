//! The wire format, in one place: framing, protocol version, size limits, authentication, the
//! message schema and the codec. `docs/protocol.md` describes the same format for another
//! implementation.
//!
//! A frame is `magic "PK" | version | message type | flags | body | [MAC]`. On UDP one datagram
//! carries one frame; on TCP each frame is preceded by its length as a big-endian u32. With a
//! secret key every frame ends in a 16-byte HMAC-SHA256 tag over everything before it.
//!
//! Imports go one way: this module knows the core's types (`crate::proto`) and converts them to
//! and from its own schema (`schema.rs`, `convert.rs`); the core knows nothing of bytes beyond the
//! `proto::RumorEncoding` this module implements (`RUMOR_ENCODING`).

mod codec;
mod convert;
mod schema;
#[cfg(test)]
mod tests;

use crate::proto::{Message, Rumor, RumorEncoding, MEMBERS_MAX};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub use crate::proto::ATTR_MAX;

pub const MAGIC: [u8; 2] = *b"PK";
pub const PROTOCOL_VERSION: u8 = 1;
pub const HEADER_LEN: usize = 5;
pub const MAC_LEN: usize = 16;
const FLAG_MAC: u8 = 1;

/// Largest datagram we send: under a 1500-byte Ethernet MTU with IPv6 and UDP headers, so nothing
/// relies on IP fragmentation. Larger messages go over TCP.
pub const DATAGRAM_MAX: usize = 1400;
/// Receive buffer for one datagram; anything longer is truncated by the kernel and then rejected.
/// Small on purpose: every member in a process keeps one.
pub const DATAGRAM_RECV_MAX: usize = 2048;
/// Room in a frame around the rumors of a datagram message (header, MAC, ids, seq, lengths).
pub const MESSAGE_OVERHEAD: usize = HEADER_LEN + MAC_LEN + 96;
/// Largest metadata rumor carried inline in a datagram; larger metadata is announced and fetched.
pub const INLINE_META_MAX: usize = 900;
/// Largest configurable metadata / packet size.
pub const SIZE_MAX: usize = 64 << 20;
/// Most rumors one message may carry: senders pack at most a datagram's worth (1,283 bytes of
/// rumors of at least 8 bytes each, so 160), whatever the transport.
pub const RUMORS_MAX: usize = 256;
/// Room a stream frame has for the member table, beside the metadata (`Limits::stream`).
pub const TABLE_ROOM: usize = 8 << 20;
/// The largest encoded member state without its strings: an IPv6 id (1 + 16 + 3 bytes), the
/// incarnation (5), the status (1) and two string lengths (9 each).
const MEMBER_STATE_FIXED_MAX: usize = 44;
/// Room in a push-pull frame for everything but the member states and the metadata bytes:
/// header, MAC, sender, flags, the sequence length, the version and the metadata's own fields.
const PUSH_PULL_FIXED_MAX: usize = 1024;
/// The smallest encoded member state (IPv4 id with a port below 251, a one-byte incarnation,
/// status, two empty strings): bounds the members a datagram can hold.
const MEMBER_STATE_MIN: usize = 10;

/// What a frame may hold, by the transport it arrived on. The decoder applies these itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest frame, bytes (without the stream's length prefix).
    pub frame: usize,
    /// Most rumors in one message.
    pub rumors: usize,
    /// Most member states in one push-pull.
    pub members: usize,
    /// Longest metadata value, bytes.
    pub meta: usize,
}

impl Limits {
    /// One datagram: at most `DATAGRAM_RECV_MAX` bytes, and no more entries than fit in them.
    pub const fn datagram() -> Limits {
        Limits {
            frame: DATAGRAM_RECV_MAX,
            rumors: RUMORS_MAX,
            members: DATAGRAM_RECV_MAX / MEMBER_STATE_MIN,
            meta: DATAGRAM_RECV_MAX,
        }
    }

    /// One stream frame for a member configured with `size`: the metadata plus a membership
    /// table's worth of room (never above 256 MiB), a table of at most `MEMBERS_MAX`. Metadata
    /// is bounded by the largest any member may configure; the core drops what exceeds its own.
    pub fn stream(size: usize) -> Limits {
        Limits {
            frame: (size + TABLE_ROOM).min(codec::DECODE_LIMIT),
            rumors: RUMORS_MAX,
            members: MEMBERS_MAX,
            meta: SIZE_MAX,
        }
    }
}

type HmacSha256 = Hmac<Sha256>;

/// The MAC key derived from the user's secret; `None` when the cluster runs without a key.
#[derive(Clone)]
pub struct Key(Option<[u8; 32]>);

impl Key {
    pub fn new(secret: Option<&str>) -> Key {
        match secret {
            None | Some("") => Key(None),
            Some(s) => {
                let mut h = Sha256::new();
                h.update(b"pekonode v1 frame MAC key\0");
                h.update(s.as_bytes());
                Key(Some(h.finalize().into()))
            }
        }
    }
}

fn hmac(key: &[u8; 32]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length")
}

/// Why a frame was dropped. Each reason has its own counter in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than a header, wrong magic, unknown version or type, undecodable body, trailing
    /// bytes, a count, length or version beyond its limit: garbage.
    Malformed,
    /// Missing, unexpected or wrong MAC: another key (or none).
    Auth,
    /// Longer than the limit for its transport.
    TooLarge,
}

/// Encodes one frame (without the stream length prefix).
pub fn encode(msg: &Message, key: &Key) -> Vec<u8> {
    let body = convert::body(msg);
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(body.message_type() as u8);
    out.push(if key.0.is_some() { FLAG_MAC } else { 0 });
    out.extend_from_slice(&codec::encode_body(&body));
    if let Some(k) = &key.0 {
        let mut m = hmac(k);
        m.update(&out);
        out.extend_from_slice(&m.finalize().into_bytes()[..MAC_LEN]);
    }
    out
}

/// Decodes and authenticates one frame that arrived on a transport with `limits`. The header and
/// MAC are checked before the body is decoded.
pub fn decode(frame: &[u8], key: &Key, limits: Limits) -> Result<Message, DecodeError> {
    if frame.len() > limits.frame {
        return Err(DecodeError::TooLarge);
    }
    if frame.len() < HEADER_LEN || frame[..2] != MAGIC || frame[2] != PROTOCOL_VERSION {
        return Err(DecodeError::Malformed);
    }
    let Some(message_type) = schema::MessageType::from_byte(frame[3]) else {
        return Err(DecodeError::Malformed);
    };
    let flags = frame[4];
    if flags & !FLAG_MAC != 0 {
        return Err(DecodeError::Malformed);
    }
    let body = match (&key.0, flags & FLAG_MAC != 0) {
        (None, false) => &frame[HEADER_LEN..],
        (Some(k), true) => {
            if frame.len() < HEADER_LEN + MAC_LEN {
                return Err(DecodeError::Malformed);
            }
            let (signed, tag) = frame.split_at(frame.len() - MAC_LEN);
            let mut m = hmac(k);
            m.update(signed);
            m.verify_truncated_left(tag)
                .map_err(|_| DecodeError::Auth)?;
            &signed[HEADER_LEN..]
        }
        _ => return Err(DecodeError::Auth),
    };
    let body = codec::decode_body(body).ok_or(DecodeError::Malformed)?;
    if body.message_type() != message_type {
        return Err(DecodeError::Malformed);
    }
    convert::from_body(body, &limits)
}

/// The 4-byte big-endian length that precedes every frame on a TCP stream.
pub fn length_prefix(frame_len: usize) -> [u8; 4] {
    (frame_len as u32).to_be_bytes()
}

/// How the core's rumor queue encodes rumors: the body encoding of one rumor.
pub struct WireRumors;

/// The `RumorEncoding` the driver and the simulator give the core.
pub static RUMOR_ENCODING: WireRumors = WireRumors;

impl RumorEncoding for WireRumors {
    fn encode(&self, rumor: &Rumor) -> Vec<u8> {
        codec::encode_rumor(&convert::rumor(rumor))
    }

    fn decode(&self, bytes: &[u8]) -> Option<Rumor> {
        let r = codec::decode_rumor(bytes)?;
        convert::from_rumor(r, &Limits::stream(SIZE_MAX)).ok()
    }

    fn datagram_budget(&self) -> usize {
        DATAGRAM_MAX - MESSAGE_OVERHEAD
    }

    fn inline_meta_max(&self) -> usize {
        INLINE_META_MAX
    }

    fn member_state_max_len(&self, name_len: usize, private_data_len: usize) -> usize {
        MEMBER_STATE_FIXED_MAX + name_len + private_data_len
    }

    fn table_budget(&self) -> usize {
        TABLE_ROOM - PUSH_PULL_FIXED_MAX
    }
}
