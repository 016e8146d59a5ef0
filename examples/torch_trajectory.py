#!/usr/bin/python3
"""Train in PyTorch, analyse with eoslab: the round trip of docs/TRAJECTORY.md.

Full-batch GD on a tanh MLP (20-32-3, mean cross-entropy) over 500 Gaussian
examples that are written to train.csv, so that both sides read the same
numbers; θ every 10 steps into thetas.npz (PyTorch's flat parameter order),
then `eoslab analyze --theta` with the matching flags. The script then
checks eoslab's loss and λmax against PyTorch's own (the dense Hessian's top
eigenvalue) and prints the largest differences.

  /usr/bin/python3 examples/torch_trajectory.py [--eoslab build/apps/eoslab] [--dir DIR]

Needs Debian's python3-torch; exits 77 (skipped) without it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"torch_trajectory: {e.name} is missing (Debian's python3-torch); skipped")
    sys.exit(77)

ap = argparse.ArgumentParser()
ap.add_argument("--eoslab", default=os.path.join(os.path.dirname(__file__), "..", "build", "apps", "eoslab"))
ap.add_argument("--dir", default=None)
a = ap.parse_args()
d = a.dir or tempfile.mkdtemp(prefix="eoslab-torch-")
os.makedirs(d, exist_ok=True)
torch.set_default_dtype(torch.float64)

# ---- the PyTorch side: a user's own training loop, θ saved every 10 steps ----
g = torch.Generator().manual_seed(0)
y = torch.randint(0, 3, (500,), generator=g)
X = torch.randn(500, 20, generator=g)
X[:, :3] += 1.5 * torch.nn.functional.one_hot(y, 3)  # three separable-ish clusters
np.savetxt(f"{d}/train.csv", np.column_stack([y.numpy(), X.numpy()]), delimiter=",", fmt="%.17g")
net = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.Tanh(), torch.nn.Linear(32, 3))
eta, thetas, losses = 0.5, {}, {}
flat = lambda: torch.cat([p.detach().reshape(-1) for p in net.parameters()])
for t in range(61):
    loss = torch.nn.functional.cross_entropy(net(X), y)
    if t % 10 == 0:
        thetas[f"theta_{t}"], losses[t] = flat().numpy().copy(), loss.item()
    net.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= eta * p.grad
np.savez(f"{d}/thetas.npz", **thetas)

# ---- eoslab: the same objective from flags, the θs from the archive ----
cmd = [a.eoslab, "analyze", "--theta", f"{d}/thetas.npz", "--steps", "every:10", "--lr", str(eta),
       "--data", f"csv:{d}/train.csv", "--n", "all", "--standardize", "none", "--widths", "32",
       "--plugin", "loss", "--plugin", "sharpness:tol=1e-12", "--out", f"{d}/analysis", "--force"]
print("$", " ".join(cmd))
subprocess.run(cmd, check=True)

# ---- check: eoslab's columns against PyTorch's loss and dense-Hessian λmax ----
rows = np.genfromtxt(f"{d}/analysis/metrics.csv", delimiter=",", names=True)
worst = {"loss": 0.0, "lambda_max": 0.0}
params = list(net.parameters())
for row in rows:
    t = int(row["step"])
    theta = torch.from_numpy(thetas[f"theta_{t}"])

    def f(th):  # the loss as a function of the flat θ, in parameters() order
        parts, o = [], 0
        for p in params:
            parts.append(th[o:o + p.numel()].reshape(p.shape))
            o += p.numel()
        W1, b1, W2, b2 = parts
        return torch.nn.functional.cross_entropy(torch.tanh(X @ W1.T + b1) @ W2.T + b2, y)

    lam = torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, theta))[-1].item()
    worst["loss"] = max(worst["loss"], abs(row["loss"] - losses[t]) / abs(losses[t]))
    worst["lambda_max"] = max(worst["lambda_max"], abs(row["lambda_max"] - lam) / abs(lam))
    print(f"step {t:3d}: loss {row['loss']:.15g} (PyTorch {losses[t]:.15g}), λmax {row['lambda_max']:.12g} "
          f"(PyTorch dense Hessian {lam:.12g})")
print(json.dumps({"max_relative_difference": worst}))
ok = worst["loss"] < 1e-12 and worst["lambda_max"] < 1e-9
print("agree" if ok else "DISAGREE")
sys.exit(0 if ok else 1)
