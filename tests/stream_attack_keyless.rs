//! Issue 10, finding 3, without a key: 64 connections sending 8 MiB garbage frames at a member
//! keep this process's peak RSS under 150 MB, and the member still works afterwards. Alone in
//! its binary: VmHWM is the whole process's.

#[path = "common/attack.rs"]
mod attack;
mod common;

#[test]
fn garbage_frames_do_not_take_memory_without_a_key() {
    attack::run(None);
}
