# Installing the library, and the tests that check the installed copy and run the examples
# under valgrind.
#
#   make install   [PREFIX=/usr/local] [DESTDIR=] [LIBDIR=$(PREFIX)/lib]
#                  [INCLUDEDIR=$(PREFIX)/include] [PKGCONFIGDIR=$(LIBDIR)/pkgconfig]
#                  [CMAKEDIR=$(LIBDIR)/cmake/pekonode]
#       $(LIBDIR)/libpekonode.so.X.Y.Z, with the symlinks libpekonode.so.X (the SONAME) and
#       libpekonode.so; $(LIBDIR)/libpekonode.a; $(INCLUDEDIR)/pekonode.h (and pekonode.hpp
#       when include/ has one); $(PKGCONFIGDIR)/pekonode.pc from pekonode.pc.in; the CMake
#       package $(CMAKEDIR)/pekonodeConfig.cmake and pekonodeConfigVersion.cmake from
#       cmake/*.in (targets pekonode::pekonode and pekonode::pekonode_static; their paths
#       are relative to the file's own location, so a moved or staged tree still works).
#       The libraries are stripped copies (below): the release profile keeps debug info,
#       which is 90% of the .so.  The version is Cargo.toml's.  The directories must each be
#       one word (no spaces): make's word functions compute the CMake package's paths.
#       DESTDIR is prepended to every path but not written into pekonode.pc (staged
#       installs, packaging).  With DESTDIR empty, run as root and ldconfig present, the
#       linker cache is refreshed (LDCONFIG=: skips that).
#       Builds the library first when cargo is available (so `sudo make install` on a
#       machine where only the user has cargo installs what `make` built).
#   make install-debug   install, plus the shared library's debug info:
#       $(LIBDIR)/.debug/libpekonode.so.X.Y.Z.debug, which the installed .so names in its
#       .gnu_debuglink.  gdb looks for that name beside the library, in its .debug/
#       subdirectory and under /usr/lib/debug/<its directory>; .debug/ is the one that
#       stays inside the prefix (so PREFIX, DESTDIR and uninstall treat it like the
#       other files, and no root is needed for a prefix of one's own) without putting a
#       lib*.so.* file where ldconfig looks for libraries.
#   make uninstall  the same variables; removes exactly the files install and install-debug
#       write (and the .debug/ and cmake/pekonode/ directories when that leaves them empty).
#   make test-install   tests/install/test-build-tree.sh: the README's commands that build
#       against target/release (shared with LD_LIBRARY_PATH, static; C and C++), run from a
#       temp dir; then tests/install/test-install.sh: installs into a mktemp -d prefix,
#       checks the stripping, builds examples/c/cluster_demo.c against it with pkg-config
#       (shared, then --static), the README's static link beside the .so, runs them, checks
#       NEEDED/SONAME, install-debug with gdb, the CMake package with a C++17 app
#       (tests/install/test-cmake.sh), the staged (DESTDIR) install and uninstall, and cleans
#       up.
#   make test-valgrind  tests/valgrind/run.sh: build/cluster_demo, build/node and the C
#       tests (built without sanitizers; VALGRIND_C_TESTS=0 leaves them out) under valgrind
#       memcheck, each bounded by VALGRIND_TIMEOUT seconds; fails on memory errors and on
#       definitely/indirectly lost blocks, lists "possibly lost" ones (the shared tokio
#       runtime's threads) without failing.
#
# Stripping: install and install-debug each make, in a mktemp -d directory of their own that
# they remove afterwards, libpekonode.so.X.Y.Z.debug (objcopy --only-keep-debug), then
# libpekonode.so.X.Y.Z (strip --strip-debug, plus a .gnu_debuglink to that debug file) and
# libpekonode.a (strip --strip-debug on a copy), and install from there.  Nothing is written
# into the source tree, so a `sudo make install` leaves no root-owned file in build/ that
# would stop the user's later make, make clean or make install PREFIX=~/x.  install-debug
# installs the .so and the debug file made together (the link holds the debug file's CRC).
# --strip-debug rather than --strip-unneeded: it keeps the symbol table (0.4 MB), so a
# panic's backtrace and perf name the library's functions even without the debug file.
#
# pkg-config, valgrind and binutils (readelf, objcopy, strip) are installed with apt-get when
# missing (root, Debian/Ubuntu); elsewhere the targets stop with a message naming the package.

PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR     ?= $(LIBDIR)/cmake/pekonode
DESTDIR      ?=
INSTALL      ?= install
LDCONFIG     ?= ldconfig
PKG_CONFIG   ?= pkg-config
VALGRIND     ?= valgrind
READELF      ?= readelf
OBJCOPY      ?= objcopy
STRIP        ?= strip
CMAKE        ?= cmake
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

# pekonodeConfig.cmake finds the prefix from its own directory (CMAKEDIR below PREFIX: one
# ".." per level, e.g. ../../.. for lib/cmake/pekonode) and the library and include
# directories from the prefix; a directory outside PREFIX is written as it is.
peko_empty :=
peko_space := $(peko_empty) $(peko_empty)
peko_under_prefix = $(filter $(PREFIX)/%,$(1))
peko_below_prefix = $(patsubst $(PREFIX)/%,%,$(1))
PEKO_CMAKE_PREFIX     = $(if $(call peko_under_prefix,$(CMAKEDIR)),$${CMAKE_CURRENT_LIST_DIR}/$(subst $(peko_space),/,$(patsubst %,..,$(subst /, ,$(call peko_below_prefix,$(CMAKEDIR))))),$(PREFIX))
PEKO_CMAKE_LIBDIR     = $(if $(call peko_under_prefix,$(LIBDIR)),$${_pekonode_prefix}/$(call peko_below_prefix,$(LIBDIR)),$(LIBDIR))
PEKO_CMAKE_INCLUDEDIR = $(if $(call peko_under_prefix,$(INCLUDEDIR)),$${_pekonode_prefix}/$(call peko_below_prefix,$(INCLUDEDIR)),$(INCLUDEDIR))
PEKO_CMAKE_FILES      := pekonodeConfig.cmake pekonodeConfigVersion.cmake

PEKO_DEBUG_DIR = $(LIBDIR)/.debug

# What they are made from. Where cargo exists, the top-level Makefile's targets, so the build
# runs first (in order, even under -j). Where it does not (`sudo make install` of what the
# user built), the same files by their absolute names, which have no rule that runs cargo:
# make only compares their times, and says what to do when they are missing.
ifneq ($(PEKO_INSTALL_DEPS),)
PEKO_SO_BUILT := $(SHARED_LIB)
PEKO_A_BUILT  := $(STATIC_LIB)
else
PEKO_SO_BUILT := $(abspath $(SHARED_LIB))
PEKO_A_BUILT  := $(abspath $(STATIC_LIB))
$(PEKO_SO_BUILT) $(PEKO_A_BUILT):
	@echo "install: $@ is missing (run 'make lib' first)" >&2; exit 1
endif

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

.PHONY: install install-debug uninstall test-install test-valgrind

# A directory with a space is several words to make's word functions (the CMake package's
# relative prefix above would come out wrong without a word of warning): stop instead. Run
# by the install and uninstall recipes only, so other targets never see it.
define peko_check_dirs
@if [ "$(words $(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(CMAKEDIR))" != 4 ]; then \
    echo "$@: PREFIX, LIBDIR, INCLUDEDIR and CMAKEDIR must each be one word (not empty, no spaces): make splits them at spaces" >&2; \
    exit 1; \
fi
endef

# $(call peko_install_stripped,WHAT): in one shell, make the debug file and the stripped .so
# linking to it (the link holds the file's name and CRC, so the two made together always
# match) in a mktemp -d directory of that shell's own, install the .so, with WHAT `a` also a
# stripped copy of the .a, with `debug` the debug file; the directory is removed on success,
# failure and interrupts alike.
define peko_install_stripped
@t=$$(mktemp -d "$${TMPDIR:-/tmp}/pekonode-strip.XXXXXX") || exit 1; \
trap 'rm -rf "$$t"' EXIT; trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM; \
set -e; \
echo "$(OBJCOPY) --only-keep-debug $(PEKO_SO_BUILT) $$t/$(PEKO_SO_REAL).debug"; \
$(OBJCOPY) --only-keep-debug $(PEKO_SO_BUILT) "$$t/$(PEKO_SO_REAL).debug"; \
echo "$(STRIP) --strip-debug -o $$t/$(PEKO_SO_REAL) $(PEKO_SO_BUILT)"; \
$(STRIP) --strip-debug -o "$$t/$(PEKO_SO_REAL)" $(PEKO_SO_BUILT); \
(cd "$$t" && $(OBJCOPY) --add-gnu-debuglink=$(PEKO_SO_REAL).debug $(PEKO_SO_REAL)); \
echo "$(INSTALL) -m 0755 $$t/$(PEKO_SO_REAL) $(DESTDIR)$(LIBDIR)/$(PEKO_SO_REAL)"; \
$(INSTALL) -m 0755 "$$t/$(PEKO_SO_REAL)" "$(DESTDIR)$(LIBDIR)/$(PEKO_SO_REAL)"; \
$(if $(filter a,$(1)),\
echo "$(STRIP) --strip-debug -o $$t/libpekonode.a $(PEKO_A_BUILT)"; \
$(STRIP) --strip-debug -o "$$t/libpekonode.a" $(PEKO_A_BUILT); \
echo "$(INSTALL) -m 0644 $$t/libpekonode.a $(DESTDIR)$(LIBDIR)/libpekonode.a"; \
$(INSTALL) -m 0644 "$$t/libpekonode.a" "$(DESTDIR)$(LIBDIR)/libpekonode.a";) \
$(if $(filter debug,$(1)),\
echo "$(INSTALL) -m 0644 $$t/$(PEKO_SO_REAL).debug $(DESTDIR)$(PEKO_DEBUG_DIR)/$(PEKO_SO_REAL).debug"; \
$(INSTALL) -m 0644 "$$t/$(PEKO_SO_REAL).debug" "$(DESTDIR)$(PEKO_DEBUG_DIR)/$(PEKO_SO_REAL).debug";) \
true
endef

install: $(PEKO_INSTALL_DEPS) $(PEKO_SO_BUILT) $(PEKO_A_BUILT)
	$(peko_check_dirs)
	@test -n "$(PEKO_VERSION)" || { echo "install: no version found in Cargo.toml's [package]" >&2; exit 1; }
	@for f in $(HEADER) pekonode.pc.in $(addprefix cmake/,$(addsuffix .in,$(PEKO_CMAKE_FILES))); do \
	    test -f "$$f" || { echo "install: $$f is missing" >&2; exit 1; }; \
	done
	$(call peko_need_tool,$(READELF),binutils)
	$(call peko_need_tool,$(OBJCOPY),binutils)
	$(call peko_need_tool,$(STRIP),binutils)
	@so=$$($(READELF) -d $(PEKO_SO_BUILT) | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p'); \
	if [ "$$so" != "$(PEKO_SONAME)" ]; then \
	    echo "install: $(SHARED_LIB) has SONAME '$$so', expected $(PEKO_SONAME) for version $(PEKO_VERSION) (see build.rs)" >&2; \
	    exit 1; \
	fi
	$(INSTALL) -d "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(PKGCONFIGDIR)" \
	    "$(DESTDIR)$(CMAKEDIR)"
	$(call peko_install_stripped,a)
	ln -sfn $(PEKO_SO_REAL) "$(DESTDIR)$(LIBDIR)/$(PEKO_SONAME)"
	ln -sfn $(PEKO_SONAME) "$(DESTDIR)$(LIBDIR)/libpekonode.so"
	$(INSTALL) -m 0644 $(HEADER) $(PEKO_HPP) "$(DESTDIR)$(INCLUDEDIR)/"
	sed -e 's|@PREFIX@|$(PREFIX)|g' \
	    -e 's|@LIBDIR@|$(PEKO_PC_LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(PEKO_PC_INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(PEKO_VERSION)|g' \
	    pekonode.pc.in > "$(DESTDIR)$(PKGCONFIGDIR)/pekonode.pc"
	chmod 0644 "$(DESTDIR)$(PKGCONFIGDIR)/pekonode.pc"
	@# The pointer size the version file checks: the library's ELF class (ELF64: 8 bytes).
	@bits=$$($(READELF) -h $(PEKO_SO_BUILT) | sed -n 's/^ *Class: *ELF\([0-9]*\).*/\1/p'); \
	case "$$bits" in 32|64) ;; *) echo "install: no ELF class in $(PEKO_SO_BUILT)" >&2; exit 1 ;; esac; \
	for f in $(PEKO_CMAKE_FILES); do \
	    echo "cmake/$$f.in -> $(DESTDIR)$(CMAKEDIR)/$$f"; \
	    sed -e 's|@PREFIX@|$(PEKO_CMAKE_PREFIX)|g' \
	        -e 's|@LIBDIR@|$(PEKO_CMAKE_LIBDIR)|g' \
	        -e 's|@INCLUDEDIR@|$(PEKO_CMAKE_INCLUDEDIR)|g' \
	        -e 's|@VERSION@|$(PEKO_VERSION)|g' \
	        -e 's|@SOMAJOR@|$(PEKO_SOMAJOR)|g' \
	        -e "s|@SIZEOF_VOID_P@|$$((bits / 8))|g" \
	        "cmake/$$f.in" > "$(DESTDIR)$(CMAKEDIR)/$$f" && \
	    chmod 0644 "$(DESTDIR)$(CMAKEDIR)/$$f" || exit 1; \
	done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v $(LDCONFIG) >/dev/null 2>&1; then \
	    echo "$(LDCONFIG)"; $(LDCONFIG) || true; \
	fi

# Needs the install it describes; installs the .so again, with the debug file made beside it
# in the same directory, so the .gnu_debuglink's CRC is that file's.
install-debug: install
	$(INSTALL) -d "$(DESTDIR)$(PEKO_DEBUG_DIR)"
	$(call peko_install_stripped,debug)

uninstall:
	$(peko_check_dirs)
	@test -n "$(PEKO_VERSION)" || { echo "uninstall: no version found in Cargo.toml's [package]" >&2; exit 1; }
	rm -f "$(DESTDIR)$(LIBDIR)/libpekonode.so" \
	      "$(DESTDIR)$(LIBDIR)/$(PEKO_SONAME)" \
	      "$(DESTDIR)$(LIBDIR)/$(PEKO_SO_REAL)" \
	      "$(DESTDIR)$(LIBDIR)/libpekonode.a" \
	      "$(DESTDIR)$(PEKO_DEBUG_DIR)/$(PEKO_SO_REAL).debug" \
	      "$(DESTDIR)$(INCLUDEDIR)/pekonode.h" \
	      "$(DESTDIR)$(INCLUDEDIR)/pekonode.hpp" \
	      "$(DESTDIR)$(PKGCONFIGDIR)/pekonode.pc" \
	      $(foreach f,$(PEKO_CMAKE_FILES),"$(DESTDIR)$(CMAKEDIR)/$(f)")
	@rmdir "$(DESTDIR)$(PEKO_DEBUG_DIR)" "$(DESTDIR)$(CMAKEDIR)" 2>/dev/null || true
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v $(LDCONFIG) >/dev/null 2>&1; then \
	    echo "$(LDCONFIG)"; $(LDCONFIG) || true; \
	fi

test-install: lib
	$(call peko_need_tool,$(PKG_CONFIG),pkg-config)
	$(call peko_need_tool,$(READELF),binutils)
	$(call peko_need_tool,$(CMAKE),cmake)
	CC="$(CC)" CXX="$(CXX)" READELF="$(READELF)" PEKO_VERSION="$(PEKO_VERSION)" \
	    PEKO_SONAME="$(PEKO_SONAME)" sh tests/install/test-build-tree.sh
	MAKE="$(PEKO_SUBMAKE)" CC="$(CC)" CXX="$(CXX)" PKG_CONFIG="$(PKG_CONFIG)" READELF="$(READELF)" \
	    CMAKE="$(CMAKE)" PEKO_VERSION="$(PEKO_VERSION)" PEKO_SONAME="$(PEKO_SONAME)" \
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
