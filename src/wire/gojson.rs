//! The packets of the Go original, github.com/dpwgc/pekonode v1.0.8, for the compatibility
//! mode: one JSON document per UDP datagram or per TCP connection, as Go's `encoding/json`
//! writes its packet struct:
//!
//! ```text
//! {"Node":{"Addr":"127.0.0.1","Port":8000,"Name":"n","PrivateData":"d"},
//!  "Infected":{"127.0.0.1:8000":true},
//!  "Metadata":{"Data":"<standard base64>","Update":<int64 ns since the epoch>},
//!  "IsUpdate":false,"IsSwap":0,"SecretKey":"<lower-case hex MD5 of the key, or empty>"}
//! ```
//!
//! The encoder writes exactly what Go writes (field order as declared, map keys sorted, `<`, `>`,
//! `&`, U+2028 and U+2029 escaped, `[]byte` as padded standard base64), so a Go node and the
//! golden packets (`tests/gopekonode_golden.txt`, made by `scripts/gopekonode_golden`) agree byte
//! for byte. The decoder accepts what Go's decoder accepts of these documents: any field order,
//! whitespace, unknown fields, `null` for any field (left at its zero value), field names in any
//! letter case; it refuses what Go would fail on (a wrong type, a fraction where an integer
//! goes) and, beyond Go, anything over its limits: the document's size (the caller's), the
//! number of `Infected` keys (`INFECTED_MAX`), and string lengths. It never panics; JSON nesting
//! is bounded by serde_json's recursion limit.
//!
//! The key token is sent in clear: anyone who sees one packet can join. That is the original's
//! design, kept only so that a running Go cluster can be migrated (README, "Migrating from the
//! Go pekonode").

use super::DecodeError;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `Infected` keys one packet may carry: each is a node the packet reached, so more than a Go
/// cluster could hold.
pub const INFECTED_MAX: usize = 1024;
/// Longest `Addr` (an IP literal) and `Infected` key (`addr:port`).
pub const GO_ADDR_MAX: usize = 64;
/// Longest `Name` and `PrivateData`: our attributes' bound.
pub const GO_ATTR_MAX: usize = super::ATTR_MAX;
/// Longest `SecretKey`: an MD5 in hex is 32 characters.
pub const GO_TOKEN_MAX: usize = 64;

/// A node as the original names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoNode {
    pub addr: String,
    pub port: i64,
    pub name: String,
    pub private_data: String,
}

/// One packet of the original.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoPacket {
    pub node: GoNode,
    /// `addr:port` of the nodes the packet already reached (a Go node relays only to the others).
    pub infected: BTreeMap<String, bool>,
    /// `None` is Go's nil slice (`null`); a Go node that never published sends `""`.
    pub data: Option<Vec<u8>>,
    /// The metadata's version: wall-clock nanoseconds since the epoch when it was published.
    pub update: i64,
    pub is_update: bool,
    /// 0: a heartbeat (or a publish, with `is_update`); 1: a metadata exchange request; 2: its
    /// reply.
    pub is_swap: u8,
    pub secret_key: String,
}

/// The token a Go node sends for `key`: the lower-case hex MD5 of it, or "" without a key.
pub fn token(key: Option<&str>) -> String {
    use md5::{Digest, Md5};
    match key {
        None | Some("") => String::new(),
        Some(k) => {
            let mut s = String::with_capacity(32);
            for b in Md5::digest(k.as_bytes()) {
                let _ = write!(s, "{b:02x}");
            }
            s
        }
    }
}

impl GoPacket {
    /// The packet as Go's `json.Marshal` writes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut o = String::with_capacity(256);
        o.push_str("{\"Node\":{\"Addr\":");
        quote(&mut o, &self.node.addr);
        let _ = write!(o, ",\"Port\":{},\"Name\":", self.node.port);
        quote(&mut o, &self.node.name);
        o.push_str(",\"PrivateData\":");
        quote(&mut o, &self.node.private_data);
        o.push_str("},\"Infected\":{");
        for (i, (k, v)) in self.infected.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            quote(&mut o, k);
            o.push_str(if *v { ":true" } else { ":false" });
        }
        o.push_str("},\"Metadata\":{\"Data\":");
        match &self.data {
            None => o.push_str("null"),
            Some(d) => {
                o.push('"');
                o.push_str(&base64::engine::general_purpose::STANDARD.encode(d));
                o.push('"');
            }
        }
        let _ = write!(
            o,
            ",\"Update\":{}}},\"IsUpdate\":{},\"IsSwap\":{},\"SecretKey\":",
            self.update, self.is_update, self.is_swap
        );
        quote(&mut o, &self.secret_key);
        o.push('}');
        o.into_bytes()
    }

    /// Reads a packet of at most `max_len` bytes, `Data` at most `max_data` bytes decoded.
    pub fn decode(bytes: &[u8], max_len: usize, max_data: usize) -> Result<GoPacket, DecodeError> {
        if bytes.len() > max_len {
            return Err(DecodeError::TooLarge);
        }
        let doc: Value = serde_json::from_slice(bytes).map_err(|_| DecodeError::Malformed)?;
        let top = object(Some(&doc))?.ok_or(DecodeError::Malformed)?;
        let mut p = GoPacket::default();
        if let Some(n) = object(field(top, "Node"))? {
            p.node.addr = string(field(n, "Addr"), GO_ADDR_MAX)?;
            p.node.port = integer(field(n, "Port"), i64::MIN, i64::MAX)?;
            p.node.name = string(field(n, "Name"), GO_ATTR_MAX)?;
            p.node.private_data = string(field(n, "PrivateData"), GO_ATTR_MAX)?;
        }
        if let Some(inf) = object(field(top, "Infected"))? {
            if inf.len() > INFECTED_MAX {
                return Err(DecodeError::TooLarge);
            }
            for (k, v) in inf {
                if k.len() > GO_ADDR_MAX {
                    return Err(DecodeError::Malformed);
                }
                let v = match *v {
                    Value::Null => false,
                    Value::Bool(b) => b,
                    _ => return Err(DecodeError::Malformed),
                };
                p.infected.insert(k.clone(), v);
            }
        }
        if let Some(m) = object(field(top, "Metadata"))? {
            p.data = match field(m, "Data") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => {
                    // Decoded size is at most 3/4 of the text: refuse before decoding.
                    if s.len() / 4 * 3 > max_data + 3 {
                        return Err(DecodeError::TooLarge);
                    }
                    let d = base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map_err(|_| DecodeError::Malformed)?;
                    if d.len() > max_data {
                        return Err(DecodeError::TooLarge);
                    }
                    Some(d)
                }
                Some(_) => return Err(DecodeError::Malformed),
            };
            p.update = integer(field(m, "Update"), i64::MIN, i64::MAX)?;
        }
        p.is_update = match field(top, "IsUpdate") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(DecodeError::Malformed),
        };
        p.is_swap = integer(field(top, "IsSwap"), 0, 255)? as u8;
        p.secret_key = string(field(top, "SecretKey"), GO_TOKEN_MAX)?;
        Ok(p)
    }
}

/// A struct field as Go's decoder finds it: the key spelled exactly, else one equal to it in
/// any letter case.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// An object, `None` for null or absent; another type is an error.
fn object(v: Option<&Value>) -> Result<Option<&Map<String, Value>>, DecodeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(DecodeError::Malformed),
    }
}

fn string(v: Option<&Value>, max: usize) -> Result<String, DecodeError> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) if s.len() <= max => Ok(s.clone()),
        Some(Value::String(_)) => Err(DecodeError::TooLarge),
        Some(_) => Err(DecodeError::Malformed),
    }
}

/// An integer in `min..=max` (Go fails on a fraction, an exponent or overflow for an integer
/// field; serde_json reads those as floats).
fn integer(v: Option<&Value>, min: i64, max: i64) -> Result<i64, DecodeError> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|i| (min..=max).contains(i))
            .ok_or(DecodeError::Malformed),
        Some(_) => Err(DecodeError::Malformed),
    }
}

/// A JSON string as Go's encoder writes it: `"` and `\` escaped, `\n`, `\r`, `\t`, `\b`, `\f`
/// short, other control characters as `\u00xx`, and `<`, `>`, `&`, U+2028, U+2029 as `\uXXXX`
/// (Go's HTML-safe default).
fn quote(o: &mut String, s: &str) {
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\u{8}' => o.push_str("\\b"),
            '\u{c}' => o.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
}
