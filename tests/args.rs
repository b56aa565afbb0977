//! The argument rules are `Node`'s: a Rust caller gets the same status and the same message as a
//! C caller of the matching `peko_*` function (whose message is read back with
//! `peko_last_error`). No sockets are bound here: every case fails before `join`.

use pekonode::driver::args;
use pekonode::error::{peko_status, PEKO_ERR_INVALID_ARG, PEKO_ERR_TOO_LARGE, PEKO_OK};
use pekonode::ffi::*;
use pekonode::{Attributes, Config, Error, Node};
use std::ffi::{c_char, CString};
use std::net::SocketAddr;
use std::ptr;

fn c_last_error(status: peko_status) -> Error {
    let mut buf = vec![0u8; 4096];
    let n = unsafe { peko_last_error(buf.as_mut_ptr() as *mut c_char, buf.len()) };
    buf.truncate(n);
    Error::new(
        status,
        String::from_utf8(buf).expect("the message is UTF-8"),
    )
}

fn c_result(status: peko_status) -> Result<(), Error> {
    if status == PEKO_OK {
        Ok(())
    } else {
        Err(c_last_error(status))
    }
}

/// Owns the C strings of one `peko_node_info`.
struct CMember {
    addr: CString,
    name: CString,
    data: CString,
    port: u16,
}

impl CMember {
    fn new(addr: &str, port: u16, name: &str, data: &str) -> CMember {
        CMember {
            addr: CString::new(addr).unwrap(),
            name: CString::new(name).unwrap(),
            data: CString::new(data).unwrap(),
            port,
        }
    }
    fn info(&self) -> peko_node_info {
        peko_node_info {
            addr: self.addr.as_ptr(),
            port: self.port,
            name: self.name.as_ptr(),
            private_data: self.data.as_ptr(),
        }
    }
}

/// The C config matching `rust_config()` (plus `amount` and `listen_addr`).
fn c_config(amount: u32, listen_addr: Option<&CString>) -> peko_config {
    let mut c = std::mem::MaybeUninit::<peko_config>::uninit();
    unsafe { peko_config_default(c.as_mut_ptr()) };
    let mut c = unsafe { c.assume_init() };
    c.cycle_ms = 100;
    c.timeout_ms = 2000;
    c.amount = amount;
    c.listen_addr = listen_addr.map_or(ptr::null(), |s| s.as_ptr());
    c
}

fn rust_config(amount: u32) -> Config {
    Config {
        cycle_ms: 100,
        timeout_ms: 2000,
        amount,
        ..Config::default()
    }
}

/// `peko_new`; the handle is freed at once on success (only the outcome matters here).
fn c_new(cfg: &peko_config, local: &CMember) -> Result<(), Error> {
    let info = local.info();
    let mut out: *mut peko_node = ptr::null_mut();
    let r = c_result(unsafe { peko_new(cfg, &info, &mut out) });
    if r.is_ok() {
        unsafe { peko_free(out) };
    }
    r
}

fn rust_new(cfg: Config, local: &str, name: &str, data: &str) -> Result<(), Error> {
    Node::new(
        cfg,
        local.parse().unwrap(),
        Attributes {
            name: name.into(),
            private_data: data.into(),
        },
    )
    .map(drop)
}

/// A C handle and a Rust node, both unjoined, with the same configuration.
struct Pair {
    c: *mut peko_node,
    rust: Node,
}

impl Pair {
    fn new(size: u32) -> Pair {
        let mut cfg = c_config(0, None);
        cfg.size = size;
        let local = CMember::new("127.0.0.1", 0, "n", "");
        let mut c: *mut peko_node = ptr::null_mut();
        c_result(unsafe { peko_new(&cfg, &local.info(), &mut c) }).expect("peko_new");
        let rust = Node::new(
            Config {
                size,
                ..rust_config(0)
            },
            "127.0.0.1:0".parse().unwrap(),
            Attributes::default(),
        )
        .expect("Node::new");
        Pair { c, rust }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        unsafe { peko_free(self.c) };
    }
}

fn same(what: &str, rust: Result<(), Error>, c: Result<(), Error>) {
    assert_eq!(rust, c, "{what}: Rust and C callers disagree");
}

fn same_error(what: &str, status: peko_status, rust: Result<(), Error>, c: Result<(), Error>) {
    let e = rust
        .as_ref()
        .expect_err(&format!("{what}: accepted from Rust"));
    assert_eq!(e.status, status, "{what}: {e:?}");
    assert!(!e.message.is_empty(), "{what}: no message");
    same(what, rust, c);
}

#[test]
fn local_member_address_policy() {
    for addr in ["0.0.0.0", "::"] {
        let sock = SocketAddr::new(addr.parse().unwrap(), 0).to_string();
        same_error(
            &format!("local {addr}"),
            PEKO_ERR_INVALID_ARG,
            rust_new(rust_config(0), &sock, "n", ""),
            c_new(&c_config(0, None), &CMember::new(addr, 0, "n", "")),
        );
    }
    // Loopback and port 0 are fine for both.
    same(
        "local 127.0.0.1:0",
        rust_new(rust_config(0), "127.0.0.1:0", "n", ""),
        c_new(&c_config(0, None), &CMember::new("127.0.0.1", 0, "n", "")),
    );
}

#[test]
fn address_literals_from_text() {
    // A Rust caller holding text parses it with the rule peko_new applies.
    for text in ["localhost", "not-an-ip", "256.0.0.1", "127.0.0.1:7946", ""] {
        let rust = args::ip_literal(text, "addr").map(drop);
        let c = c_new(&c_config(0, None), &CMember::new(text, 0, "n", ""));
        same_error(&format!("addr {text:?}"), PEKO_ERR_INVALID_ARG, rust, c);
    }
    let lo = CString::new("lo").unwrap();
    same_error(
        "listen_addr \"lo\"",
        PEKO_ERR_INVALID_ARG,
        args::ip_literal("lo", "listen_addr").map(drop),
        c_new(
            &c_config(0, Some(&lo)),
            &CMember::new("127.0.0.1", 0, "n", ""),
        ),
    );
    assert_eq!(
        args::ip_literal("[::1]", "addr").unwrap(),
        "::1".parse::<std::net::IpAddr>().unwrap()
    );
}

#[test]
fn attribute_sizes_at_new() {
    let at_limit = "a".repeat(1024);
    let over = "a".repeat(1025);
    for (name, data) in [
        (over.as_str(), ""),
        ("", over.as_str()),
        (over.as_str(), over.as_str()),
    ] {
        same_error(
            &format!("new with {} / {} bytes", name.len(), data.len()),
            PEKO_ERR_INVALID_ARG,
            rust_new(rust_config(0), "127.0.0.1:0", name, data),
            c_new(
                &c_config(0, None),
                &CMember::new("127.0.0.1", 0, name, data),
            ),
        );
    }
    same(
        "1024 bytes each",
        rust_new(rust_config(0), "127.0.0.1:0", &at_limit, &at_limit),
        c_new(
            &c_config(0, None),
            &CMember::new("127.0.0.1", 0, &at_limit, &at_limit),
        ),
    );
}

#[test]
fn configuration_ranges() {
    same_error(
        "amount 65",
        PEKO_ERR_INVALID_ARG,
        rust_new(rust_config(65), "127.0.0.1:0", "n", ""),
        c_new(&c_config(65, None), &CMember::new("127.0.0.1", 0, "n", "")),
    );
}

#[test]
fn peers() {
    let p = Pair::new(0);
    let over = "p".repeat(1025);
    let cases: [(&str, u16, &str, &str); 5] = [
        ("127.0.0.1", 0, "", ""),
        ("0.0.0.0", 7946, "", ""),
        ("::", 7946, "", ""),
        ("0.0.0.0", 0, "", ""),
        ("127.0.0.1", 7946, &over, ""),
    ];
    for (addr, port, name, data) in cases {
        let what = format!("peer {addr} port {port}, name of {} bytes", name.len());
        let rust = p.rust.set(
            SocketAddr::new(addr.parse().unwrap(), port),
            Attributes {
                name: name.into(),
                private_data: data.into(),
            },
        );
        let m = CMember::new(addr, port, name, data);
        let c = c_result(unsafe { peko_set(p.c, &m.info()) });
        same_error(&what, PEKO_ERR_INVALID_ARG, rust, c);
    }
    let m = CMember::new("127.0.0.1", 7946, "p", "");
    same(
        "a good peer",
        p.rust
            .set("127.0.0.1:7946".parse().unwrap(), Attributes::default()),
        c_result(unsafe { peko_set(p.c, &m.info()) }),
    );
}

#[test]
fn update_sizes() {
    let p = Pair::new(0);
    let over = CString::new("u".repeat(1025)).unwrap();
    let short = CString::new("u").unwrap();
    same_error(
        "update with a long name",
        PEKO_ERR_INVALID_ARG,
        p.rust.update(Attributes {
            name: "u".repeat(1025),
            private_data: "u".into(),
        }),
        c_result(unsafe { peko_update(p.c, over.as_ptr(), short.as_ptr()) }),
    );
    same_error(
        "update with long private data",
        PEKO_ERR_INVALID_ARG,
        p.rust.update(Attributes {
            name: "u".into(),
            private_data: "u".repeat(1025),
        }),
        c_result(unsafe { peko_update(p.c, short.as_ptr(), over.as_ptr()) }),
    );
}

#[test]
fn metadata_size() {
    let p = Pair::new(1024);
    let over = vec![7u8; 1025];
    same_error(
        "publish 1025 bytes with size 1024",
        PEKO_ERR_TOO_LARGE,
        p.rust.publish(&over),
        c_result(unsafe { peko_publish(p.c, over.as_ptr(), over.len()) }),
    );
}
