"""The completion GPU path (array-namespace batched updates) against the Numba CPU kernels.

On CPUs the batched code runs with NumPy standing in for CuPy: directly, and
through ``dopt.solve(..., device="gpu")`` in a subprocess under the CUDA
simulator (which makes the GPU device resolvable without a GPU). The
``gpu``-marked test runs the real CuPy path against the CPU on a real device.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from completion_cases import ridge_rows
from test_completion_solvers import random_rows

import dopt
from dopt.completion import kernels, low_rank
from dopt.completion.batched import BatchedRows

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("seed", range(3))
def test_batched_exact_matches_lstsq(seed, monkeypatch):
    monkeypatch.setattr("dopt.completion.batched.GRAM_BUDGET", 500)  # several blocks
    ptr, idx, y, W, lam = random_rows(seed)
    rows = BatchedRows(ptr, idx, np, sp)
    np.testing.assert_allclose(rows.exact(y, W, lam), ridge_rows(ptr, idx, y, W, lam), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("jacobi", [True, False])
def test_batched_cg_matches_the_numba_kernel(jacobi):
    ptr, idx, y, W, lam = random_rows(11)
    X0 = np.random.default_rng(0).normal(size=(ptr.size - 1, W.shape[1]))
    X0[:3] = 0.0  # the empty rows
    want = X0.copy()
    want_sse = kernels.cg_rows(ptr, idx, y, W, lam, want, 3, jacobi)
    rows = BatchedRows(ptr, idx, np, sp)
    got = rows.cg(y, W, lam, X0.copy(), 3, jacobi)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(rows.sse(y, W, got), want_sse, rtol=1e-8, atol=1e-12)


SCRIPT = """
import numpy as np, dopt
from dopt.completion import low_rank
problem, _, _ = low_rank(90, 70, 3, 0.3, noise=0.2, seed=1, lam=0.3, weighted_lambda=True, biases=True, validation=0.1)
# float64 throughout: the same iterates to rounding; mixed: float32 passes, so agreement to float32 rounding
for method, options, rtol in (
    ("completion.als", {}, 1e-7),
    ("completion.fast", {"precision": "double"}, 1e-7),
    ("completion.fast", {"precision": "mixed"}, 1e-4),
):
    cpu = dopt.solve(problem, method, device="cpu", max_sweeps=8, tol=0, **options)
    gpu = dopt.solve(problem, method, device="gpu", max_sweeps=8, tol=0, **options)
    assert gpu.device == "gpu", gpu.device
    for key in ("U", "V", "row_bias", "col_bias"):
        np.testing.assert_allclose(gpu.x[key], cpu.x[key], rtol=rtol, atol=rtol * 1e-2, err_msg=method + key)
    assert abs(gpu.objective - cpu.objective) <= rtol * 1e-2 * cpu.objective
print("ok")
"""


def test_gpu_device_path_under_the_simulator_matches_cpu():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-3000:]


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("method", "options", "rel"),
    [
        ("completion.als", {}, 1e-8),
        ("completion.fast", {"precision": "double"}, 1e-8),
        ("completion.fast", {"precision": "mixed"}, 1e-5),
    ],
)
def test_real_gpu_matches_cpu(method, options, rel):
    problem, _, _ = low_rank(3000, 2000, 10, 0.05, noise=0.1, seed=2, lam=0.05, weighted_lambda=True, validation=0.1)
    cpu = dopt.solve(problem, method, device="cpu", max_sweeps=10, tol=0, **options)
    gpu = dopt.solve(problem, method, device="gpu", max_sweeps=10, tol=0, **options)
    assert gpu.device == "gpu"
    assert gpu.objective == pytest.approx(cpu.objective, rel=rel)
    assert gpu.extras["val_rmse"] == pytest.approx(cpu.extras["val_rmse"], rel=rel)
