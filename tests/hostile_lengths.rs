//! Lengths and counts claimed by a frame cost nothing before they are checked: a frame of a few
//! bytes that claims a 250 MiB string or 2^60 rumors, or a real frame holding a million rumors,
//! is refused while the decoder allocates next to nothing. Measured with a counting allocator
//! (this test binary's own), so it applies to an unkeyed cluster, where nothing authenticates the
//! frame first.

use pekonode::wire::{self, DecodeError, Key, Limits};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One measurement at a time (the counters are process-wide).
static ONE: Mutex<()> = Mutex::new(());

/// Decodes `frame` and returns the result with the bytes allocated meanwhile (total, largest).
fn decode_counted(frame: &[u8], limits: Limits) -> (Result<(), DecodeError>, usize, usize) {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    ALLOCATED.store(0, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let r = wire::decode(frame, &Key::new(None), limits).map(|_| ());
    COUNTING.store(false, Ordering::Relaxed);
    (
        r,
        ALLOCATED.load(Ordering::Relaxed),
        LARGEST.load(Ordering::Relaxed),
    )
}

const HEADER_GOSSIP: [u8; 5] = [b'P', b'K', wire::PROTOCOL_VERSION, 3, 0];
/// Body start of a Gossip from 127.0.0.1:80: variant 3, IPv4, address, port.
const GOSSIP_FROM: [u8; 7] = [3, 0, 127, 0, 0, 1, 80];

fn u32_varint(v: u32) -> Vec<u8> {
    let mut b = vec![252];
    b.extend_from_slice(&v.to_le_bytes());
    b
}

fn gossip_with_alive_named(claimed_name_len: u32) -> Vec<u8> {
    let mut f = HEADER_GOSSIP.to_vec();
    f.extend_from_slice(&GOSSIP_FROM);
    f.push(1); // one rumor
    f.extend_from_slice(&[0, 0, 10, 0, 0, 1, 80, 1]); // Alive, id 10.0.0.1:80, incarnation 1
    f.extend(u32_varint(claimed_name_len));
    f.extend_from_slice(b"abc");
    f
}

fn check_cheap(what: &str, frame: &[u8], limits: Limits) {
    let (r, total, largest) = decode_counted(frame, limits);
    assert_eq!(r, Err(DecodeError::Malformed), "{what}");
    assert!(
        total < 256 * 1024 && largest < 64 * 1024,
        "{what}: {total} bytes allocated, the largest {largest}"
    );
}

#[test]
fn a_claimed_string_length_allocates_nothing() {
    let frame = gossip_with_alive_named(250 << 20);
    assert!(frame.len() < 40);
    check_cheap("250 MiB name, datagram", &frame, Limits::datagram());
    check_cheap("250 MiB name, stream", &frame, Limits::stream(16 << 10));
}

#[test]
fn a_claimed_byte_string_length_allocates_nothing() {
    // MetaResponse from 127.0.0.1:80: version (hlc 1, origin 127.0.0.1:80), data claims 250 MiB.
    let mut f = vec![
        b'P',
        b'K',
        wire::PROTOCOL_VERSION,
        6,
        0,
        6,
        0,
        127,
        0,
        0,
        1,
        80,
        1,
        0,
        127,
        0,
        0,
        1,
        80,
    ];
    f.extend(u32_varint(250 << 20));
    f.extend_from_slice(&[1, 2, 3]);
    check_cheap("250 MiB metadata, stream", &f, Limits::stream(64 << 20));
}

#[test]
fn a_claimed_count_allocates_nothing() {
    let mut f = HEADER_GOSSIP.to_vec();
    f.extend_from_slice(&GOSSIP_FROM);
    f.push(253);
    f.extend_from_slice(&(1u64 << 60).to_le_bytes());
    check_cheap("2^60 rumors", &f, Limits::stream(16 << 10));

    // A push-pull claiming 100,000 members (within the bound) in a few bytes.
    let mut f = vec![
        b'P',
        b'K',
        wire::PROTOCOL_VERSION,
        4,
        0,
        4,
        0,
        127,
        0,
        0,
        1,
        80,
        0,
    ];
    f.extend(u32_varint(100_000));
    f.extend_from_slice(&[0, 10, 0, 0, 1, 80, 0, 0, 0, 0]);
    check_cheap("100,000 members claimed", &f, Limits::stream(16 << 10));
}

#[test]
fn a_real_million_rumors_are_refused_at_their_count() {
    let n: u32 = 1_000_000;
    let mut f = HEADER_GOSSIP.to_vec();
    f.extend_from_slice(&GOSSIP_FROM);
    f.extend(u32_varint(n));
    for _ in 0..n {
        f.extend_from_slice(&[3, 0, 10, 0, 0, 1, 80, 1]); // Left 10.0.0.1:80, incarnation 1
    }
    assert!(
        f.len() < Limits::stream(16 << 10).frame,
        "fits a default stream frame"
    );
    check_cheap("a million rumors", &f, Limits::stream(16 << 10));
}
