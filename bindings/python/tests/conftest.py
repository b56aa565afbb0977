"""Shared fixtures: fast, loopback-only nodes and a deadline-based wait helper."""

import os
import secrets
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # bindings/python: import the package from the checkout

import pekonode  # noqa: E402

LOOPBACK = "127.0.0.1"
# Generous: CI machines can be slow and busy. Every wait polls and returns as soon as it can.
DEADLINE = float(os.environ.get("PEKONODE_TEST_DEADLINE", "30"))


# Other programs on this machine (benches, demos, other test runs) also gossip on 127.0.0.1, and
# a port 0 node may get a port one of their clusters still remembers. A key of our own makes the
# library drop their packets (dropped_auth) instead of merging their members into our lists.
SESSION_KEY = "pytest-" + secrets.token_hex(8)


def fast_config(**kw):
    """Quick rounds so clusters converge in well under a second; loopback only; our own key."""
    base = dict(cycle_ms=100, timeout_ms=1000, listen_addr=LOOPBACK, secret_key=SESSION_KEY)
    base.update(kw)
    return pekonode.Config(**base)


def wait_until(pred, timeout=DEADLINE, interval=0.02, what="condition"):
    """Polls pred() until it returns something truthy; fails the test after `timeout` s."""
    end = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= end:
            pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def wait_event(node, match, timeout=DEADLINE, seen=None):
    """Consumes node's events until one satisfies match(ev); returns it. Every event consumed
    is appended to `seen` if given."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            pytest.fail(f"no matching event within {timeout}s (seen: {seen!r})")
        ev = node.next_event(timeout=min(left, 0.5))
        if ev is None:
            continue
        if seen is not None:
            seen.append(ev)
        if match(ev):
            return ev


def members(node):
    return {(m.addr, m.port): m for m in node.get()}


@pytest.fixture
def make_node():
    """Factory: make_node(name=..., config=..., port=0, private_data=...) -> Node (not joined).
    Every node made is closed at teardown."""
    made = []

    def make(name="", private_data="", port=0, config=None, **cfg):
        n = pekonode.Node(config or fast_config(**cfg), LOOPBACK, port, name, private_data)
        made.append(n)
        return n

    yield make
    for n in made:
        n.close()


@pytest.fixture
def cluster(make_node):
    """cluster(k) -> k joined nodes (named n0..), each told about n0; waits until every list
    is complete."""

    def build(k=3, **cfg):
        nodes = []
        for i in range(k):
            n = make_node(name=f"n{i}", private_data=f"role={i}", **cfg)
            if nodes:
                n.set(LOOPBACK, nodes[0].local_port)
            n.join()
            nodes.append(n)
        for n in nodes:
            wait_until(lambda: len(n.get()) == k, what=f"{n!r} to list {k} members")
        return nodes

    return build
