#!/usr/bin/env python3
"""The multi-host fault lab (`make test-netns`): ten hosts, each a network namespace with its own
address on one bridge, one member process (`build/node`) per host, 5% loss on every link, and
the faults a real network has. Each scenario is bounded in time, asserts its property and prints
its figures; `--json FILE` writes them for the report.

Layout: a namespace `pklab-br` holds the bridge; host i is the namespace `pklab-h<i>` with the
address 10.77.0.<i+1>/24 on a veth whose peer is a port of the bridge. Nothing is added to the
namespace this script runs in. Loss: where the kernel has sch_netem, `tc netem` (10 ms +- 5 ms
delay, 5% loss) on every host's link; where it has none (this machine's kernel: "Specified qdisc
kind is unknown"), iptables' `statistic` match in every host, dropping 5% of what it receives
(so 5% of every packet on every link, each way). Partitions and one-way faults are iptables
rules in the hosts' own namespaces. Every namespace, and with it every rule and link, is removed
when the script ends, however it ends (exit, exception, SIGINT, SIGTERM); a run first removes
what an earlier, killed run left behind.

Root only: without root it prints why and exits 0 (skipped). Needs iproute2 and iptables
(`make test-netns` installs iptables from Debian's packages when it is missing).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

PREFIX = "pklab"
BRIDGE_NS = PREFIX + "-br"
HOSTS = 10
SUBNET = "10.77.0."
PORT = 7946
CYCLE_MS = 200
TIMEOUT_MS = 5000
LOSS = 0.05
SEEDS = 3
KEY1, KEY2 = "lab key one", "lab key two"
# The anti-entropy period at 10 members: 30 cycles (src/proto/timing.rs, push_pull_for).
AE_MS = 30 * CYCLE_MS
# A LIST line comes once per cycle and this script looks every POLL s: what it sees lags the
# member by up to a cycle and a poll.
POLL = 0.05
LAG_S = CYCLE_MS / 1000 + POLL

# How long a 5|5 split may take until each side lists only itself. Seven splits in this lab
# took 6.3 to 16.9 s; the simulator's `partition` at 10 members and 5% loss: p50 6.4 s, max
# 12.6 s over 30 seeds (`sim partition --n 10 --seeds 30 --loss 0.05 --cycle 200 --timeout 5000`).
SPLIT_MAX_S = 40

NODE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "build", "node"))


def ns(i):
    return f"{PREFIX}-h{i}"


def addr(i):
    return f"{SUBNET}{i + 1}"


def ident(i):
    return f"{addr(i)}:{PORT}"


def run(*args, check=True):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def in_ns(i, *args, check=True):
    return run("ip", "netns", "exec", ns(i), *args, check=check)


class Host:
    """One host: its member process and what that process last printed."""

    def __init__(self, i):
        self.i = i
        self.proc = None
        self.lock = threading.Lock()
        self.members = set()
        self.meta = None
        self.events = []  # (time.monotonic(), kind, member id)
        self.replies = []

    def start(self, key):
        seeds = [a for j in range(SEEDS) if j != self.i for a in ("--join", ident(j))]
        cmd = ["ip", "netns", "exec", ns(self.i), NODE, "--addr", addr(self.i), "--port",
               str(PORT), "--cycle", str(CYCLE_MS), "--timeout", str(TIMEOUT_MS), "--key", key,
               "--name", f"h{self.i}", "--machine", "--commands", *seeds]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, bufsize=1)
        with self.lock:
            self.members = set()
            self.meta = None
            self.proc = proc
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            f = line.split()
            if not f:
                continue
            with self.lock:
                if proc is not self.proc:
                    continue  # what a process killed or stopped before the restart still said
                if f[0] == "LIST" and len(f) >= 3:
                    self.members = set(f[3:])
                elif f[0] == "EVENT" and len(f) == 4:
                    self.events.append((time.monotonic(), f[2], f[3]))
                elif f[0] == "META" and len(f) == 3:
                    self.meta = bytes.fromhex(f[2])
                elif f[0] in ("OK", "ERR"):
                    self.replies.append(line.strip())

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def lists(self):
        with self.lock:
            return set(self.members)

    def command(self, line):
        """Sends a --commands line and waits for its answer; fails on ERR."""
        with self.lock:
            before = len(self.replies)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with self.lock:
                if len(self.replies) > before:
                    reply = self.replies[before]
                    break
            time.sleep(0.01)
        else:
            raise AssertionError(f"h{self.i}: no answer to {line!r}")
        if not reply.startswith("OK"):
            raise AssertionError(f"h{self.i}: {line!r}: {reply}")

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM):
        if self.running():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Lab:
    def __init__(self):
        self.hosts = [Host(i) for i in range(HOSTS)]
        self.figures = {}
        self.loss_by = None
        self.netem = False

    # ---- the network ------------------------------------------------------------------------

    def setup(self):
        teardown_namespaces()
        run("ip", "netns", "add", BRIDGE_NS)
        run("ip", "-n", BRIDGE_NS, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", BRIDGE_NS, "link", "set", "br0", "up")
        for i in range(HOSTS):
            run("ip", "netns", "add", ns(i))
            run("ip", "link", "add", "eth0", "netns", ns(i), "type", "veth", "peer", "name",
                f"p{i}", "netns", BRIDGE_NS)
            run("ip", "-n", BRIDGE_NS, "link", "set", f"p{i}", "master", "br0", "up")
            run("ip", "-n", ns(i), "addr", "add", addr(i) + "/24", "dev", "eth0")
            run("ip", "-n", ns(i), "link", "set", "eth0", "up")
            run("ip", "-n", ns(i), "link", "set", "lo", "up")
            # Chains of our own: LOSS for random drops, PART for partitions.
            for chain in ("PKLOSS", "PKPART"):
                in_ns(i, "iptables", "-N", chain)
                in_ns(i, "iptables", "-A", "INPUT", "-j", chain)
        netem = in_ns(0, "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "10ms",
                      "5ms", "loss", f"{LOSS * 100:g}%", check=False)
        if netem.returncode == 0:
            for i in range(1, HOSTS):
                in_ns(i, "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "10ms",
                      "5ms", "loss", f"{LOSS * 100:g}%")
            self.loss_by = "tc netem: 10 ms +- 5 ms delay and 5% loss on every host's link"
            self.netem = True
        else:
            for i in range(HOSTS):
                self.set_loss(i, LOSS)
            self.loss_by = ("iptables statistic: 5% of what every host receives dropped "
                            f"(no sch_netem here: {netem.stderr.strip()!r}), no added delay")
        print(f"lab: {HOSTS} hosts {addr(0)}..{addr(HOSTS - 1)} on one bridge; loss by "
              f"{self.loss_by}; cycle_ms {CYCLE_MS}, timeout_ms {TIMEOUT_MS}", flush=True)

    def set_loss(self, i, p, both_ways=False):
        in_ns(i, "iptables", "-F", "PKLOSS")
        if p > 0:
            in_ns(i, "iptables", "-A", "PKLOSS", "-m", "statistic", "--mode", "random",
                  "--probability", str(p), "-j", "DROP")
        out = in_ns(i, "iptables", "-S", "OUTPUT").stdout
        if both_ways and "PKLOSS" not in out:
            in_ns(i, "iptables", "-A", "OUTPUT", "-j", "PKLOSS")
        elif not both_ways and "PKLOSS" in out:
            in_ns(i, "iptables", "-D", "OUTPUT", "-j", "PKLOSS")

    def deafen(self, i, to):
        """Host i no longer hears hosts `to`."""
        for j in to:
            in_ns(i, "iptables", "-A", "PKPART", "-s", addr(j), "-j", "DROP")

    def heal(self):
        for i in range(HOSTS):
            in_ns(i, "iptables", "-F", "PKPART")

    # ---- observing ----------------------------------------------------------------------------

    def wait(self, cond, deadline_s):
        """Seconds until cond() held, or None after deadline_s."""
        t0 = time.monotonic()
        while True:
            if cond():
                return time.monotonic() - t0
            if time.monotonic() - t0 > deadline_s:
                return None
            time.sleep(POLL)

    def complete(self, among=None):
        """Every running host in `among` lists exactly the running hosts in `among`."""
        idx = [i for i in (among if among is not None else range(HOSTS))
               if self.hosts[i].running()]
        want = {ident(i) for i in idx}
        return all(self.hosts[i].lists() == want for i in idx)

    def failed_about(self, since, about=None, by=None):
        """FAILED events seen since `since` (time.monotonic()), by hosts `by` about `about`."""
        out = []
        for h in self.hosts:
            if by is not None and h.i not in by:
                continue
            with h.lock:
                for t, kind, m in h.events:
                    if t >= since and kind == "FAILED" and (about is None or m in about):
                        out.append((h.i, m))
        return out

    def record(self, name, **figs):
        self.figures[name] = figs
        shown = ", ".join(f"{k} {v}" for k, v in figs.items())
        print(f"lab: {name}: {shown}", flush=True)

    def check(self, ok, what):
        if not ok:
            raise AssertionError(what)

    # ---- scenarios ----------------------------------------------------------------------------

    def start_all(self):
        for h in self.hosts:
            h.start(KEY1)
        t = self.wait(self.complete, 60)
        self.check(t is not None, "the ten members never all listed each other")
        self.record("start", lists_complete_s=round(t, 2))

    def kill_and_restart(self):
        v = self.hosts[HOSTS - 1]
        others = [i for i in range(HOSTS) if i != v.i]
        t0 = time.monotonic()
        v.stop(signal.SIGKILL)
        gone = self.wait(lambda: all(ident(v.i) not in self.hosts[i].lists() for i in others),
                         4 * TIMEOUT_MS / 1000)
        self.check(gone is not None, f"h{v.i} killed: still listed after {4 * TIMEOUT_MS} ms")
        self.check(gone <= TIMEOUT_MS / 1000 + LAG_S,
                   f"h{v.i} killed: gone from every list after {gone:.2f} s, more than "
                   f"timeout_ms ({TIMEOUT_MS} ms) and the observation lag ({LAG_S} s)")
        false = self.failed_about(t0, about={ident(i) for i in others})
        self.check(not false, f"members other than the killed one removed: {false}")
        v.start(KEY1)
        back = self.wait(self.complete, 30)
        self.check(back is not None, f"h{v.i} restarted: not back in every list within 30 s")
        # Back within a few cycles: the restart's join push, then gossip. Bound: 5 s, 25 cycles.
        self.check(back <= 5.0, f"h{v.i} restarted: back in every list after {back:.2f} s (> 5 s)")
        self.record("kill -9", gone_s=round(gone, 2), back_after_restart_s=round(back, 2),
                    false_removals=len(false))

    def pause(self):
        v = self.hosts[HOSTS - 2]
        others = [i for i in range(HOSTS) if i != v.i]
        # Half the timeout: never removed.
        t0 = time.monotonic()
        v.send(signal.SIGSTOP)
        time.sleep(TIMEOUT_MS / 2000)
        v.send(signal.SIGCONT)
        self.check(self.wait(self.complete, 30) is not None, "after a short pause: lists incomplete")
        time.sleep(TIMEOUT_MS / 1000)  # the rest of any suspicion runs out meanwhile
        short = self.failed_about(t0)
        self.check(not short, f"a pause of half the timeout removed members: {short}")
        # Twice the timeout: removed, then back.
        t1 = time.monotonic()
        v.send(signal.SIGSTOP)
        gone = self.wait(lambda: all(ident(v.i) not in self.hosts[i].lists() for i in others),
                         2 * TIMEOUT_MS / 1000)
        self.check(gone is not None, f"h{v.i} paused for twice the timeout: never removed")
        rest = 2 * TIMEOUT_MS / 1000 - (time.monotonic() - t1)
        if rest > 0:
            time.sleep(rest)
        v.send(signal.SIGCONT)
        back = self.wait(self.complete, 60)
        self.check(back is not None, f"h{v.i} resumed: not back in every list within 60 s")
        false = self.failed_about(t1, about={ident(i) for i in others})
        self.check(not false, f"members other than the paused one removed: {false}")
        self.record("SIGSTOP", half_timeout_removals=len(short), twice_timeout_gone_s=round(gone, 2),
                    back_after_resume_s=round(back, 2))

    def partition(self):
        a, b = list(range(HOSTS // 2)), list(range(HOSTS // 2, HOSTS))
        self.hosts[b[0]].command("publish before the split")
        self.check(self.wait(lambda: all(h.meta == b"before the split" for h in self.hosts), 30)
                   is not None, "the metadata published before the split did not reach all")
        t0 = time.monotonic()
        for i in a:
            self.deafen(i, b)
        for i in b:
            self.deafen(i, a)
        # The split lasts 20 s, and longer if each side does not list only itself by then, up to
        # SPLIT_MAX_S (the stated bound: a split has no hard one, README "Configuration").
        self.hosts[a[0]].command("publish written on side A during the split")
        alone = self.wait(lambda: self.complete(a) and self.complete(b),
                          SPLIT_MAX_S - (time.monotonic() - t0))
        self.check(alone is not None,
                   f"in a 5|5 split each side did not list only itself within {SPLIT_MAX_S} s")
        split = time.monotonic() - t0
        rest = 20 - (time.monotonic() - t0)
        if rest > 0:
            time.sleep(rest)
        self.heal()
        healed = self.wait(self.complete, 3 * AE_MS / 1000 + 30)
        self.check(healed is not None, "after the split healed the lists never completed")
        self.check(healed <= 3 * AE_MS / 1000,
                   f"after the split: lists complete after {healed:.2f} s, more than 3 "
                   f"anti-entropy intervals ({3 * AE_MS} ms)")
        want = b"publish written on side A during the split"[len("publish "):]
        meta = self.wait(lambda: all(h.meta == want for h in self.hosts), 30)
        self.check(meta is not None, "the metadata published during the split did not win everywhere")
        self.record("partition 5|5 for 20 s", each_side_alone_s=round(split, 2),
                    lists_complete_after_heal_s=round(healed, 2),
                    side_a_metadata_everywhere_after_heal_s=round(meta, 2))

    def one_way(self):
        # h3 no longer hears h2; h2 still hears h3.
        t0 = time.monotonic()
        self.deafen(3, [2])
        time.sleep(30)
        removed = self.failed_about(t0)
        whole = self.complete()
        self.heal()
        self.check(not removed, f"a one-way fault (h3 does not hear h2) removed members: {removed}")
        self.check(whole, "a one-way fault left lists incomplete")
        self.record("one-way (h3 does not hear h2) for 30 s", false_removals=len(removed))

    def lossy_host(self):
        v = 7
        t0 = time.monotonic()
        self.set_loss(v, 0.30, both_ways=True)
        time.sleep(30)
        others = {ident(i) for i in range(HOSTS) if i != v}
        false = self.failed_about(t0, about=others)
        about_v = self.failed_about(t0, about={ident(v)})
        self.set_loss(v, 0 if self.netem else LOSS)  # netem's own loss stays
        self.check(not false, f"30% loss on h{v}'s link removed other members: {false}")
        back = self.wait(self.complete, 60)
        self.check(back is not None, "after the lossy link healed the lists never completed")
        self.record(f"30% loss on h{v}'s link for 30 s", false_removals_of_others=len(false),
                    failed_events_about_h7=len(about_v))

    def rotate_keys(self):
        t0 = time.monotonic()
        for step in (f"key-install {KEY2}", f"key-use {KEY2}", f"key-remove {KEY1}"):
            for h in self.hosts:
                h.command(step)
                time.sleep(CYCLE_MS * 3 / 1000)
            time.sleep(TIMEOUT_MS / 1000)
        removed = self.failed_about(t0)
        self.check(not removed, f"the key rotation removed members: {removed}")
        self.check(self.complete(), "lists incomplete after the key rotation")
        self.record("key rotation (install, use, remove, one host at a time)",
                    false_removals=len(removed), seconds=round(time.monotonic() - t0, 1))

    def rolling_restart(self):
        t0 = time.monotonic()
        backs = []
        for h in self.hosts:
            others = {ident(i) for i in range(HOSTS) if i != h.i}
            ts = time.monotonic()
            h.stop(signal.SIGTERM)  # leaves
            h.start(KEY2)
            back = self.wait(self.complete, 30)
            self.check(back is not None, f"rolling restart: h{h.i} not back within 30 s")
            backs.append(time.monotonic() - ts)
            false = self.failed_about(ts, about=others)
            self.check(not false, f"rolling restart of h{h.i} removed others: {false}")
        self.record("rolling restart", max_back_s=round(max(backs), 2),
                    mean_back_s=round(sum(backs) / len(backs), 2),
                    seconds=round(time.monotonic() - t0, 1))

    def stop_all(self):
        for h in self.hosts:
            if h.proc is not None and h.proc.poll() is None:
                h.proc.kill()
        for h in self.hosts:
            if h.proc is not None:
                try:
                    h.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass


def teardown_namespaces():
    """Kills what runs in the lab's namespaces (a run killed before its own cleanup leaves its
    members running), then removes them, their links and their rules."""
    listed = run("ip", "netns", "list", check=False).stdout.split("\n")
    for line in listed:
        name = line.split(" ")[0]
        if name.startswith(PREFIX + "-"):
            for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ValueError, ProcessLookupError):
                    pass
            run("ip", "netns", "del", name, check=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("test-netns: skipped: the lab makes network namespaces and iptables rules, which "
              "needs root (run `sudo make test-netns`)")
        return 0
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            print(f"test-netns: FAILED: {tool} not found (make test-netns installs iptables)")
            return 1
    if not os.access(NODE, os.X_OK):
        print(f"test-netns: FAILED: {NODE} not built (make test-netns builds it)")
        return 1
    probe = run("ip", "netns", "add", PREFIX + "-probe", check=False)
    run("ip", "netns", "del", PREFIX + "-probe", check=False)
    if probe.returncode != 0:
        print("test-netns: skipped: root, but network namespaces cannot be made here "
              f"({probe.stderr.strip()})")
        return 0
    lab = Lab()

    def on_signal(sig, _frame):
        raise KeyboardInterrupt(f"signal {sig}")

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    try:
        lab.setup()
        lab.start_all()
        lab.kill_and_restart()
        lab.pause()
        lab.partition()
        lab.one_way()
        lab.lossy_host()
        lab.rotate_keys()
        lab.rolling_restart()
    except (AssertionError, RuntimeError, KeyboardInterrupt) as e:
        print(f"test-netns: FAILED: {e}", flush=True)
        return 1
    finally:
        lab.stop_all()
        teardown_namespaces()
    took = time.monotonic() - started
    print(f"test-netns: all scenarios passed in {took:.0f} s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"hosts": HOSTS, "cycle_ms": CYCLE_MS, "timeout_ms": TIMEOUT_MS,
                       "loss": lab.loss_by, "seconds": round(took, 1),
                       "scenarios": lab.figures}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
