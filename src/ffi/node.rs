//! A member's life and list: create, add known members, join, list, stop and start, change
//! attributes, leave, free.

use super::config::{config, peko_config};
use super::{
    attr, boundary, c_string, handle, null, opt_str, park_inherited, peko_node, release, Freeing,
};
use crate::driver::args;
use crate::driver::Node;
use crate::error::*;
use crate::proto::Attributes;
use std::ffi::{c_char, CString};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

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

/// A `peko_node_info` as an address and attributes; which addresses and sizes are accepted is
/// `Node`'s to decide.
pub(super) unsafe fn member(
    info: *const peko_node_info,
    what: &str,
) -> Result<(SocketAddr, Attributes)> {
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
        *out = Box::into_raw(Box::new(peko_node::new(node)));
        Ok(())
    })
}

/// Adds a known member, before or after peko_join. It is listed at once and dropped after
/// timeout_ms if it is never heard from; while no exchange has brought this member the
/// cluster's table yet (joining: a seed that is down looks like one too busy to answer), after
/// 3 × timeout_ms. It
/// is asked again meanwhile, each retry waiting twice as long (up to 30 cycles). Setting the
/// local member itself does nothing.
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
/// A second call is PEKO_ERR_STATE. Without a secret_key it logs one warning (see peko_set_log)
/// naming the port: anyone who can reach it can forge membership and metadata.
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
/// handle. Must be the last call on the handle: no call may start after it returns. NULL does
/// nothing.
/// Calls on the handle still running in other threads are not waited for before the member is
/// closed: they return soon, and the memory is released only once they have returned. A
/// peko_next_event that waits returns PEKO_ERR_STATE at once. A peko_join either had bound
/// before the close (it returns PEKO_OK and peko_free closes what it bound) or returns
/// PEKO_ERR_STATE; so do peko_set, peko_start, peko_stop, peko_leave, peko_publish and
/// peko_update that had not changed the member yet, and every call started while peko_free runs.
/// Called from inside a peko_set_log callback, it returns at once without waiting: a library
/// thread closes the member right away, as above (the call on this handle the callback runs
/// under, if any, goes on against a closed member), and releases the memory once every call on
/// the handle has returned. The port becomes free shortly after, not on return (when the line
/// came from this member's own background work, not before the callback has returned).
/// In a fork() child, on a handle inherited from the parent, it only lets go of the handle:
/// nothing of the parent's is touched, and the memory stays until the child exits or execs
/// (releasing it would take the parent's sockets out of the reactor both processes share).
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
        if (*node).freeing.swap(true, Ordering::SeqCst) {
            // Already being freed (a free deferred from a logger has not finished yet).
            return Ok(());
        }
        if !crate::log::in_callback() {
            release(node);
            return Ok(());
        }
        // From inside the logger: the line being logged may come from this member's own task,
        // or from a call on this handle that is still running below us; closing here would wait
        // for ourselves. Another thread frees it once those have returned.
        let handle = Freeing(node);
        std::thread::Builder::new()
            .name("pekonode-free".into())
            .spawn(move || {
                let handle = handle;
                release(handle.0)
            })
            .map(drop)
            .map_err(|e| {
                Error::io(format!(
                    "cannot start the thread that frees the member from the logger: {e}"
                ))
            })
    });
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
