//! Issue 10, finding 3, with a key: 64 connections sending 8 MiB frames under another key keep
//! this process's peak RSS under 150 MB, and the member still works afterwards. Alone in its
//! binary: VmHWM is the whole process's.

#[path = "common/attack.rs"]
mod attack;
mod common;

#[test]
fn frames_under_another_key_do_not_take_memory() {
    attack::run(Some("the cluster's key"));
}
