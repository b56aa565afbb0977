//! One TCP stream frame without a key, decoded with the stream limits of the default 16 KiB
//! `size`, then applied to a running member.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pekonode::proto::Arrival;
use pekonode::wire::{self, Key, Limits};
use pekonode_fuzz::{apply, check_round_trip, running_core};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::stream(16 * 1024);
    if let Ok(msg) = wire::decode(data, &Key::new(None), limits) {
        check_round_trip(&msg, limits);
        let mut core = running_core();
        apply(&mut core, 10, Arrival::Stream(1), msg);
    }
});
