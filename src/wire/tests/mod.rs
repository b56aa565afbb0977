//! Round trips, hostile input, and the golden bytes that pin the format.
//!
//! - here: round trips, keys and tampering, hostile bytes
//! - `golden.rs`  the golden bytes of every message type and rumor variant
//! - `limits.rs`  per-transport limits, and the room an answer to a datagram takes
//! - `stream.rs`  stream frames: golden bytes, the header checked before the body

use super::*;
use crate::proto::random::Rng;
use crate::proto::{Attributes, Held, MemberState, MetaVersion, Metadata, Status};
use golden::{golden_messages, hex};

mod golden;
mod limits;
mod stream;

/// A stream frame's limits for the default 16 KiB size.
fn big() -> Limits {
    Limits::stream(16 * 1024)
}

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
                attrs: crate::proto::PackedAttributes::pack(&Attributes {
                    name: "n".into(),
                    private_data: "d".into(),
                }),
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
        attrs: crate::proto::PackedAttributes::pack(&Attributes {
            name: "web-1".into(),
            private_data: "zone=a".into(),
        }),
    };
    let bytes = RUMOR_ENCODING.encode(&r);
    assert_eq!(RUMOR_ENCODING.decode(&bytes), Some(r));
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(RUMOR_ENCODING.decode(&longer), None);
    assert_eq!(RUMOR_ENCODING.decode(&bytes[..bytes.len() - 1]), None);
}

#[test]
fn round_trip_with_and_without_key() {
    for key in [Key::new(None), Key::new(Some("s3cret"))] {
        let f = encode(&sample(), &key);
        assert_eq!(decode(&f, &key, Limits::datagram()).unwrap(), sample());
    }
}

#[test]
fn other_key_or_no_key_is_auth_failure() {
    let a = Key::new(Some("a"));
    let b = Key::new(Some("b"));
    let none = Key::new(None);
    assert_eq!(
        decode(&encode(&sample(), &a), &b, big()),
        Err(DecodeError::Auth)
    );
    assert_eq!(
        decode(&encode(&sample(), &a), &none, big()),
        Err(DecodeError::Auth)
    );
    assert_eq!(
        decode(&encode(&sample(), &none), &a, big()),
        Err(DecodeError::Auth)
    );
}

#[test]
fn tampered_frame_is_rejected() {
    let k = Key::new(Some("k"));
    let mut f = encode(&sample(), &k);
    f[8] ^= 0x40;
    assert_eq!(decode(&f, &k, big()), Err(DecodeError::Auth));
}

#[test]
fn oversized_is_rejected_before_decoding() {
    let f = encode(&sample(), &Key::new(None));
    assert_eq!(
        decode(
            &f,
            &Key::new(None),
            Limits {
                frame: 10,
                ..Limits::datagram()
            }
        ),
        Err(DecodeError::TooLarge)
    );
}

#[test]
fn hostile_bytes_never_panic() {
    let key = Key::new(None);
    let good = encode(&sample(), &key);
    let mut rng = Rng::seed(1);
    // Truncations of a valid frame.
    for n in 0..good.len() {
        assert!(decode(&good[..n], &key, big()).is_err());
    }
    // Random bytes behind a valid header, and random mutations of a valid frame.
    for _ in 0..20_000 {
        let len = rng.below(200);
        let mut f: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if rng.chance(0.7) && f.len() >= HEADER_LEN {
            f[..2].copy_from_slice(&MAGIC);
            f[2] = PROTOCOL_VERSION;
            f[3] = rng.below(10) as u8;
            f[4] = 0;
        }
        let _ = decode(&f, &key, big());
        let mut g = good.clone();
        let i = rng.below(g.len() as u64) as usize;
        g[i] = rng.next_u64() as u8;
        let _ = decode(&g, &key, big());
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
        decode(&f, &Key::new(None), big()),
        Err(DecodeError::Malformed)
    );
}
