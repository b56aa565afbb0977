"""Errors: status codes and the peko_last_error message on PekoError."""

import socket

import pytest

import pekonode
from conftest import LOOPBACK, fast_config

S = pekonode.Status


def test_bad_address_is_invalid_arg():
    with pytest.raises(pekonode.PekoError) as ei:
        pekonode.Node(fast_config(), "not-an-ip", 0)
    e = ei.value
    assert e.status == S.INVALID_ARG and e.call == "peko_new"
    assert e.message == 'addr "not-an-ip" is not an IPv4 or IPv6 address literal'
    assert "not-an-ip" in str(e) and "INVALID_ARG" in str(e)
    assert isinstance(e, Exception)


def test_other_invalid_arguments(make_node):
    with pytest.raises(pekonode.PekoError) as ei:
        pekonode.Node(fast_config(listen_addr="loopback"), LOOPBACK)
    assert ei.value.status == S.INVALID_ARG and "listen_addr" in ei.value.message
    with pytest.raises(pekonode.PekoError) as ei:
        pekonode.Node(fast_config(cycle_ms=100, timeout_ms=100), LOOPBACK)
    assert ei.value.status == S.INVALID_ARG and ei.value.message
    with pytest.raises(pekonode.PekoError) as ei:
        pekonode.Node(fast_config(), LOOPBACK, 0, "x" * 1025)
    assert ei.value.status == S.INVALID_ARG and "name" in ei.value.message
    n = make_node()
    with pytest.raises(pekonode.PekoError) as ei:
        n.set(LOOPBACK, 0)
    assert ei.value.status == S.INVALID_ARG and ei.value.message
    with pytest.raises(pekonode.PekoError) as ei:
        n.set("example.invalid", 7946)
    assert ei.value.status == S.INVALID_ARG and "example.invalid" in ei.value.message


def test_python_side_argument_checks(make_node):
    with pytest.raises(ValueError):
        pekonode.Node(fast_config(), LOOPBACK, 0, "a\0b")  # would be truncated in C
    with pytest.raises(ValueError):
        pekonode.Node(fast_config(), LOOPBACK, 70000)
    with pytest.raises(ValueError):
        pekonode.Config(protocol="sctp")._to_c()
    with pytest.raises(TypeError):
        pekonode.Node({"cycle_ms": 100}, LOOPBACK)
    n = make_node()
    with pytest.raises(TypeError):
        n.publish("text")


def test_double_join_is_state(make_node):
    n = make_node()
    n.join()
    with pytest.raises(pekonode.PekoError) as ei:
        n.join()
    assert ei.value.status == S.STATE and ei.value.call == "peko_join"
    assert ei.value.message == "already joined"


def test_calls_before_join_are_state(make_node):
    n = make_node()
    for call in (n.stop, n.start, n.leave):
        with pytest.raises(pekonode.PekoError) as ei:
            call()
        assert ei.value.status == S.STATE and ei.value.message


def test_too_large_publish(make_node):
    n = make_node(size=1024)
    n.join()
    n.publish(b"\x00" * 1024)
    with pytest.raises(pekonode.PekoError) as ei:
        n.publish(b"\x00" * 1025)
    assert ei.value.status == S.TOO_LARGE and ei.value.call == "peko_publish"
    assert ei.value.message
    assert n.read() == b"\x00" * 1024  # unchanged


def test_port_in_use_is_io(make_node):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        t.bind((LOOPBACK, 0))
        t.listen()
        port = t.getsockname()[1]
        try:
            u.bind((LOOPBACK, port))
        except OSError:
            pass
        n = make_node(port=port)
        with pytest.raises(pekonode.PekoError) as ei:
            n.join()
        assert ei.value.status == S.IO and ei.value.message


def test_calls_after_close_are_state(make_node):
    n = make_node()
    n.join()
    n.close()
    assert n.closed
    for call in (n.get, n.read, n.join, n.stats, lambda: n.publish(b"x"), lambda: n.local_port,
                 n.event_fd, lambda: n.next_event(0)):
        with pytest.raises(pekonode.PekoError) as ei:
            call()
        assert ei.value.status == S.STATE and ei.value.message == "the node is closed"
    assert list(n.events(timeout=0)) == []  # the iterator just ends
    n.close()  # idempotent
