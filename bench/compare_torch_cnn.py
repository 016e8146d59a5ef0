#!/usr/bin/python3
"""eoslab and PyTorch side by side on cnn-relu (issue 20's workload), in one run.

Cohen et al.'s cnn-relu (conv 3×3 pad 1 ×32, ReLU, max pool 2, twice, then
Linear(1568, 10)) on 200 random 28×28 images, mean cross-entropy, float64 on
both sides (and PyTorch float32 beside it), 2 threads. The eoslab half is
build/bench/bench_conv (it exports the images, labels, θ₀ and the HVP
direction, so both sides compute on the same numbers). Before any time is
printed, both sides must agree on the loss, the gradient norm and an HVP norm.
Each side is timed REPS times, interleaved (eoslab, PyTorch, eoslab, …); a
ratio is the median of the REPS per-repetition ratios, quoted with its range.

  /usr/bin/python3 bench/compare_torch_cnn.py [--reps 3] [--build DIR] [--markdown FILE]

Needs Debian's python3-torch (scripts/install-bench-deps.sh).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from exit_on_signal import exit_on_termination_signals

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its OpenMP pool
THREADS = 2

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    sys.exit(f"compare_torch_cnn: {e.name} is missing; run `bash scripts/install-bench-deps.sh` "
             "(Debian's python3-torch) and use /usr/bin/python3")

torch.set_num_threads(THREADS)


def best_of(f, reps=3):
    """Seconds of the fastest of `reps` calls of f after one warm-up call (as bench_conv times)."""
    f()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def torch_side(d, dtype):
    X = torch.from_numpy(np.load(f"{d}/X.npy")).to(dtype).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(np.load(f"{d}/y.npy")).long()
    theta0 = torch.from_numpy(np.load(f"{d}/theta0.npy")).to(dtype)
    v = torch.from_numpy(np.load(f"{d}/v.npy")).to(dtype)

    def loss(th):  # θ in torch.cat([p.reshape(-1) for p in net.parameters()]) order
        shapes = [(32, 1, 3, 3), (32,), (32, 32, 3, 3), (32,), (10, 1568), (10,)]
        parts, o = [], 0
        for s in shapes:
            n = int(np.prod(s))
            parts.append(th[o:o + n].view(*s))
            o += n
        w1, b1, w2, b2, w3, b3 = parts
        h = F.max_pool2d(F.relu(F.conv2d(X, w1, b1, padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
        return F.cross_entropy(F.linear(h.flatten(1), w3, b3), y)

    def grad(create_graph=False):
        th = theta0.clone().requires_grad_(True)
        f = loss(th)
        (g,) = torch.autograd.grad(f, th, create_graph=create_graph)
        return th, f, g

    def hvp_scratch():
        th, _, g = grad(True)
        return torch.autograd.grad(g, th, grad_outputs=v)[0]

    th, f, g = grad(True)
    linearized = lambda: torch.autograd.grad(g, th, grad_outputs=v, retain_graph=True)[0]  # noqa: E731
    r = {"loss": f.item(), "grad_norm": g.norm().item(), "hvp_norm": linearized().norm().item()}
    r["seconds"] = {"gradient": best_of(grad), "hvp_linearized": best_of(linearized), "hvp_scratch": best_of(hvp_scratch)}
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--markdown", help="also write the table to this file")
    a = ap.parse_args()
    exe = os.path.join(a.build, "bench", "bench_conv")
    if not os.access(exe, os.X_OK):
        sys.exit(f"compare_torch_cnn: {exe} not found; build first (bash scripts/build.sh)")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(THREADS))
    eos_runs, t64_runs, t32_runs = [], [], []
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([exe, "export", d], check=True, env=env)
        for rep in range(a.reps):  # interleaved: the machine's noise hits both sides alike
            last = rep == a.reps - 1  # λmax every step on 1000 images: once, in the last repetition
            eos_runs.append(json.loads(subprocess.run([exe, "time", "3", "5" if last else "0"], check=True, env=env,
                                                      capture_output=True, text=True).stdout))
            t64_runs.append(torch_side(d, torch.float64))
            t32_runs.append(torch_side(d, torch.float32))

    e0, t0 = eos_runs[0], t64_runs[0]
    print("Agreement (same images, labels, θ₀ and direction on both sides, float64):")
    failed = []
    for key, tol in [("loss", 1e-12), ("grad_norm", 1e-10), ("hvp_norm", 1e-10)]:
        rel = abs(e0[key] - t0[key]) / max(abs(e0[key]), abs(t0[key]))
        print(f"  {key:<10} eoslab {e0[key]:.15g}   PyTorch {t0[key]:.15g}   rel. diff {rel:.1e} (≤ {tol:g})")
        if not rel <= tol:
            failed.append(key)
    if failed:
        sys.exit(f"compare_torch_cnn: the two sides disagree on {', '.join(failed)}; no timings are meaningful")

    def ratio(key, other):
        rs = [o["seconds"][key] / e["seconds"][key] for e, o in zip(eos_runs, other)]
        return statistics.median(rs), min(rs), max(rs)

    def med(runs, key):
        return statistics.median(r["seconds"][key] for r in runs)
    out = [f"| operation (cnn-relu, 200 images) | eoslab float64 | PyTorch {torch.__version__} float64 | "
           f"PyTorch / eoslab | PyTorch float32 | PyTorch f32 / eoslab |", "|---|---:|---:|---:|---:|---:|"]
    for name, key in [("gradient", "gradient"), ("linearized HVP", "hvp_linearized"), ("HVP from scratch", "hvp_scratch")]:
        r64, r32 = ratio(key, t64_runs), ratio(key, t32_runs)
        out.append(f"| {name} | {med(eos_runs, key) * 1e3:.0f} ms | {med(t64_runs, key) * 1e3:.0f} ms | "
                   f"{r64[0]:.2f}× ({r64[1]:.2f}–{r64[2]:.2f}) | {med(t32_runs, key) * 1e3:.0f} ms | "
                   f"{r32[0]:.2f}× ({r32[1]:.2f}–{r32[2]:.2f}) |")
    floor = statistics.median(e["floor"]["gradient"] for e in eos_runs)
    lin_floor = statistics.median(e["floor"]["hvp_linearized"] for e in eos_runs)
    last = eos_runs[-1]
    parts = ""
    if "gradient_one_part" in last["seconds"]:
        g1 = [e["seconds"]["gradient_one_part"] / e["seconds"]["gradient"] for e in eos_runs]
        h1 = [e["seconds"]["hvp_linearized_one_part"] / e["seconds"]["hvp_linearized"] for e in eos_runs]
        parts = (f"\neoslab on {last['threads']} threads, each chunk in {last['threads']} parts with single-threaded "
                 f"BLAS, against one part with {THREADS}-threaded BLAS: gradient {statistics.median(g1):.2f}× "
                 f"({min(g1):.2f}–{max(g1):.2f}) faster, linearized HVP {statistics.median(h1):.2f}× "
                 f"({min(h1):.2f}–{max(h1):.2f}).")
    extra = (f"\nFLOP floor at this run's dgemm rate ({statistics.median(e['dgemm_gflops'] for e in eos_runs):.0f} "
             f"GFLOP/s on conv2's shape): gradient {floor * 1e3:.0f} ms (eoslab at "
             f"{med(eos_runs, 'gradient') / floor:.1f}× it), linearized HVP {lin_floor * 1e3:.0f} ms "
             f"({med(eos_runs, 'hvp_linearized') / lin_floor:.1f}×). "
             f"GD with λmax every step on 1000 images: {last['seconds']['gd_step_with_lambda_1000']:.2f} s per step "
             f"({last['hvps_per_step_1000']:.1f} HVPs per step); peak RSS {last['peak_rss_mib_1000']:.0f} MiB "
             f"({last['peak_rss_mib_200']:.0f} MiB for the 200-image timings). {a.reps} interleaved repetitions." + parts)
    table = "\n".join(out)
    print()
    print(table)
    print(extra)
    if a.markdown:
        with open(a.markdown, "w") as fh:
            fh.write(table + "\n" + extra + "\n")


if __name__ == "__main__":
    exit_on_termination_signals()
    main()
