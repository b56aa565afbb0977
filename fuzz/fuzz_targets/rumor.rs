//! One rumor as the core's rumor queue decodes it (`RumorEncoding::decode`), then delivered to a
//! running member inside a gossip message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pekonode::proto::{Arrival, Message, RumorEncoding};
use pekonode::wire::RUMOR_ENCODING;
use pekonode_fuzz::{apply, running_core};

fuzz_target!(|data: &[u8]| {
    if let Some(rumor) = RUMOR_ENCODING.decode(data) {
        let back = RUMOR_ENCODING.decode(&RUMOR_ENCODING.encode(&rumor));
        assert_eq!(
            back.as_ref(),
            Some(&rumor),
            "a decoded rumor does not round-trip"
        );
        let mut core = running_core();
        let msg = Message::Gossip {
            from: "127.0.0.1:7947".parse().unwrap(),
            rumors: vec![rumor],
        };
        apply(&mut core, 10, Arrival::Datagram { weight: 1400 }, msg);
    }
});
