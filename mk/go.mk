# The Go binding (bindings/go) and its example (examples/go).
#
#   make test-go       gofmt check, go vet, go test -race on bindings/go, the example built
#                      into build/ and run briefly (port 0, loopback), then
#                      tests/go/outside_module.sh: the README's Go commands in a new module
#                      outside the checkout, and the library stamp (below) checked
#   make examples-go   builds examples/go into build/go-discovery
#   make go-stamp      (run by `make lib`) writes bindings/go/zz_library.go
#
# Both link the static library (target/release/libpekonode.a, built first by `lib`), so the
# results run without LD_LIBRARY_PATH. They need Go with cgo and a C compiler; without `go` on
# the PATH they print SKIPPED and succeed, so `make test` still runs on a machine with only
# Rust and C (set GO=/path/to/go to use another Go).
#
# The stamp: go build hashes a package's Go files but not the archive its cgo flags name, so
# after the library changed it would keep linking programs against the old one. `make lib`
# therefore runs go-stamp after every build of the library: bindings/go/library_stamp.sh
# writes zz_library.go (git-ignored) with the library's version and the archive's sha256,
# rewriting it only when that changes. A changed file is a changed package, so go build,
# go run and go test relink. It needs sh, sed and sha256sum only, not Go.

GO      ?= go
GO_ENV  := CGO_ENABLED=1
GO_BIND := bindings/go
GO_EXMP := examples/go
GO_EXMP_BIN := $(BUILD)/go-discovery
GO_FOUND := $(shell command -v $(GO) 2>/dev/null)

.PHONY: test-go examples-go go-stamp

LIB_AFTER += go-stamp

go-stamp:
	@sh $(GO_BIND)/library_stamp.sh $(STATIC_LIB) Cargo.toml

ifeq ($(GO_FOUND),)

test-go examples-go:
	@echo "$@: SKIPPED: '$(GO)' not found on PATH (install Go, with cgo and a C compiler, to build the Go binding)"

else

test-go: lib
	@bad=$$("$$($(GO) env GOROOT)/bin/gofmt" -l $(GO_BIND) $(GO_EXMP) tests/go); \
	if [ -n "$$bad" ]; then echo "test-go: not gofmt-formatted: $$bad" >&2; exit 1; fi
	cd $(GO_BIND) && $(GO_ENV) $(GO) vet ./...
	cd $(GO_BIND) && $(GO_ENV) $(GO) test -race -count=1 ./...
	cd $(GO_EXMP) && $(GO_ENV) $(GO) vet ./...
	$(MAKE) --no-print-directory examples-go
	./$(GO_EXMP_BIN) -addr 127.0.0.1 -port 0 -cycle 100ms -for 1s -name smoke -publish hello
	@./$(GO_EXMP_BIN) -no-such-flag >/dev/null 2>&1; rc=$$?; \
	if [ $$rc -ne 2 ]; then echo "test-go: go-discovery with a bad flag exited $$rc, expected 2" >&2; exit 1; fi
	GO=$(GO) sh tests/go/outside_module.sh
	@echo "test-go: OK"

# `lib` refreshes the stamp, so go build relinks whenever the library changed.
examples-go: lib | $(BUILD)
	cd $(GO_EXMP) && $(GO_ENV) $(GO) build -buildvcs=false -o $(abspath $(GO_EXMP_BIN)) .

endif

TEST_EXTRA += test-go
EXAMPLES_EXTRA += examples-go
