//! What a status means, this thread's last error message, and the library's version.

use super::LAST_ERROR;
use crate::error::*;
use std::ffi::{c_char, CStr};

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
