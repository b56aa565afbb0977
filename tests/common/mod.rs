//! Helpers for the real-socket tests: nodes on 127.0.0.1 with OS-picked ports, and polling with
//! generous deadlines (never a fixed sleep).

#![allow(dead_code)]

use pekonode::ffi::*;
use pekonode::{Attributes, Config, Node, Protocol};
use std::ffi::CString;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub fn config(protocol: Protocol) -> Config {
    Config {
        cycle_ms: 100,
        timeout_ms: 2000,
        protocol,
        ..Config::default()
    }
}

pub fn node_with(cfg: Config, name: &str) -> Node {
    let n = Node::new(
        cfg,
        "127.0.0.1:0".parse().unwrap(),
        Attributes {
            name: name.into(),
            private_data: format!("data of {name}"),
        },
    )
    .expect("new");
    n.join().expect("join");
    n
}

/// `count` joined members; each was told about the first.
pub fn cluster(count: usize, cfg: Config) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..count {
        let n = node_with(cfg.clone(), &format!("n{i}"));
        if i > 0 {
            n.set(nodes[0].local_id(), Attributes::default()).unwrap();
        }
        nodes.push(n);
    }
    nodes
}

pub fn ids(nodes: &[Node]) -> Vec<SocketAddr> {
    nodes.iter().map(|n| n.local_id()).collect()
}

pub fn lists_exactly(n: &Node, expected: &[SocketAddr]) -> bool {
    let mut got: Vec<SocketAddr> = n.members().into_iter().map(|(id, _)| id).collect();
    got.sort();
    let mut want = expected.to_vec();
    want.sort();
    got == want
}

pub fn all_list(nodes: &[&Node], expected: &[SocketAddr]) -> bool {
    nodes.iter().all(|n| lists_exactly(n, expected))
}

/// Polls `cond` every 20 ms until it holds or `deadline` passes; returns the time it took.
pub fn wait_for(deadline: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub const GENEROUS: Duration = Duration::from_secs(30);

/// A joined member made through the C API, freed with `peko_free` when dropped.
pub struct CNode(pub *mut peko_node);
unsafe impl Send for CNode {}
unsafe impl Sync for CNode {}
impl Drop for CNode {
    fn drop(&mut self) {
        unsafe { peko_free(self.0) };
    }
}

/// A C member on 127.0.0.1 (OS-chosen port, fast rounds), joined; with its port.
pub fn new_node(name: &str) -> (CNode, u16) {
    unsafe {
        let mut cfg = std::mem::zeroed::<peko_config>();
        peko_config_default(&mut cfg);
        cfg.cycle_ms = 100;
        cfg.timeout_ms = 2000;
        let addr = CString::new("127.0.0.1").unwrap();
        let name = CString::new(name).unwrap();
        let info = peko_node_info {
            addr: addr.as_ptr(),
            port: 0,
            name: name.as_ptr(),
            private_data: std::ptr::null(),
        };
        let mut node = std::ptr::null_mut();
        assert_eq!(peko_new(&cfg, &info, &mut node), 0);
        assert_eq!(peko_join(node), 0);
        let mut port = 0;
        assert_eq!(peko_local_port(node, &mut port), 0);
        (CNode(node), port)
    }
}
