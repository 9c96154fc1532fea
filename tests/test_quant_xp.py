"""The array-operation path of the quant kernels (what runs on CuPy on the GPU), checked on NumPy against Numba."""

from __future__ import annotations

import numpy as np
import pytest
from quant_cases import random_problem

import dopt
from dopt.quant import backend as backends
from dopt.quant.cd import CDState
from dopt.quant.gptq import act_order, inverse_factor, quantize_gptq

CASES = [{"bits": 3}, {"bits": 2, "group_size": 5}, {"bits": 4, "sym": True}]


@pytest.mark.parametrize("params", CASES)
@pytest.mark.parametrize("act", [False, True])
def test_gptq_array_path_equals_numba(params: dict, act: bool) -> None:
    problem = random_problem(13, 21, seed=1, **params)
    factor = inverse_factor(problem.Sigma, 0.01, order=act_order(problem.Sigma) if act else None)
    keep = np.random.default_rng(0).random(problem.shape) < 0.05
    for grid in (problem.grid, None):
        kwargs = dict(bits=problem.bits, sym=problem.sym, group_size=problem.group_size, block_size=8, gradient=True)
        ref = quantize_gptq(problem.W, factor, grid, keep=keep, **kwargs)
        alt = quantize_gptq(problem.W, factor, grid, keep=keep, backend=backends.NUMPY, **kwargs)
        np.testing.assert_allclose(alt.Q, ref.Q, rtol=0, atol=1e-12)
        np.testing.assert_allclose(alt.row_errors, ref.row_errors, rtol=1e-12)
        np.testing.assert_allclose(alt.G, ref.G, rtol=0, atol=1e-9 * np.abs(ref.G).max())


@pytest.mark.parametrize("params", CASES)
def test_cd_state_array_path_equals_numba(params: dict) -> None:
    problem = random_problem(17, 19, seed=2, **params)
    order = act_order(problem.Sigma)
    start = problem.grid.quantize(problem.W)
    states = [
        CDState(
            problem.W, start, problem.Sigma, problem.grid, order=order, block_size=6, symmetric=problem.sym, backend=b
        )
        for b in (backends.NUMBA, backends.NUMPY)
    ]
    rows = np.arange(0, 17, 2)
    for step in range(4):
        for state in states:
            moved = state.sweep(rows=None if step == 0 else rows, force=step == 0)
            state.refine_grids(rows=np.flatnonzero(moved) if step else None)
        (Q1, g1), (Q2, g2) = (s.solution() for s in states)
        np.testing.assert_allclose(Q2, Q1, rtol=0, atol=1e-12)
        np.testing.assert_allclose(g2.scale, g1.scale, rtol=1e-12)
        np.testing.assert_array_equal(g2.zero, g1.zero)
        assert states[1].objective() == pytest.approx(states[0].objective(), rel=1e-10)


def test_quantease_solve_on_the_array_path(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = random_problem(30, 26, seed=3, bits=3)
    reference = dopt.solve(problem, "quant.quantease")
    monkeypatch.setattr("dopt.quant.quantease.for_device", lambda device: backends.NUMPY)
    monkeypatch.setattr("dopt.quant.gptq.for_device", lambda device: backends.NUMPY)
    other = dopt.solve(problem, "quant.quantease")
    np.testing.assert_allclose(other.x, reference.x, rtol=0, atol=1e-12)
    assert other.iterations == reference.iterations
    gptq = dopt.solve(problem, "quant.gptq", act_order=True)
    monkeypatch.undo()
    np.testing.assert_allclose(gptq.x, dopt.solve(problem, "quant.gptq", act_order=True).x, rtol=0, atol=1e-12)


@pytest.mark.gpu
def test_gpu_matches_cpu() -> None:
    problem = random_problem(200, 160, seed=4, bits=3)
    for method, options in (("quant.gptq", {"act_order": True}), ("quant.quantease", {})):
        cpu = dopt.solve(problem, method, device="cpu", **options)
        gpu = dopt.solve(problem, method, device="gpu", **options)
        assert gpu.device == "gpu"
        assert gpu.objective == pytest.approx(cpu.objective, rel=1e-6)
