//! A member whose own processing runs late (issue 11: the whole process starved of CPU): its
//! timers fire late and the answers to its probes wait unread until after the tick that judges
//! them. Lifeguard's premise — a member that is itself late must not accuse others — must hold.
//!
//! One core is driven by hand: every tick comes `LATE` ms after the time it asked for
//! (`next_wake`), and the answers to what a tick sent are read only after the next tick (they
//! came back at once, but waited in the receive queue while the member was late).

use super::*;

/// Beyond the late tolerance, below the "did not run for a while" gap (which refutes).
const LATE: Millis = 400;

/// The answers the members other than `silent` give at once to what member 0 sent: acks to its
/// pings, and from helpers the relayed ack (or a nack for a silent target).
fn answers(ids: &[MemberId], silent: &[usize], out: Vec<Outgoing>) -> Vec<Message> {
    let answers = |id: &MemberId| {
        let i = ids.iter().position(|x| x == id).expect("a member");
        !silent.contains(&i)
    };
    out.into_iter()
        .filter_map(|o| match o.msg {
            Message::Ping { seq, target, .. } if answers(&target) => Some(Message::Ack {
                seq,
                from: target,
                rumors: vec![],
            }),
            Message::PingReq { seq, target, .. } if answers(&o.to) => Some(if answers(&target) {
                Message::Ack {
                    seq,
                    from: o.to,
                    rumors: vec![],
                }
            } else {
                Message::Nack { seq, from: o.to }
            }),
            _ => None,
        })
        .collect()
}

/// Runs member 0 of a converged cluster of `n` late for `ms`; members in `silent` never answer.
/// Returns when member 0 first suspected (or dropped) each other member (None: never).
fn run_late(n: usize, silent: &[usize], ms: Millis) -> (Sim, Vec<Option<Millis>>) {
    let mut s = sim(n, 3);
    s.start_converged();
    let start = s.now;
    let mut now = start;
    let mut suspected = vec![None; n];
    let ids = s.ids.clone();
    let core = &mut s.cores[0];
    core.drain_outgoing();
    let mut unread: Vec<Message> = Vec::new();
    while now < start + ms {
        now = core.next_wake().max(now) + LATE;
        core.tick(now);
        for msg in unread.drain(..) {
            core.handle(now, DATAGRAM, msg);
        }
        unread = answers(&ids, silent, core.drain_outgoing());
        for (i, id) in ids.iter().enumerate().skip(1) {
            let suspect = core
                .member_status(id)
                .is_none_or(|(st, _)| st == Status::Suspect || !st.is_listed());
            if suspect && suspected[i].is_none() {
                suspected[i] = Some(now - start);
            }
        }
        core.take_events();
    }
    (s, suspected)
}

#[test]
fn a_member_whose_ticks_run_late_suspects_no_live_member() {
    let (s, suspected) = run_late(10, &[], 60_000);
    let accused: Vec<String> = suspected
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| format!("m{i} after {t} ms")))
        .collect();
    assert!(
        accused.is_empty(),
        "a member running {LATE} ms late suspected live members: {}",
        accused.join(", ")
    );
    assert!(
        s.cores[0].health() > 0,
        "lateness did not count against our own health"
    );
}

#[test]
fn a_member_whose_ticks_run_late_still_detects_a_silent_member() {
    // Few members, so the silent one is probed often.
    let (_, suspected) = run_late(4, &[2], 60_000);
    eprintln!(
        "the silent member was suspected after {:?} ms",
        suspected[2]
    );
    assert!(
        suspected[2].is_some(),
        "a late member never suspected a member that does not answer"
    );
    let others: Vec<usize> = (1..4)
        .filter(|&i| i != 2 && suspected[i].is_some())
        .collect();
    assert!(others.is_empty(), "live members suspected: {others:?}");
}

#[test]
fn the_distrust_lateness_earned_decays_once_ticks_run_on_time() {
    // Late for a while (a join storm starves the process), then on time again with every member
    // answering: local health must come back within a few probe intervals, or the stretched
    // probing (up to 9 intervals apart, one step back per acked probe) detects failures many
    // timeouts late long after the trouble is over.
    let mut s = sim(10, 3);
    s.start_converged();
    let ids = s.ids.clone();
    let core = &mut s.cores[0];
    core.drain_outgoing();
    let mut now = s.now;
    let mut unread: Vec<Message> = Vec::new();
    let mut step = |core: &mut Core, now: Millis| {
        core.tick(now);
        for msg in unread.drain(..) {
            core.handle(now, DATAGRAM, msg);
        }
        unread = answers(&ids, &[], core.drain_outgoing());
        core.take_events();
    };
    let late_until = now + 20_000;
    while now < late_until {
        now = core.next_wake().max(now) + LATE;
        step(core, now);
    }
    let health = core.health();
    assert!(
        health > 1,
        "lateness did not count against our own health: {health}"
    );
    let interval = core.timing().probe_interval;
    let bound = 2 * HEALTH_MAX as Millis * interval;
    let on_time = now;
    while core.health() > 0 && now < on_time + 10 * bound {
        now = core.next_wake().max(now + 1);
        step(core, now);
    }
    let took = now - on_time;
    eprintln!(
        "health {health} back to {} in {took} ms on time",
        core.health()
    );
    assert!(
        core.health() == 0 && took <= bound,
        "health {health} after lateness was still {} after {took} ms on time (bound {bound} ms)",
        core.health()
    );
}
