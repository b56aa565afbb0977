//! The wire format, in one place: framing, protocol version, size limits, sealing, the message
//! schema and the codec. `docs/protocol.md` describes the same format for another
//! implementation.
//!
//! A datagram frame is `magic "PK" | version | message type | flags | [label tag] | [nonce, its
//! first 8 bytes the send time] | body | [AEAD tag]`, one per datagram; sealed (`seal.rs`) its body is encrypted and
//! everything before it authenticated. A stream frame (`stream.rs`) puts the body's length in
//! its header and seals the header on its own, so a reader checks type, length, label and key
//! before it reads the body.
//!
//! Imports go one way: this module knows the core's types (`crate::proto`) and converts them to
//! and from its own schema (`schema.rs`, `convert.rs`); the core knows nothing of bytes beyond the
//! `proto::RumorEncoding` this module implements (`RUMOR_ENCODING`).

mod codec;
mod convert;
pub mod gojson;
mod schema;
mod seal;
mod stream;
#[cfg(test)]
mod tests;

use crate::proto::{Message, Rumor, RumorEncoding, MEMBERS_MAX};

pub use crate::proto::ATTR_MAX;
pub use seal::{
    wall_ms, Key, KeyError, SealMode, KEYS_MAX, LABEL_MAX, LABEL_TAG_LEN, NONCE_LEN,
    NONCE_RANDOM_LEN, SEAL_HEADER_LEN, STAMP_LEN, TAG_LEN, WINDOW_MIN_MS, WINDOW_PROBE_INTERVALS,
};
pub use stream::{
    encode_stream, StreamHeader, REFUSAL, STREAM_HEADER_LEN, STREAM_HEADER_MAX,
    STREAM_SMALL_FRAME_MAX,
};

pub const MAGIC: [u8; 2] = *b"PK";
/// 4: frames are sealed with XChaCha20-Poly1305 (`seal.rs`) instead of carrying an HMAC tag, and
/// carry a cluster label's tag; message bodies are laid out as in version 3.
/// 3: a differing digest is answered by an `Offer` (what the answerer holds, without
/// attributes), and a push-pull carries `holds` (what its sender holds) when it answers one, so
/// an exchange sends each side only what it lacks; every other body is laid out as in version 2.
/// 2: stream frames carry their length and an authenticated header, checked before the body is
/// read (version 1 had a bare length prefix before a datagram frame); and requests that need a
/// TCP answer (push-pull, digest, metadata fetch) travel on a connection the requester opened and
/// are answered on it (version 1 answered them on a new connection to the `from` a datagram
/// named, a reflector, and its members cannot read answers on their own connections). Datagram
/// frames are laid out as in version 1.
pub const PROTOCOL_VERSION: u8 = 4;
/// A frame's first bytes, in every frame: magic, version, message type, flags.
pub const HEADER_LEN: usize = 5;
/// Flags: the frame is sealed (send time and nonce follow the header, an AEAD tag the body)...
const FLAG_SEALED: u8 = 1;
/// ...and it carries a cluster label's tag (after the header, or a stream header's length).
const FLAG_LABEL: u8 = 2;
/// The most a frame's sealing and label add to it: label tag, nonce (with the send time) and
/// AEAD tag.
pub const SEAL_OVERHEAD: usize = LABEL_TAG_LEN + SEAL_HEADER_LEN + TAG_LEN;

/// Largest datagram we send: under a 1500-byte Ethernet MTU with IPv6 and UDP headers, so nothing
/// relies on IP fragmentation. Larger messages go over TCP.
pub const DATAGRAM_MAX: usize = 1400;
/// Receive buffer for one datagram; anything longer is truncated by the kernel and then rejected.
/// Small on purpose: every member in a process keeps one.
pub const DATAGRAM_RECV_MAX: usize = 2048;
/// Room in a frame around the rumors of a datagram message (header, sealing, ids, seq, lengths).
pub const MESSAGE_OVERHEAD: usize = HEADER_LEN + SEAL_OVERHEAD + MESSAGE_FIXED_MAX;
/// The most bytes of a datagram message's body besides its rumors: the variant, a 5-byte
/// sequence number, two IPv6 ids (1 + 16 + 3 bytes each) and a 3-byte rumor count take 49
/// (`wire/tests/limits.rs` checks every message that carries rumors); 19 to spare. Version 3
/// allowed 96 here beside a 16-byte MAC: sealing's 44 bytes (with a label) came out of that
/// room, so a datagram still carries 1,283 bytes of rumors.
pub const MESSAGE_FIXED_MAX: usize = 68;
/// Largest metadata rumor carried inline in a datagram; larger metadata is announced and fetched.
pub const INLINE_META_MAX: usize = 900;
/// Largest configurable metadata / packet size.
pub const SIZE_MAX: usize = 64 << 20;
/// Most rumors one message may carry: senders pack at most a datagram's worth (1,283 bytes of
/// rumors of at least 8 bytes each, so 160), whatever the transport.
pub const RUMORS_MAX: usize = 256;
/// Most bytes of a `Ping`, `Ack` or `Nack` frame besides its rumors: header, sealing, variant, a
/// 5-byte sequence number, two IPv6 ids (1 + 16 + 3 bytes each), a 3-byte rumor count.
pub const ANSWER_OVERHEAD: usize = HEADER_LEN + SEAL_OVERHEAD + 1 + 5 + 2 * 20 + 3;
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

/// Why a frame was dropped. Each reason has its own counter in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than a header, wrong magic, unknown version or type, undecodable body, trailing
    /// bytes, a count, length or version beyond its limit: garbage.
    Malformed,
    /// Sealed under no key we hold, or plain when we require sealed frames, or sealed when we
    /// have no key.
    Auth,
    /// Sealed, and sent further from our clock than the replay window (`Key::window_ms`): a
    /// replayed frame, or a sender whose clock is that far off.
    Replay,
    /// Another cluster's label, or a label when we have none, or none when we have one.
    Label,
    /// Longer than the limit for its transport.
    TooLarge,
    /// The refusal (`REFUSAL`): the peer could not authenticate (or match the label of) a frame
    /// we sent it on this stream, and closes it. Not a message, and never counted as dropped.
    Refused,
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
        HEADER_LEN + envelope_len(key) + self.body.len()
    }

    /// The datagram frame, sealed now with a fresh nonce when `key` seals.
    pub fn datagram(&self, key: &Key) -> Vec<u8> {
        self.datagram_at(key, wall_ms(), seal::nonce_random())
    }

    /// The datagram frame, sealed (when `key` seals) with send time `stamp` and the nonce's
    /// `random` bytes.
    fn datagram_at(&self, key: &Key, stamp: u64, random: [u8; NONCE_RANDOM_LEN]) -> Vec<u8> {
        let nonce = seal::nonce_at(stamp, &random);
        let mut out = Vec::with_capacity(self.datagram_len(key));
        out.extend_from_slice(&MAGIC);
        out.push(PROTOCOL_VERSION);
        out.push(self.message_type as u8);
        out.push(flags(key));
        let sealer = put_envelope(&mut out, key, &nonce);
        let header = out.len();
        out.extend_from_slice(&self.body);
        if let Some(s) = sealer {
            let (head, body) = out.split_at_mut(header);
            let tag = s.seal(head, &nonce, body);
            out.extend_from_slice(&tag);
        }
        out
    }

    /// The datagram frame without sealing (with the label's tag when `key` has a label): the
    /// answer to a plain request in `SealMode::Send`, which a sealed answer would outweigh.
    pub fn datagram_plain(&self, key: &Key) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + LABEL_TAG_LEN + self.body.len());
        out.extend_from_slice(&MAGIC);
        out.push(PROTOCOL_VERSION);
        out.push(self.message_type as u8);
        let tag = key.label_tag();
        out.push(if tag.is_some() { FLAG_LABEL } else { 0 });
        if let Some(t) = tag {
            out.extend_from_slice(t);
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// The stream frame (`stream.rs`).
    pub fn stream(&self, key: &Key) -> Vec<u8> {
        let nonce = seal::nonce_at(wall_ms(), &seal::nonce_random());
        stream::frame(self.message_type, &self.body, key, nonce)
    }
}

fn flags(key: &Key) -> u8 {
    let mut f = 0;
    if key.seals() {
        f |= FLAG_SEALED;
    }
    if key.label_tag().is_some() {
        f |= FLAG_LABEL;
    }
    f
}

/// What follows a header under `key`, besides the body: the label's tag, and when sealing the
/// nonce and the body's AEAD tag.
fn envelope_len(key: &Key) -> usize {
    key.label_tag().map_or(0, |t| t.len())
        + if key.seals() {
            SEAL_HEADER_LEN + TAG_LEN
        } else {
            0
        }
}

/// Appends the label's tag and, when `key` seals, the nonce; what seals.
fn put_envelope<'k>(
    out: &mut Vec<u8>,
    key: &'k Key,
    nonce: &[u8; NONCE_LEN],
) -> Option<seal::Sealer<'k>> {
    if let Some(t) = key.label_tag() {
        out.extend_from_slice(t);
    }
    let sealer = key.sealer()?;
    out.extend_from_slice(nonce);
    Some(sealer)
}

/// A frame's label part and sealing, read after its header at `at`: checks the label and
/// whether `key` admits the frame sealed or plain; where the rest begins, and the nonce's
/// position when sealed.
fn take_envelope(
    frame: &[u8],
    at: usize,
    flags: u8,
    key: &Key,
) -> Result<(usize, Option<usize>), DecodeError> {
    if flags & !(FLAG_SEALED | FLAG_LABEL) != 0 {
        return Err(DecodeError::Malformed);
    }
    let mut at = at;
    let tag = if flags & FLAG_LABEL != 0 {
        let t = frame
            .get(at..at + LABEL_TAG_LEN)
            .ok_or(DecodeError::Malformed)?;
        at += LABEL_TAG_LEN;
        Some(t)
    } else {
        None
    };
    if !key.label_matches(tag) {
        return Err(DecodeError::Label);
    }
    let sealed = flags & FLAG_SEALED != 0;
    if !key.admits(sealed) {
        return Err(DecodeError::Auth);
    }
    if !sealed {
        return Ok((at, None));
    }
    if frame.len() < at + SEAL_HEADER_LEN {
        return Err(DecodeError::Malformed);
    }
    Ok((at + SEAL_HEADER_LEN, Some(at)))
}

/// The send time of a sealed frame (the first bytes of its nonce, at `at`), checked against
/// `now` and the window, once the frame has opened (a forged time would otherwise count as a
/// replay).
fn check_stamp(frame: &[u8], at: usize, key: &Key, now: u64) -> Result<(), DecodeError> {
    let mut b = [0u8; STAMP_LEN];
    b.copy_from_slice(&frame[at..at + STAMP_LEN]);
    if u64::from_be_bytes(b).abs_diff(now) > key.window_ms() {
        return Err(DecodeError::Replay);
    }
    Ok(())
}

/// Encodes one datagram frame.
pub fn encode(msg: &Message, key: &Key) -> Vec<u8> {
    Encoded::new(msg).datagram(key)
}

/// Encodes one datagram frame sealed (when `key` seals) as if sent at `stamp` (ms since the
/// epoch): what a replay of a frame recorded then looks like, for tests and tools.
pub fn encode_at(msg: &Message, key: &Key, stamp: u64) -> Vec<u8> {
    Encoded::new(msg).datagram_at(key, stamp, seal::nonce_random())
}

/// Opens and decodes one datagram frame that arrived with `limits`, by the wall clock now.
pub fn decode(frame: &[u8], key: &Key, limits: Limits) -> Result<Message, DecodeError> {
    decode_at(frame, key, limits, wall_ms())
}

/// Opens and decodes one datagram frame that arrived with `limits` when the wall clock said
/// `now` (ms since the epoch). The header, label and seal are checked before the body is
/// decoded; the send time once the frame has opened.
pub fn decode_at(
    frame: &[u8],
    key: &Key,
    limits: Limits,
    now: u64,
) -> Result<Message, DecodeError> {
    if frame.len() > limits.frame {
        return Err(DecodeError::TooLarge);
    }
    if frame.len() < HEADER_LEN || frame[..2] != MAGIC || frame[2] != PROTOCOL_VERSION {
        return Err(DecodeError::Malformed);
    }
    let Some(message_type) = schema::MessageType::from_byte(frame[3]) else {
        return Err(DecodeError::Malformed);
    };
    let (body_at, nonce_at) = take_envelope(frame, HEADER_LEN, frame[4], key)?;
    let Some(nonce_at) = nonce_at else {
        return decode_body(&frame[body_at..], message_type, limits);
    };
    if frame.len() < body_at + TAG_LEN {
        return Err(DecodeError::Malformed);
    }
    let (sealed, tag) = frame.split_at(frame.len() - TAG_LEN);
    let (header, ct) = sealed.split_at(body_at);
    let mut body = ct.to_vec();
    let nonce = &header[nonce_at..];
    if !key.open(header, nonce, &mut body, tag) {
        return Err(DecodeError::Auth);
    }
    check_stamp(frame, nonce_at, key, now)?;
    decode_body(&body, message_type, limits)
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
        Encoded::new(msg).datagram_len(&Key::new(None))
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
