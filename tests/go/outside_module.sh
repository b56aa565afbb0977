#!/bin/sh
# The Go binding used the way the README's "### Go" section tells a user to (run by
# `make test-go`):
#
#  1. the commands of that section's sh block, read from README.md with /path/to/pekonode
#     replaced by this checkout, run one by one in a new module in a temporary directory outside
#     the checkout (main.go is tests/go/outside/main.go: a three-member cluster on 127.0.0.1,
#     ports chosen by the OS); GOPROXY=off, so nothing but the standard library and the
#     replaced binding may be needed;
#  2. the checkout's stamp bindings/go/zz_library.go names the archive: it says
#     "<peko_version> sha256:<sha256 of target/release/libpekonode.a>", the program built in 1
#     reports it, and `make go-stamp` does not rewrite an up-to-date stamp (same mtime and
#     inode);
#  3. a changed stamp makes go build relink, on a copy of bindings/go (with copies of the
#     archive, include/ and Cargo.toml where its cgo flags and library_stamp.sh look) in the
#     temporary directory, the new module's replace directive pointing at it: the program is
#     built, the copy's stamp rewritten with another id (as library_stamp.sh writes it for
#     another library), the program built again to the same path: it must differ and carry the
#     new id; with the real stamp back, a third build must equal the first;
#  4. without zz_library.go (an overlay hides the copy's) the package stops with
#     "undefined: runMakeLibFirst".
#
# It also checks that `go doc` shows each event kind's value and meaning.
#
# The test never writes the checkout's zz_library.go itself (only `make go-stamp` in 2 may,
# and must not). `make test` runs its targets one after another, but another `make lib` (from
# another shell or an editor) may rebuild the library at any moment: 2 repeats its check while
# the archive or the stamp changes under it, and 3 and 4 use their own copies, so neither
# depends on timing.
#
# Every command is bounded by `timeout`; the temporary directory is removed on every exit.
# GO names the go command (default: go).
set -eu

GO=${GO:-go}
root=$(cd "$(dirname "$0")/../.." && pwd)
# The README's commands are run with /path/to/pekonode replaced by this path (sed, then sh -c):
# a path with spaces, quotes or other characters special to sed or sh would need quoting the
# README's lines do not have, so such a checkout is refused rather than tested wrongly.
case "$root" in
    *[!A-Za-z0-9._/+-]*)
        echo "outside_module: the checkout's path '$root' has characters other than A-Z a-z 0-9 . _ / + -:" >&2
        echo "outside_module: the README's commands cannot be run with it pasted in; run the test from a checkout at a plainer path" >&2
        exit 1
        ;;
esac
bind=$root/bindings/go
stamp=$bind/zz_library.go
archive=$root/target/release/libpekonode.a
limit=600 # seconds for any one command (builds with -race on a loaded 2-core machine)

gobin=$(command -v "$GO") || { echo "outside_module: '$GO' not found" >&2; exit 1; }
PATH=$(dirname "$gobin"):$PATH
export PATH
export CGO_ENABLED=1 GOPROXY=off

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pekonode-go.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "outside_module: FAILED: $*" >&2
    exit 1
}

# --- 1. the README's commands, in a module outside the checkout -------------------------------

awk '/^### Go$/ { go = 1; next }
     go && /^##/ { exit }
     go && /^```sh$/ { block = 1; next }
     block && /^```$/ { exit }
     block { print }' "$root/README.md" >"$tmp/readme-commands"
for want in 'make -C /path/to/pekonode lib' \
    'go mod edit -require=github.com/pekonode/pekonode/bindings/go@v0.0.0 -replace=github.com/pekonode/pekonode/bindings/go=/path/to/pekonode/bindings/go' \
    'CGO_ENABLED=1 go vet ./...' 'CGO_ENABLED=1 go run -race .'; do
    grep -qxF -- "$want" "$tmp/readme-commands" ||
        fail "README.md's Go section has no line '$want' in its sh block"
done

mkdir "$tmp/app" "$tmp/bin"
cp "$root/tests/go/outside/main.go" "$tmp/app/main.go"
sed "s|/path/to/pekonode|$root|g" "$tmp/readme-commands" >"$tmp/commands"
while IFS= read -r cmd; do
    [ -n "$cmd" ] || continue
    echo "outside_module: [$tmp/app] \$ $cmd"
    (cd "$tmp/app" && timeout "$limit" sh -c "$cmd") >"$tmp/out" 2>&1 || {
        cat "$tmp/out" >&2
        fail "'$cmd' failed"
    }
    cat "$tmp/out"
done <"$tmp/commands"
grep -q '^outside: OK$' "$tmp/out" || fail "the last command did not run the cluster program"

# go doc gives each event kind's value and meaning, not only C.PEKO_EVENT_*.
(cd "$tmp/app" && timeout "$limit" go doc -all github.com/pekonode/pekonode/bindings/go EventKind) \
    >"$tmp/doc" 2>&1 || fail "go doc failed: $(cat "$tmp/doc")"
for kind in Joined=1 Left=2 Failed=3 Updated=4 Metadata=5; do
    grep -q "^	// Event${kind%=*}: ." "$tmp/doc" && grep -qx "	Event${kind%=*} EventKind = ${kind#*=}" "$tmp/doc" ||
        fail "go doc does not show Event${kind%=*} = ${kind#*=} with its meaning: $(cat "$tmp/doc")"
done
! grep -q 'C\.PEKO_EVENT' "$tmp/doc" || fail "go doc shows C.PEKO_EVENT_* values"

# --- 2. the checkout's stamp is derived from the archive ------------------------------------

line=$(grep '^pekonode .*, built against ' "$tmp/out") || fail "no version line in the program's output"
version=${line#pekonode }
version=${version%%,*}
ran=${line##* }
[ "$line" = "pekonode $version, built against $version $ran" ] &&
    printf '%s\n' "$ran" | grep -qx 'sha256:[0-9a-f]\{64\}' ||
    fail "the program's version line is not 'pekonode V, built against V sha256:<hex>': '$line'"

sha() { sha256sum <"$1" | cut -d ' ' -f 1; }
said() { sed -n 's/^const runMakeLibFirst = "\(.*\)"$/\1/p' "$stamp"; }
go_stamp() { timeout "$limit" make -C "$root" --no-print-directory go-stamp >/dev/null; }

# One try: bring the stamp up to date for the archive as it is now, read the archive's hash,
# the stamp and its mtime/inode, run make go-stamp again (and, if the program from 1 carries
# another stamp, build it again), then read them all once more. Only when the archive and the
# stamp were the same at both ends does the try count; otherwise a make lib ran meanwhile.
tries=0
while :; do
    tries=$((tries + 1))
    go_stamp
    hash=$(sha "$archive")
    said_before=$(said)
    stat_before=$(stat -c '%y %i' "$stamp")
    rebuilt=
    if [ "$ran" != "sha256:$hash" ]; then
        (cd "$tmp/app" && timeout "$limit" go build -o "$tmp/bin/again" .) || fail "go build failed"
        rebuilt=$tmp/bin/again
    fi
    go_stamp
    stat_after=$(stat -c '%y %i' "$stamp")
    if [ "$(sha "$archive")" = "$hash" ] && [ "$(said)" = "$said_before" ]; then
        break
    fi
    [ "$tries" -lt 5 ] || fail "the archive or zz_library.go changed during each of 5 tries (a make lib running all the time?)"
    echo "outside_module: the library changed during the check (another make lib?): trying again"
done
[ "$said_before" = "$version sha256:$hash" ] ||
    fail "zz_library.go says '$said_before'; the archive is $version sha256:$hash"
[ "$stat_after" = "$stat_before" ] || fail "make go-stamp rewrote an unchanged stamp"
if [ -z "$rebuilt" ]; then
    echo "outside_module: stamp = library $version sha256:$hash, as the program from 1 reports"
else
    # The library was rebuilt after 1 (another make lib): a program built now carries its stamp.
    grep -qF "$version sha256:$hash" "$rebuilt" ||
        fail "a program built against zz_library.go ($version sha256:$hash) does not carry its stamp"
    echo "outside_module: stamp = library $version sha256:$hash (rebuilt since 1, which reported $ran; a new build carries it)"
fi
echo "outside_module: make go-stamp left the up-to-date zz_library.go untouched"

# --- 3. a changed stamp relinks (on a copy of bindings/go) -----------------------------------

# The copy sits where its cgo flags (${SRCDIR}/../../include, ${SRCDIR}/../../target/release)
# look, with its own archive, header and Cargo.toml, so a make lib in the checkout meanwhile
# changes nothing here; its library_stamp.sh writes the copy's zz_library.go.
tree=$tmp/tree
cbind=$tree/bindings/go
carchive=$tree/target/release/libpekonode.a
mkdir -p "$tree/bindings" "$tree/target/release"
cp -R "$bind" "$cbind"
rm -f "$cbind"/zz_library.go.tmp.*
cp -R "$root/include" "$tree/include"
cp "$root/Cargo.toml" "$tree/Cargo.toml"
cp "$archive" "$carchive"
chash=$(sha "$carchive")
sh "$cbind/library_stamp.sh" "$carchive" "$tree/Cargo.toml" >/dev/null
(cd "$tmp/app" && go mod edit -replace="github.com/pekonode/pekonode/bindings/go=$cbind") ||
    fail "go mod edit -replace=...=$cbind"
echo "outside_module: relink check on a copy: $cbind"

build() {
    (cd "$tmp/app" && timeout "$limit" go build -o "$tmp/bin/app" .) || fail "go build failed"
    cp "$tmp/bin/app" "$tmp/bin/$1"
    echo "outside_module: build $1: buildid $(go tool buildid "$tmp/bin/app")"
}
fake="test-stale-$$"
build first
sh "$cbind/library_stamp.sh" "$carchive" "$tree/Cargo.toml" "$fake" >/dev/null
build faked
sh "$cbind/library_stamp.sh" "$carchive" "$tree/Cargo.toml" >/dev/null
build restored
if cmp -s "$tmp/bin/first" "$tmp/bin/faked"; then
    fail "go build did not relink after the stamp changed (same binary)"
fi
grep -qF "$version sha256:$chash" "$tmp/bin/first" || fail "the first build does not carry the stamp"
grep -qF "$version $fake" "$tmp/bin/faked" || fail "the rebuilt program does not carry the new stamp"
cmp -s "$tmp/bin/first" "$tmp/bin/restored" ||
    fail "with the stamp restored the program differs from the first build"
echo "outside_module: a changed stamp relinked the program; the restored stamp gives the first binary back"

# --- 4. a missing stamp says what to do ------------------------------------------------------

printf '{"Replace": {"%s": ""}}\n' "$cbind/zz_library.go" >"$tmp/overlay.json"
if (cd "$tmp/app" && timeout "$limit" go build -overlay="$tmp/overlay.json" -o /dev/null .) >"$tmp/out" 2>&1; then
    fail "the package built without zz_library.go"
fi
grep -q 'library.go:.*undefined: runMakeLibFirst' "$tmp/out" || {
    cat "$tmp/out" >&2
    fail "without zz_library.go the error does not name runMakeLibFirst"
}
echo "outside_module: without zz_library.go: $(grep 'undefined: runMakeLibFirst' "$tmp/out")"
echo "outside_module: OK"
