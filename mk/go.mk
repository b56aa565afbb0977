# The Go binding (bindings/go) and its example (examples/go).
#
#   make test-go       gofmt check, go vet, go test -race on bindings/go, then the example built
#                      into build/ and run briefly (port 0, loopback)
#   make examples-go   builds examples/go into build/go-discovery
#
# Both link the static library (target/release/libpekonode.a, built first by `lib`), so the
# results run without LD_LIBRARY_PATH. They need Go with cgo and a C compiler; without `go` on
# the PATH they print SKIPPED and succeed, so `make test` still runs on a machine with only
# Rust and C (set GO=/path/to/go to use another Go).

GO      ?= go
GO_ENV  := CGO_ENABLED=1
GO_BIND := bindings/go
GO_EXMP := examples/go
GO_EXMP_BIN := $(BUILD)/go-discovery
GO_FOUND := $(shell command -v $(GO) 2>/dev/null)

.PHONY: test-go examples-go

ifeq ($(GO_FOUND),)

test-go examples-go:
	@echo "$@: SKIPPED: '$(GO)' not found on PATH (install Go, with cgo and a C compiler, to build the Go binding)"

else

test-go: lib
	@bad=$$("$$($(GO) env GOROOT)/bin/gofmt" -l $(GO_BIND) $(GO_EXMP)); \
	if [ -n "$$bad" ]; then echo "test-go: not gofmt-formatted: $$bad" >&2; exit 1; fi
	cd $(GO_BIND) && $(GO_ENV) $(GO) vet ./...
	cd $(GO_BIND) && $(GO_ENV) $(GO) test -race -count=1 ./...
	cd $(GO_EXMP) && $(GO_ENV) $(GO) vet ./...
	$(MAKE) --no-print-directory examples-go
	./$(GO_EXMP_BIN) -addr 127.0.0.1 -port 0 -cycle 100ms -for 1s -name smoke -publish hello
	@./$(GO_EXMP_BIN) -no-such-flag >/dev/null 2>&1; rc=$$?; \
	if [ $$rc -ne 2 ]; then echo "test-go: go-discovery with a bad flag exited $$rc, expected 2" >&2; exit 1; fi; \
	echo "test-go: OK"

# go build skips relinking when its own inputs did not change, but it does not track the Rust
# archive named in the cgo flags: remove the binary so a rebuilt library is always linked in.
examples-go: lib | $(BUILD)
	@rm -f $(GO_EXMP_BIN)
	cd $(GO_EXMP) && $(GO_ENV) $(GO) build -buildvcs=false -o $(abspath $(GO_EXMP_BIN)) .

endif

TEST_EXTRA += test-go
EXAMPLES_EXTRA += examples-go
