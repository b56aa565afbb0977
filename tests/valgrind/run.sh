#!/bin/sh
# `make test-valgrind`: runs C programs linked with libpekonode under valgrind memcheck and
# fails on any memory error or a definitely/indirectly lost block.
#
# Memory the library keeps for the life of the process (the shared tokio runtime, its worker
# threads' stacks and thread-local storage, once-initialised statics) is "still reachable"
# or, for the runtime's threads and hash tables that are only pointed into, "possibly lost".
# Neither fails the run: the possibly-lost records are listed (first library frame) so a new
# one can be told from the known ones.
#
# Environment (from mk/install.mk): VALGRIND, VALGRIND_TIMEOUT (seconds per program),
# BUILD (the directory with cluster_demo and node), VALGRIND_C_TESTS (a test_api binary
# built without sanitizers; optional) and VALGRIND_C_TEST_NAMES (the tests of it to run;
# default all).
set -eu

VALGRIND=${VALGRIND:-valgrind}
VALGRIND_TIMEOUT=${VALGRIND_TIMEOUT:-300}
BUILD=${BUILD:-build}
VALGRIND_C_TESTS=${VALGRIND_C_TESTS:-}
VALGRIND_C_TEST_NAMES=${VALGRIND_C_TEST_NAMES:-}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pekonode-valgrind.XXXXXX")
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf 'test-valgrind: %s\n' "$*"; }

failed=0
n=0

# valgrind, bounded in time when coreutils' timeout is there (exit 124 when it fired).
vg() {
    if command -v timeout >/dev/null 2>&1; then
        timeout "$VALGRIND_TIMEOUT" "$VALGRIND" "$@"
    else
        "$VALGRIND" "$@"
    fi
}

# run_vg LABEL PROGRAM [ARGS...]
run_vg() {
    label=$1
    shift
    n=$((n + 1))
    log=$TMP/vg.$n.%p.log
    out=$TMP/out.$n
    say "$label: valgrind $*"
    rc=0
    vg --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=1 --num-callers=40 \
        --log-file="$log" "$@" >"$out" 2>&1 || rc=$?

    # One log per process (the C test runner forks a child per test).
    logs=$(ls "$TMP"/vg."$n".*.log 2>/dev/null || true)
    definite=0 indirect=0 possible=0 errors=0
    for l in $logs; do
        d=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$l" | tr -d , | head -n 1)
        i=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$l" | tr -d , | head -n 1)
        p=$(sed -n 's/.*possibly lost: \([0-9,]*\) bytes.*/\1/p' "$l" | tr -d , | head -n 1)
        e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$l" | tr -d , | head -n 1)
        definite=$((definite + ${d:-0}))
        indirect=$((indirect + ${i:-0}))
        possible=$((possible + ${p:-0}))
        errors=$((errors + ${e:-0}))
    done

    if [ "$rc" -eq 124 ]; then
        say "$label: FAILED: still running after ${VALGRIND_TIMEOUT}s under valgrind"
    fi
    if [ "$rc" -ne 0 ] || [ "$definite" -ne 0 ] || [ "$indirect" -ne 0 ] || [ "$errors" -ne 0 ]; then
        say "$label: FAILED (exit $rc; definitely lost $definite B, indirectly lost $indirect B, $errors errors in the ERROR SUMMARY)"
        say "--- program output"
        cat "$out"
        for l in $logs; do
            say "--- valgrind log $l"
            cat "$l"
        done
        # Again after the logs, which can be long: CI often shows only the end of the output.
        say "$label: FAILED (exit $rc); the program's failure lines:"
        grep -E 'FAIL|\.c:[0-9]+:|panick' "$out" | tail -n 40 | sed 's/^/    /' || true
        failed=$((failed + 1))
        return 0
    fi

    tail -n 1 "$out" | sed 's/^/    /'
    say "$label: OK: 0 errors; definitely lost 0 B, indirectly lost 0 B; possibly lost $possible B (not a failure)"
    if [ "$possible" -ne 0 ]; then
        # Each kind of possibly-lost record (size, first tokio/pekonode/once_cell frame),
        # with how many processes reported it.
        for l in $logs; do
            awk '
                /are possibly lost in loss record/ {
                    inrec = 1; sub(/^==[0-9]+== /, ""); sub(/ in loss record.*/, ""); head = $0; next
                }
                inrec && /(by|at) 0x/ && /(tokio|pekonode|once_cell)::/ {
                    sub(/^==[0-9]+== +(by|at) 0x[0-9A-Fa-f]+: /, "")
                    print head " <- " $0
                    inrec = 0
                }
                /^==[0-9]+== $/ { if (inrec) print head; inrec = 0 }
            ' "$l"
        done | sort | uniq -c | sed 's/^ */      /; s/^\(      [0-9]*\) /\1x /'
    fi
}

run_vg cluster_demo "$BUILD/cluster_demo"
run_vg node "$BUILD/node" --addr 127.0.0.1 --port 0 --cycle 100 --rounds 3 --name vg \
    --data d --publish hello
if [ -n "$VALGRIND_C_TESTS" ]; then
    # shellcheck disable=SC2086
    run_vg c-tests "$VALGRIND_C_TESTS" $VALGRIND_C_TEST_NAMES
fi

if [ "$failed" -ne 0 ]; then
    say "FAILED: $failed of $n programs"
    exit 1
fi
say "PASS: $n programs, no memory errors, no definite or indirect leaks"
