//! Stream framing: how a message travels on a TCP connection. The header carries the body's
//! length and, with a key, its own tag, so a reader checks magic, version, type, flags, key and
//! length — and bounds the length by the message type — before it reads a byte of the body:
//!
//! ```text
//! offset    size  field
//! 0         2     magic "PK"
//! 2         1     protocol version
//! 3         1     message type
//! 4         1     flags: bit 0 = tags present; other bits 0
//! 5         4     n = body length, big-endian u32
//! 9         16    header tag (with bit 0): HMAC(key, "pekonode stream header\0" | bytes 0..9)
//! 9 or 25   n     body, as in a datagram frame
//! then      16    body tag (with bit 0): HMAC(key, "pekonode stream body\0" | bytes 0..9 | body)
//! ```
//!
//! Tags are the first 16 bytes of HMAC-SHA256. The labels keep the three kinds of tag apart
//! (a datagram frame's tag covers bytes that begin with "PK", these never do).

use super::schema::MessageType;
use super::{
    decode_body, flags, hmac, DecodeError, Encoded, Key, Limits, Message, FLAG_MAC, MAC_LEN, MAGIC,
    PROTOCOL_VERSION,
};
use hmac::Mac;

/// A stream header's fixed part; with a key the header tag follows it.
pub const STREAM_HEADER_LEN: usize = 9;
/// Longest stream frame of any type other than push-pull, metadata response and offer: those carry a
/// datagram's worth of rumors (1,283 bytes) beside at most one larger rumor (an `Alive` with
/// 2 × 1024 bytes of attributes), so a few KiB; 64 KiB leaves room to spare.
pub const STREAM_SMALL_FRAME_MAX: usize = 64 << 10;

const HEADER_LABEL: &[u8] = b"pekonode stream header\0";
const BODY_LABEL: &[u8] = b"pekonode stream body\0";

fn tag(key: &[u8; 32], label: &[u8], parts: &[&[u8]]) -> hmac::Hmac<sha2::Sha256> {
    let mut m = hmac(key);
    m.update(label);
    for p in parts {
        m.update(p);
    }
    m
}

/// Frames an encoded body for a stream.
pub(super) fn frame(message_type: MessageType, body: &[u8], key: &Key) -> Vec<u8> {
    let tags = if key.0.is_some() { 2 * MAC_LEN } else { 0 };
    let mut out = Vec::with_capacity(STREAM_HEADER_LEN + tags + body.len());
    out.extend_from_slice(&MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(message_type as u8);
    out.push(flags(key));
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    if let Some(k) = &key.0 {
        let header = tag(k, HEADER_LABEL, &[&out[..STREAM_HEADER_LEN]]).finalize();
        out.extend_from_slice(&header.into_bytes()[..MAC_LEN]);
    }
    out.extend_from_slice(body);
    if let Some(k) = &key.0 {
        let t = tag(k, BODY_LABEL, &[&out[..STREAM_HEADER_LEN], body]).finalize();
        out.extend_from_slice(&t.into_bytes()[..MAC_LEN]);
    }
    out
}

/// Encodes one stream frame.
pub fn encode_stream(msg: &Message, key: &Key) -> Vec<u8> {
    Encoded::new(msg).stream(key)
}

/// A stream frame's header, checked (and with a key authenticated): what the reader may then
/// read, and how to check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHeader {
    fixed: [u8; STREAM_HEADER_LEN],
    message_type: MessageType,
    body_len: usize,
    keyed: bool,
}

impl StreamHeader {
    /// The bytes a header takes under `key`: what a reader reads before `decode`.
    pub fn len(key: &Key) -> usize {
        STREAM_HEADER_LEN + if key.0.is_some() { MAC_LEN } else { 0 }
    }

    /// Checks a header (`bytes` is `len(key)` long): magic, version, type, flags, the header tag
    /// (a frame under another key, or with no key when we have one, is `Auth`), then the length
    /// against `limits` for its type (`TooLarge`). Nothing of the body has been read.
    pub fn decode(bytes: &[u8], key: &Key, limits: Limits) -> Result<StreamHeader, DecodeError> {
        if bytes.len() != StreamHeader::len(key)
            || bytes[..2] != MAGIC
            || bytes[2] != PROTOCOL_VERSION
        {
            return Err(DecodeError::Malformed);
        }
        let message_type = MessageType::from_byte(bytes[3]).ok_or(DecodeError::Malformed)?;
        let flags = bytes[4];
        if flags & !FLAG_MAC != 0 {
            return Err(DecodeError::Malformed);
        }
        let mut fixed = [0u8; STREAM_HEADER_LEN];
        fixed.copy_from_slice(&bytes[..STREAM_HEADER_LEN]);
        match (&key.0, flags & FLAG_MAC != 0) {
            (None, false) => {}
            (Some(k), true) => tag(k, HEADER_LABEL, &[&fixed])
                .verify_truncated_left(&bytes[STREAM_HEADER_LEN..])
                .map_err(|_| DecodeError::Auth)?,
            _ => return Err(DecodeError::Auth),
        }
        let body_len = u32::from_be_bytes([fixed[5], fixed[6], fixed[7], fixed[8]]) as u64;
        let tags = if key.0.is_some() { 2 * MAC_LEN } else { 0 };
        let frame_len = (STREAM_HEADER_LEN + tags) as u64 + body_len;
        let most = match message_type {
            MessageType::PushPull | MessageType::Offer | MessageType::MetaResponse => limits.frame,
            _ => limits.frame.min(STREAM_SMALL_FRAME_MAX),
        };
        if frame_len > most as u64 {
            return Err(DecodeError::TooLarge);
        }
        Ok(StreamHeader {
            fixed,
            message_type,
            body_len: body_len as usize,
            keyed: key.0.is_some(),
        })
    }

    /// The bytes that follow the header: the body and, with a key, its tag.
    pub fn rest_len(&self) -> usize {
        self.body_len + if self.keyed { MAC_LEN } else { 0 }
    }

    /// The whole frame's length, header included.
    pub fn frame_len(&self) -> usize {
        STREAM_HEADER_LEN + if self.keyed { 2 * MAC_LEN } else { 0 } + self.body_len
    }

    /// Authenticates and decodes what followed the header (`rest_len()` bytes).
    pub fn decode_rest(
        &self,
        rest: &[u8],
        key: &Key,
        limits: Limits,
    ) -> Result<Message, DecodeError> {
        if rest.len() != self.rest_len() {
            return Err(DecodeError::Malformed);
        }
        let body = match &key.0 {
            Some(k) if self.keyed => {
                let (body, t) = rest.split_at(self.body_len);
                tag(k, BODY_LABEL, &[&self.fixed, body])
                    .verify_truncated_left(t)
                    .map_err(|_| DecodeError::Auth)?;
                body
            }
            None if !self.keyed => rest,
            _ => return Err(DecodeError::Auth),
        };
        decode_body(body, self.message_type, limits)
    }
}
