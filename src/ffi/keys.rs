//! Encryption: the keyring, the sealing mode and the cluster label.
//!
//! A member configured with `secret_key` holds that key as its primary and seals every frame
//! (PEKO_ENCRYPTION_REQUIRE). Keys can change while the cluster runs: install the new key on
//! every member, then use it on every member, then remove the old one; every installed key opens
//! frames meanwhile, so no member stops hearing another. A cluster running without keys is
//! switched to them in three steps, each done on every member before the next: install a key
//! (members still send plain frames and now accept sealed ones, PEKO_ENCRYPTION_ACCEPT), then
//! PEKO_ENCRYPTION_SEND, then PEKO_ENCRYPTION_REQUIRE.

use super::{boundary, handle, null, opt_str, peko_node};
use crate::error::*;
use crate::wire::SealMode;
use std::ffi::c_char;

/// `peko_encryption_set`: send plain frames; accept plain and sealed ones. The mode of a member
/// started without a key.
pub const PEKO_ENCRYPTION_ACCEPT: u32 = 1;
/// `peko_encryption_set`: send sealed frames; still accept plain ones. Needs a key.
pub const PEKO_ENCRYPTION_SEND: u32 = 2;
/// `peko_encryption_set`: send sealed frames and accept only sealed ones. Needs a key. The mode
/// of a member configured with `secret_key`.
pub const PEKO_ENCRYPTION_REQUIRE: u32 = 3;
/// Most keys a keyring holds (each frame no key opens is tried against all of them).
pub const PEKO_KEYS_MAX: u32 = 8;
/// Longest cluster label, bytes.
pub const PEKO_LABEL_MAX: u32 = 255;
/// The length of a key id `peko_key_list` writes (16 hex digits), without its NUL.
pub const PEKO_KEY_ID_LEN: u32 = 16;

/// A key argument: a non-empty UTF-8 string.
unsafe fn key_arg(key: *const c_char) -> Result<String> {
    match opt_str(key, "key")? {
        None => Err(null("key")),
        Some(k) if k.is_empty() => Err(Error::invalid("the key is empty")),
        Some(k) => Ok(k),
    }
}

/// A keyring call: `f` on the node with the key argument.
unsafe fn with_key(
    node: *mut peko_node,
    key: *const c_char,
    f: fn(&crate::driver::Node, &str) -> Result<()>,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        f(&n, &key_arg(key)?)
    })
}

/// Installs `key` (a secret, as `peko_config.secret_key`) in the keyring: frames sealed with it
/// open from now on. Installing a key already there changes nothing. The first key a member
/// without keys installs becomes its primary, but it keeps sending plain frames
/// (PEKO_ENCRYPTION_ACCEPT) until peko_encryption_set says otherwise. A full keyring
/// (PEKO_KEYS_MAX keys) is PEKO_ERR_STATE. Valid any time before peko_free; the key is copied.
#[no_mangle]
pub unsafe extern "C" fn peko_key_install(node: *mut peko_node, key: *const c_char) -> peko_status {
    with_key(node, key, crate::driver::Node::key_install)
}

/// Makes the installed `key` the primary: every frame this member sends is sealed with it from
/// now on (when it seals at all). A key not installed is PEKO_ERR_INVALID_ARG.
#[no_mangle]
pub unsafe extern "C" fn peko_key_use(node: *mut peko_node, key: *const c_char) -> peko_status {
    with_key(node, key, crate::driver::Node::key_use)
}

/// Removes the installed `key`: frames sealed with it no longer open. The primary cannot be
/// removed (PEKO_ERR_STATE: use another key first); a key not installed is PEKO_ERR_INVALID_ARG.
#[no_mangle]
pub unsafe extern "C" fn peko_key_remove(node: *mut peko_node, key: *const c_char) -> peko_status {
    with_key(node, key, crate::driver::Node::key_remove)
}

/// Lists the installed keys by id: 16 lower-case hex digits derived from each key (they name a
/// key without revealing it; `peko_key_id` gives a key's id), the primary first, each ended by
/// '\n', then a NUL, into `buf`; the bytes the list takes, NUL included, into `*out_len`. With
/// `buf` NULL or `cap` too small it returns PEKO_ERR_BUFFER_TOO_SMALL, still setting `*out_len`
/// (at most PEKO_KEYS_MAX * (PEKO_KEY_ID_LEN + 1) + 1). No keys: "" (`*out_len` 1).
#[no_mangle]
pub unsafe extern "C" fn peko_key_list(
    node: *mut peko_node,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let out_len = out_len.as_mut().ok_or_else(|| null("out_len"))?;
        let text: String = n.key_list().iter().map(|id| format!("{id}\n")).collect();
        *out_len = text.len() + 1;
        if buf.is_null() || cap < text.len() + 1 {
            return Err(Error::new(
                PEKO_ERR_BUFFER_TOO_SMALL,
                format!(
                    "the list takes {} bytes, the buffer holds {}",
                    text.len() + 1,
                    if buf.is_null() { 0 } else { cap }
                ),
            ));
        }
        std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), buf, text.len());
        *buf.add(text.len()) = 0;
        Ok(())
    })
}

/// Writes the id `peko_key_list` gives `key` (PEKO_KEY_ID_LEN hex digits and a NUL) into `buf`,
/// which holds at least PEKO_KEY_ID_LEN + 1 bytes (else PEKO_ERR_BUFFER_TOO_SMALL).
#[no_mangle]
pub unsafe extern "C" fn peko_key_id(
    key: *const c_char,
    buf: *mut c_char,
    cap: usize,
) -> peko_status {
    boundary(|| {
        let key = key_arg(key)?;
        let id = crate::wire::Key::id_of(&key);
        if buf.is_null() || cap < id.len() + 1 {
            return Err(Error::new(
                PEKO_ERR_BUFFER_TOO_SMALL,
                format!("a key id takes {} bytes with its NUL", id.len() + 1),
            ));
        }
        std::ptr::copy_nonoverlapping(id.as_ptr().cast::<c_char>(), buf, id.len());
        *buf.add(id.len()) = 0;
        Ok(())
    })
}

/// Sets how this member treats plain frames, at any time: PEKO_ENCRYPTION_ACCEPT,
/// PEKO_ENCRYPTION_SEND or PEKO_ENCRYPTION_REQUIRE (see each). SEND and REQUIRE without a key
/// installed are PEKO_ERR_STATE; any other value is PEKO_ERR_INVALID_ARG.
#[no_mangle]
pub unsafe extern "C" fn peko_encryption_set(node: *mut peko_node, mode: u32) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let mode = match mode {
            PEKO_ENCRYPTION_ACCEPT => SealMode::Accept,
            PEKO_ENCRYPTION_SEND => SealMode::Send,
            PEKO_ENCRYPTION_REQUIRE => SealMode::Require,
            m => {
                return Err(Error::invalid(format!(
                    "encryption mode {m} is none of ACCEPT (1), SEND (2), REQUIRE (3)"
                )))
            }
        };
        n.set_seal_mode(mode)
    })
}

/// Writes this member's encryption mode (a PEKO_ENCRYPTION_* value) into `*out_mode`.
#[no_mangle]
pub unsafe extern "C" fn peko_encryption_get(
    node: *mut peko_node,
    out_mode: *mut u32,
) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let out = out_mode.as_mut().ok_or_else(|| null("out_mode"))?;
        *out = match n.seal_mode() {
            SealMode::Accept => PEKO_ENCRYPTION_ACCEPT,
            SealMode::Send => PEKO_ENCRYPTION_SEND,
            SealMode::Require => PEKO_ENCRYPTION_REQUIRE,
        };
        Ok(())
    })
}

/// Sets the cluster label, between peko_new and peko_join (PEKO_ERR_STATE after): frames from
/// members with another label, or with none, are dropped and counted
/// (PEKO_COUNTER_DROPPED_LABEL), with or without keys, so clusters that share a network stay
/// apart. Sealed frames bind the whole label into their authentication. NULL or "" = no label.
/// At most PEKO_LABEL_MAX bytes of UTF-8; copied.
#[no_mangle]
pub unsafe extern "C" fn peko_label_set(node: *mut peko_node, label: *const c_char) -> peko_status {
    boundary(|| {
        let n = handle(node)?;
        let label = opt_str(label, "label")?.unwrap_or_default();
        n.set_label(&label)
    })
}
