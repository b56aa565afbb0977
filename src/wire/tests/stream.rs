//! Stream frames: their golden bytes, and the header checked before the body.

use super::golden::{g_random, G_STAMP};
use super::*;

/// The `nack` of `golden_messages` as a stream frame: header (magic, version, type, flags, body
/// length), body; then sealed with the key "golden" without and with the label "prod", at
/// `G_STAMP` with `g_random` (`scripts/golden_seal.py`): header, [label tag], nonce (the send
/// time, then the random bytes), header tag, encrypted body, body tag.
const GOLDEN_STREAM_NACK: &str = concat!("504b0407000000000e", "07fcfeffffff000a000001fb0a1f");
const GOLDEN_STREAM_NACK_SEALED: &str = concat!(
    "504b0407010000000e",
    "0000018c2a5f0000000102030405060708090a0b0c0d0e0f",
    "4f67ade932eccd0a5721e831242613d8",
    "94872799901bde6be4046f95e1f7",
    "4bb32aeccd7458082cc48cf3b691cd97",
);
const GOLDEN_STREAM_NACK_SEALED_LABELED: &str = concat!(
    "504b0407030000000e",
    "0e51927a",
    "0000018c2a5f0000000102030405060708090a0b0c0d0e0f",
    "6c327f54059b8dd2d5f5fb5c7a0c7f03",
    "94872799901bde6be4046f95e1f7",
    "948a5cb58d96487b5c844b17da490e93",
);

fn golden_nack() -> Message {
    golden_messages()
        .into_iter()
        .find(|(n, _)| *n == "nack")
        .unwrap()
        .1
}

/// The stream frame of `msg` under `key` at `G_STAMP` with `g_random`.
fn frame_at(msg: &Message, key: &Key) -> Vec<u8> {
    let e = Encoded::new(msg);
    let nonce = crate::wire::seal::nonce_at(G_STAMP, &g_random());
    crate::wire::stream::frame(e.message_type, &e.body, key, nonce)
}

/// The header's length, from its first bytes.
fn header_len(frame: &[u8]) -> Result<usize, DecodeError> {
    StreamHeader::len(frame.get(..HEADER_LEN).ok_or(DecodeError::Malformed)?)
}

/// Decodes a whole stream frame the way a reader does, at wall time `now`: header first, then
/// the rest.
fn decode_stream_at(
    frame: &[u8],
    key: &Key,
    limits: Limits,
    now: u64,
) -> Result<Message, DecodeError> {
    let n = header_len(frame)?;
    if frame.len() < n {
        return Err(DecodeError::Malformed);
    }
    let h = StreamHeader::decode_at(&frame[..n], key, limits, now)?;
    h.decode_rest(&mut frame[n..].to_vec(), limits)
}

fn decode_stream(frame: &[u8], key: &Key, limits: Limits) -> Result<Message, DecodeError> {
    decode_stream_at(frame, key, limits, G_STAMP)
}

#[test]
fn stream_frames_are_golden() {
    let none = Key::new(None);
    let key = Key::new(Some("golden"));
    let labeled = Key::new(Some("golden")).with_label("prod");
    for (k, golden) in [
        (&none, GOLDEN_STREAM_NACK),
        (&key, GOLDEN_STREAM_NACK_SEALED),
        (&labeled, GOLDEN_STREAM_NACK_SEALED_LABELED),
    ] {
        let f = frame_at(&golden_nack(), k);
        assert_eq!(hex(&f), golden, "the stream format changed");
        assert_eq!(decode_stream(&f, k, big()), Ok(golden_nack()));
    }
    // Every message type round-trips, and the header says how much follows.
    let plain_labeled = Key::new(None).with_label("prod");
    for (name, msg) in golden_messages() {
        for k in [&none, &key, &labeled, &plain_labeled] {
            let f = frame_at(&msg, k);
            let n = header_len(&f).unwrap();
            let h = StreamHeader::decode_at(&f[..n], k, big(), G_STAMP).unwrap();
            assert_eq!(h.frame_len(), f.len(), "{name}");
            assert_eq!(h.rest_len(), f.len() - n, "{name}");
            assert_eq!(decode_stream(&f, k, big()), Ok(msg.clone()), "{name}");
            // Sealed now, opened now.
            let f = encode_stream(&msg, k);
            assert_eq!(
                decode_stream_at(&f, k, big(), wall_ms()),
                Ok(msg.clone()),
                "{name}"
            );
        }
    }
}

#[test]
fn a_stream_header_is_checked_before_its_body() {
    let a = Key::new(Some("a"));
    let b = Key::new(Some("b"));
    let none = Key::new(None);
    let f = frame_at(&sample(), &a);
    let n = header_len(&f).unwrap();
    assert_eq!(n, STREAM_HEADER_LEN + SEAL_HEADER_LEN + TAG_LEN);
    let header = &f[..n];
    let at = |h: &[u8], k: &Key| StreamHeader::decode_at(h, k, big(), G_STAMP).map(|_| ());
    // Another key fails at the header; so does a sealed frame at a member without keys, and a
    // plain one at a member that requires sealed frames.
    assert_eq!(at(header, &b), Err(DecodeError::Auth));
    assert_eq!(at(header, &none), Err(DecodeError::Auth));
    let plain = frame_at(&sample(), &none);
    assert_eq!(header_len(&plain), Ok(STREAM_HEADER_LEN));
    assert_eq!(at(&plain[..STREAM_HEADER_LEN], &a), Err(DecodeError::Auth));
    // A header cut short or padded is garbage: its flags say its length.
    assert_eq!(at(&header[..n - 1], &a), Err(DecodeError::Malformed));
    assert_eq!(
        at(&plain[..STREAM_HEADER_LEN + 1], &none),
        Err(DecodeError::Malformed)
    );
    // Any changed bit of the sealed header past its flags, the length included, fails its tag.
    for i in HEADER_LEN..n {
        let mut h = header.to_vec();
        h[i] ^= 1;
        assert_eq!(at(&h, &a), Err(DecodeError::Auth), "byte {i}");
    }
    // A changed body fails the body's tag.
    let mut g = f.clone();
    let last = g.len() - TAG_LEN - 1;
    g[last] ^= 1;
    assert_eq!(decode_stream(&g, &a, big()), Err(DecodeError::Auth));
    // The same header with another body of its length (the same message sealed again under
    // the same key) fails too: the body is bound to its header and nonce.
    let other = encode_stream(&sample(), &a);
    assert_eq!(other.len(), f.len());
    let mut spliced = header.to_vec();
    spliced.extend_from_slice(&other[n..]);
    assert_eq!(decode_stream(&spliced, &a, big()), Err(DecodeError::Auth));
    // Wrong magic, version, type or flags: garbage, before the rest of the header is read.
    for (i, v) in [(0, b'X'), (2, PROTOCOL_VERSION + 1), (3, 10), (4, 4)] {
        let mut h = plain[..HEADER_LEN].to_vec();
        h[i] = v;
        assert_eq!(
            StreamHeader::len(&h),
            Err(DecodeError::Malformed),
            "byte {i}"
        );
    }
    // A body of another type than the header says, or short, or long: garbage.
    let mut g = plain.clone();
    g[3] = 3; // Gossip
    assert_eq!(decode_stream(&g, &none, big()), Err(DecodeError::Malformed));
    assert_eq!(
        decode_stream(&plain[..plain.len() - 1], &none, big()),
        Err(DecodeError::Malformed)
    );
}

#[test]
fn a_stream_frame_of_another_label_or_time_is_dropped() {
    let key = Key::new(Some("k"));
    let prod = Key::new(Some("k")).with_label("prod");
    let test = Key::new(Some("k")).with_label("test");
    let f = frame_at(&sample(), &prod);
    assert_eq!(decode_stream(&f, &prod, big()), Ok(sample()));
    assert_eq!(decode_stream(&f, &test, big()), Err(DecodeError::Label));
    assert_eq!(decode_stream(&f, &key, big()), Err(DecodeError::Label));
    let unlabeled = frame_at(&sample(), &key);
    assert_eq!(
        decode_stream(&unlabeled, &prod, big()),
        Err(DecodeError::Label)
    );
    // The same label without keys: the label's tag keeps clusters apart as well.
    let plain_prod = Key::new(None).with_label("prod");
    let plain_test = Key::new(None).with_label("test");
    let f = frame_at(&sample(), &plain_prod);
    assert_eq!(decode_stream(&f, &plain_prod, big()), Ok(sample()));
    assert_eq!(
        decode_stream(&f, &plain_test, big()),
        Err(DecodeError::Label)
    );
    // Within the window either way it opens; past it, it is a replay.
    let f = frame_at(&sample(), &key);
    let w = key.window_ms();
    for now in [G_STAMP - w, G_STAMP + w] {
        assert_eq!(decode_stream_at(&f, &key, big(), now), Ok(sample()));
    }
    for now in [G_STAMP - w - 1, G_STAMP + w + 1, 0, u64::MAX] {
        assert_eq!(
            decode_stream_at(&f, &key, big(), now),
            Err(DecodeError::Replay),
            "at {now}"
        );
    }
}

#[test]
fn a_stream_header_bounds_the_length_by_type() {
    let none = Key::new(None);
    let header = |ty: u8, body_len: u32| {
        let mut h = vec![MAGIC[0], MAGIC[1], PROTOCOL_VERSION, ty, 0];
        h.extend_from_slice(&body_len.to_be_bytes());
        StreamHeader::decode(&h, &none, big()).map(|_| ())
    };
    let frame_max = big().frame - STREAM_HEADER_LEN;
    let small_max = STREAM_SMALL_FRAME_MAX - STREAM_HEADER_LEN;
    for ty in [4u8, 6] {
        assert!(header(ty, frame_max as u32).is_ok(), "type {ty}");
        assert_eq!(header(ty, frame_max as u32 + 1), Err(DecodeError::TooLarge));
        assert_eq!(header(ty, u32::MAX), Err(DecodeError::TooLarge));
    }
    for ty in [0u8, 1, 2, 3, 5, 7, 8] {
        assert!(header(ty, small_max as u32).is_ok(), "type {ty}");
        assert_eq!(
            header(ty, small_max as u32 + 1),
            Err(DecodeError::TooLarge),
            "type {ty}"
        );
    }
    // Sealed, the header's length and tags count in the frame's length.
    let key = Key::new(Some("k")).with_label("prod");
    let f = frame_at(&golden_nack(), &key);
    let n = header_len(&f).unwrap();
    let decode = |limits| StreamHeader::decode_at(&f[..n], &key, limits, G_STAMP);
    let h = decode(big()).unwrap();
    assert_eq!(h.frame_len(), f.len());
    let tight = Limits {
        frame: h.frame_len(),
        ..big()
    };
    assert!(decode(tight).is_ok());
    let tighter = Limits {
        frame: h.frame_len() - 1,
        ..big()
    };
    assert_eq!(decode(tighter).map(|_| ()), Err(DecodeError::TooLarge));
}

#[test]
fn hostile_stream_bytes_never_panic() {
    let mut rng = Rng::seed(2);
    let keys = [
        Key::new(None),
        Key::new(Some("k")),
        Key::new(Some("k")).with_label("prod"),
    ];
    for key in &keys {
        let good = frame_at(&sample(), key);
        let n = header_len(&good).unwrap();
        for _ in 0..20_000 {
            let mut g = good.clone();
            let i = rng.below(g.len() as u64) as usize;
            g[i] = rng.next_u64() as u8;
            let cut = rng.below(g.len() as u64 + 1) as usize;
            let _ = decode_stream(&g[..cut], key, big());
            let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let _ = StreamHeader::len(&junk);
            let _ = StreamHeader::decode_at(&junk, key, big(), G_STAMP);
            if let Ok(h) = StreamHeader::decode_at(&g[..n], key, big(), G_STAMP) {
                let _ = h.decode_rest(&mut g[n..cut.max(n)].to_vec(), big());
            }
        }
    }
}

/// The refusal is nine golden bytes, read as `Refused` whatever our keys, mode and label (it is
/// how a member with another key learns why it hears nothing), and nothing else of type 255 is:
/// other flags, a length, or a datagram of those bytes are malformed.
#[test]
fn the_refusal_is_read_in_every_mode_and_only_as_itself() {
    assert_eq!(hex(&REFUSAL), "504b04ff0000000000");
    let limits = Limits::stream(1 << 20);
    let mut required = Key::new(Some("k")).with_label("prod");
    required.set_mode(SealMode::Require).unwrap();
    for key in [Key::new(None), Key::new(Some("k")), required] {
        assert_eq!(header_len(&REFUSAL), Ok(STREAM_HEADER_LEN));
        assert_eq!(
            decode_stream(&REFUSAL, &key, limits),
            Err(DecodeError::Refused)
        );
        let mut flagged = REFUSAL;
        flagged[4] = 1;
        assert_eq!(
            decode_stream(&flagged, &key, limits),
            Err(DecodeError::Malformed)
        );
        let mut long = REFUSAL;
        long[8] = 1;
        let mut framed = long.to_vec();
        framed.push(0);
        assert_eq!(
            decode_stream(&framed, &key, limits),
            Err(DecodeError::Malformed)
        );
        assert_eq!(
            decode(&REFUSAL, &key, Limits::datagram()),
            Err(DecodeError::Malformed)
        );
    }
}
