//! Writes the seed corpus (`fuzz/corpus/<target>/`) from `sample_messages`: one file per message
//! for the frame targets (none of the stream-only messages for `datagram`), the body alone for
//! `body`, every rumor for `rumor`, and all frames in one run for `sequence`; for `gojson`, the
//! Go pekonode's golden packets (`src/wire/tests/gopekonode_golden.txt`). Run it again when
//! the wire format changes: `make fuzz-seeds`.

use pekonode::proto::{Message, RumorEncoding};
use pekonode::wire::{self, Key, RUMOR_ENCODING};
use std::path::Path;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
}

fn main() {
    let key = Key::new(None);
    let mut sequence = Vec::new();
    for (i, msg) in pekonode_fuzz::sample_messages().iter().enumerate() {
        let frame = wire::encode(msg, &key);
        let stream_only = wire::stream_only(msg);
        if !stream_only {
            write("datagram", &i.to_string(), &frame);
        }
        write("stream", &i.to_string(), &wire::encode_stream(msg, &key));
        // `body`: the type byte selects the header; the body follows it.
        let mut body = vec![frame[3]];
        body.extend_from_slice(&frame[wire::HEADER_LEN..]);
        write("body", &i.to_string(), &body);
        sequence.extend_from_slice(&(frame.len() as u16).to_be_bytes());
        sequence.push(u8::from(stream_only || frame.len() > 1400) | 10 << 1);
        sequence.extend_from_slice(&frame);
        if let Message::Gossip { rumors, .. } = msg {
            for (j, r) in rumors.iter().enumerate() {
                write("rumor", &j.to_string(), &RUMOR_ENCODING.encode(r));
            }
        }
    }
    write("sequence", "all", &sequence);
    for (name, packet) in pekonode_fuzz::compat::golden_packets() {
        write("gojson", name, packet);
    }
}
