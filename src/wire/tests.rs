//! Round trips, hostile input, and the golden bytes that pin the format.

use super::*;
use crate::proto::random::Rng;
use crate::proto::{Attributes, MemberState, MetaVersion, Metadata, Status};

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

// ---- golden bytes ------------------------------------------------------------------------------
//
// One fixed value per message type and per rumor variant, and the bytes it encodes to. The bytes
// were produced by protocol version 1's first encoder (serde-derived on the core's own types,
// before the schema moved into this module) and are the format: if one of these tests fails, the
// format changed. Change it only on purpose, with PROTOCOL_VERSION and docs/protocol.md. Version
// 2 changed the stream framing (stream frames below) and which transport carries which message
// and where answers go; the datagram frames differ from version 1's only in the version byte (and
// so in the keyed frame's MAC, checked against Python's hmac).

fn g_id4(p: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([10, 0, 0, 1], p))
}
fn g_id6() -> std::net::SocketAddr {
    "[2001:db8::7]:7946".parse().unwrap()
}
fn g_attrs() -> Attributes {
    Attributes {
        name: "web-1".into(),
        private_data: "zone=a".into(),
    }
}
fn g_version() -> MetaVersion {
    MetaVersion {
        hlc: 0x0001_8c2a_5f00_0003,
        origin: g_id6(),
    }
}
fn g_meta() -> Metadata {
    Metadata {
        version: g_version(),
        data: b"cfg".to_vec(),
    }
}
fn g_rumors() -> Vec<Rumor> {
    vec![
        Rumor::Alive {
            id: g_id4(7946),
            incarnation: 3,
            attrs: g_attrs(),
        },
        Rumor::Suspect {
            id: g_id4(80),
            incarnation: 300,
            from: g_id6(),
        },
        Rumor::Dead {
            id: g_id6(),
            incarnation: 70_000,
            from: g_id4(7946),
        },
        Rumor::Left {
            id: g_id4(7947),
            incarnation: 5_000_000_000u64 as u32,
        },
        Rumor::Meta(g_meta()),
        Rumor::MetaAnnounce(g_version()),
    ]
}
fn golden_messages() -> Vec<(&'static str, Message)> {
    vec![
        (
            "ping",
            Message::Ping {
                seq: 1,
                from: g_id4(7946),
                target: g_id6(),
                rumors: g_rumors()[..2].to_vec(),
            },
        ),
        (
            "ack",
            Message::Ack {
                seq: 251,
                from: g_id6(),
                rumors: vec![],
            },
        ),
        (
            "ping_req",
            Message::PingReq {
                seq: 65_536,
                from: g_id4(7946),
                target: g_id4(7947),
                rumors: g_rumors()[3..4].to_vec(),
            },
        ),
        (
            "gossip",
            Message::Gossip {
                from: g_id4(7946),
                rumors: g_rumors(),
            },
        ),
        (
            "push_pull",
            Message::PushPull {
                from: g_id4(7946),
                reply: true,
                members: vec![
                    MemberState {
                        id: g_id4(7946),
                        incarnation: 2,
                        status: Status::Alive,
                        attrs: g_attrs(),
                    },
                    MemberState {
                        id: g_id6(),
                        incarnation: 9,
                        status: Status::Suspect,
                        attrs: Attributes::default(),
                    },
                    MemberState {
                        id: g_id4(1),
                        incarnation: 0,
                        status: Status::Dead,
                        attrs: Attributes::default(),
                    },
                    MemberState {
                        id: g_id4(2),
                        incarnation: 1,
                        status: Status::Left,
                        attrs: Attributes::default(),
                    },
                ],
                meta_version: Some(g_version()),
                meta: Some(g_meta()),
            },
        ),
        (
            "push_pull_empty",
            Message::PushPull {
                from: g_id6(),
                reply: false,
                members: vec![],
                meta_version: None,
                meta: None,
            },
        ),
        ("meta_request", Message::MetaRequest { from: g_id4(7946) }),
        (
            "meta_response",
            Message::MetaResponse {
                from: g_id6(),
                meta: g_meta(),
            },
        ),
        (
            "nack",
            Message::Nack {
                seq: u32::MAX - 1,
                from: g_id4(7946),
            },
        ),
        (
            "digest",
            Message::Digest {
                from: g_id4(7946),
                digest: 0xdead_beef_0123_4567,
                meta_version: Some(g_version()),
            },
        ),
        (
            "digest_no_meta",
            Message::Digest {
                from: g_id4(7946),
                digest: 7,
                meta_version: None,
            },
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const GOLDEN_MESSAGES: &[(&str, &str)] = &[
    (
        "ping",
        concat!(
            "504b0200000001000a000001fb0a1f0120010db8000000000000000000000007fb0a1f0200000a00",
            "0001fb0a1f03057765622d31067a6f6e653d6101000a00000150fb2c010120010db8000000000000",
            "000000000007fb0a1f",
        ),
    ),
    (
        "ack",
        "504b02010001fbfb000120010db8000000000000000000000007fb0a1f00",
    ),
    (
        "ping_req",
        concat!(
            "504b02020002fc00000100000a000001fb0a1f000a000001fb0b1f0103000a000001fb0b1ffc00f2",
            "052a",
        ),
    ),
    (
        "gossip",
        concat!(
            "504b02030003000a000001fb0a1f0600000a000001fb0a1f03057765622d31067a6f6e653d610100",
            "0a00000150fb2c010120010db8000000000000000000000007fb0a1f020120010db8000000000000",
            "000000000007fb0a1ffc70110100000a000001fb0a1f03000a000001fb0b1ffc00f2052a04fd0300",
            "005f2a8c01000120010db8000000000000000000000007fb0a1f0363666705fd0300005f2a8c0100",
            "0120010db8000000000000000000000007fb0a1f",
        ),
    ),
    (
        "push_pull",
        concat!(
            "504b02040004000a000001fb0a1f0104000a000001fb0a1f0200057765622d31067a6f6e653d6101",
            "20010db8000000000000000000000007fb0a1f09010000000a0000010100020000000a0000010201",
            "03000001fd0300005f2a8c01000120010db8000000000000000000000007fb0a1f01fd0300005f2a",
            "8c01000120010db8000000000000000000000007fb0a1f03636667",
        ),
    ),
    (
        "push_pull_empty",
        "504b020400040120010db8000000000000000000000007fb0a1f00000000",
    ),
    ("meta_request", "504b02050005000a000001fb0a1f"),
    (
        "meta_response",
        concat!(
            "504b020600060120010db8000000000000000000000007fb0a1ffd0300005f2a8c01000120010db8",
            "000000000000000000000007fb0a1f03636667",
        ),
    ),
    ("nack", "504b02070007fcfeffffff000a000001fb0a1f"),
    (
        "digest",
        concat!(
            "504b02080008000a000001fb0a1ffd67452301efbeadde01fd0300005f2a8c01000120010db80000",
            "00000000000000000007fb0a1f",
        ),
    ),
    ("digest_no_meta", "504b02080008000a000001fb0a1f0700"),
];

const GOLDEN_RUMORS: &[&str] = &[
    "00000a000001fb0a1f03057765622d31067a6f6e653d61",
    "01000a00000150fb2c010120010db8000000000000000000000007fb0a1f",
    "020120010db8000000000000000000000007fb0a1ffc70110100000a000001fb0a1f",
    "03000a000001fb0b1ffc00f2052a",
    "04fd0300005f2a8c01000120010db8000000000000000000000007fb0a1f03636667",
    "05fd0300005f2a8c01000120010db8000000000000000000000007fb0a1f",
];

const GOLDEN_PING_KEYED: &str = concat!(
    "504b0200010001000a000001fb0a1f0120010db8000000000000000000000007fb0a1f0200000a00",
    "0001fb0a1f03057765622d31067a6f6e653d6101000a00000150fb2c010120010db8000000000000",
    "000000000007fb0a1ff42f1c7f34fcbe32d2a97184263d24de",
);

#[test]
fn every_message_type_encodes_to_its_golden_bytes_and_back() {
    let cases = golden_messages();
    assert_eq!(cases.len(), GOLDEN_MESSAGES.len());
    let mut types = std::collections::BTreeSet::new();
    for ((name, msg), (golden_name, golden)) in cases.into_iter().zip(GOLDEN_MESSAGES) {
        assert_eq!(name, *golden_name);
        let frame = encode(&msg, &Key::new(None));
        assert_eq!(hex(&frame), *golden, "{name}: the encoding changed");
        assert_eq!(
            decode(&unhex(golden), &Key::new(None), big()),
            Ok(msg),
            "{name}"
        );
        types.insert(frame[3]);
    }
    assert_eq!(types.len(), 9, "one golden frame per message type");
}

#[test]
fn every_rumor_variant_encodes_to_its_golden_bytes_and_back() {
    for (r, golden) in g_rumors().into_iter().zip(GOLDEN_RUMORS) {
        assert_eq!(
            hex(&RUMOR_ENCODING.encode(&r)),
            *golden,
            "{r:?}: the encoding changed"
        );
        assert_eq!(RUMOR_ENCODING.decode(&unhex(golden)), Some(r));
    }
}

#[test]
fn keyed_frame_is_golden_too() {
    let key = Key::new(Some("golden"));
    let msg = golden_messages().remove(0).1;
    assert_eq!(hex(&encode(&msg, &key)), GOLDEN_PING_KEYED);
    assert_eq!(decode(&unhex(GOLDEN_PING_KEYED), &key, big()), Ok(msg));
}

// ---- limits ------------------------------------------------------------------------------------

fn gossip(rumors: Vec<Rumor>) -> Message {
    Message::Gossip {
        from: id(1),
        rumors,
    }
}

fn left(port: u16, incarnation: u32) -> Rumor {
    Rumor::Left {
        id: id(port),
        incarnation,
    }
}

#[test]
fn clocks_that_would_wrap_are_refused_and_incarnations_take_any_value() {
    let none = Key::new(None);
    // Incarnations are serial numbers (they wrap by design): every value decodes.
    for incarnation in [0, u32::MAX - 1, u32::MAX] {
        let ok = encode(&gossip(vec![left(2, incarnation)]), &none);
        assert!(decode(&ok, &none, Limits::datagram()).is_ok());
    }
    let announce = Rumor::MetaAnnounce(MetaVersion {
        hlc: u64::MAX,
        origin: id(3),
    });
    let f = encode(&gossip(vec![announce]), &none);
    assert_eq!(
        decode(&f, &none, Limits::datagram()),
        Err(DecodeError::Malformed)
    );
    let digest = Message::Digest {
        from: id(1),
        digest: 1,
        meta_version: Some(MetaVersion {
            hlc: u64::MAX,
            origin: id(3),
        }),
    };
    assert_eq!(
        decode(&encode(&digest, &none), &none, Limits::datagram()),
        Err(DecodeError::Malformed)
    );
}

#[test]
fn counts_and_lengths_are_bounded_per_transport() {
    let none = Key::new(None);
    // Rumors: RUMORS_MAX on any transport.
    let most: Vec<Rumor> = (0..RUMORS_MAX as u16).map(|p| left(p, 1)).collect();
    let f = encode(&gossip(most.clone()), &none);
    assert!(decode(&f, &none, big()).is_ok());
    let mut over = most;
    over.push(left(60_000, 1));
    let f = encode(&gossip(over), &none);
    assert_eq!(decode(&f, &none, big()), Err(DecodeError::Malformed));

    // Members: what fits a datagram, or MEMBERS_MAX on a stream.
    let members = |n: u16| Message::PushPull {
        from: id(1),
        reply: false,
        members: (0..n)
            .map(|p| MemberState {
                id: id(p),
                incarnation: 0,
                status: Status::Alive,
                attrs: Attributes::default(),
            })
            .collect(),
        meta_version: None,
        meta: None,
    };
    let datagram_most = Limits::datagram().members as u16;
    let roomy = Limits {
        frame: 1 << 20,
        ..Limits::datagram()
    };
    let f = encode(&members(datagram_most), &none);
    assert!(decode(&f, &none, roomy).is_ok());
    let f = encode(&members(datagram_most + 1), &none);
    assert_eq!(decode(&f, &none, roomy), Err(DecodeError::Malformed));
    assert!(decode(&f, &none, big()).is_ok());

    // Attributes: ATTR_MAX bytes each.
    let alive = |name: String| {
        gossip(vec![Rumor::Alive {
            id: id(2),
            incarnation: 1,
            attrs: Attributes {
                name,
                private_data: String::new(),
            },
        }])
    };
    let f = encode(&alive("n".repeat(ATTR_MAX)), &none);
    assert!(decode(&f, &none, big()).is_ok());
    let f = encode(&alive("n".repeat(ATTR_MAX + 1)), &none);
    assert_eq!(decode(&f, &none, big()), Err(DecodeError::Malformed));

    // Metadata: a datagram's worth in a datagram.
    let meta = |len: usize| Message::MetaResponse {
        from: id(1),
        meta: Metadata {
            version: MetaVersion {
                hlc: 1,
                origin: id(1),
            },
            data: vec![7; len],
        },
    };
    let f = encode(&meta(DATAGRAM_RECV_MAX + 1), &none);
    assert_eq!(decode(&f, &none, roomy), Err(DecodeError::Malformed));
    assert!(decode(&f, &none, big()).is_ok());
}

// ---- answers to datagrams ----------------------------------------------------------------------

/// `ANSWER_OVERHEAD` bounds every byte of a ping, ack or nack besides its rumors, at the largest
/// sequence number and ids, with a MAC and a 3-byte rumor count: an answer packed to
/// `weight - ANSWER_OVERHEAD` bytes of rumors never outweighs its request.
#[test]
fn answer_overhead_bounds_every_answer_beside_its_rumors() {
    let v6: std::net::SocketAddr = "[2001:db8::ffff:ffff]:65535".parse().unwrap();
    let rumor = Rumor::Left {
        id: v6,
        incarnation: 7,
    };
    let one = RUMOR_ENCODING.encode(&rumor).len();
    for key in [Key::new(None), Key::new(Some("k"))] {
        for count in [0usize, 1, 251, 300] {
            let rumors = vec![rumor.clone(); count];
            let weight = count * one;
            for msg in [
                Message::Ping {
                    seq: u32::MAX,
                    from: v6,
                    target: v6,
                    rumors: rumors.clone(),
                },
                Message::Ack {
                    seq: u32::MAX,
                    from: v6,
                    rumors: rumors.clone(),
                },
                Message::Nack {
                    seq: u32::MAX,
                    from: v6,
                },
            ] {
                let len = encode(&msg, &key).len();
                assert!(len <= ANSWER_OVERHEAD + weight, "{msg:?}: {len} bytes");
            }
        }
    }
    // Not needlessly loose either: the largest ping without rumors takes all but the count's
    // two spare bytes.
    let ping = Message::Ping {
        seq: u32::MAX,
        from: v6,
        target: v6,
        rumors: vec![],
    };
    assert_eq!(
        encode(&ping, &Key::new(Some("k"))).len(),
        ANSWER_OVERHEAD - 2
    );
}

#[test]
fn requests_that_need_a_tcp_answer_and_those_answers_are_stream_only() {
    let only: Vec<&str> = golden_messages()
        .into_iter()
        .filter(|(_, m)| stream_only(m))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        only,
        [
            "push_pull",
            "push_pull_empty",
            "meta_request",
            "meta_response",
            "digest",
            "digest_no_meta"
        ]
    );
}

// ---- stream frames -----------------------------------------------------------------------------

/// The `nack` of `golden_messages` as a stream frame, without and with the key "golden": header
/// (magic, version, type, flags, body length), [header tag], body, [body tag].
const GOLDEN_STREAM_NACK: &str = concat!("504b0207000000000e", "07fcfeffffff000a000001fb0a1f");
const GOLDEN_STREAM_NACK_KEYED: &str = concat!(
    "504b0207010000000e",
    "73dc4f2d1536a57ae127a91bdf617096",
    "07fcfeffffff000a000001fb0a1f",
    "c69180fa964b66dba6c2543c993452ac",
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
    for (i, v) in [(0, b'X'), (2, PROTOCOL_VERSION + 1), (3, 9), (4, 3)] {
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
