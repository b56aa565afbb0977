# pekonode: build glue for the Rust library, its C header and the C side
# (examples and C tests).
#
#   make              cargo build --release, then the C examples into build/
#   make lib          only the Rust library (target/release/libpekonode.{a,so})
#   make examples     the C examples (static link) + header compile checks (C99, C++11)
#   make demo         build, then run build/cluster_demo
#   make test         lib, check-header, lint, cargo test (with the `sim` feature: the
#                     simulator is a test tool, not shipped), C tests under ASan/UBSan,
#                     examples, a node CLI smoke run, demo
#   make c-test       only the C tests (build/tests/test_api; pass test or suite
#                     names to that binary to run a few)
#   make bench        cargo run --release --example bench -- $(BENCH_ARGS)
#   make bench-overload  the overload scenario (bench --overload), JSON in docs/bench/data/
#   make check-header fail if the committed include/pekonode.h is stale
#   make clean
#
# Variables: CARGO, CC, CXX, BENCH_ARGS, EXTRA_CFLAGS.
# C_TEST_LINK=shared links the sanitized C tests against the .so (with rpath)
# instead of the .a; static is the default and works with gcc's ASan.

CARGO ?= cargo
# make's built-in default for CXX is g++; use the system's c++ instead, but
# honour a CXX given on the command line or in the environment.
ifeq ($(origin CXX),default)
CXX := c++
endif

BUILD      := build
HEADER     := include/pekonode.h
STATIC_LIB := target/release/libpekonode.a
SHARED_LIB := target/release/libpekonode.so

CSTD_FLAGS := -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude
CXX_FLAGS  := -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude
SYS_LIBS   := -lpthread -ldl -lm
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer -g

C_TEST_LINK ?= static

EXAMPLE_SRCS := $(wildcard examples/c/*.c)
EXAMPLE_BINS := $(patsubst examples/c/%.c,$(BUILD)/%,$(EXAMPLE_SRCS))

C_TEST_SRCS := $(wildcard tests/c/*.c)
C_TEST_HDRS := $(wildcard tests/c/*.h)
C_TEST_BIN  := $(BUILD)/tests/test_api

ifeq ($(C_TEST_LINK),shared)
C_TEST_LIBDEP := $(SHARED_LIB)
C_TEST_LINKLIB := -Ltarget/release -lpekonode -Wl,-rpath,$(abspath target/release)
else
C_TEST_LIBDEP := $(STATIC_LIB)
C_TEST_LINKLIB := $(STATIC_LIB)
endif

# Sanitizer runtime settings for the C tests: any finding is a failure, leaks
# included (that is what checks peko_nodes_free / peko_free).
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all lib examples header-check-compile demo test c-test bench bench-overload \
        check-header clean FORCE

all: lib examples

# cargo decides what is stale; the recipe always runs, but the files only
# change (and dependants only rebuild) when cargo actually relinks.
#
# Beside the shared library it leaves the SONAME link (libpekonode.so.0 for version 0.x.y:
# PEKO_SONAME, from Cargo.toml's version in mk/install.mk) -> libpekonode.so, so a program
# linked with -Ltarget/release -lpekonode (which records NEEDED libpekonode.so.0) runs with
# LD_LIBRARY_PATH=target/release. Fragments in mk/ add commands that must follow
# every build of the library (e.g. the Go binding's stamp) to LIB_AFTER: make targets run
# after the build, in order.
lib: $(STATIC_LIB)

LIB_AFTER ?=
# Recursively expanded: PEKO_SONAME is defined in mk/install.mk, included at the end.
SONAME_LINK = target/release/$(PEKO_SONAME)

$(STATIC_LIB): FORCE
	$(CARGO) build --release
	@test -n "$(PEKO_SOMAJOR)" || { echo "lib: no version under [package] in Cargo.toml: no SONAME link" >&2; exit 1; }
	@test "$$(readlink $(SONAME_LINK) 2>/dev/null)" = libpekonode.so || ln -sfn libpekonode.so $(SONAME_LINK)
	@for t in $(LIB_AFTER); do $(MAKE) --no-print-directory $$t || exit 1; done

$(SHARED_LIB) $(HEADER): $(STATIC_LIB)
	@test -f $@ || { echo "error: $@ was not produced by '$(CARGO) build --release' (build.rs generates the header)" >&2; exit 1; }

FORCE:

# --- examples (static link: they run without LD_LIBRARY_PATH) ---------------

examples: $(EXAMPLE_BINS) header-check-compile
	@for t in $(EXAMPLES_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done

$(BUILD)/%: examples/c/%.c $(HEADER) $(STATIC_LIB) | $(BUILD)
	$(CC) $(CSTD_FLAGS) $(EXTRA_CFLAGS) -o $@ $< $(STATIC_LIB) $(SYS_LIBS)

# The header must stand alone, survive double inclusion and be valid C99 and
# C++11 under the strict flags.
header-check-compile: $(BUILD)/.header-ok

$(BUILD)/.header-ok: $(HEADER) | $(BUILD)
	@printf '#include "pekonode.h"\n#include "pekonode.h"\nint main(void) { return 0; }\n' > $(BUILD)/header_check.c
	$(CC) $(CSTD_FLAGS) -fsyntax-only $(BUILD)/header_check.c
	$(CXX) $(CXX_FLAGS) -x c++ -fsyntax-only $(BUILD)/header_check.c
	@touch $@

$(BUILD) $(BUILD)/tests:
	@mkdir -p $@

# --- demo -------------------------------------------------------------------

demo: all
	./$(BUILD)/cluster_demo

# --- header staleness ---------------------------------------------------------

# The committed header must equal the one build.rs just generated.  Outside a
# git checkout, or while the header is not tracked yet, there is nothing to
# compare against, so say so and pass.
check-header: lib $(HEADER)
	@if ! command -v git >/dev/null 2>&1; then \
	    echo "check-header: git not installed; skipping the stale-header check"; \
	elif ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    echo "check-header: not a git checkout; skipping the stale-header check"; \
	elif ! git ls-files --error-unmatch -- $(HEADER) >/dev/null 2>&1; then \
	    echo "check-header: $(HEADER) is not tracked by git yet; skipping the stale-header check"; \
	elif git diff --exit-code -- $(HEADER); then \
	    echo "check-header: $(HEADER) matches the header generated by build.rs"; \
	else \
	    echo "" >&2; \
	    echo "check-header: FAILED: the committed $(HEADER) is stale." >&2; \
	    echo "check-header: build.rs (cbindgen) regenerated it from src/ffi/ and src/error.rs;" >&2; \
	    echo "check-header: the diff above goes from the committed copy (a/) to the generated one (b/)." >&2; \
	    echo "check-header: if the change is intended, commit $(HEADER) along with the Rust change." >&2; \
	    exit 1; \
	fi

# --- tests --------------------------------------------------------------------

test: lib
	$(MAKE) --no-print-directory check-header
	$(MAKE) --no-print-directory lint
	GO="$(GO)" $(if $(GO_FOUND),,PEKO_SKIP_GO_FIXTURE=1) $(CARGO) test --release --features sim
	$(MAKE) --no-print-directory c-test
	$(MAKE) --no-print-directory examples
	$(MAKE) --no-print-directory smoke
	$(MAKE) --no-print-directory demo
	@for t in $(TEST_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done

# cargo fmt and clippy with warnings as errors; installs the components on a machine that lacks
# them (rustup is how Rust is installed here).
.PHONY: lint
lint:
	@$(CARGO) fmt --version >/dev/null 2>&1 && $(CARGO) clippy --version >/dev/null 2>&1 || \
	    rustup component add rustfmt clippy
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --release --features sim -- -D warnings
	$(CARGO) clippy --lib --release -- -D warnings

# C tests, compiled and run under AddressSanitizer + UBSan.
c-test: $(C_TEST_BIN)
	$(ASAN_ENV) ./$(C_TEST_BIN)

$(C_TEST_BIN): $(C_TEST_SRCS) $(C_TEST_HDRS) $(HEADER) $(C_TEST_LIBDEP) | $(BUILD)/tests
	$(CC) $(CSTD_FLAGS) $(SAN_FLAGS) $(EXTRA_CFLAGS) -o $@ $(C_TEST_SRCS) $(C_TEST_LINKLIB) $(SYS_LIBS)

# The node CLI starts, publishes, runs a few rounds and exits cleanly, natively
# and in the Go pekonode compatibility mode; a bad argument exits 2.
.PHONY: smoke
smoke: $(BUILD)/node
	./$(BUILD)/node --addr 127.0.0.1 --port 0 --cycle 100 --rounds 3 --name smoke --data d --publish hello
	./$(BUILD)/node --compat go-pekonode --addr 127.0.0.1 --port 0 --cycle 100 --rounds 3 --name smoke --key smoke --publish hello >/dev/null
	@./$(BUILD)/node --no-such-option >/dev/null 2>&1; rc=$$?; \
	if [ $$rc -ne 2 ]; then echo "smoke: node with a bad option exited $$rc, expected 2" >&2; exit 1; fi; \
	./$(BUILD)/node --compat nope >/dev/null 2>&1; rc=$$?; \
	if [ $$rc -ne 2 ]; then echo "smoke: node with --compat nope exited $$rc, expected 2" >&2; exit 1; fi; \
	echo "smoke: node CLI OK"

# --- bench --------------------------------------------------------------------

bench:
	$(CARGO) run --release --example bench -- $(BENCH_ARGS)

# Issue 11's overload scenario: 200 members while 2 threads of the process spin for 30 s.
bench-overload:
	$(CARGO) run --release --example bench -- --overload --json docs/bench/data/bench-overload.json $(BENCH_ARGS)

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
	rm -f bindings/go/zz_library.go bindings/go/zz_library.go.tmp.*

# Per-topic targets (report, language bindings, install) live in mk/*.mk. A fragment adds its
# test target to TEST_EXTRA and its example target to EXAMPLES_EXTRA; make test and make
# examples run them after their own steps.
TEST_EXTRA ?=
EXAMPLES_EXTRA ?=
-include $(wildcard mk/*.mk)
