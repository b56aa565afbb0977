# Fuzzing with cargo-fuzz (fuzz/: one target per decoder — datagram frame, stream frame, each
# message body, a rumor, a Go pekonode packet — and a sequence of frames against one member: six;
# every target also applies what decodes to a running core, the compatibility core for the Go
# packet). See scripts/fuzz.sh.
#
#   make fuzz-smoke   each target for FUZZ_SMOKE_SECONDS (12 s: 72 s in all; output in
#                     build/fuzz-smoke); part of make test
#   make fuzz         each target for FUZZ_SECONDS (360 s: 36 minutes in all; build/fuzz)
#   make fuzz-seeds   rewrite the committed seeds from fuzz/src/lib.rs's sample messages and the
#                     Go golden packets (after a wire format change)
#
# cargo-fuzz is installed on first use (a pinned version, built from crates.io).

CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SMOKE_SECONDS ?= 12
FUZZ_SECONDS       ?= 360

.PHONY: fuzz fuzz-smoke fuzz-seeds fuzz-tool

fuzz-tool:
	@cargo fuzz --version 2>/dev/null | grep -q " $(CARGO_FUZZ_VERSION)" || \
	    $(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)

fuzz-smoke: fuzz-tool
	FUZZ_OUT=build/fuzz-smoke scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

fuzz: fuzz-tool
	scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-seeds:
	rm -rf fuzz/corpus
	$(CARGO) run --release --manifest-path fuzz/Cargo.toml --example seeds

TEST_EXTRA += fuzz-smoke
