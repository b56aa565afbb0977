//! A node's keyring, sealing mode and cluster label: what `peko_key_*`, `peko_encryption_set`
//! and `peko_label_set` forward to. The keys live in `Shared` (`Shared::key`), swapped whole on a
//! change, so frames sealed or opened meanwhile use the old set or the new one, never a mix.

use super::node::Node;
use crate::error::{Error, Result};
use crate::wire::{self, KeyError, SealMode};

fn key_error(e: KeyError) -> Error {
    match e {
        KeyError::Empty | KeyError::Unknown => Error::invalid(e.to_string()),
        KeyError::Full | KeyError::Primary | KeyError::NoKey => Error::state(e.to_string()),
    }
}

impl Node {
    /// Installs `secret` in the keyring (already there: nothing changes): frames sealed with it
    /// open from now on. The first key installed becomes the primary; a member started without a
    /// key keeps sending plain frames until `set_seal_mode`. At most `wire::KEYS_MAX` keys.
    pub fn key_install(&self, secret: &str) -> Result<()> {
        self.change_keyring("peko_key_install", secret, "installed", wire::Key::install)
    }

    /// Makes the installed `secret` the primary: what we send is sealed with it from now on.
    pub fn key_use(&self, secret: &str) -> Result<()> {
        self.change_keyring(
            "peko_key_use",
            secret,
            "now the primary:",
            wire::Key::use_key,
        )
    }

    /// Removes the installed `secret` (never the primary): frames sealed with it no longer open.
    pub fn key_remove(&self, secret: &str) -> Result<()> {
        self.change_keyring("peko_key_remove", secret, "removed", wire::Key::remove)
    }

    /// Applies `change` with `secret` to the keyring (`call` names the C function for a closed
    /// member's error), then logs the key's id and `what` happened to it.
    fn change_keyring(
        &self,
        call: &str,
        secret: &str,
        what: &str,
        change: fn(&mut wire::Key, &str) -> std::result::Result<(), KeyError>,
    ) -> Result<()> {
        self.open(call)?;
        self.native_only(call)?;
        self.shared()
            .change_key(|k| change(k, secret))
            .map_err(key_error)?;
        self.shared().log.info(
            "Keys",
            format_args!("key {} {what}", wire::Key::id_of(secret)),
        );
        Ok(())
    }

    /// The installed keys' ids (`wire::Key::list`), the primary first.
    pub fn key_list(&self) -> Vec<String> {
        self.shared().key().list()
    }

    /// Sets how plain frames are treated (`SealMode`); `Send` and `Require` need a key.
    pub fn set_seal_mode(&self, mode: SealMode) -> Result<()> {
        self.open("peko_encryption_set")?;
        self.native_only("peko_encryption_set")?;
        self.shared()
            .change_key(|k| k.set_mode(mode))
            .map_err(key_error)?;
        self.shared()
            .log
            .info("Keys", format_args!("encryption mode now {mode:?}"));
        Ok(())
    }

    pub fn seal_mode(&self) -> SealMode {
        self.shared().key().mode()
    }

    /// Sets the cluster label (before `join`): frames of other labels are dropped and counted,
    /// with or without keys. Empty: none. At most `wire::LABEL_MAX` bytes.
    pub fn set_label(&self, label: &str) -> Result<()> {
        if label.len() > wire::LABEL_MAX {
            return Err(Error::invalid(format!(
                "the label is {} bytes, more than {}",
                label.len(),
                wire::LABEL_MAX
            )));
        }
        self.before_join("peko_label_set")?;
        self.native_only("peko_label_set")?;
        self.shared().change_key(|k| {
            k.set_label(label);
            Ok(())
        })
    }
}
