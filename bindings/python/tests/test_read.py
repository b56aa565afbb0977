"""The two-call read, raw (through the ctypes prototypes) and through Node.read."""

import ctypes

import pekonode
from pekonode import _lib


def raw_read(node, cap, buf=True):
    b = (ctypes.c_uint8 * cap)() if buf else None
    n = ctypes.c_size_t(12345)
    with node._use("test") as h:
        st = _lib.lib.peko_read(h, b, cap, ctypes.byref(n))
    return st, n.value, (bytes(b[: n.value]) if (b is not None and st == 0) else None)


def test_two_call_read(make_node):
    n = make_node()
    n.join()
    assert raw_read(n, 0, buf=False) == (_lib.PEKO_OK, 0, None)  # never published
    assert n.read() == b""
    data = b"\x00\x01two-call\x00read\xff" * 10
    n.publish(data)
    st, need, _ = raw_read(n, 0, buf=False)  # first call: the length only
    assert (st, need) == (_lib.PEKO_ERR_BUFFER_TOO_SMALL, len(data))
    st, need, _ = raw_read(n, len(data) - 1)  # too small: length again, nothing copied
    assert (st, need) == (_lib.PEKO_ERR_BUFFER_TOO_SMALL, len(data))
    assert raw_read(n, need) == (_lib.PEKO_OK, len(data), data)  # second call
    assert raw_read(n, need + 100) == (_lib.PEKO_OK, len(data), data)
    assert n.read() == data


def test_read_follows_growth(make_node):
    n = make_node(size=1 << 20)
    n.join()
    for size in (1, 1000, 70000, 3, 500000, 0):
        data = bytes([size & 0xFF]) * size
        n.publish(data)
        assert n.read() == data
