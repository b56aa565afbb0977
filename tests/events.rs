//! Events, graceful leave, attribute updates, host logging and counters, through the C API.

mod common;
use common::*;
use pekonode::ffi::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn set(node: &CNode, port: u16) {
    let addr = CString::new("127.0.0.1").unwrap();
    let info = peko_node_info {
        addr: addr.as_ptr(),
        port,
        name: std::ptr::null(),
        private_data: std::ptr::null(),
    };
    assert_eq!(unsafe { peko_set(node.0, &info) }, 0);
}

/// Reads events until one matches, or the deadline passes.
fn wait_event(node: &CNode, mut want: impl FnMut(u32, u16, &str) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < GENEROUS {
        let mut ev = unsafe { std::mem::zeroed::<peko_event>() };
        let st = unsafe { peko_next_event(node.0, 200, &mut ev) };
        if st == 0 {
            let name = unsafe { CStr::from_ptr(ev.member.name) }
                .to_string_lossy()
                .into_owned();
            let hit = want(ev.kind, ev.member.port, &name);
            unsafe { peko_event_clear(&mut ev) };
            unsafe { peko_event_clear(&mut ev) }; // twice is harmless
            if hit {
                return true;
            }
        } else {
            assert_eq!(st, pekonode::error::PEKO_ERR_TIMEOUT);
        }
    }
    false
}

fn readable(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

#[test]
fn events_update_leave_and_stats() {
    let (a, _pa) = new_node("a");
    let (b, pb) = new_node("b");
    let (c, pc) = new_node("c");
    set(&b, _pa);
    set(&c, _pa);
    let mut joined = Vec::new();
    assert!(wait_event(&a, |k, p, _| {
        if k == PEKO_EVENT_JOINED {
            joined.push(p);
        }
        joined.contains(&pb) && joined.contains(&pc)
    }));

    // The descriptor is readable while events wait, and not once they are read.
    let fd = unsafe { peko_event_fd(a.0) };
    assert!(fd >= 0);
    let renamed = CString::new("b, renamed").unwrap();
    assert_eq!(
        unsafe { peko_update(b.0, renamed.as_ptr(), std::ptr::null()) },
        0
    );
    assert!(wait_for(GENEROUS, || readable(fd)).is_some());
    assert!(wait_event(&a, |k, p, n| k == PEKO_EVENT_UPDATED
        && p == pb
        && n == "b, renamed"));

    assert_eq!(unsafe { peko_publish(c.0, b"cfg".as_ptr(), 3) }, 0);
    assert!(wait_event(&a, |k, p, _| k == PEKO_EVENT_METADATA && p == pc));

    // Drain, then the descriptor goes quiet.
    while wait_for(Duration::from_millis(300), || readable(fd)).is_some() {
        let mut ev = unsafe { std::mem::zeroed::<peko_event>() };
        if unsafe { peko_next_event(a.0, 0, &mut ev) } == 0 {
            unsafe { peko_event_clear(&mut ev) };
        }
    }
    assert!(!readable(fd));

    let mut st = unsafe { std::mem::zeroed::<peko_stats_t>() };
    assert_eq!(unsafe { peko_stats(a.0, &mut st) }, 0);
    assert_eq!(st.members_alive, 3);
    assert!(st.packets_sent > 0 && st.packets_received > 0 && st.round > 0);

    // Graceful leave: the others are told at once (timeout 2 s, so this is not the detector).
    assert_eq!(unsafe { peko_leave(b.0, 1000) }, 0);
    assert_eq!(
        unsafe { peko_leave(b.0, 1000) },
        0,
        "a second leave does nothing"
    );
    assert!(wait_event(&a, |k, p, _| k == PEKO_EVENT_LEFT && p == pb));
    assert_eq!(
        unsafe { peko_update(b.0, renamed.as_ptr(), std::ptr::null()) },
        pekonode::error::PEKO_ERR_STATE
    );
}

static LINES: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

unsafe extern "C" fn collect(userdata: *mut c_void, level: u32, line: *const c_char) {
    assert_eq!(userdata as usize, 42);
    let line = CStr::from_ptr(line).to_string_lossy().into_owned();
    LINES.lock().unwrap().push((level, line));
}

#[test]
fn log_lines_go_to_the_host_logger() {
    assert_eq!(
        unsafe { peko_set_log(Some(collect), 42 as *mut c_void, 9) },
        pekonode::error::PEKO_ERR_INVALID_ARG
    );
    assert_eq!(
        unsafe { peko_set_log(Some(collect), 42 as *mut c_void, PEKO_LOG_INFO) },
        0
    );
    let (x, _) = new_node("logged");
    let _ = x;
    let seen = wait_for(GENEROUS, || {
        LINES
            .lock()
            .unwrap()
            .iter()
            .any(|(l, s)| *l == PEKO_LOG_INFO && s.contains("[Join]"))
    });
    assert_eq!(unsafe { peko_set_log(None, std::ptr::null_mut(), 0) }, 0);
    assert!(seen.is_some(), "no [Join] line reached the callback");
}

#[test]
fn null_arguments_are_errors() {
    unsafe {
        let mut ev = std::mem::zeroed::<peko_event>();
        assert_eq!(peko_next_event(std::ptr::null_mut(), 0, &mut ev), 1);
        assert_eq!(peko_event_fd(std::ptr::null_mut()), -1);
        assert_eq!(peko_leave(std::ptr::null_mut(), 0), 1);
        assert_eq!(
            peko_update(std::ptr::null_mut(), std::ptr::null(), std::ptr::null()),
            1
        );
        assert_eq!(peko_stats(std::ptr::null_mut(), std::ptr::null_mut()), 1);
        peko_event_clear(std::ptr::null_mut());
        let (n, _) = new_node("n");
        assert_eq!(peko_next_event(n.0, 0, std::ptr::null_mut()), 1);
        assert_eq!(peko_stats(n.0, std::ptr::null_mut()), 1);
        assert_eq!(
            peko_next_event(n.0, 0, &mut ev),
            pekonode::error::PEKO_ERR_TIMEOUT
        );
    }
}
