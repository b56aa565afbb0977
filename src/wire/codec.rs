//! The body codec: bincode 2.0.1 (serde path) over the schema, kept inside the wire module. The
//! configuration is part of the format: little-endian, variable-length integers, and an upper
//! bound on what one decode may claim.

use super::schema::{Body, Rumor};

/// Ceiling on what bincode may read for one body, whatever the transport: stream frames are
/// bounded below this by `Limits::stream`, datagrams by their 2 KiB buffer.
pub const DECODE_LIMIT: usize = 256 << 20;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
        .with_limit::<DECODE_LIMIT>()
}

pub fn encode_body(body: &Body) -> Vec<u8> {
    bincode::serde::encode_to_vec(body, config()).expect("encoding to a Vec cannot fail")
}

/// `None` unless `bytes` is exactly one body. Strings borrow from `bytes`.
pub fn decode_body(bytes: &[u8]) -> Option<Body<'_>> {
    exact(bytes)
}

pub fn encode_rumor(rumor: &Rumor) -> Vec<u8> {
    bincode::serde::encode_to_vec(rumor, config()).expect("encoding to a Vec cannot fail")
}

/// `None` unless `bytes` is exactly one rumor.
pub fn decode_rumor(bytes: &[u8]) -> Option<Rumor<'_>> {
    exact(bytes)
}

fn exact<'de, T: serde::Deserialize<'de>>(bytes: &'de [u8]) -> Option<T> {
    match bincode::serde::borrow_decode_from_slice::<T, _>(bytes, config()) {
        Ok((v, used)) if used == bytes.len() => Some(v),
        _ => None,
    }
}
