//! Stream framing: how a message travels on a TCP connection. The header carries the body's
//! length and, sealed, its own AEAD tag, so a reader checks magic, version, type, flags, label,
//! key, send time and length — and bounds the length by the message type — before it reads a
//! byte of the body:
//!
//! ```text
//! offset      size  field
//! 0           2     magic "PK"
//! 2           1     protocol version
//! 3           1     message type
//! 4           1     flags: bit 0 = sealed, bit 1 = labeled; other bits 0
//! 5           4     n = body length, big-endian u32
//! [9          4     label tag (labeled)]
//! [+0         24    nonce: the send time (ms since the Unix epoch, 8 bytes big-endian), then
//!                   16 random bytes (sealed)
//!  +24        16    header tag: XChaCha20-Poly1305 of nothing under the nonce with its first
//!                   byte XOR 0x80, associated data = the bytes before it, then the label]
//! then        n     body: as in a datagram frame, or (sealed) encrypted under the nonce with
//!                   the same associated data as the header tag
//! [then       16    body tag (sealed)]
//! ```
//!
//! The header tag and the body use different nonces (one bit apart: the top bit of a send time,
//! which no clock reaches), so no nonce is used twice.
//!
//! One stream frame is not a message: the refusal (`REFUSAL`), a plain 9-byte header of type
//! 255 with flags 0 and length 0, sent once by a member that could not authenticate a frame
//! (or match its label) on a connection the peer opened, before it closes that connection. It
//! is accepted plain in every encryption mode because it changes nothing but the log: the
//! sender learns that its frames fail there (a wrong or missing key, another label) instead of
//! hearing nothing. It weighs no more than the header it answers.

use super::schema::MessageType;
use super::seal::{self, Opener};
use super::{
    check_stamp, decode_body, flags, put_envelope, take_envelope, DecodeError, Encoded, Key,
    Limits, Message, HEADER_LEN, MAGIC, NONCE_LEN, PROTOCOL_VERSION, TAG_LEN,
};

/// A stream header's fixed part: the frame header and the body's length...
pub const STREAM_HEADER_LEN: usize = HEADER_LEN + 4;
/// ...and the longest header: with a label's tag and sealed.
pub const STREAM_HEADER_MAX: usize =
    STREAM_HEADER_LEN + super::LABEL_TAG_LEN + super::SEAL_HEADER_LEN + TAG_LEN;
/// Longest stream frame of any type other than push-pull, metadata response and offer: those carry a
/// datagram's worth of rumors (1,283 bytes) beside at most one larger rumor (an `Alive` with
/// 2 × 1024 bytes of attributes), so a few KiB; 64 KiB leaves room to spare.
pub const STREAM_SMALL_FRAME_MAX: usize = 64 << 10;

/// The refusal's type byte: no message type, so no decoder mistakes it for one.
const REFUSAL_TYPE: u8 = 255;

/// The refusal (see the module's doc): what a member writes back, once, on a connection whose
/// frame it could not authenticate, before it closes it.
pub const REFUSAL: [u8; STREAM_HEADER_LEN] = [
    MAGIC[0],
    MAGIC[1],
    PROTOCOL_VERSION,
    REFUSAL_TYPE,
    0,
    0,
    0,
    0,
    0,
];

/// The header tag's nonce: the frame's with its first bit flipped.
fn header_nonce(nonce: &[u8]) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    n[0] ^= 0x80;
    n
}

/// Frames an encoded body for a stream, sealed (when `key` seals) with `nonce` (which begins
/// with the send time).
pub(super) fn frame(
    message_type: MessageType,
    body: &[u8],
    key: &Key,
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(STREAM_HEADER_MAX + body.len() + TAG_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(message_type as u8);
    out.push(flags(key));
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    let sealer = put_envelope(&mut out, key, &nonce);
    let ad = out.len();
    if let Some(s) = &sealer {
        let tag = s.seal(&out, &header_nonce(&nonce), &mut []);
        out.extend_from_slice(&tag);
    }
    let at = out.len();
    out.extend_from_slice(body);
    if let Some(s) = sealer {
        let (head, rest) = out.split_at_mut(at);
        let tag = s.seal(&head[..ad], &nonce, rest);
        out.extend_from_slice(&tag);
    }
    out
}

/// Encodes one stream frame.
pub fn encode_stream(msg: &Message, key: &Key) -> Vec<u8> {
    Encoded::new(msg).stream(key)
}

/// A stream frame's header, checked (and when sealed opened): what the reader may then read,
/// and how to open it.
#[derive(Clone)]
pub struct StreamHeader {
    /// The header's bytes up to the header tag: the body's associated data.
    ad: [u8; STREAM_HEADER_MAX],
    ad_len: usize,
    message_type: MessageType,
    body_len: usize,
    header_len: usize,
    /// Sealed: the key that opened the header, and the nonce.
    sealed: Option<(Opener, [u8; NONCE_LEN])>,
}

impl std::fmt::Debug for StreamHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHeader")
            .field("message_type", &self.message_type)
            .field("body_len", &self.body_len)
            .field("sealed", &self.sealed.is_some())
            .finish()
    }
}

impl StreamHeader {
    /// The whole header's length, from its first `HEADER_LEN` bytes (magic, version, type and
    /// flags, all checked here): what a reader reads before `decode`.
    pub fn len(prefix: &[u8]) -> Result<usize, DecodeError> {
        if prefix.len() >= HEADER_LEN && prefix[..HEADER_LEN] == REFUSAL[..HEADER_LEN] {
            return Ok(STREAM_HEADER_LEN);
        }
        if prefix.len() < HEADER_LEN
            || prefix[..2] != MAGIC
            || prefix[2] != PROTOCOL_VERSION
            || MessageType::from_byte(prefix[3]).is_none()
            || prefix[4] & !(super::FLAG_SEALED | super::FLAG_LABEL) != 0
        {
            return Err(DecodeError::Malformed);
        }
        let flags = prefix[4];
        let mut n = STREAM_HEADER_LEN;
        if flags & super::FLAG_LABEL != 0 {
            n += super::LABEL_TAG_LEN;
        }
        if flags & super::FLAG_SEALED != 0 {
            n += super::SEAL_HEADER_LEN + TAG_LEN;
        }
        Ok(n)
    }

    /// Checks a whole header (`len` bytes) by the wall clock now.
    pub fn decode(bytes: &[u8], key: &Key, limits: Limits) -> Result<StreamHeader, DecodeError> {
        StreamHeader::decode_at(bytes, key, limits, seal::wall_ms())
    }

    /// Checks a whole header (`len` bytes): magic, version, type, flags, the label, the header
    /// tag (under no key we hold, or plain when we require sealed frames: `Auth`), the send time
    /// against `now` (`Replay`), then the length against `limits` for its type (`TooLarge`).
    /// Nothing of the body has been read.
    pub fn decode_at(
        bytes: &[u8],
        key: &Key,
        limits: Limits,
        now: u64,
    ) -> Result<StreamHeader, DecodeError> {
        if StreamHeader::len(bytes)? != bytes.len() {
            return Err(DecodeError::Malformed);
        }
        if bytes[3] == REFUSAL_TYPE {
            return Err(if bytes == REFUSAL {
                DecodeError::Refused
            } else {
                DecodeError::Malformed
            });
        }
        let message_type = MessageType::from_byte(bytes[3]).ok_or(DecodeError::Malformed)?;
        let (end, nonce_at) = take_envelope(bytes, STREAM_HEADER_LEN, bytes[4], key)?;
        let mut ad = [0u8; STREAM_HEADER_MAX];
        ad[..end].copy_from_slice(&bytes[..end]);
        let sealed = match nonce_at {
            None => None,
            Some(at) => {
                let nonce = &bytes[at..end];
                let tag = &bytes[end..];
                let opener = key
                    .opener(&bytes[..end], &header_nonce(nonce), &mut [], tag)
                    .ok_or(DecodeError::Auth)?;
                check_stamp(bytes, at, key, now)?;
                let mut n = [0u8; NONCE_LEN];
                n.copy_from_slice(nonce);
                Some((opener, n))
            }
        };
        let body_len = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) as u64;
        let tags = if sealed.is_some() { TAG_LEN } else { 0 };
        let frame_len = (bytes.len() + tags) as u64 + body_len;
        let most = match message_type {
            MessageType::PushPull | MessageType::Offer | MessageType::MetaResponse => limits.frame,
            _ => limits.frame.min(STREAM_SMALL_FRAME_MAX),
        };
        if frame_len > most as u64 {
            return Err(DecodeError::TooLarge);
        }
        Ok(StreamHeader {
            ad,
            ad_len: end,
            message_type,
            body_len: body_len as usize,
            header_len: bytes.len(),
            sealed,
        })
    }

    /// The bytes that follow the header: the body and, sealed, its tag.
    pub fn rest_len(&self) -> usize {
        self.body_len + if self.sealed.is_some() { TAG_LEN } else { 0 }
    }

    /// The whole frame's length, header included.
    pub fn frame_len(&self) -> usize {
        self.header_len + self.rest_len()
    }

    /// Opens (under the key that opened the header) and decodes what followed the header
    /// (`rest_len()` bytes; decrypted in place).
    pub fn decode_rest(&self, rest: &mut [u8], limits: Limits) -> Result<Message, DecodeError> {
        if rest.len() != self.rest_len() {
            return Err(DecodeError::Malformed);
        }
        let body = match &self.sealed {
            Some((opener, nonce)) => {
                let (body, tag) = rest.split_at_mut(self.body_len);
                if !opener.open(&self.ad[..self.ad_len], nonce, body, tag) {
                    return Err(DecodeError::Auth);
                }
                &*body
            }
            None => &*rest,
        };
        decode_body(body, self.message_type, limits)
    }
}
