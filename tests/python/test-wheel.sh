#!/bin/sh
# `make test-python-wheel`: the Python package installs the way README.md's Python section says,
# and works in a fresh venv with no PEKONODE_LIB and no checkout to fall back on.
#
#   1. python3 -m pip wheel ./bindings/python -w DIST: the wheel build compiles the Rust crate
#      (setuptools-rust, cargo --release into build/wheel-target, not target/); the wheel is
#      tagged py3-none-<platform>, holds pekonode/libpekonode*.so without debug info
#      (tests/python/check_wheel.py).
#   2. python3 -m venv V; V/bin/python -m pip install DIST/pekonode-*.whl; then
#      examples/python/three_members.py with V's python, run from the temp dir: three members
#      list each other and a publish reaches the others, and the library it loaded
#      (pekonode.LIB_PATH) is the one inside V.
#   3. The same with a second fresh venv and `V/bin/python -m pip install ./bindings/python`.
#
# Run from the source tree by mk/python.mk (PY_PYTHON, PY_WHEEL_TIMEOUT). Everything is made
# in one mktemp -d directory, removed on exit, failure included.
set -eu

PY=${PY_PYTHON:-python3}
# Seconds the example may run in each venv (it polls with its own 60 s deadlines).
EXAMPLE_TIMEOUT=${PY_WHEEL_TIMEOUT:-180}

SRC=$(pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pekonode-wheel.XXXXXX")
TMP=$(cd "$TMP" && pwd -P)
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Nothing may point the package at a library but the wheel itself.
unset PEKONODE_LIB PYTHONPATH

say() { printf 'test-python-wheel: %s\n' "$*"; }
fail() { printf 'test-python-wheel: FAILED: %s\n' "$*" >&2; exit 1; }

# `python3 -m venv DIR`; where python3 has no ensurepip (Debian without python3-venv), a venv
# without pip, which pip_in then installs into with python3's own pip.
new_venv() {
    say "$PY -m venv $1"
    "$PY" -m venv "$1" >/dev/null 2>&1 || {
        rm -rf "$1"
        say "(no ensurepip: $PY -m venv --without-pip $1)"
        "$PY" -m venv --without-pip "$1" || fail "cannot create a venv with $PY"
    }
}

pip_in() {
    venv=$1
    shift
    if [ -x "$venv/bin/pip" ]; then
        say "$venv/bin/python -m pip $*"
        "$venv/bin/python" -m pip "$@"
    else
        say "$PY -m pip --python $venv/bin/python $*"
        "$PY" -m pip --python "$venv/bin/python" "$@"
    fi
}

# Runs the example with the venv's python from outside the checkout and checks which library
# it loaded.
run_example() {
    venv=$1
    say "(cd $TMP && $venv/bin/python examples/python/three_members.py)"
    rc=0
    (cd "$TMP" && timeout "$EXAMPLE_TIMEOUT" "$venv/bin/python" \
        "$SRC/examples/python/three_members.py") >"$TMP/example.out" 2>&1 || rc=$?
    sed 's/^/    /' "$TMP/example.out"
    [ "$rc" -eq 0 ] || fail "three_members.py exited $rc in $venv"
    loaded=$(sed -n 's/^loaded \([^ ]*\) .*/\1/p' "$TMP/example.out")
    case $loaded in
        "$venv"/*) ;;
        *) fail "the example loaded '$loaded', not the library installed in $venv" ;;
    esac
}

# 1. The wheel.
say "$PY -m pip wheel ./bindings/python -w $TMP/dist"
"$PY" -m pip wheel ./bindings/python -w "$TMP/dist" || fail "pip wheel ./bindings/python"
set -- "$TMP"/dist/pekonode-*.whl
[ $# -eq 1 ] && [ -f "$1" ] || fail "expected one pekonode wheel in $TMP/dist: $(ls "$TMP/dist")"
wheel=$1
"$PY" tests/python/check_wheel.py "$wheel" || fail "the wheel $(basename "$wheel")"

# 2. A fresh venv, the wheel installed into it.
new_venv "$TMP/venv-wheel"
pip_in "$TMP/venv-wheel" install "$wheel" || fail "pip install $(basename "$wheel")"
run_example "$TMP/venv-wheel"

# 3. Another, installed from the source tree the way README.md says.
new_venv "$TMP/venv-src"
pip_in "$TMP/venv-src" install ./bindings/python || fail "pip install ./bindings/python"
run_example "$TMP/venv-src"

say "OK ($(basename "$wheel"))"
