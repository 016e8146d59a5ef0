#!/usr/bin/python3
"""What λmax at every step costs against the plain run, with `eoslab train`.

Runs `eoslab train --lr 2/15 --steps N --threads 2` (issue 8's workload: fc-tanh
784-200-200-10, 5000 Fashion-MNIST images) plain (`--plugin loss`) and with
each sharpness variant, interleaved, R times; prints each variant's median
wall time over the plain run's (the range in brackets), the same for the CPU
time the run's threads used (user + system: what a busy machine's other
tenants take from the cores shows in the wall time and not in it, so the two
ratios bracket the noise), and from the first
repetition's metrics.csv the HVPs per step before and after the onset (the
first step with λmax ≥ 2/η) and how many were float32.

  /usr/bin/python3 bench/sharpness_cost.py [--reps 3] [--steps 1000] [--build DIR]
      [--variant SPEC ...]   (default: sharpness, i.e. the plugin's defaults)
      [--keep-metrics DIR]   (each variant's first metrics.csv, e.g. for bench/gap_assumption.py)
"""
import argparse
import csv
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from exit_on_signal import exit_on_termination_signals

ETA = 2.0 / 15.0


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else 0.5 * (xs[len(xs) // 2 - 1] + xs[len(xs) // 2])


def children_cpu_seconds():
    """User + system CPU seconds of this process's finished children so far."""
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--variant", action="append", help="a --plugin sharpness spec (repeatable)")
    ap.add_argument("--keep-metrics", metavar="DIR",
                    help="copy each variant's first metrics.csv to DIR/<variant>.csv (DIR must exist; files there are "
                         "never overwritten)")
    a = ap.parse_args()
    if a.reps < 1 or a.steps < 1:
        sys.exit(f"sharpness_cost: --reps {a.reps} --steps {a.steps}: expected counts ≥ 1")
    kept = {}
    if a.keep_metrics is not None:
        if not os.path.isdir(a.keep_metrics):
            sys.exit(f"sharpness_cost: --keep-metrics {a.keep_metrics}: not a directory")
        for v in a.variant or ["sharpness"]:
            kept[v] = os.path.join(a.keep_metrics, re.sub(r"[^A-Za-z0-9=,._-]", "_", v) + ".csv")
            if os.path.exists(kept[v]):
                sys.exit(f"sharpness_cost: --keep-metrics: {kept[v]} exists; not overwriting it")
    exe = os.path.join(a.build, "apps", "eoslab")
    if not os.access(exe, os.X_OK):
        sys.exit(f"sharpness_cost: {exe} not found; build first (bash scripts/build.sh)")
    variants = ["plain"] + (a.variant or ["sharpness"])
    seconds = {v: [] for v in variants}
    cpu_seconds = {v: [] for v in variants}
    hvps = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(a.reps):
            for v in variants:
                out = os.path.join(tmp, f"run{rep}")
                cmd = [exe, "train", "--lr", "2/15", "--steps", str(a.steps), "--threads", "2", "--plugin", "loss",
                       "--out", out, "--quiet"] + ([] if v == "plain" else ["--plugin", v])
                t0, c0 = time.perf_counter(), children_cpu_seconds()
                subprocess.run(cmd, check=True)
                seconds[v].append(time.perf_counter() - t0)
                cpu_seconds[v].append(children_cpu_seconds() - c0)
                if v != "plain" and v not in hvps:
                    with open(os.path.join(out, "metrics.csv")) as f:
                        rows = list(csv.DictReader(f))
                    hvps[v] = rows
                    if v in kept:
                        shutil.copyfile(os.path.join(out, "metrics.csv"), kept[v])
                shutil.rmtree(out)
                print(f"rep {rep + 1}: {v}: {seconds[v][-1]:.1f} s (CPU {cpu_seconds[v][-1]:.1f} s)", file=sys.stderr)
    plain = seconds["plain"]
    plain_cpu = cpu_seconds["plain"]
    print(f"{a.steps} GD steps at η = 2/15, {a.reps} interleaved repetitions; plain run {median(plain):.1f} s "
          f"(median; {min(plain):.1f}–{max(plain):.1f}), CPU {median(plain_cpu):.1f} s")
    print("| run | wall time (median) | × plain (range) | CPU time × plain (range) | HVPs/step | before onset "
          "| after onset | float32 HVPs/step |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| plain (`--plugin loss`) | {median(plain):.1f} s | 1 | 1 | – | – | – | – |")
    for v in variants[1:]:
        ratios = [s / p for s, p in zip(seconds[v], plain)]
        cpu_ratios = [s / p for s, p in zip(cpu_seconds[v], plain_cpu)]
        rows = hvps[v][1:]  # step 0 is a cold solve
        onset = next((int(r["step"]) for r in rows if float(r["lambda_max"]) >= 2 / ETA), None)
        per = lambda rs, key="sharpness_hvps": sum(float(r[key]) for r in rs) / max(len(rs), 1)
        before = [r for r in rows if onset is None or int(r["step"]) <= onset]
        after = [r for r in rows if onset is not None and int(r["step"]) > onset]
        f32 = f"{per(rows, 'sharpness_float32_hvps'):.2f}" if "sharpness_float32_hvps" in rows[0] else "0"
        print(f"| `--plugin {v}` | {median(seconds[v]):.1f} s | {median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) "
              f"| {median(cpu_ratios):.2f}× ({min(cpu_ratios):.2f}–{max(cpu_ratios):.2f}) | {per(rows):.2f} | {per(before):.2f} | {per(after):.2f} (onset at step {onset}) | {f32} |")


if __name__ == "__main__":
    exit_on_termination_signals()
    main()
