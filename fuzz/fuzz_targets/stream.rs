//! One TCP stream frame without a key, read the way the driver reads it: the header's first
//! bytes (`StreamHeader::len`), the rest of it (`StreamHeader::decode`, with the stream limits of the default 16 KiB `size`), then only as
//! many bytes as the header announced, decoded with `decode_rest`; what decodes is applied to a
//! running member as having come on a connection, opened by the peer or (frames of odd length:
//! the fuzzer reaches both) by the member itself, as the answers to its requests come.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pekonode::proto::Arrival;
use pekonode::wire::{Key, Limits, StreamHeader};
use pekonode_fuzz::{apply, check_round_trip, running_core};

fuzz_target!(|data: &[u8]| {
    let key = Key::new(None);
    let limits = Limits::stream(16 * 1024);
    let Some(Ok(n)) = data
        .get(..pekonode::wire::HEADER_LEN)
        .map(StreamHeader::len)
    else {
        return;
    };
    if data.len() < n {
        return;
    }
    let Ok(header) = StreamHeader::decode(&data[..n], &key, limits) else {
        return;
    };
    assert!(
        header.frame_len() <= limits.frame,
        "a header admitted more than the limit"
    );
    // The reader reads exactly what the header announced; a shorter input is a closed stream.
    let Some(rest) = data[n..].get(..header.rest_len()) else {
        return;
    };
    if let Ok(msg) = header.decode_rest(&mut rest.to_vec(), limits) {
        check_round_trip(&msg, limits);
        let mut core = running_core();
        let ours = header.frame_len() % 2 == 1;
        apply(&mut core, 10, Arrival::Stream { conn: 1, ours }, msg);
    }
});
