//! Status codes (shared with C) and the error type every fallible call returns.

/// Result of every fallible call; `PEKO_OK` (0) is success. A `uint32_t` in C.
#[allow(non_camel_case_types)]
pub type peko_status = u32;

/// Success.
pub const PEKO_OK: peko_status = 0;
/// A required pointer argument was NULL.
pub const PEKO_ERR_NULL_ARG: peko_status = 1;
/// An argument was out of range, not UTF-8, or not an IP address literal.
pub const PEKO_ERR_INVALID_ARG: peko_status = 2;
/// The call does not fit the handle's state (for example a second `peko_join`).
pub const PEKO_ERR_STATE: peko_status = 3;
/// A socket could not be bound or used; `peko_last_error` says why.
pub const PEKO_ERR_IO: peko_status = 4;
/// The caller's buffer is too small; the needed length was written to the length out-pointer.
pub const PEKO_ERR_BUFFER_TOO_SMALL: peko_status = 5;
/// The data is longer than the configured `size`.
pub const PEKO_ERR_TOO_LARGE: peko_status = 6;
/// A bug inside the library was caught at the boundary; the handle may be unusable.
pub const PEKO_ERR_PANIC: peko_status = 7;
/// Nothing happened within the time given (`peko_next_event`, `peko_leave`).
pub const PEKO_ERR_TIMEOUT: peko_status = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: peko_status,
    pub message: String,
}

impl Error {
    pub fn new(status: peko_status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(PEKO_ERR_INVALID_ARG, message)
    }
    pub fn state(message: impl Into<String>) -> Error {
        Error::new(PEKO_ERR_STATE, message)
    }
    pub fn io(message: impl Into<String>) -> Error {
        Error::new(PEKO_ERR_IO, message)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
