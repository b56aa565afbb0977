//! The C boundary: converts and forwards to `driver::Node`; no protocol logic here. It checks
//! only what C alone can get wrong (NULL pointers, non-UTF-8 strings, integers that name no
//! value); the argument rules (address policy, sizes) are `Node`'s (`driver::args`), so Rust and
//! C callers get the same errors. Every exported body runs under `boundary`, so a panic becomes
//! `PEKO_ERR_PANIC` and every failure leaves a message for `peko_last_error`. Outputs are written
//! only on success.
//!
//! This file holds what every export shares: the handle (and what a fork child may do with
//! it), the panic boundary with the per-thread error message, and C string conversion. The
//! exports are grouped by topic: `config.rs` (peko_config, peko_new's settings), `node.rs` (a
//! member's life and list), `metadata.rs`, `keys.rs` (the keyring, the encryption mode, the label), `events.rs`, `log.rs`, `counters.rs` (peko_stats and
//! peko_counter), `status.rs` (status names, the last error, the version); `layout.rs` pins the
//! v1 struct layouts.

// The exports by topic. cbindgen reads them in this order, which is the header's: keep the
// blank lines, so rustfmt does not sort them.
mod config;

mod node;

mod metadata;

mod keys;

mod status;

mod events;

mod log;

mod counters;

mod layout;

pub use config::*;
pub use counters::*;
pub use events::*;
pub use keys::*;
pub use log::*;
pub use metadata::*;
pub use node::*;
pub use status::*;

use crate::driver::Node;
use crate::error::*;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A cluster member created by `peko_new`. Opaque; free it with `peko_free`.
pub struct peko_node {
    node: Node,
    /// The process that made it: after fork() the child has a copy of the handle but none of the
    /// library's threads, so every call there is refused.
    pid: u32,
    /// Calls running on this handle now, on any thread: `peko_free` releases the memory only
    /// once none is left (a thread waiting in peko_next_event, a call whose logger freed it).
    calls: AtomicUsize,
    /// Set by `peko_free`: a call that starts from then on is refused.
    freeing: AtomicBool,
}

impl peko_node {
    fn new(node: Node) -> peko_node {
        peko_node {
            node,
            pid: std::process::id(),
            calls: AtomicUsize::new(0),
            freeing: AtomicBool::new(false),
        }
    }
}

/// One call on a handle, counted while it runs; derefs to the `Node`.
struct Call<'a>(&'a peko_node);

impl std::ops::Deref for Call<'_> {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.0.node
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        self.0.calls.fetch_sub(1, Ordering::SeqCst);
    }
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

/// The handle behind `node`, counted as in use until the returned call is dropped.
unsafe fn handle<'a>(node: *mut peko_node) -> Result<Call<'a>> {
    let n = node.as_ref().ok_or_else(|| null("node"))?;
    if n.pid != std::process::id() {
        return Err(Error::state(format!(
            "this handle belongs to process {} and cannot be used in this one after fork() \
             (the library's threads did not come along); peko_free is the only call it takes",
            n.pid
        )));
    }
    // Counted before `freeing` is read, and `peko_free` sets `freeing` before it reads the
    // count (both SeqCst): either this call sees `freeing`, or `peko_free` waits for it.
    n.calls.fetch_add(1, Ordering::SeqCst);
    let call = Call(n);
    if n.freeing.load(Ordering::SeqCst) {
        return Err(Error::state("peko_free has been called on this handle"));
    }
    Ok(call)
}

/// `peko_free`'s work: closes the member, waits until no call on the handle is running, then
/// releases it.
///
/// It closes first, not after the running calls have returned: a `peko_next_event` may be waiting
/// with a long timeout and a `peko_leave` for notices a dead peer will never take; closing is
/// what makes them return soon. That is safe against calls still running because `Node` decides
/// each call against the close under one lock: a `peko_join` in progress finishes and is shut
/// down by the close, one that comes later is refused, and so are `peko_start` and the others.
unsafe fn release(node: *mut peko_node) {
    let n = &*node;
    n.node.close();
    while n.calls.load(Ordering::SeqCst) > 0 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    drop(Box::from_raw(node));
}

/// A handle moved to the thread that frees it.
struct Freeing(*mut peko_node);
// SAFETY: `peko_node` is used from any thread (`Node` is Sync); the pointer is only released there.
unsafe impl Send for Freeing {}

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

/// A string for C: interior NULs (possible in names from the network) end it.
fn c_string(s: &str) -> *const c_char {
    let cut = s.split('\0').next().unwrap_or("");
    CString::new(cut).expect("no NUL after the cut").into_raw()
}
