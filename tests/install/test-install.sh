#!/bin/sh
# `make test-install`: checks what `make install` lays down, as a user of the installed
# library sees it.
#
#   1. make install PREFIX=<mktemp -d>: the files, the symlink chain, the SONAME, pekonode.pc.
#   2. pkg-config (PKG_CONFIG_PATH = the temp prefix) gives the version, cflags and libs.
#   3. examples/c/cluster_demo.c built with `cc $(pkg-config --cflags --libs pekonode)`
#      from outside the source tree: NEEDED libpekonode.so.0, resolved from the temp lib
#      dir with LD_LIBRARY_PATH, and it runs to success. peko_version() == the .pc Version.
#   4. The same with `pkg-config --static` and the shared objects moved away (an install
#      with only the archive): no NEEDED libpekonode, runs without LD_LIBRARY_PATH.
#   5. make uninstall PREFIX=...: no file is left.
#   6. A staged install (DESTDIR=<tmp> PREFIX=/opt/pekonode): files under DESTDIR, but
#      pekonode.pc says prefix=/opt/pekonode; uninstall with the same variables empties it.
#
# Run from the source tree by mk/install.mk, which passes MAKE, CC, CXX, PKG_CONFIG,
# READELF, PEKO_VERSION, PEKO_SONAME and PEKO_HPP. Everything happens in one temp dir,
# removed on exit.
set -eu

MAKE=${MAKE:-make}
CC=${CC:-cc}
CXX=${CXX:-c++}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
READELF=${READELF:-readelf}
: "${PEKO_VERSION:?set by mk/install.mk}"
: "${PEKO_SONAME:?set by mk/install.mk}"
PEKO_HPP=${PEKO_HPP:-}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-120}

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

# Every install/uninstall here must stay away from the machine's linker cache, and use the
# default layout under the prefix given, whatever the outer make was told (its command-line
# variables reach this make through MAKEFLAGS; these arguments override them).
sub_make() {
    target=$1 destdir=$2 prefix=$3
    "$MAKE" --no-print-directory -C "$SRC" LDCONFIG=: "$target" DESTDIR="$destdir" \
        PREFIX="$prefix" LIBDIR="$prefix/lib" INCLUDEDIR="$prefix/include" \
        PKGCONFIGDIR="$prefix/lib/pkgconfig"
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
say "files: OK ($REAL, $PEKO_SONAME -> $REAL, libpekonode.so -> $PEKO_SONAME, libpekonode.a, pekonode.h${PEKO_HPP:+, pekonode.hpp}, pkgconfig/pekonode.pc); SONAME $soname"

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

printf '#include <stdio.h>\n#include <pekonode.h>\nint main(void) { puts(peko_version()); return 0; }\n' >version.c
# shellcheck disable=SC2046
"$CC" -o version version.c $("$PKG_CONFIG" --cflags --libs pekonode) || fail "building version.c"
libver=$(LD_LIBRARY_PATH=$LIB ./version) || fail "running version against $LIB"
[ "$libver" = "$PEKO_VERSION" ] || fail "peko_version() of the installed library is '$libver', .pc says $PEKO_VERSION"

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

# ---- 5. uninstall ----------------------------------------------------------------------
cd "$SRC"
sub_make uninstall "" "$PREFIX" >"$TMP/uninstall.log" 2>&1 ||
    { cat "$TMP/uninstall.log" >&2; fail "make uninstall PREFIX=$PREFIX"; }
left=$(find "$PREFIX" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
say "make uninstall PREFIX=...: no file left"

# ---- 6. staged install: DESTDIR ------------------------------------------------------
STAGE=$TMP/stage
sub_make install "$STAGE" /opt/pekonode >"$TMP/stage.log" 2>&1 ||
    { cat "$TMP/stage.log" >&2; fail "make install DESTDIR=$STAGE PREFIX=/opt/pekonode"; }
for f in lib/$REAL lib/$PEKO_SONAME lib/libpekonode.so lib/libpekonode.a include/pekonode.h \
         lib/pkgconfig/pekonode.pc; do
    [ -e "$STAGE/opt/pekonode/$f" ] || fail "DESTDIR install: $STAGE/opt/pekonode/$f missing"
done
grep -qx 'prefix=/opt/pekonode' "$STAGE/opt/pekonode/lib/pkgconfig/pekonode.pc" ||
    fail "DESTDIR install: pekonode.pc does not say prefix=/opt/pekonode"
grep -q "$STAGE" "$STAGE/opt/pekonode/lib/pkgconfig/pekonode.pc" &&
    fail "DESTDIR install: the staging dir leaked into pekonode.pc"
[ "$(PKG_CONFIG_PATH=$STAGE/opt/pekonode/lib/pkgconfig "$PKG_CONFIG" --variable=libdir pekonode)" = /opt/pekonode/lib ] ||
    fail "DESTDIR install: pkg-config --variable=libdir is not /opt/pekonode/lib"
sub_make uninstall "$STAGE" /opt/pekonode >"$TMP/unstage.log" 2>&1 ||
    { cat "$TMP/unstage.log" >&2; fail "make uninstall DESTDIR=$STAGE PREFIX=/opt/pekonode"; }
left=$(find "$STAGE" ! -type d)
[ -z "$left" ] || fail "make uninstall DESTDIR=... left: $left"
say "DESTDIR=<stage> PREFIX=/opt/pekonode: files staged, pekonode.pc says /opt/pekonode, uninstall empties it"

say "PASS"
