#!/bin/sh
# The CMake package of an installed pekonode, as a CMake user sees it. Run by test-install.sh
# after `make install PREFIX=<temp prefix>`:
#
#   sh tests/install/test-cmake.sh <install prefix>
#
#   1. tests/install/app (the README's CMakeLists.txt, checked to be a copy of README.md's
#      ```cmake block, and more) configured with exactly the README's commands (checked to
#      be lines of README.md), `cmake -S . -B build -DCMAKE_PREFIX_PATH=<prefix>` and
#      `cmake --build build`: a C++17 app on pekonode::pekonode, one on
#      pekonode::pekonode_static, a C99 one on pekonode::pekonode. The shared ones run from
#      the build tree on the RUNPATH CMake gives them (no LD_LIBRARY_PATH): it must name
#      <prefix>/lib. The static one has no NEEDED libpekonode. Each prints the version.
#   2. tests/install/version-check against a copy of the prefix in another directory: the
#      version file's answers (same major, not older, ranges, pointer size) and targets that
#      point into the copy (the config's paths are relative to its own location).
#
# Environment: CMAKE, READELF, PEKO_VERSION, PEKO_SONAME (test-install.sh passes them on),
# DEMO_TIMEOUT. Works in its own temp dir, removed on exit.
set -eu

PREFIX=${1:?usage: test-cmake.sh <install prefix>}
CMAKE=${CMAKE:-cmake}
READELF=${READELF:-readelf}
: "${PEKO_VERSION:?}"
: "${PEKO_SONAME:?}"
DEMO_TIMEOUT=${DEMO_TIMEOUT:-120}
# The configure and build steps: compiler checks and three small programs on 2 shared cores.
CMAKE_TIMEOUT=${CMAKE_TIMEOUT:-600}

HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pekonode-cmake.XXXXXX")
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf 'test-cmake: %s\n' "$*"; }
fail() { printf 'test-cmake: FAILED: %s\n' "$*" >&2; exit 1; }

bounded() {
    limit=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout "$limit" "$@"
    else
        "$@"
    fi
}

# Runs ./build/NAME with no LD_LIBRARY_PATH; the first line of its output (not its log, on
# stderr) must be the version.
run_app() {
    name=$1
    rc=0
    (unset LD_LIBRARY_PATH; bounded "$DEMO_TIMEOUT" "./build/$name") >"$name.out" 2>"$name.err" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$name.out" "$name.err" >&2; fail "build/$name exited $rc"; }
    [ "$(head -n 1 "$name.out")" = "$PEKO_VERSION" ] ||
        { cat "$name.out" "$name.err" >&2; fail "build/$name did not print the version $PEKO_VERSION first"; }
    say "build/$name: $(tr '\n' ' ' <"$name.out")"
}

# readme_line LINE: README.md must have LINE as a line of its own (its C++ section), so that
# what it tells users is what this test runs.
readme_line() {
    grep -qxF -- "$1" "$README" ||
        fail "README.md no longer has the line '$1': update tests/install/ with the README"
}

# ---- 1. the README's commands on tests/install/app ---------------------------------------
# Its CMakeLists.txt starts with the README's, line for line.
README=$HERE/../../README.md
readme_cmake=$(awk '/^```cmake$/ { inside = 1; next } inside && /^```$/ { exit } inside' "$README")
[ -n "$readme_cmake" ] || fail "README.md has no \`\`\`cmake block"
[ "$(head -n "$(printf '%s\n' "$readme_cmake" | wc -l)" "$HERE/app/CMakeLists.txt")" = "$readme_cmake" ] ||
    fail "tests/install/app/CMakeLists.txt does not start with README.md's CMakeLists.txt"
for line in 'cmake -S . -B build -DCMAKE_PREFIX_PATH=/usr/local' 'cmake --build build' './build/app'; do
    readme_line "$line"
done

mkdir "$TMP/app"
cp "$HERE/app/CMakeLists.txt" "$HERE/app/app.cpp" "$HERE/app/app.c" "$TMP/app/"
cd "$TMP/app"
say "cmake -S . -B build -DCMAKE_PREFIX_PATH=$PREFIX"
bounded "$CMAKE_TIMEOUT" "$CMAKE" -S . -B build -DCMAKE_PREFIX_PATH="$PREFIX" >configure.log 2>&1 ||
    { cat configure.log >&2; fail "cmake configure against $PREFIX"; }
say "cmake --build build"
bounded "$CMAKE_TIMEOUT" "$CMAKE" --build build >build.log 2>&1 ||
    { cat build.log >&2; fail "cmake --build"; }

for app in app app_c; do
    needed=$("$READELF" -d "build/$app" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p' | tr '\n' ' ')
    case " $needed" in
        *" $PEKO_SONAME "*) ;;
        *) fail "build/$app NEEDED is [$needed], expected $PEKO_SONAME" ;;
    esac
    runpath=$("$READELF" -d "build/$app" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\].*/\2/p')
    case ":$runpath:" in
        *":$PREFIX/lib:"*) ;;
        *) fail "build/$app RUNPATH is '$runpath', expected CMake's build RPATH to name $PREFIX/lib" ;;
    esac
    run_app "$app"
done
if "$READELF" -d build/app_static | grep -q 'NEEDED.*libpekonode'; then
    fail "build/app_static needs libpekonode: $("$READELF" -d build/app_static | grep 'NEEDED.*libpekonode')"
fi
run_app app_static
say "pekonode::pekonode (C++17 and C99, RUNPATH $PREFIX/lib) and pekonode::pekonode_static (no NEEDED libpekonode): OK"

# ---- 2. version file and relocation ------------------------------------------------------
MOVED=$TMP/moved-prefix
cp -R "$PREFIX" "$MOVED"
mkdir "$TMP/version-check"
cp "$HERE/version-check/CMakeLists.txt" "$TMP/version-check/"
cd "$TMP/version-check"
rc=0
bounded "$CMAKE_TIMEOUT" "$CMAKE" -S . -B build -DCMAKE_PREFIX_PATH="$MOVED" \
    -DPEKO_VERSION="$PEKO_VERSION" >configure.log 2>&1 || rc=$?
grep 'version-check:' configure.log | sed 's/^-- //; s/^ *//; s/^/test-cmake: /'
[ "$rc" -eq 0 ] || { cat configure.log >&2; fail "find_package's version checks (above)"; }
say "version file and relocated prefix: OK"
say "PASS"
