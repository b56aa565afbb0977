//! Stream frames: their golden bytes, and the header checked before the body.

use super::*;

/// The `nack` of `golden_messages` as a stream frame, without and with the key "golden": header
/// (magic, version, type, flags, body length), [header tag], body, [body tag].
const GOLDEN_STREAM_NACK: &str = concat!("504b0307000000000e", "07fcfeffffff000a000001fb0a1f");
const GOLDEN_STREAM_NACK_KEYED: &str = concat!(
    "504b0307010000000e",
    "a164963f2670e61091e5e915c1d850a2",
    "07fcfeffffff000a000001fb0a1f",
    "ec42a48a5ead6e3a22cc8aef960379a6",
);

fn golden_nack() -> Message {
    golden_messages()
        .into_iter()
        .find(|(n, _)| *n == "nack")
        .unwrap()
        .1
}

/// Decodes a whole stream frame the way a reader does: header first, then the rest.
fn decode_stream(frame: &[u8], key: &Key, limits: Limits) -> Result<Message, DecodeError> {
    let n = StreamHeader::len(key);
    if frame.len() < n {
        return Err(DecodeError::Malformed);
    }
    let h = StreamHeader::decode(&frame[..n], key, limits)?;
    h.decode_rest(&frame[n..], key, limits)
}

#[test]
fn stream_frames_are_golden() {
    let none = Key::new(None);
    let key = Key::new(Some("golden"));
    let f = encode_stream(&golden_nack(), &none);
    assert_eq!(hex(&f), GOLDEN_STREAM_NACK);
    assert_eq!(decode_stream(&f, &none, big()), Ok(golden_nack()));
    let f = encode_stream(&golden_nack(), &key);
    assert_eq!(hex(&f), GOLDEN_STREAM_NACK_KEYED);
    assert_eq!(decode_stream(&f, &key, big()), Ok(golden_nack()));
    // Every message type round-trips, and the header says how much follows.
    for (name, msg) in golden_messages() {
        for k in [&none, &key] {
            let f = encode_stream(&msg, k);
            let h = StreamHeader::decode(&f[..StreamHeader::len(k)], k, big()).unwrap();
            assert_eq!(h.frame_len(), f.len(), "{name}");
            assert_eq!(h.rest_len(), f.len() - StreamHeader::len(k), "{name}");
            assert_eq!(decode_stream(&f, k, big()), Ok(msg.clone()), "{name}");
        }
    }
}

#[test]
fn a_stream_header_is_checked_before_its_body() {
    let a = Key::new(Some("a"));
    let b = Key::new(Some("b"));
    let none = Key::new(None);
    let f = encode_stream(&sample(), &a);
    let header = &f[..StreamHeader::len(&a)];
    // Another key, or none, fails at the header.
    assert_eq!(
        StreamHeader::decode(header, &b, big()),
        Err(DecodeError::Auth)
    );
    let plain = encode_stream(&sample(), &none);
    assert_eq!(
        StreamHeader::decode(&plain[..StreamHeader::len(&none)], &a, big()).err(),
        Some(DecodeError::Malformed), // 9 bytes where a keyed reader reads 25
    );
    let mut padded = plain[..STREAM_HEADER_LEN].to_vec();
    padded.extend_from_slice(&[0; MAC_LEN]);
    assert_eq!(
        StreamHeader::decode(&padded, &a, big()),
        Err(DecodeError::Auth)
    );
    assert_eq!(
        StreamHeader::decode(header, &none, big()).err(),
        Some(DecodeError::Malformed) // 25 bytes where a keyless reader reads 9
    );
    // Any changed bit of the keyed header, the length included, fails its tag.
    for i in 5..header.len() {
        let mut h = header.to_vec();
        h[i] ^= 1;
        assert_eq!(
            StreamHeader::decode(&h, &a, big()),
            Err(DecodeError::Auth),
            "byte {i}"
        );
    }
    // A changed body fails the body's tag.
    let mut g = f.clone();
    let last = g.len() - MAC_LEN - 1;
    g[last] ^= 1;
    assert_eq!(decode_stream(&g, &a, big()), Err(DecodeError::Auth));
    // Wrong magic, version, type or flags: garbage.
    for (i, v) in [(0, b'X'), (2, PROTOCOL_VERSION + 1), (3, 10), (4, 3)] {
        let mut h = plain[..STREAM_HEADER_LEN].to_vec();
        h[i] = v;
        assert_eq!(
            StreamHeader::decode(&h, &none, big()),
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
fn a_stream_header_bounds_the_length_by_type() {
    let none = Key::new(None);
    let header = |ty: u8, body_len: u32| {
        let mut h = vec![MAGIC[0], MAGIC[1], PROTOCOL_VERSION, ty, 0];
        h.extend_from_slice(&body_len.to_be_bytes());
        StreamHeader::decode(&h, &none, big())
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
    // With a key the header's tags count in the frame's length.
    let key = Key::new(Some("k"));
    let f = encode_stream(&golden_nack(), &key);
    let h = StreamHeader::decode(&f[..StreamHeader::len(&key)], &key, big()).unwrap();
    let tight = Limits {
        frame: h.frame_len(),
        ..big()
    };
    assert!(StreamHeader::decode(&f[..StreamHeader::len(&key)], &key, tight).is_ok());
    let tighter = Limits {
        frame: h.frame_len() - 1,
        ..big()
    };
    assert_eq!(
        StreamHeader::decode(&f[..StreamHeader::len(&key)], &key, tighter),
        Err(DecodeError::TooLarge)
    );
}

#[test]
fn hostile_stream_bytes_never_panic() {
    let mut rng = Rng::seed(2);
    for key in [Key::new(None), Key::new(Some("k"))] {
        let good = encode_stream(&sample(), &key);
        let n = StreamHeader::len(&key);
        for _ in 0..20_000 {
            let mut g = good.clone();
            let i = rng.below(g.len() as u64) as usize;
            g[i] = rng.next_u64() as u8;
            let cut = rng.below(g.len() as u64 + 1) as usize;
            let _ = decode_stream(&g[..cut], &key, big());
            let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let _ = StreamHeader::decode(&junk, &key, big());
            if let Ok(h) = StreamHeader::decode(&g[..n], &key, big()) {
                let _ = h.decode_rest(&g[n..cut.max(n)], &key, big());
            }
        }
    }
}
