//! A run of frames against one member: the input is cut into frames (a 2-byte big-endian length
//! before each, and a 1-byte step of the clock), each decoded as a datagram or a stream frame and
//! applied in turn while time moves on, so state left by one forged message meets the next
//! (incarnations, suspicion, tombstones, metadata versions, relays).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pekonode::proto::Arrival;
use pekonode::wire::{self, Key, Limits};
use pekonode_fuzz::{apply, running_core};

fuzz_target!(|data: &[u8]| {
    let mut core = running_core();
    let key = Key::new(None);
    let mut now = 0u64;
    let mut rest = data;
    while rest.len() >= 3 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let step = rest[2];
        rest = &rest[3..];
        let frame = &rest[..len.min(rest.len())];
        rest = &rest[frame.len()..];
        // The step's low bit picks the transport; the rest advances the clock by up to 2.5 s, so
        // suspicion timeouts, probe deadlines and gossip rounds all fire within a short input.
        let (limits, arrival) = if step & 1 == 0 {
            (
                Limits::datagram(),
                Arrival::Datagram {
                    weight: frame.len(),
                },
            )
        } else {
            (Limits::stream(16 * 1024), Arrival::Stream { conn: 1, ours: false })
        };
        now += u64::from(step >> 1) * 20;
        match wire::decode(frame, &key, limits) {
            Ok(msg) => apply(&mut core, now, arrival, msg),
            Err(_) => {
                core.tick(now);
                pekonode_fuzz::check_outgoing(&mut core);
            }
        }
    }
});
