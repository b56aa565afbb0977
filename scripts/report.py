#!/usr/bin/env python3
"""Runs pekonode's simulator and real-socket benches and writes a report.

    python3 scripts/report.py [--quick] [--out docs/bench]

(`make report [REPORT_QUICK=1]` runs it in a venv with matplotlib.)

Builds the `sim` and `bench` examples once, runs each bench as a subprocess with a
timeout, keeps its printed markdown table, its JSON and its stderr under OUT/data/,
and writes OUT/README.md with the tables, the commands, the machine and the plots:
rounds to full dissemination vs N, bytes per member per second vs N, the
distribution of failure-detection times, list completeness over time in the join
storm (`bench --storm`), and CPU and false removals under overload (`bench
--overload`, when the bench has that mode; its JSON: {"mode": "overload", "rows":
[{"n", "spin_threads", "spin_secs", "false_removals", optional "spin_start_s",
"series": [{"t", "cpu_pct", "false_removals"}, ...]}]}); then, as root, the fault lab's
scenarios (scripts/netns_lab.py, `make test-netns`). A bench that fails, times
out or is killed is recorded as such; every figure in the report comes from a
bench's own output.
"""

import argparse
import datetime
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AMOUNT = 3  # f: the sim's default --amount, and the bench's AMOUNT
SIM_CYCLE_MS = 200  # passed explicitly to every sim run
DETECTION_TIMEOUT_MS = 10000
# A sim run may use at most this share of the memory available when it starts
# (RLIMIT_AS): an oversized run fails on its own instead of waking the OOM killer.
SIM_MEMORY_SHARE = 0.9

FULL = {
    "dissemination": ["--n", "100,300,1000,3000", "--seeds", "20", "--loss", "0,0.05"],
    "detection": ["--n", "1000", "--seeds", "30", "--loss", "0,0.05"],
    "pause": ["--n", "1000", "--seeds", "3", "--timeout", str(DETECTION_TIMEOUT_MS)],
    "rejoin": ["--n", "1000", "--seeds", "3", "--timeout", str(DETECTION_TIMEOUT_MS)],
    "scale": [1000, 2000, 5000, 10000],
    "bench": [],
    "large": True,
    # Issue 11's join storm: one process per run, N = 1000 at a 200 ms cycle, N = 2000 at 1 s.
    "storm": [["--sizes", "1000", "--cycle", "200"], ["--sizes", "2000", "--cycle", "1000"]],
}
QUICK = {
    "dissemination": ["--n", "50,100,300", "--seeds", "5", "--loss", "0,0.05"],
    "detection": ["--n", "200", "--seeds", "8", "--loss", "0,0.05"],
    "pause": ["--n", "200", "--seeds", "2", "--timeout", str(DETECTION_TIMEOUT_MS)],
    "rejoin": ["--n", "200", "--seeds", "2", "--timeout", str(DETECTION_TIMEOUT_MS)],
    "scale": [500, 1000],
    "bench": ["--sizes", "20,50", "--settle", "2", "--steady", "5"],
    "large": False,
    "storm": [["--sizes", "500", "--cycle", "200", "--steady", "20"]],
}
# Before a real-socket bench, wait up to QUIET_WAIT_S for the 1-minute load average
# to drop below QUIET_LOAD_SHARE of the cores: other work skews its CPU and timing.
QUIET_LOAD_SHARE = 0.5
QUIET_WAIT_S = 600
# Seconds before a run is killed.
TIMEOUTS = {"sim": 3600, "scale": 1800, "bench": 1200, "large": 1800, "storm": 1800,
            "overload": 1800, "netns": 900}


# --- running ---------------------------------------------------------------


def sh(cmd):
    """A command's stdout, stripped, or '' if it cannot run."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def rel(arg):
    """A path under the repository as seen from its root (where the runs start), else as is."""
    if isinstance(arg, Path) and arg.is_absolute() and arg.is_relative_to(ROOT):
        return str(arg.relative_to(ROOT))
    return str(arg)


def limit_memory():
    avail = meminfo_kib().get("MemAvailable")
    if avail:
        cap = int(avail * 1024 * SIM_MEMORY_SHARE)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def wait_quiet():
    limit = QUIET_LOAD_SHARE * (os.cpu_count() or 1)
    deadline = time.monotonic() + QUIET_WAIT_S
    if os.getloadavg()[0] >= limit:
        print(f"[report] load average {os.getloadavg()[0]:.2f}: waiting up to {QUIET_WAIT_S} s "
              f"for it to drop below {limit:.2f}", flush=True)
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(10)


def run(name, cmd, data_dir, timeout, json_file=None, preexec=None):
    """Runs one bench; returns a record of what happened and what it printed."""
    cmd = [rel(c) for c in cmd]
    shown = " ".join(cmd)
    print(f"[report] {name}: {shown}  (timeout {timeout} s)", flush=True)
    err_path = data_dir / f"{name}.stderr.txt"
    rec = {"name": name, "cmd": shown, "status": "ok", "stdout": "", "data": None,
           "load": os.getloadavg()[0]}
    start = time.monotonic()
    with open(err_path, "w") as err:
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                               text=True, timeout=timeout, cwd=ROOT, preexec_fn=preexec)
            rec["stdout"] = p.stdout
            if p.returncode < 0:
                rec["status"] = f"killed by signal {-p.returncode}"
            elif p.returncode:
                rec["status"] = f"exit code {p.returncode}"
        except subprocess.TimeoutExpired as e:
            out = e.stdout or ""
            rec["stdout"] = out.decode() if isinstance(out, bytes) else out
            rec["status"] = f"timed out after {timeout} s (killed)"
    rec["seconds"] = time.monotonic() - start
    (data_dir / f"{name}.stdout.md").write_text(rec["stdout"])
    if rec["status"] != "ok":
        rec["stderr_tail"] = err_path.read_text().splitlines()[-15:]
    if json_file and json_file.exists():
        try:
            # serde_json writes a run that never finished (an infinite time, a NaN) as null.
            rec["data"] = json.loads(json_file.read_text())
        except ValueError as e:
            rec["status"] += f"; unreadable JSON: {e}"
    print(f"[report] {name}: {rec['status']} in {rec['seconds']:.1f} s", flush=True)
    return rec


def build(cargo):
    cmd = [cargo, "build", "--release", "--features", "sim", "--example", "sim", "--example", "bench"]
    print("[report] " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    meta = json.loads(subprocess.run([cargo, "metadata", "--format-version", "1", "--no-deps"],
                                     cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    examples = Path(meta["target_directory"]) / "release" / "examples"
    return " ".join(cmd), examples / "sim", examples / "bench"


def run_all(plan, sim, bench, data_dir):
    def sim_run(name, mode, args, timeout=TIMEOUTS["sim"], json_out=True):
        out = data_dir / f"{name}.json"
        cmd = [sim, mode, *args, "--cycle", str(SIM_CYCLE_MS)]
        if json_out:
            cmd += ["--json", out]
        return run(name, cmd, data_dir, timeout, out if json_out else None, limit_memory)

    recs = {
        "dissemination": sim_run("dissemination", "dissemination", plan["dissemination"]),
        "detection": sim_run("detection", "detection",
                             plan["detection"] + ["--timeout", str(DETECTION_TIMEOUT_MS)]),
        "pause": sim_run("pause", "pause", plan["pause"], json_out=False),
        "rejoin": sim_run("rejoin", "rejoin", plan["rejoin"]),
        # One size per process, largest last: a size that runs out of memory loses only itself.
        "scale": [sim_run(f"scale-{n}", "scale", ["--n", str(n)], TIMEOUTS["scale"])
                  for n in sorted(plan["scale"])],
    }
    out = data_dir / "bench.json"
    wait_quiet()
    recs["bench"] = run("bench", [bench, *plan["bench"], "--json", out], data_dir,
                        TIMEOUTS["bench"], out)
    if plan["large"]:
        out = data_dir / "bench-large.json"
        wait_quiet()
        recs["large"] = run("bench-large", [bench, "--large", "--json", out], data_dir,
                            TIMEOUTS["large"], out)
    recs["storm"] = []
    for args in plan["storm"]:
        opts = dict(zip(args[::2], args[1::2]))
        name = (f"bench-storm-n{opts.get('--sizes', '1000').replace(',', '-')}"
                f"-c{opts.get('--cycle', '200')}")
        out = data_dir / f"{name}.json"
        wait_quiet()
        recs["storm"].append(run(name, [bench, "--storm", *args, "--json", out], data_dir,
                                 TIMEOUTS["storm"], out))
    recs["overload"] = run_overload(bench, data_dir)
    recs["netns"] = run_netns(data_dir)
    return recs


def run_netns(data_dir):
    """The multi-host fault lab (`make test-netns`) with its figures, or None without root or
    iptables (the report says so)."""
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        print("[report] no root or no iptables: no fault-lab section", flush=True)
        return None
    subprocess.run(["make", "--no-print-directory", "build/node"], cwd=ROOT, check=True)
    out = data_dir / "netns-lab.json"
    wait_quiet()
    return run("netns-lab", [sys.executable, ROOT / "scripts" / "netns_lab.py", "--json", out],
               data_dir, TIMEOUTS["netns"], out)


def has_overload(bench):
    """Whether the bench has an --overload mode: an unknown flag after it shows which one the
    parser stops at, without running anything."""
    try:
        p = subprocess.run([bench, "--overload", "--no-such-flag"], capture_output=True,
                           text=True, timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode != 0 and '"--overload"' not in p.stderr


def run_overload(bench, data_dir):
    """The overload scenario if the bench has it, else None (the report says so)."""
    if not has_overload(bench):
        print("[report] the bench has no --overload mode: no overload section", flush=True)
        return None
    out = data_dir / "bench-overload.json"
    wait_quiet()
    return run("bench-overload", [bench, "--overload", "--json", out], data_dir,
               TIMEOUTS["overload"], out)


# --- plots -----------------------------------------------------------------


def bound(n, f=AMOUNT):
    return math.log(n) / math.log(f + 1) + math.log(n) / f + 3


def finite(v):
    return isinstance(v, (int, float)) and math.isfinite(v)


def plot_dissemination(rows, path):
    losses = sorted({r["loss"] for r in rows})
    fig, axes = plt.subplots(1, len(losses), figsize=(6 * len(losses), 4.5), sharey=True,
                             squeeze=False)
    ns = sorted({r["n"] for r in rows})
    grid = [ns[0] * (ns[-1] / ns[0]) ** (i / 100) for i in range(101)]
    for ax, loss in zip(axes[0], losses):
        sel = sorted((r for r in rows if r["loss"] == loss), key=lambda r: r["n"])
        for r in sel:
            ax.scatter([r["n"]] * len(r["rounds"]), r["rounds"], s=10, color="0.7", zorder=1,
                       label="single runs" if r is sel[0] else None)
            missed = r["seeds"] - len(r["rounds"])
            if missed:
                ax.annotate(f"{missed} of {r['seeds']} runs\nnot within 100 rounds",
                            (r["n"], r["p99"] if finite(r["p99"]) else 1), fontsize=8)
        for key, style in (("p50", "o-"), ("p99", "s-")):
            pts = [(r["n"], r[key]) for r in sel if finite(r[key])]
            ax.plot(*zip(*pts), style, label=f"{key} over seeds", zorder=2)
        ax.plot(grid, [bound(n) for n in grid], "k--",
                label=f"log$_{{f+1}}$N + lnN/f + 3, f = {AMOUNT}")
        ax.set_xscale("log")
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.minorticks_off()
        ax.set_title(f"{loss * 100:.0f}% message loss, {sel[0]['seeds']} seeds per N")
        ax.set_xlabel("members N (log scale)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("rounds until every member has the update")
    axes[0][0].set_ylim(bottom=0)
    fig.suptitle(f"Simulator: rounds to full dissemination (cycle {SIM_CYCLE_MS} ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bandwidth_series(recs):
    """(label, [(n, bytes/member/s)]) for every source that measured it."""
    series = []
    sim = [(r["n"], r["bytes_per_member_round"] / (SIM_CYCLE_MS / 1000))
           for rec in recs["scale"] if rec["data"] for r in rec["data"]
           if finite(r.get("bytes_per_member_round"))]
    if sim:
        series.append((f"simulator, cycle {SIM_CYCLE_MS} ms (bytes/member/round ÷ cycle)", sim))
    for key, what in (("bench", "real sockets"), ("large", "real sockets --large")):
        doc = recs.get(key) and recs[key]["data"]
        if not doc:
            continue
        pts = [(r["n"], r["bytes_per_member_s"]) for r in doc["results"]
               if finite(r.get("bytes_per_member_s"))]
        if pts:
            cfg = doc["config"]
            series.append((f"{what}, {cfg['protocol']}, cycle {cfg['cycle_ms']} ms", pts))
    return series


def plot_bandwidth(series, path):
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for (label, pts), marker in zip(series, "osD^"):
        pts = sorted(pts)
        ax.plot(*zip(*pts), marker + "-", label=label)
        for n, b in pts:
            ax.annotate(f"{b:,.0f}", (n, b), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ns = sorted({n for _, pts in series for n, _ in pts})
    ax.set_xscale("log")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_ylim(bottom=0)
    ax.set_xlabel("members N (log scale)")
    ax.set_ylabel("bytes sent per member per second")
    ax.set_title("Traffic per member vs cluster size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_detection(rows, path):
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    timeout = rows[0]["timeout"]
    for r in rows:
        times = sorted(t for t in r["detection_ms"] if finite(t))
        total = len(r["detection_ms"])
        missed = total - len(times)
        label = f"N = {r['n']}, {r['loss'] * 100:.0f}% loss ({total} seeds"
        label += f", {missed} not removed within 4×timeout)" if missed else ")"
        if times:
            xs = [times[0]] + times
            ys = [0] + [(i + 1) / total for i in range(len(times))]
            ax.step(xs, ys, where="post", label=label)
    ax.axvline(timeout, color="k", linestyle="--", label=f"timeout = {timeout} ms")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel("ms from crash until no member lists the crashed one")
    ax.set_ylabel("fraction of runs (CDF)")
    ax.set_title(f"Simulator: failure detection time (cycle {SIM_CYCLE_MS} ms)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def storm_runs(recs):
    """(label, config, result row) for every storm run that wrote JSON."""
    runs = []
    for rec in recs.get("storm", []):
        doc = rec["data"]
        if not doc:
            continue
        cfg = doc["config"]
        for r in doc["results"]:
            runs.append((f"N = {r['n']}, cycle {cfg['cycle_ms']} ms", cfg, r))
    return runs


def plot_storm(runs, path):
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for label, _cfg, r in runs:
        pts = [(p["t"], 100 * p["complete"] / r["n"]) for p in r["series"]]
        if not pts:
            continue
        line, = ax.plot(*zip(*pts), "-", label=f"{label}: members with a complete list")
        mean = [(p["t"], 100 * p["mean_listed"]) for p in r["series"]]
        ax.plot(*zip(*mean), ":", color=line.get_color(), label=f"{label}: mean % listed")
        if finite(r.get("last_join_s")):
            ax.axvline(r["last_join_s"], color=line.get_color(), linestyle="--", alpha=0.6,
                       label=f"{label}: last join ({r['last_join_s']:.1f} s)")
    ax.set_ylim(0, 102)
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the first member joined")
    ax.set_ylabel("% of members")
    ax.set_title("Join storm (real sockets): list completeness over time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_overload(rows, path):
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 3.6 * len(rows)), squeeze=False)
    for ax, r in zip(axes[:, 0], rows):
        series = r.get("series") or []
        t = [p["t"] for p in series]
        ax.plot(t, [p["cpu_pct"] for p in series], "-", color="tab:blue",
                label="process CPU, % of one core")
        ax.set_ylabel("CPU % of one core", color="tab:blue")
        ax.set_ylim(bottom=0)
        right = ax.twinx()
        right.step(t, [p["false_removals"] for p in series], where="post", color="tab:red",
                   label="false removals (cumulative)")
        right.set_ylabel("false removals (cumulative)", color="tab:red")
        right.set_ylim(bottom=0)
        # The spin window: from spin_start_s if the bench gives it, else from the start.
        start = r.get("spin_start_s", 0) if finite(r.get("spin_start_s", 0)) else 0
        if finite(r.get("spin_secs")):
            ax.axvspan(start, start + r["spin_secs"], color="0.85", zorder=0,
                       label=f"{r.get('spin_threads', '?')} spinning threads")
        ax.set_title(f"N = {r['n']}: {r.get('false_removals', '?')} false removals")
        ax.set_xlabel("seconds")
        ax.grid(alpha=0.3)
        handles = ax.get_legend_handles_labels()
        more = right.get_legend_handles_labels()
        ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=8, loc="upper left")
    fig.suptitle("Overload (real sockets): CPU and false removals")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_plots(recs, out):
    """Draws what the data allows; returns {plot name: file name or reason it is missing}."""
    plots = {}

    def attempt(name, data, draw):
        if not data:
            plots[name] = None
            return
        try:
            draw(data, out / f"{name}.png")
            plots[name] = f"{name}.png"
        except Exception as e:  # a plot must not lose the tables
            print(f"[report] plot {name} failed: {e!r}", file=sys.stderr)
            plots[name] = None

    attempt("dissemination", recs["dissemination"]["data"], plot_dissemination)
    attempt("bandwidth", bandwidth_series(recs), plot_bandwidth)
    attempt("detection", recs["detection"]["data"], plot_detection)
    attempt("storm", storm_runs(recs), plot_storm)
    overload = recs.get("overload")
    attempt("overload", overload and overload["data"] and overload["data"].get("rows"),
            plot_overload)
    return plots


# --- the summary -----------------------------------------------------------


def meminfo_kib():
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return {}
    return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in lines)}


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem = meminfo_kib()
    commit = sh(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "?"
    dirty = sh(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "examples",
                "Cargo.toml", "Cargo.lock"])
    return {
        "nproc": sh(["nproc"]) or str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem.get('MemTotal', 0) / 1048576:.1f} GiB total, "
                  f"{mem.get('MemAvailable', 0) / 1048576:.1f} GiB available at start",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "os": f"{platform.system()} {platform.release()}",
        "rustc": sh(["rustc", "--version"]) or "?",
        "commit": commit + (" (with uncommitted changes to the sources)" if dirty else ""),
    }


def section(rec):
    """A run's printed output (markdown) and, if it did not finish, what happened."""
    lines = [rec["stdout"].strip() or "_(printed nothing)_", ""]
    if rec["status"] != "ok":
        lines += [f"**This run did not finish: {rec['status']}.** Last lines of its stderr:", "",
                  "```", *rec.get("stderr_tail", []), "```", ""]
    return lines


def merged_scale_table(recs):
    """The scale runs' rows under one header, plus a note for each size that failed."""
    header, rows, notes = [], [], []
    for rec in recs:
        table = [line for line in rec["stdout"].splitlines() if line.startswith("|")]
        header = header or table[:2]
        rows += table[2:]
        if rec["status"] != "ok":
            tail = "; ".join(rec.get("stderr_tail", [])[-2:]) or "no stderr"
            notes.append(f"- `{rec['cmd']}`: **{rec['status']}** ({rec['seconds']:.0f} s wall; "
                         f"stderr: {tail})")
    return (header + rows if rows else ["_(no scale run finished)_"]) + [""] + notes + [""]


def image(plots, name, alt):
    if plots.get(name):
        return [f"![{alt}]({plots[name]})", ""]
    return [f"_(no {name} plot: the runs it needs produced no data)_", ""]


def cell(v, fmt="{:.1f}"):
    return fmt.format(v) if finite(v) else "—"


def storm_table(runs):
    """One line per storm run, from its JSON: the issue-11 figures next to their targets."""
    lines = ["| run | join all (s) | lists complete after last join (s) | publish to all (s) "
             "| false FAILED: storm / steady / all | CPU % of one core | peak RSS MiB "
             "| stopped member gone (s) | events lost | targets missed |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, cfg, r in runs:
        missed = [t["name"] for t in r.get("targets", []) if not t["pass"]]
        lists = cell(r["lists_complete_s"], "{:.2f}")
        if not finite(r["lists_complete_s"]):
            lists = f"not within {cfg['deadline_s']:.0f}"
        lines.append(
            f"| {label} | {cell(r['join_s'], '{:.2f}')} | {lists} "
            f"| {cell(r['publish_to_all_s'], '{:.2f}')} "
            f"| {r['false_failed_storm']} / {r['false_failed_window']} / {r['false_failed_total']} "
            f"| {cell(r['cpu_percent_of_one_core'])} | {cell(r['rss_peak_mib'])} "
            f"| {cell(r['stopped_member_gone_s'], '{:.2f}')} (timeout {cfg['timeout_ms'] / 1000:g}) "
            f"| {r['events_lost']} | {len(missed)} of {len(r.get('targets', []))} |")
    return lines + [""]


def storm_section(recs, plots):
    md = ["## Join storm (real sockets): `bench --storm`", "",
          "Issue 11: all N members in one process created and joined back to back, each told "
          "about the first three; UDP, amount 3, timeout 5 s. Targets (N = 1000, cycle 200 ms): "
          "every list complete <= 5 s after the last join (N = 500: <= 3 s), a 300-byte publish "
          "reaches all <= 1 s, no FAILED event about a live member from the first join to the "
          "end of the steady window, steady CPU <= 25% of one core, peak RSS <= 256 MiB, a "
          "stopped member gone from every list within timeout_ms. Lists are polled (counts "
          "only) from the first join until complete; the steady window has no polling; every "
          "member's events are drained throughout.", ""]
    if not recs.get("storm"):
        return md + ["_(no storm run in this report)_", ""]
    runs = storm_runs(recs)
    md += image(plots, "storm", "list completeness over time during the join storm")
    md += storm_table(runs) if runs else ["_(no storm run wrote results)_", ""]
    for rec in recs["storm"]:
        md += [f"### `{rec['cmd']}`", "", *section(rec)]
    return md


def overload_section(recs, plots):
    md = ["## Overload (real sockets): `bench --overload`", ""]
    rec = recs.get("overload")
    if rec is None:
        return md + ["_The bench has no `--overload` mode yet (it rejected the flag): no "
                     "overload figures in this report._", ""]
    rows = (rec["data"] or {}).get("rows") or []
    md += ["Process CPU and cumulative false removals over time while threads spin on the "
           "machine's cores (shaded).", ""]
    md += image(plots, "overload", "CPU and false removals under overload")
    if rows:
        md += ["| N | spinning threads | spin (s) | false removals |", "|---|---|---|---|"]
        md += [f"| {r.get('n')} | {r.get('spin_threads')} | {r.get('spin_secs')} "
               f"| {r.get('false_removals')} |" for r in rows]
        md += [""]
    return md + section(rec)


def netns_section(recs):
    md = ["## Fault lab (network namespaces): `make test-netns`", ""]
    rec = recs.get("netns")
    if rec is None:
        return md + ["_Not run: the lab needs root and iptables._", ""]
    data = rec["data"] or {}
    md += [f"{data.get('hosts', '?')} hosts, one `build/node` each, in network namespaces on one "
           f"bridge; `cycle_ms` {data.get('cycle_ms')}, `timeout_ms` {data.get('timeout_ms')}; "
           f"loss by {data.get('loss', '?')}. Each scenario asserts its property (the script's "
           f"docstrings); the lab took {data.get('seconds', '?')} s.", ""]
    scenarios = data.get("scenarios") or {}
    if scenarios:
        md += ["| scenario | figures |", "|---|---|"]
        md += [f"| {name.replace('|', chr(92) + '|')} | "
               + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figs.items())
               + " |" for name, figs in scenarios.items()]
        md += [""]
    return md + section(rec)


def write_summary(out, recs, plots, info, build_cmd, quick, total):
    all_recs = [recs["dissemination"], recs["detection"], recs["pause"], recs["rejoin"],
                *recs["scale"],
                recs["bench"]] + ([recs["large"]] if "large" in recs else []) + recs["storm"]
    if recs.get("overload"):
        all_recs.append(recs["overload"])
    if recs.get("netns"):
        all_recs.append(recs["netns"])
    failed = [r for r in all_recs if r["status"] != "ok"]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = ["# pekonode bench report", ""]
    if quick:
        md += ["> **Quick mode** (`REPORT_QUICK=1`): reduced sizes and seeds, no `--large`, "
               "for testing the report itself. Run `make report` for the real figures.", ""]
    md += [
        f"Generated by `make report{' REPORT_QUICK=1' if quick else ''}` (scripts/report.py) "
        f"on {now}; the whole report took {total / 60:.1f} min.", "",
        "| machine | |", "|---|---|",
        f"| nproc | {info['nproc']} |", f"| CPU | {info['cpu']} |",
        f"| memory | {info['memory']} |", f"| load average at start | {info['load']} |",
        f"| OS | {info['os']} |", f"| rustc | {info['rustc']} |", f"| commit | {info['commit']} |",
        "",
        "Simulator runs are single-threaded on a virtual clock (their figures do not depend on "
        "the machine's speed, only their wall time does); the real-socket benches run all "
        "members in one process on 127.0.0.1 and share the machine's cores.", "",
    ]
    if failed:
        md += ["**Runs that did not finish:** " + ", ".join(f"`{r['name']}` ({r['status']})"
                                                            for r in failed), ""]
    md += ["## Commands", "",
           f"Built once with `{build_cmd}`; each run is the example binary directly "
           "(the same as `cargo run --release --example NAME -- ARGS`). "
           "Raw output, JSON and stderr of every run are in [data/](data/).", "",
           "| run | command | result | wall (s) | load average at its start |",
           "|---|---|---|---|---|"]
    md += [f"| {r['name']} | `{r['cmd']}` | {r['status']} | {r['seconds']:.1f} | {r['load']:.2f} |"
           for r in all_recs]
    md += ["", "## Dissemination (simulator)", "",
           f"Rounds from one publish until every member holds it, over seeds; f = {AMOUNT} "
           "(gossip fan-out). The dashed curve is the bound log_(f+1)(N) + ln(N)/f + 3.", ""]
    md += image(plots, "dissemination", "rounds to full dissemination vs N") + section(
        recs["dissemination"])
    md += ["## Traffic per member", "",
           f"Simulator: `scale` mode's bytes/member/round (counted from two quiet rounds before "
           f"a publish until every member has it) ÷ the {SIM_CYCLE_MS / 1000:g} s cycle. "
           "Real sockets: bytes (datagrams + TCP streams) sent per member per second over the "
           "bench's steady window. Note the `--large` bench runs a 1 s cycle, the others "
           f"{SIM_CYCLE_MS} ms.", ""]
    md += image(plots, "bandwidth", "bytes per member per second vs N")
    md += ["### Simulator scale runs", "", *merged_scale_table(recs["scale"])]
    md += ["### Real sockets: `bench`", "", *section(recs["bench"])]
    if "large" in recs:
        md += ["### Real sockets: `bench --large`", "", *section(recs["large"])]
    md += storm_section(recs, plots)
    md += overload_section(recs, plots)
    md += netns_section(recs)
    md += ["## Failure detection (simulator)", "",
           "Time from a member's crash until no other member lists it, one crash per seed.", ""]
    md += image(plots, "detection", "failure detection time CDF") + section(recs["detection"])
    md += ["## Paused members (simulator)", "",
           "`pause` mode's table as printed: removals of live members when 10% pause for half "
           "the timeout, and one member paused for twice the timeout (removed after / listed "
           "again after resume, ms; `None` = not within the limit).", ""]
    md += section(recs["pause"])
    md += ["## A member rejoins (simulator)", "",
           "`rejoin` mode's table as printed: one member of a converged cluster crashes, is "
           "removed, and restarts with empty state through one seed. Time until every other "
           "member lists it again, the most rumors it held queued, and what it sent over the "
           f"following 300 rounds ({SIM_CYCLE_MS} ms cycle). It lists the members named in the "
           "reply to its join without rumoring each of them on (the cluster knows them), so "
           "it queues about two rumors instead of N.", ""]
    md += section(recs["rejoin"])
    (out / "README.md").write_text("\n".join(md).rstrip() + "\n")
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="reduced sizes and seeds, no --large")
    ap.add_argument("--out", default=str(ROOT / "docs" / "bench"), help="output folder")
    ap.add_argument("--cargo", default=os.environ.get("CARGO", "cargo"))
    args = ap.parse_args()
    started = time.monotonic()
    out = Path(args.out).resolve()
    info = machine()
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        print(f"[report] warning: load average {info['load']}; the real-socket figures "
              "may be perturbed by other work", file=sys.stderr)
    build_cmd, sim, bench = build(args.cargo)
    shutil.rmtree(out, ignore_errors=True)
    (out / "data").mkdir(parents=True)
    recs = run_all(QUICK if args.quick else FULL, sim, bench, out / "data")
    plots = make_plots(recs, out)
    failed = write_summary(out, recs, plots, info, build_cmd, args.quick,
                           time.monotonic() - started)
    print(f"[report] wrote {out / 'README.md'} in {(time.monotonic() - started) / 60:.1f} min"
          + (f"; {len(failed)} run(s) did not finish" if failed else ""))


if __name__ == "__main__":
    main()
