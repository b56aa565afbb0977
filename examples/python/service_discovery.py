#!/usr/bin/env python3
"""Service discovery with pekonode: members advertise "role=...,http=PORT" in their private
data, find each other by role, and share one config blob as cluster metadata.

    python3 examples/python/service_discovery.py            # demo: 3 services in one process
    python3 examples/python/service_discovery.py --serve --name api-1 --role api \\
        --port 7946                                          # one long-running member ...
    python3 examples/python/service_discovery.py --serve --name web-1 --role web \\
        --join 127.0.0.1:7946                                # ... and another that joins it

Runs with the package installed (`python3 -m pip install ./bindings/python`, which builds the
library), or straight from the checkout after `make lib`. Everything binds 127.0.0.1 only.
"""

import argparse
import os
import sys
import time

try:
    import pekonode
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "bindings", "python"))
    import pekonode

LOOPBACK = "127.0.0.1"
KEY = os.environ.get("PEKO_DEMO_KEY", "service-discovery-demo")  # keeps other clusters out


def config():
    return pekonode.Config(cycle_ms=200, timeout_ms=2000, listen_addr=LOOPBACK, secret_key=KEY)


def advertise(role, http_port):
    return f"role={role},http={http_port}"


def parse(private_data):
    return dict(kv.split("=", 1) for kv in private_data.split(",") if "=" in kv)


def find(node, role):
    """Every live member offering `role`, as (name, "host:http_port")."""
    out = []
    for m in node.get():
        attrs = parse(m.private_data)
        if attrs.get("role") == role:
            out.append((m.name, f"{m.addr}:{attrs.get('http', '?')}"))
    return sorted(out)


def wait_for(pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def demo():
    services = [("api-1", "api", 8001), ("api-2", "api", 8002), ("web-1", "web", 8080)]
    nodes = []
    try:
        for name, role, http in services:
            n = pekonode.Node(config(), LOOPBACK, 0, name, advertise(role, http))
            if nodes:
                n.set(LOOPBACK, nodes[0].local_port)  # the first one is everybody's seed
            n.join()
            nodes.append(n)
            print(f"started {name} on {LOOPBACK}:{n.local_port}")
        web = nodes[2]
        if not wait_for(lambda: len(find(web, "api")) == 2):
            sys.exit("the api services were not discovered in time")
        print("web-1 finds api:", find(web, "api"))

        nodes[0].publish(b'{"feature_x": true, "version": 2}')
        if not wait_for(lambda: web.read() == nodes[0].read()):
            sys.exit("the shared config did not arrive in time")
        print("web-1 sees the shared config:", web.read().decode())

        api2 = nodes.pop(1)
        port = api2.local_port
        api2.close()  # leaves gracefully: the others drop it at once
        for ev in web.events(timeout=5.0):
            if ev.kind == pekonode.EventKind.LEFT and ev.member.port == port:
                print(f"web-1 saw api-2 leave ({ev.member.addr}:{ev.member.port})")
                break
        print("web-1 finds api:", find(web, "api"))
    finally:
        for n in nodes:
            n.close()


def serve(args):
    with pekonode.Node(config(), LOOPBACK, args.port, args.name,
                       advertise(args.role, args.http)) as node:
        for seed in args.join:
            host, _, port = seed.rpartition(":")
            node.set(host or LOOPBACK, int(port))
        node.join()
        print(f"{args.name} ({args.role}) on {LOOPBACK}:{node.local_port}; Ctrl-C to leave",
              flush=True)
        try:
            for ev in node.events():  # blocks; Ctrl-C gets through within 0.1 s
                m = ev.member
                print(f"{ev.kind.name:8} {m.addr}:{m.port} {m.name} {m.private_data}", flush=True)
        except KeyboardInterrupt:
            pass
        node.leave(timeout=1.0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--serve", action="store_true", help="run one member until Ctrl-C")
    p.add_argument("--name", default="svc")
    p.add_argument("--role", default="api")
    p.add_argument("--http", type=int, default=8000, help="the port advertised for the service")
    p.add_argument("--port", type=int, default=0, help="gossip port (0: any)")
    p.add_argument("--join", action="append", default=[], metavar="127.0.0.1:PORT")
    args = p.parse_args()
    serve(args) if args.serve else demo()


if __name__ == "__main__":
    main()
