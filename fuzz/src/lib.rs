//! Shared by the fuzz targets: a running core to apply decoded messages to, and the checks that
//! what it then sends is well formed.
//!
//! Every target decodes bytes the way the driver does (`pekonode::wire`), and whatever decodes is
//! handed to a real `Core` with members, metadata and timers running: decoding must never panic,
//! and neither may the core, whatever a decoded message claims. The Go pekonode compatibility
//! mode's packets and core have their own module, `compat`.

pub mod compat;

use pekonode::proto::{
    Arrival, Attributes, Core, CoreConfig, MemberId, Message, Millis, Route, Timing,
};
use pekonode::wire::{self, Key, Limits};

/// The fuzzed member's wall clock when the core's clock reads 0 (2023-11-14): metadata versions
/// near it are plausible, far ahead of it are refused.
pub const WALL_MS: u64 = 1_700_000_000_000;

/// The fuzzed member's own address.
pub fn me() -> MemberId {
    "127.0.0.1:7946".parse().unwrap()
}

/// Peers the fuzzed member knows before the input arrives, so that rumors about them, probes,
/// suspicion and push-pull merges all have something to act on.
pub fn peers() -> Vec<(MemberId, Attributes)> {
    (0..4)
        .map(|i| {
            (
                format!("127.0.0.1:{}", 7947 + i).parse().unwrap(),
                Attributes {
                    name: format!("peer{i}"),
                    private_data: "d".into(),
                },
            )
        })
        .collect()
}

/// A member that has joined a converged cluster of five and published metadata.
pub fn running_core() -> Core {
    let mut core = Core::new(CoreConfig {
        me: me(),
        attrs: Attributes {
            name: "fuzzed".into(),
            private_data: "p".into(),
        },
        amount: 3,
        timing: Timing::new(200, 3000, 3),
        max_meta: 16 * 1024,
        seed: 1,
        wall_ms: WALL_MS,
        encoding: &wire::RUMOR_ENCODING,
    });
    let mut all = peers();
    all.push((me(), core.attrs().clone()));
    core.join_converged(0, &all);
    core.publish(0, WALL_MS, b"metadata".to_vec())
        .expect("the first publish is newer than nothing");
    core.tick(0);
    core
}

/// Applies a decoded message that arrived `arrival` at `now` (a datagram carrying a stream-only
/// message is dropped first, as the driver drops it), runs the timers, and checks everything the
/// core then wants to send.
pub fn apply(core: &mut Core, now: Millis, arrival: Arrival, msg: Message) {
    if matches!(arrival, Arrival::Datagram { .. }) && wire::stream_only(&msg) {
        return;
    }
    core.handle(now, arrival, msg);
    core.tick(now);
    check_outgoing(core);
    while core.next_event().is_some() {}
}

/// Everything queued for sending encodes and decodes back to the same message, and an answer to
/// a datagram is never larger than the datagram was (no amplification, whatever it claimed).
pub fn check_outgoing(core: &mut Core) {
    let key = Key::new(None);
    for out in core.drain_outgoing() {
        let bytes = wire::encode(&out.msg, &key);
        if let Route::Answer { limit } = out.route {
            assert!(
                bytes.len() <= limit,
                "a {}-byte answer to a {limit}-byte datagram: {:?}",
                bytes.len(),
                out.msg
            );
        }
        let back = wire::decode(&bytes, &key, Limits::stream(16 * 1024)).unwrap_or_else(|e| {
            panic!(
                "the core sent a message that does not decode ({e:?}): {:?}",
                out.msg
            )
        });
        assert_eq!(back, out.msg, "round trip changed a message the core sent");
    }
}

/// A decoded message encodes to bytes that decode to the same message (the codec is canonical
/// for everything it accepts, so nothing is lost between decode and a later re-encode).
pub fn check_round_trip(msg: &Message, limits: Limits) {
    let key = Key::new(None);
    let bytes = wire::encode(msg, &key);
    let back = wire::decode(&bytes, &key, limits).unwrap_or_else(|e| {
        panic!("a decoded message re-encodes to bytes that fail ({e:?}): {msg:?}")
    });
    assert_eq!(&back, msg);
}

/// One message of every type, with every rumor variant and member status: the seeds the
/// committed corpus starts from (`examples/seeds.rs`).
pub fn sample_messages() -> Vec<Message> {
    use pekonode::proto::{Held, MemberState, MetaVersion, Metadata, Rumor, Status};
    let p = |i: usize| peers()[i].0;
    let v6: MemberId = "[::1]:7950".parse().unwrap();
    let attrs = pekonode::proto::PackedAttributes::from_parts("peer0", "d");
    let version = MetaVersion {
        hlc: WALL_MS << 16,
        origin: p(1),
    };
    let meta = Metadata {
        version,
        data: b"cluster metadata".to_vec(),
    };
    let rumors = vec![
        Rumor::Alive {
            id: p(0),
            incarnation: 3,
            attrs: attrs.clone(),
        },
        Rumor::Suspect {
            id: p(1),
            incarnation: 1,
            from: p(2),
        },
        Rumor::Dead {
            id: me(),
            incarnation: 0,
            from: p(2),
        },
        Rumor::Left {
            id: v6,
            incarnation: 7,
        },
        Rumor::Meta(meta.clone()),
        Rumor::MetaAnnounce(version),
    ];
    let states = [Status::Alive, Status::Suspect, Status::Dead, Status::Left]
        .into_iter()
        .enumerate()
        .map(|(i, status)| MemberState {
            id: p(i),
            incarnation: i as u32,
            status,
            attrs: attrs.clone(),
        })
        .collect::<Vec<_>>();
    let holds: Vec<Held> = states
        .iter()
        .map(|s| Held {
            id: s.id,
            incarnation: s.incarnation,
            status: s.status,
        })
        .collect();
    vec![
        Message::Ping {
            seq: 1,
            from: p(0),
            target: me(),
            rumors: rumors[..2].to_vec(),
        },
        Message::Ack {
            seq: 1,
            from: p(1),
            rumors: rumors[2..4].to_vec(),
        },
        Message::PingReq {
            seq: 2,
            from: p(2),
            target: p(3),
            rumors: vec![],
        },
        Message::Gossip { from: p(3), rumors },
        Message::PushPull {
            from: p(0),
            reply: false,
            members: states.clone(),
            meta_version: Some(version),
            meta: Some(meta.clone()),
            holds: None,
        },
        Message::PushPull {
            from: p(1),
            reply: true,
            members: states,
            meta_version: None,
            meta: None,
            holds: None,
        },
        Message::PushPull {
            from: p(2),
            reply: false,
            members: vec![],
            meta_version: None,
            meta: None,
            holds: Some(holds.clone()),
        },
        Message::Offer {
            from: p(3),
            holds,
            meta_version: Some(version),
        },
        Message::MetaRequest { from: p(2) },
        Message::MetaResponse { from: p(1), meta },
        Message::Nack { seq: 2, from: p(3) },
        Message::Digest {
            from: p(0),
            digest: 42,
            meta_version: Some(version),
        },
    ]
}
