//! Membership and metadata events, pulled with `peko_next_event` or waited for on a descriptor.

use super::node::peko_node_info;
use super::{boundary, c_string, handle, null, peko_node};
use crate::driver::events::{Kind, UserEvent};
use crate::error::*;
use std::ffi::{c_char, c_int, CString};

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
/// Returns PEKO_ERR_TIMEOUT when none came, and PEKO_ERR_STATE at once when peko_free is called
/// on the handle from another thread while it waits (peko_free waits for it to return). Free
/// the event's strings with peko_event_clear. Events come in the order they happened.
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
        match n.next_event(std::time::Duration::from_millis(timeout_ms as u64))? {
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
