//! What a frame may hold per transport, and the room an answer to a datagram takes.

use super::*;

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
                attrs: crate::proto::PackedAttributes::default(),
            })
            .collect(),
        meta_version: None,
        meta: None,
        holds: None,
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
    // What an offer says it holds: the same bound as members.
    let offer = |n: u16| Message::Offer {
        from: id(1),
        holds: (0..n)
            .map(|p| Held {
                id: id(p),
                incarnation: 0,
                status: Status::Alive,
            })
            .collect(),
        meta_version: None,
    };
    let f = encode(&offer(datagram_most), &none);
    assert!(decode(&f, &none, roomy).is_ok());
    let f = encode(&offer(datagram_most + 1), &none);
    assert_eq!(decode(&f, &none, roomy), Err(DecodeError::Malformed));
    assert!(decode(&f, &none, big()).is_ok());

    // Attributes: ATTR_MAX bytes each.
    let alive = |name: String| {
        gossip(vec![Rumor::Alive {
            id: id(2),
            incarnation: 1,
            attrs: crate::proto::PackedAttributes::pack(&Attributes {
                name,
                private_data: String::new(),
            }),
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

/// The datagram messages that carry rumors, at the largest sequence number, with `from` and
/// `target` both `id`.
fn carrying(id: std::net::SocketAddr, rumors: &[Rumor]) -> [Message; 4] {
    [
        Message::Ping {
            seq: u32::MAX,
            from: id,
            target: id,
            rumors: rumors.to_vec(),
        },
        Message::PingReq {
            seq: u32::MAX,
            from: id,
            target: id,
            rumors: rumors.to_vec(),
        },
        Message::Ack {
            seq: u32::MAX,
            from: id,
            rumors: rumors.to_vec(),
        },
        Message::Gossip {
            from: id,
            rumors: rumors.to_vec(),
        },
    ]
}

/// `ANSWER_OVERHEAD` bounds every byte of a ping, ack or nack besides its rumors, at the largest
/// sequence number and ids, sealed and labeled, with a 3-byte rumor count: an answer packed to
/// `weight - ANSWER_OVERHEAD` bytes of rumors never outweighs its request.
#[test]
fn answer_overhead_bounds_every_answer_beside_its_rumors() {
    let v6: std::net::SocketAddr = "[2001:db8::ffff:ffff]:65535".parse().unwrap();
    let rumor = Rumor::Left {
        id: v6,
        incarnation: 7,
    };
    let one = RUMOR_ENCODING.encode(&rumor).len();
    let sealed = Key::new(Some("k")).with_label("l");
    for key in [Key::new(None), Key::new(Some("k")), sealed.clone()] {
        for count in [0usize, 1, 251, 300] {
            let rumors = vec![rumor.clone(); count];
            let weight = count * one;
            let [ping, _, ack, _] = carrying(v6, &rumors);
            let nack = Message::Nack {
                seq: u32::MAX,
                from: v6,
            };
            for msg in [ping, ack, nack] {
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
    assert_eq!(encode(&ping, &sealed).len(), ANSWER_OVERHEAD - 2);
}

/// `MESSAGE_OVERHEAD` bounds every byte of a datagram message besides its rumors, sealed and
/// labeled, at the largest sequence number and ids: a message packed with the rumor budget
/// (`datagram_budget`) still fits in `DATAGRAM_MAX`.
#[test]
fn a_full_sealed_datagram_fits() {
    let v6: std::net::SocketAddr = "[2001:db8::ffff:ffff]:65535".parse().unwrap();
    let rumor = Rumor::Left {
        id: v6,
        incarnation: u32::MAX,
    };
    let one = RUMOR_ENCODING.encode(&rumor).len();
    let budget = RUMOR_ENCODING.datagram_budget();
    assert_eq!(budget, 1_283, "the rumors a datagram carries changed");
    let rumors = vec![rumor; budget / one];
    let key = Key::new(Some("k")).with_label(&"l".repeat(LABEL_MAX));
    for msg in carrying(v6, &rumors) {
        let len = encode(&msg, &key).len();
        let fixed = len - rumors.len() * one;
        assert!(
            fixed <= MESSAGE_OVERHEAD,
            "{fixed} bytes besides the rumors"
        );
        assert!(len <= DATAGRAM_MAX, "{len} bytes");
    }
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
            "push_pull_holds",
            "meta_request",
            "meta_response",
            "digest",
            "digest_no_meta",
            "offer"
        ]
    );
}

/// `HELD_MAX_LEN`, which sizes the room a push-pull leaves for its members beside its `holds`,
/// is what the largest `Held` encodes to.
#[test]
fn the_largest_held_entry_takes_held_max_len_bytes() {
    let none = Key::new(None);
    let offer = |holds: Vec<Held>| Message::Offer {
        from: id(1),
        holds,
        meta_version: None,
    };
    let largest = Held {
        id: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
            .parse()
            .unwrap(),
        incarnation: u32::MAX,
        status: Status::Left,
    };
    let one = encode(&offer(vec![largest]), &none).len();
    let none_held = encode(&offer(vec![]), &none).len();
    assert_eq!(one - none_held, HELD_MAX_LEN);
    assert_eq!(RUMOR_ENCODING.held_max_len(), HELD_MAX_LEN);
}
