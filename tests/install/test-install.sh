#!/bin/sh
# `make test-install`: checks what `make install` lays down, as a user of the installed
# library sees it.
#
#   1. make install PREFIX=<mktemp -d>: the files, the symlink chain, the SONAME, pekonode.pc,
#      the CMake package. Stripped: the .so is under PEKO_SO_MAX_BYTES (4 MB), has no
#      .debug_info and a .gnu_debuglink naming libpekonode.so.X.Y.Z.debug; no member of the
#      .a has .debug_info and it is smaller than target/release's. Sizes are printed.
#   2. pkg-config (PKG_CONFIG_PATH = the temp prefix) gives the version, cflags and libs.
#   3. examples/c/cluster_demo.c built with `cc $(pkg-config --cflags --libs pekonode)`
#      from outside the source tree: NEEDED libpekonode.so.0, resolved from the temp lib
#      dir with LD_LIBRARY_PATH, and it runs to success. The README's
#      `cc app.c $(pkg-config --cflags --libs pekonode)` (tests/install/app/app.c) prints
#      the .pc's Version.
#   4. The same with `pkg-config --static` and the shared objects moved away (an install
#      with only the archive): no NEEDED libpekonode, runs without LD_LIBRARY_PATH. Then the
#      README's static link with the .so installed beside the archive, `cc app.c
#      $(pkg-config --cflags pekonode) "$(pkg-config --variable=libdir pekonode)/libpekonode.a"
#      -lpthread -ldl -lm`: no NEEDED libpekonode, runs.
#   5. tests/install/test-cmake.sh: find_package(pekonode) from a C++17 app, shared and
#      static, with the README's cmake commands; the version file; a moved prefix.
#   6. make install-debug: the .debug file in lib/.debug/ has .debug_info; where gdb is
#      installed, gdb finds line info for peko_version in the installed .so after it and
#      not before (so the check can tell).
#   7. make uninstall PREFIX=...: no file is left, nor the .debug/ and cmake/pekonode/ dirs.
#   8. A staged install (DESTDIR=<tmp> PREFIX=/opt/pekonode): files under DESTDIR, but
#      pekonode.pc says prefix=/opt/pekonode and the CMake files name no absolute path;
#      uninstall with the same variables empties it.
#
# Run from the source tree by mk/install.mk, which passes MAKE, CC, CXX, PKG_CONFIG,
# READELF, CMAKE, PEKO_VERSION, PEKO_SONAME and PEKO_HPP. Everything happens in one temp
# dir, removed on exit.
set -eu

MAKE=${MAKE:-make}
CC=${CC:-cc}
CXX=${CXX:-c++}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
READELF=${READELF:-readelf}
CMAKE=${CMAKE:-cmake}
GDB=${GDB:-gdb}
: "${PEKO_VERSION:?set by mk/install.mk}"
: "${PEKO_SONAME:?set by mk/install.mk}"
PEKO_HPP=${PEKO_HPP:-}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-120}
# The issue's bound for the shared library a user installs (stripped, it is about 1.9 MB).
PEKO_SO_MAX_BYTES=${PEKO_SO_MAX_BYTES:-4000000}

SRC=$(pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pekonode-install.XXXXXX")
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PREFIX=$TMP/prefix
LIB=$PREFIX/lib
INC=$PREFIX/include
REAL=libpekonode.so.$PEKO_VERSION
CMAKEDIR=$LIB/cmake/pekonode

say() { printf 'test-install: %s\n' "$*"; }
fail() { printf 'test-install: FAILED: %s\n' "$*" >&2; exit 1; }

# Runs a program with a time limit when coreutils' timeout is there.
run_bounded() {
    if command -v timeout >/dev/null 2>&1; then
        timeout "$DEMO_TIMEOUT" "$@"
    else
        "$@"
    fi
}

# Sections of FILE (an ELF file, or every member of an archive) named .debug_info: a count.
debug_info_sections() { "$READELF" -S "$1" | grep -c '[[:space:]]\.debug_info[[:space:]]' || true; }

size_of() { wc -c <"$1" | tr -d ' '; }

# readme_command LINE: README.md must have LINE as a line of its own (a command of its C quick
# start), so that what it tells users is what this test runs; then runs it here, with $CC
# and $PKG_CONFIG for cc and pkg-config.
readme_command() {
    grep -qxF -- "$1" "$SRC/README.md" ||
        fail "README.md no longer has the line '$1': update tests/install/ with the README"
    say "$1"
    cmd=$(printf '%s\n' "$1" | sed -e 's|^cc |"$CC" |' -e 's|pkg-config |"$PKG_CONFIG" |g')
    eval "$cmd"
}

# Every install/uninstall here must stay away from the machine's linker cache, and use the
# default layout under the prefix given, whatever the outer make was told (its command-line
# variables reach this make through MAKEFLAGS; these arguments override them).
sub_make() {
    target=$1 destdir=$2 prefix=$3
    "$MAKE" --no-print-directory -C "$SRC" LDCONFIG=: "$target" DESTDIR="$destdir" \
        PREFIX="$prefix" LIBDIR="$prefix/lib" INCLUDEDIR="$prefix/include" \
        PKGCONFIGDIR="$prefix/lib/pkgconfig" CMAKEDIR="$prefix/lib/cmake/pekonode"
}

# ---- 1. install into the temp prefix --------------------------------------------------
say "make install PREFIX=$PREFIX"
sub_make install "" "$PREFIX" >"$TMP/install.log" 2>&1 ||
    { cat "$TMP/install.log" >&2; fail "make install PREFIX=$PREFIX"; }

[ -f "$LIB/$REAL" ] && [ ! -L "$LIB/$REAL" ] || fail "$LIB/$REAL is not a regular file"
[ -x "$LIB/$REAL" ] || fail "$LIB/$REAL is not executable (mode 0755 expected)"
[ -L "$LIB/$PEKO_SONAME" ] || fail "$LIB/$PEKO_SONAME is not a symlink"
[ "$(readlink "$LIB/$PEKO_SONAME")" = "$REAL" ] ||
    fail "$PEKO_SONAME -> $(readlink "$LIB/$PEKO_SONAME"), expected $REAL"
[ -L "$LIB/libpekonode.so" ] || fail "$LIB/libpekonode.so is not a symlink"
[ "$(readlink "$LIB/libpekonode.so")" = "$PEKO_SONAME" ] ||
    fail "libpekonode.so -> $(readlink "$LIB/libpekonode.so"), expected $PEKO_SONAME"
[ -f "$LIB/libpekonode.a" ] || fail "$LIB/libpekonode.a missing"
cmp -s "$SRC/include/pekonode.h" "$INC/pekonode.h" || fail "$INC/pekonode.h missing or different"
if [ -n "$PEKO_HPP" ]; then
    cmp -s "$SRC/include/pekonode.hpp" "$INC/pekonode.hpp" || fail "$INC/pekonode.hpp missing or different"
else
    [ ! -e "$INC/pekonode.hpp" ] || fail "$INC/pekonode.hpp installed though the tree has none"
fi
[ -f "$LIB/pkgconfig/pekonode.pc" ] || fail "$LIB/pkgconfig/pekonode.pc missing"
grep -q '@[A-Z]*@' "$LIB/pkgconfig/pekonode.pc" && fail "unsubstituted @VAR@ left in pekonode.pc"
soname=$("$READELF" -d "$LIB/$REAL" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "$PEKO_SONAME" ] || fail "SONAME of $REAL is '$soname', expected $PEKO_SONAME"
for f in pekonodeConfig.cmake pekonodeConfigVersion.cmake; do
    [ -f "$CMAKEDIR/$f" ] || fail "$CMAKEDIR/$f missing"
    grep -q '@[A-Z_]*@' "$CMAKEDIR/$f" && fail "unsubstituted @VAR@ left in $f"
done
say "files: OK ($REAL, $PEKO_SONAME -> $REAL, libpekonode.so -> $PEKO_SONAME, libpekonode.a, pekonode.h${PEKO_HPP:+, pekonode.hpp}, pkgconfig/pekonode.pc, cmake/pekonode/pekonodeConfig{,Version}.cmake); SONAME $soname"

# ---- 1b. stripped libraries ------------------------------------------------------------
so_size=$(size_of "$LIB/$REAL")
so_built=$(size_of "$SRC/target/release/libpekonode.so")
a_size=$(size_of "$LIB/libpekonode.a")
a_built=$(size_of "$SRC/target/release/libpekonode.a")
say "sizes: libpekonode.so $so_built bytes in target/release, $so_size installed; libpekonode.a $a_built in target/release, $a_size installed"
[ "$so_size" -lt "$PEKO_SO_MAX_BYTES" ] ||
    fail "the installed $REAL is $so_size bytes, not under $PEKO_SO_MAX_BYTES (not stripped?)"
[ "$(debug_info_sections "$LIB/$REAL")" -eq 0 ] || fail "the installed $REAL has a .debug_info section"
link=$("$READELF" -p .gnu_debuglink "$LIB/$REAL" 2>/dev/null | sed -n 's/^ *\[ *0\] *//p')
[ "$link" = "$REAL.debug" ] || fail "the installed $REAL's .gnu_debuglink names '$link', expected $REAL.debug"
n=$(debug_info_sections "$LIB/libpekonode.a")
[ "$n" -eq 0 ] || fail "$n members of the installed libpekonode.a have .debug_info"
[ "$a_size" -lt "$a_built" ] || fail "the installed libpekonode.a ($a_size bytes) is not smaller than target/release's ($a_built)"
say "stripped: $REAL has no .debug_info, .gnu_debuglink $link; libpekonode.a has no .debug_info"

# ---- 2. pkg-config ---------------------------------------------------------------------
PKG_CONFIG_PATH=$LIB/pkgconfig
export PKG_CONFIG_PATH
"$PKG_CONFIG" --exists --print-errors pekonode || fail "pkg-config cannot find pekonode"
if "$PKG_CONFIG" --help 2>&1 | grep -q -- '--validate'; then
    "$PKG_CONFIG" --validate pekonode || fail "pkg-config --validate pekonode"
fi
ver=$("$PKG_CONFIG" --modversion pekonode)
[ "$ver" = "$PEKO_VERSION" ] || fail "pkg-config --modversion: '$ver', expected $PEKO_VERSION"
cflags=$("$PKG_CONFIG" --cflags pekonode | sed 's/ *$//')
libs=$("$PKG_CONFIG" --libs pekonode | sed 's/ *$//')
slibs=$("$PKG_CONFIG" --static --libs pekonode | sed 's/ *$//')
# pkg-config leaves out -I/usr/include and -L/usr/lib, never a temp dir.
case " $cflags " in *" -I$INC "*) ;; *) fail "pkg-config --cflags: '$cflags', expected -I$INC" ;; esac
case " $libs " in *" -L$LIB "*"-lpekonode "*) ;; *) fail "pkg-config --libs: '$libs', expected -L$LIB -lpekonode" ;; esac
for l in -lpthread -ldl -lm; do
    case " $slibs " in *" $l "*) ;; *) fail "pkg-config --static --libs: '$slibs' lacks $l" ;; esac
done
say "pkg-config: version $ver; --cflags: $cflags; --libs: $libs; --static --libs: $slibs"

# Compiled from inside the temp dir, so only pkg-config's -I can find the header.
cd "$TMP"

# The installed header stands alone, in C and C++.
printf '#include <pekonode.h>\nint main(void) { return peko_version() == 0; }\n' >hdr.c
# shellcheck disable=SC2086
"$CC" -std=c99 -Wall -Wextra -Werror -pedantic $cflags -fsyntax-only hdr.c ||
    fail "the installed pekonode.h does not compile as C99 with pkg-config --cflags"
if command -v "$CXX" >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    "$CXX" -std=c++11 -Wall -Wextra -Werror -pedantic $cflags -x c++ -fsyntax-only hdr.c ||
        fail "the installed pekonode.h does not compile as C++11 with pkg-config --cflags"
    if [ -n "$PEKO_HPP" ]; then
        printf '#include <pekonode.hpp>\nint main() { return 0; }\n' >hpp.cpp
        # shellcheck disable=SC2086
        "$CXX" -Wall -Wextra $cflags -fsyntax-only hpp.cpp ||
            fail "the installed pekonode.hpp does not compile with pkg-config --cflags"
    fi
fi

# ---- 3. shared: cc $(pkg-config --cflags --libs pekonode) --------------------------------
say "cc -o demo_shared examples/c/cluster_demo.c \$(pkg-config --cflags --libs pekonode)"
# shellcheck disable=SC2046
"$CC" -o demo_shared "$SRC/examples/c/cluster_demo.c" $("$PKG_CONFIG" --cflags --libs pekonode) ||
    fail "building cluster_demo against the installed shared library"
needed=$("$READELF" -d demo_shared | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p' | tr '\n' ' ' | sed 's/ *$//')
case " $needed " in
    *" $PEKO_SONAME "*) ;;
    *) fail "demo_shared NEEDED is [$needed], expected $PEKO_SONAME" ;;
esac
if "$READELF" -d demo_shared | grep -E -q '\((RPATH|RUNPATH)\)'; then
    fail "demo_shared has an RPATH/RUNPATH: $("$READELF" -d demo_shared | grep -E '\((RPATH|RUNPATH)\)')"
fi
say "readelf -d demo_shared: NEEDED $needed"

# The README's command, on tests/install/app/app.c; a.out prints peko_version() first.
cp "$SRC/tests/install/app/app.c" app.c
readme_command 'cc app.c $(pkg-config --cflags --libs pekonode)' || fail "building app.c with pkg-config"
say "LD_LIBRARY_PATH=$LIB ./a.out"
LD_LIBRARY_PATH=$LIB run_bounded ./a.out >app.log 2>app.err || { cat app.err >&2; fail "running app.c's a.out against $LIB"; }
libver=$(head -n 1 app.log)
[ "$libver" = "$PEKO_VERSION" ] || fail "peko_version() of the installed library is '$libver', .pc says $PEKO_VERSION"
rm -f a.out

if command -v ldd >/dev/null 2>&1; then
    resolved=$(LD_LIBRARY_PATH=$LIB ldd ./demo_shared | sed -n "s/^[[:space:]]*$PEKO_SONAME => \([^ ]*\).*/\1/p")
    [ "$resolved" = "$LIB/$PEKO_SONAME" ] ||
        fail "with LD_LIBRARY_PATH=$LIB, $PEKO_SONAME resolves to '$resolved'"
    say "ldd: $PEKO_SONAME => $resolved"
fi

say "running demo_shared (LD_LIBRARY_PATH=$LIB)"
rc=0
LD_LIBRARY_PATH=$LIB run_bounded ./demo_shared >demo_shared.log 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat demo_shared.log >&2; fail "demo_shared exited $rc"; }
tail -n 1 demo_shared.log

# ---- 4. static: pkg-config --static, archive only -------------------------------------
# With both in the lib dir the linker takes the .so for -lpekonode; an install that has
# only the archive is what pkg-config --static is for, so move the shared objects away.
mkdir hidden
mv "$LIB/$REAL" "$LIB/$PEKO_SONAME" "$LIB/libpekonode.so" hidden/
say "cc -o demo_static examples/c/cluster_demo.c \$(pkg-config --static --cflags --libs pekonode)  [archive only]"
# shellcheck disable=SC2046
"$CC" -o demo_static "$SRC/examples/c/cluster_demo.c" $("$PKG_CONFIG" --static --cflags --libs pekonode) ||
    fail "building cluster_demo against the installed static library"
mv hidden/* "$LIB/"
if "$READELF" -d demo_static | grep -q 'NEEDED.*libpekonode'; then
    fail "demo_static still needs libpekonode: $("$READELF" -d demo_static | grep 'NEEDED.*libpekonode')"
fi
needed=$("$READELF" -d demo_static | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p' | tr '\n' ' ' | sed 's/ *$//')
say "readelf -d demo_static: NEEDED $needed (no libpekonode)"
say "running demo_static (no LD_LIBRARY_PATH)"
rc=0
(unset LD_LIBRARY_PATH; run_bounded ./demo_static) >demo_static.log 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat demo_static.log >&2; fail "demo_static exited $rc"; }
tail -n 1 demo_static.log

# The README's static link with both installed: the archive by its path (pkg-config --static
# only adds the private libraries; -lpekonode would still take the .so).
[ -e "$LIB/libpekonode.so" ] || fail "libpekonode.so is not back in $LIB"
readme_command 'cc app.c $(pkg-config --cflags pekonode) "$(pkg-config --variable=libdir pekonode)/libpekonode.a" -lpthread -ldl -lm' ||
    fail "the README's static link against the installed archive"
if "$READELF" -d a.out | grep -q 'NEEDED.*libpekonode'; then
    fail "the README's static link needs libpekonode: $("$READELF" -d a.out | grep 'NEEDED.*libpekonode')"
fi
(unset LD_LIBRARY_PATH; run_bounded ./a.out) >app.log 2>app.err || { cat app.err >&2; fail "the static a.out failed"; }
[ "$(head -n 1 app.log)" = "$PEKO_VERSION" ] || fail "the static a.out printed '$(head -n 1 app.log)', not $PEKO_VERSION"
say "static a.out beside the .so: no NEEDED libpekonode; prints $(head -n 1 app.log)"
rm -f a.out

# ---- 5. the CMake package ----------------------------------------------------------------
CMAKE="$CMAKE" READELF="$READELF" PEKO_VERSION="$PEKO_VERSION" PEKO_SONAME="$PEKO_SONAME" \
    DEMO_TIMEOUT="$DEMO_TIMEOUT" sh "$SRC/tests/install/test-cmake.sh" "$PREFIX" ||
    fail "the CMake package (tests/install/test-cmake.sh, above)"

# ---- 6. install-debug --------------------------------------------------------------------
# gdb reads the installed .so on its own (no process): line info for peko_version comes only
# from the debug file the .gnu_debuglink names, found in lib/.debug/.
gdb_line() {
    timeout "$DEMO_TIMEOUT" "$GDB" -nx -batch -iex 'set debuginfod enabled off' \
        -ex 'info line peko_version' "$LIB/$REAL" 2>&1 | grep 'peko_version' || true
}
have_gdb=
command -v "$GDB" >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1 && have_gdb=1
if [ -n "$have_gdb" ]; then
    before=$(gdb_line)
    case "$before" in
        *"No line number information"*) ;;
        *) fail "before install-debug, gdb already finds line info for peko_version: '$before'" ;;
    esac
fi
cd "$SRC"
sub_make install-debug "" "$PREFIX" >"$TMP/install-debug.log" 2>&1 ||
    { cat "$TMP/install-debug.log" >&2; fail "make install-debug PREFIX=$PREFIX"; }
cd "$TMP"
DEBUGFILE=$LIB/.debug/$REAL.debug
[ -f "$DEBUGFILE" ] || fail "make install-debug: $DEBUGFILE missing"
[ "$(debug_info_sections "$DEBUGFILE")" -ge 1 ] || fail "$DEBUGFILE has no .debug_info"
say "make install-debug: $DEBUGFILE ($(size_of "$DEBUGFILE") bytes) has .debug_info"
if [ -n "$have_gdb" ]; then
    after=$(gdb_line)
    case "$after" in
        Line*'.rs"'*) ;;
        *) fail "after install-debug, gdb finds no line info for peko_version in $LIB/$REAL: '$after'" ;;
    esac
    say "gdb -batch -ex 'info line peko_version' $REAL: before install-debug '$before'; after: '$after'"
else
    say "gdb (or timeout) not installed: not checking that gdb finds the debug file"
fi

# ---- 7. uninstall ----------------------------------------------------------------------
cd "$SRC"
sub_make uninstall "" "$PREFIX" >"$TMP/uninstall.log" 2>&1 ||
    { cat "$TMP/uninstall.log" >&2; fail "make uninstall PREFIX=$PREFIX"; }
left=$(find "$PREFIX" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
for d in "$LIB/.debug" "$CMAKEDIR"; do
    [ ! -d "$d" ] || fail "make uninstall left the directory $d"
done
say "make uninstall PREFIX=...: no file left, nor lib/.debug/ or lib/cmake/pekonode/"

# ---- 8. staged install: DESTDIR ------------------------------------------------------
STAGE=$TMP/stage
sub_make install "$STAGE" /opt/pekonode >"$TMP/stage.log" 2>&1 ||
    { cat "$TMP/stage.log" >&2; fail "make install DESTDIR=$STAGE PREFIX=/opt/pekonode"; }
for f in lib/$REAL lib/$PEKO_SONAME lib/libpekonode.so lib/libpekonode.a include/pekonode.h \
         lib/pkgconfig/pekonode.pc lib/cmake/pekonode/pekonodeConfig.cmake \
         lib/cmake/pekonode/pekonodeConfigVersion.cmake; do
    [ -e "$STAGE/opt/pekonode/$f" ] || fail "DESTDIR install: $STAGE/opt/pekonode/$f missing"
done
grep -qx 'prefix=/opt/pekonode' "$STAGE/opt/pekonode/lib/pkgconfig/pekonode.pc" ||
    fail "DESTDIR install: pekonode.pc does not say prefix=/opt/pekonode"
grep -q "$STAGE" "$STAGE/opt/pekonode/lib/pkgconfig/pekonode.pc" &&
    fail "DESTDIR install: the staging dir leaked into pekonode.pc"
[ "$(PKG_CONFIG_PATH=$STAGE/opt/pekonode/lib/pkgconfig "$PKG_CONFIG" --variable=libdir pekonode)" = /opt/pekonode/lib ] ||
    fail "DESTDIR install: pkg-config --variable=libdir is not /opt/pekonode/lib"
# pekonodeConfig.cmake finds everything from its own directory: neither the staging dir nor
# the final prefix is written in it.
if grep -n -e "$STAGE" -e /opt/pekonode "$STAGE/opt/pekonode/lib/cmake/pekonode/pekonodeConfig.cmake"; then
    fail "DESTDIR install: pekonodeConfig.cmake names an absolute path (above)"
fi
sub_make uninstall "$STAGE" /opt/pekonode >"$TMP/unstage.log" 2>&1 ||
    { cat "$TMP/unstage.log" >&2; fail "make uninstall DESTDIR=$STAGE PREFIX=/opt/pekonode"; }
left=$(find "$STAGE" ! -type d)
[ -z "$left" ] || fail "make uninstall DESTDIR=... left: $left"
say "DESTDIR=<stage> PREFIX=/opt/pekonode: files staged, pekonode.pc says /opt/pekonode, pekonodeConfig.cmake is relative, uninstall empties it"

say "PASS"
