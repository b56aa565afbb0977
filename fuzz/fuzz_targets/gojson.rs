//! One packet of the Go pekonode (the compatibility mode, `wire::gojson`), as the driver reads a
//! datagram or a connection: decoded within a small size (the least `size` a config allows, and
//! a smaller bound on `Data`) and a large one. Whatever decodes must be within the decoder's
//! bounds, decode the same under both, and re-encode to bytes that decode to the same packet;
//! it is then handed, twice, to a running compatibility core, which must send for it no more
//! than a Go node would (`compat::apply`), then runs a cycle, a publish and the time-out of
//! every node. Inputs of even length carry the core's key token (whatever they said), so both
//! the packets it accepts and those it drops are reached.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pekonode::wire::gojson::{
    token, GoPacket, GO_ADDR_MAX, GO_ATTR_MAX, GO_TOKEN_MAX, INFECTED_MAX,
};
use pekonode_fuzz::compat::{
    apply, check_cycle, publish, running_core, CYCLE_MS, KEY, PUBLISHED_NS, TIMEOUT_MS,
};

/// `(max_len, max_data)`: the smallest `size` a config allows, with a smaller `Data` bound, and
/// 64 KiB for both (four times the default `size`).
const LIMITS: [(usize, usize); 2] = [(1024, 256), (64 * 1024, 64 * 1024)];

fuzz_target!(|data: &[u8]| {
    let mut decoded: Option<(GoPacket, usize)> = None;
    for (max_len, max_data) in LIMITS {
        let Ok(p) = GoPacket::decode(data, max_len, max_data) else {
            assert!(
                decoded.is_none(),
                "decodes within the small limits, not within the large"
            );
            continue;
        };
        assert!(data.len() <= max_len);
        assert!(
            p.data.as_ref().map_or(0, Vec::len) <= max_data,
            "Data over max_data"
        );
        assert!(
            p.infected.len() <= INFECTED_MAX,
            "{} Infected keys",
            p.infected.len()
        );
        assert!(p.infected.keys().all(|k| k.len() <= GO_ADDR_MAX));
        assert!(p.node.addr.len() <= GO_ADDR_MAX);
        assert!(p.node.name.len() <= GO_ATTR_MAX && p.node.private_data.len() <= GO_ATTR_MAX);
        assert!(p.secret_key.len() <= GO_TOKEN_MAX);
        let bytes = p.encode();
        match GoPacket::decode(&bytes, usize::MAX, max_data) {
            Ok(back) => assert_eq!(back, p, "round trip changed a packet"),
            Err(e) => panic!(
                "a decoded packet re-encodes to bytes that fail ({e:?}): {p:?}\n{}",
                String::from_utf8_lossy(&bytes)
            ),
        }
        match &decoded {
            Some((first, _)) => assert_eq!(first, &p, "the limits changed what decoded"),
            None => decoded = Some((p, max_len)),
        }
    }
    let Some((mut p, max_len)) = decoded else {
        return;
    };
    if data.len().is_multiple_of(2) {
        p.secret_key = token(Some(KEY));
    }
    let mut core = running_core();
    apply(&mut core, 10, &p, max_len);
    // Again: a Go node keeps no memory of packets, so a duplicate is handled like the first.
    apply(&mut core, 20, &p, max_len);
    core.tick(CYCLE_MS);
    check_cycle(&mut core, max_len);
    publish(&mut core, PUBLISHED_NS + 1, max_len);
    core.tick(CYCLE_MS + TIMEOUT_MS + 20);
    check_cycle(&mut core, max_len);
    core.take_events();
});
