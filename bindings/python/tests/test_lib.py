"""The ctypes layer: prototypes for every export, exact struct layouts, the GIL (where the
library is found: test_loader.py)."""

import ctypes
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

import pekonode
from pekonode import _lib

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "include", "pekonode.h")
needs_header = pytest.mark.skipif(not os.path.isfile(HEADER), reason="not run from a checkout")


def header_functions():
    text = open(HEADER).read()
    return sorted(set(re.findall(r"^[a-z][\w \*]*?\b(peko_\w+)\(", text, re.M)))


@needs_header
def test_every_exported_function_has_a_prototype():
    names = header_functions()
    assert len(names) == 33, names
    assert sorted(_lib.PROTOTYPES) == names
    for name in names:
        fn = getattr(_lib.lib, name)
        assert fn.argtypes is not None, name
        # every function's restype was set explicitly (void functions to None)
        assert fn.restype == _lib.PROTOTYPES[name][0], name


def test_loaded_with_cdll_so_the_gil_is_released():
    assert type(_lib.lib) is ctypes.CDLL
    assert not isinstance(_lib.lib, ctypes.PyDLL)
    assert os.path.isfile(pekonode.LIB_PATH)
    if "/" in os.environ.get("PEKONODE_LIB", ""):
        assert os.path.samefile(pekonode.LIB_PATH, os.environ["PEKONODE_LIB"])


def test_blocking_call_lets_other_threads_run(make_node):
    """A raw peko_next_event blocking for 1.5 s in one thread must not stop this one."""
    node = make_node()
    entered = threading.Event()
    took = []

    def block():
        ev = _lib.peko_event()
        with node._use("test") as h:
            entered.set()
            t0 = time.monotonic()
            st = _lib.lib.peko_next_event(h, 1500, ctypes.byref(ev))
            took.append(time.monotonic() - t0)
        assert st == _lib.PEKO_ERR_TIMEOUT

    t = threading.Thread(target=block)
    t.start()
    entered.wait()
    max_gap, last, end = 0.0, time.monotonic(), time.monotonic() + 1.0
    while time.monotonic() < end:  # pure Python work while the other thread is in C
        now = time.monotonic()
        max_gap = max(max_gap, now - last)
        last = now
    t.join()
    assert took and took[0] >= 1.4
    assert max_gap < 0.5, f"this thread was stalled {max_gap:.2f}s: the GIL was held"


CFIELDS = {
    "peko_config": ["amount", "cycle_ms", "buffer", "size", "timeout_ms", "secret_key",
                    "protocol", "listen_addr", "is_print"],
    "peko_node_info": ["addr", "port", "name", "private_data"],
    "peko_event": ["kind", "member", "lost"],
    "peko_stats_t": ["members_alive", "members_suspect", "packets_sent", "bytes_sent",
                     "packets_received", "bytes_received", "dropped_auth", "dropped_malformed",
                     "dropped_queue_full", "anti_entropy_exchanges", "round"],
}


@needs_header
@pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="no C compiler")
def test_struct_layouts_match_the_c_compiler(tmp_path):
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "pekonode.h"',
             "int main(void) {"]
    for s, fields in CFIELDS.items():
        lines.append(f'printf("{s} size %zu align %zu\\n", sizeof(struct {s}), _Alignof(struct {s}));')
        for f in fields:
            lines.append(f'printf("{s}.{f} %zu %zu\\n", offsetof(struct {s}, {f}), '
                         f"sizeof(((struct {s} *)0)->{f}));")
    lines.append("return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    cc = shutil.which("cc") or shutil.which("gcc")
    subprocess.run([cc, "-std=c11", "-I", os.path.dirname(HEADER), "-o", str(exe), str(src)],
                   check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    expected = []
    for s, fields in CFIELDS.items():
        cls = getattr(_lib, s)
        assert [f for f, _ in cls._fields_] == fields
        expected.append(f"{s} size {ctypes.sizeof(cls)} align {ctypes.alignment(cls)}")
        for f in fields:
            d = getattr(cls, f)
            expected.append(f"{s}.{f} {d.offset} {d.size}")
    assert out[:-1] == expected


@needs_header
def test_counter_ids_match_the_header():
    text = open(HEADER).read()
    header = dict(re.findall(r"^#define (PEKO_COUNTER_\w+) (\d+)$", text, re.M))
    ours = {k: v for k, v in vars(_lib).items() if k.startswith("PEKO_COUNTER_")}
    assert len(header) == 32
    assert {k: int(v) for k, v in header.items()} == ours


@needs_header
def test_compat_modes_match_the_header():
    text = open(HEADER).read()
    header = dict(re.findall(r"^#define (PEKO_COMPAT_\w+) (\d+)$", text, re.M))
    ours = {k: v for k, v in vars(_lib).items() if k.startswith("PEKO_COMPAT_")}
    assert {k: int(v) for k, v in header.items()} == ours
    assert {m.name: m.value for m in pekonode.Compat} == {
        k[len("PEKO_COMPAT_"):]: v for k, v in ours.items()}


def test_status_names_and_version():
    assert pekonode.lib_version() == pekonode.__version__
    assert _lib.status_str(pekonode.Status.TOO_LARGE) == "data larger than the configured size"
    assert _lib.status_str(999) == "unknown status"
    assert [s.value for s in pekonode.Status] == list(range(9))


def test_last_error_is_per_thread():
    """Each thread reads its own failure's message, even with others failing concurrently."""
    errors = {}

    def fail(tag, addr):
        msgs = set()
        for _ in range(200):
            try:
                pekonode.Node(None, addr)
            except pekonode.PekoError as e:
                msgs.add((e.status, e.message))
        errors[tag] = msgs

    ts = [threading.Thread(target=fail, args=("host", "localhost")),
          threading.Thread(target=fail, args=("zero", "0.0.0.0"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors["host"] == {(pekonode.Status.INVALID_ARG,
                               'addr "localhost" is not an IPv4 or IPv6 address literal')}
    (status, msg), = errors["zero"]
    assert status == pekonode.Status.INVALID_ARG and "unspecified" in msg
