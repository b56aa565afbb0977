# Installing the library, and the tests that check the installed copy and run the examples
# under valgrind.
#
#   make install   [PREFIX=/usr/local] [DESTDIR=] [LIBDIR=$(PREFIX)/lib]
#                  [INCLUDEDIR=$(PREFIX)/include] [PKGCONFIGDIR=$(LIBDIR)/pkgconfig]
#       $(LIBDIR)/libpekonode.so.X.Y.Z, with the symlinks libpekonode.so.X (the SONAME) and
#       libpekonode.so; $(LIBDIR)/libpekonode.a; $(INCLUDEDIR)/pekonode.h (and pekonode.hpp
#       when include/ has one); $(PKGCONFIGDIR)/pekonode.pc from pekonode.pc.in.  The version
#       is Cargo.toml's.  DESTDIR is prepended to every path but not written into
#       pekonode.pc (staged installs, packaging).  With DESTDIR empty, run as root and
#       ldconfig present, the linker cache is refreshed (LDCONFIG=: skips that).
#       Builds the library first when cargo is available (so `sudo make install` on a
#       machine where only the user has cargo installs what `make` built).
#   make uninstall  the same variables; removes exactly the files install writes.
#   make test-install   tests/install/test-install.sh: installs into a mktemp -d prefix,
#       builds examples/c/cluster_demo.c against it with pkg-config (shared, then
#       --static), runs it, checks NEEDED/SONAME, the staged (DESTDIR) install and
#       uninstall, and cleans up.
#   make test-valgrind  tests/valgrind/run.sh: build/cluster_demo, build/node and the C
#       tests (built without sanitizers; VALGRIND_C_TESTS=0 leaves them out) under valgrind
#       memcheck, each bounded by VALGRIND_TIMEOUT seconds; fails on memory errors and on
#       definitely/indirectly lost blocks, lists "possibly lost" ones (the shared tokio
#       runtime's threads) without failing.
#
# pkg-config and valgrind are installed with apt-get when missing (root, Debian/Ubuntu);
# elsewhere the targets stop with a message naming the package.

PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR      ?=
INSTALL      ?= install
LDCONFIG     ?= ldconfig
PKG_CONFIG   ?= pkg-config
VALGRIND     ?= valgrind
READELF      ?= readelf
# Seconds each program may run under valgrind before it counts as a failure.
VALGRIND_TIMEOUT ?= 300
# VALGRIND_C_TESTS=0: test-valgrind runs only the two examples, not the C tests too.
VALGRIND_C_TESTS ?= 1

# The [package] version in Cargo.toml, e.g. 0.1.0; the SONAME's number is its first part.
PEKO_VERSION   := $(shell sed -n '/^\[package\]/,/^\[/s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' Cargo.toml 2>/dev/null | head -n 1)
PEKO_SOMAJOR   := $(firstword $(subst ., ,$(PEKO_VERSION)))
PEKO_SO_REAL   := libpekonode.so.$(PEKO_VERSION)
PEKO_SONAME    := libpekonode.so.$(PEKO_SOMAJOR)
PEKO_HPP       := $(wildcard include/pekonode.hpp)
# Build first only where cargo exists (see above); otherwise install what is there.
PEKO_INSTALL_DEPS := $(if $(shell command -v $(CARGO) 2>/dev/null),lib)

# $(MAKE) for the test script, under another name: a recipe line that names $(MAKE) runs
# even under `make -n`, and the script is a test, not a sub-make.
PEKO_SUBMAKE = $(MAKE)

# pekonode.pc keeps ${prefix}-relative paths when the directories are the defaults.
PEKO_PC_LIBDIR     = $(if $(filter $(PREFIX)/lib,$(LIBDIR)),$${exec_prefix}/lib,$(LIBDIR))
PEKO_PC_INCLUDEDIR = $(if $(filter $(PREFIX)/include,$(INCLUDEDIR)),$${prefix}/include,$(INCLUDEDIR))

# $(call peko_need_tool,COMMAND,DEBIAN-PACKAGE): make sure COMMAND exists; install the
# package with apt-get only when it is missing (needs root), otherwise say what to install.
define peko_need_tool
@if ! command -v $(1) >/dev/null 2>&1; then \
    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
        echo "$(1) not found: installing the Debian package $(2)"; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(2) || \
        { DEBIAN_FRONTEND=noninteractive apt-get update && \
          DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(2); } || exit 1; \
    fi; \
    command -v $(1) >/dev/null 2>&1 || \
        { echo "error: $(1) is required (Debian/Ubuntu package: $(2))" >&2; exit 1; }; \
fi
endef

.PHONY: install uninstall test-install test-valgrind

install: $(PEKO_INSTALL_DEPS)
	@test -n "$(PEKO_VERSION)" || { echo "install: no version found in Cargo.toml's [package]" >&2; exit 1; }
	@for f in $(SHARED_LIB) $(STATIC_LIB) $(HEADER) pekonode.pc.in; do \
	    test -f "$$f" || { echo "install: $$f is missing (run 'make lib' first)" >&2; exit 1; }; \
	done
	@if command -v $(READELF) >/dev/null 2>&1; then \
	    so=$$($(READELF) -d $(SHARED_LIB) | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p'); \
	    if [ "$$so" != "$(PEKO_SONAME)" ]; then \
	        echo "install: $(SHARED_LIB) has SONAME '$$so', expected $(PEKO_SONAME) for version $(PEKO_VERSION) (see build.rs)" >&2; \
	        exit 1; \
	    fi; \
	fi
	$(INSTALL) -d "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(PKGCONFIGDIR)"
	$(INSTALL) -m 0755 $(SHARED_LIB) "$(DESTDIR)$(LIBDIR)/$(PEKO_SO_REAL)"
	ln -sfn $(PEKO_SO_REAL) "$(DESTDIR)$(LIBDIR)/$(PEKO_SONAME)"
	ln -sfn $(PEKO_SONAME) "$(DESTDIR)$(LIBDIR)/libpekonode.so"
	$(INSTALL) -m 0644 $(STATIC_LIB) "$(DESTDIR)$(LIBDIR)/libpekonode.a"
	$(INSTALL) -m 0644 $(HEADER) $(PEKO_HPP) "$(DESTDIR)$(INCLUDEDIR)/"
	sed -e 's|@PREFIX@|$(PREFIX)|g' \
	    -e 's|@LIBDIR@|$(PEKO_PC_LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(PEKO_PC_INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(PEKO_VERSION)|g' \
	    pekonode.pc.in > "$(DESTDIR)$(PKGCONFIGDIR)/pekonode.pc"
	chmod 0644 "$(DESTDIR)$(PKGCONFIGDIR)/pekonode.pc"
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v $(LDCONFIG) >/dev/null 2>&1; then \
	    echo "$(LDCONFIG)"; $(LDCONFIG) || true; \
	fi

uninstall:
	@test -n "$(PEKO_VERSION)" || { echo "uninstall: no version found in Cargo.toml's [package]" >&2; exit 1; }
	rm -f "$(DESTDIR)$(LIBDIR)/libpekonode.so" \
	      "$(DESTDIR)$(LIBDIR)/$(PEKO_SONAME)" \
	      "$(DESTDIR)$(LIBDIR)/$(PEKO_SO_REAL)" \
	      "$(DESTDIR)$(LIBDIR)/libpekonode.a" \
	      "$(DESTDIR)$(INCLUDEDIR)/pekonode.h" \
	      "$(DESTDIR)$(INCLUDEDIR)/pekonode.hpp" \
	      "$(DESTDIR)$(PKGCONFIGDIR)/pekonode.pc"
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v $(LDCONFIG) >/dev/null 2>&1; then \
	    echo "$(LDCONFIG)"; $(LDCONFIG) || true; \
	fi

test-install: lib
	$(call peko_need_tool,$(PKG_CONFIG),pkg-config)
	$(call peko_need_tool,$(READELF),binutils)
	MAKE="$(PEKO_SUBMAKE)" CC="$(CC)" CXX="$(CXX)" PKG_CONFIG="$(PKG_CONFIG)" READELF="$(READELF)" \
	    PEKO_VERSION="$(PEKO_VERSION)" PEKO_SONAME="$(PEKO_SONAME)" \
	    PEKO_HPP="$(PEKO_HPP)" \
	    sh tests/install/test-install.sh

# The C tests (tests/c) built without sanitizers, for memcheck: they cover the calls the
# examples do not (events, leave, update, the host logger, counters).
VALGRIND_C_TEST_BIN := $(BUILD)/tests/test_api_valgrind
PEKO_VALGRIND_DEPS  := $(BUILD)/cluster_demo $(BUILD)/node \
                       $(if $(filter-out 0,$(VALGRIND_C_TESTS)),$(VALGRIND_C_TEST_BIN))

$(VALGRIND_C_TEST_BIN): $(C_TEST_SRCS) $(C_TEST_HDRS) $(HEADER) $(STATIC_LIB) | $(BUILD)/tests
	$(CC) $(CSTD_FLAGS) -g $(EXTRA_CFLAGS) -o $@ $(C_TEST_SRCS) $(STATIC_LIB) $(SYS_LIBS)

test-valgrind: $(PEKO_VALGRIND_DEPS)
	$(call peko_need_tool,$(VALGRIND),valgrind)
	VALGRIND="$(VALGRIND)" VALGRIND_TIMEOUT="$(VALGRIND_TIMEOUT)" BUILD="$(BUILD)" \
	    VALGRIND_C_TESTS="$(if $(filter-out 0,$(VALGRIND_C_TESTS)),$(VALGRIND_C_TEST_BIN))" \
	    sh tests/valgrind/run.sh

TEST_EXTRA += test-install test-valgrind
