"""Encryption from Python: the keyring (install, use, remove, list), the encryption modes and
the cluster label, with a key rotated and a plain cluster switched to keys on running members
(no member removed), and the errors the C library gives."""

import secrets

import pytest

import pekonode
from conftest import LOOPBACK, wait_until
from pekonode import Encryption, PekoError, Status


def rounds(nodes, k):
    """Waits until every node has run k more gossip rounds, checking every list stays whole."""
    start = [n.stats().round for n in nodes]

    def done():
        assert all(len(n.get()) == len(nodes) for n in nodes), "a list lost a member"
        return all(n.stats().round >= s + k for n, s in zip(nodes, start))

    wait_until(done, what=f"{k} more rounds")


def test_key_calls_and_their_errors(make_node):
    n = make_node(name="keys", secret_key=None)
    assert n.key_list() == [] and n.encryption == Encryption.ACCEPT
    with pytest.raises(PekoError) as e:
        n.set_encryption("send")
    assert e.value.status == Status.STATE
    with pytest.raises(ValueError):
        n.set_encryption("sometimes")
    with pytest.raises(PekoError) as e:
        n.key_install("")
    assert e.value.status == Status.INVALID_ARG
    n.key_install("a")
    n.key_install("b")
    assert n.key_list() == [pekonode.key_id("a"), pekonode.key_id("b")]
    assert len(pekonode.key_id("a")) == 16 and pekonode.key_id("a") != pekonode.key_id("b")
    with pytest.raises(PekoError) as e:
        n.key_remove("a")  # the primary
    assert e.value.status == Status.STATE
    with pytest.raises(PekoError) as e:
        n.key_use("c")
    assert e.value.status == Status.INVALID_ARG
    n.key_use("b")
    n.key_remove("a")
    assert n.key_list() == [pekonode.key_id("b")]
    n.set_encryption(Encryption.REQUIRE)
    assert n.encryption == Encryption.REQUIRE
    with pytest.raises(PekoError) as e:
        n.set_label("x" * 256)
    assert e.value.status == Status.INVALID_ARG
    n.set_label("blue")
    n.join()
    with pytest.raises(PekoError) as e:
        n.set_label("late")
    assert e.value.status == Status.STATE


def test_a_key_rotates_without_a_removal(cluster, make_node):
    old, new = "old-" + secrets.token_hex(8), "new-" + secrets.token_hex(8)
    nodes = cluster(3, secret_key=old)
    for n in nodes:
        assert n.encryption == Encryption.REQUIRE
    # Each step one member at a time, more than the timeout (1 s, 10 rounds) apart.
    for step in (lambda n: n.key_install(new), lambda n: n.key_use(new),
                 lambda n: n.key_remove(old)):
        for n in nodes:
            step(n)
            rounds(nodes, 12)
    assert all(n.key_list() == [pekonode.key_id(new)] for n in nodes)
    assert all(n.stats().members_alive == 3 for n in nodes)
    # A member with only the old key is refused.
    auth = nodes[0].stats().dropped_auth
    out = make_node(name="outsider", secret_key=old)
    out.set(LOOPBACK, nodes[0].local_port)
    out.join()
    wait_until(lambda: nodes[0].stats().dropped_auth > auth, what="the outsider's frames")
    assert all(m.port != out.local_port for m in nodes[0].get())


def test_a_plain_cluster_switches_to_keys_in_three_steps(cluster):
    key = "k-" + secrets.token_hex(8)
    nodes = cluster(3, secret_key=None)
    for step in (lambda n: n.key_install(key), lambda n: n.set_encryption("send"),
                 lambda n: n.set_encryption("require")):
        for n in nodes:
            step(n)
            rounds(nodes, 12)
    assert all(n.encryption == Encryption.REQUIRE for n in nodes)


def test_other_labels_stay_apart(make_node):
    a = make_node(name="a")
    b = make_node(name="b")
    a.set_label("blue")
    b.set_label("green")
    a.join()
    b.set(LOOPBACK, a.local_port)
    b.join()
    wait_until(lambda: a.stats().dropped_label > 0, what="a to drop b's frames")
    assert len(a.get()) == 1
