#!/usr/bin/env python3
"""Runs pekonode's simulator and real-socket benches and writes a report.

    python3 scripts/report.py [--quick] [--out docs/bench]

(`make report [REPORT_QUICK=1]` runs it in a venv with matplotlib.)

Builds the `sim` and `bench` examples once, runs each bench as a subprocess with a
timeout, keeps its printed markdown table, its JSON and its stderr under OUT/data/,
and writes OUT/README.md with the tables, the commands, the machine and three plots:
rounds to full dissemination vs N, bytes per member per second vs N, and the
distribution of failure-detection times. A bench that fails, times out or is killed
is recorded as such; every figure in the report comes from a bench's own output.
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
}
QUICK = {
    "dissemination": ["--n", "50,100,300", "--seeds", "5", "--loss", "0,0.05"],
    "detection": ["--n", "200", "--seeds", "8", "--loss", "0,0.05"],
    "pause": ["--n", "200", "--seeds", "2", "--timeout", str(DETECTION_TIMEOUT_MS)],
    "rejoin": ["--n", "200", "--seeds", "2", "--timeout", str(DETECTION_TIMEOUT_MS)],
    "scale": [500, 1000],
    "bench": ["--sizes", "20,50", "--settle", "2", "--steady", "5"],
    "large": False,
}
# Before a real-socket bench, wait up to QUIET_WAIT_S for the 1-minute load average
# to drop below QUIET_LOAD_SHARE of the cores: other work skews its CPU and timing.
QUIET_LOAD_SHARE = 0.5
QUIET_WAIT_S = 600
# Seconds before a run is killed.
TIMEOUTS = {"sim": 3600, "scale": 1800, "bench": 1200, "large": 1800}


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
    return recs


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


def write_summary(out, recs, plots, info, build_cmd, quick, total):
    all_recs = [recs["dissemination"], recs["detection"], recs["pause"], recs["rejoin"],
                *recs["scale"],
                recs["bench"]] + ([recs["large"]] if "large" in recs else [])
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
