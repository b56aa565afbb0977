"""set_log: opt-in; lines arrive on the callback (from the library's threads), then the console
is restored. Also: a process that exits with nodes still open exits cleanly."""

import os
import subprocess
import sys
import threading

import pekonode
from conftest import LOOPBACK, wait_until


def test_set_log_callback_and_restore(make_node):
    lines = []
    threads = set()

    def cb(level, line):
        threads.add(threading.get_ident())
        lines.append((level, line))
        raise RuntimeError("ignored: must not unwind into the library")

    pekonode.set_log(cb, pekonode.LogLevel.INFO)
    try:
        a = make_node(name="a")
        a.join()
        b = make_node(name="b")
        b.set(LOOPBACK, a.local_port)
        b.join()
        a.publish(b"x")
        wait_until(lambda: any("Join" in l for _, l in lines), what="a [Join] line")
        wait_until(lambda: len(threads) >= 2 or len(lines) > 10, what="lines from library threads")
        assert all(lvl in (pekonode.LogLevel.ERROR, pekonode.LogLevel.INFO) for lvl, _ in lines)
    finally:
        pekonode.set_log(None)
    n = len(lines)
    c = make_node(name="c")
    c.join()
    assert not any("listening on port %d" % c.local_port in l for _, l in lines[n:])


def test_exit_with_open_nodes_and_a_blocked_consumer():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (
        "import threading, pekonode\n"
        "cfg = pekonode.Config(cycle_ms=100, listen_addr='127.0.0.1')\n"
        "a = pekonode.Node(cfg, '127.0.0.1'); a.join()\n"
        "b = pekonode.Node(cfg, '127.0.0.1'); b.set('127.0.0.1', a.local_port); b.join()\n"
        "threading.Thread(target=lambda: list(a.events()), daemon=True).start()\n"
        "pekonode.set_log(lambda lvl, line: None, pekonode.LogLevel.INFO)\n"
        "print('bye')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=here, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "bye\n"
