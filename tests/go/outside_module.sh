#!/bin/sh
# The Go binding used the way the README's "### Go" section tells a user to (run by
# `make test-go`):
#
#  1. the commands of that section's sh block, read from README.md with /path/to/pekonode
#     replaced by this checkout, run one by one in a new module in a temporary directory outside
#     the checkout (main.go is tests/go/outside/main.go: a three-member cluster on 127.0.0.1,
#     ports chosen by the OS); GOPROXY=off, so nothing but the standard library and the
#     replaced binding may be needed;
#  2. the stamp bindings/go/zz_library.go names the archive: the program built in 1 reports
#     "<peko_version> sha256:<sha256 of target/release/libpekonode.a>", and `make go-stamp`
#     does not rewrite an up-to-date stamp;
#  3. a changed stamp makes go build relink: the program is built, the stamp rewritten with
#     another id (as library_stamp.sh writes it for another library), the program built again
#     to the same path: it must differ and carry the new id; with the real stamp restored, a
#     third build must equal the first;
#  4. without zz_library.go the package stops with "undefined: runMakeLibFirst".
#
# It also checks that `go doc` shows each event kind's value and meaning.
#
# Every command is bounded by `timeout`; the temporary directory is removed and the real stamp
# restored on every exit. GO names the go command (default: go).
set -eu

GO=${GO:-go}
root=$(cd "$(dirname "$0")/../.." && pwd)
bind=$root/bindings/go
stamp=$bind/zz_library.go
archive=$root/target/release/libpekonode.a
limit=600 # seconds for any one command (builds with -race on a loaded 2-core machine)

gobin=$(command -v "$GO") || { echo "outside_module: '$GO' not found" >&2; exit 1; }
PATH=$(dirname "$gobin"):$PATH
export PATH
export CGO_ENABLED=1 GOPROXY=off

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pekonode-go.XXXXXX")
faked=0
cleanup() {
    if [ "$faked" = 1 ]; then
        sh "$bind/library_stamp.sh" "$archive" "$root/Cargo.toml" >/dev/null || true
    fi
    rm -rf "$tmp"
}
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

# --- 2. the stamp is derived from the archive ------------------------------------------------

hash=$(sha256sum <"$archive" | cut -d ' ' -f 1)
line=$(grep '^pekonode .*, built against ' "$tmp/out") || fail "no version line in the program's output"
version=${line#pekonode }
version=${version%%,*}
[ "$line" = "pekonode $version, built against $version sha256:$hash" ] ||
    fail "stamp does not name the archive: '$line'; archive sha256:$hash"
echo "outside_module: stamp = library $version sha256:$hash"

before=$(stat -c '%y %i' "$stamp")
timeout "$limit" make -C "$root" --no-print-directory go-stamp >/dev/null
[ "$(stat -c '%y %i' "$stamp")" = "$before" ] || fail "make go-stamp rewrote an unchanged stamp"

# --- 3. a changed stamp relinks --------------------------------------------------------------

build() {
    (cd "$tmp/app" && timeout "$limit" go build -o "$tmp/bin/app" .) || fail "go build failed"
    cp "$tmp/bin/app" "$tmp/bin/$1"
    echo "outside_module: build $1: buildid $(go tool buildid "$tmp/bin/app")"
}
fake="test-stale-$$"
build first
faked=1
sh "$bind/library_stamp.sh" "$archive" "$root/Cargo.toml" "$fake" >/dev/null
build faked
sh "$bind/library_stamp.sh" "$archive" "$root/Cargo.toml" >/dev/null
faked=0
build restored
if cmp -s "$tmp/bin/first" "$tmp/bin/faked"; then
    fail "go build did not relink after the stamp changed (same binary)"
fi
grep -qF "sha256:$hash" "$tmp/bin/first" || fail "the first build does not carry the stamp"
grep -qF "$version $fake" "$tmp/bin/faked" || fail "the rebuilt program does not carry the new stamp"
cmp -s "$tmp/bin/first" "$tmp/bin/restored" ||
    fail "with the stamp restored the program differs from the first build"
echo "outside_module: a changed stamp relinked the program; the restored stamp gives the first binary back"

# --- 4. a missing stamp says what to do ------------------------------------------------------

printf '{"Replace": {"%s": ""}}\n' "$stamp" >"$tmp/overlay.json"
if (cd "$tmp/app" && timeout "$limit" go build -overlay="$tmp/overlay.json" -o /dev/null .) >"$tmp/out" 2>&1; then
    fail "the package built without zz_library.go"
fi
grep -q 'library.go:.*undefined: runMakeLibFirst' "$tmp/out" || {
    cat "$tmp/out" >&2
    fail "without zz_library.go the error does not name runMakeLibFirst"
}
echo "outside_module: without zz_library.go: $(grep 'undefined: runMakeLibFirst' "$tmp/out")"
echo "outside_module: OK"
