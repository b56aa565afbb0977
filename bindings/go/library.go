package pekonode

// zz_library.go, next to this file, is written by `make lib` (bindings/go/library_stamp.sh) and
// is not in git. It defines runMakeLibFirst: the library's version and the sha256 of
// target/release/libpekonode.a. go build hashes the package's Go files but not the archive the
// cgo flags name, so this string, compiled into the package, is what makes go build, go run and
// go test relink a program after the library changed.

// LibraryBuild returns the library this package was built against, as `make lib` recorded it
// in zz_library.go: Cargo.toml's version and the sha256 of libpekonode.a, e.g.
// "0.1.0 sha256:9f86d081...". Version is what the linked library itself reports.
func LibraryBuild() string {
	// "undefined: runMakeLibFirst" here means zz_library.go is missing: run `make lib` in the
	// pekonode checkout (a bare `cargo build --release` does not write it).
	return runMakeLibFirst
}
