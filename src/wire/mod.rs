//! The wire format, in one place: framing, protocol version, size limits, authentication, the
//! message schema and the codec. `docs/protocol.md` describes the same format for another
//! implementation.
//!
//! A datagram frame is `magic "PK" | version | message type | flags | body | [MAC]`, one per
//! datagram; with a secret key it ends in a 16-byte HMAC-SHA256 tag over everything before it.
//! A stream frame (`stream.rs`) puts the body's length in its header and authenticates the
//! header on its own, so a reader checks type, length and key before it reads the body.
//!
//! Imports go one way: this module knows the core's types (`crate::proto`) and converts them to
//! and from its own schema (`schema.rs`, `convert.rs`); the core knows nothing of bytes beyond the
//! `proto::RumorEncoding` this module implements (`RUMOR_ENCODING`).

mod codec;
mod convert;
mod schema;
mod stream;
#[cfg(test)]
mod tests;

use crate::proto::{Message, Rumor, RumorEncoding, MEMBERS_MAX};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub use crate::proto::ATTR_MAX;
pub use stream::{encode_stream, StreamHeader, STREAM_HEADER_LEN, STREAM_SMALL_FRAME_MAX};

pub const MAGIC: [u8; 2] = *b"PK";
/// 3: a differing digest is answered by an `Offer` (what the answerer holds, without
/// attributes), and a push-pull carries `holds` (what its sender holds) when it answers one, so
/// an exchange sends each side only what it lacks; every other body is laid out as in version 2.
/// 2: stream frames carry their length and an authenticated header, checked before the body is
/// read (version 1 had a bare length prefix before a datagram frame); and requests that need a
/// TCP answer (push-pull, digest, metadata fetch) travel on a connection the requester opened and
/// are answered on it (version 1 answered them on a new connection to the `from` a datagram
/// named, a reflector, and its members cannot read answers on their own connections). Datagram
/// frames are laid out as in version 1.
pub const PROTOCOL_VERSION: u8 = 3;
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
/// Most bytes of a `Ping`, `Ack` or `Nack` frame besides its rumors: header, MAC, variant, a
/// 5-byte sequence number, two IPv6 ids (1 + 16 + 3 bytes each), a 3-byte rumor count.
pub const ANSWER_OVERHEAD: usize = HEADER_LEN + MAC_LEN + 1 + 5 + 2 * 20 + 3;
/// Room a stream frame has for the member table, beside the metadata (`Limits::stream`).
pub const TABLE_ROOM: usize = 8 << 20;
/// The largest encoded member state without its strings: an IPv6 id (1 + 16 + 3 bytes), the
/// incarnation (5), the status (1) and two string lengths (9 each).
const MEMBER_STATE_FIXED_MAX: usize = 44;
/// The largest encoded `Held`: an IPv6 id (1 + 16 + 3 bytes), the incarnation (5), the status.
const HELD_MAX_LEN: usize = 26;
/// Room in a push-pull frame for everything but the member states and the metadata bytes:
/// header, MAC, sender, flags, the sequence length, the version and the metadata's own fields.
const PUSH_PULL_FIXED_MAX: usize = 1024;
/// The smallest encoded member state (IPv4 id with a port below 251, a one-byte incarnation,
/// status, two empty strings): bounds the members a datagram can hold.
const MEMBER_STATE_MIN: usize = 10;

/// What a frame may hold, by the transport it arrived on. The decoder applies these itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest frame, bytes (a stream frame's header and tags included). On a stream only
    /// push-pull, metadata and offer frames may be this long (`STREAM_SMALL_FRAME_MAX` bounds the
    /// rest).
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

/// Whether a message travels only on TCP streams: the requests whose answer may outweigh them
/// (`PushPull`, `Digest`, `Offer`, `MetaRequest`) and the answers (`MetaResponse`). A datagram's `from` is
/// only a claim, so a receiver drops these when they come by datagram (as malformed).
pub fn stream_only(msg: &Message) -> bool {
    matches!(
        msg,
        Message::PushPull { .. }
            | Message::Digest { .. }
            | Message::Offer { .. }
            | Message::MetaRequest { .. }
            | Message::MetaResponse { .. }
    )
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

/// One message's body, encoded once, to be framed for a datagram or a stream.
pub struct Encoded {
    message_type: schema::MessageType,
    body: Vec<u8>,
}

impl Encoded {
    pub fn new(msg: &Message) -> Encoded {
        let body = convert::body(msg);
        Encoded {
            message_type: body.message_type(),
            body: codec::encode_body(&body),
        }
    }

    /// The length of `datagram(key)`, without building it.
    pub fn datagram_len(&self, key: &Key) -> usize {
        HEADER_LEN + self.body.len() + if key.0.is_some() { MAC_LEN } else { 0 }
    }

    /// The datagram frame.
    pub fn datagram(&self, key: &Key) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.datagram_len(key));
        out.extend_from_slice(&MAGIC);
        out.push(PROTOCOL_VERSION);
        out.push(self.message_type as u8);
        out.push(flags(key));
        out.extend_from_slice(&self.body);
        if let Some(k) = &key.0 {
            let mut m = hmac(k);
            m.update(&out);
            out.extend_from_slice(&m.finalize().into_bytes()[..MAC_LEN]);
        }
        out
    }

    /// The stream frame (`stream.rs`).
    pub fn stream(&self, key: &Key) -> Vec<u8> {
        stream::frame(self.message_type, &self.body, key)
    }
}

fn flags(key: &Key) -> u8 {
    if key.0.is_some() {
        FLAG_MAC
    } else {
        0
    }
}

/// Encodes one datagram frame.
pub fn encode(msg: &Message, key: &Key) -> Vec<u8> {
    Encoded::new(msg).datagram(key)
}

/// Decodes and authenticates one datagram frame that arrived with `limits`. The header and MAC
/// are checked before the body is decoded.
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
    decode_body(body, message_type, limits)
}

/// Decodes a body that arrived under a header naming `message_type`.
fn decode_body(
    body: &[u8],
    message_type: schema::MessageType,
    limits: Limits,
) -> Result<Message, DecodeError> {
    let body = codec::decode_body(body).ok_or(DecodeError::Malformed)?;
    if body.message_type() != message_type {
        return Err(DecodeError::Malformed);
    }
    convert::from_body(body, &limits)
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

    fn answer_overhead(&self) -> usize {
        ANSWER_OVERHEAD
    }

    fn datagram_len(&self, msg: &Message) -> usize {
        Encoded::new(msg).datagram_len(&Key(None))
    }

    fn member_state_max_len(&self, name_len: usize, private_data_len: usize) -> usize {
        MEMBER_STATE_FIXED_MAX + name_len + private_data_len
    }

    fn table_budget(&self) -> usize {
        TABLE_ROOM - PUSH_PULL_FIXED_MAX
    }

    fn held_max_len(&self) -> usize {
        HELD_MAX_LEN
    }
}
