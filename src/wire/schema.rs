//! The message schema: exactly what is encoded, field by field, in this order. The core's types
//! are converted to and from these (`convert.rs`), so the byte format changes only when this
//! file does — and then the golden bytes in `tests.rs` fail until they and the protocol version
//! are changed on purpose. docs/protocol.md describes the same layout.
//!
//! Serialised by bincode 2.0.1 through serde with `codec::config()`: little-endian, variable-length
//! integers, sequences and strings prefixed by a varint length, `Option` as a 0/1 byte, enums as
//! a varint variant index (the declaration order below) followed by the fields in order.

use serde::{Deserialize, Serialize};

/// A member id: variant 0 = IPv4, 1 = IPv6; the address bytes, then the port.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Addr {
    V4([u8; 4], u16),
    V6([u8; 16], u16),
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Attrs {
    pub name: String,
    pub private_data: String,
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
pub struct MemberState {
    pub id: Addr,
    pub incarnation: u32,
    pub status: Status,
    pub attrs: Attrs,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct MetaVersion {
    pub hlc: u64,
    pub origin: Addr,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Metadata {
    pub version: MetaVersion,
    pub data: Vec<u8>,
}

/// Variant indices 0..=5.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum Rumor {
    Alive {
        id: Addr,
        incarnation: u32,
        attrs: Attrs,
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
    Meta(Metadata),
    MetaAnnounce(MetaVersion),
}

/// A frame's body. Its variant index is also the frame's type byte (`MessageType`).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum Body {
    Ping {
        seq: u32,
        from: Addr,
        target: Addr,
        rumors: Vec<Rumor>,
    },
    Ack {
        seq: u32,
        from: Addr,
        rumors: Vec<Rumor>,
    },
    PingReq {
        seq: u32,
        from: Addr,
        target: Addr,
        rumors: Vec<Rumor>,
    },
    Gossip {
        from: Addr,
        rumors: Vec<Rumor>,
    },
    PushPull {
        from: Addr,
        reply: bool,
        members: Vec<MemberState>,
        meta_version: Option<MetaVersion>,
        meta: Option<Metadata>,
    },
    MetaRequest {
        from: Addr,
    },
    MetaResponse {
        from: Addr,
        meta: Metadata,
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
}

impl Body {
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
        }
    }
}
