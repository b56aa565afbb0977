//! Drives `tests/gopekonode/fixture` (a Go program playing nodes of the Go pekonode) from Rust:
//! built with `go build`, started with N nodes, commanded through its stdin. Shared by
//! `tests/go_compat.rs` and `examples/compat_bench.rs`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

/// The Go command: `$GO`, or `go` on the PATH (as mk/go.mk).
pub fn go_command() -> String {
    std::env::var("GO")
        .ok()
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| "go".into())
}

/// `PEKO_SKIP_GO_FIXTURE=1`: a machine without Go skips the fixture's tests instead of failing.
pub const SKIP_VAR: &str = "PEKO_SKIP_GO_FIXTURE";

/// The fixture binary, built once per process into `dir`. Without Go it panics (a test that
/// passed without running would hide that it did not run), or, with `PEKO_SKIP_GO_FIXTURE=1`,
/// prints SKIPPED and returns `None`.
pub fn fixture_binary(dir: &str) -> Option<&'static str> {
    static BIN: OnceLock<Option<String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let go = go_command();
        let works = Command::new(&go)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !works {
            if std::env::var(SKIP_VAR).as_deref() == Ok("1") {
                eprintln!("SKIPPED: `{go} version` failed, and {SKIP_VAR}=1 is set");
                return None;
            }
            panic!(
                "`{go} version` failed: the Go pekonode compatibility tests need Go to build \
                 tests/gopekonode/fixture. Install Go or name it with GO=/path/to/go; \
                 {SKIP_VAR}=1 skips these tests instead."
            );
        }
        let out = format!("{dir}/gofixture");
        let dir = format!("{}/tests/gopekonode/fixture", env!("CARGO_MANIFEST_DIR"));
        let st = Command::new(&go)
            .args(["build", "-o", &out, "."])
            .current_dir(&dir)
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .status()
            .expect("run go build");
        assert!(st.success(), "`{go} build` of the fixture failed");
        Some(out)
    })
    .as_deref()
}

/// One fixture node as `dump` reports it.
#[derive(Debug, Clone)]
pub struct GoView {
    pub port: u16,
    /// `addr:port/name` of every node it lists, itself included.
    pub list: Vec<String>,
    pub meta: Vec<u8>,
    pub wrong_key: u64,
    /// Packets and bytes it has sent.
    pub sent: u64,
    pub sent_bytes: u64,
}

impl GoView {
    pub fn lists(&self, id: SocketAddr) -> bool {
        let prefix = format!("{id}/");
        self.list.iter().any(|l| l.starts_with(&prefix))
    }
}

pub struct Fixture {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
    pub ports: Vec<u16>,
}

/// The fixture's timing: its cycle and timeout in milliseconds, and how long it may live.
pub struct Timing {
    pub cycle_ms: u32,
    pub timeout_ms: u32,
    pub life_s: u32,
}

impl Fixture {
    /// `nodes` Go nodes (each told of the first), or `None` when Go is missing and
    /// `PEKO_SKIP_GO_FIXTURE=1` allows that (`fixture_binary`; `bin_dir` holds the build).
    pub fn start(
        bin_dir: &str,
        nodes: usize,
        protocol: &str,
        key: &str,
        t: &Timing,
    ) -> Option<Fixture> {
        let bin = fixture_binary(bin_dir)?;
        let mut child = Command::new(bin)
            .args([
                "-nodes",
                &nodes.to_string(),
                "-protocol",
                protocol,
                "-key",
                key,
                "-cycle",
                &t.cycle_ms.to_string(),
                "-timeout",
                &t.timeout_ms.to_string(),
                "-life",
                &format!("{}s", t.life_s),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the fixture");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut ports = Vec::new();
        while ports.len() < nodes {
            let mut line = String::new();
            assert!(out.read_line(&mut line).unwrap() > 0, "the fixture ended");
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.first(), Some(&"READY"), "{line}");
            ports.push(f[2].parse().unwrap());
        }
        Some(Fixture {
            child,
            stdin,
            out,
            ports,
        })
    }

    pub fn id(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[i]))
    }

    pub fn ids(&self) -> Vec<SocketAddr> {
        (0..self.ports.len()).map(|i| self.id(i)).collect()
    }

    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        let mut reply = String::new();
        self.out.read_line(&mut reply).unwrap();
        assert_eq!(reply.trim(), "OK", "{line}");
    }

    pub fn dump(&mut self) -> Vec<GoView> {
        writeln!(self.stdin, "dump").unwrap();
        let mut views = Vec::new();
        loop {
            let mut line = String::new();
            assert!(
                self.out.read_line(&mut line).unwrap() > 0,
                "the fixture ended"
            );
            if line.trim() == "END" {
                return views;
            }
            let mut v = GoView {
                port: 0,
                list: Vec::new(),
                meta: Vec::new(),
                wrong_key: 0,
                sent: 0,
                sent_bytes: 0,
            };
            for (i, field) in line.split_whitespace().enumerate() {
                if i == 2 {
                    v.port = field.parse().unwrap();
                } else if let Some(l) = field.strip_prefix("list=") {
                    v.list = l
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                } else if let Some(m) = field.strip_prefix("meta=") {
                    let b64 = m.split('@').next().unwrap();
                    v.meta = decode_b64(b64);
                } else if let Some(w) = field.strip_prefix("wrongkey=") {
                    v.wrong_key = w.parse().unwrap();
                } else if let Some(n) = field.strip_prefix("sent=") {
                    v.sent = n.parse().unwrap();
                } else if let Some(n) = field.strip_prefix("sentbytes=") {
                    v.sent_bytes = n.parse().unwrap();
                }
            }
            views.push(v);
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn decode_b64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("the fixture's base64")
}
