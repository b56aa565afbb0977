//! The protocol's vocabulary: who a member is, what state it is in, and the messages members
//! exchange. `crate::wire` converts these to and from its own schema; nothing here knows about
//! bytes.

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::sync::Arc;

/// A member is identified by the address and port the others reach it at.
pub type MemberId = SocketAddr;

/// Liveness version of a member. Only the member itself raises it (to refute a suspicion, after a
/// restart of its work, or when its attributes change), by one, wrapping after 2^32 - 1: versions
/// are compared as serial numbers (RFC 1982, `IncarnationOrder::of`), so there is no top at
/// which a member could be pinned and every refutation (`accused + 1`) is newer than what it
/// refutes.
pub type Incarnation = u32;

/// How far ahead of what we know of a member a claimed incarnation may be and still be
/// believed. Far below 2^31 (a member would need a million refutations, restarts or attribute
/// changes unseen by us to be ahead by this much honestly), far above what honest gaps need; a
/// claim beyond it is dropped and counted, and the member itself heals any view it left behind
/// (it refutes what it hears with `claimed + 1`).
pub const INCARNATION_WINDOW: Incarnation = 1 << 20;

/// A claimed incarnation compared with the one we hold, as serial numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncarnationOrder {
    /// Behind ours (by 1 to 2^31 as serial numbers).
    Older,
    Same,
    /// Ahead of ours by 1 to `INCARNATION_WINDOW`.
    Newer,
    /// Ahead of ours by more than `INCARNATION_WINDOW`: not believed at face value.
    TooFarAhead,
}

impl IncarnationOrder {
    /// `claimed` compared with `known`: `claimed` is ahead when `claimed - known` (wrapping)
    /// lies in 1..2^31.
    pub fn of(claimed: Incarnation, known: Incarnation) -> IncarnationOrder {
        match claimed.wrapping_sub(known) {
            0 => IncarnationOrder::Same,
            d if d <= INCARNATION_WINDOW => IncarnationOrder::Newer,
            d if d < 1 << 31 => IncarnationOrder::TooFarAhead,
            _ => IncarnationOrder::Older,
        }
    }
}

/// Milliseconds on the core's monotonic clock (the driver's, or the simulator's virtual one).
pub type Millis = u64;

/// A member's name and its private data are each at most this many bytes (a protocol rule: the
/// wire decoder and the public API enforce it).
pub const ATTR_MAX: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Alive,
    Suspect,
    Dead,
    Left,
}

impl Status {
    /// Listed by `peko_get`: alive or merely suspected.
    pub fn is_listed(self) -> bool {
        matches!(self, Status::Alive | Status::Suspect)
    }
}

/// What travels with a member besides its address.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Attributes {
    pub name: String,
    pub private_data: String,
}

/// `Attributes` packed as `[name length: u16 LE][name][private data]`, inline when that fits in
/// 22 bytes (no allocation: most names are short and most private data empty), otherwise in one
/// allocation, shared by its clones. The membership table holds one per member at every member:
/// N^2 of them in a process that hosts or simulates N members. Rumors and push-pull entries
/// carry them too, so that decoding, merging and re-sending a member costs no allocation when
/// its attributes are short and one shared allocation otherwise (two `String`s per entry cost
/// a fifth of a join storm's CPU).
///
/// Only `pack` and `from_parts` make one (its representation is private), so its bytes are
/// always a valid layout of two UTF-8 strings.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PackedAttributes(Packed);

#[derive(Clone, PartialEq, Eq, Debug)]
enum Packed {
    /// `bytes` past `len` are zero.
    Inline {
        len: u8,
        bytes: [u8; INLINE_ATTRS],
    },
    Heap(Arc<[u8]>),
}

impl Default for PackedAttributes {
    fn default() -> PackedAttributes {
        PackedAttributes::from_parts("", "")
    }
}

const INLINE_ATTRS: usize = 22;

impl PackedAttributes {
    /// Names longer than 65,535 bytes are cut (the wire limits them to 1024 anyway).
    pub fn pack(a: &Attributes) -> PackedAttributes {
        PackedAttributes::from_parts(&a.name, &a.private_data)
    }

    /// Packs a name and private data (cut as `pack` cuts them).
    pub fn from_parts(name: &str, private_data: &str) -> PackedAttributes {
        let mut name = name;
        while name.len() > u16::MAX as usize {
            let mut cut = u16::MAX as usize;
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            name = &name[..cut];
        }
        let total = 2 + name.len() + private_data.len();
        let write = |out: &mut [u8]| {
            out[..2].copy_from_slice(&(name.len() as u16).to_le_bytes());
            out[2..2 + name.len()].copy_from_slice(name.as_bytes());
            out[2 + name.len()..total].copy_from_slice(private_data.as_bytes());
        };
        if total <= INLINE_ATTRS {
            let mut bytes = [0u8; INLINE_ATTRS];
            write(&mut bytes);
            PackedAttributes(Packed::Inline {
                len: total as u8,
                bytes,
            })
        } else {
            let mut v = vec![0u8; total];
            write(&mut v);
            PackedAttributes(Packed::Heap(v.into()))
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.0 {
            Packed::Inline { len, bytes } => &bytes[..*len as usize],
            Packed::Heap(b) => b,
        }
    }

    /// The name and the private data, as packed.
    fn parts(&self) -> (&[u8], &[u8]) {
        let b = self.bytes();
        let n = u16::from_le_bytes([b[0], b[1]]) as usize;
        (&b[2..2 + n], &b[2 + n..])
    }

    // Both parts were valid UTF-8 strings when packed, and a name is cut only at a character
    // boundary: the empty fallback is never taken.
    pub fn name(&self) -> &str {
        std::str::from_utf8(self.parts().0).unwrap_or_default()
    }

    pub fn private_data(&self) -> &str {
        std::str::from_utf8(self.parts().1).unwrap_or_default()
    }

    pub fn unpack(&self) -> Attributes {
        Attributes {
            name: self.name().to_owned(),
            private_data: self.private_data().to_owned(),
        }
    }
}

#[cfg(test)]
mod packed_tests {
    use super::*;

    #[test]
    fn incarnations_compare_as_serial_numbers() {
        use IncarnationOrder::*;
        let w = INCARNATION_WINDOW;
        for known in [0, 1, w, 1 << 31, u32::MAX - 1, u32::MAX] {
            assert_eq!(IncarnationOrder::of(known, known), Same);
            assert_eq!(IncarnationOrder::of(known.wrapping_add(1), known), Newer);
            assert_eq!(IncarnationOrder::of(known.wrapping_add(w), known), Newer);
            assert_eq!(
                IncarnationOrder::of(known.wrapping_add(w + 1), known),
                TooFarAhead
            );
            assert_eq!(
                IncarnationOrder::of(known.wrapping_add((1 << 31) - 1), known),
                TooFarAhead
            );
            assert_eq!(
                IncarnationOrder::of(known.wrapping_add(1 << 31), known),
                Older
            );
            assert_eq!(IncarnationOrder::of(known.wrapping_sub(1), known), Older);
        }
    }

    #[test]
    fn round_trip_inline_and_heap() {
        for (name, data) in [
            ("", ""),
            ("n1", ""),
            ("web-1", "role=web"),
            ("a name", &"x".repeat(300)),
        ] {
            let a = Attributes {
                name: name.into(),
                private_data: data.to_string(),
            };
            let p = PackedAttributes::pack(&a);
            assert_eq!(p.unpack(), a);
            assert_eq!(
                matches!(p.0, Packed::Inline { .. }),
                2 + name.len() + data.len() <= 22
            );
        }
        assert!(std::mem::size_of::<PackedAttributes>() <= 24);
    }
}

/// One member as carried by a push-pull exchange.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MemberState {
    pub id: MemberId,
    pub incarnation: Incarnation,
    pub status: Status,
    pub attrs: PackedAttributes,
}

/// What a member holds about one member, without its attributes: how an `Offer` and a
/// push-pull that answers one say what their sender has, so that the other side sends only what
/// differs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Held {
    pub id: MemberId,
    pub incarnation: Incarnation,
    pub status: Status,
}

/// Version of the cluster metadata: a hybrid logical clock value, ties broken by the publisher.
/// A fast wall clock can push the physical part ahead, but every later publish anywhere that has
/// seen that version still orders after it, so no clock pins the metadata forever.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct MetaVersion {
    pub hlc: u64,
    pub origin: MemberId,
}

impl Ord for MetaVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.hlc
            .cmp(&other.hlc)
            .then_with(|| self.origin.ip().cmp(&other.origin.ip()))
            .then_with(|| self.origin.port().cmp(&other.origin.port()))
    }
}

impl PartialOrd for MetaVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The cluster-wide metadata register.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Metadata {
    pub version: MetaVersion,
    pub data: Vec<u8>,
}

/// A piece of news spread by piggybacking on packets that are sent anyway.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Rumor {
    Alive {
        id: MemberId,
        incarnation: Incarnation,
        attrs: PackedAttributes,
    },
    Suspect {
        id: MemberId,
        incarnation: Incarnation,
        from: MemberId,
    },
    Dead {
        id: MemberId,
        incarnation: Incarnation,
        from: MemberId,
    },
    Left {
        id: MemberId,
        incarnation: Incarnation,
    },
    /// Metadata small enough to ride in a datagram.
    Meta(Metadata),
    /// A newer metadata version exists; fetch it from the sender of the packet (by datagram, only
    /// when the sender is a member we have verified: `Core::on_meta_announce`).
    MetaAnnounce(MetaVersion),
}

impl Rumor {
    /// Rumors with the same key replace each other in the queue: only the newest news about a
    /// member (or about the metadata) is worth sending.
    pub fn key(&self) -> RumorKey {
        match self {
            Rumor::Alive { id, .. }
            | Rumor::Suspect { id, .. }
            | Rumor::Dead { id, .. }
            | Rumor::Left { id, .. } => RumorKey::Member(*id),
            Rumor::Meta(_) | Rumor::MetaAnnounce(_) => RumorKey::Metadata,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum RumorKey {
    Member(MemberId),
    Metadata,
}

/// Names one TCP connection (opened by either side) for the driver; the core only hands it back
/// in a `Route::Reply`.
pub type ConnId = u64;

/// How a message reached the core, which decides how it may be answered and what it proves. A
/// datagram's `from` is only a claim (anyone can write any address there), so nothing answers a
/// datagram with more than it weighed, and a datagram proves nothing about its sender; a
/// connection's peer proved its address by opening it, so a request that needs a large answer
/// comes on a connection and is answered on the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// One datagram of `weight` bytes (the whole frame).
    Datagram { weight: usize },
    /// A frame on a TCP connection. `ours`: we opened it, to the member id we meant to reach, so
    /// whoever answers on it exists there (it proves the sender, where an inbound connection
    /// proves only a source address, and a datagram nothing).
    Stream { conn: ConnId, ours: bool },
}

/// How the driver carries an outgoing message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The member's own initiative (probes, gossip, leave notices): a datagram when it fits and
    /// the protocol is UDP, otherwise a connection we open (or keep) to `to`.
    Own,
    /// A request whose answer may be large (push-pull, digest, metadata fetch): always on a
    /// connection we open (or keep) to `to`; the answer comes back on it.
    Request,
    /// The answer to a frame that came on this connection: written back on it. Never opens a
    /// connection; dropped if the connection has closed.
    Reply(ConnId),
    /// The answer to a datagram: one datagram to `to` of at most `limit` bytes (the request's
    /// weight), dropped rather than sent larger, never over TCP.
    Answer { limit: usize },
}

impl Arrival {
    /// How to answer what arrived this way.
    pub fn answer(self) -> Route {
        match self {
            Arrival::Datagram { weight } => Route::Answer { limit: weight },
            Arrival::Stream { conn, .. } => Route::Reply(conn),
        }
    }

    /// How to send the sender a request that needs a TCP answer: on the same connection when
    /// there is one, else on one we open to the member id it claimed (callers check first that
    /// the claim is one we may act on: see `Core::on_meta_announce`).
    pub fn ask(self) -> Route {
        match self {
            Arrival::Datagram { .. } => Route::Request,
            Arrival::Stream { conn, .. } => Route::Reply(conn),
        }
    }
}

/// Every message names its sender's member id (`from`): the transport's source address may differ
/// (a wildcard bind, a NAT). Requests that need a TCP answer travel on a connection the
/// requester opened and are answered on it; datagrams are answered by datagrams no larger.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    /// Direct probe. `target` lets a member at a reused address ignore probes meant for an
    /// earlier one.
    Ping {
        seq: u32,
        from: MemberId,
        target: MemberId,
        rumors: Vec<Rumor>,
    },
    Ack {
        seq: u32,
        from: MemberId,
        rumors: Vec<Rumor>,
    },
    /// Ask the receiver to probe `target` on the sender's behalf and relay the ack.
    PingReq {
        seq: u32,
        from: MemberId,
        target: MemberId,
        rumors: Vec<Rumor>,
    },
    /// A round's rumors to a random member.
    Gossip {
        from: MemberId,
        rumors: Vec<Rumor>,
    },
    /// Anti-entropy: membership state and the metadata version; `meta` holds the data when
    /// the sender knows (from the request) that the receiver's copy is older. A request carries
    /// the sender's whole table, or, answering an `Offer`, only what the offer lacked or held
    /// otherwise, with `holds` saying what the sender has (in id order); a reply carries what
    /// the request's sender lacks or holds otherwise.
    PushPull {
        from: MemberId,
        reply: bool,
        members: Vec<MemberState>,
        meta_version: Option<MetaVersion>,
        meta: Option<Metadata>,
        holds: Option<Vec<Held>>,
    },
    MetaRequest {
        from: MemberId,
    },
    MetaResponse {
        from: MemberId,
        meta: Metadata,
    },
    /// From a member asked to probe indirectly: the target did not answer it either. Tells the
    /// requester its own network is fine (Lifeguard).
    Nack {
        seq: u32,
        from: MemberId,
    },
    /// Cheap anti-entropy: a hash of the sender's listed members and its metadata version, on a
    /// connection the sender opened. A receiver whose table hashes differently starts a full
    /// `PushPull` on that connection.
    Digest {
        from: MemberId,
        digest: u64,
        meta_version: Option<MetaVersion>,
    },
    /// The answer to a differing `Digest`, on its connection: what the sender holds (in id
    /// order), without attributes. The digest's sender answers with a push-pull that carries
    /// only what the offer lacks or holds otherwise, and its own `holds`; the reply to that
    /// carries only what it lacks. Most of two tables that differ are the same, and a
    /// `Held` is a quarter of a member's entry, with nothing to allocate when decoded.
    Offer {
        from: MemberId,
        holds: Vec<Held>,
        meta_version: Option<MetaVersion>,
    },
}

impl Message {
    pub fn from(&self) -> MemberId {
        match self {
            Message::Ping { from, .. }
            | Message::Ack { from, .. }
            | Message::PingReq { from, .. }
            | Message::Gossip { from, .. }
            | Message::PushPull { from, .. }
            | Message::MetaRequest { from }
            | Message::MetaResponse { from, .. }
            | Message::Nack { from, .. }
            | Message::Digest { from, .. }
            | Message::Offer { from, .. } => *from,
        }
    }
}

/// What the core reports to the user.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    Joined(MemberId, Attributes),
    Updated(MemberId, Attributes),
    Failed(MemberId),
    Left(MemberId),
    MetadataChanged(MetaVersion),
    /// A push-pull exchange completed with this member.
    Synced(MemberId),
}
