//! Sealing: the keyring, the cluster label and the AEAD every sealed frame goes through.
//!
//! A sealed frame's body is encrypted and authenticated with XChaCha20-Poly1305 under a key
//! derived from the user's secret with HKDF-SHA256 (fixed salt and context strings: the secret
//! itself never travels, nor does anything derived from it but tags). Each frame's 24-byte nonce
//! is its send time (milliseconds since the epoch, 8 bytes) followed by 16 fresh random bytes:
//! 128 random bits per millisecond cannot collide in any cluster's lifetime, where AES-GCM's and
//! ChaCha20-Poly1305's 96-bit random nonces would reach the 2^32-frames-per-key bound in days at
//! a thousand members (~15,000 datagrams a second), and the send time the replay check needs
//! costs no byte of its own: a changed nonce does not open. ChaCha20 also runs in constant time
//! without AES instructions, which not every host a C library lands on has.
//!
//! The associated data is the frame's header (the nonce included) followed by the cluster label:
//! a frame from another label never opens, and one whose header was changed in flight neither. A plain frame (no key, or a cluster being switched to keys,
//! `SealMode`) carries the label's 4-byte tag instead, so clusters that share a network without
//! keys stay apart too. A receiver drops a sealed frame whose send time is further than its
//! window (`Key::window_ms`) from its own clock, either way: a replay, or a clock that is off.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

/// Bytes of a sealed frame's nonce: its send time (`STAMP_LEN`), then random bytes...
pub const NONCE_LEN: usize = 24;
/// ...of the send time, milliseconds since the Unix epoch, big-endian...
pub const STAMP_LEN: usize = 8;
/// ...of its Poly1305 tag (a stream frame has two: its header's and its body's)...
pub const TAG_LEN: usize = 16;
/// ...and of the label's tag in any frame of a labeled member.
pub const LABEL_TAG_LEN: usize = 4;
/// What sealing adds to a frame's header: the nonce.
pub const SEAL_HEADER_LEN: usize = NONCE_LEN;
/// The random part of a nonce.
pub const NONCE_RANDOM_LEN: usize = NONCE_LEN - STAMP_LEN;
/// Longest cluster label, bytes.
pub const LABEL_MAX: usize = 255;
/// Most keys a keyring holds: a frame no key opens costs at most this many tries.
pub const KEYS_MAX: usize = 8;
/// The replay window's floor, and its length in probe intervals above that (`Key::window_ms`).
/// A frame is sealed when it is queued, and a stream frame may wait up to 5 s in its
/// connection's write queue (`driver::stream`'s write timeout): the floor leaves as much again
/// for clock skew and a receiver that reads late.
pub const WINDOW_MIN_MS: u64 = 10_000;
pub const WINDOW_PROBE_INTERVALS: u64 = 5;

const HKDF_SALT: &[u8] = b"pekonode v4 salt";
const KEY_CONTEXT: &[u8] = b"pekonode v4 frame key";
const ID_CONTEXT: &[u8] = b"pekonode v4 key id";
const LABEL_CONTEXT: &[u8] = b"pekonode label\0";

/// How a member with keys treats plain frames: the three steps of switching a running cluster
/// to keys (or back) without a member ever failing to hear another, as memberlist's
/// verify-incoming and verify-outgoing settings do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealMode {
    /// Send plain frames; accept plain and sealed ones.
    Accept,
    /// Send sealed frames; still accept plain ones.
    Send,
    /// Send sealed frames and accept only sealed ones: the mode of a member configured with a
    /// secret.
    Require,
}

/// One key of a keyring: the cipher keyed from a secret, and an id that names it in lists
/// without saying anything of the key.
#[derive(Clone)]
struct SealKey {
    cipher: XChaCha20Poly1305,
    id: [u8; 8],
}

impl SealKey {
    fn derive(secret: &[u8]) -> SealKey {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
        let mut okm = [0u8; 32];
        let mut id = [0u8; 8];
        // Both lengths are far below HKDF-SHA256's limit (255 x 32 bytes).
        hk.expand(KEY_CONTEXT, &mut okm).expect("32 bytes");
        hk.expand(ID_CONTEXT, &mut id).expect("8 bytes");
        SealKey {
            cipher: XChaCha20Poly1305::new(&okm.into()),
            id,
        }
    }
}

/// Why a keyring refused a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// An empty secret.
    Empty,
    /// `KEYS_MAX` keys are installed already.
    Full,
    /// The secret is not installed.
    Unknown,
    /// The primary key cannot be removed: use another first.
    Primary,
    /// `Send` or `Require` with no key installed.
    NoKey,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyError::Empty => "the key is empty",
            KeyError::Full => "the keyring is full (8 keys): remove one first",
            KeyError::Unknown => "the key is not installed",
            KeyError::Primary => "the key is the primary: use another one before removing it",
            KeyError::NoKey => "no key is installed: install one first",
        })
    }
}

/// A member's keys, sealing mode, cluster label and replay window: everything a frame is sealed
/// with or checked against. Cloned for each change (the driver swaps the whole of it), so a
/// frame is sealed or opened under one consistent set.
#[derive(Clone)]
pub struct Key {
    /// The primary (which seals) first; all are tried to open.
    ring: Vec<SealKey>,
    mode: SealMode,
    label: Option<Label>,
    window_ms: u64,
}

#[derive(Clone)]
struct Label {
    bytes: Vec<u8>,
    tag: [u8; LABEL_TAG_LEN],
}

impl Key {
    /// A keyring holding `secret` as its primary, requiring sealed frames; with no secret (or an
    /// empty one) none, accepting plain frames only until a key is installed. No label.
    pub fn new(secret: Option<&str>) -> Key {
        let ring: Vec<SealKey> = match secret {
            None | Some("") => Vec::new(),
            Some(s) => vec![SealKey::derive(s.as_bytes())],
        };
        Key {
            mode: if ring.is_empty() {
                SealMode::Accept
            } else {
                SealMode::Require
            },
            ring,
            label: None,
            window_ms: WINDOW_MIN_MS,
        }
    }

    /// The same, with the cluster label `label` (an empty one is none). The caller bounds its
    /// length (`LABEL_MAX`).
    pub fn with_label(mut self, label: &str) -> Key {
        self.set_label(label);
        self
    }

    /// Sets the cluster label (an empty one is none). The caller bounds its length.
    pub fn set_label(&mut self, label: &str) {
        self.label = (!label.is_empty()).then(|| Label {
            bytes: label.as_bytes().to_vec(),
            tag: label_tag(label.as_bytes()),
        });
    }

    /// The same, with the replay window for a member probing every `probe_interval_ms`:
    /// `WINDOW_PROBE_INTERVALS` of them, at least `WINDOW_MIN_MS`.
    pub fn with_window(mut self, probe_interval_ms: u64) -> Key {
        self.window_ms = probe_interval_ms
            .saturating_mul(WINDOW_PROBE_INTERVALS)
            .max(WINDOW_MIN_MS);
        self
    }

    /// How far a sealed frame's send time may be from our clock, either way.
    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }

    pub fn mode(&self) -> SealMode {
        self.mode
    }

    /// Whether frames we send are sealed.
    pub fn seals(&self) -> bool {
        !self.ring.is_empty() && self.mode != SealMode::Accept
    }

    /// Whether a plain frame is accepted.
    fn accepts_plain(&self) -> bool {
        self.ring.is_empty() || self.mode != SealMode::Require
    }

    fn position(&self, id: &[u8; 8]) -> Option<usize> {
        self.ring.iter().position(|k| k.id == *id)
    }

    fn position_of(&self, secret: &str) -> Option<usize> {
        self.position(&SealKey::derive(secret.as_bytes()).id)
    }

    /// Installs `secret` (already installed: nothing changes). The first key installed becomes
    /// the primary; a member without keys keeps sending plain frames (`SealMode::Accept`) until
    /// told otherwise.
    pub fn install(&mut self, secret: &str) -> Result<(), KeyError> {
        if secret.is_empty() {
            return Err(KeyError::Empty);
        }
        let key = SealKey::derive(secret.as_bytes());
        if self.position(&key.id).is_some() {
            return Ok(());
        }
        if self.ring.len() >= KEYS_MAX {
            return Err(KeyError::Full);
        }
        self.ring.push(key);
        Ok(())
    }

    /// Makes the installed `secret` the primary, which seals what we send.
    pub fn use_key(&mut self, secret: &str) -> Result<(), KeyError> {
        let at = self.position_of(secret).ok_or(KeyError::Unknown)?;
        let k = self.ring.remove(at);
        self.ring.insert(0, k);
        Ok(())
    }

    /// Removes the installed `secret`; never the primary.
    pub fn remove(&mut self, secret: &str) -> Result<(), KeyError> {
        match self.position_of(secret) {
            None => Err(KeyError::Unknown),
            Some(0) => Err(KeyError::Primary),
            Some(at) => {
                self.ring.remove(at);
                Ok(())
            }
        }
    }

    pub fn set_mode(&mut self, mode: SealMode) -> Result<(), KeyError> {
        if mode != SealMode::Accept && self.ring.is_empty() {
            return Err(KeyError::NoKey);
        }
        self.mode = mode;
        Ok(())
    }

    /// The installed keys' ids (16 hex digits, derived from the key: they name it without
    /// revealing it), the primary first.
    pub fn list(&self) -> Vec<String> {
        self.ring.iter().map(|k| hex(&k.id)).collect()
    }

    /// The id `list` gives the key of `secret`.
    pub fn id_of(secret: &str) -> String {
        hex(&SealKey::derive(secret.as_bytes()).id)
    }

    /// The label's tag, when we have a label.
    pub(super) fn label_tag(&self) -> Option<&[u8; LABEL_TAG_LEN]> {
        self.label.as_ref().map(|l| &l.tag)
    }

    /// Checks the label part of a frame: `tag` is the tag the frame carries (`None` when its
    /// flags say it has none).
    pub(super) fn label_matches(&self, tag: Option<&[u8]>) -> bool {
        match (&self.label, tag) {
            (None, None) => true,
            (Some(l), Some(t)) => l.tag[..] == *t,
            _ => false,
        }
    }

    /// What a frame is sealed with, when we seal: the primary key.
    pub(super) fn sealer(&self) -> Option<Sealer<'_>> {
        self.seals().then(|| Sealer {
            key: &self.ring[0],
            label: self.label_bytes(),
        })
    }

    fn label_bytes(&self) -> &[u8] {
        self.label.as_ref().map_or(&[], |l| &l.bytes)
    }

    /// Whether a frame sealed (`sealed`) or not may be opened at all: plain ones only when
    /// accepted, sealed ones only with a key.
    pub(super) fn admits(&self, sealed: bool) -> bool {
        if sealed {
            !self.ring.is_empty()
        } else {
            self.accepts_plain()
        }
    }

    /// Opens `ct` in place (`tag` its Poly1305 tag) with each key in turn, the primary first;
    /// the key that opened it, or `None`.
    fn opening_key(
        &self,
        header: &[u8],
        nonce: &[u8],
        ct: &mut [u8],
        tag: &[u8],
    ) -> Option<&SealKey> {
        let label = self.label_bytes();
        self.ring
            .iter()
            .find(|k| open_with(k, label, header, nonce, ct, tag))
    }

    /// Opens `ct` in place, as `opening_key`; whether a key opened it (a datagram).
    pub(super) fn open(&self, header: &[u8], nonce: &[u8], ct: &mut [u8], tag: &[u8]) -> bool {
        self.opening_key(header, nonce, ct, tag).is_some()
    }

    /// Opens `ct` in place, as `opening_key`; what opened it, to open the body of the same
    /// stream frame, or `None`.
    pub(super) fn opener(
        &self,
        header: &[u8],
        nonce: &[u8],
        ct: &mut [u8],
        tag: &[u8],
    ) -> Option<Opener> {
        let k = self.opening_key(header, nonce, ct, tag)?;
        Some(Opener {
            key: k.clone(),
            label: self.label_bytes().to_vec(),
        })
    }
}

/// Lower-case hex, for key ids.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `tag` and decrypts `ct` in place under `k` (left as it was when the tag is wrong).
fn open_with(
    k: &SealKey,
    label: &[u8],
    header: &[u8],
    nonce: &[u8],
    ct: &mut [u8],
    tag: &[u8],
) -> bool {
    if tag.len() != TAG_LEN || nonce.len() != NONCE_LEN {
        return false;
    }
    with_ad(header, label, |ad| {
        k.cipher
            .decrypt_in_place_detached(XNonce::from_slice(nonce), ad, ct, tag.into())
            .is_ok()
    })
}

/// The label's tag: the first 4 bytes of SHA-256 over a context string and the label.
fn label_tag(label: &[u8]) -> [u8; LABEL_TAG_LEN] {
    let mut h = Sha256::new();
    h.update(LABEL_CONTEXT);
    h.update(label);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Runs `f` on the associated data of a frame: its header, then the label. On the stack when it
/// fits (a header is at most 37 bytes, a label set through `Node` at most `LABEL_MAX`).
fn with_ad<T>(header: &[u8], label: &[u8], f: impl FnOnce(&[u8]) -> T) -> T {
    let mut buf = [0u8; 64 + LABEL_MAX];
    let n = header.len() + label.len();
    if n > buf.len() {
        return f(&[header, label].concat());
    }
    buf[..header.len()].copy_from_slice(header);
    buf[header.len()..n].copy_from_slice(label);
    f(&buf[..n])
}

/// The primary key and the label, borrowed to seal one frame.
pub(super) struct Sealer<'a> {
    key: &'a SealKey,
    label: &'a [u8],
}

impl Sealer<'_> {
    /// Encrypts `body` in place under `nonce`, with `header` (and the label) as associated data;
    /// the tag.
    pub(super) fn seal(&self, header: &[u8], nonce: &[u8], body: &mut [u8]) -> [u8; TAG_LEN] {
        with_ad(header, self.label, |ad| {
            self.key
                .cipher
                .encrypt_in_place_detached(XNonce::from_slice(nonce), ad, body)
                .expect("a frame is far below XChaCha20-Poly1305's length limit")
                .into()
        })
    }
}

/// The key a stream frame's header opened with, kept to open its body.
#[derive(Clone)]
pub(super) struct Opener {
    key: SealKey,
    label: Vec<u8>,
}

impl Opener {
    /// Checks `tag` and decrypts `ct` in place (left as it was when the tag is wrong).
    pub(super) fn open(&self, header: &[u8], nonce: &[u8], ct: &mut [u8], tag: &[u8]) -> bool {
        open_with(&self.key, &self.label, header, nonce, ct, tag)
    }
}

/// Fresh random bytes for a nonce.
pub(super) fn nonce_random() -> [u8; NONCE_RANDOM_LEN] {
    // The thread's CSPRNG (ChaCha12, seeded from the OS and reseeded): a system call per
    // frame would cost more than sealing it.
    let mut n = [0u8; NONCE_RANDOM_LEN];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut n);
    n
}

/// The nonce of a frame sent at `stamp` (ms since the epoch) with `random` bytes.
pub(super) fn nonce_at(stamp: u64, random: &[u8; NONCE_RANDOM_LEN]) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..STAMP_LEN].copy_from_slice(&stamp.to_be_bytes());
    n[STAMP_LEN..].copy_from_slice(random);
    n
}

/// Milliseconds since the Unix epoch by the wall clock (0 before it).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
