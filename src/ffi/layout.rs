//! The v1 struct layouts, checked when the library is built.

use super::{peko_config, peko_event, peko_node_info, peko_stats_t};

// The v1 layouts, as a program built against the first header (tests/abi/pekonode_v1.h) has
// them on a 64-bit platform: a field moved into padding, or any size change, stops the build.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<peko_config>() == 56);
    assert!(offset_of!(peko_config, amount) == 0);
    assert!(offset_of!(peko_config, cycle_ms) == 4);
    assert!(offset_of!(peko_config, buffer) == 8);
    assert!(offset_of!(peko_config, size) == 12);
    assert!(offset_of!(peko_config, timeout_ms) == 16);
    assert!(offset_of!(peko_config, secret_key) == 24);
    assert!(offset_of!(peko_config, protocol) == 32);
    assert!(offset_of!(peko_config, listen_addr) == 40);
    assert!(offset_of!(peko_config, is_print) == 48);
    assert!(size_of::<peko_node_info>() == 32);
    assert!(offset_of!(peko_node_info, addr) == 0);
    assert!(offset_of!(peko_node_info, port) == 8);
    assert!(offset_of!(peko_node_info, name) == 16);
    assert!(offset_of!(peko_node_info, private_data) == 24);
    assert!(size_of::<peko_event>() == 48);
    assert!(offset_of!(peko_event, kind) == 0);
    assert!(offset_of!(peko_event, member) == 8);
    assert!(offset_of!(peko_event, lost) == 40);
    assert!(size_of::<peko_stats_t>() == 88);
    assert!(offset_of!(peko_stats_t, members_alive) == 0);
    assert!(offset_of!(peko_stats_t, round) == 80);
};
