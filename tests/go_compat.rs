//! The Go pekonode compatibility mode against nodes that behave like the Go original's:
//! `tests/gopekonode/fixture`, a Go program (standard library only) written from the
//! original's description, since the module proxy reachable here does not serve the original.
//! It is built with `go build` into cargo's test temp dir; without Go on the PATH these tests
//! say so and pass (`make test` has Go: see mk/go.mk).
//!
//! Every wait polls with a generous deadline; the fixture exits by itself after its `-life`.

mod common;

use common::*;
use pekonode::{Attributes, Config, Node, Protocol};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

const CYCLE_MS: u32 = 200;
const TIMEOUT_MS: u32 = 2000;

/// The fixture binary, built once per test process; `None` without Go.
fn fixture_binary() -> Option<&'static str> {
    static BIN: OnceLock<Option<String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if Command::new("go").arg("version").output().is_err() {
            eprintln!("SKIPPED: no `go` on the PATH to build tests/gopekonode/fixture");
            return None;
        }
        let out = format!("{}/gofixture", env!("CARGO_TARGET_TMPDIR"));
        let dir = format!("{}/tests/gopekonode/fixture", env!("CARGO_MANIFEST_DIR"));
        let st = Command::new("go")
            .args(["build", "-o", &out, "."])
            .current_dir(&dir)
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .status()
            .expect("run go build");
        assert!(st.success(), "go build of the fixture failed");
        Some(out)
    })
    .as_deref()
}

/// One fixture node as `dump` reports it.
#[derive(Debug, Clone)]
struct GoView {
    port: u16,
    /// `addr:port/name` of every node it lists, itself included.
    list: Vec<String>,
    meta: Vec<u8>,
    wrong_key: u64,
}

impl GoView {
    fn lists(&self, id: SocketAddr) -> bool {
        let prefix = format!("{id}/");
        self.list.iter().any(|l| l.starts_with(&prefix))
    }
}

struct Fixture {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
    ports: Vec<u16>,
}

impl Fixture {
    fn start(nodes: usize, protocol: &str, key: &str) -> Option<Fixture> {
        let bin = fixture_binary()?;
        let mut child = Command::new(bin)
            .args([
                "-nodes",
                &nodes.to_string(),
                "-protocol",
                protocol,
                "-key",
                key,
                "-cycle",
                &CYCLE_MS.to_string(),
                "-timeout",
                &TIMEOUT_MS.to_string(),
                "-life",
                "240s",
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

    fn id(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[i]))
    }

    fn ids(&self) -> Vec<SocketAddr> {
        (0..self.ports.len()).map(|i| self.id(i)).collect()
    }

    fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        let mut reply = String::new();
        self.out.read_line(&mut reply).unwrap();
        assert_eq!(reply.trim(), "OK", "{line}");
    }

    fn dump(&mut self) -> Vec<GoView> {
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

fn compat_member(protocol: Protocol, key: &str, name: &str, seed: SocketAddr) -> Node {
    let cfg = Config {
        cycle_ms: CYCLE_MS,
        timeout_ms: TIMEOUT_MS,
        protocol,
        secret_key: Some(key.to_string()),
        ..Config::default()
    };
    let n = Node::new(
        cfg,
        "127.0.0.1:0".parse().unwrap(),
        Attributes {
            name: name.into(),
            private_data: "ours".into(),
        },
    )
    .unwrap();
    n.set_go_compat(true).unwrap();
    n.set(seed, Attributes::default()).unwrap();
    n.join().unwrap();
    n
}

fn lists_all(n: &Node, ids: &[SocketAddr]) -> bool {
    let have: Vec<SocketAddr> = n.members().into_iter().map(|(id, _)| id).collect();
    ids.iter().all(|id| have.contains(id))
}

fn read(n: &Node) -> Vec<u8> {
    n.with_metadata(|d| d.unwrap_or_default().to_vec())
}

/// Ours joins three Go nodes through one of them: lists, metadata both ways, and its silence.
fn joins_a_go_cluster(protocol: Protocol, proto_name: &str) {
    let Some(mut go) = Fixture::start(3, proto_name, "k") else {
        return;
    };
    let ours = compat_member(protocol, "k", "ours", go.id(0));
    let me = ours.local_id();
    let mut everyone = go.ids();
    everyone.push(me);
    let took = wait_for(GENEROUS, || {
        lists_all(&ours, &everyone) && go.dump().iter().all(|v| v.lists(me))
    });
    assert!(
        took.is_some(),
        "not every list is complete: ours {:?}, theirs {:#?}",
        ours.members(),
        go.dump()
    );
    eprintln!(
        "{proto_name}: all four list all four after {:?}",
        took.unwrap()
    );
    let names: Vec<String> = ours.members().into_iter().map(|(_, a)| a.name).collect();
    assert!(names.contains(&"go-1".to_string()), "{names:?}");
    assert!(
        go.dump()[2].list.contains(&format!("{me}/ours")),
        "the Go node lists ours by its name"
    );

    go.command("publish 1 from go");
    assert!(
        wait_for(GENEROUS, || read(&ours) == b"from go").is_some(),
        "ours never read the Go node's publish"
    );
    ours.publish(b"from ours").unwrap();
    assert!(
        wait_for(GENEROUS, || go
            .dump()
            .iter()
            .all(|v| v.meta == b"from ours"))
        .is_some(),
        "a Go node never took ours: {:#?}",
        go.dump()
    );

    drop(ours);
    assert!(
        wait_for(GENEROUS, || go.dump().iter().all(|v| !v.lists(me))).is_some(),
        "the Go nodes still list ours after it closed"
    );
}

#[test]
fn a_compat_member_joins_go_nodes_over_udp() {
    joins_a_go_cluster(Protocol::Udp, "udp");
}

#[test]
fn a_compat_member_joins_go_nodes_over_tcp() {
    joins_a_go_cluster(Protocol::Tcp, "tcp");
}

/// A compat member with another key is dropped by the Go nodes (they count its packets as
/// another key's) and never listed by them.
#[test]
fn a_compat_member_with_another_key_is_ignored() {
    let Some(mut go) = Fixture::start(3, "udp", "k") else {
        return;
    };
    let ours = compat_member(Protocol::Udp, "not k", "outsider", go.id(0));
    let me = ours.local_id();
    assert!(
        wait_for(GENEROUS, || go.dump()[0].wrong_key >= 5).is_some(),
        "the Go node never received the outsider's packets"
    );
    assert!(
        go.dump().iter().all(|v| !v.lists(me)),
        "a Go node listed the outsider: {:#?}",
        go.dump()
    );
    // The Go nodes keep their own cluster.
    assert!(go.dump().iter().all(|v| v.list.len() == 3));
}

/// Three Go nodes and two of ours; the Go nodes go away one by one, and ours keep a
/// consistent list and metadata between them.
#[test]
fn go_nodes_replaced_one_by_one() {
    let Some(mut go) = Fixture::start(3, "udp", "k") else {
        return;
    };
    let a = compat_member(Protocol::Udp, "k", "a", go.id(0));
    let b = compat_member(Protocol::Udp, "k", "b", go.id(1));
    let ours = [a.local_id(), b.local_id()];
    let mut everyone = go.ids();
    everyone.extend(ours);
    assert!(
        wait_for(GENEROUS, || {
            lists_all(&a, &everyone)
                && lists_all(&b, &everyone)
                && go.dump().iter().all(|v| ours.iter().all(|o| v.lists(*o)))
        })
        .is_some(),
        "the mixed cluster never converged"
    );
    go.command("publish 2 v1");
    assert!(wait_for(GENEROUS, || read(&a) == b"v1" && read(&b) == b"v1").is_some());
    for i in 0..3 {
        go.command(&format!("kill {i}"));
        let gone = go.id(i);
        let left: Vec<SocketAddr> = everyone.iter().copied().filter(|id| *id != gone).collect();
        everyone = left;
        assert!(
            wait_for(GENEROUS, || {
                [&a, &b].iter().all(|n| {
                    let have: Vec<SocketAddr> = n.members().into_iter().map(|(id, _)| id).collect();
                    !have.contains(&gone) && lists_all(n, &everyone)
                })
            })
            .is_some(),
            "after Go node {i} went: a {:?}, b {:?}",
            a.members(),
            b.members()
        );
    }
    a.publish(b"v2").unwrap();
    assert!(
        wait_for(GENEROUS, || read(&b) == b"v2").is_some(),
        "with no Go node left, b never read a's publish"
    );
    assert_eq!(a.members().len(), 2);
    assert_eq!(b.members().len(), 2);
}
