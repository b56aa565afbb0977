//! The host's logger.

use super::boundary;
use crate::error::*;
use std::ffi::{c_char, c_void};

/// `peko_set_log` level: errors and warnings (lines tagged [Warning], such as the one
/// peko_join logs when the member has no secret_key).
pub const PEKO_LOG_ERROR: u32 = 0;
/// `peko_set_log` level: errors, warnings and the informational lines of the console log.
pub const PEKO_LOG_INFO: u32 = 1;

/// A host logger for `peko_set_log`: called with the userdata given there, the line's level and
/// the line (valid only during the call). Called from the library's threads, and also on the
/// calling thread inside peko_set, peko_join, peko_stop, peko_start, peko_update, peko_leave,
/// peko_publish and peko_free (so do not hold a lock there that the logger takes); never while a
/// library lock is held, so it may call back into the library. peko_free called from it returns
/// at once: a library thread closes the member right away, even while the callback (and the call
/// it runs under) is still running, and releases it once no call on it runs (see peko_free).
pub type peko_log_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: u32, line: *const c_char)>;

/// Sends the library's log lines (of every node in the process) to `callback` instead of the
/// console: lines at `level` or more severe (PEKO_LOG_ERROR or PEKO_LOG_INFO; with
/// PEKO_LOG_INFO the informational lines come even for nodes whose is_print is false).
/// `callback` NULL restores the console. `userdata` is passed back untouched. Whatever the
/// network does, each member logs at most 5 error lines and 50 lines of member news ([Join],
/// [Update], [Failed], [Leave], [Metadata], [PushPull]) per 10 s, plus one line each at the next
/// window saying how many were held back; the rest is one [List] line per cycle (with
/// PEKO_LOG_INFO) and a line per call that changes something. When this returns,
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
