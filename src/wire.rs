//! The wire format, in one place: framing, protocol version, size limits, authentication and the
//! codec. `docs/protocol.md` describes the same format for another implementation.
//!
//! A frame is `magic "PK" | version | message type | flags | bincode body | [MAC]`. On UDP one
//! datagram carries one frame; on TCP each frame is preceded by its length as a big-endian u32.
//! With a secret key every frame ends in a 16-byte HMAC-SHA256 tag over everything before it.

use crate::proto::{Message, Rumor};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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
/// A member's name and private data are each at most this many bytes.
pub const ATTR_MAX: usize = 1024;
/// Largest configurable metadata / packet size.
pub const SIZE_MAX: usize = 64 << 20;
/// Hard ceiling for a stream frame whatever the configuration: metadata plus a membership table.
const DECODE_LIMIT: usize = 256 << 20;

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

    fn mac(&self, key: &[u8; 32], data: &[u8]) -> [u8; MAC_LEN] {
        let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(data);
        let full = m.finalize().into_bytes();
        let mut tag = [0u8; MAC_LEN];
        tag.copy_from_slice(&full[..MAC_LEN]);
        tag
    }
}

/// Why a frame was dropped. Each reason has its own counter in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than a header, wrong magic, unknown version or type, undecodable body, trailing
    /// bytes: garbage.
    Malformed,
    /// Missing, unexpected or wrong MAC: another key (or none).
    Auth,
    /// Longer than the limit for its transport.
    TooLarge,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

fn type_byte(msg: &Message) -> u8 {
    match msg {
        Message::Ping { .. } => 0,
        Message::Ack { .. } => 1,
        Message::PingReq { .. } => 2,
        Message::Gossip { .. } => 3,
        Message::PushPull { .. } => 4,
        Message::MetaRequest { .. } => 5,
        Message::MetaResponse { .. } => 6,
        Message::Nack { .. } => 7,
        Message::Digest { .. } => 8,
    }
}

/// Encodes one frame (without the stream length prefix).
pub fn encode(msg: &Message, key: &Key) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(type_byte(msg));
    out.push(if key.0.is_some() { FLAG_MAC } else { 0 });
    let body = bincode::serde::encode_to_vec(msg, config()).expect("encoding to a Vec cannot fail");
    out.extend_from_slice(&body);
    if let Some(k) = &key.0 {
        let tag = key.mac(k, &out);
        out.extend_from_slice(&tag);
    }
    out
}

/// Decodes and authenticates one frame of at most `limit` bytes.
pub fn decode(frame: &[u8], key: &Key, limit: usize) -> Result<Message, DecodeError> {
    if frame.len() > limit {
        return Err(DecodeError::TooLarge);
    }
    if frame.len() < HEADER_LEN || frame[..2] != MAGIC || frame[2] != PROTOCOL_VERSION {
        return Err(DecodeError::Malformed);
    }
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
            let mut m = <HmacSha256 as Mac>::new_from_slice(k).expect("any key length");
            m.update(signed);
            m.verify_truncated_left(tag)
                .map_err(|_| DecodeError::Auth)?;
            &signed[HEADER_LEN..]
        }
        _ => return Err(DecodeError::Auth),
    };
    let (msg, used): (Message, usize) =
        bincode::serde::decode_from_slice(body, config()).map_err(|_| DecodeError::Malformed)?;
    if used != body.len() || type_byte(&msg) != frame[3] {
        return Err(DecodeError::Malformed);
    }
    Ok(msg)
}

/// Encoded size of a rumor inside a message body, for packing datagrams.
pub fn rumor_len(r: &Rumor) -> usize {
    encode_rumor(r).len()
}

/// A rumor as it appears inside a message body: the rumor queue keeps rumors in this form,
/// a third of the decoded size.
pub fn encode_rumor(r: &Rumor) -> Vec<u8> {
    bincode::serde::encode_to_vec(r, config()).unwrap_or_default()
}

/// The inverse of `encode_rumor`; `None` unless `bytes` is exactly one rumor.
pub fn decode_rumor(bytes: &[u8]) -> Option<Rumor> {
    match bincode::serde::decode_from_slice::<Rumor, _>(bytes, config()) {
        Ok((r, used)) if used == bytes.len() => Some(r),
        _ => None,
    }
}

/// Largest stream frame accepted for a given configured `size`: the metadata plus a membership
/// table's worth of room.
pub fn stream_limit(size: usize) -> usize {
    (size + (8 << 20)).min(DECODE_LIMIT)
}

/// The 4-byte big-endian length that precedes every frame on a TCP stream.
pub fn length_prefix(frame_len: usize) -> [u8; 4] {
    (frame_len as u32).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Attributes, MetaVersion, Metadata};
    use rand::{Rng, SeedableRng};

    fn id(p: u16) -> std::net::SocketAddr {
        format!("127.0.0.1:{p}").parse().unwrap()
    }

    fn sample() -> Message {
        Message::Ping {
            seq: 7,
            from: id(1),
            target: id(2),
            rumors: vec![
                Rumor::Alive {
                    id: id(3),
                    incarnation: 4,
                    attrs: Attributes {
                        name: "n".into(),
                        private_data: "d".into(),
                    },
                },
                Rumor::Meta(Metadata {
                    version: MetaVersion {
                        hlc: 99,
                        origin: "[::1]:5".parse().unwrap(),
                    },
                    data: vec![1, 2, 3],
                }),
            ],
        }
    }

    #[test]
    fn queued_rumor_form_round_trips_and_rejects_extra_bytes() {
        let r = Rumor::Alive {
            id: id(9),
            incarnation: 3,
            attrs: Attributes {
                name: "web-1".into(),
                private_data: "zone=a".into(),
            },
        };
        let bytes = encode_rumor(&r);
        assert_eq!(bytes.len(), rumor_len(&r));
        assert_eq!(decode_rumor(&bytes), Some(r));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_rumor(&longer), None);
        assert_eq!(decode_rumor(&bytes[..bytes.len() - 1]), None);
    }

    #[test]
    fn round_trip_with_and_without_key() {
        for key in [Key::new(None), Key::new(Some("s3cret"))] {
            let f = encode(&sample(), &key);
            assert_eq!(decode(&f, &key, DATAGRAM_RECV_MAX).unwrap(), sample());
        }
    }

    #[test]
    fn other_key_or_no_key_is_auth_failure() {
        let a = Key::new(Some("a"));
        let b = Key::new(Some("b"));
        let none = Key::new(None);
        assert_eq!(
            decode(&encode(&sample(), &a), &b, 1 << 16),
            Err(DecodeError::Auth)
        );
        assert_eq!(
            decode(&encode(&sample(), &a), &none, 1 << 16),
            Err(DecodeError::Auth)
        );
        assert_eq!(
            decode(&encode(&sample(), &none), &a, 1 << 16),
            Err(DecodeError::Auth)
        );
    }

    #[test]
    fn tampered_frame_is_rejected() {
        let k = Key::new(Some("k"));
        let mut f = encode(&sample(), &k);
        f[8] ^= 0x40;
        assert_eq!(decode(&f, &k, 1 << 16), Err(DecodeError::Auth));
    }

    #[test]
    fn oversized_is_rejected_before_decoding() {
        let f = encode(&sample(), &Key::new(None));
        assert_eq!(decode(&f, &Key::new(None), 10), Err(DecodeError::TooLarge));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let key = Key::new(None);
        let good = encode(&sample(), &key);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        // Truncations of a valid frame.
        for n in 0..good.len() {
            assert!(decode(&good[..n], &key, 1 << 16).is_err());
        }
        // Random bytes behind a valid header, and random mutations of a valid frame.
        for _ in 0..20_000 {
            let len = rng.gen_range(0..200);
            let mut f: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if rng.gen_bool(0.7) && f.len() >= HEADER_LEN {
                f[..2].copy_from_slice(&MAGIC);
                f[2] = PROTOCOL_VERSION;
                f[3] = rng.gen_range(0..10);
                f[4] = 0;
            }
            let _ = decode(&f, &key, 1 << 16);
            let mut g = good.clone();
            let i = rng.gen_range(0..g.len());
            g[i] = rng.gen();
            let _ = decode(&g, &key, 1 << 16);
        }
    }

    #[test]
    fn huge_length_claims_do_not_allocate() {
        // A body claiming a Vec of 2^60 rumors must fail fast, not try to allocate.
        let mut f = vec![MAGIC[0], MAGIC[1], PROTOCOL_VERSION, 3, 0];
        f.push(0); // Gossip variant
        f.extend_from_slice(&[0, 127, 0, 0, 1]); // from: V4 127.0.0.1
        f.extend_from_slice(&[0x39, 0x30]); // port, varint u16 < 251
        f.push(253); // u64 varint marker
        f.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert_eq!(
            decode(&f, &Key::new(None), 1 << 16),
            Err(DecodeError::Malformed)
        );
    }
}
