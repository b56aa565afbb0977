"""Low-level ctypes layer: finds and loads libpekonode, mirrors the C structures of
include/pekonode.h and declares argtypes/restype for every exported function.

Nothing here is friendly; use :class:`pekonode.Node`. The names follow the C header so the
header's documentation applies unchanged (``pekonode._lib.lib.peko_get`` is ``peko_get``).

Where the library is found, first match wins:

1. ``$PEKONODE_LIB`` when set: a value containing ``/`` is a path and must name a file that
   loads; any other value is a soname handed to the system loader (``PEKONODE_LIB=
   libpekonode.so.0``). It is an explicit choice: if it fails, that is an ImportError naming
   it, with no fallback.
2. The library bundled in the package: ``libpekonode*.so`` next to this file. The platform
   wheel (``pip install ./bindings/python`` builds it) carries it under the name setuptools-rust
   gives it, ``libpekonode.cpython-3XX-<platform>.so``; a file named ``libpekonode.so`` there
   comes first.
3. Only when the package sits in a source checkout (``<checkout>/bindings/python/pekonode``):
   the checkout's ``target/release/libpekonode.so`` (``make lib``).
4. The system loader: ``libpekonode.so.0`` (after ``make install``; found through ldconfig's
   cache or ``LD_LIBRARY_PATH``).

When none loads, the ImportError lists what was tried and how to fix it for the way the
package was installed. ``LIB_PATH`` is the file loaded (for a soname, the file the loader
chose).

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
from typing import Callable, List, Mapping, Optional, Tuple

ENV_VAR = "PEKONODE_LIB"
LIB_NAME = "libpekonode.so"
SONAME = "libpekonode.so.0"
PACKAGE_DIR = Path(__file__).resolve().parent

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

PEKO_COMPAT_NATIVE = 0
PEKO_COMPAT_GO_PEKONODE = 1

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
    "peko_compat_set": (peko_status, [peko_node_p, c_uint32]),
    "peko_compat_get": (peko_status, [peko_node_p, POINTER(c_uint32)]),
}


# ---- finding and loading the library ---------------------------------------------------------


def bundled_libraries(package_dir: Path) -> List[Path]:
    """The library files in the package directory: libpekonode.so first, then any other
    libpekonode*.so (the wheel's is named like an extension module, with Python's suffix)."""
    exact = package_dir / LIB_NAME
    others = sorted(p for p in package_dir.glob("libpekonode*.so") if p != exact)
    return [p for p in [exact, *others] if p.is_file()]


def checkout_root(package_dir: Path) -> Optional[Path]:
    """The source checkout the package sits in (<root>/bindings/python/pekonode), or None."""
    root = package_dir.parent.parent.parent
    if (package_dir.parent.name == "python" and package_dir.parent.parent.name == "bindings"
            and (root / "Cargo.toml").is_file()):
        return root
    return None


def candidates(environ: Optional[Mapping[str, str]] = None,
               package_dir: Optional[Path] = None) -> List[Tuple[str, str]]:
    """The places searched, in order, as (what it is, path or soname); a path contains '/',
    anything else goes to the system loader."""
    environ = os.environ if environ is None else environ
    package_dir = PACKAGE_DIR if package_dir is None else Path(package_dir)
    explicit = environ.get(ENV_VAR)
    if explicit:
        return [(f"${ENV_VAR}", explicit)]  # the user's choice: never fall back behind their back
    out = [("bundled with the package", str(p)) for p in bundled_libraries(package_dir)]
    root = checkout_root(package_dir)
    if root is not None:
        out.append(("this source checkout", str(root / "target" / "release" / LIB_NAME)))
    out.append(("system loader: ldconfig's cache, LD_LIBRARY_PATH", SONAME))
    return out


class _DlInfo(Structure):
    _fields_ = [("dli_fname", c_char_p), ("dli_fbase", c_void_p),
                ("dli_sname", c_char_p), ("dli_saddr", c_void_p)]


def _loaded_from(dll: ctypes.CDLL, name: str) -> Path:
    """The file behind `dll`: `name` itself when it is a path, else the file the system loader
    chose for the soname (dladdr on one of its functions)."""
    if "/" in name:
        return Path(name)
    try:
        dladdr = ctypes.CDLL(None).dladdr
        dladdr.argtypes = [c_void_p, POINTER(_DlInfo)]
        dladdr.restype = c_int
        info = _DlInfo()
        if dladdr(ctypes.cast(dll.peko_version, c_void_p), ctypes.byref(info)) and info.dli_fname:
            return Path(os.fsdecode(info.dli_fname))
    except (AttributeError, OSError, TypeError, ctypes.ArgumentError):
        pass
    return Path(name)


def _load_explicit(value: str, loader: Callable[[str], ctypes.CDLL]) -> Tuple[ctypes.CDLL, Path]:
    if "/" in value:
        if not os.path.isfile(value):
            raise ImportError(
                f"pekonode: {ENV_VAR}={value!r} does not name a file; set it to the path of "
                f"{LIB_NAME} or to a soname the system loader finds (e.g. {SONAME}), or unset it"
            )
        try:
            return loader(value), Path(value)
        except OSError as e:
            raise ImportError(f"pekonode: cannot load {ENV_VAR}={value!r}: {e}") from e
    try:
        dll = loader(value)
    except OSError as e:
        raise ImportError(
            f"pekonode: the system loader cannot load {ENV_VAR}={value!r} (a value without '/' "
            f"is a soname, looked up in ldconfig's cache and LD_LIBRARY_PATH; a path needs a "
            f"'/'): {e}"
        ) from e
    return dll, _loaded_from(dll, value)


def _not_found(package_dir: Path, tried: List[str]) -> str:
    root = checkout_root(package_dir)
    if root is not None:
        fix = (f"Build it with `make lib` in {root} (target/release/{LIB_NAME}), or install it "
               f"system-wide with `make install`, or set {ENV_VAR} to its path or soname.")
    else:
        if bundled_libraries(package_dir):
            have = "The library bundled with this package did not load (above)."
        else:
            have = (f"This installation of pekonode carries no library ({package_dir} holds no "
                    f"libpekonode*.so): it was not installed from the platform wheel.")
        fix = (f"{have} Install the platform wheel (`python3 -m pip install ./bindings/python` "
               f"in a pekonode checkout builds it, with cargo), or install the C library with "
               f"`make install` (then ldconfig, or LD_LIBRARY_PATH), or set {ENV_VAR} to the "
               f"library's path or soname.")
    return "pekonode: cannot load libpekonode. Tried, in order:\n" + "\n".join(tried) + "\n" + fix


def _load(environ: Optional[Mapping[str, str]] = None, package_dir: Optional[Path] = None,
          loader: Callable[[str], ctypes.CDLL] = ctypes.CDLL) -> Tuple[ctypes.CDLL, Path]:
    """Loads the first candidate that loads; `loader` is ctypes.CDLL (the tests pass their own).
    CDLL, not PyDLL: the GIL is released during every call."""
    environ = os.environ if environ is None else environ
    package_dir = PACKAGE_DIR if package_dir is None else Path(package_dir)
    explicit = environ.get(ENV_VAR)
    if explicit:
        return _load_explicit(explicit, loader)
    tried = []
    for how, what in candidates(environ, package_dir):
        if "/" in what and not os.path.isfile(what):
            tried.append(f"  {what} ({how}): not found")
            continue
        try:
            dll = loader(what)
        except OSError as e:
            tried.append(f"  {what} ({how}): {e}")
            continue
        return dll, _loaded_from(dll, what)
    raise ImportError(_not_found(package_dir, tried))


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
