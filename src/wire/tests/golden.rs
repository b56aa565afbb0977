//! The golden bytes: one fixed value per message type and rumor variant, and its encoding.

use super::*;

// One fixed value per message type and per rumor variant, and the bytes it encodes to. The bytes
// were produced by protocol version 1's first encoder (serde-derived on the core's own types,
// before the schema moved into this module) and are the format: if one of these tests fails, the
// format changed. Change it only on purpose, with PROTOCOL_VERSION and docs/protocol.md. Version
// 2 changed the stream framing (stream frames below) and which transport carries which message
// and where answers go; the datagram frames differ from version 1's only in the version byte (and
// so in the keyed frame's MAC, checked against Python's hmac). Version 3 added the `Offer`
// message and a push-pull's `holds` (one more byte, 00, at the end of a push-pull without them);
// the keyed MACs were computed again with Python's hmac, and the new frames written by hand from
// docs/protocol.md's layout. Version 4 seals frames (an AEAD instead of the HMAC tag): the plain
// frames differ from version 3's only in the version byte; the sealed ones were computed by
// scripts/golden_seal.py, an implementation of docs/protocol.md's layout on libsodium.

fn g_id4(p: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([10, 0, 0, 1], p))
}
fn g_id6() -> std::net::SocketAddr {
    "[2001:db8::7]:7946".parse().unwrap()
}
fn g_attrs() -> crate::proto::PackedAttributes {
    crate::proto::PackedAttributes::from_parts("web-1", "zone=a")
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
pub(super) fn golden_messages() -> Vec<(&'static str, Message)> {
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
                        attrs: crate::proto::PackedAttributes::default(),
                    },
                    MemberState {
                        id: g_id4(1),
                        incarnation: 0,
                        status: Status::Dead,
                        attrs: crate::proto::PackedAttributes::default(),
                    },
                    MemberState {
                        id: g_id4(2),
                        incarnation: 1,
                        status: Status::Left,
                        attrs: crate::proto::PackedAttributes::default(),
                    },
                ],
                meta_version: Some(g_version()),
                meta: Some(g_meta()),
                holds: None,
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
                holds: None,
            },
        ),
        (
            "push_pull_holds",
            Message::PushPull {
                from: g_id4(7946),
                reply: false,
                members: vec![],
                meta_version: None,
                meta: None,
                holds: Some(vec![
                    Held {
                        id: g_id4(7946),
                        incarnation: 2,
                        status: Status::Alive,
                    },
                    Held {
                        id: g_id6(),
                        incarnation: 70_000,
                        status: Status::Dead,
                    },
                ]),
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
        (
            "offer",
            Message::Offer {
                from: g_id6(),
                holds: vec![Held {
                    id: g_id4(80),
                    incarnation: 300,
                    status: Status::Suspect,
                }],
                meta_version: Some(g_version()),
            },
        ),
    ]
}

pub(super) fn hex(bytes: &[u8]) -> String {
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
            "504b0400000001000a000001fb0a1f0120010db8000000000000000000000007fb0a1f0200000a00",
            "0001fb0a1f03057765622d31067a6f6e653d6101000a00000150fb2c010120010db8000000000000",
            "000000000007fb0a1f",
        ),
    ),
    (
        "ack",
        "504b04010001fbfb000120010db8000000000000000000000007fb0a1f00",
    ),
    (
        "ping_req",
        concat!(
            "504b04020002fc00000100000a000001fb0a1f000a000001fb0b1f0103000a000001fb0b1ffc00f2",
            "052a",
        ),
    ),
    (
        "gossip",
        concat!(
            "504b04030003000a000001fb0a1f0600000a000001fb0a1f03057765622d31067a6f6e653d610100",
            "0a00000150fb2c010120010db8000000000000000000000007fb0a1f020120010db8000000000000",
            "000000000007fb0a1ffc70110100000a000001fb0a1f03000a000001fb0b1ffc00f2052a04fd0300",
            "005f2a8c01000120010db8000000000000000000000007fb0a1f0363666705fd0300005f2a8c0100",
            "0120010db8000000000000000000000007fb0a1f",
        ),
    ),
    (
        "push_pull",
        concat!(
            "504b04040004000a000001fb0a1f0104000a000001fb0a1f0200057765622d31067a6f6e653d6101",
            "20010db8000000000000000000000007fb0a1f09010000000a0000010100020000000a0000010201",
            "03000001fd0300005f2a8c01000120010db8000000000000000000000007fb0a1f01fd0300005f2a",
            "8c01000120010db8000000000000000000000007fb0a1f0363666700",
        ),
    ),
    (
        "push_pull_empty",
        "504b040400040120010db8000000000000000000000007fb0a1f0000000000",
    ),
    (
        "push_pull_holds",
        concat!(
            "504b04040004000a000001fb0a1f0000000001",
            "02000a000001fb0a1f0200",
            "0120010db8000000000000000000000007fb0a1ffc7011010002",
        ),
    ),
    ("meta_request", "504b04050005000a000001fb0a1f"),
    (
        "meta_response",
        concat!(
            "504b040600060120010db8000000000000000000000007fb0a1ffd0300005f2a8c01000120010db8",
            "000000000000000000000007fb0a1f03636667",
        ),
    ),
    ("nack", "504b04070007fcfeffffff000a000001fb0a1f"),
    (
        "digest",
        concat!(
            "504b04080008000a000001fb0a1ffd67452301efbeadde01fd0300005f2a8c01000120010db80000",
            "00000000000000000007fb0a1f",
        ),
    ),
    ("digest_no_meta", "504b04080008000a000001fb0a1f0700"),
    (
        "offer",
        concat!(
            "504b040900090120010db8000000000000000000000007fb0a1f01000a00000150fb2c0101",
            "01fd0300005f2a8c01000120010db8000000000000000000000007fb0a1f",
        ),
    ),
];

const GOLDEN_RUMORS: &[&str] = &[
    "00000a000001fb0a1f03057765622d31067a6f6e653d61",
    "01000a00000150fb2c010120010db8000000000000000000000007fb0a1f",
    "020120010db8000000000000000000000007fb0a1ffc70110100000a000001fb0a1f",
    "03000a000001fb0b1ffc00f2052a",
    "04fd0300005f2a8c01000120010db8000000000000000000000007fb0a1f03636667",
    "05fd0300005f2a8c01000120010db8000000000000000000000007fb0a1f",
];

/// The send time and the nonce's random bytes of the sealed goldens (`scripts/golden_seal.py`).
pub(super) const G_STAMP: u64 = 0x0000_018c_2a5f_0000;
pub(super) fn g_random() -> [u8; NONCE_RANDOM_LEN] {
    std::array::from_fn(|i| i as u8)
}

/// The "ping" of `GOLDEN_MESSAGES` sealed with the key "golden", without and with the label
/// "prod", at `G_STAMP` with `g_random`: computed by `scripts/golden_seal.py` with libsodium's
/// XChaCha20-Poly1305 and the standard library's HMAC, from docs/protocol.md's layout.
const GOLDEN_PING_SEALED: &str = concat!(
    "504b040001",
    "0000018c2a5f0000000102030405060708090a0b0c0d0e0f",
    "937ad96c6fe4df9aee1b6f4eeae514ed033f0c42a16a64bd55d0e670c46bae501e7131230686ea00",
    "1ccaa8fbcdf5e1fb1195ae97f5980a8db4723a8355fcfacb1843c0f10a7395534374e823a7c4b1fc",
    "09f55d26",
    "359e7e761bdc230ca20322a408d52d23",
);
const GOLDEN_PING_SEALED_LABELED: &str = concat!(
    "504b040003",
    "0e51927a",
    "0000018c2a5f0000000102030405060708090a0b0c0d0e0f",
    "937ad96c6fe4df9aee1b6f4eeae514ed033f0c42a16a64bd55d0e670c46bae501e7131230686ea00",
    "1ccaa8fbcdf5e1fb1195ae97f5980a8db4723a8355fcfacb1843c0f10a7395534374e823a7c4b1fc",
    "09f55d26",
    "773be5601e62f549174408c32ea8ca61",
);
/// The id `Key::list` gives the key "golden".
const GOLDEN_KEY_ID: &str = "dcbe290078814be3";

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
    assert_eq!(types.len(), 10, "one golden frame per message type");
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
fn sealed_frames_are_golden_too() {
    let msg = golden_messages().remove(0).1;
    let key = Key::new(Some("golden"));
    let labeled = Key::new(Some("golden")).with_label("prod");
    for (k, golden) in [
        (&key, GOLDEN_PING_SEALED),
        (&labeled, GOLDEN_PING_SEALED_LABELED),
    ] {
        let f = Encoded::new(&msg).datagram_at(k, G_STAMP, g_random());
        assert_eq!(hex(&f), golden, "the sealed format changed");
        assert_eq!(
            decode_at(&unhex(golden), k, big(), G_STAMP),
            Ok(msg.clone())
        );
    }
    assert_eq!(key.list(), vec![GOLDEN_KEY_ID.to_string()]);
    assert_eq!(Key::id_of("golden"), GOLDEN_KEY_ID);
}
