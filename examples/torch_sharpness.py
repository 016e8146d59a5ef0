#!/usr/bin/python3
"""Train fc-tanh in PyTorch; eoslab measures its sharpness every 10 steps.

Cohen et al.'s fc-tanh (784-200-200-10, mean cross-entropy) with full-batch
GD in PyTorch on the first 1000 Fashion-MNIST images, exactly as eoslab's
objective sees them (`Objective.data()`: the same files, scaling and
standardization). Every 10 steps θ_t goes to `eoslab.analyze`, which returns
λmax(∇²f(θ_t)), RP and L(θ_t; η∇f) as numpy columns; the run's metrics.csv
is then drawn by `eoslab plot` (λmax against 2/η, RP, L, the loss). At the
default η = 2/10, λmax rises past 2/η = 10 by step 70, GD turns unstable
(RP near 0, the loss goes up around step 150) and catapults to a flatter
region where λmax falls back below 2/η.

  PYTHONPATH=build/python /usr/bin/python3 examples/torch_sharpness.py [--steps 400] [--out DIR]

Needs Debian's python3-torch and the module (built with the library).
"""
import argparse
import os
import shutil
import subprocess
import sys

import numpy as np

try:
    import torch
except ImportError:
    sys.exit("torch_sharpness: Debian's python3-torch is missing")
import eoslab

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=400)
ap.add_argument("--lr", default="2/10")  # fc-tanh on 1000 images sharpens past 10 within ~100 steps
ap.add_argument("--out", default="torch-sharpness")
ap.add_argument("--eoslab", default=os.path.join(os.path.dirname(__file__), "..", "build", "apps", "eoslab"))
a = ap.parse_args()
num, den = (a.lr.split("/") + ["1"])[:2]
eta = float(num) / float(den)

f = eoslab.Objective(data="fashion-mnist", n=1000, widths=[200, 200], activation="tanh")
X, y = (torch.from_numpy(v) for v in f.data())
torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(784, 200), torch.nn.Tanh(), torch.nn.Linear(200, 200), torch.nn.Tanh(),
                          torch.nn.Linear(200, 10))
thetas, steps, losses = [], [], []
for t in range(a.steps + 1):
    loss = torch.nn.functional.cross_entropy(net(X), y)
    losses.append(loss.item())
    if t % 10 == 0:  # θ in PyTorch's flat parameter order: what eoslab reads
        thetas.append(torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy().copy())
        steps.append(t)
    net.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= eta * p.grad

cols = eoslab.analyze(thetas, f, plugins=["loss", "rp", "sharpness"], steps=steps, lr=eta)
assert np.allclose(cols["loss"], [losses[s] for s in steps], rtol=1e-12), "eoslab's f is not PyTorch's"
for s, lam, rp in zip(steps, cols["lambda_max"], cols["rp"]):
    print(f"step {s:4d}  loss {losses[s]:.4f}  λmax {lam:8.3f}  (2/η = {2 / eta:.1f})  RP {rp:+.3f}")

os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "metrics.csv"), "w") as out:
    names = list(cols)
    out.write(",".join(names) + "\n")
    for i in range(len(steps)):
        out.write(",".join("" if np.isnan(cols[n][i]) else repr(float(cols[n][i])) for n in names) + "\n")
if shutil.which("gnuplot"):
    subprocess.run([a.eoslab, "plot", a.out], check=True)
