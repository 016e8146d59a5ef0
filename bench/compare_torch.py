#!/usr/bin/python3
"""eoslab and PyTorch side by side on issue 8's workload, in one run.

fc-tanh 784-200-200-10, mean cross-entropy, the first 5000 Fashion-MNIST
images (standardized), float64, 2 threads on both sides. The eoslab half is
build/bench/bench_ops (it also exports the data, θ₀ and the HVP direction, so
both sides compute on the same numbers); the PyTorch half is below. Before any
time is printed, both sides must agree on the loss, the gradient norm, an HVP
norm, the final loss of the GD run and λmax.

  /usr/bin/python3 bench/compare_torch.py [--quick] [--reps R] [--gd-steps G] [--build DIR] [--markdown FILE]

Needs Debian's python3-torch and python3-scipy (scripts/install-bench-deps.sh).
--quick runs 10 GD steps and 100 SGD steps instead of 100 and 1000; --gd-steps sets
the GD steps. The runs with λmax every step are also timed in the steady state:
from step 15 (G/2 if less) on, past the cold first solve and the transient of
the first steps, when each side warm-starts from the step before.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time

from exit_on_signal import exit_on_termination_signals

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its OpenMP pool
THREADS = 2
ETA = 2.0 / 15.0
SGD_LR = 0.05
STEADY_FROM = 15  # the λmax runs are also timed from this step on (bench_ops's kSteadyFrom)

try:
    import numpy as np
    import scipy
    import scipy.sparse.linalg as sla
    import torch
except ImportError as e:  # say what to install, not a traceback
    sys.exit(f"compare_torch: {e.name} is missing; run `bash scripts/install-bench-deps.sh` "
             "(Debian's python3-torch and python3-scipy) and use /usr/bin/python3")

torch.set_num_threads(THREADS)
torch.set_default_dtype(torch.float64)
SIZES = [784, 200, 200, 10]


def per_call(f, budget, min_reps=3):
    """Seconds per call of f, after one warm-up call, repeated for `budget` s."""
    f()
    reps, t0 = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - t0 < budget:
        f()
        reps += 1
    return (time.perf_counter() - t0) / reps


def unflatten(theta):
    """W1, b1, W2, b2, W3, b3 as views of the flat θ (eoslab's layout = PyTorch's)."""
    out, o = [], 0
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        out.append(theta[o:o + fan_out * fan_in].view(fan_out, fan_in))
        o += fan_out * fan_in
        out.append(theta[o:o + fan_out])
        o += fan_out
    return out


def loss_fn(theta, X, y):
    W1, b1, W2, b2, W3, b3 = unflatten(theta)
    h = torch.tanh(torch.nn.functional.linear(X, W1, b1))
    h = torch.tanh(torch.nn.functional.linear(h, W2, b2))
    return torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, W3, b3), y)


def loss_and_grad(theta, X, y, create_graph=False):
    th = theta.detach().requires_grad_(True)
    f = loss_fn(th, X, y)
    (g,) = torch.autograd.grad(f, th, create_graph=create_graph)
    return th, f, g


class Linearized:
    """v ↦ H v by double backward, reusing the gradient graph (retain_graph)."""

    def __init__(self, theta, X, y):
        self.th, self.f, self.g = loss_and_grad(theta, X, y, create_graph=True)
        self.hvps = 0

    def __call__(self, v):
        self.hvps += 1
        (hv,) = torch.autograd.grad(self.g, self.th, grad_outputs=v, retain_graph=True)
        return hv


def eigsh_top(H, n, v0=None):
    """λmax by scipy's ARPACK: eigsh(k=1, which='LA', tol=1e-3), as the EoS codebases do."""
    op = sla.LinearOperator((n, n), matvec=lambda x: H(torch.from_numpy(np.ascontiguousarray(x).ravel())).numpy(),
                            dtype=np.float64)
    vals, vecs = sla.eigsh(op, k=1, which="LA", tol=1e-3, v0=v0)
    return vals[0], vecs[:, 0]


def torch_blas_kernel():
    """The OpenBLAS kernel under PyTorch's BLAS calls ("" where that BLAS is not OpenBLAS)."""
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            corename = ctypes.CDLL(name).openblas_get_corename
        except (OSError, AttributeError):
            continue
        corename.restype = ctypes.c_char_p
        return corename().decode()
    return ""


def torch_side(d, quick, gd_steps_given=None):
    X = torch.from_numpy(np.load(f"{d}/X.npy"))
    y = torch.from_numpy(np.load(f"{d}/y.npy")).long()
    theta0 = torch.from_numpy(np.load(f"{d}/theta0.npy"))
    v = torch.from_numpy(np.load(f"{d}/v.npy"))
    n = theta0.numel()
    gd_steps, sgd_steps = (10, 100) if quick else (100, 1000)
    gd_steps = gd_steps_given or gd_steps
    steady_from = min(STEADY_FROM, gd_steps // 2)
    budget = 0.5 if quick else 2.0
    r, t = {}, {}

    def loss_only():
        with torch.no_grad():
            return loss_fn(theta0, X, y).item()
    r["loss"] = loss_only()
    t["loss"] = per_call(loss_only, budget)
    _, _, g = loss_and_grad(theta0, X, y)
    r["grad_norm"] = g.norm().item()
    t["loss_grad"] = per_call(lambda: loss_and_grad(theta0, X, y), budget)

    def hvp_scratch():
        th, f, g = loss_and_grad(theta0, X, y, create_graph=True)
        (hv,) = torch.autograd.grad(g, th, grad_outputs=v)
        return hv
    r["hvp_norm"] = hvp_scratch().norm().item()
    t["hvp_scratch"] = per_call(hvp_scratch, budget)
    H = Linearized(theta0, X, y)
    t["hvp_linearized"] = per_call(lambda: H(v), budget)

    state = {}

    def cold():
        Hc = Linearized(theta0, X, y)
        state["lam"], _ = eigsh_top(Hc, n)
        state["hvps"] = Hc.hvps
    t["lambda_cold"] = per_call(cold, budget, min_reps=1)
    r["lambda_max"], r["lambda_hvps"] = float(state["lam"]), state["hvps"]

    def gd_run(track):
        """Seconds, the steady part's seconds (the clock after step steady_from's work to the clock after step
        G's, as bench_ops times it), the last loss, HVPs per step overall and in the steady part, the last λmax."""
        theta, prev, hvps, steady_hvps, lam, at = theta0.clone(), None, 0, 0, None, []
        t0 = time.perf_counter()
        for step in range(gd_steps + 1):
            if track:
                Hs = Linearized(theta, X, y)
                lam, prev = eigsh_top(Hs, n, v0=prev)  # warm start from the previous eigenvector
                hvps += Hs.hvps
                steady_hvps += Hs.hvps if step > steady_from else 0
                f, g = Hs.f, Hs.g.detach()
            else:
                _, f, g = loss_and_grad(theta, X, y)
            loss = f.item()
            at.append(time.perf_counter())
            if step < gd_steps:
                theta = theta - ETA * g
        return (time.perf_counter() - t0, at[gd_steps] - at[steady_from], loss, hvps / (gd_steps + 1),
                steady_hvps / (gd_steps - steady_from), lam)
    t["gd"], t["gd_steady"], r["gd_final_loss"], _, _, _ = gd_run(False)
    (t["gd_lambda"], t["gd_lambda_steady"], _, r["gd_lambda_hvps_per_step"], r["gd_lambda_steady_hvps_per_step"],
     lam) = gd_run(True)
    r["gd_lambda_final"] = float(lam)

    gen = torch.Generator().manual_seed(0)
    theta = theta0.clone()
    t0 = time.perf_counter()
    perm, pos = torch.randperm(X.shape[0], generator=gen), 0
    for _ in range(sgd_steps):
        if pos + 32 > X.shape[0]:
            perm, pos = torch.randperm(X.shape[0], generator=gen), 0
        idx = perm[pos:pos + 32]
        pos += 32
        _, f, g = loss_and_grad(theta, X[idx], y[idx])
        f.item()  # the batch loss is read each step, as eoslab records it
        theta = theta - SGD_LR * g
    t["sgd32"] = time.perf_counter() - t0
    r["seconds"] = t
    r["gd_steps"], r["sgd_steps"] = gd_steps, sgd_steps
    return r


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else 0.5 * (xs[len(xs) // 2 - 1] + xs[len(xs) // 2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=1, help="interleaved repetitions of both sides (ratios: median, range)")
    ap.add_argument("--gd-steps", type=int, help="GD steps of the plain and λmax runs (default 100, --quick 10)")
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--markdown", help="also write the table to this file")
    a = ap.parse_args()
    if a.reps < 1:
        sys.exit(f"compare_torch: --reps {a.reps}: expected a count ≥ 1")
    if a.gd_steps is not None and a.gd_steps < 2:
        sys.exit(f"compare_torch: --gd-steps {a.gd_steps}: expected a count ≥ 2")
    exe = os.path.join(a.build, "bench", "bench_ops")
    if not os.access(exe, os.X_OK):
        sys.exit(f"compare_torch: {exe} not found; build first (bash scripts/build.sh)")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(THREADS))
    # Both sides on one BLAS kernel: bench_ops runs the CPU's where OpenBLAS
    # falls back to Prescott (core/blas_kernel.hpp); PyTorch's OpenBLAS is told
    # the same by starting this script again with OPENBLAS_CORETYPE set.
    eos_kernel = json.loads(subprocess.run([exe, "blas"], check=True, env=env, capture_output=True,
                                           text=True).stdout)["kernel"]
    torch_kernel = torch_blas_kernel()
    if eos_kernel and torch_kernel and eos_kernel != torch_kernel:
        if os.environ.get("OPENBLAS_CORETYPE"):
            sys.exit(f"compare_torch: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}: eoslab runs OpenBLAS's "
                     f"{eos_kernel} kernel and PyTorch its {torch_kernel}; unset it or set one both run")
        os.execve(sys.executable, [sys.executable, *sys.argv], dict(os.environ, OPENBLAS_CORETYPE=eos_kernel))
    blas_line = (f"BLAS: OpenBLAS's {eos_kernel} kernel on both sides" if eos_kernel == torch_kernel else
                 f"BLAS: eoslab on OpenBLAS's {eos_kernel or '(not OpenBLAS)'} kernel, "
                 f"PyTorch on {torch_kernel or 'a BLAS that is not OpenBLAS'}")
    print(blas_line, file=sys.stderr)
    eos_runs, torch_runs = [], []
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([exe, "export", d], check=True, env=env)
        for rep in range(a.reps):  # interleaved: the machine's load falls on both sides alike
            torch_runs.append(torch_side(d, a.quick, a.gd_steps))
            eos_args = (["--quick"] if a.quick else []) + (["--gd-steps", str(a.gd_steps)] if a.gd_steps else [])
            eos_runs.append(json.loads(subprocess.run([exe, "time"] + eos_args, check=True,
                                                      env=env, capture_output=True, text=True).stdout))
            print(f"repetition {rep + 1} of {a.reps} done", file=sys.stderr)
    eos_r, torch_r = eos_runs[0], torch_runs[0]

    # Same numbers first: a speed comparison of different computations means nothing.
    checks = [("loss", 1e-12), ("grad_norm", 1e-10), ("hvp_norm", 1e-10), ("gd_final_loss", 1e-8),
              ("lambda_max", 2e-3), ("gd_lambda_final", 2e-3)]
    for key in ("lambda_max_value_rule", "lambda_max_mixed"):  # eoslab's other rules against eigsh's value
        eos_r[key + "_check"] = eos_r[key]
        torch_r[key + "_check"] = torch_r["lambda_max"]
        checks.append((key + "_check", 2e-3))
    failed = []
    lines = []
    for key, tol in checks:
        e = rel(eos_r[key], torch_r[key])
        lines.append(f"  {key:<26} eoslab {eos_r[key]:.12g}   PyTorch {torch_r[key]:.12g}   rel. diff {e:.1e} (≤ {tol:g})")
        if not e <= tol:
            failed.append(key)
    print("Agreement (same data, θ₀ and direction on both sides):")
    print("\n".join(lines))
    if failed:
        sys.exit(f"compare_torch: the two sides disagree on {', '.join(failed)}; no timings are meaningful")

    G, S, F = eos_r["gd_steps"], eos_r["sgd_steps"], eos_r["steady_from"]

    def med(runs, key):
        return median([r["seconds"][key] for r in runs])

    def ratio(torch_key, eos_key):
        rs = [t["seconds"][torch_key] / e["seconds"][eos_key] for t, e in zip(torch_runs, eos_runs)]
        m = f"{median(rs):.2f}×"
        return m if len(rs) == 1 else f"{m} ({min(rs):.2f}–{max(rs):.2f})"

    rows = [("loss", "loss", "loss"), ("loss + gradient", "loss_grad", "loss_grad"),
            ("HVP from scratch", "hvp_scratch", "hvp_scratch"), ("linearized HVP", "hvp_linearized", "hvp_linearized"),
            (f"cold λmax (tol 1e-3), residual rule: {eos_r['lambda_hvps']} vs {torch_r['lambda_hvps']} HVPs",
             "lambda_cold", "lambda_cold"),
            (f"cold λmax, eigenvalue rule: {eos_r['lambda_value_rule_hvps']} HVPs", "lambda_cold_value_rule",
             "lambda_cold"),
            (f"cold λmax, eigenvalue rule, float32 products: {eos_r['lambda_mixed_hvps']} HVPs "
             f"({eos_r['lambda_mixed_float32_hvps']} float32)", "lambda_cold_mixed", "lambda_cold"),
            (f"{G} GD steps", "gd", "gd"),
            (f"{G} GD steps, λmax every step (sharpness defaults, hvp=auto): "
             f"{eos_r['gd_lambda_hvps_per_step']:.2f} vs {torch_r['gd_lambda_hvps_per_step']:.1f} HVPs/step "
             "(eigsh warm-started)", "gd_lambda", "gd_lambda"),
            (f"… hvp=float64: {eos_r['gd_lambda_float64_hvps_per_step']:.2f} HVPs/step", "gd_lambda_float64",
             "gd_lambda"),
            (f"… residual rule, float64: {eos_r['gd_lambda_residual_rule_hvps_per_step']:.2f} HVPs/step",
             "gd_lambda_residual_rule", "gd_lambda"),
            (f"steady state (steps {F + 1}–{G}), λmax every step (defaults): "
             f"{eos_r['gd_lambda_steady_hvps_per_step']:.2f} vs {torch_r['gd_lambda_steady_hvps_per_step']:.1f} HVPs/step",
             "gd_lambda_steady", "gd_lambda_steady"),
            (f"… hvp=float64: {eos_r['gd_lambda_float64_steady_hvps_per_step']:.2f} HVPs/step",
             "gd_lambda_float64_steady", "gd_lambda_steady"),
            (f"{S} SGD steps, batch 32", "sgd32", "sgd32")]
    reps = f", median of {a.reps} interleaved runs (range)" if a.reps > 1 else ""
    out = [f"| operation | eoslab | PyTorch {torch.__version__} + SciPy {scipy.__version__} | PyTorch / eoslab{reps} |",
           "|---|---:|---:|---:|"]

    def fmt_s(s):
        return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"
    for name, eos_key, torch_key in rows:
        torch_cell = fmt_s(med(torch_runs, torch_key)) if eos_key == torch_key else "(as above)"
        out.append(f"| {name} | {fmt_s(med(eos_runs, eos_key))} | {torch_cell} | {ratio(torch_key, eos_key)} |")
    table = "\n".join(out)
    es, ts = {k: med(eos_runs, k) for k in eos_r["seconds"]}, {k: med(torch_runs, k) for k in torch_r["seconds"]}
    extra = (f"\nλmax every step costs {es['gd_lambda'] / es['gd']:.2f}× the plain GD run in eoslab "
             f"({es['gd_lambda_float64'] / es['gd']:.2f}× with hvp=float64, "
             f"{es['gd_lambda_residual_rule'] / es['gd']:.2f}× with the residual rule), "
             f"{ts['gd_lambda'] / ts['gd']:.2f}× in PyTorch + eigsh; in the steady state "
             f"{es['gd_lambda_steady'] / es['gd_steady']:.2f}× ({es['gd_lambda_float64_steady'] / es['gd_steady']:.2f}× "
             f"with hvp=float64) against {ts['gd_lambda_steady'] / ts['gd_steady']:.2f}×. "
             f"eoslab peak RSS {eos_r['peak_rss_mib']:.0f} MiB. {blas_line}.")
    print()
    print(table)
    print(extra)
    if a.markdown:
        with open(a.markdown, "w") as fh:
            fh.write(table + "\n" + extra + "\n")


if __name__ == "__main__":
    exit_on_termination_signals()
    main()
