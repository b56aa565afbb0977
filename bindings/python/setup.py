"""Builds the pekonode wheel: the ctypes package plus libpekonode.so, compiled from the Rust
crate two directories up (the checkout's Cargo.toml) by setuptools-rust.

The library is a plain C-ABI cdylib, not a Python extension (Binding.NoBinding): setuptools-rust
runs `cargo rustc --lib --release --crate-type cdylib`, strips the debug info (`strip -S`) and
puts the file in the package under the name setuptools gives an extension module,
pekonode/libpekonode.cpython-3XX-<platform>.so, where pekonode/_lib.py finds it (ctypes loads
it by path; the suffix means nothing to it). The project metadata is in pyproject.toml; this
file holds only what cannot be said there:

- cargo's output goes to <checkout>/build/wheel-target unless CARGO_TARGET_DIR is set, so a
  wheel build neither overwrites nor invalidates target/release (which `make lib` owns);
- the wheel is tagged py3-none-<platform>: built for one platform, but not for one CPython ABI,
  since nothing in it is compiled against Python.

An sdist is not supported: it could not carry the crate, which lives outside this directory.
Build wheels from a checkout (`pip wheel ./bindings/python`, `pip install ./bindings/python`).
"""

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.sdist import sdist
from setuptools_rust import Binding, RustExtension, Strip

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent
MANIFEST = CHECKOUT / "Cargo.toml"
# The dotted name setuptools-rust places the library under: pekonode/libpekonode<suffix>.
LIB_TARGET = "pekonode.libpekonode"

if not (MANIFEST.is_file() and HERE.name == "python" and HERE.parent.name == "bindings"):
    sys.exit(
        f"pekonode: the Rust crate is not at {MANIFEST}. The wheel is built from a pekonode "
        "checkout (`python3 -m pip install ./bindings/python` there; pip 21.3 or later builds "
        "in place); an sdist or a copy of bindings/python alone cannot build it."
    )

os.environ.setdefault("CARGO_TARGET_DIR", str(CHECKOUT / "build" / "wheel-target"))


class bdist_wheel_any_python(bdist_wheel):
    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


class sdist_unsupported(sdist):
    def run(self):
        raise SystemExit(
            "pekonode: no sdist: the Rust crate the wheel is built from lives outside "
            "bindings/python. Build a wheel from the checkout instead: "
            "`python3 -m pip wheel ./bindings/python -w dist`."
        )


setup(
    rust_extensions=[
        RustExtension(
            LIB_TARGET,
            path=str(MANIFEST),
            binding=Binding.NoBinding,
            debug=False,  # --release, editable installs included
            strip=Strip.Debug,
        )
    ],
    cmdclass={
        "bdist_wheel": bdist_wheel_any_python,
        "sdist": sdist_unsupported,
    },
)
