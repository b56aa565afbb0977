//! Each message body on its own: the first input byte picks the message type (push-pull, with
//! its member states, among them), a valid header is put in front of the rest, and the frame is
//! decoded and applied. The fuzzer spends its time in the body decoders instead of rediscovering
//! the header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pekonode::proto::Arrival;
use pekonode::wire::{self, Key, Limits, MAGIC, PROTOCOL_VERSION};
use pekonode_fuzz::{apply, check_round_trip, running_core};

/// Message type bytes run from 0 to 8 (docs/protocol.md).
const MESSAGE_TYPES: u8 = 9;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.extend_from_slice(&MAGIC);
    frame.push(PROTOCOL_VERSION);
    frame.push(selector % MESSAGE_TYPES);
    frame.push(0);
    frame.extend_from_slice(body);
    let limits = Limits::stream(16 * 1024);
    if let Ok(msg) = wire::decode(&frame, &Key::new(None), limits) {
        check_round_trip(&msg, limits);
        let mut core = running_core();
        apply(&mut core, 10, Arrival::Stream { conn: 1, ours: false }, msg);
    }
});
