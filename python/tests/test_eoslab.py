"""The Python module against the command line, finite differences, a dense
Hessian and (when Debian's python3-torch is installed) PyTorch."""
import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import eoslab

EXE = os.environ.get("EOSLAB_EXE", "eoslab")
DATA = os.environ.get("EOSLAB_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data"))
FLAGS = dict(data="gaussian:12,3", n=150, widths=[16])  # d = 12·16 + 16 + 16·3 + 3 = 259


@pytest.fixture(scope="module")
def f():
    return eoslab.Objective(**FLAGS)


def csv_columns(path):
    rows = np.genfromtxt(path, delimiter=",", names=True)
    return {name: rows[name] for name in rows.dtype.names}


def test_keywords_are_the_train_flags_with_their_defaults(f):
    assert f.dim == 259
    spec = json.loads(f.spec)
    assert spec["data"]["n"] == 150 and spec["hidden"] == [16]
    printed = json.loads(subprocess.run([EXE, "spec", "--data", "gaussian:12,3", "--n", "150", "--widths", "16"],
                                        check=True, capture_output=True, text=True).stdout)
    assert spec == printed
    assert json.loads(eoslab.Objective(toy="quadratic").spec) == {"toy": "quadratic"}


def test_data_are_what_the_objective_sees(f):
    X, y = f.data()
    assert X.shape == (150, 12) and y.shape == (150,)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)  # standardized over the subset
    th = f.theta0  # θ = W1 [16, 12], b1, W2 [3, 16], b2: PyTorch's order
    W1, b1 = th[:192].reshape(16, 12), th[192:208]
    W2, b2 = th[208:256].reshape(3, 16), th[256:]
    logits = np.tanh(X @ W1.T + b1) @ W2.T + b2
    z = logits - logits.max(axis=1, keepdims=True)
    ce = np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(150), y])
    assert abs(ce - f.value(th)) < 1e-13 * ce
    with pytest.raises(ValueError, match="a toy has no data"):
        eoslab.Objective(toy="quadratic").data()


def test_a_run_equals_the_command_lines(f, tmp_path):
    cmd = [EXE, "train", "--data", "gaussian:12,3", "--n", "150", "--widths", "16", "--lr", "2/5", "--steps", "15",
           "--plugin", "loss", "--plugin", "rp", "--plugin", "sharpness:tol=1e-10@3", "--out", str(tmp_path / "cli"),
           "--quiet"]
    subprocess.run(cmd, check=True)
    cli = csv_columns(tmp_path / "cli" / "metrics.csv")
    run = eoslab.train(f, lr="2/5", steps=15, plugins=["loss", "rp", "sharpness:tol=1e-10@3"])
    assert run.outcome == "max_steps" and run.steps == 15
    assert list(run.keys()) == list(cli.keys())
    for name in cli:
        np.testing.assert_allclose(run[name], cli[name], rtol=1e-12, atol=0, equal_nan=True, err_msg=name)


def test_gradient_and_hvp_are_exact(f):
    rng = np.random.default_rng(1)
    th = f.theta0 + 0.1 * rng.standard_normal(f.dim)
    u, w = rng.standard_normal(f.dim), rng.standard_normal(f.dim)
    value, grad = f.value_and_grad(th)
    assert value == f.value(th)
    h = 1e-5  # central differences: error O(h²) ~ 1e-10 relative
    fd = (f.value(th + h * u) - f.value(th - h * u)) / (2 * h)
    assert abs(fd - grad @ u) < 1e-8 * max(1.0, abs(fd))
    hu = f.hvp(th, u)
    fd_hvp = (f.value_and_grad(th + h * u)[1] - f.value_and_grad(th - h * u)[1]) / (2 * h)
    np.testing.assert_allclose(hu, fd_hvp, rtol=0, atol=1e-7 * np.abs(fd_hvp).max())
    assert abs(w @ hu - u @ f.hvp(th, w)) < 1e-12 * np.abs(hu).max() * np.abs(w).sum()  # symmetric
    H = f.hessian(th)
    np.testing.assert_array_equal(H.grad, grad)
    np.testing.assert_allclose(H.hvp(u), hu, rtol=0, atol=1e-13 * np.abs(hu).max())


def dense_hessian(H):
    d = H.dim
    M = np.stack([H.hvp(e) for e in np.eye(d)])
    return (M + M.T) / 2


def test_eigenvalues_trace_and_density_against_the_dense_hessian(f):
    th = f.theta0
    H = f.hessian(th)
    exact = np.linalg.eigvalsh(dense_hessian(H))[::-1]
    values, vectors = H.eigenvalues(top_n=3, tol=1e-10)
    np.testing.assert_allclose(values, exact[:3], rtol=1e-9)
    assert vectors.shape == (3, f.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-12)
    assert abs(f.lambda_max(th, tol=1e-10) - exact[0]) < 1e-9 * exact[0]
    estimate, se = H.trace(probes=400, seed=3)
    assert se > 0 and abs(estimate - exact.sum()) < 5 * se
    assert np.isnan(H.trace(probes=1)[1])
    nodes, weights = H.density(steps=30, probes=2)
    assert len(nodes) == 2
    for n, w in zip(nodes, weights):
        assert abs(w.sum() - 1) < 1e-12
        assert n.min() >= exact[-1] - 1e-9 and n.max() <= exact[0] + 1e-9


def test_analyze_gives_the_online_columns(f):
    run = eoslab.train(f, lr=0.4, steps=6, plugins=["loss", "rp", "grad_norm"], save_every=1, out=None)
    thetas = [f.theta0]
    step = f.theta0.copy()
    for _ in range(6):  # GD from θ₀, as the run took it
        step = step - 0.4 * f.value_and_grad(step)[1]
        thetas.append(step)
    off = eoslab.analyze(np.stack(thetas), f, plugins=["loss", "rp", "grad_norm"], steps=list(range(7)), lr=0.4)
    for name in ["loss", "rp", "grad_norm"]:
        np.testing.assert_allclose(off[name][:-1], run[name][:-1], rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(run.theta, thetas[-1], rtol=0, atol=1e-13)
    listed = eoslab.analyze(thetas[:3], f, plugins=["loss"])  # a list of 1-D arrays, steps by position
    np.testing.assert_array_equal(listed["step"], [0, 1, 2])


def test_train_writes_only_into_a_new_folder(f, tmp_path):
    out = tmp_path / "run"
    run = eoslab.train(f, lr=0.4, steps=5, plugins=["loss"], out=str(out), save_every=2)
    assert run.outcome == "max_steps"
    assert (out / "metrics.csv").exists() and (out / "summary.json").exists()
    assert (out / "trajectory" / "manifest.json").exists()
    analysed = subprocess.run([EXE, "analyze", str(out), "--plugin", "loss", "--quiet"], capture_output=True, text=True)
    assert analysed.returncode == 0, analysed.stderr
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="exists and is not an empty folder"):
        eoslab.train(f, lr=0.4, steps=5, out=str(mine))
    assert (mine / "notes.txt").read_text() == "keep me"


def test_divergence_is_an_outcome():
    quadratic = eoslab.Objective(toy="quadratic")  # 20θ₁² + θ₂²: λmax = 40, so η = 0.06 > 2/40 diverges
    run = eoslab.train(quadratic, lr=0.06, steps=500, plugins=["loss"])
    assert run.outcome == "diverged" and run.diverged_at_step is not None
    assert len(run["loss"]) == run.diverged_at_step + 1 and np.all(np.isfinite(run["loss"][:-1]))


def test_bad_arguments_raise_with_the_librarys_messages(f):
    with pytest.raises(TypeError, match="no keyword 'widht'"):
        eoslab.Objective(widht=[3])
    with pytest.raises(ValueError, match="--widths 'abc'"):
        eoslab.Objective(widths="abc")
    with pytest.raises(ValueError, match="--activation 'tanhh'"):
        eoslab.Objective(activation="tanhh", **{k: v for k, v in FLAGS.items()})
    with pytest.raises(ValueError, match="theta: 3 entries, the objective has 259"):
        f.value(np.zeros(3))
    with pytest.raises(ValueError, match="expected a 1-D array"):
        f.hvp(np.zeros((2, 259)), np.zeros(259))
    with pytest.raises(ValueError, match="plugin 'sharpnes'"):
        eoslab.analyze([f.theta0], f, plugins=["sharpnes"])
    with pytest.raises(ValueError, match="steps lists 2 steps"):
        eoslab.analyze([f.theta0], f, plugins=["loss"], steps=[0, 1])
    with pytest.raises(ValueError, match="thetas\\[0\\] has a non-finite entry"):
        eoslab.analyze([np.full(259, np.nan)], f, plugins=["loss"])
    with pytest.raises(ValueError, match="lr"):
        eoslab.train(f, lr=-1, steps=1)
    with pytest.raises(ValueError, match="top_n"):
        f.hessian(f.theta0).eigenvalues(top_n=0)


def interrupt_soon():
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()


def test_blas_says_which_kernel_runs_and_import_says_what_to_set():
    b = eoslab.blas()
    assert set(b) == {"kernel", "chosen_by", "cpu_supports", "config"}
    if not b["kernel"]:
        return  # not OpenBLAS: nothing to choose
    assert b["config"].startswith("OpenBLAS")
    # a fresh interpreter on OpenBLAS's own choice of kernel
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "EOSLAB_BLAS_KERNEL_SET")}
    probe = "import eoslab, json; print(json.dumps(eoslab.blas()))"
    own = json.loads(subprocess.run([sys.executable, "-W", "ignore::RuntimeWarning", "-c", probe], env=env,
                                    check=True, capture_output=True, text=True).stdout)
    assert own["chosen_by"] == "OpenBLAS" and own["cpu_supports"] == b["cpu_supports"]
    strict = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", "import eoslab"], env=env,
                            capture_output=True, text=True)
    if own["kernel"] == "Prescott" and own["cpu_supports"]:  # the fallback on a CPU OpenBLAS does not know
        assert strict.returncode != 0 and f"OPENBLAS_CORETYPE={own['cpu_supports']}" in strict.stderr, strict.stderr
        fixed = json.loads(subprocess.run([sys.executable, "-c", probe], env=dict(env, OPENBLAS_CORETYPE=own["cpu_supports"]),
                                          check=True, capture_output=True, text=True).stdout)
        assert fixed["kernel"] == own["cpu_supports"] and fixed["chosen_by"] == "OPENBLAS_CORETYPE"
    else:
        assert strict.returncode == 0, strict.stderr


def test_ctrl_c_stops_train_and_analyze():
    toy = eoslab.Objective(toy="quadratic")
    interrupt_soon()
    with pytest.raises(KeyboardInterrupt):
        eoslab.train(toy, lr=0.01, steps=10**8, plugins=["loss"])
    interrupt_soon()
    with pytest.raises(KeyboardInterrupt):
        eoslab.analyze(np.ones((2 * 10**5, 2)), toy, plugins=["loss", "sharpness"])


def test_a_pytorch_trajectory_equals_pytorch_and_eigsh(tmp_path):
    torch = pytest.importorskip("torch", reason="Debian's python3-torch is not installed")
    sla = pytest.importorskip("scipy.sparse.linalg", reason="Debian's python3-scipy is not installed")
    torch.set_default_dtype(torch.float64)
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=g)
    X = torch.randn(300, 12, generator=g)
    X[:, :3] += 1.5 * torch.nn.functional.one_hot(y, 3)
    np.savetxt(tmp_path / "train.csv", np.column_stack([y.numpy(), X.numpy()]), delimiter=",", fmt="%.17g")
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    eta, thetas, losses = 2.0, [], []
    for t in range(31):
        loss = torch.nn.functional.cross_entropy(net(X), y)
        if t % 10 == 0:
            thetas.append(torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy().copy())
            losses.append(loss.item())
        net.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in net.parameters():
                p -= eta * p.grad
    f = eoslab.Objective(data=f"csv:{tmp_path / 'train.csv'}", n="all", standardize="none", widths=[16])
    out = eoslab.analyze(thetas, f, plugins=["loss", "sharpness:tol=1e-12"], steps=[0, 10, 20, 30], lr=eta)
    params = list(net.parameters())

    def loss_of(th):
        parts, o = [], 0
        for p in params:
            parts.append(th[o:o + p.numel()].reshape(p.shape))
            o += p.numel()
        W1, b1, W2, b2 = parts
        return torch.nn.functional.cross_entropy(torch.tanh(X @ W1.T + b1) @ W2.T + b2, y)

    for i, th in enumerate(thetas):
        t = torch.from_numpy(th).requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_of(t), t, create_graph=True)

        def hvp(v):
            (hv,) = torch.autograd.grad(grad, t, torch.from_numpy(np.ravel(v)), retain_graph=True)
            return hv.detach().numpy()

        op = sla.LinearOperator((th.size, th.size), matvec=hvp, dtype=np.float64)
        lam = sla.eigsh(op, k=1, which="LA", tol=1e-14)[0][0]
        assert abs(out["loss"][i] - losses[i]) < 1e-12 * losses[i]
        assert abs(out["lambda_max"][i] - lam) < 1e-9 * lam, (i, out["lambda_max"][i], lam)
