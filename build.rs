//! Generates include/pekonode.h from the C boundary's sources (src/ffi/) with cbindgen. The header is
//! committed; `make check-header` fails when the committed copy is stale.

use std::path::Path;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&dir);
    // The header itself too: a deleted or hand-edited copy is regenerated.
    for f in [
        "src/ffi",
        "src/error.rs",
        "cbindgen.toml",
        "include/pekonode.h",
    ] {
        println!("cargo:rerun-if-changed={}", dir.join(f).display());
    }
    // The shared library's SONAME, so `make install` can ship libpekonode.so.0 with the usual
    // symlinks and programs record the ABI major version.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpekonode.so.0");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    // cbindgen follows src/ffi/mod.rs's `mod` declarations, in their order.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/error.rs"))
        .with_src(dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not read src/ffi/");
    // Written only when the content changed, so the file's time stamp stays put otherwise.
    bindings.write_to_file(dir.join("include/pekonode.h"));
}
