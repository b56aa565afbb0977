"""Where pekonode finds libpekonode (pekonode/_lib.py): the order, PEKONODE_LIB as a path or a
soname with no fallback, and an ImportError that lists only the places that apply.

The first tests call _lib._load on a temporary layout with a fake loader, so what the machine
has installed does not matter; the last ones import a copy of the package in a fresh
interpreter, with the real library put where each step looks."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import pekonode
from pekonode import _lib

PKG = Path(__file__).resolve().parent.parent / "pekonode"
SONAME = "libpekonode.so.0"
# The name setuptools-rust gives the library in a wheel (an extension module's name).
WHEEL_NAME = "libpekonode" + sysconfig.get_config_var("EXT_SUFFIX")


class FakeLoader:
    """Stands in for ctypes.CDLL: records every name asked for; only those in `ok` load."""

    def __init__(self, *ok):
        self.ok = {str(o) for o in ok}
        self.calls = []

    def __call__(self, name):
        self.calls.append(name)
        if name in self.ok:
            return ("loaded", name)
        raise OSError(f"{name}: cannot open shared object file (fake)")


def installed(tmp_path, *bundled):
    """site-packages/pekonode as pip leaves it, with the library files named in `bundled`."""
    pkg = tmp_path / "site-packages" / "pekonode"
    pkg.mkdir(parents=True)
    for name in bundled:
        (pkg / name).write_bytes(b"")
    return pkg


def checkout(tmp_path, built=True, *bundled):
    """A source checkout: Cargo.toml, bindings/python/pekonode, target/release when built."""
    root = tmp_path / "checkout"
    pkg = root / "bindings" / "python" / "pekonode"
    pkg.mkdir(parents=True)
    (root / "Cargo.toml").write_text("[package]\n")
    for name in bundled:
        (pkg / name).write_bytes(b"")
    if built:
        (root / "target" / "release").mkdir(parents=True)
        (root / "target" / "release" / "libpekonode.so").write_bytes(b"")
    return root, pkg


def load(pkg, loader, **env):
    return _lib._load(environ=env, package_dir=pkg, loader=loader)


def failure(pkg, loader, **env):
    with pytest.raises(ImportError) as e:
        load(pkg, loader, **env)
    return str(e.value)


# ---- the order ---------------------------------------------------------------------------------


def test_order_in_a_checkout(tmp_path):
    """bundled, then the checkout's target/release, then the system loader; the first that
    loads wins and nothing after it is tried."""
    root, pkg = checkout(tmp_path, True, "libpekonode.so")
    built = str(root / "target" / "release" / "libpekonode.so")
    order = [str(pkg / "libpekonode.so"), built, SONAME]
    assert [what for _, what in _lib.candidates({}, pkg)] == order

    none = FakeLoader()
    failure(pkg, none)
    assert none.calls == order

    second = FakeLoader(built)
    assert load(pkg, second) == (("loaded", built), Path(built))
    assert second.calls == order[:2]


def test_bundled_library_under_the_wheels_name(tmp_path):
    """The wheel's file (libpekonode.cpython-3XX-....so) is found; libpekonode.so comes first
    when both are there."""
    pkg = installed(tmp_path, WHEEL_NAME)
    loader = FakeLoader(pkg / WHEEL_NAME)
    assert load(pkg, loader)[1] == pkg / WHEEL_NAME
    assert loader.calls == [str(pkg / WHEEL_NAME)]

    (pkg / "libpekonode.so").write_bytes(b"")
    assert [what for _, what in _lib.candidates({}, pkg)] == [
        str(pkg / "libpekonode.so"), str(pkg / WHEEL_NAME), SONAME]


def test_installed_package_falls_back_to_the_system_loader(tmp_path):
    pkg = installed(tmp_path)
    loader = FakeLoader(SONAME)
    assert load(pkg, loader)[0] == ("loaded", SONAME)
    assert loader.calls == [SONAME]


# ---- PEKONODE_LIB --------------------------------------------------------------------------------


def test_pekonode_lib_path_is_the_only_choice(tmp_path):
    """A path that is not a file, or does not load, is an error naming it: the bundled library
    and the system loader are not tried."""
    pkg = installed(tmp_path, "libpekonode.so")
    missing = str(tmp_path / "nope.so")
    loader = FakeLoader(pkg / "libpekonode.so", SONAME)
    msg = failure(pkg, loader, PEKONODE_LIB=missing)
    assert f"PEKONODE_LIB={missing!r} does not name a file" in msg
    assert loader.calls == []

    broken = tmp_path / "broken.so"
    broken.write_bytes(b"")
    msg = failure(pkg, loader, PEKONODE_LIB=str(broken))
    assert f"cannot load PEKONODE_LIB={str(broken)!r}" in msg
    assert loader.calls == [str(broken)]

    good = FakeLoader(broken)
    assert load(pkg, good, PEKONODE_LIB=str(broken)) == (("loaded", str(broken)), broken)


def test_pekonode_lib_soname_goes_to_the_system_loader(tmp_path):
    pkg = installed(tmp_path, "libpekonode.so")
    loader = FakeLoader(SONAME)
    assert load(pkg, loader, PEKONODE_LIB=SONAME)[0] == ("loaded", SONAME)
    assert loader.calls == [SONAME]

    loader = FakeLoader(pkg / "libpekonode.so", SONAME)
    msg = failure(pkg, loader, PEKONODE_LIB="libpekonode.so.9")
    assert "the system loader cannot load PEKONODE_LIB='libpekonode.so.9'" in msg
    assert loader.calls == ["libpekonode.so.9"]


# ---- the message lists only what applies ---------------------------------------------------------


def test_message_of_an_installed_package_without_a_library(tmp_path):
    pkg = installed(tmp_path)
    msg = failure(pkg, FakeLoader())
    assert f"  {SONAME} (system loader" in msg
    assert f"carries no library ({pkg} holds no libpekonode*.so)" in msg
    for fix in ("platform wheel", "python3 -m pip install ./bindings/python", "make install",
                "PEKONODE_LIB"):
        assert fix in msg
    for other in ("target/release", "make lib"):
        assert other not in msg


def test_message_of_an_installed_package_whose_library_does_not_load(tmp_path):
    pkg = installed(tmp_path, WHEEL_NAME)
    msg = failure(pkg, FakeLoader())
    assert f"  {pkg / WHEEL_NAME} (bundled with the package): " in msg
    assert "bundled with this package did not load" in msg and "carries no library" not in msg
    assert "target/release" not in msg


def test_message_in_a_checkout_names_target_release_and_make_lib(tmp_path):
    root, pkg = checkout(tmp_path, False)
    loader = FakeLoader()
    msg = failure(pkg, loader)
    assert f"  {root / 'target' / 'release' / 'libpekonode.so'} (this source checkout): not found" in msg
    assert f"  {SONAME} (system loader" in msg
    assert f"`make lib` in {root}" in msg and "PEKONODE_LIB" in msg
    assert "platform wheel" not in msg and "bundled" not in msg
    assert loader.calls == [SONAME]  # a path that is not there is not handed to the loader


# ---- real imports, in a fresh interpreter ---------------------------------------------------------


def copy_package(tmp_path):
    """A copy of the package outside any checkout, without a library."""
    site = tmp_path / "site"
    shutil.copytree(PKG, site / "pekonode",
                    ignore=shutil.ignore_patterns("__pycache__", "libpekonode*.so"))
    return site


def import_in(site, **env):
    """Imports the copy in `site` with PEKONODE_LIB and LD_LIBRARY_PATH as given (unset
    otherwise); returns the completed process (stdout: LIB_PATH and the library's version)."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PEKONODE_LIB", "LD_LIBRARY_PATH", "PYTHONPATH")}
    code = "import pekonode; print(pekonode.LIB_PATH, pekonode.lib_version())"
    return subprocess.run([sys.executable, "-c", code], env=dict(clean, **env), cwd=str(site),
                          capture_output=True, text=True, timeout=60)


def test_real_import_of_the_bundled_library(tmp_path):
    site = copy_package(tmp_path)
    bundled = site / "pekonode" / WHEEL_NAME
    os.symlink(os.path.abspath(pekonode.LIB_PATH), bundled)
    r = import_in(site)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(bundled), pekonode.lib_version()]


def test_real_import_through_the_system_loader(tmp_path):
    """No bundled library, not in a checkout: libpekonode.so.0 from LD_LIBRARY_PATH, and
    LIB_PATH is the file the loader chose; PEKONODE_LIB may name the same soname."""
    site = copy_package(tmp_path)
    libdir = tmp_path / "lib"
    libdir.mkdir()
    os.symlink(os.path.abspath(pekonode.LIB_PATH), libdir / SONAME)
    for env in ({}, {"PEKONODE_LIB": SONAME}):
        r = import_in(site, LD_LIBRARY_PATH=str(libdir), **env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [str(libdir / SONAME), pekonode.lib_version()]


def test_real_import_with_a_bad_pekonode_lib_does_not_fall_back(tmp_path):
    site = copy_package(tmp_path)
    os.symlink(os.path.abspath(pekonode.LIB_PATH), site / "pekonode" / WHEEL_NAME)
    for value in (str(tmp_path / "nope.so"), "libpekonode-nope.so.0"):
        r = import_in(site, PEKONODE_LIB=value)
        assert r.returncode != 0
        assert "ImportError: pekonode:" in r.stderr and f"PEKONODE_LIB={value!r}" in r.stderr


def test_real_import_without_any_library(tmp_path):
    site = copy_package(tmp_path)
    r = import_in(site, LD_LIBRARY_PATH=str(tmp_path))
    if r.returncode == 0:
        pytest.skip(f"this machine's system loader finds {SONAME} ({r.stdout.strip()})")
    assert "ImportError: pekonode: cannot load libpekonode. Tried, in order:" in r.stderr
    assert f"  {SONAME} (system loader" in r.stderr and "make install" in r.stderr
    assert "target/release" not in r.stderr
