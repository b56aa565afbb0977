//! One UDP datagram, as the driver receives it without a key: the whole frame (header, body),
//! decoded with a datagram's limits, then applied to a running member.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pekonode::proto::Arrival;
use pekonode::wire::{self, Key, Limits};
use pekonode_fuzz::{apply, check_round_trip, running_core};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = wire::decode(data, &Key::new(None), Limits::datagram()) {
        check_round_trip(&msg, Limits::datagram());
        let mut core = running_core();
        apply(&mut core, 10, Arrival::Datagram { weight: data.len() }, msg);
    }
});
