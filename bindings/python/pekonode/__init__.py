"""pekonode: gossip membership and cluster metadata (Python bindings over libpekonode's C ABI).

    import pekonode

    cfg = pekonode.Config(cycle_ms=200, listen_addr="127.0.0.1")
    with pekonode.Node(cfg, "127.0.0.1", 0, name="web-1", private_data="role=web") as node:
        node.set("127.0.0.1", 7946)          # a member we know of (a seed)
        node.join()                          # binds UDP+TCP on an OS-chosen port
        node.publish(b"v1")
        for m in node.get():                 # the local member first
            print(m.addr, m.port, m.name, m.private_data)
        for ev in node.events(timeout=1.0):  # JOINED / LEFT / FAILED / UPDATED / METADATA
            print(ev.kind.name, ev.member)

Where the shared library is found, first match wins (pekonode/_lib.py has the details):

1. ``$PEKONODE_LIB``: a path (it contains ``/``) to a file that must load, or a soname for the
   system loader (``libpekonode.so.0``); set and failing, it is an ImportError, no fallback;
2. the library bundled in this package (the platform wheel, ``pip install ./bindings/python``);
3. in a source checkout only, the checkout's ``target/release/libpekonode.so`` (``make lib``);
4. the system loader: ``libpekonode.so.0`` (``make install``).

``pekonode.LIB_PATH`` is the file loaded. See README.md in bindings/python for the details
(threads, the GIL, errors, logging).
"""

from ._lib import LIB_PATH
from ._node import (
    Compat,
    Config,
    Encryption,
    Event,
    EventKind,
    LogLevel,
    Member,
    Node,
    PekoError,
    Protocol,
    Stats,
    Status,
    key_id,
    lib_version,
    set_log,
)

__version__ = "0.1.0"

__all__ = [
    "Compat",
    "Config",
    "Encryption",
    "Event",
    "EventKind",
    "LIB_PATH",
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
