//! The Go original's packets: our encoder writes what Go's `encoding/json` wrote
//! (`gopekonode_golden.txt`, one `name<TAB>json` per line, made by `scripts/gopekonode_golden`),
//! our decoder reads those and the variations Go's decoder accepts, and refuses the rest.

use crate::wire::gojson::{token, GoNode, GoPacket, INFECTED_MAX};
use crate::wire::DecodeError;
use std::collections::BTreeMap;

const GOLDEN: &str = include_str!("gopekonode_golden.txt");
const BIG: usize = 16 << 10;

fn golden(name: &str) -> &'static str {
    GOLDEN
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('\t')))
        .unwrap_or_else(|| panic!("no golden {name}"))
}

fn node() -> GoNode {
    GoNode {
        addr: "127.0.0.1".into(),
        port: 8000,
        name: "node-1".into(),
        private_data: "role=web".into(),
    }
}

fn infected(keys: &[&str]) -> BTreeMap<String, bool> {
    keys.iter().map(|k| (k.to_string(), true)).collect()
}

const T: i64 = 1_764_670_668_494_123_456;

/// The packets the golden generator encodes, built on our side.
fn ours() -> Vec<(&'static str, GoPacket)> {
    let secret = token(Some("secret"));
    vec![
        (
            "heartbeat",
            GoPacket {
                node: node(),
                infected: infected(&["127.0.0.1:8000"]),
                ..GoPacket::default()
            },
        ),
        (
            "heartbeat_keyed_relayed",
            GoPacket {
                node: node(),
                infected: infected(&[
                    "127.0.0.1:8000",
                    "127.0.0.1:8002",
                    "127.0.0.1:8001",
                    "10.0.0.7:8000",
                ]),
                secret_key: secret.clone(),
                ..GoPacket::default()
            },
        ),
        (
            "publish",
            GoPacket {
                node: node(),
                infected: infected(&["127.0.0.1:8000"]),
                data: Some(b"hello, cluster".to_vec()),
                update: T,
                is_update: true,
                secret_key: secret.clone(),
                ..GoPacket::default()
            },
        ),
        (
            "swap_request",
            GoPacket {
                node: node(),
                data: Some(vec![0, 1, 2, 0xfe, 0xff]),
                update: T,
                is_swap: 1,
                secret_key: secret.clone(),
                ..GoPacket::default()
            },
        ),
        (
            "swap_response",
            GoPacket {
                node: node(),
                data: Some(b"v2".to_vec()),
                update: 1_764_670_669_000_000_000,
                is_swap: 2,
                secret_key: secret,
                ..GoPacket::default()
            },
        ),
        (
            "never_published",
            GoPacket {
                node: GoNode {
                    addr: "::1".into(),
                    port: 65535,
                    ..GoNode::default()
                },
                data: Some(Vec::new()),
                is_swap: 1,
                ..GoPacket::default()
            },
        ),
        (
            "escapes",
            GoPacket {
                node: GoNode {
                    addr: "127.0.0.1".into(),
                    port: 1,
                    name: "<a&b> \"q\" \\ \n\t\r\u{8}\u{c}\u{1}\u{7f} é 日本 \u{2028}\u{2029} 😀"
                        .into(),
                    private_data: "x/y".into(),
                },
                infected: infected(&["127.0.0.1:1"]),
                secret_key: token(Some("k")),
                ..GoPacket::default()
            },
        ),
    ]
}

#[test]
fn the_key_token_is_the_hex_md5_of_the_key() {
    assert_eq!(token(Some("secret")), "5ebe2294ecd0e0f08eab7690d2a6ee69");
    assert_eq!(token(None), "");
    assert_eq!(token(Some("")), "");
}

#[test]
fn we_write_what_go_writes_and_read_it_back() {
    let cases = ours();
    assert_eq!(
        cases.len(),
        GOLDEN.lines().count(),
        "a golden without a case"
    );
    for (name, p) in cases {
        let want = golden(name);
        assert_eq!(String::from_utf8(p.encode()).unwrap(), want, "{name}");
        assert_eq!(
            GoPacket::decode(want.as_bytes(), BIG, BIG),
            Ok(p),
            "{name} decodes"
        );
    }
}

/// What Go's decoder also accepts: another field order, whitespace, unknown fields, `null`
/// anywhere (the zero value), field names in another letter case, a `false` in `Infected`.
#[test]
fn we_read_what_go_reads() {
    let want = GoPacket::decode(golden("publish").as_bytes(), BIG, BIG).unwrap();
    let shuffled = r#" {
        "SecretKey" : "5ebe2294ecd0e0f08eab7690d2a6ee69",
        "IsSwap": 0, "IsUpdate": true, "Extra": {"nested": [1, 2, {"x": null}]},
        "Metadata": {"Update": 1764670668494123456, "Data": "aGVsbG8sIGNsdXN0ZXI="},
        "Infected": {"127.0.0.1:8000": true},
        "Node": {"PrivateData": "role=web", "Name": "node-1", "Port": 8000, "Addr": "127.0.0.1"}
    } "#;
    assert_eq!(
        GoPacket::decode(shuffled.as_bytes(), BIG, BIG),
        Ok(want.clone())
    );
    let cased = golden("publish")
        .replace("\"Node\"", "\"node\"")
        .replace("\"SecretKey\"", "\"secretkey\"")
        .replace("\"PrivateData\"", "\"PRIVATEDATA\"");
    assert_eq!(GoPacket::decode(cased.as_bytes(), BIG, BIG), Ok(want));
    let nulls = r#"{"Node":null,"Infected":null,"Metadata":{"Data":null,"Update":null},
        "IsUpdate":null,"IsSwap":null,"SecretKey":null}"#;
    assert_eq!(
        GoPacket::decode(nulls.as_bytes(), BIG, BIG),
        Ok(GoPacket::default())
    );
    assert_eq!(GoPacket::decode(b"{}", BIG, BIG), Ok(GoPacket::default()));
    let f = GoPacket::decode(br#"{"Infected":{"a:1":false,"b:2":true}}"#, BIG, BIG).unwrap();
    assert_eq!(f.infected.get("a:1"), Some(&false));
}

/// What Go fails on, and what is over our limits, is refused; nothing panics.
#[test]
fn we_refuse_the_rest() {
    let malformed: &[&str] = &[
        "",
        "null",
        "[]",
        "\"x\"",
        "{",
        r#"{"Node":{"Port":8000.5}}"#,
        r#"{"Node":{"Port":"8000"}}"#,
        r#"{"Node":{"Port":1e3}}"#,
        r#"{"Node":{"Port":99999999999999999999}}"#,
        r#"{"Node":[]}"#,
        r#"{"Infected":{"a":1}}"#,
        r#"{"Infected":[]}"#,
        r#"{"Metadata":{"Data":"not base64!"}}"#,
        r#"{"Metadata":{"Data":[1,2]}}"#,
        r#"{"IsUpdate":1}"#,
        r#"{"IsSwap":256}"#,
        r#"{"IsSwap":-1}"#,
        r#"{"SecretKey":5}"#,
    ];
    for m in malformed {
        assert_eq!(
            GoPacket::decode(m.as_bytes(), BIG, BIG),
            Err(DecodeError::Malformed),
            "{m}"
        );
    }
    let heartbeat = golden("heartbeat").as_bytes();
    assert_eq!(
        GoPacket::decode(heartbeat, heartbeat.len() - 1, BIG),
        Err(DecodeError::TooLarge),
        "longer than the packet bound"
    );
    let publish = golden("publish").as_bytes();
    assert_eq!(
        GoPacket::decode(publish, BIG, 13),
        Err(DecodeError::TooLarge),
        "metadata over the size"
    );
    assert!(GoPacket::decode(publish, BIG, 14).is_ok());
    let many: Vec<String> = (0..=INFECTED_MAX)
        .map(|i| format!("\"10.0.{}.{}:1\":true", i / 256, i % 256))
        .collect();
    let doc = format!("{{\"Infected\":{{{}}}}}", many.join(","));
    assert_eq!(
        GoPacket::decode(doc.as_bytes(), 1 << 20, BIG),
        Err(DecodeError::TooLarge),
        "more Infected keys than INFECTED_MAX"
    );
    let long = format!("{{\"Node\":{{\"Name\":\"{}\"}}}}", "n".repeat(1025));
    assert_eq!(
        GoPacket::decode(long.as_bytes(), BIG, BIG),
        Err(DecodeError::TooLarge)
    );
    let deep = "[".repeat(10_000);
    let doc = format!("{{\"x\":{deep}}}");
    assert_eq!(
        GoPacket::decode(doc.as_bytes(), 1 << 20, BIG),
        Err(DecodeError::Malformed)
    );
}
