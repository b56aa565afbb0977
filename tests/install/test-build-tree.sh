#!/bin/sh
# The README's build commands against the build tree (target/release after `make lib`), read
# from README.md (the test fails when a line below is no longer there) and run as written,
# with the repository's path for its relative ones and $CC/$CXX for cc/c++, from a temp dir
# outside the tree:
#
#   cc app.c -Iinclude -Ltarget/release -lpekonode
#   LD_LIBRARY_PATH=target/release ./a.out
#       NEEDED libpekonode.so.0 (the SONAME), found through the link make lib leaves in
#       target/release; prints the version.
#   cc app.c -Iinclude target/release/libpekonode.a -lpthread -ldl -lm
#   c++ -std=c++17 app.cpp -Iinclude target/release/libpekonode.a -lpthread -ldl -lm
#       no NEEDED libpekonode; run with no LD_LIBRARY_PATH.
#
# app.c and app.cpp are tests/install/app's. Run from the source tree by mk/install.mk,
# which passes CC, CXX, READELF, PEKO_VERSION and PEKO_SONAME.
set -eu

CC=${CC:-cc}
CXX=${CXX:-c++}
READELF=${READELF:-readelf}
: "${PEKO_VERSION:?set by mk/install.mk}"
: "${PEKO_SONAME:?set by mk/install.mk}"
DEMO_TIMEOUT=${DEMO_TIMEOUT:-120}

SRC=$(pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pekonode-build-tree.XXXXXX")
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf 'test-build-tree: %s\n' "$*"; }
fail() { printf 'test-build-tree: FAILED: %s\n' "$*" >&2; exit 1; }

# Runs ./a.out under a time limit, with LD_LIBRARY_PATH=$1 or, when $1 is empty, none; the
# first line of its output must be the version (its log, e.g. the warning that no key is
# set, goes to stderr).
run_a_out() {
    rc=0
    (
        if [ -n "$1" ]; then LD_LIBRARY_PATH=$1 && export LD_LIBRARY_PATH; else unset LD_LIBRARY_PATH; fi
        if command -v timeout >/dev/null 2>&1; then timeout "$DEMO_TIMEOUT" ./a.out; else ./a.out; fi
    ) >a.log 2>a.err || rc=$?
    [ "$rc" -eq 0 ] || { cat a.log a.err >&2; fail "./a.out exited $rc"; }
    [ "$(head -n 1 a.log)" = "$PEKO_VERSION" ] ||
        { cat a.log a.err >&2; fail "./a.out did not print the version $PEKO_VERSION first"; }
    say "./a.out: $(tr '\n' ' ' <a.log)"
}

# readme_line LINE: README.md must have LINE as a line of its own (a command of the C quick
# start or the C++ section), so that what it tells users is what this test runs.
readme_line() {
    grep -qxF -- "$1" "$SRC/README.md" ||
        fail "README.md no longer has the line '$1': update tests/install/ with the README"
}

# readme_command LINE: readme_line, then runs LINE here with the paths made absolute.
readme_command() {
    readme_line "$1"
    say "$1"
    cmd=$(printf '%s\n' "$1" | sed -e 's|^cc |"$CC" |' -e 's|^c++ |"$CXX" |' \
        -e 's|-Iinclude|-I"$SRC"/include|g' -e 's|-Ltarget/release|-L"$SRC"/target/release|g' \
        -e 's| target/release/| "$SRC"/target/release/|g')
    eval "$cmd"
}

needs_libpekonode() { "$READELF" -d a.out | grep -q "NEEDED.*libpekonode"; }

cp "$SRC/tests/install/app/app.c" "$SRC/tests/install/app/app.cpp" "$TMP/"
cd "$TMP"

# ---- shared: -Ltarget/release -lpekonode, LD_LIBRARY_PATH=target/release ---------------
readme_command 'cc app.c -Iinclude -Ltarget/release -lpekonode' || fail "the shared build-tree link"
"$READELF" -d a.out | grep -q "NEEDED.*\[$PEKO_SONAME\]" ||
    fail "a.out does not need $PEKO_SONAME: $("$READELF" -d a.out | grep NEEDED)"
[ -e "$SRC/target/release/$PEKO_SONAME" ] ||
    fail "target/release has no $PEKO_SONAME, which a.out needs (make lib leaves it)"
readme_line 'LD_LIBRARY_PATH=target/release ./a.out'
say "LD_LIBRARY_PATH=$SRC/target/release ./a.out"
run_a_out "$SRC/target/release"
rm -f a.out

# ---- static: the archive, in C and in C++ ----------------------------------------------
readme_command 'cc app.c -Iinclude target/release/libpekonode.a -lpthread -ldl -lm' ||
    fail "the static build-tree link (C)"
! needs_libpekonode || fail "the static a.out needs libpekonode"
run_a_out ""
rm -f a.out

if [ -f "$SRC/include/pekonode.hpp" ]; then
    readme_command 'c++ -std=c++17 app.cpp -Iinclude target/release/libpekonode.a -lpthread -ldl -lm' ||
        fail "the static build-tree link (C++)"
    ! needs_libpekonode || fail "the static C++ a.out needs libpekonode"
    run_a_out ""
fi
say "PASS"
