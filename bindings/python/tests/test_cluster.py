"""A three-member cluster on 127.0.0.1 with OS-chosen ports: lists, metadata, stats, stop/start."""

import socket

import pekonode
from conftest import LOOPBACK, members, wait_until


# A protocol v4 stream header (docs/protocol.md), plain: PushPull, a body of 2^32 - 1 bytes,
# beyond any limit. A member that accepts plain frames (Encryption.SEND) checks the length and
# drops it for that; one that requires sealed frames would drop it as unauthenticated.
OVERSIZED_STREAM_HEADER = b"PK\x04\x04\x00\xff\xff\xff\xff"


def test_three_members_converge(cluster):
    nodes = cluster(3)
    ports = [n.local_port for n in nodes]
    assert all(p != 0 for p in ports) and len(set(ports)) == 3
    want = {(LOOPBACK, p): pekonode.Member(LOOPBACK, p, f"n{i}", f"role={i}")
            for i, p in enumerate(ports)}
    for n in nodes:
        got = n.get()
        assert got[0] == pekonode.Member(LOOPBACK, n.local_port, got[0].name, got[0].private_data)
        assert got[0].port == n.local_port  # the local member first
        wait_until(lambda: members(n) == want, what="names and private data everywhere")


def test_metadata_round_trip_with_nuls(cluster):
    a, b, c = cluster(3)
    assert a.read() == b"" and b.read() == b""  # never published
    data = b"\x00head\x00\xff\xfe binary \x00" + bytes(range(256)) + b"\x00"
    a.publish(data)
    assert a.read() == data
    for n in (b, c):
        wait_until(lambda: n.read() == data, what="the publish to reach every member")
    # larger than a datagram: announced by rumor, fetched over TCP
    big = bytes((i * 7) & 0xFF for i in range(12000))
    c.publish(bytearray(big))
    for n in (a, b, c):
        wait_until(lambda: n.read() == big, what="the large publish everywhere")
    # memoryview and empty
    b.publish(memoryview(b"xyz\x00"))
    wait_until(lambda: a.read() == b"xyz\x00", what="memoryview publish")
    b.publish(b"")
    wait_until(lambda: a.read() == b"" and c.read() == b"", what="empty publish")


def test_stats(cluster):
    a, b, c = cluster(3)
    wait_until(lambda: a.stats().members_alive == 3, what="3 alive in stats")
    s = a.stats()
    assert isinstance(s, pekonode.Stats)
    assert s.packets_sent > 0 and s.bytes_received > 0  # dropped_auth: foreign clusters may hit us
    # A join is answered over TCP (protocol 2): the first datagrams are the member's own probes
    # and gossip, which may come a moment after the lists are complete.
    wait_until(lambda: a.stats().udp_datagrams_sent > 0, what="a datagram sent")
    s = a.stats()
    assert s.udp_datagrams_sent > 0 and s.udp_datagrams_sent + s.tcp_frames_sent >= s.packets_sent
    r = s.round
    wait_until(lambda: a.stats().round > r, what="rounds to advance")


def test_counters_beyond_peko_stats(make_node):
    """The counters read with peko_counter move with their cause: an oversized TCP frame
    (dropped_too_large, within dropped_malformed), refused connections (send_errors), more
    silent members failing than the unread event queue keeps (events_lost)."""
    silent = 70  # the queue keeps 64 events while nobody reads them
    a = make_node(name="counted", protocol="tcp")
    a.join()
    held = []
    try:
        for _ in range(silent):
            # bound, never listening: connections are refused, and the port stays ours
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            held.append(s)
            a.set(LOOPBACK, s.getsockname()[1])
        a.set_encryption("send")  # sealed frames out, plain ones still read: the header is
        with socket.create_connection((LOOPBACK, a.local_port)) as c:
            c.sendall(OVERSIZED_STREAM_HEADER)
        st = wait_until(
            lambda: (lambda s: s if s.dropped_too_large >= 1 and s.send_errors >= 1
                     and s.events_lost >= silent - 64 else None)(a.stats()),
            what="dropped_too_large, send_errors and events_lost to move")
        assert st.dropped_malformed >= st.dropped_too_large
        assert st.udp_datagrams_sent == 0  # TCP mode
        assert st.connections_refused == 0 and st.members_refused == 0
    finally:
        for s in held:
            s.close()


def test_stop_start(cluster):
    a, b, c = cluster(3)
    cport = c.local_port
    c.stop()
    wait_until(lambda: (LOOPBACK, cport) not in members(a) and (LOOPBACK, cport) not in members(b),
               what="the stopped member to be dropped")
    c.start()
    c.start()  # on a running member: nothing
    wait_until(lambda: (LOOPBACK, cport) in members(a) and (LOOPBACK, cport) in members(b),
               what="the restarted member to come back")


def test_tcp_protocol_and_secret_key(make_node):
    cfg = dict(protocol="tcp", secret_key="s3cret")
    a = make_node(name="a", **cfg)
    a.join()
    b = make_node(name="b", **cfg)
    b.set(LOOPBACK, a.local_port)
    b.join()
    wait_until(lambda: len(a.get()) == 2 and len(b.get()) == 2, what="a TCP pair")
    # a member with another key is never admitted
    x = make_node(name="x", protocol=pekonode.Protocol.TCP, secret_key="other")
    x.set(LOOPBACK, a.local_port)
    x.join()
    wait_until(lambda: a.stats().dropped_auth > 0, what="packets with the wrong MAC dropped")
    assert len(x.get()) <= 2 and (LOOPBACK, x.local_port) not in members(a)


def test_local_port_before_join(make_node):
    n = make_node(port=0)
    assert n.local_port == 0
    n.join()
    assert n.local_port != 0
