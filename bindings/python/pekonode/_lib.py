"""Low-level ctypes layer: finds and loads libpekonode.so, mirrors the C structures of
include/pekonode.h and declares argtypes/restype for every exported function.

Nothing here is friendly; use :class:`pekonode.Node`. The names follow the C header so the
header's documentation applies unchanged (``pekonode._lib.lib.peko_get`` is ``peko_get``).

Where the library is found, first match wins:

1. ``$PEKONODE_LIB``: the full path of the shared library (an explicit override; if it is set
   but the file cannot be loaded, that is an error, with no silent fallback);
2. ``libpekonode.so`` next to this file (a wheel or an installed copy ships it there);
3. ``target/release/libpekonode.so`` of the source checkout this package sits in
   (``bindings/python/pekonode/`` -> ``../../../target/release/``), after ``cargo build --release``.

ctypes.CDLL (not PyDLL) releases the GIL around every foreign call, so blocking calls
(peko_join, peko_next_event, peko_leave, peko_free) let other Python threads run.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_int,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import List, Tuple

ENV_VAR = "PEKONODE_LIB"
LIB_NAME = "libpekonode.so"

# ---- constants (pekonode.h) ------------------------------------------------------------------

PEKO_PROTOCOL_UDP = 0
PEKO_PROTOCOL_TCP = 1

PEKO_EVENT_JOINED = 1
PEKO_EVENT_LEFT = 2
PEKO_EVENT_FAILED = 3
PEKO_EVENT_UPDATED = 4
PEKO_EVENT_METADATA = 5

PEKO_LOG_ERROR = 0
PEKO_LOG_INFO = 1

# peko_counter ids (ABI: never renumbered); the header documents each.
PEKO_COUNTER_MEMBERS_ALIVE = 1
PEKO_COUNTER_MEMBERS_SUSPECT = 2
PEKO_COUNTER_PACKETS_SENT = 3
PEKO_COUNTER_BYTES_SENT = 4
PEKO_COUNTER_PACKETS_RECEIVED = 5
PEKO_COUNTER_BYTES_RECEIVED = 6
PEKO_COUNTER_DROPPED_AUTH = 7
PEKO_COUNTER_DROPPED_MALFORMED = 8
PEKO_COUNTER_DROPPED_QUEUE_FULL = 9
PEKO_COUNTER_ANTI_ENTROPY_EXCHANGES = 10
PEKO_COUNTER_ROUND = 11
PEKO_COUNTER_DROPPED_TOO_LARGE = 12
PEKO_COUNTER_SEND_ERRORS = 13
PEKO_COUNTER_CONNECTIONS_REFUSED = 14
PEKO_COUNTER_MEMBERS_REFUSED = 15
PEKO_COUNTER_EVENTS_LOST = 16
PEKO_COUNTER_RUMORS_DROPPED = 17
PEKO_COUNTER_RELAYS_REFUSED = 18
PEKO_COUNTER_UDP_DATAGRAMS_SENT = 19
PEKO_COUNTER_UDP_BYTES_SENT = 20
PEKO_COUNTER_TCP_FRAMES_SENT = 21
PEKO_COUNTER_TCP_BYTES_SENT = 22
PEKO_COUNTER_UDP_DATAGRAMS_RECEIVED = 23
PEKO_COUNTER_TCP_FRAMES_RECEIVED = 24
PEKO_COUNTER_ANTI_ENTROPY_BYTES_SENT = 25
PEKO_COUNTER_CONNECTIONS_EVICTED = 26
PEKO_COUNTER_INCARNATIONS_IMPLAUSIBLE = 27
PEKO_COUNTER_CLOCKS_IMPLAUSIBLE = 28
PEKO_COUNTER_INTRODUCTIONS_REFUSED = 29
PEKO_COUNTER_ANNOUNCES_IGNORED = 30
PEKO_COUNTER_DROPPED_REPLAY = 31
PEKO_COUNTER_DROPPED_LABEL = 32

PEKO_ENCRYPTION_ACCEPT = 1
PEKO_ENCRYPTION_SEND = 2
PEKO_ENCRYPTION_REQUIRE = 3
PEKO_KEYS_MAX = 8
PEKO_LABEL_MAX = 255
PEKO_KEY_ID_LEN = 16

PEKO_OK = 0
PEKO_ERR_NULL_ARG = 1
PEKO_ERR_INVALID_ARG = 2
PEKO_ERR_STATE = 3
PEKO_ERR_IO = 4
PEKO_ERR_BUFFER_TOO_SMALL = 5
PEKO_ERR_TOO_LARGE = 6
PEKO_ERR_PANIC = 7
PEKO_ERR_TIMEOUT = 8

# ---- structures (field order and types are ABI) ----------------------------------------------

peko_status = c_uint32


class peko_node(Structure):
    """Opaque handle; only ever used through a pointer."""


peko_node_p = POINTER(peko_node)


class peko_config(Structure):
    _fields_ = [
        ("amount", c_uint32),
        ("cycle_ms", c_uint32),
        ("buffer", c_uint32),
        ("size", c_uint32),
        ("timeout_ms", c_uint32),
        ("secret_key", c_char_p),
        ("protocol", c_uint32),
        ("listen_addr", c_char_p),
        ("is_print", c_bool),
    ]


class peko_node_info(Structure):
    _fields_ = [
        ("addr", c_char_p),
        ("port", c_uint16),
        ("name", c_char_p),
        ("private_data", c_char_p),
    ]


class peko_event(Structure):
    _fields_ = [
        ("kind", c_uint32),
        ("member", peko_node_info),
        ("lost", c_uint64),
    ]


class peko_stats_t(Structure):
    _fields_ = [
        ("members_alive", c_uint64),
        ("members_suspect", c_uint64),
        ("packets_sent", c_uint64),
        ("bytes_sent", c_uint64),
        ("packets_received", c_uint64),
        ("bytes_received", c_uint64),
        ("dropped_auth", c_uint64),
        ("dropped_malformed", c_uint64),
        ("dropped_queue_full", c_uint64),
        ("anti_entropy_exchanges", c_uint64),
        ("round", c_uint64),
    ]


# typedef void (*peko_log_fn)(void *userdata, uint32_t level, const char *line);
# `line` is declared c_void_p, not c_char_p, so ctypes hands the callback the raw pointer and
# the wrapper decides how to read it (it is valid only during the call).
peko_log_fn = CFUNCTYPE(None, c_void_p, c_uint32, c_void_p)

# name -> (restype, argtypes), for every function the header exports.
PROTOTYPES = {
    "peko_config_default": (None, [POINTER(peko_config)]),
    "peko_new": (peko_status, [POINTER(peko_config), POINTER(peko_node_info), POINTER(peko_node_p)]),
    "peko_set": (peko_status, [peko_node_p, POINTER(peko_node_info)]),
    "peko_join": (peko_status, [peko_node_p]),
    "peko_get": (peko_status, [peko_node_p, POINTER(POINTER(peko_node_info)), POINTER(c_size_t)]),
    "peko_nodes_free": (None, [POINTER(peko_node_info), c_size_t]),
    "peko_publish": (peko_status, [peko_node_p, POINTER(c_uint8), c_size_t]),
    "peko_read": (peko_status, [peko_node_p, POINTER(c_uint8), c_size_t, POINTER(c_size_t)]),
    "peko_stop": (peko_status, [peko_node_p]),
    "peko_start": (peko_status, [peko_node_p]),
    "peko_local_port": (peko_status, [peko_node_p, POINTER(c_uint16)]),
    "peko_free": (None, [peko_node_p]),
    "peko_status_str": (c_char_p, [peko_status]),
    # buf is a char* output: a create_string_buffer(...) or None.
    "peko_last_error": (c_size_t, [POINTER(c_char), c_size_t]),
    "peko_version": (c_char_p, []),
    "peko_next_event": (peko_status, [peko_node_p, c_uint32, POINTER(peko_event)]),
    "peko_event_clear": (None, [POINTER(peko_event)]),
    "peko_event_fd": (c_int, [peko_node_p]),
    "peko_leave": (peko_status, [peko_node_p, c_uint32]),
    "peko_update": (peko_status, [peko_node_p, c_char_p, c_char_p]),
    "peko_set_log": (peko_status, [peko_log_fn, c_void_p, c_uint32]),
    "peko_stats": (peko_status, [peko_node_p, POINTER(peko_stats_t)]),
    "peko_counter": (peko_status, [peko_node_p, c_uint32, POINTER(c_uint64)]),
    "peko_key_install": (peko_status, [peko_node_p, c_char_p]),
    "peko_key_use": (peko_status, [peko_node_p, c_char_p]),
    "peko_key_remove": (peko_status, [peko_node_p, c_char_p]),
    # buf is a char* output: a create_string_buffer(...) or None.
    "peko_key_list": (peko_status, [peko_node_p, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "peko_key_id": (peko_status, [c_char_p, POINTER(c_char), c_size_t]),
    "peko_encryption_set": (peko_status, [peko_node_p, c_uint32]),
    "peko_encryption_get": (peko_status, [peko_node_p, POINTER(c_uint32)]),
    "peko_label_set": (peko_status, [peko_node_p, c_char_p]),
}


# ---- finding and loading the library ---------------------------------------------------------


def candidates() -> List[Tuple[str, Path]]:
    """The places searched, in order, as (how it was found, path)."""
    out: List[Tuple[str, Path]] = []
    env = os.environ.get(ENV_VAR)
    if env:
        out.append((f"${ENV_VAR}", Path(env)))
        return out  # an explicit choice: never fall back behind the user's back
    here = Path(__file__).resolve().parent
    out.append(("next to the package", here / LIB_NAME))
    out.append(("source checkout", here.parent.parent.parent / "target" / "release" / LIB_NAME))
    return out


def _load() -> Tuple[ctypes.CDLL, Path]:
    tried = []
    for how, path in candidates():
        if how.startswith("$"):
            if not path.is_file():
                raise ImportError(
                    f"pekonode: {ENV_VAR}={str(path)!r} does not name a file; set it to the full "
                    f"path of {LIB_NAME} (build it with `cargo build --release`) or unset it"
                )
        elif not path.is_file():
            tried.append(f"  {path} ({how}): not found")
            continue
        try:
            # CDLL: the GIL is released during every call (PyDLL would keep it).
            return ctypes.CDLL(str(path)), path
        except OSError as e:
            if how.startswith("$"):
                raise ImportError(f"pekonode: cannot load {ENV_VAR}={str(path)!r}: {e}") from e
            tried.append(f"  {path} ({how}): {e}")
    raise ImportError(
        f"pekonode: cannot find {LIB_NAME}. Set {ENV_VAR} to its full path, put it next to the "
        f"package, or run `cargo build --release` in the pekonode checkout. Tried:\n"
        + "\n".join(tried)
    )


def _declare(dll: ctypes.CDLL) -> None:
    missing = []
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(dll, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise ImportError(
            f"pekonode: {LIB_PATH} lacks {', '.join(missing)}; it is older than these bindings"
        )


lib, LIB_PATH = _load()
_declare(lib)


def last_error() -> str:
    """This thread's last error message (call it right after the failing call)."""
    n = lib.peko_last_error(None, 0)
    if n == 0:
        return ""
    buf = ctypes.create_string_buffer(n + 1)
    lib.peko_last_error(buf, n + 1)
    return buf.value.decode("utf-8", "replace")


def status_str(status: int) -> str:
    s = lib.peko_status_str(status)
    return s.decode("utf-8", "replace") if s else "unknown status"
