"""Events: joined, updated, metadata, left, failed; event_fd with select; the iterator."""

import select
import threading

import pekonode
from conftest import LOOPBACK, wait_event, wait_until

K = pekonode.EventKind


def test_joined_updated_metadata_left(make_node):
    a = make_node(name="a")
    a.join()
    b = make_node(name="b", private_data="v1")
    b.set(LOOPBACK, a.local_port)
    b.join()
    bp = b.local_port
    seen = []

    ev = wait_event(a, lambda e: e.kind == K.JOINED and e.member.port == bp, seen=seen)
    assert ev.member == pekonode.Member(LOOPBACK, bp, "b", "v1")
    assert isinstance(ev.kind, pekonode.EventKind) and ev.lost == 0

    b.update("b2", "v2")
    ev = wait_event(a, lambda e: e.kind == K.UPDATED and e.member.port == bp, seen=seen)
    assert (ev.member.name, ev.member.private_data) == ("b2", "v2")
    wait_until(lambda: any(m.name == "b2" for m in a.get()), what="the new name in a's list")

    b.publish(b"\x00meta")
    ev = wait_event(a, lambda e: e.kind == K.METADATA, seen=seen)
    assert (ev.member.addr, ev.member.port) == (LOOPBACK, bp)  # the publisher
    assert a.read() == b"\x00meta"

    assert b.leave(timeout=5.0) is True
    assert b.leave() is True  # a second leave does nothing
    ev = wait_event(a, lambda e: e.kind == K.LEFT and e.member.port == bp, seen=seen)
    assert ev.member.addr == LOOPBACK
    wait_until(lambda: len(a.get()) == 1, what="the leaver gone from a's list")
    assert not [e for e in seen if e.kind == K.FAILED]


def test_failed_event(cluster):
    a, b, c = cluster(3)
    cp = c.local_port
    c.stop()
    wait_event(a, lambda e: e.kind == K.FAILED and e.member.port == cp)
    c.start()
    wait_event(a, lambda e: e.kind == K.JOINED and e.member.port == cp)


def test_event_fd_with_select(make_node):
    a = make_node(name="a")
    a.join()
    fd = a.event_fd()
    assert isinstance(fd, int) and fd >= 0
    assert a.event_fd() == fd
    assert list(a.events(timeout=0)) == []  # drained
    r, _, _ = select.select([fd], [], [], 0)
    assert r == []
    b = make_node(name="b")
    b.set(LOOPBACK, a.local_port)
    b.join()
    r, _, _ = select.select([fd], [], [], 30)
    assert r == [fd]
    got = list(a.events(timeout=0))  # drain without waiting
    assert got and got[0].kind == K.JOINED
    wait_until(lambda: select.select([fd], [], [], 0)[0] == [] or list(a.events(timeout=0)) == [],
               what="the descriptor to go quiet after draining")


def test_events_iterator_times_out_and_ends_on_close(make_node):
    a = make_node(name="a")
    a.join()
    assert list(a.events(timeout=0.2)) == []
    assert a.next_event(timeout=0) is None
    got = []
    t = threading.Thread(target=lambda: got.extend(a.events()))  # timeout=None: until closed
    t.start()
    b = make_node(name="b")
    b.set(LOOPBACK, a.local_port)
    b.join()
    wait_until(lambda: any(e.kind == K.JOINED for e in got), what="the consumer thread's event")
    a.close()  # waits for the consumer's in-flight call; its iterator then ends
    t.join(timeout=30)
    assert not t.is_alive()
