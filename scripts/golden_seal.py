#!/usr/bin/env python3
"""The sealed golden frames of src/wire/tests/golden.rs and stream.rs, computed from
docs/protocol.md's layout with an implementation independent of ours: HKDF-SHA256 from the
standard library's hmac, XChaCha20-Poly1305 from libsodium (PyNaCl). Not part of `make test`
(PyNaCl is not a build dependency): run it by hand when the sealed format changes on purpose,
`pip install pynacl && python3 scripts/golden_seal.py`, and compare with the constants there."""
import hashlib
import hmac

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt as seal

SALT = b"pekonode v4 salt"
KEY_INFO = b"pekonode v4 frame key"
ID_INFO = b"pekonode v4 key id"
LABEL_CONTEXT = b"pekonode label\0"
STAMP = 0x0000_018C_2A5F_0000  # ms since the epoch, fixed for the goldens
# The nonce: the send time, then 16 random bytes (fixed for the goldens: 00 01 .. 0f).
NONCE = STAMP.to_bytes(8, "big") + bytes(range(16))


def hkdf(secret, info, n):
    prk = hmac.new(SALT, secret, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:n]


def label_tag(label):
    return hashlib.sha256(LABEL_CONTEXT + label).digest()[:4]


def datagram(plain_frame, secret, label=b""):
    """A plain version-4 datagram frame (magic, version, type, flags 0, body) sealed."""
    key = hkdf(secret, KEY_INFO, 32)
    flags = 1 | (2 if label else 0)
    header = plain_frame[:4] + bytes([flags])
    if label:
        header += label_tag(label)
    header += NONCE
    body = plain_frame[5:]
    return header + seal(body, header + label, NONCE, key)


def stream(plain_frame, secret, label=b""):
    """A plain version-4 stream frame (magic, version, type, flags 0, length, body) sealed."""
    key = hkdf(secret, KEY_INFO, 32)
    flags = 1 | (2 if label else 0)
    header = plain_frame[:4] + bytes([flags]) + plain_frame[5:9]
    if label:
        header += label_tag(label)
    header += NONCE
    header_nonce = bytes([NONCE[0] ^ 0x80]) + NONCE[1:]
    header_tag = seal(b"", header + label, header_nonce, key)
    body = plain_frame[9:]
    return header + header_tag + seal(body, header + label, NONCE, key)


# The plain frames: "ping" of GOLDEN_MESSAGES and the stream "nack" of stream.rs.
PING = bytes.fromhex(
    "504b0400000001000a000001fb0a1f0120010db8000000000000000000000007fb0a1f0200000a00"
    "0001fb0a1f03057765622d31067a6f6e653d6101000a00000150fb2c010120010db8000000000000"
    "000000000007fb0a1f"
)
NACK_STREAM = bytes.fromhex("504b0407000000000e07fcfeffffff000a000001fb0a1f")

print("key id of \"golden\":", hkdf(b"golden", ID_INFO, 8).hex())
print("ping sealed:", datagram(PING, b"golden").hex())
print("ping sealed, label \"prod\":", datagram(PING, b"golden", b"prod").hex())
print("nack stream sealed:", stream(NACK_STREAM, b"golden").hex())
print("nack stream sealed, label \"prod\":", stream(NACK_STREAM, b"golden", b"prod").hex())
