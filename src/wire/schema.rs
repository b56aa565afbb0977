//! The message schema: exactly what is encoded, field by field, in this order. The core's types
//! are converted to and from these (`convert.rs`), so the byte format changes only when this
//! file does — and then the golden bytes in `tests.rs` fail until they and the protocol version
//! are changed on purpose. docs/protocol.md describes the same layout.
//!
//! Serialised by bincode 2.0.1 through serde with `codec::config()`: little-endian, variable-length
//! integers, sequences and strings prefixed by a varint length, `Option` as a 0/1 byte, enums as
//! a varint variant index (the declaration order below) followed by the fields in order.
//!
//! Strings and byte strings borrow from the frame, so a claimed length is checked against the
//! bytes actually there before anything is allocated; sequences (`Seq`) refuse a count above
//! their bound at the length prefix, before any element is decoded.

use super::{MEMBERS_MAX, RUMORS_MAX};
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// A sequence of at most `MAX` elements, encoded as any sequence (varint count, elements).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Seq<T, const MAX: usize>(pub Vec<T>);

impl<T: Serialize, const MAX: usize> Serialize for Seq<T, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Seq<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bounded<T, const MAX: usize>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for Bounded<T, MAX> {
            type Value = Seq<T, MAX>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a sequence of at most {MAX} elements")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // bincode knows the count before the first element.
                if seq.size_hint().is_some_and(|n| n > MAX) {
                    return Err(A::Error::custom("sequence over its bound"));
                }
                // Elements must be backed by bytes of the frame; do not trust the count for
                // more than a small start.
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(x) = seq.next_element()? {
                    if v.len() == MAX {
                        return Err(A::Error::custom("sequence over its bound"));
                    }
                    v.push(x);
                }
                Ok(Seq(v))
            }
        }

        d.deserialize_seq(Bounded::<T, MAX>(PhantomData))
    }
}

/// A member id: variant 0 = IPv4, 1 = IPv6; the address bytes, then the port.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Addr {
    V4([u8; 4], u16),
    V6([u8; 16], u16),
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Attrs<'a> {
    pub name: &'a str,
    pub private_data: &'a str,
}

/// 0 Alive, 1 Suspect, 2 Dead, 3 Left.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Alive,
    Suspect,
    Dead,
    Left,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct MemberState<'a> {
    pub id: Addr,
    pub incarnation: u32,
    pub status: Status,
    #[serde(borrow)]
    pub attrs: Attrs<'a>,
}

/// What a member holds about one member, without its attributes: an `Offer`'s and a
/// push-pull's `holds`.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Held {
    pub id: Addr,
    pub incarnation: u32,
    pub status: Status,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct MetaVersion {
    pub hlc: u64,
    pub origin: Addr,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Metadata<'a> {
    pub version: MetaVersion,
    /// A byte string: varint length, then the bytes.
    pub data: &'a [u8],
}

/// Variant indices 0..=5.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum Rumor<'a> {
    Alive {
        id: Addr,
        incarnation: u32,
        #[serde(borrow)]
        attrs: Attrs<'a>,
    },
    Suspect {
        id: Addr,
        incarnation: u32,
        from: Addr,
    },
    Dead {
        id: Addr,
        incarnation: u32,
        from: Addr,
    },
    Left {
        id: Addr,
        incarnation: u32,
    },
    Meta(#[serde(borrow)] Metadata<'a>),
    MetaAnnounce(MetaVersion),
}

/// The rumors one message carries.
pub type Rumors<'a> = Seq<Rumor<'a>, RUMORS_MAX>;

/// A frame's body. Its variant index is also the frame's type byte (`MessageType`).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum Body<'a> {
    Ping {
        seq: u32,
        from: Addr,
        target: Addr,
        #[serde(borrow)]
        rumors: Rumors<'a>,
    },
    Ack {
        seq: u32,
        from: Addr,
        #[serde(borrow)]
        rumors: Rumors<'a>,
    },
    PingReq {
        seq: u32,
        from: Addr,
        target: Addr,
        #[serde(borrow)]
        rumors: Rumors<'a>,
    },
    Gossip {
        from: Addr,
        #[serde(borrow)]
        rumors: Rumors<'a>,
    },
    PushPull {
        from: Addr,
        reply: bool,
        #[serde(borrow)]
        members: Seq<MemberState<'a>, MEMBERS_MAX>,
        meta_version: Option<MetaVersion>,
        #[serde(borrow)]
        meta: Option<Metadata<'a>>,
        holds: Option<Seq<Held, MEMBERS_MAX>>,
    },
    MetaRequest {
        from: Addr,
    },
    MetaResponse {
        from: Addr,
        #[serde(borrow)]
        meta: Metadata<'a>,
    },
    Nack {
        seq: u32,
        from: Addr,
    },
    Digest {
        from: Addr,
        digest: u64,
        meta_version: Option<MetaVersion>,
    },
    Offer {
        from: Addr,
        holds: Seq<Held, MEMBERS_MAX>,
        meta_version: Option<MetaVersion>,
    },
}

/// The frame's type byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum MessageType {
    Ping = 0,
    Ack = 1,
    PingReq = 2,
    Gossip = 3,
    PushPull = 4,
    MetaRequest = 5,
    MetaResponse = 6,
    Nack = 7,
    Digest = 8,
    Offer = 9,
}

impl MessageType {
    /// The type a frame's type byte names, if any.
    pub fn from_byte(b: u8) -> Option<MessageType> {
        use MessageType::*;
        [
            Ping,
            Ack,
            PingReq,
            Gossip,
            PushPull,
            MetaRequest,
            MetaResponse,
            Nack,
            Digest,
            Offer,
        ]
        .get(b as usize)
        .copied()
    }
}

impl Body<'_> {
    pub fn message_type(&self) -> MessageType {
        match self {
            Body::Ping { .. } => MessageType::Ping,
            Body::Ack { .. } => MessageType::Ack,
            Body::PingReq { .. } => MessageType::PingReq,
            Body::Gossip { .. } => MessageType::Gossip,
            Body::PushPull { .. } => MessageType::PushPull,
            Body::MetaRequest { .. } => MessageType::MetaRequest,
            Body::MetaResponse { .. } => MessageType::MetaResponse,
            Body::Nack { .. } => MessageType::Nack,
            Body::Digest { .. } => MessageType::Digest,
            Body::Offer { .. } => MessageType::Offer,
        }
    }
}
