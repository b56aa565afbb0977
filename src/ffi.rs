//! The C boundary: converts and forwards to `driver::Node`; no protocol logic here. It checks
//! only what C alone can get wrong (NULL pointers, non-UTF-8 strings, integers that name no
//! value); the argument rules (address policy, sizes) are `Node`'s (`driver::args`), so Rust and
//! C callers get the same errors. Every exported body runs under `boundary`, so a panic becomes
//! `PEKO_ERR_PANIC` and every failure leaves a message for `peko_last_error`. Outputs are written
//! only on success.

use crate::config::{Config, Protocol};
use crate::driver::args;
use crate::driver::events::{Kind, UserEvent};
use crate::driver::stats::Counters;
use crate::driver::Node;
use crate::error::*;
use crate::proto::Attributes;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// `peko_config.protocol`: gossip and probes over UDP datagrams, TCP for anything larger.
pub const PEKO_PROTOCOL_UDP: u32 = 0;
/// `peko_config.protocol`: everything over kept-open TCP connections.
pub const PEKO_PROTOCOL_TCP: u32 = 1;

/// A cluster member created by `peko_new`. Opaque; free it with `peko_free`.
pub struct peko_node {
    node: Node,
    /// The process that made it: after fork() the child has a copy of the handle but none of the
    /// library's threads, so every call there is refused.
    pid: u32,
}

/// Handles a fork child freed: kept referenced (not released: see `peko_free`), so a leak
/// checker in the child sees them as reachable. Beyond the slots, they are simply forgotten.
static INHERITED: [std::sync::atomic::AtomicPtr<peko_node>; 64] =
    [const { std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()) }; 64];

fn park_inherited(node: *mut peko_node) {
    use std::sync::atomic::Ordering;
    for slot in &INHERITED {
        if slot
            .compare_exchange(
                std::ptr::null_mut(),
                node,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            return;
        }
    }
}

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
    /// 0 = 10 x cycle_ms (peko_config_default sets 5000). At least 5 x cycle_ms.
    pub timeout_ms: u32,
    /// Shared secret; every packet is authenticated with a MAC keyed from it. NULL or "" = none.
    /// Copied by peko_new.
    pub secret_key: *const c_char,
    /// PEKO_PROTOCOL_UDP (default) or PEKO_PROTOCOL_TCP.
    pub protocol: u32,
    /// Local address to bind. NULL = the wildcard of the local member's family
    /// ("0.0.0.0" or "::"). Copied by peko_new.
    pub listen_addr: *const c_char,
    /// Print a timestamped console log ([Join], the member list each round, [Stop], [Start],
    /// [Publish], [PushPull], [Error]). Errors go to stderr even when false, rate-limited.
    pub is_print: bool,
}

/// A member: the local one given to `peko_new`, a known one given to `peko_set`, or one returned
/// by `peko_get`. Strings are NUL-terminated UTF-8. Field order and types are ABI, fixed forever.
#[repr(C)]
pub struct peko_node_info {
    /// IPv4 or IPv6 literal the others reach this member at (not a host name).
    pub addr: *const c_char,
    /// UDP and TCP port. In peko_new, 0 lets the OS pick one at peko_join (see peko_local_port).
    pub port: u16,
    /// Free-form name, at most 1024 bytes. NULL = "".
    pub name: *const c_char,
    /// Free-form data, at most 1024 bytes. NULL = "".
    pub private_data: *const c_char,
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(msg: &str) {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        e.clear();
        e.push_str(msg);
    });
}

/// The one panic boundary: every exported function's body goes through it.
fn boundary(f: impl FnOnce() -> Result<()>) -> peko_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            // A success clears the message: it always describes this thread's last call.
            set_last_error("");
            PEKO_OK
        }
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal error (panic): {what}"));
            PEKO_ERR_PANIC
        }
    }
}

fn null(what: &str) -> Error {
    Error::new(PEKO_ERR_NULL_ARG, format!("{what} is NULL"))
}

unsafe fn handle<'a>(node: *mut peko_node) -> Result<&'a Node> {
    let n = node.as_ref().ok_or_else(|| null("node"))?;
    if n.pid != std::process::id() {
        return Err(Error::state(format!(
            "this handle belongs to process {} and cannot be used in this one after fork() \
             (the library's threads did not come along); peko_free is the only call it takes",
            n.pid
        )));
    }
    Ok(&n.node)
}

/// A C string as UTF-8; NULL gives `None`.
unsafe fn opt_str(p: *const c_char, what: &str) -> Result<Option<String>> {
    if p.is_null() {
        return Ok(None);
    }
    CStr::from_ptr(p)
        .to_str()
        .map(|s| Some(s.to_owned()))
        .map_err(|_| Error::invalid(format!("{what} is not valid UTF-8")))
}

/// A name or private data; NULL is "". Its size is `Node`'s to check.
unsafe fn attr(p: *const c_char, what: &str) -> Result<String> {
    Ok(opt_str(p, what)?.unwrap_or_default())
}

/// A `peko_node_info` as an address and attributes; which addresses and sizes are accepted is
/// `Node`'s to decide.
unsafe fn member(info: *const peko_node_info, what: &str) -> Result<(SocketAddr, Attributes)> {
    let info = info.as_ref().ok_or_else(|| null(what))?;
    let addr = opt_str(info.addr, "addr")?.ok_or_else(|| null("addr"))?;
    let ip = args::ip_literal(&addr, "addr")?;
    Ok((
        SocketAddr::new(ip, info.port),
        Attributes {
            name: attr(info.name, "name")?,
            private_data: attr(info.private_data, "private_data")?,
        },
    ))
}

unsafe fn config(c: &peko_config) -> Result<Config> {
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

/// A string for C: interior NULs (possible in names from the network) end it.
fn c_string(s: &str) -> *const c_char {
    let cut = s.split('\0').next().unwrap_or("");
    CString::new(cut).expect("no NUL after the cut").into_raw()
}

/// Fills `*out` with every default: amount 3, cycle_ms 500, buffer 256, size 16384,
/// timeout_ms 5000, no secret key, UDP, listen on the wildcard address, no console log.
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

/// Creates the local member (nothing is bound or sent until peko_join). Strings in `config` and
/// `local` are copied. On PEKO_OK, `*out` holds a handle to free with peko_free.
#[no_mangle]
pub unsafe extern "C" fn peko_new(
    config: *const peko_config,
    local: *const peko_node_info,
    out: *mut *mut peko_node,
) -> peko_status {
    boundary(|| {
        let c = config.as_ref().ok_or_else(|| null("config"))?;
        if out.is_null() {
            return Err(null("out"));
        }
        let cfg = self::config(c)?;
        let (id, attrs) = member(local, "local")?;
        let node = Node::new(cfg, id, attrs)?;
        *out = Box::into_raw(Box::new(peko_node {
            node,
            pid: std::process::id(),
        }));
        Ok(())
    })
}

/// Adds a known member, before or after peko_join. It is listed at once and dropped after
/// timeout_ms if it is never heard from. Setting the local member itself does nothing.
/// A bad address or port 0 is PEKO_ERR_INVALID_ARG.
#[no_mangle]
pub unsafe extern "C" fn peko_set(
    node: *mut peko_node,
    peer: *const peko_node_info,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let (id, attrs) = member(peer, "peer")?;
        n.set(id, attrs)
    })
}

/// Binds UDP and TCP on listen_addr:port before returning (a port in use is PEKO_ERR_IO with the
/// reason in peko_last_error), then starts the background work and syncs with the known members.
/// A second call is PEKO_ERR_STATE.
#[no_mangle]
pub unsafe extern "C" fn peko_join(node: *mut peko_node) -> peko_status {
    boundary(|| handle(node)?.join())
}

/// The local member first, then every member believed alive. On PEKO_OK `*out_nodes` is an array
/// of `*out_count` entries owned by the library: free it with peko_nodes_free(nodes, count).
#[no_mangle]
pub unsafe extern "C" fn peko_get(
    node: *mut peko_node,
    out_nodes: *mut *mut peko_node_info,
    out_count: *mut usize,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        if out_nodes.is_null() {
            return Err(null("out_nodes"));
        }
        if out_count.is_null() {
            return Err(null("out_count"));
        }
        let list: Box<[peko_node_info]> = n
            .members()
            .into_iter()
            .map(|(id, a)| peko_node_info {
                addr: c_string(&id.ip().to_string()),
                port: id.port(),
                name: c_string(&a.name),
                private_data: c_string(&a.private_data),
            })
            .collect();
        *out_count = list.len();
        *out_nodes = Box::into_raw(list) as *mut peko_node_info;
        Ok(())
    })
}

/// Frees an array returned by peko_get, with the count it returned. NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn peko_nodes_free(nodes: *mut peko_node_info, count: usize) {
    let _ = boundary(|| {
        if nodes.is_null() {
            return Ok(());
        }
        let list = Box::from_raw(std::ptr::slice_from_raw_parts_mut(nodes, count));
        for n in list.iter() {
            for p in [n.addr, n.name, n.private_data] {
                if !p.is_null() {
                    drop(CString::from_raw(p as *mut c_char));
                }
            }
        }
        Ok(())
    });
}

/// Replaces the cluster metadata everywhere; the newest publish wins at every member. The bytes
/// are copied. `data` may be NULL only when `len` is 0. More than `size` bytes is
/// PEKO_ERR_TOO_LARGE.
#[no_mangle]
pub unsafe extern "C" fn peko_publish(
    node: *mut peko_node,
    data: *const u8,
    len: usize,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let bytes: &[u8] = if len == 0 {
            &[]
        } else if data.is_null() {
            return Err(null("data"));
        } else {
            std::slice::from_raw_parts(data, len)
        };
        n.publish(bytes)
    })
}

/// Copies the local metadata into `buf` and its length into `*out_len`. With `buf` NULL or `cap`
/// too small it returns PEKO_ERR_BUFFER_TOO_SMALL and sets `*out_len` to the length needed (call
/// again with a buffer that large). Never published: PEKO_OK with length 0.
#[no_mangle]
pub unsafe extern "C" fn peko_read(
    node: *mut peko_node,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        if out_len.is_null() {
            return Err(null("out_len"));
        }
        n.with_metadata(|data| {
            let data = data.unwrap_or(&[]);
            if data.is_empty() {
                *out_len = 0;
                return Ok(());
            }
            if buf.is_null() || cap < data.len() {
                *out_len = data.len();
                return Err(Error::new(
                    PEKO_ERR_BUFFER_TOO_SMALL,
                    format!(
                        "metadata is {} bytes, buffer holds {}",
                        data.len(),
                        if buf.is_null() { 0 } else { cap }
                    ),
                ));
            }
            std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
            *out_len = data.len();
            Ok(())
        })
    })
}

/// Goes silent: no gossip and no answers to probes; the others drop this member within
/// timeout_ms. Before peko_join it is PEKO_ERR_STATE.
#[no_mangle]
pub unsafe extern "C" fn peko_stop(node: *mut peko_node) -> peko_status {
    boundary(|| handle(node)?.stop())
}

/// Resumes after peko_stop; the member is listed everywhere again within a few rounds. On a
/// running member it does nothing and returns PEKO_OK. Before peko_join it is PEKO_ERR_STATE.
#[no_mangle]
pub unsafe extern "C" fn peko_start(node: *mut peko_node) -> peko_status {
    boundary(|| handle(node)?.start())
}

/// The port this member uses: after peko_join the one actually bound (useful with port 0),
/// before it the configured one.
#[no_mangle]
pub unsafe extern "C" fn peko_local_port(node: *mut peko_node, out_port: *mut u16) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let out = out_port.as_mut().ok_or_else(|| null("out_port"))?;
        *out = n.local_id().port();
        Ok(())
    })
}

/// Tells the others this member is leaving (so they drop it at once), stops the background
/// work, closes the sockets before returning (the port can be reused at once), and frees the
/// handle. Must be the last call on the handle. NULL does nothing. In a fork() child, on a
/// handle inherited from the parent, it only lets go of the handle: nothing of the parent's is
/// touched, and the memory stays until the child exits or execs (releasing it would take the
/// parent's sockets out of the reactor both processes share).
#[no_mangle]
pub unsafe extern "C" fn peko_free(node: *mut peko_node) {
    let _ = boundary(|| {
        if node.is_null() {
            return Ok(());
        }
        if (*node).pid != std::process::id() {
            // A fork child's copy: closing it would deregister the parent's sockets from the
            // reactor the two processes share, and wait for threads the child does not have.
            park_inherited(node);
            return Ok(());
        }
        let n = Box::from_raw(node);
        n.node.close();
        Ok(())
    });
}

/// A static, human-readable name for a status code ("unknown status" for others). Never free it.
#[no_mangle]
pub extern "C" fn peko_status_str(status: peko_status) -> *const c_char {
    let s: &'static CStr = match status {
        PEKO_OK => c"ok",
        PEKO_ERR_NULL_ARG => c"a required pointer argument was NULL",
        PEKO_ERR_INVALID_ARG => c"invalid argument",
        PEKO_ERR_STATE => c"call not valid in the current state",
        PEKO_ERR_IO => c"socket error",
        PEKO_ERR_BUFFER_TOO_SMALL => c"buffer too small",
        PEKO_ERR_TOO_LARGE => c"data larger than the configured size",
        PEKO_ERR_PANIC => c"internal error (panic)",
        PEKO_ERR_TIMEOUT => c"timed out",
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// Copies this thread's last error message into `buf` (truncated to `cap - 1` bytes and
/// NUL-terminated; nothing is written when `buf` is NULL or `cap` is 0) and returns the full
/// message length, so a caller can size a buffer. The message is that of this thread's last
/// call if it failed; a call that succeeds clears it (length 0), and so does a fresh thread.
#[no_mangle]
pub unsafe extern "C" fn peko_last_error(buf: *mut c_char, cap: usize) -> usize {
    LAST_ERROR.with(|e| {
        let e = e.borrow();
        if !buf.is_null() && cap > 0 {
            let n = e.len().min(cap - 1);
            std::ptr::copy_nonoverlapping(e.as_ptr(), buf as *mut u8, n);
            *buf.add(n) = 0;
        }
        e.len()
    })
}

/// The library version, e.g. "0.1.0". Static; never free it.
#[no_mangle]
pub extern "C" fn peko_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

// ---- events, leave, update, log, stats ------------------------------------------------------

/// `peko_event.kind`: a member joined (or came back).
pub const PEKO_EVENT_JOINED: u32 = 1;
/// `peko_event.kind`: a member left gracefully.
pub const PEKO_EVENT_LEFT: u32 = 2;
/// `peko_event.kind`: a member failed (or was never heard from after peko_set).
pub const PEKO_EVENT_FAILED: u32 = 3;
/// `peko_event.kind`: a member changed its name or private data.
pub const PEKO_EVENT_UPDATED: u32 = 4;
/// `peko_event.kind`: the cluster metadata changed; `member` is the publisher (address, port).
pub const PEKO_EVENT_METADATA: u32 = 5;

/// `peko_set_log` level: errors only.
pub const PEKO_LOG_ERROR: u32 = 0;
/// `peko_set_log` level: errors and the informational lines of the console log.
pub const PEKO_LOG_INFO: u32 = 1;

/// One membership or metadata event from `peko_next_event`. The strings in `member` belong to
/// the library until `peko_event_clear(&event)`, which must be called once per event received.
/// Field order and types are ABI, fixed forever: the library writes exactly these fields.
#[repr(C)]
pub struct peko_event {
    /// PEKO_EVENT_JOINED, _LEFT, _FAILED, _UPDATED or _METADATA.
    pub kind: u32,
    /// The member concerned (name and private data are set for JOINED and UPDATED, "" otherwise).
    pub member: peko_node_info,
    /// Events dropped because the queue was full (64 events until the program first reads
    /// events, 1024 after) since the previous one delivered.
    pub lost: u64,
}

/// Counters for monitoring, from `peko_stats`. (Named with `_t` because C does not allow a type
/// and a function of the same name.) Field order and types are ABI, fixed forever: peko_stats
/// writes exactly these fields, and counters added later are not appended here but read with
/// peko_counter (which reads these too: PEKO_COUNTER_MEMBERS_ALIVE to PEKO_COUNTER_ROUND).
#[repr(C)]
pub struct peko_stats_t {
    /// Members listed as alive, the local one included.
    pub members_alive: u64,
    /// Members currently suspected (still listed).
    pub members_suspect: u64,
    /// Datagrams and TCP frames sent.
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// Datagrams and TCP frames received.
    pub packets_received: u64,
    pub bytes_received: u64,
    /// Dropped: wrong or missing MAC (another key).
    pub dropped_auth: u64,
    /// Dropped: garbage, truncated or oversized.
    pub dropped_malformed: u64,
    /// Dropped: a send queue was full.
    pub dropped_queue_full: u64,
    /// Anti-entropy messages sent (digests and full push-pull exchanges).
    pub anti_entropy_exchanges: u64,
    /// Gossip rounds run since peko_join.
    pub round: u64,
}

/// A host logger for `peko_set_log`: called with the userdata given there, the line's level and
/// the line (valid only during the call). Called from the library's threads, and also on the
/// calling thread inside peko_set, peko_join, peko_stop, peko_start, peko_update, peko_leave,
/// peko_publish and peko_free (so do not hold a lock there that the logger takes); never while a
/// library lock is held, so it may call back into the library.
pub type peko_log_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: u32, line: *const c_char)>;

fn event_to_c(e: UserEvent, out: &mut peko_event) {
    out.kind = match e.kind {
        Kind::Joined => PEKO_EVENT_JOINED,
        Kind::Left => PEKO_EVENT_LEFT,
        Kind::Failed => PEKO_EVENT_FAILED,
        Kind::Updated => PEKO_EVENT_UPDATED,
        Kind::Metadata => PEKO_EVENT_METADATA,
    };
    out.member = peko_node_info {
        addr: c_string(&e.member.ip().to_string()),
        port: e.member.port(),
        name: c_string(&e.attrs.name),
        private_data: c_string(&e.attrs.private_data),
    };
    out.lost = e.lost;
}

/// Waits up to `timeout_ms` (0 = do not wait) for the next event and writes it to `*out`.
/// Returns PEKO_ERR_TIMEOUT when none came. Free the event's strings with peko_event_clear.
/// The queue holds 1024 events once peko_next_event or peko_event_fd has been called on the
/// handle, 64 before (so a program that never reads events holds few); when full the oldest are
/// dropped and the next event delivered counts them in `lost`.
#[no_mangle]
pub unsafe extern "C" fn peko_next_event(
    node: *mut peko_node,
    timeout_ms: u32,
    out: *mut peko_event,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let out = out.as_mut().ok_or_else(|| null("out"))?;
        match n.next_event(std::time::Duration::from_millis(timeout_ms as u64)) {
            Some(e) => {
                event_to_c(e, out);
                Ok(())
            }
            None => Err(Error::new(
                PEKO_ERR_TIMEOUT,
                format!("no event within {timeout_ms} ms"),
            )),
        }
    })
}

/// Frees the strings of an event filled by peko_next_event and sets them to NULL. Clearing an
/// already-cleared event, or NULL, does nothing.
#[no_mangle]
pub unsafe extern "C" fn peko_event_clear(event: *mut peko_event) {
    let _ = boundary(|| {
        if let Some(e) = event.as_mut() {
            for p in [
                &mut e.member.addr,
                &mut e.member.name,
                &mut e.member.private_data,
            ] {
                if !p.is_null() {
                    drop(CString::from_raw(*p as *mut c_char));
                    *p = std::ptr::null();
                }
            }
        }
        Ok(())
    });
}

/// A file descriptor that is readable while events are pending, for poll/epoll, libuv or Go's
/// netpoller; read events with peko_next_event(node, 0, ...) until PEKO_ERR_TIMEOUT. Owned by
/// the node (closed by peko_free): never read, write or close it yourself. -1 on error.
#[no_mangle]
pub unsafe extern "C" fn peko_event_fd(node: *mut peko_node) -> c_int {
    let mut fd = -1;
    let status = boundary(|| {
        let n = handle(node)?;
        fd = n
            .event_fd()
            .ok_or_else(|| Error::io("the event descriptor could not be created"))?;
        Ok(())
    });
    if status == PEKO_OK {
        fd
    } else {
        -1
    }
}

/// Leaves the cluster gracefully: tells the others (who drop this member at once) and waits up
/// to `timeout_ms` until the notices have been handed to the network. PEKO_ERR_TIMEOUT if some
/// were still queued then. The member is silent afterwards; peko_free it. A second leave does
/// nothing. Before peko_join it is PEKO_ERR_STATE.
#[no_mangle]
pub unsafe extern "C" fn peko_leave(node: *mut peko_node, timeout_ms: u32) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        if n.leave(std::time::Duration::from_millis(timeout_ms as u64))? {
            Ok(())
        } else {
            Err(Error::new(
                PEKO_ERR_TIMEOUT,
                format!("leave notices still queued after {timeout_ms} ms"),
            ))
        }
    })
}

/// Changes the local member's name and private data (NULL = ""); the change reaches every
/// member, which sees PEKO_EVENT_UPDATED. Strings are copied.
#[no_mangle]
pub unsafe extern "C" fn peko_update(
    node: *mut peko_node,
    name: *const c_char,
    private_data: *const c_char,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        n.update(Attributes {
            name: attr(name, "name")?,
            private_data: attr(private_data, "private_data")?,
        })
    })
}

/// Sends the library's log lines (of every node in the process) to `callback` instead of the
/// console: lines at `level` or more severe (PEKO_LOG_ERROR or PEKO_LOG_INFO; with
/// PEKO_LOG_INFO the informational lines come even for nodes whose is_print is false).
/// `callback` NULL restores the console. `userdata` is passed back untouched. When this returns,
/// no call to the previous callback is still running on another thread, so its userdata may be
/// freed.
#[no_mangle]
pub unsafe extern "C" fn peko_set_log(
    callback: peko_log_fn,
    userdata: *mut c_void,
    level: u32,
) -> peko_status {
    boundary(|| {
        if level > PEKO_LOG_INFO {
            return Err(Error::invalid(format!(
                "log level {level} is neither 0 nor 1"
            )));
        }
        crate::log::set_sink(callback.map(|f| crate::log::Sink {
            callback: f,
            userdata: userdata as usize,
            level,
        }));
        Ok(())
    })
}

/// Fills `*out` with this node's counters (exactly the fields of peko_stats_t above; the others
/// are read with peko_counter).
#[no_mangle]
pub unsafe extern "C" fn peko_stats(node: *mut peko_node, out: *mut peko_stats_t) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let out = out.as_mut().ok_or_else(|| null("out"))?;
        let c = n.counters();
        *out = peko_stats_t {
            members_alive: c.members_alive,
            members_suspect: c.members_suspect,
            packets_sent: c.packets_sent,
            bytes_sent: c.bytes_sent,
            packets_received: c.packets_received,
            bytes_received: c.bytes_received,
            dropped_auth: c.dropped_auth,
            dropped_malformed: c.dropped_malformed,
            dropped_queue_full: c.dropped_queue_full,
            anti_entropy_exchanges: c.anti_entropy_exchanges,
            round: c.round,
        };
        Ok(())
    })
}

// ---- counters by id -------------------------------------------------------------------------
// Ids are never renumbered or reused; new counters get new ids.

/// `peko_counter`: members listed as alive, the local one included (a current value, not a
/// running total). Same as peko_stats_t.members_alive.
pub const PEKO_COUNTER_MEMBERS_ALIVE: u32 = 1;
/// `peko_counter`: members currently suspected, still listed (a current value).
/// Same as peko_stats_t.members_suspect.
pub const PEKO_COUNTER_MEMBERS_SUSPECT: u32 = 2;
/// `peko_counter`: datagrams and TCP frames sent. Same as peko_stats_t.packets_sent.
pub const PEKO_COUNTER_PACKETS_SENT: u32 = 3;
/// `peko_counter`: bytes of datagrams and TCP frames sent (a frame's 4-byte length prefix
/// included). Same as peko_stats_t.bytes_sent.
pub const PEKO_COUNTER_BYTES_SENT: u32 = 4;
/// `peko_counter`: datagrams and TCP frames received. Same as peko_stats_t.packets_received.
pub const PEKO_COUNTER_PACKETS_RECEIVED: u32 = 5;
/// `peko_counter`: bytes of datagrams and TCP frames received (a frame's 4-byte length prefix
/// included). Same as peko_stats_t.bytes_received.
pub const PEKO_COUNTER_BYTES_RECEIVED: u32 = 6;
/// `peko_counter`: packets dropped for a wrong or missing MAC (another secret_key).
/// Same as peko_stats_t.dropped_auth.
pub const PEKO_COUNTER_DROPPED_AUTH: u32 = 7;
/// `peko_counter`: packets dropped as garbage, truncated or oversized; the oversized ones are
/// also counted alone in PEKO_COUNTER_DROPPED_TOO_LARGE. Same as peko_stats_t.dropped_malformed.
pub const PEKO_COUNTER_DROPPED_MALFORMED: u32 = 8;
/// `peko_counter`: messages dropped because a send queue was full. Same as
/// peko_stats_t.dropped_queue_full.
pub const PEKO_COUNTER_DROPPED_QUEUE_FULL: u32 = 9;
/// `peko_counter`: anti-entropy messages (digests and full push-pull exchanges) handed to the
/// send path, whether or not the send then succeeded. Same as
/// peko_stats_t.anti_entropy_exchanges.
pub const PEKO_COUNTER_ANTI_ENTROPY_EXCHANGES: u32 = 10;
/// `peko_counter`: gossip rounds run since peko_join. Same as peko_stats_t.round.
pub const PEKO_COUNTER_ROUND: u32 = 11;
/// `peko_counter`: packets dropped because they were larger than a datagram or a TCP frame may
/// be (the configured `size` plus room for the member table). Part of
/// PEKO_COUNTER_DROPPED_MALFORMED.
pub const PEKO_COUNTER_DROPPED_TOO_LARGE: u32 = 12;
/// `peko_counter`: sends that failed: a datagram the OS refused, a TCP connect or write that
/// failed or timed out.
pub const PEKO_COUNTER_SEND_ERRORS: u32 = 13;
/// `peko_counter`: inbound TCP connections closed at once because 512 were already open.
pub const PEKO_COUNTER_CONNECTIONS_REFUSED: u32 = 14;
/// `peko_counter`: news of members not added because the member table was full (100000).
pub const PEKO_COUNTER_MEMBERS_REFUSED: u32 = 15;
/// `peko_counter`: membership and metadata events that never reached peko_next_event: dropped
/// from the full event queue (the `lost` of the events delivered adds up to these, plus any
/// not reported yet) or inside the library before they were queued.
pub const PEKO_COUNTER_EVENTS_LOST: u32 = 16;
/// `peko_counter`: rumors (membership and metadata news) dropped from a full rumor queue before
/// they were spread as often as planned; the periodic anti-entropy exchange repairs what they
/// carried.
pub const PEKO_COUNTER_RUMORS_DROPPED: u32 = 17;
/// `peko_counter`: requests to probe a member on another's behalf (indirect probes) refused
/// because 1024 were already pending.
pub const PEKO_COUNTER_RELAYS_REFUSED: u32 = 18;
/// `peko_counter`: UDP datagrams sent (part of PEKO_COUNTER_PACKETS_SENT).
pub const PEKO_COUNTER_UDP_DATAGRAMS_SENT: u32 = 19;
/// `peko_counter`: bytes of UDP datagrams sent (part of PEKO_COUNTER_BYTES_SENT).
pub const PEKO_COUNTER_UDP_BYTES_SENT: u32 = 20;
/// `peko_counter`: TCP frames sent (part of PEKO_COUNTER_PACKETS_SENT).
pub const PEKO_COUNTER_TCP_FRAMES_SENT: u32 = 21;
/// `peko_counter`: bytes of TCP frames sent, length prefixes included (part of
/// PEKO_COUNTER_BYTES_SENT).
pub const PEKO_COUNTER_TCP_BYTES_SENT: u32 = 22;
/// `peko_counter`: UDP datagrams received (part of PEKO_COUNTER_PACKETS_RECEIVED).
pub const PEKO_COUNTER_UDP_DATAGRAMS_RECEIVED: u32 = 23;
/// `peko_counter`: TCP frames received (part of PEKO_COUNTER_PACKETS_RECEIVED).
pub const PEKO_COUNTER_TCP_FRAMES_RECEIVED: u32 = 24;
/// `peko_counter`: bytes of the anti-entropy messages counted in
/// PEKO_COUNTER_ANTI_ENTROPY_EXCHANGES (without TCP length prefixes), whether or not the send
/// then succeeded; so not a strict part of PEKO_COUNTER_BYTES_SENT.
pub const PEKO_COUNTER_ANTI_ENTROPY_BYTES_SENT: u32 = 25;

/// Reads one of this node's counters, named by a PEKO_COUNTER_* id, into `*out`. Every counter
/// is here, those of peko_stats_t included (with the same values). Counters only grow, except
/// PEKO_COUNTER_MEMBERS_ALIVE and PEKO_COUNTER_MEMBERS_SUSPECT, which are current values. Each
/// call reads its counter at that moment: values from separate calls are not one snapshot.
/// An id this library does not know (0, or one from a newer header) is PEKO_ERR_INVALID_ARG,
/// with the id in peko_last_error; `*out` is written only on PEKO_OK. Valid before peko_join.
#[no_mangle]
pub unsafe extern "C" fn peko_counter(
    node: *mut peko_node,
    counter: u32,
    out: *mut u64,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let out = out.as_mut().ok_or_else(|| null("out"))?;
        *out = counter_value(&n.counters(), counter)?;
        Ok(())
    })
}

fn counter_value(c: &Counters, id: u32) -> Result<u64> {
    Ok(match id {
        PEKO_COUNTER_MEMBERS_ALIVE => c.members_alive,
        PEKO_COUNTER_MEMBERS_SUSPECT => c.members_suspect,
        PEKO_COUNTER_PACKETS_SENT => c.packets_sent,
        PEKO_COUNTER_BYTES_SENT => c.bytes_sent,
        PEKO_COUNTER_PACKETS_RECEIVED => c.packets_received,
        PEKO_COUNTER_BYTES_RECEIVED => c.bytes_received,
        PEKO_COUNTER_DROPPED_AUTH => c.dropped_auth,
        PEKO_COUNTER_DROPPED_MALFORMED => c.dropped_malformed,
        PEKO_COUNTER_DROPPED_QUEUE_FULL => c.dropped_queue_full,
        PEKO_COUNTER_ANTI_ENTROPY_EXCHANGES => c.anti_entropy_exchanges,
        PEKO_COUNTER_ROUND => c.round,
        PEKO_COUNTER_DROPPED_TOO_LARGE => c.dropped_too_large,
        PEKO_COUNTER_SEND_ERRORS => c.send_errors,
        PEKO_COUNTER_CONNECTIONS_REFUSED => c.connections_refused,
        PEKO_COUNTER_MEMBERS_REFUSED => c.members_refused,
        PEKO_COUNTER_EVENTS_LOST => c.events_lost,
        PEKO_COUNTER_RUMORS_DROPPED => c.rumors_dropped,
        PEKO_COUNTER_RELAYS_REFUSED => c.relays_refused,
        PEKO_COUNTER_UDP_DATAGRAMS_SENT => c.udp_datagrams_sent,
        PEKO_COUNTER_UDP_BYTES_SENT => c.udp_bytes_sent,
        PEKO_COUNTER_TCP_FRAMES_SENT => c.tcp_frames_sent,
        PEKO_COUNTER_TCP_BYTES_SENT => c.tcp_bytes_sent,
        PEKO_COUNTER_UDP_DATAGRAMS_RECEIVED => c.udp_datagrams_received,
        PEKO_COUNTER_TCP_FRAMES_RECEIVED => c.tcp_frames_received,
        PEKO_COUNTER_ANTI_ENTROPY_BYTES_SENT => c.anti_entropy_bytes_sent,
        _ => {
            return Err(Error::invalid(format!(
                "counter {id} is not a PEKO_COUNTER_* id this library knows \
                 (it knows {PEKO_COUNTER_MEMBERS_ALIVE} to {PEKO_COUNTER_LAST})"
            )))
        }
    })
}

/// The highest id `counter_value` knows (not exported: a program's copy would go stale).
const PEKO_COUNTER_LAST: u32 = PEKO_COUNTER_ANTI_ENTROPY_BYTES_SENT;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each field set to the id the header documents for it: a swapped arm in `counter_value`
    /// reads another field's id.
    #[test]
    fn every_counter_id_reads_its_own_field() {
        let c = Counters {
            members_alive: 1,
            members_suspect: 2,
            packets_sent: 3,
            bytes_sent: 4,
            packets_received: 5,
            bytes_received: 6,
            dropped_auth: 7,
            dropped_malformed: 8,
            dropped_queue_full: 9,
            anti_entropy_exchanges: 10,
            round: 11,
            dropped_too_large: 12,
            send_errors: 13,
            connections_refused: 14,
            members_refused: 15,
            events_lost: 16,
            rumors_dropped: 17,
            relays_refused: 18,
            udp_datagrams_sent: 19,
            udp_bytes_sent: 20,
            tcp_frames_sent: 21,
            tcp_bytes_sent: 22,
            udp_datagrams_received: 23,
            tcp_frames_received: 24,
            anti_entropy_bytes_sent: 25,
        };
        for id in 1..=PEKO_COUNTER_LAST {
            assert_eq!(counter_value(&c, id).ok(), Some(id as u64), "id {id}");
        }
        assert!(counter_value(&c, 0).is_err());
        assert!(counter_value(&c, PEKO_COUNTER_LAST + 1).is_err());
    }
}
