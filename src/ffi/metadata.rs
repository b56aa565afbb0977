//! The cluster metadata: publish it, read it.

use super::{boundary, handle, null, peko_node};
use crate::error::*;

/// Replaces the cluster metadata everywhere; the newest publish wins at every member. The bytes
/// are copied. `data` may be NULL only when `len` is 0. More than `size` bytes is
/// PEKO_ERR_TOO_LARGE. PEKO_OK means the new version is newer than every version this member
/// holds or has seen, so it replaces the metadata here and wins at every member it reaches; a
/// publish that cannot be newer (the clock is at its top) is PEKO_ERR_STATE and changes nothing.
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
