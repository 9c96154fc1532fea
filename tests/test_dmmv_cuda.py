"""The GPU state of ``dmmv.local`` (``CudaState``) against the CPU state (``CpuState``).

The ``check_*`` functions compare the two states on tiny instances. NUMBA_ENABLE_CUDASIM
must be set before numba.cuda is imported, so ``test_under_simulator`` runs them in a
subprocess under the CUDA simulator; on a machine with a GPU they also run natively with
``pytest tests/test_dmmv_cuda.py -o python_functions=check_*`` (see gpu/check.py). The
``gpu``-marked tests need a real device and compare the states at a larger scale.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from dmmv_cases import random_tiny_problem

import dopt
from dopt.core.device import gpu_usable
from dopt.dmmv import DMMVProblem
from dopt.dmmv.state import CpuState

ROOT = Path(__file__).resolve().parents[1]
needs_device = pytest.mark.skipif(not gpu_usable(), reason="needs a CUDA device or NUMBA_ENABLE_CUDASIM=1")


def _instance(seed: int, sparse: bool, n: int = 6, m: int = 10, k: int = 4) -> DMMVProblem:
    """A random instance: zero entries, an empty column, ragged domains (some of one value), ranges, infinite bounds."""
    rng = np.random.default_rng(seed)
    A = np.round(rng.normal(size=(m, n)), 3)
    A[rng.random((m, n)) < (0.5 if sparse else 0.2)] = 0.0
    A[:, -1] = 0.0  # an empty column: all its levels tie exactly
    values = np.full((n, k), np.nan)
    for j in range(n):
        size = int(rng.integers(1, k + 1)) if j else k
        values[j, :size] = np.sort(rng.choice(np.arange(-4.0, 5.0), size=size, replace=False))
    centre = A @ rng.uniform(-2, 2, size=n)
    half = rng.uniform(0, 0.5, size=m) * (rng.random(m) < 0.6)
    lower, upper = centre - half, centre + half
    lower[rng.random(m) < 0.15] = -np.inf
    upper[rng.random(m) < 0.15] = np.inf
    weights = rng.uniform(0.5, 2.0, size=m)
    return DMMVProblem(sp.csc_array(A) if sparse else A, values, lower=lower, upper=upper, weights=weights)


def _random_levels(problem: DMMVProblem, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(problem.shape[1]) * problem.sizes).astype(np.int64)


def _host(array: Any) -> np.ndarray:
    return array.copy_to_host() if hasattr(array, "copy_to_host") else np.asarray(array)


def _pair(problem: DMMVProblem, levels: np.ndarray) -> tuple[CpuState, Any]:
    """A CPU and a GPU state loaded with the same levels."""
    from dopt.dmmv.cuda_state import CudaPopulations

    cpu, gpu = CpuState(problem), CudaPopulations(problem).state(0)
    cpu.load(levels)
    gpu.load(levels)
    return cpu, gpu


def _assert_same_state(cpu: CpuState, gpu: Any) -> None:
    """Equal levels, excesses, violations, objective and row directions."""
    np.testing.assert_array_equal(gpu.levels(), cpu.levels())
    for name in ("g", "h", "v"):
        np.testing.assert_allclose(_host(getattr(gpu, name)), getattr(cpu, name), rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(gpu.violations(), cpu.violations(), rtol=1e-12, atol=1e-12)
    assert gpu.objective() == pytest.approx(cpu.objective(), rel=1e-12, abs=1e-12)
    assert [gpu.above(i) for i in range(cpu.v.size)] == [cpu.above(i) for i in range(cpu.v.size)]


def _assert_same_pass(cpu_out: tuple, gpu_out: tuple) -> None:
    np.testing.assert_array_equal(gpu_out[0], cpu_out[0])
    np.testing.assert_allclose(gpu_out[1], cpu_out[1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gpu_out[2], cpu_out[2], rtol=1e-9, atol=1e-9)


def _pass_modes(t: float) -> list[tuple[int, float]]:
    """(squarings, tol): lex ranking (tol > 0) and surrogate-only ranking (tol < 0) for a few powers."""
    return [(3, 1e-9 * t), (1, -1.0), (3, -1.0), (0, 1e-9 * t), (2, 1e-9 * t)]


@needs_device
@pytest.mark.parametrize(("sparse", "m"), [(False, 10), (True, 10), (True, 40)])
@pytest.mark.parametrize("seed", range(4))
def check_full_pass_matches_cpu(seed: int, sparse: bool, m: int) -> None:
    """Same best level, new max and surrogate change for every variable.

    With m = 40 the sparse base is found among the most violated rows only (see ``CudaPopulations._top_order``).
    """
    problem = _instance(seed, sparse, m=m)
    rng = np.random.default_rng(seed)
    cpu, gpu = _pair(problem, _random_levels(problem, rng))
    t = cpu.objective()
    for sq, tol in _pass_modes(t):
        _assert_same_pass(cpu.full_pass(t, sq, tol), gpu.full_pass(t, sq, tol))


@needs_device
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("seed", range(3))
def check_moves_match_cpu(seed: int, sparse: bool) -> None:
    """apply, set_levels and load leave both states equal and apply the same number of moves."""
    problem = _instance(100 + seed, sparse)
    rng = np.random.default_rng(seed)
    cpu, gpu = _pair(problem, _random_levels(problem, rng))
    _assert_same_state(cpu, gpu)
    for sq, tol in _pass_modes(cpu.objective()):
        t = cpu.objective()
        if t <= 0.0:
            break
        level, _, ds = cpu.full_pass(t, sq, tol)
        cands = np.flatnonzero(level >= 0)
        cands = cands[np.argsort(ds[cands], kind="stable")]
        assert gpu.apply(cands, t, sq, tol, 1e-9) == cpu.apply(cands, t, sq, tol, 1e-9)
        _assert_same_state(cpu, gpu)
        js = rng.choice(problem.shape[1], size=2, replace=False)
        levels = (rng.random(2) * problem.sizes[js]).astype(np.int64)
        cpu.set_levels(js, levels)
        gpu.set_levels(js, levels)
        _assert_same_state(cpu, gpu)
    fresh = _random_levels(problem, rng)
    cpu.load(fresh)
    gpu.load(fresh)
    _assert_same_state(cpu, gpu)


@needs_device
@pytest.mark.parametrize(("seed", "moved_rows"), [(0, 3), (1, 40)])
def check_recheck_from_short_lists_matches_cpu(seed: int, moved_rows: int) -> None:
    """The recheck's maxima read from the most violated and the moved rows (not a scan of all rows) give the
    CPU's moves; with 3 tracked rows the list overflows within a launch and the block falls back to the scan."""
    from dopt.dmmv.cuda_state import CudaPopulations

    rng = np.random.default_rng(seed)
    m, n = 150, 30
    A = sp.random_array((m, n), density=0.06, random_state=rng, data_sampler=rng.standard_normal, format="csc")
    problem = DMMVProblem(A, np.arange(-3.0, 4.0), b=A @ rng.uniform(-3, 3, size=n), weights=rng.uniform(0.5, 2, m))
    store = CudaPopulations(problem, moved_rows=moved_rows)
    assert 0 < store.listed_rows < problem.shape[0]
    cpu, gpu = CpuState(problem), store.state(0)
    levels = _random_levels(problem, rng)
    cpu.load(levels)
    gpu.load(levels)
    applied = 0
    for sq, tol in _pass_modes(cpu.objective()):
        t = cpu.objective()
        level, _, ds = cpu.full_pass(t, sq, tol)
        cands = np.flatnonzero(level >= 0)
        cands = cands[np.argsort(ds[cands], kind="stable")]
        moves = cpu.apply(cands, t, sq, tol, 1e-9)
        assert gpu.apply(cands, t, sq, tol, 1e-9) == moves
        _assert_same_state(cpu, gpu)
        applied += moves
        js = rng.choice(problem.shape[1], size=3, replace=False)
        kick = (rng.random(3) * problem.sizes[js]).astype(np.int64)
        cpu.set_levels(js, kick)
        gpu.set_levels(js, kick)
    assert applied >= 10


@needs_device
def check_recheck_reads_rows_moved_off_the_list() -> None:
    """A move raises a row that was not on the launch's list above every listed one; the next candidate must
    see it as the current max (else its move, which lowers that row, would look like one that raises the max)."""
    from dopt.dmmv.cuda_state import CudaPopulations

    m = 12
    A = np.zeros((m, 2))
    A[0, 0] = A[m - 1, 0] = 1.0  # x0: row 0 violated by 4 at the start, row m-1 (last, off the list) satisfied
    A[m - 1, 1] = 0.1  # x1 only touches row m-1
    b = np.zeros(m)
    b[0], b[m - 1] = -2.0, 2.0
    weights = np.ones(m)
    weights[m - 1] = 1.4
    problem = DMMVProblem(sp.csc_array(A), np.arange(-2.0, 3.0), b=b, weights=weights)
    store = CudaPopulations(problem, moved_rows=2)
    assert store.listed_rows == 5
    cpu, gpu = CpuState(problem), store.state(0)
    start = np.array([4, 2])  # x0 = 2, x1 = 0
    cpu.load(start)
    gpu.load(start)
    t = cpu.objective()
    cands = np.array([0, 1])
    # x0 -> 0 lowers the max from 4 to 2.8 (row m-1); then x1 -> 2 lowers row m-1 to 2.52
    assert gpu.apply(cands, t, 3, 1e-9 * t, 1e-9) == cpu.apply(cands, t, 3, 1e-9 * t, 1e-9) == 2
    _assert_same_state(cpu, gpu)
    assert cpu.levels().tolist() == [2, 4] and cpu.objective() == pytest.approx(2.52)


@needs_device
@pytest.mark.parametrize(("seed", "rounds"), [(0, 30), (1, 8), (2, 30), (4, 8), (7, 30)])
def check_solve_matches_cpu(seed: int, rounds: int) -> None:
    """dmmv.local on device gpu retraces the CPU run: same point, objective, rounds and status."""
    problem = random_tiny_problem(seed, max_n=6, max_levels=4)
    kwargs = {"seed": seed, "max_rounds": rounds, "time_limit": None}
    cpu = dopt.solve(problem, "dmmv.local", device="cpu", **kwargs)
    gpu = dopt.solve(problem, "dmmv.local", device="gpu", **kwargs)
    assert gpu.device == "gpu"
    np.testing.assert_array_equal(gpu.x, cpu.x)
    assert (gpu.objective, gpu.status, gpu.iterations) == (cpu.objective, cpu.status, cpu.iterations)
    assert gpu.extras == cpu.extras


@needs_device
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("seed", range(2))
def check_batched_populations_match_cpu(seed: int, sparse: bool) -> None:
    """One batched pass and one batched recheck over some of three populations equal each CPU state's own;
    a population left out of the launch is untouched."""
    from dopt.dmmv.cuda_state import CudaPopulations

    problem = _instance(200 + seed, sparse, m=20)
    rng = np.random.default_rng(seed)
    store = CudaPopulations(problem, 3)
    cpus = [CpuState(problem) for _ in range(3)]
    for pop, cpu in enumerate(cpus):
        levels = _random_levels(problem, rng)
        cpu.load(levels)
        store.state(pop).load(levels)
    pops = [2, 0]  # out of order, population 1 left out
    t = [cpus[p].objective() for p in pops]
    sq, tol = [3, 1], [1e-9 * t[0], -1.0]
    outs = store.full_pass(pops, t, sq, tol)
    cands = []
    for r, pop in enumerate(pops):
        cpu_out = cpus[pop].full_pass(t[r], sq[r], tol[r])
        _assert_same_pass(cpu_out, outs[r])
        order = np.flatnonzero(cpu_out[0] >= 0)
        cands.append(order[np.argsort(cpu_out[2][order], kind="stable")])
    applied = store.apply(pops, cands, t, sq, tol, [1e-9, 1e-9])
    expected = [cpus[p].apply(c, t[r], sq[r], tol[r], 1e-9) for r, (p, c) in enumerate(zip(pops, cands, strict=True))]
    assert applied == expected and sum(applied) > 0
    for pop, cpu in enumerate(cpus):
        _assert_same_state(cpu, store.state(pop))


@needs_device
@pytest.mark.parametrize("seed", [0, 3])
def check_populations_solve_matches_cpu(seed: int) -> None:
    """dmmv.local with three populations on device gpu (shared launches) retraces the CPU run (one by one)."""
    problem = random_tiny_problem(seed, max_n=6, max_levels=4)
    kwargs = {"seed": seed, "max_rounds": 12, "time_limit": None, "populations": 3, "init": "random"}
    cpu = dopt.solve(problem, "dmmv.local", device="cpu", **kwargs)
    gpu = dopt.solve(problem, "dmmv.local", device="gpu", **kwargs)
    np.testing.assert_array_equal(gpu.x, cpu.x)
    assert (gpu.objective, gpu.status, gpu.iterations, gpu.extras) == (
        cpu.objective,
        cpu.status,
        cpu.iterations,
        cpu.extras,
    )
    assert [t for t, _ in gpu.history] != [] and [v for _, v in gpu.history] == [v for _, v in cpu.history]


@needs_device
def check_tomography_repair_matches_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """smooth_and_repair (median, then dmmv.local on the boundary pixels) gives the same image on either device."""
    import dopt.core.solve
    from dopt.dmmv import tomography

    devices = []
    real_solve = dopt.core.solve.solve

    def recording_solve(*args: Any, **kwargs: Any) -> Any:
        result = real_solve(*args, **kwargs)
        devices.append(result.device)
        return result

    monkeypatch.setattr(dopt.core.solve, "solve", recording_solve)

    spec = tomography.TomographySpec(size=10, angles=4, levels=2, phantom="blobs", noise=2.0, seed=5)
    inst = tomography.make_instance(spec)
    start = inst.truth.copy()
    start[4:6, 3] = 255.0 - start[4:6, 3]
    kwargs = {"cycles": 2, "time_limit": 600.0, "seed": 3, "tolerance": 2.0, "max_rounds": 6}
    cpu = tomography.smooth_and_repair(inst, start, device="cpu", **kwargs)
    cpu_solves = len(devices)
    gpu = tomography.smooth_and_repair(inst, start, device="gpu", **kwargs)
    assert cpu_solves > 0 and devices == ["cpu"] * cpu_solves + ["gpu"] * cpu_solves
    np.testing.assert_array_equal(gpu, cpu)
    assert not np.array_equal(cpu, tomography.median_smoothed(inst, start))  # the repair moved pixels


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", reason="already under the simulator")
def test_under_simulator() -> None:
    """The check_* functions pass under the CUDA simulator (run in a subprocess with NUMBA_ENABLE_CUDASIM=1)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra"]
    command += ["-o", "python_functions=check_*", str(Path(__file__).resolve())]
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-3000:]


def _larger(seed: int, sparse: bool) -> DMMVProblem:
    """A dense 900 x 300 or a sparse 4000 x 2000 instance with 8 shared levels."""
    rng = np.random.default_rng(seed)
    if sparse:
        rows, cols = rng.integers(0, 4000, size=16000), np.repeat(np.arange(2000), 8)
        A = sp.csc_array((rng.standard_normal(rows.size), (rows, cols)), shape=(4000, 2000))
    else:
        A = rng.standard_normal((900, 300))
    b = A @ rng.uniform(-1, 1, size=A.shape[1])
    return DMMVProblem(A, np.linspace(-1.0, 1.0, 8), b=b)


@pytest.mark.gpu
@pytest.mark.parametrize("sparse", [False, True])
def test_real_gpu_full_pass_matches_cpu(sparse: bool) -> None:
    """On a real GPU the passes agree with the CPU's up to FMA rounding (near-ties may pick another level)."""
    problem = _larger(0, sparse)
    cpu, gpu = _pair(problem, _random_levels(problem, np.random.default_rng(1)))
    t = cpu.objective()
    for sq, tol in _pass_modes(t):
        c_level, c_max, c_ds = cpu.full_pass(t, sq, tol)
        g_level, g_max, g_ds = gpu.full_pass(t, sq, tol)
        same = g_level == c_level
        assert same.mean() >= 0.99
        np.testing.assert_allclose(g_max[same], c_max[same], rtol=1e-9)
        np.testing.assert_allclose(g_ds[same], c_ds[same], rtol=1e-7, atol=1e-9 * np.abs(c_ds).max())


@pytest.mark.gpu
@pytest.mark.parametrize("sparse", [False, True])
def test_real_gpu_solve(sparse: bool) -> None:
    """dmmv.local on a real GPU returns a valid point about as good as the CPU's (rounding may split the runs)."""
    problem = _larger(2, sparse)
    cpu = dopt.solve(problem, "dmmv.local", device="cpu", seed=3, max_rounds=40, time_limit=None)
    gpu = dopt.solve(problem, "dmmv.local", device="gpu", seed=3, max_rounds=40, time_limit=None)
    assert gpu.device == "gpu"
    problem.check(gpu.x)
    assert gpu.objective == pytest.approx(problem.objective(gpu.x))
    assert gpu.objective <= 1.5 * cpu.objective + 1e-12
