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

mod gojson;
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
    let k = Key::new(Some("k")).with_label("prod");
    let f = encode(&sample(), &k);
    assert_eq!(decode(&f, &k, big()), Ok(sample()));
    // Any changed byte past the flags: the label's tag, the send time, the nonce, the body or
    // the tag.
    for i in HEADER_LEN..f.len() {
        let mut g = f.clone();
        g[i] ^= 0x40;
        let want = if i < HEADER_LEN + LABEL_TAG_LEN {
            DecodeError::Label
        } else {
            DecodeError::Auth
        };
        assert_eq!(decode(&g, &k, big()), Err(want), "byte {i}");
    }
}

#[test]
fn a_sealed_datagram_hides_its_body() {
    let k = Key::new(Some("k"));
    let plain = encode(&sample(), &Key::new(None));
    let sealed = encode(&sample(), &k);
    // The member's address (127.0.0.1: 7f000001) is in the plain body, not in the sealed one.
    let ip = [127u8, 0, 0, 1];
    assert!(plain.windows(4).any(|w| w == ip));
    assert!(!sealed[HEADER_LEN + SEAL_HEADER_LEN..]
        .windows(4)
        .any(|w| w == ip));
    // Sealing adds the send time, the nonce and the tag (and a label's tag when labeled).
    assert_eq!(sealed.len(), plain.len() + SEAL_HEADER_LEN + TAG_LEN);
    let labeled = encode(&sample(), &Key::new(Some("k")).with_label("prod"));
    assert_eq!(labeled.len(), plain.len() + SEAL_OVERHEAD);
    // Two seals of one message differ (a fresh nonce each).
    assert_ne!(sealed, encode(&sample(), &k));
}

#[test]
fn a_datagram_of_another_label_or_time_is_dropped() {
    let prod = Key::new(Some("k")).with_label("prod");
    let f = Encoded::new(&sample()).datagram_at(&prod, 1_000_000, [7; NONCE_RANDOM_LEN]);
    for (k, want) in [
        (Key::new(Some("k")).with_label("test"), DecodeError::Label),
        (Key::new(Some("k")), DecodeError::Label),
        (Key::new(None).with_label("prod"), DecodeError::Auth),
    ] {
        assert_eq!(decode_at(&f, &k, big(), 1_000_000), Err(want));
    }
    let w = prod.window_ms();
    assert_eq!(decode_at(&f, &prod, big(), 1_000_000 + w), Ok(sample()));
    assert_eq!(decode_at(&f, &prod, big(), 1_000_000 - w), Ok(sample()));
    for now in [1_000_000 + w + 1, 1_000_000 - w - 1] {
        assert_eq!(
            decode_at(&f, &prod, big(), now),
            Err(DecodeError::Replay),
            "at {now}"
        );
    }
    // A forged send time does not open: it is not counted as a replay.
    let mut g = f.clone();
    g[HEADER_LEN + LABEL_TAG_LEN] ^= 1;
    assert_eq!(
        decode_at(&g, &prod, big(), 1_000_000),
        Err(DecodeError::Auth)
    );
    // Without keys the label's tag still keeps clusters apart.
    let plain = encode(&sample(), &Key::new(None).with_label("prod"));
    let test = Key::new(None).with_label("test");
    assert_eq!(decode(&plain, &test, big()), Err(DecodeError::Label));
    assert_eq!(
        decode(&plain, &Key::new(None), big()),
        Err(DecodeError::Label)
    );
}

#[test]
fn the_window_is_five_probe_intervals_and_at_least_ten_seconds() {
    assert_eq!(Key::new(Some("k")).window_ms(), WINDOW_MIN_MS);
    assert_eq!(Key::new(Some("k")).with_window(100).window_ms(), 10_000);
    assert_eq!(Key::new(Some("k")).with_window(1_111).window_ms(), 10_000);
    assert_eq!(Key::new(Some("k")).with_window(3_000).window_ms(), 15_000);
    assert_eq!(
        Key::new(Some("k")).with_window(u64::MAX).window_ms(),
        u64::MAX
    );
}

#[test]
fn every_installed_key_opens_and_the_primary_seals() {
    let mut a = Key::new(Some("old"));
    let old = Key::new(Some("old"));
    let new = Key::new(Some("new"));
    a.install("new").unwrap();
    // Both keys open; the old one still seals.
    for k in [&old, &new] {
        assert_eq!(decode(&encode(&sample(), k), &a, big()), Ok(sample()));
    }
    assert_eq!(decode(&encode(&sample(), &a), &old, big()), Ok(sample()));
    assert_eq!(
        decode(&encode(&sample(), &a), &new, big()),
        Err(DecodeError::Auth)
    );
    a.use_key("new").unwrap();
    assert_eq!(decode(&encode(&sample(), &a), &new, big()), Ok(sample()));
    assert_eq!(a.list(), vec![Key::id_of("new"), Key::id_of("old")]);
    assert_eq!(a.remove("new"), Err(KeyError::Primary));
    a.remove("old").unwrap();
    assert_eq!(
        decode(&encode(&sample(), &old), &a, big()),
        Err(DecodeError::Auth)
    );
    assert_eq!(a.remove("old"), Err(KeyError::Unknown));
    assert_eq!(a.use_key("old"), Err(KeyError::Unknown));
    assert_eq!(a.install(""), Err(KeyError::Empty));
    // Installing a key twice changes nothing; the ring holds at most KEYS_MAX.
    a.install("new").unwrap();
    assert_eq!(a.list().len(), 1);
    for i in 1..KEYS_MAX {
        a.install(&format!("k{i}")).unwrap();
    }
    assert_eq!(a.install("one too many"), Err(KeyError::Full));
    assert_eq!(a.list().len(), KEYS_MAX);
}

#[test]
fn a_cluster_switches_to_keys_in_three_steps() {
    // A member without keys sends and accepts plain frames only.
    let mut m = Key::new(None);
    assert_eq!(m.mode(), SealMode::Accept);
    assert!(!m.seals());
    assert_eq!(m.set_mode(SealMode::Send), Err(KeyError::NoKey));
    assert_eq!(m.set_mode(SealMode::Require), Err(KeyError::NoKey));
    let plain = encode(&sample(), &Key::new(None));
    let sealed = encode(&sample(), &Key::new(Some("k")));
    assert_eq!(decode(&sealed, &m, big()), Err(DecodeError::Auth));
    // 1. Installed: still sends plain, accepts both.
    m.install("k").unwrap();
    assert!(!m.seals());
    assert_eq!(encode(&sample(), &m), plain);
    assert_eq!(decode(&plain, &m, big()), Ok(sample()));
    assert_eq!(decode(&sealed, &m, big()), Ok(sample()));
    // 2. Sends sealed, still accepts plain.
    m.set_mode(SealMode::Send).unwrap();
    assert_eq!(
        decode(&encode(&sample(), &m), &Key::new(Some("k")), big()),
        Ok(sample())
    );
    assert_eq!(decode(&plain, &m, big()), Ok(sample()));
    // 3. Requires sealed.
    m.set_mode(SealMode::Require).unwrap();
    assert_eq!(decode(&plain, &m, big()), Err(DecodeError::Auth));
    assert_eq!(decode(&sealed, &m, big()), Ok(sample()));
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
