#!/usr/bin/env python3
"""Three pekonode members in one process on 127.0.0.1: each lists all three, and a publish by
one reaches the other two.

    python3 -m venv .venv
    .venv/bin/python -m pip install ./bindings/python
    .venv/bin/python examples/python/three_members.py

Prints the library it loaded (pekonode.LIB_PATH) and exits 1 when the cluster has not formed,
or the publish has not arrived, within PEKO_EXAMPLE_DEADLINE seconds (default 60). Binds
127.0.0.1 only, on ports the OS chooses.
"""

import os
import secrets
import sys
import time

import pekonode

LOOPBACK = "127.0.0.1"
DEADLINE = float(os.environ.get("PEKO_EXAMPLE_DEADLINE", "60"))


def wait_for(what, pred):
    """Polls pred() until it is true; exits 1 after DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while not pred():
        if time.monotonic() > end:
            sys.exit(f"three_members: {what}: not within {DEADLINE:.0f} s")
        time.sleep(0.05)


def main():
    print(f"loaded {pekonode.LIB_PATH} (pekonode {pekonode.lib_version()})")
    # A key of our own: members of other clusters on this host cannot join ours by accident.
    cfg = pekonode.Config(cycle_ms=100, timeout_ms=2000, listen_addr=LOOPBACK,
                          secret_key="three-members-" + secrets.token_hex(8))
    nodes = []
    try:
        for i in range(3):
            node = pekonode.Node(cfg, LOOPBACK, 0, name=f"m{i}")
            if nodes:
                node.set(LOOPBACK, nodes[0].local_port)  # the first member is the seed
            node.join()
            nodes.append(node)
        ports = sorted(n.local_port for n in nodes)
        for n in nodes:
            wait_for(f"m{nodes.index(n)} lists all three",
                     lambda n=n: sorted(m.port for m in n.get()) == ports)
        print("each member lists", ", ".join(f"{LOOPBACK}:{p}" for p in ports))

        value = b"config v1 " + secrets.token_hex(4).encode()
        nodes[0].publish(value)
        for n in nodes[1:]:
            wait_for(f"the publish reaches port {n.local_port}", lambda n=n: n.read() == value)
        print(f"m1 and m2 read {value!r}, published by m0")
    finally:
        for n in nodes:
            n.close()


if __name__ == "__main__":
    main()
