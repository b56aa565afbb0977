"""Context manager, close, garbage collection."""

import gc
import weakref

import pekonode
from conftest import LOOPBACK, fast_config, members, wait_event, wait_until


def test_context_manager_closes_and_tells_the_others(make_node):
    a = make_node(name="a")
    a.join()
    with pekonode.Node(fast_config(), LOOPBACK, 0, "b") as b:
        assert b is not None and not b.closed
        b.set(LOOPBACK, a.local_port)
        b.join()
        port = b.local_port
        wait_until(lambda: (LOOPBACK, port) in members(a), what="b listed by a")
    assert b.closed
    # peko_free tells the others (LEFT, not FAILED) and closes the sockets before returning
    wait_event(a, lambda e: e.kind == pekonode.EventKind.LEFT and e.member.port == port)
    wait_until(lambda: (LOOPBACK, port) not in members(a), what="b dropped")
    with pekonode.Node(fast_config(), LOOPBACK, port, "b-again") as again:
        again.join()  # the port is free at once
        assert again.local_port == port


def test_context_manager_closes_on_exception():
    try:
        with pekonode.Node(fast_config(), LOOPBACK) as n:
            n.join()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert n.closed


def test_garbage_collected_node_is_freed():
    n = pekonode.Node(fast_config(), LOOPBACK)
    n.join()
    port = n.local_port
    ref = weakref.ref(n)
    del n
    gc.collect()
    assert ref() is None
    with pekonode.Node(fast_config(), LOOPBACK, port) as again:  # its sockets were closed
        again.join()
