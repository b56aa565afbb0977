//! The core's types to the schema (encoding, infallible) and back (decoding), where every
//! decoded count, length and version is checked, in this one place, against the limits of the
//! transport it came on.

use super::schema as s;
use super::{DecodeError, Limits, MEMBERS_MAX};
use crate::proto::{self as p, ATTR_MAX};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

// ---- to the wire ------------------------------------------------------------------------------

pub fn addr(id: &p::MemberId) -> s::Addr {
    match id {
        SocketAddr::V4(a) => s::Addr::V4(a.ip().octets(), a.port()),
        SocketAddr::V6(a) => s::Addr::V6(a.ip().octets(), a.port()),
    }
}

fn attrs(a: &p::PackedAttributes) -> s::Attrs<'_> {
    s::Attrs {
        name: a.name(),
        private_data: a.private_data(),
    }
}

fn status(st: p::Status) -> s::Status {
    match st {
        p::Status::Alive => s::Status::Alive,
        p::Status::Suspect => s::Status::Suspect,
        p::Status::Dead => s::Status::Dead,
        p::Status::Left => s::Status::Left,
    }
}

fn version(v: &p::MetaVersion) -> s::MetaVersion {
    s::MetaVersion {
        hlc: v.hlc,
        origin: addr(&v.origin),
    }
}

fn metadata(m: &p::Metadata) -> s::Metadata<'_> {
    s::Metadata {
        version: version(&m.version),
        data: &m.data,
    }
}

pub fn rumor(r: &p::Rumor) -> s::Rumor<'_> {
    match r {
        p::Rumor::Alive {
            id,
            incarnation,
            attrs: a,
        } => s::Rumor::Alive {
            id: addr(id),
            incarnation: *incarnation,
            attrs: attrs(a),
        },
        p::Rumor::Suspect {
            id,
            incarnation,
            from,
        } => s::Rumor::Suspect {
            id: addr(id),
            incarnation: *incarnation,
            from: addr(from),
        },
        p::Rumor::Dead {
            id,
            incarnation,
            from,
        } => s::Rumor::Dead {
            id: addr(id),
            incarnation: *incarnation,
            from: addr(from),
        },
        p::Rumor::Left { id, incarnation } => s::Rumor::Left {
            id: addr(id),
            incarnation: *incarnation,
        },
        p::Rumor::Meta(m) => s::Rumor::Meta(metadata(m)),
        p::Rumor::MetaAnnounce(v) => s::Rumor::MetaAnnounce(version(v)),
    }
}

fn rumors(rs: &[p::Rumor]) -> s::Rumors<'_> {
    s::Seq(rs.iter().map(rumor).collect())
}

pub fn body(m: &p::Message) -> s::Body<'_> {
    match m {
        p::Message::Ping {
            seq,
            from,
            target,
            rumors: rs,
        } => s::Body::Ping {
            seq: *seq,
            from: addr(from),
            target: addr(target),
            rumors: rumors(rs),
        },
        p::Message::Ack {
            seq,
            from,
            rumors: rs,
        } => s::Body::Ack {
            seq: *seq,
            from: addr(from),
            rumors: rumors(rs),
        },
        p::Message::PingReq {
            seq,
            from,
            target,
            rumors: rs,
        } => s::Body::PingReq {
            seq: *seq,
            from: addr(from),
            target: addr(target),
            rumors: rumors(rs),
        },
        p::Message::Gossip { from, rumors: rs } => s::Body::Gossip {
            from: addr(from),
            rumors: rumors(rs),
        },
        p::Message::PushPull {
            from,
            reply,
            members,
            meta_version,
            meta,
            holds,
        } => s::Body::PushPull {
            from: addr(from),
            reply: *reply,
            members: s::Seq(
                members
                    .iter()
                    .map(|m| s::MemberState {
                        id: addr(&m.id),
                        incarnation: m.incarnation,
                        status: status(m.status),
                        attrs: attrs(&m.attrs),
                    })
                    .collect(),
            ),
            meta_version: meta_version.as_ref().map(version),
            meta: meta.as_ref().map(metadata),
            holds: holds.as_deref().map(held_seq),
        },
        p::Message::MetaRequest { from } => s::Body::MetaRequest { from: addr(from) },
        p::Message::MetaResponse { from, meta } => s::Body::MetaResponse {
            from: addr(from),
            meta: metadata(meta),
        },
        p::Message::Nack { seq, from } => s::Body::Nack {
            seq: *seq,
            from: addr(from),
        },
        p::Message::Digest {
            from,
            digest,
            meta_version,
        } => s::Body::Digest {
            from: addr(from),
            digest: *digest,
            meta_version: meta_version.as_ref().map(version),
        },
        p::Message::Offer {
            from,
            holds,
            meta_version,
        } => s::Body::Offer {
            from: addr(from),
            holds: held_seq(holds),
            meta_version: meta_version.as_ref().map(version),
        },
    }
}

fn held_seq(hs: &[p::Held]) -> s::Seq<s::Held, MEMBERS_MAX> {
    s::Seq(
        hs.iter()
            .map(|h| s::Held {
                id: addr(&h.id),
                incarnation: h.incarnation,
                status: status(h.status),
            })
            .collect(),
    )
}

// ---- from the wire, checked ---------------------------------------------------------------------

fn member_id(a: s::Addr) -> p::MemberId {
    match a {
        s::Addr::V4(ip, port) => SocketAddr::from((Ipv4Addr::from(ip), port)),
        s::Addr::V6(ip, port) => SocketAddr::from((Ipv6Addr::from(ip), port)),
    }
}

fn from_attrs(a: s::Attrs) -> Result<p::PackedAttributes, DecodeError> {
    if a.name.len() > ATTR_MAX || a.private_data.len() > ATTR_MAX {
        return Err(DecodeError::Malformed);
    }
    Ok(p::PackedAttributes::from_parts(a.name, a.private_data))
}

fn from_status(st: s::Status) -> p::Status {
    match st {
        s::Status::Alive => p::Status::Alive,
        s::Status::Suspect => p::Status::Suspect,
        s::Status::Dead => p::Status::Dead,
        s::Status::Left => p::Status::Left,
    }
}

/// No member's clock goes past `HLC_MAX`.
fn from_version(v: s::MetaVersion) -> Result<p::MetaVersion, DecodeError> {
    if v.hlc > p::hlc::HLC_MAX {
        return Err(DecodeError::Malformed);
    }
    Ok(p::MetaVersion {
        hlc: v.hlc,
        origin: member_id(v.origin),
    })
}

fn from_metadata(m: s::Metadata, limits: &Limits) -> Result<p::Metadata, DecodeError> {
    if m.data.len() > limits.meta {
        return Err(DecodeError::Malformed);
    }
    Ok(p::Metadata {
        version: from_version(m.version)?,
        data: m.data.to_vec(),
    })
}

pub fn from_rumor(r: s::Rumor, limits: &Limits) -> Result<p::Rumor, DecodeError> {
    Ok(match r {
        s::Rumor::Alive {
            id,
            incarnation: i,
            attrs,
        } => p::Rumor::Alive {
            id: member_id(id),
            incarnation: i,
            attrs: from_attrs(attrs)?,
        },
        s::Rumor::Suspect {
            id,
            incarnation: i,
            from,
        } => p::Rumor::Suspect {
            id: member_id(id),
            incarnation: i,
            from: member_id(from),
        },
        s::Rumor::Dead {
            id,
            incarnation: i,
            from,
        } => p::Rumor::Dead {
            id: member_id(id),
            incarnation: i,
            from: member_id(from),
        },
        s::Rumor::Left { id, incarnation: i } => p::Rumor::Left {
            id: member_id(id),
            incarnation: i,
        },
        s::Rumor::Meta(m) => p::Rumor::Meta(from_metadata(m, limits)?),
        s::Rumor::MetaAnnounce(v) => p::Rumor::MetaAnnounce(from_version(v)?),
    })
}

fn from_rumors(rs: s::Rumors, limits: &Limits) -> Result<Vec<p::Rumor>, DecodeError> {
    if rs.0.len() > limits.rumors {
        return Err(DecodeError::Malformed);
    }
    rs.0.into_iter().map(|r| from_rumor(r, limits)).collect()
}

fn from_member(m: s::MemberState) -> Result<p::MemberState, DecodeError> {
    Ok(p::MemberState {
        id: member_id(m.id),
        incarnation: m.incarnation,
        status: from_status(m.status),
        attrs: from_attrs(m.attrs)?,
    })
}

pub fn from_body(b: s::Body, limits: &Limits) -> Result<p::Message, DecodeError> {
    Ok(match b {
        s::Body::Ping {
            seq,
            from,
            target,
            rumors,
        } => p::Message::Ping {
            seq,
            from: member_id(from),
            target: member_id(target),
            rumors: from_rumors(rumors, limits)?,
        },
        s::Body::Ack { seq, from, rumors } => p::Message::Ack {
            seq,
            from: member_id(from),
            rumors: from_rumors(rumors, limits)?,
        },
        s::Body::PingReq {
            seq,
            from,
            target,
            rumors,
        } => p::Message::PingReq {
            seq,
            from: member_id(from),
            target: member_id(target),
            rumors: from_rumors(rumors, limits)?,
        },
        s::Body::Gossip { from, rumors } => p::Message::Gossip {
            from: member_id(from),
            rumors: from_rumors(rumors, limits)?,
        },
        s::Body::PushPull {
            from,
            reply,
            members,
            meta_version,
            meta,
            holds,
        } => {
            if members.0.len() > limits.members {
                return Err(DecodeError::Malformed);
            }
            p::Message::PushPull {
                from: member_id(from),
                reply,
                members: members
                    .0
                    .into_iter()
                    .map(from_member)
                    .collect::<Result<_, _>>()?,
                meta_version: meta_version.map(from_version).transpose()?,
                meta: meta.map(|m| from_metadata(m, limits)).transpose()?,
                holds: holds.map(|h| from_held(h, limits)).transpose()?,
            }
        }
        s::Body::MetaRequest { from } => p::Message::MetaRequest {
            from: member_id(from),
        },
        s::Body::MetaResponse { from, meta } => p::Message::MetaResponse {
            from: member_id(from),
            meta: from_metadata(meta, limits)?,
        },
        s::Body::Nack { seq, from } => p::Message::Nack {
            seq,
            from: member_id(from),
        },
        s::Body::Digest {
            from,
            digest,
            meta_version,
        } => p::Message::Digest {
            from: member_id(from),
            digest,
            meta_version: meta_version.map(from_version).transpose()?,
        },
        s::Body::Offer {
            from,
            holds,
            meta_version,
        } => p::Message::Offer {
            from: member_id(from),
            holds: from_held(holds, limits)?,
            meta_version: meta_version.map(from_version).transpose()?,
        },
    })
}

fn from_held(
    hs: s::Seq<s::Held, MEMBERS_MAX>,
    limits: &Limits,
) -> Result<Vec<p::Held>, DecodeError> {
    if hs.0.len() > limits.members {
        return Err(DecodeError::Malformed);
    }
    Ok(hs
        .0
        .into_iter()
        .map(|h| p::Held {
            id: member_id(h.id),
            incarnation: h.incarnation,
            status: from_status(h.status),
        })
        .collect())
}
