"""The Go pekonode compatibility mode from Python: Node.set_compat / Node.compat before join
and their errors, the native-only calls refused in that mode, and two compat members forming a
cluster between themselves (the end of a migration)."""

import secrets

import pytest

import pekonode
from conftest import LOOPBACK, members, wait_until
from pekonode import Compat, Encryption, PekoError, Status

# Our own key: compat packets carry its MD5, so other programs' compat members on this machine
# are ignored rather than merged into our lists.
COMPAT_KEY = "pytest-compat-" + secrets.token_hex(8)


def status_of(call):
    with pytest.raises(PekoError) as e:
        call()
    return e.value.status


def test_compat_is_chosen_before_join_only(make_node):
    n = make_node(name="compat", secret_key=COMPAT_KEY)
    assert n.compat is Compat.NATIVE
    n.set_compat(Compat.GO_PEKONODE)
    assert n.compat is Compat.GO_PEKONODE
    n.set_compat("native")
    assert n.compat is Compat.NATIVE
    n.key_install("second")  # natively: so key_remove("second") would be allowed
    n.set_compat("go-pekonode")
    assert n.compat is Compat.GO_PEKONODE

    # Another number: the library's INVALID_ARG, and nothing changed.
    with pytest.raises(PekoError) as e:
        n.set_compat(2)
    assert e.value.status == Status.INVALID_ARG and e.value.call == "peko_compat_set"
    assert "compat mode 2" in e.value.message
    with pytest.raises(ValueError):
        n.set_compat("go")
    with pytest.raises(ValueError):
        n.set_compat(2**32)  # ctypes would have wrapped it to NATIVE
    assert n.compat is Compat.GO_PEKONODE

    # What only the native protocol has is a STATE error, even with arguments it would take.
    for call in (lambda: n.key_install("third"), lambda: n.key_use("second"),
                 lambda: n.key_remove("second"), lambda: n.set_encryption(Encryption.ACCEPT),
                 lambda: n.set_label("blue")):
        assert status_of(call) == Status.STATE
    assert n.key_list() == [pekonode.key_id(COMPAT_KEY), pekonode.key_id("second")]

    n.join()
    assert status_of(lambda: n.set_compat(Compat.NATIVE)) == Status.STATE
    assert status_of(lambda: n.set_compat(Compat.GO_PEKONODE)) == Status.STATE
    assert n.compat is Compat.GO_PEKONODE

    n.close()
    assert status_of(lambda: n.set_compat(Compat.NATIVE)) == Status.STATE
    assert status_of(lambda: n.compat) == Status.STATE


def test_two_compat_members_form_a_cluster(make_node):
    a = make_node(name="alpha", private_data="alpha-data", secret_key=COMPAT_KEY)
    b = make_node(name="beta", private_data="beta-data", secret_key=COMPAT_KEY)
    a.set_compat(Compat.GO_PEKONODE)
    b.set_compat(Compat.GO_PEKONODE)
    a.join()
    b.set(LOOPBACK, a.local_port)
    b.join()
    pa, pb = a.local_port, b.local_port
    assert pa and pb and pa != pb

    def lists(n, port, name, data):
        ms = members(n)
        m = ms.get((LOOPBACK, port))
        return len(ms) == 2 and m is not None and (m.name, m.private_data) == (name, data)

    wait_until(lambda: lists(a, pb, "beta", "beta-data") and lists(b, pa, "alpha", "alpha-data"),
               what="the compat members to list each other")
    a.publish(b"from alpha")
    wait_until(lambda: b.read() == b"from alpha", what="beta to read alpha's publish")
    b.publish(b"from beta")
    wait_until(lambda: a.read() == b"from beta", what="alpha to read beta's publish")
