# make test-abi: a program compiled against the first published header still works with
# today's library (the ABI growth rule in pekonode.h).
#
# tests/abi/v1_header_compat.c is compiled against tests/abi/pekonode_v1.h only (a frozen copy
# of include/pekonode.h as of ea65a4f; never edit it) with -std=c99 -Wall -Wextra -Werror
# -pedantic, and linked twice against the library just built:
#   build/abi/v1_header_compat_shared  the shared library, found as libpekonode.so.0 (its
#                                      SONAME) through an rpath to build/abi/lib, where a
#                                      symlink points at target/release/libpekonode.so
#   build/abi/v1_header_compat_static  the static archive
# Each runs a three-member loopback cluster through every v1 call, with canary bytes around
# every struct the library writes and every struct it reads placed against an inaccessible
# page (see the program's comment).

ABI_BUILD    := $(BUILD)/abi
ABI_SRC      := tests/abi/v1_header_compat.c
ABI_HEADER   := tests/abi/pekonode_v1.h
# -Itests/abi and not -Iinclude: the program must see the old header only.
ABI_CFLAGS   := -std=c99 -Wall -Wextra -Werror -pedantic -Itests/abi
ABI_SHARED   := $(ABI_BUILD)/v1_header_compat_shared
ABI_STATIC   := $(ABI_BUILD)/v1_header_compat_static
ABI_SONAME   := $(ABI_BUILD)/lib/libpekonode.so.0

.PHONY: test-abi

test-abi: $(ABI_SHARED) $(ABI_STATIC)
	@so=$$(ldd $(ABI_SHARED) 2>/dev/null | sed -n 's/.*libpekonode\.so\.0 => \([^ ]*\).*/\1/p'); \
	if [ "$$(readlink -f "$$so")" != "$(abspath $(SHARED_LIB))" ]; then \
	    echo "test-abi: $(ABI_SHARED) loads '$$so', not $(abspath $(SHARED_LIB))" >&2; exit 1; \
	fi
	./$(ABI_SHARED)
	./$(ABI_STATIC)

$(ABI_SONAME): $(SHARED_LIB) | $(ABI_BUILD)
	@mkdir -p $(dir $@)
	ln -sfn $(abspath $(SHARED_LIB)) $@

$(ABI_SHARED): $(ABI_SRC) $(ABI_HEADER) $(ABI_SONAME) | $(ABI_BUILD)
	$(CC) $(ABI_CFLAGS) $(EXTRA_CFLAGS) -o $@ $(ABI_SRC) -L$(ABI_BUILD)/lib -l:libpekonode.so.0 \
	    -Wl,-rpath,$(abspath $(ABI_BUILD)/lib) $(SYS_LIBS)

$(ABI_STATIC): $(ABI_SRC) $(ABI_HEADER) $(STATIC_LIB) | $(ABI_BUILD)
	$(CC) $(ABI_CFLAGS) $(EXTRA_CFLAGS) -o $@ $(ABI_SRC) $(STATIC_LIB) $(SYS_LIBS)

$(ABI_BUILD):
	@mkdir -p $@

TEST_EXTRA += test-abi
