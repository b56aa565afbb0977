"""The Python API over the C ABI: Config, Node, Member, Event, Stats, PekoError."""

from __future__ import annotations

import atexit
import ctypes
import enum
import math
import threading
import time
import weakref
from contextlib import contextmanager
from ctypes import POINTER, byref, c_size_t, c_uint8, c_uint16, c_uint64
from dataclasses import dataclass
from typing import Callable, Iterator, List, NamedTuple, Optional, Union

from . import _lib
from ._lib import lib

__all__ = [
    "Compat",
    "Config",
    "Encryption",
    "Event",
    "EventKind",
    "LogLevel",
    "Member",
    "Node",
    "PekoError",
    "Protocol",
    "Stats",
    "Status",
    "key_id",
    "lib_version",
    "set_log",
]

# Longest single wait inside the library while a Python-side wait is longer: bounds how long
# close() waits for a thread blocked in events()/next_event(), and lets Ctrl-C through.
_WAIT_SLICE_MS = 100
_U32_MAX = 0xFFFF_FFFF


class Status(enum.IntEnum):
    """peko_status codes (PEKO_OK, PEKO_ERR_*)."""

    OK = _lib.PEKO_OK
    NULL_ARG = _lib.PEKO_ERR_NULL_ARG
    INVALID_ARG = _lib.PEKO_ERR_INVALID_ARG
    STATE = _lib.PEKO_ERR_STATE
    IO = _lib.PEKO_ERR_IO
    BUFFER_TOO_SMALL = _lib.PEKO_ERR_BUFFER_TOO_SMALL
    TOO_LARGE = _lib.PEKO_ERR_TOO_LARGE
    PANIC = _lib.PEKO_ERR_PANIC
    TIMEOUT = _lib.PEKO_ERR_TIMEOUT


class EventKind(enum.IntEnum):
    """peko_event.kind."""

    JOINED = _lib.PEKO_EVENT_JOINED
    LEFT = _lib.PEKO_EVENT_LEFT
    FAILED = _lib.PEKO_EVENT_FAILED
    UPDATED = _lib.PEKO_EVENT_UPDATED
    METADATA = _lib.PEKO_EVENT_METADATA


class Protocol(enum.IntEnum):
    """peko_config.protocol."""

    UDP = _lib.PEKO_PROTOCOL_UDP
    TCP = _lib.PEKO_PROTOCOL_TCP


class Encryption(enum.IntEnum):
    """How a member treats plain frames (peko_encryption_set): the three steps of switching a
    running cluster to keys, each done on every member before the next. ACCEPT sends plain
    frames and accepts plain and sealed ones (a member without a key, or given one at run
    time); SEND sends sealed ones and still accepts plain ones; REQUIRE accepts only sealed
    ones (a member configured with a secret_key)."""

    ACCEPT = _lib.PEKO_ENCRYPTION_ACCEPT
    SEND = _lib.PEKO_ENCRYPTION_SEND
    REQUIRE = _lib.PEKO_ENCRYPTION_REQUIRE


class Compat(enum.IntEnum):
    """The protocol a Node speaks (peko_compat_set), chosen with Node.set_compat before join.
    NATIVE is pekonode's own (the default). GO_PEKONODE speaks only the JSON packets of the Go
    library github.com/dpwgc/pekonode, so the member can join a running cluster of Go nodes and
    replace them one at a time; members in this mode also form a cluster among themselves. Its
    packets are plain JSON carrying the MD5 of Config.secret_key in clear (anyone who sees one
    can join); key_install, key_use, key_remove, set_encryption and set_label raise PekoError
    STATE in that mode, and leave only goes silent."""

    NATIVE = _lib.PEKO_COMPAT_NATIVE
    GO_PEKONODE = _lib.PEKO_COMPAT_GO_PEKONODE


class LogLevel(enum.IntEnum):
    """peko_set_log levels."""

    ERROR = _lib.PEKO_LOG_ERROR
    INFO = _lib.PEKO_LOG_INFO


def _enum(cls, value: int):
    try:
        return cls(value)
    except ValueError:  # a newer library may add codes; keep the number
        return value


class PekoError(Exception):
    """A call into libpekonode failed.

    ``status`` is the :class:`Status` (a plain int for a code this module does not know),
    ``message`` the library's ``peko_last_error`` text, fetched on the failing thread right
    after the failing call, and ``call`` the C function's name.
    """

    def __init__(self, status: int, message: str = "", call: str = "") -> None:
        self.status = _enum(Status, status)
        self.message = message or _lib.status_str(status)
        self.call = call
        super().__init__(self.status, self.message, call)

    def __str__(self) -> str:
        s = self.status
        name = s.name if isinstance(s, Status) else str(s)
        return f"{self.call + ': ' if self.call else ''}{self.message} [{name}]"


def _check(status: int, call: str) -> None:
    if status != _lib.PEKO_OK:
        # Same thread, nothing in between: the thread-local message is this call's.
        raise PekoError(status, _lib.last_error(), call)


def _closed_error(call: str) -> PekoError:
    return PekoError(Status.STATE, "the node is closed", call)


def _cstr(value: Union[str, bytes, None], what: str, *, none_ok: bool = True) -> Optional[bytes]:
    """A str/bytes argument as NUL-free UTF-8 bytes for a `const char *`."""
    if value is None:
        if none_ok:
            return None
        raise TypeError(f"{what} must be a str, not None")
    if isinstance(value, str):
        b = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray)):
        b = bytes(value)
    else:
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if b"\0" in b:
        # C strings end at the first NUL: refuse rather than silently truncate.
        raise ValueError(f"{what} contains a NUL character")
    return b


def _port(port: int, what: str = "port") -> int:
    port = int(port)
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"{what} {port} is outside 0..65535")
    return port


def _ms(seconds: float) -> int:
    """Seconds (float) to a uint32 of milliseconds, rounded up, clamped."""
    if seconds is None or math.isinf(seconds):
        return _U32_MAX
    if math.isnan(seconds) or seconds <= 0:
        return 0
    return min(_U32_MAX, math.ceil(seconds * 1000))


def _text(b: Optional[bytes]) -> str:
    return b.decode("utf-8", "replace") if b else ""


def key_id(key: str) -> str:
    """The id Node.key_list gives ``key``: 16 hex digits derived from it, which name a key
    without revealing it."""
    k = _cstr(key, "key", none_ok=False)
    buf = ctypes.create_string_buffer(_lib.PEKO_KEY_ID_LEN + 1)
    _check(lib.peko_key_id(k, buf, len(buf)), "peko_key_id")
    return buf.value.decode("ascii")


def lib_version() -> str:
    """The loaded library's version (peko_version)."""
    return _text(lib.peko_version())


# ---- value types -------------------------------------------------------------------------------


@dataclass
class Config:
    """peko_config. A field left at None keeps peko_config_default's value (amount 3,
    cycle_ms 500, buffer 256, size 16384, timeout_ms 0 = 5000 or 10 x cycle_ms when that is
    longer (the rule every binding shares: README, "Configuration"), no key, UDP, wildcard
    listen address, no console log). See include/pekonode.h for ranges.

    ``listen_addr=None`` binds the wildcard address (0.0.0.0 / ::); give ``"127.0.0.1"`` to
    stay on loopback."""

    amount: Optional[int] = None
    cycle_ms: Optional[int] = None
    buffer: Optional[int] = None
    size: Optional[int] = None
    timeout_ms: Optional[int] = None
    secret_key: Optional[str] = None
    protocol: Union[Protocol, int, str, None] = None
    listen_addr: Optional[str] = None
    is_print: Optional[bool] = None

    def _to_c(self) -> _lib.peko_config:
        c = _lib.peko_config()
        lib.peko_config_default(byref(c))
        for f in ("amount", "cycle_ms", "buffer", "size", "timeout_ms"):
            v = getattr(self, f)
            if v is not None:
                v = int(v)
                if not 0 <= v <= _U32_MAX:
                    raise ValueError(f"Config.{f} {v} is outside 0..{_U32_MAX}")
                setattr(c, f, v)
        if self.protocol is not None:
            p = self.protocol
            if isinstance(p, str):
                try:
                    p = Protocol[p.upper()]
                except KeyError:
                    raise ValueError(f"Config.protocol {self.protocol!r} is neither 'udp' nor 'tcp'") from None
            c.protocol = int(p)
        # The structure keeps the bytes objects alive; peko_new copies them.
        c.secret_key = _cstr(self.secret_key, "Config.secret_key")
        c.listen_addr = _cstr(self.listen_addr, "Config.listen_addr")
        if self.is_print is not None:
            c.is_print = bool(self.is_print)
        return c


class Member(NamedTuple):
    """A cluster member (peko_node_info)."""

    addr: str
    port: int
    name: str = ""
    private_data: str = ""


class Event(NamedTuple):
    """A membership or metadata event (peko_event). For METADATA, ``member`` is the publisher
    (address and port only); read the new value with Node.read(). ``lost`` counts events
    dropped before this one because the library's queue (1024) was full."""

    kind: Union[EventKind, int]
    member: Member
    lost: int = 0


class Stats(NamedTuple):
    """A node's counters: the fields of peko_stats_t, then those read with peko_counter
    (PEKO_COUNTER_*, documented in pekonode.h)."""

    members_alive: int
    members_suspect: int
    packets_sent: int
    bytes_sent: int
    packets_received: int
    bytes_received: int
    dropped_auth: int
    dropped_malformed: int
    dropped_queue_full: int
    anti_entropy_exchanges: int
    round: int
    # peko_counter only:
    dropped_too_large: int = 0  # part of dropped_malformed
    send_errors: int = 0
    connections_refused: int = 0
    members_refused: int = 0
    events_lost: int = 0
    rumors_dropped: int = 0
    relays_refused: int = 0
    udp_datagrams_sent: int = 0
    udp_bytes_sent: int = 0
    tcp_frames_sent: int = 0
    tcp_bytes_sent: int = 0
    udp_datagrams_received: int = 0
    tcp_frames_received: int = 0
    anti_entropy_bytes_sent: int = 0
    connections_evicted: int = 0
    incarnations_implausible: int = 0  # news ignored: incarnation more than 2^20 ahead
    clocks_implausible: int = 0  # metadata refused: its clock more than 60 s ahead of ours
    introductions_refused: int = 0  # new members not added: introduction limits reached
    announces_ignored: int = 0  # metadata announced by datagram from an unverified sender
    dropped_replay: int = 0  # sealed frames sent further from our clock than the replay window
    dropped_label: int = 0  # frames of another cluster label (or none, or one when we have none)


# Stats fields read with peko_counter, and their ids.
_COUNTER_FIELDS = [
    (f, getattr(_lib, "PEKO_COUNTER_" + f.upper()))
    for f in Stats._fields[len(_lib.peko_stats_t._fields_):]
]


def _member(info: _lib.peko_node_info) -> Member:
    return Member(_text(info.addr), int(info.port), _text(info.name), _text(info.private_data))


def _node_info(addr, port, name, private_data) -> _lib.peko_node_info:
    return _lib.peko_node_info(
        _cstr(addr, "addr", none_ok=False),
        _port(port),
        _cstr(name, "name"),
        _cstr(private_data, "private_data"),
    )


# ---- Node --------------------------------------------------------------------------------------

_live_nodes: "weakref.WeakSet[Node]" = weakref.WeakSet()


def _free_handle(handle) -> None:
    lib.peko_free(handle)


class Node:
    """One cluster member (a peko_node handle).

    ``Node(config, addr, port=0, name="", private_data="")`` creates it (peko_new); nothing is
    bound until :meth:`join`. ``addr`` is the IP literal the others reach this member at; port 0
    lets the OS pick one at join (see :attr:`local_port`).

    Every method may be called from any thread, concurrently. :meth:`close` (also run by
    ``with`` and when the object is garbage collected or the interpreter exits) waits for calls
    in progress on other threads, then frees the handle; any later call raises PekoError with
    Status.STATE. Blocking calls release the GIL.
    """

    def __init__(
        self,
        config: Optional[Config],
        addr: str,
        port: int = 0,
        name: str = "",
        private_data: str = "",
    ) -> None:
        if config is not None and not isinstance(config, Config):
            raise TypeError(f"config must be a pekonode.Config or None, not {type(config).__name__}")
        self._cv = threading.Condition(threading.Lock())
        self._active = 0
        self._closing = True  # until the handle exists
        self._closed = True
        self._handle = None
        c = (config or Config())._to_c()
        info = _node_info(addr, port, name, private_data)
        out = _lib.peko_node_p()
        _check(lib.peko_new(byref(c), byref(info), byref(out)), "peko_new")
        self._handle = out
        self._closing = self._closed = False
        self._finalizer = weakref.finalize(self, _free_handle, out)
        self._finalizer.atexit = False  # the module's atexit hook closes live nodes in order
        _live_nodes.add(self)
        self.addr = _text(info.addr)

    # -- lifetime --------------------------------------------------------------------------

    @contextmanager
    def _use(self, call: str):
        with self._cv:
            if self._closing:
                raise _closed_error(call)
            self._active += 1
        try:
            yield self._handle
        finally:
            with self._cv:
                self._active -= 1
                if self._active == 0:
                    self._cv.notify_all()

    def close(self) -> None:
        """Leaves the cluster (the others drop this member at once), closes the sockets and
        frees the handle (peko_free). Waits for calls in progress on other threads first (a
        thread inside events() notices within 0.1 s; its iterator then ends). Idempotent."""
        with self._cv:
            if self._closing:
                while not self._closed:
                    self._cv.wait()
                return
            self._closing = True
            while self._active:
                self._cv.wait()
        try:
            self._finalizer()  # peko_free, exactly once
        finally:
            with self._cv:
                self._closed = True
                self._handle = None
                self._cv.notify_all()
            _live_nodes.discard(self)

    @property
    def closed(self) -> bool:
        return self._closing

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        return f"<pekonode.Node {self.addr} {state}>"

    # -- membership ------------------------------------------------------------------------

    def set(self, addr: str, port: int, name: str = "", private_data: str = "") -> None:
        """Adds a known member (peko_set), before or after join."""
        info = _node_info(addr, port, name, private_data)
        with self._use("peko_set") as h:
            _check(lib.peko_set(h, byref(info)), "peko_set")

    def join(self) -> None:
        """Binds UDP and TCP (a port in use raises PekoError IO) and starts gossiping
        (peko_join). A second call raises PekoError STATE."""
        with self._use("peko_join") as h:
            _check(lib.peko_join(h), "peko_join")

    def get(self) -> List[Member]:
        """The local member first, then every member believed alive (peko_get)."""
        with self._use("peko_get") as h:
            arr = POINTER(_lib.peko_node_info)()
            n = c_size_t(0)
            _check(lib.peko_get(h, byref(arr), byref(n)), "peko_get")
            try:
                return [_member(arr[i]) for i in range(n.value)]
            finally:
                lib.peko_nodes_free(arr, n)

    def stop(self) -> None:
        """Goes silent (peko_stop); the others drop this member within timeout_ms."""
        with self._use("peko_stop") as h:
            _check(lib.peko_stop(h), "peko_stop")

    def start(self) -> None:
        """Resumes after stop (peko_start)."""
        with self._use("peko_start") as h:
            _check(lib.peko_start(h), "peko_start")

    def leave(self, timeout: float = 1.0) -> bool:
        """Leaves gracefully (peko_leave): the others drop this member at once. Waits up to
        ``timeout`` seconds for the notices to reach the network; returns True if they did,
        False if some were still queued (PEKO_ERR_TIMEOUT). The member is silent afterwards;
        close() it. Before join: PekoError STATE."""
        with self._use("peko_leave") as h:
            st = lib.peko_leave(h, _ms(timeout))
            if st == _lib.PEKO_ERR_TIMEOUT:
                return False
            _check(st, "peko_leave")
            return True

    def update(self, name: str, private_data: str) -> None:
        """Replaces this member's name and private data (peko_update); the others see an
        UPDATED event."""
        n = _cstr(name, "name")
        d = _cstr(private_data, "private_data")
        with self._use("peko_update") as h:
            _check(lib.peko_update(h, n, d), "peko_update")

    @property
    def local_port(self) -> int:
        """The port bound after join (useful with port 0); the configured one before."""
        with self._use("peko_local_port") as h:
            p = c_uint16(0)
            _check(lib.peko_local_port(h, byref(p)), "peko_local_port")
            return p.value

    def stats(self) -> Stats:
        """Counters for monitoring: peko_stats, then peko_counter for the others (each read
        at its own moment, not one snapshot)."""
        with self._use("peko_stats") as h:
            s = _lib.peko_stats_t()
            _check(lib.peko_stats(h, byref(s)), "peko_stats")
            values = {f: int(getattr(s, f)) for f, _ in _lib.peko_stats_t._fields_}
            v = c_uint64(0)
            for field, counter_id in _COUNTER_FIELDS:
                _check(lib.peko_counter(h, counter_id, byref(v)), "peko_counter")
                values[field] = v.value
            return Stats(**values)

    # -- keys --------------------------------------------------------------------------------

    def key_install(self, key: str) -> None:
        """Adds ``key`` (a secret, as Config.secret_key) to the keyring: frames sealed with it
        open from now on. The first key of a member without one becomes its primary, but the
        member keeps sending plain frames (Encryption.ACCEPT) until set_encryption. At most 8
        keys (PekoError STATE beyond)."""
        k = _cstr(key, "key", none_ok=False)
        with self._use("peko_key_install") as h:
            _check(lib.peko_key_install(h, k), "peko_key_install")

    def key_use(self, key: str) -> None:
        """Makes the installed ``key`` the primary: what this member sends is sealed with it."""
        k = _cstr(key, "key", none_ok=False)
        with self._use("peko_key_use") as h:
            _check(lib.peko_key_use(h, k), "peko_key_use")

    def key_remove(self, key: str) -> None:
        """Removes the installed ``key`` (never the primary: PekoError STATE)."""
        k = _cstr(key, "key", none_ok=False)
        with self._use("peko_key_remove") as h:
            _check(lib.peko_key_remove(h, k), "peko_key_remove")

    def key_list(self) -> List[str]:
        """The installed keys' ids (key_id), the primary first."""
        with self._use("peko_key_list") as h:
            need = c_size_t(0)
            st = lib.peko_key_list(h, None, 0, byref(need))
            for _ in range(64):  # each retry means a concurrent install made it grow
                if st != _lib.PEKO_ERR_BUFFER_TOO_SMALL:
                    break
                buf = ctypes.create_string_buffer(need.value)
                st = lib.peko_key_list(h, buf, len(buf), byref(need))
                if st == _lib.PEKO_OK:
                    return buf.value.decode("ascii").split("\n")[:-1]
            _check(st, "peko_key_list")
            return []

    def set_encryption(self, mode: Union[Encryption, int, str]) -> None:
        """Sets how this member treats plain frames (an :class:`Encryption` or its name);
        SEND and REQUIRE need a key (PekoError STATE)."""
        if isinstance(mode, str):
            try:
                mode = Encryption[mode.upper()]
            except KeyError:
                raise ValueError(f"encryption mode {mode!r} is none of accept, send, require") from None
        with self._use("peko_encryption_set") as h:
            _check(lib.peko_encryption_set(h, int(mode)), "peko_encryption_set")

    @property
    def encryption(self) -> Union[Encryption, int]:
        """This member's :class:`Encryption` mode."""
        with self._use("peko_encryption_get") as h:
            v = ctypes.c_uint32(0)
            _check(lib.peko_encryption_get(h, byref(v)), "peko_encryption_get")
            return _enum(Encryption, v.value)

    def set_label(self, label: Optional[str]) -> None:
        """Sets the cluster label, before join (PekoError STATE after): frames of other labels
        (or none) are dropped and counted (Stats.dropped_label), with or without keys. At most
        255 bytes of UTF-8; None or "" for none."""
        b = _cstr(label, "label")
        with self._use("peko_label_set") as h:
            _check(lib.peko_label_set(h, b), "peko_label_set")

    # -- protocol ----------------------------------------------------------------------------

    def set_compat(self, mode: Union[Compat, int, str]) -> None:
        """Chooses the protocol (a :class:`Compat` or its name: "native", "go_pekonode" or
        "go-pekonode"), before join (PekoError STATE after). Another number is PekoError
        INVALID_ARG (ValueError beyond 32 bits, another name ValueError) and changes nothing."""
        if isinstance(mode, str):
            try:
                mode = Compat[mode.upper().replace("-", "_")]
            except KeyError:
                raise ValueError(f"compat mode {mode!r} is neither native nor go-pekonode") from None
        v = int(mode)
        if not 0 <= v <= _U32_MAX:  # ctypes would wrap it into range
            raise ValueError(f"compat mode {v} is outside 0..{_U32_MAX}")
        with self._use("peko_compat_set") as h:
            _check(lib.peko_compat_set(h, v), "peko_compat_set")

    @property
    def compat(self) -> Union[Compat, int]:
        """The :class:`Compat` protocol chosen (NATIVE unless set_compat changed it)."""
        with self._use("peko_compat_get") as h:
            v = ctypes.c_uint32(0)
            _check(lib.peko_compat_get(h, byref(v)), "peko_compat_get")
            return _enum(Compat, v.value)

    # -- metadata --------------------------------------------------------------------------

    def publish(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Replaces the cluster metadata everywhere (peko_publish). Any bytes, NULs included;
        more than Config.size bytes raises PekoError TOO_LARGE."""
        if isinstance(data, str):
            raise TypeError("publish takes bytes, not str (encode it first)")
        mv = memoryview(data)
        if not mv.c_contiguous:
            mv = memoryview(mv.tobytes())
        buf = (c_uint8 * mv.nbytes).from_buffer_copy(mv)
        with self._use("peko_publish") as h:
            _check(lib.peko_publish(h, buf if len(buf) else None, len(buf)), "peko_publish")

    def read(self) -> bytes:
        """The local copy of the cluster metadata (b"" if nothing was published). Two-call
        read: asks peko_read for the length, then reads into a buffer that large (again if a
        concurrent publish made it grow in between)."""
        with self._use("peko_read") as h:
            need = c_size_t(0)
            st = lib.peko_read(h, None, 0, byref(need))  # 1st call: the length
            if st == _lib.PEKO_OK:
                return b""  # OK with no buffer: the metadata is empty
            for _ in range(64):  # each retry means a concurrent publish made it grow
                if st != _lib.PEKO_ERR_BUFFER_TOO_SMALL:
                    break
                buf = (c_uint8 * need.value)()
                got = c_size_t(0)
                st = lib.peko_read(h, buf, need.value, byref(got))  # 2nd call: the bytes
                if st == _lib.PEKO_OK:
                    return ctypes.string_at(buf, got.value)
                need = got  # BUFFER_TOO_SMALL wrote the new length
            _check(st, "peko_read")
            raise AssertionError("unreachable")

    # -- events ----------------------------------------------------------------------------

    def _next_event(self, timeout: Optional[float], end_if_closed: bool):
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            if deadline is None:
                wait_ms = _WAIT_SLICE_MS
            else:
                wait_ms = min(_WAIT_SLICE_MS, _ms(deadline - time.monotonic()))
            try:
                with self._use("peko_next_event") as h:
                    ev = _lib.peko_event()
                    st = lib.peko_next_event(h, wait_ms, byref(ev))
                    if st == _lib.PEKO_OK:
                        try:
                            return Event(_enum(EventKind, ev.kind), _member(ev.member), int(ev.lost))
                        finally:
                            lib.peko_event_clear(byref(ev))
                    if st != _lib.PEKO_ERR_TIMEOUT:
                        _check(st, "peko_next_event")
            except PekoError as e:
                if end_if_closed and self._closing and e.status == Status.STATE:
                    return _CLOSED
                raise
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, waiting up to ``timeout`` seconds (None: until one comes, 0: do
        not wait); None when none came in time."""
        return self._next_event(timeout, end_if_closed=False)

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Iterates over events (peko_next_event) as they come. The iterator ends when no
        event came for ``timeout`` seconds (None: never; 0: after draining what is pending,
        the pattern to use after event_fd() polls readable) or when the node is closed."""
        while True:
            ev = self._next_event(timeout, end_if_closed=True)
            if ev is None or ev is _CLOSED:
                return
            yield ev

    def event_fd(self) -> int:
        """A descriptor readable while events are pending, for select/poll/selectors/asyncio
        (e.g. ``loop.add_reader(node.event_fd(), ...)``), then drain with
        ``events(timeout=0)``. Owned by the node: never read, write or close it, and stop
        watching it before close()."""
        with self._use("peko_event_fd") as h:
            fd = lib.peko_event_fd(h)
            if fd < 0:
                raise PekoError(Status.IO, _lib.last_error(), "peko_event_fd")
            return fd


_CLOSED = object()


# ---- logging (opt-in) ----------------------------------------------------------------------

# Every callback ever registered stays referenced: the library may still be running an old one
# on its own thread right after peko_set_log replaced it, so its thunk must never be freed.
_log_callbacks: list = []
_log_set = False


def set_log(callback: Optional[Callable[[int, str], None]], level: int = LogLevel.ERROR) -> None:
    """Sends the library's log lines (every node in the process) to ``callback(level, line)``
    instead of the console (peko_set_log); ``None`` restores the console.

    WARNING: the callback runs on the library's own network threads (two, shared by every
    node in the process). Each call has to take the GIL, so a slow callback, or a Python
    thread that holds the GIL for long, stalls gossip and failure detection for every node.
    Keep it short (append to a queue.SimpleQueue, or hand it to ``logging``); exceptions it
    raises are swallowed. The sink is reset to the console at interpreter exit. Not used
    unless called."""
    global _log_set
    if callback is None:
        fn = _lib.peko_log_fn()  # NULL: back to the console
    else:
        user = callback

        def trampoline(_userdata, lvl, line):
            try:
                text = ctypes.string_at(line).decode("utf-8", "replace") if line else ""
                user(int(lvl), text)
            except BaseException:  # noqa: BLE001 - must not unwind into Rust
                pass

        fn = _lib.peko_log_fn(trampoline)
        _log_callbacks.append(fn)
    _check(lib.peko_set_log(fn, None, int(level)), "peko_set_log")
    _log_set = callback is not None


@atexit.register
def _at_exit() -> None:
    for node in list(_live_nodes):
        try:
            node.close()
        except Exception:  # noqa: BLE001
            pass
    if _log_set:
        lib.peko_set_log(_lib.peko_log_fn(), None, _lib.PEKO_LOG_ERROR)
