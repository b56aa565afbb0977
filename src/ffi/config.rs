//! `peko_config`, its defaults, and its conversion into the driver's `Config`.

use super::{boundary, handle, null, opt_str, peko_node};
use crate::config::{Config, Protocol};
use crate::driver::args;
use crate::error::*;
use std::ffi::c_char;

/// `peko_config.protocol`: gossip and probes over UDP datagrams, TCP for anything larger.
pub const PEKO_PROTOCOL_UDP: u32 = 0;
/// `peko_config.protocol`: everything over kept-open TCP connections.
pub const PEKO_PROTOCOL_TCP: u32 = 1;

/// Configuration for `peko_new`. Fill it with `peko_config_default` first, then change fields.
/// Zero in a numeric field means its default. Field order and types are ABI, fixed forever: the
/// library reads exactly these fields. Settings added in later versions are not new fields but
/// functions on the handle named for them, `peko_<setting>_set(node, ...)`, called between
/// peko_new and peko_join (PEKO_ERR_STATE after, unless the setter says otherwise).
#[repr(C)]
pub struct peko_config {
    /// Members each round's gossip goes to (fan-out). 0 = 3. At most 64.
    pub amount: u32,
    /// Gossip round period in milliseconds. 0 = 500. From 10 to 3600000.
    pub cycle_ms: u32,
    /// Depth of each send queue (messages) and of the UDP receive buffer (datagrams). 0 = 256.
    pub buffer: u32,
    /// Largest metadata (and largest TCP frame, plus room for the member table) in bytes.
    /// 0 = 16384. From 1024 to 64 MiB.
    pub size: u32,
    /// A silent member is gone from every list within this many milliseconds.
    /// 0 = the default: 5000, or 10 x cycle_ms when that is longer (peko_config_default
    /// leaves it 0; the same rule in every binding). At least 5 x cycle_ms.
    pub timeout_ms: u32,
    /// Shared secret: every frame is sealed (encrypted and authenticated with XChaCha20-Poly1305)
    /// under a key derived from it, and only sealed frames are accepted (PEKO_ENCRYPTION_REQUIRE);
    /// it is the keyring's first key (peko_key_install adds more). NULL or "" = none: then
    /// anyone who can reach the member's port can read and forge membership and metadata, so run
    /// without a key only on a trusted network (peko_join logs a warning saying so). Copied by
    /// peko_new.
    pub secret_key: *const c_char,
    /// PEKO_PROTOCOL_UDP (default) or PEKO_PROTOCOL_TCP.
    pub protocol: u32,
    /// Local address to bind. NULL = the wildcard of the local member's family
    /// ("0.0.0.0" or "::"). Copied by peko_new.
    pub listen_addr: *const c_char,
    /// Print a timestamped console log on stdout: the calls made ([Join], [Publish], [Stop],
    /// [Start], [Update], [Leave], [Keys]), member news ([Join], [Update], [Failed], [Leave],
    /// [Metadata], [PushPull]) and the member list when it changes ([List]; README, API
    /// conventions, lists every tag). Errors go to stderr even when false, rate-limited.
    pub is_print: bool,
}

pub(super) unsafe fn config(c: &peko_config) -> Result<Config> {
    let protocol = match c.protocol {
        PEKO_PROTOCOL_UDP => Protocol::Udp,
        PEKO_PROTOCOL_TCP => Protocol::Tcp,
        p => {
            return Err(Error::invalid(format!(
                "protocol {p} is neither UDP (0) nor TCP (1)"
            )))
        }
    };
    let listen_addr = match opt_str(c.listen_addr, "listen_addr")? {
        None => None,
        Some(s) => Some(args::ip_literal(&s, "listen_addr")?),
    };
    Ok(Config {
        amount: c.amount,
        cycle_ms: c.cycle_ms,
        buffer: c.buffer,
        size: c.size,
        timeout_ms: c.timeout_ms,
        secret_key: opt_str(c.secret_key, "secret_key")?,
        protocol,
        listen_addr,
        is_print: c.is_print,
    })
}

/// Fills `*out` with every default: amount 3, cycle_ms 500, buffer 256, size 16384,
/// timeout_ms 0 (= 5000, or 10 x cycle_ms when that is longer), no secret key, UDP, listen on the wildcard address, no console log.
/// NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn peko_config_default(out: *mut peko_config) {
    let _ = boundary(|| {
        let d = Config::default();
        if let Some(out) = out.as_mut() {
            *out = peko_config {
                amount: d.amount,
                cycle_ms: d.cycle_ms,
                buffer: d.buffer,
                size: d.size,
                timeout_ms: d.timeout_ms,
                secret_key: std::ptr::null(),
                protocol: PEKO_PROTOCOL_UDP,
                listen_addr: std::ptr::null(),
                is_print: d.is_print,
            };
        }
        Ok(())
    });
}

/// `peko_compat_set`: the native protocol (the default).
pub const PEKO_COMPAT_NATIVE: u32 = 0;
/// `peko_compat_set`: the Go pekonode compatibility mode: the member speaks only the packets of
/// the Go library pekonode (github.com/dpwgc/pekonode v1.0.8), so it can join a running
/// cluster of Go nodes, and the nodes can be replaced one at a time (README, "Migrating from the
/// Go pekonode"). In that mode: heartbeats every cycle_ms to `amount` nodes, a metadata exchange
/// with one node per cycle, metadata versions in wall-clock nanoseconds (newest wins), a node
/// silent for timeout_ms leaves the list (a PEKO_EVENT_FAILED); packets are plain JSON and
/// carry the MD5 of secret_key in clear (anyone who sees one can join); peko_key_*,
/// peko_encryption_set and peko_label_set return PEKO_ERR_STATE; peko_leave only goes silent
/// (the original has no leave message). The Go nodes key their lists by the whole node: after
/// peko_update they list this member twice until the old entry times out.
pub const PEKO_COMPAT_GO_PEKONODE: u32 = 1;

/// Chooses the protocol, between peko_new and peko_join (PEKO_ERR_STATE after):
/// PEKO_COMPAT_NATIVE or PEKO_COMPAT_GO_PEKONODE; another value is PEKO_ERR_INVALID_ARG.
#[no_mangle]
pub unsafe extern "C" fn peko_compat_set(node: *mut peko_node, mode: u32) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let on = match mode {
            PEKO_COMPAT_NATIVE => false,
            PEKO_COMPAT_GO_PEKONODE => true,
            other => {
                return Err(Error::invalid(format!(
                    "compat mode {other} is neither PEKO_COMPAT_NATIVE nor \
                     PEKO_COMPAT_GO_PEKONODE"
                )))
            }
        };
        n.set_go_compat(on)
    })
}

/// Writes the protocol chosen (a PEKO_COMPAT_* value) into `*out_mode`.
#[no_mangle]
pub unsafe extern "C" fn peko_compat_get(node: *mut peko_node, out_mode: *mut u32) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let out = out_mode.as_mut().ok_or_else(|| null("out_mode"))?;
        *out = if n.go_compat() {
            PEKO_COMPAT_GO_PEKONODE
        } else {
            PEKO_COMPAT_NATIVE
        };
        Ok(())
    })
}
