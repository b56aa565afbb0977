#!/bin/sh
# Runs the cargo-fuzz targets in fuzz/ one after another, each for SECONDS, and prints per
# target the executions, the corpus size and whether it found a crash.
#
#   scripts/fuzz.sh SECONDS [TARGET...]      (no target: all of them)
#
# FUZZ_OUT names the output directory (default build/fuzz), so a short run and a long one keep
# apart.
#
# Each target starts from the committed seeds (fuzz/corpus/<target>, read only) and a working
# corpus in $FUZZ_OUT/corpus/<target>, where new inputs go; crashing inputs are written to
# $FUZZ_OUT/artifacts/<target>/ and the run's log to $FUZZ_OUT/<target>.log. The targets are
# built without a sanitizer (-s none), so a stable toolchain builds them: the decoders and the
# core are safe Rust, and what the fuzzer looks for is panics, arithmetic overflow (the targets
# build with overflow checks and debug assertions), runaway allocation (-rss_limit_mb) and hangs
# (-timeout). Exits non-zero when any target failed.
set -u
secs=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
targets=${*:-$(cargo fuzz list --fuzz-dir fuzz)}
out=${FUZZ_OUT:-build/fuzz}
rev=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
git diff --quiet HEAD -- src fuzz 2>/dev/null || rev="$rev+changes"
mkdir -p "$out"
cargo fuzz build -s none --fuzz-dir fuzz || exit 1
failed=0
summary=""
for t in $targets; do
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
    echo "fuzz: $t for ${secs} s"
    cargo fuzz run -s none --fuzz-dir fuzz "$t" "$out/corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$t/" >"$out/$t.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$out/$t.log" | tail -1)
    corpus=$(ls "$out/corpus/$t" | wc -l)
    crashes=$(ls "$out/artifacts/$t" | wc -l)
    if [ "$rc" -ne 0 ]; then
        failed=1
        echo "fuzz: $t FAILED (exit $rc); the end of $out/$t.log:" >&2
        tail -30 "$out/$t.log" >&2
    fi
    summary="$summary$(printf '%-10s %12s executions  %6s inputs in the working corpus  %3s crash files  exit %s' \
        "$t" "${runs:-?}" "$corpus" "$crashes" "$rc")
"
done
echo "fuzz: ${secs} s per target, built from $rev"
printf '%s' "$summary"
exit $failed
