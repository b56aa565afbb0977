# make test-python: the Python bindings' pytest suite (bindings/python/tests) against the
# freshly built target/release/libpekonode.so.
#
# make test-python-wheel: tests/python/test-wheel.sh: `pip wheel ./bindings/python` builds a
# py3-none-<platform> wheel holding the library (setuptools-rust compiles the crate with cargo
# into build/wheel-target; target/release is left alone), which is installed into a fresh venv
# (in a mktemp -d directory), as is `pip install ./bindings/python` into another, and
# examples/python/three_members.py runs in each with PEKONODE_LIB unset. PY_WHEEL_TIMEOUT
# bounds each example run (seconds, default 180). setuptools and setuptools-rust come from
# PyPI into pip's isolated build environment.
#
# Uses the system python3's pytest when it has one; otherwise creates a venv under
# $(BUILD)/py-venv and installs pytest there (nothing is installed system-wide).
# Variables: PY_PYTHON (default python3), PY_TEST_ARGS (extra pytest arguments, e.g. -k events).

PY_PYTHON    ?= python3
PY_VENV      := $(BUILD)/py-venv
PY_TEST_ARGS ?=

.PHONY: test-python
test-python: lib $(SHARED_LIB)
	@if $(PY_PYTHON) -c 'import pytest' >/dev/null 2>&1; then \
	    py="$(PY_PYTHON)"; \
	else \
	    $(MAKE) --no-print-directory $(PY_VENV)/.ok || exit 1; \
	    py="$(PY_VENV)/bin/python"; \
	fi; \
	echo "PEKONODE_LIB=$(abspath $(SHARED_LIB)) $$py -m pytest -q bindings/python/tests"; \
	PEKONODE_LIB="$(abspath $(SHARED_LIB))" PYTHONDONTWRITEBYTECODE=1 \
	    $$py -m pytest -q -p no:cacheprovider bindings/python/tests $(PY_TEST_ARGS)

# Debian's python3 has no ensurepip without the python3-venv package: then make the venv
# without pip and install into it with the system's pip (as mk/report.mk does).
$(PY_VENV)/.ok:
	@mkdir -p $(BUILD)
	@rm -rf $(PY_VENV)
	$(PY_PYTHON) -m venv $(PY_VENV) || { \
	    rm -rf $(PY_VENV) && $(PY_PYTHON) -m venv --without-pip $(PY_VENV); }
	if [ -x $(PY_VENV)/bin/pip ]; then \
	    $(PY_VENV)/bin/python -m pip install --quiet pytest; \
	else \
	    $(PY_PYTHON) -m pip --python $(PY_VENV)/bin/python install --quiet pytest; \
	fi
	@touch $@

# No dependency on lib: the wheel build compiles its own copy of the library.
.PHONY: test-python-wheel
test-python-wheel:
	PY_PYTHON="$(PY_PYTHON)" sh tests/python/test-wheel.sh

TEST_EXTRA += test-python test-python-wheel
