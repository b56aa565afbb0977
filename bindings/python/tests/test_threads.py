"""Many threads calling get/read/stats/events on the same nodes concurrently (bounded)."""

import threading

import pekonode
from conftest import wait_until

THREADS = 8
ITERATIONS = 300


def test_concurrent_get_read(cluster):
    nodes = cluster(3)
    a = nodes[0]
    values = [bytes([i]) * (i * 97 % 5000) + b"\x00end" for i in range(1, 40)]
    allowed = set(values) | {b""}
    errors = []
    start = threading.Barrier(THREADS + 1)
    done = threading.Event()

    def publisher():
        start.wait()
        i = 0
        while not done.is_set():
            a.publish(values[i % len(values)])
            i += 1

    def worker(k):
        try:
            start.wait()
            n = nodes[k % 3]
            for i in range(ITERATIONS):
                ms = n.get()
                assert 1 <= len(ms) <= 3 and ms[0].port == n.local_port
                v = n.read()
                assert v in allowed, (len(v), v[:8])
                if i % 50 == 0:
                    n.stats()
                    n.next_event(timeout=0)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS - 1)]
    ts.append(threading.Thread(target=publisher))
    for t in ts:
        t.start()
    start.wait()
    for t in ts[:-1]:
        t.join(timeout=120)
    done.set()
    ts[-1].join(timeout=30)
    assert not any(t.is_alive() for t in ts)
    assert errors == []
    last = a.read()
    for n in nodes:
        wait_until(lambda: n.read() == last, what="every member to hold the last publish")


def test_close_while_other_threads_call(make_node):
    """close() waits for in-flight calls; later calls raise PekoError STATE, never crash."""
    n = make_node()
    n.join()
    outcomes = []
    go = threading.Event()

    def hammer():
        go.wait()
        for _ in range(2000):
            try:
                n.get()
                n.read()
            except pekonode.PekoError as e:
                assert e.status == pekonode.Status.STATE
                outcomes.append("closed")
                return
        outcomes.append("finished")

    ts = [threading.Thread(target=hammer) for _ in range(6)]
    for t in ts:
        t.start()
    go.set()
    n.close()
    for t in ts:
        t.join(timeout=60)
    assert len(outcomes) == 6
