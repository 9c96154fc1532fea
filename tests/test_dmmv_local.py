"""``dmmv.local`` against brute force, its statuses and options, and its kernels against a NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from dmmv_cases import brute_force, random_tiny_problem

import dopt
from dopt.core.context import SolveContext
from dopt.core.errors import DoptError
from dopt.dmmv import DMMVProblem, local, relax
from dopt.dmmv.bench import sparse_off_grid_instance
from dopt.dmmv.kernels_cpu import WINDOW_MIN
from dopt.dmmv.populations import answer_each, run_lockstep
from dopt.dmmv.state import CpuState

TINY_SEEDS = range(60)


@pytest.fixture(scope="module")
def tiny_runs() -> list[tuple[DMMVProblem, float, dopt.Result]]:
    """Each tiny instance, its brute-force optimum and the dmmv.local result (no time limit: stall stop)."""
    runs = []
    for seed in TINY_SEEDS:
        problem = random_tiny_problem(seed)
        optimum, _ = brute_force(problem)
        runs.append((problem, optimum, dopt.solve(problem, "dmmv.local", device="cpu", seed=seed)))
    return runs


def test_finds_brute_force_optimum_on_98_percent(tiny_runs: list) -> None:
    """The acceptance figure: the brute-force optimum on at least 98% of 60 tiny instances."""
    hits = [abs(res.objective - opt) <= 1e-9 * max(1.0, opt) for _, opt, res in tiny_runs]
    misses = [p.name for (p, _, _), hit in zip(tiny_runs, hits, strict=True) if not hit]
    assert np.mean(hits) >= 0.98, f"missed {misses}"


def test_results_are_feasible_points_with_recomputed_objective(tiny_runs: list) -> None:
    """Every x_j is in D_j, the objective is the recomputed violation and never below the optimum."""
    for problem, optimum, res in tiny_runs:
        problem.check(res.x)
        for j, value in enumerate(res.x):
            assert value in problem.values[j, : problem.sizes[j]]
        assert res.objective == problem.objective(res.x)
        assert res.objective >= optimum - 1e-12
        assert res.method == "dmmv.local" and res.device == "cpu"
        assert res.status in {"optimal", "converged"}
        if res.status == "optimal":
            assert res.objective <= max(res.extras.get("bound", 0.0), 0.0) * (1 + 1e-9) + 1e-300


def test_lp_bound_is_a_valid_lower_bound(tiny_runs: list) -> None:
    for _, optimum, res in tiny_runs:
        if "bound" in res.extras:
            assert res.extras["bound"] <= optimum + 1e-7


def test_same_seed_same_answer() -> None:
    problem = random_tiny_problem(7)
    first = dopt.solve(problem, "dmmv.local", device="cpu", seed=3, init="random")
    second = dopt.solve(problem, "dmmv.local", device="cpu", seed=3, init="random")
    np.testing.assert_array_equal(first.x, second.x)
    assert (first.objective, first.iterations, first.extras) == (second.objective, second.iterations, second.extras)


@pytest.mark.parametrize("levels", [7, WINDOW_MIN + 9])
def test_dense_and_sparse_storage_give_the_same_run(levels: int) -> None:
    """The dense and CSC kernels (passes and rechecks, scanned or bisected domains) agree, so the search
    retraces itself."""
    rng = np.random.default_rng(5)
    A = rng.normal(size=(40, 20))
    A[rng.random(A.shape) < 0.5] = 0.0
    values = np.linspace(-1.0, 1.0, levels)
    b = A @ rng.uniform(-1, 1, size=20)
    dense = DMMVProblem(A, values, b=b)
    sparse = DMMVProblem(sp.csc_array(A), values, b=b)
    kwargs = {"device": "cpu", "seed": 1, "max_rounds": 40, "init": "random"}
    a, c = dopt.solve(dense, "dmmv.local", **kwargs), dopt.solve(sparse, "dmmv.local", **kwargs)
    np.testing.assert_array_equal(a.x, c.x)
    assert a.objective == pytest.approx(c.objective, rel=1e-12)


def _off_grid(n: int, m: int, seed: int = 0) -> DMMVProblem:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, n))
    return DMMVProblem(A, np.linspace(-1.0, 1.0, 16), b=A @ rng.uniform(-1, 1, size=n))


def test_time_limit_status_and_best_point() -> None:
    """At the limit the best point so far comes back (quality at equal time is a benchmark, not a test)."""
    dopt.solve(_off_grid(5, 15), "dmmv.local", device="cpu", max_rounds=2)  # compile the kernels first
    problem = _off_grid(200, 600)
    res = dopt.solve(problem, "dmmv.local", device="cpu", time_limit=1.0)
    assert res.status == "time_limit"
    assert res.wall_time < 10.0
    assert res.objective == problem.objective(res.x)
    assert res.objective <= res.history[0][1]


@pytest.mark.parametrize("populations", [1, 3])
def test_history_ends_at_the_answer_whenever_the_search_stops(populations: int) -> None:
    """Every improvement is recorded when found, stops mid-descent included (here the pass limit during
    smoothing), so the history ends at the answer and time-to-target reads see the value returned."""
    for seed in range(12):
        for rounds in (1, 2, 3, 5):
            problem = random_tiny_problem(seed, max_n=8, max_levels=5)
            kwargs = {"seed": seed, "max_rounds": rounds, "populations": populations, "time_limit": None}
            res = dopt.solve(problem, "dmmv.local", device="cpu", **kwargs)
            assert res.history[-1][1] == pytest.approx(res.objective, rel=1e-12)
            assert res.time_to(res.objective) is not None


def test_unfinished_lp_falls_back_to_least_squares_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """An LP cut short by the time limit gives no bound and a least-squares start, never its partial point."""
    problem = _off_grid(40, 120, seed=3)

    def unfinished(p: DMMVProblem, time_limit: float | None = None) -> relax.LPRelaxation:
        return relax.LPRelaxation(x=np.zeros(p.shape[1]), bound=0.0, status="time_limit")

    monkeypatch.setattr(relax, "lp_relaxation", unfinished)
    res = dopt.solve(problem, "dmmv.local", device="cpu", max_rounds=1)
    assert "bound" not in res.extras
    start = relax.round_to_domain(problem, local._least_squares_point(problem))
    assert res.history[0][1] == pytest.approx(problem.objective(problem.value_of(start)))


@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_least_squares_start_matches_a_weighted_lstsq_of_the_finite_rows(layout: str) -> None:
    """The lsq anchor is the weighted least-squares fit to each row's target (middle of a finite range, or its
    finite end); a row with no finite bound takes no part, whatever its coefficients."""
    rng = np.random.default_rng(5)
    m, n = 60, 12
    A = rng.normal(size=(m, n))
    lower = rng.normal(size=m)
    upper = lower + rng.uniform(0.0, 2.0, size=m)
    target = 0.5 * (lower + upper)
    target[:10], target[10:20] = upper[:10], lower[10:20]  # rows with one finite end: that end
    lower[:10], upper[10:20], lower[20:25], upper[20:25] = -np.inf, np.inf, -np.inf, np.inf
    A[20:25] *= 1e3  # free rows: huge coefficients that would dominate the fit if they took part
    weights = rng.uniform(0.5, 2.0, size=m)
    matrix = sp.csc_array(A) if layout == "sparse" else A
    problem = DMMVProblem(matrix, np.linspace(-10.0, 10.0, 41), lower=lower, upper=upper, weights=weights)
    used = np.r_[0:20, 25:m]  # rows 20-24 have no finite bound
    expected = np.linalg.lstsq(weights[used, None] * A[used], weights[used] * target[used], rcond=None)[0]
    assert np.abs(expected).max() < 10.0  # inside the box: no clipping in the comparison
    np.testing.assert_allclose(local._least_squares_point(problem), expected, rtol=1e-5, atol=1e-6)


def test_iteration_limit_status() -> None:
    res = dopt.solve(_off_grid(30, 90), "dmmv.local", device="cpu", max_rounds=3)
    assert res.status == "iteration_limit"
    assert res.iterations == 3


def test_callback_stop_gives_interrupted_with_incumbent() -> None:
    problem = _off_grid(50, 150)
    seen = []

    def stop_at_second(progress: dopt.Progress) -> bool:
        seen.append(progress.objective)
        return len(seen) >= 2

    res = dopt.solve(problem, "dmmv.local", device="cpu", callback=stop_at_second)
    assert res.status == "interrupted"
    assert res.objective == problem.objective(res.x)
    assert res.objective <= seen[0]


def test_zero_violation_is_proven_optimal() -> None:
    """A planted grid point gives objective 0, which is optimal without further search."""
    rng = np.random.default_rng(2)
    A = rng.normal(size=(30, 10))
    values = np.arange(-3.0, 4.0)
    z = rng.choice(values, size=10)
    res = dopt.solve(DMMVProblem(A, values, b=A @ z), "dmmv.local", device="cpu", init="random")
    assert res.status == "optimal"
    assert res.objective == pytest.approx(0.0, abs=1e-12)


def test_local_search_improves_on_rounding_and_lp_bound_holds() -> None:
    problem = _off_grid(60, 180, seed=4)
    local = dopt.solve(problem, "dmmv.local", device="cpu", seed=0)
    rounded = dopt.solve(problem, "dmmv.round", device="cpu")
    assert local.objective < 0.8 * rounded.objective
    assert local.extras["bound"] <= local.objective


def test_x0_starts_from_given_point() -> None:
    problem = random_tiny_problem(4)
    _, levels = brute_force(problem)
    res = dopt.solve(problem, "dmmv.local", device="cpu", x0=problem.value_of(levels), max_rounds=1)
    assert res.objective == pytest.approx(brute_force(problem)[0])


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"surrogate_power": 6}, "power of two"),
        ({"kick_max_fraction": 0.0}, "kick_max_fraction"),
        ({"restart_spread": -1}, "restart_spread"),
        ({"max_rounds": -2}, "max_rounds"),
        ({"populations": 0}, "populations"),
        ({"init": "magic"}, "init"),
        ({"no_such_option": 1}, "surrogate_power"),
    ],
)
def test_bad_options_are_errors(options: dict, fragment: str) -> None:
    with pytest.raises(DoptError, match=fragment):
        dopt.solve(random_tiny_problem(1), "dmmv.local", device="cpu", **options)


def _population_searches(problem: DMMVProblem, count: int, rounds: int) -> tuple[list, list, list]:
    """dmmv.local's searches for ``count`` populations on CPU states (no lower bound, so no shared stop)."""
    opts = local.LocalOptions(max_rounds=rounds)
    ctx = SolveContext(seed=4)
    anchor, start, _ = local._initial_point(problem, opts, ctx)
    states = [CpuState(problem) for _ in range(count)]
    searches, starts = local._populations(problem, opts, ctx, states, local._Incumbent(ctx, None), anchor, start)
    return searches, starts, states


def test_lockstep_populations_run_as_independent_searches() -> None:
    """Each population run in lockstep with others ends exactly where it ends when run alone."""
    problem = _off_grid(30, 90, seed=5)
    together, starts, states = _population_searches(problem, 3, rounds=20)
    statuses = run_lockstep([s.run(x) for s, x in zip(together, starts, strict=True)], answer_each(states))
    assert statuses == ["iteration_limit"] * 3
    assert len({s.best for s in together}) == 3  # the populations really differ
    for pop in range(3):
        searches, starts, states = _population_searches(problem, 3, rounds=20)
        run_lockstep([searches[pop].run(starts[pop])], answer_each([states[pop]]))
        alone = searches[pop]
        assert (alone.best, alone.rounds, alone.moves, alone.kicks) == (
            together[pop].best,
            together[pop].rounds,
            together[pop].moves,
            together[pop].kicks,
        )
        np.testing.assert_array_equal(alone.best_levels, together[pop].best_levels)


def test_more_populations_never_end_worse_at_equal_passes() -> None:
    """Population 0 retraces the one-population run, so the best over several is at least as good; every
    population makes its passes and the point returned is the best one's."""
    problem = _off_grid(40, 120, seed=6)
    one = dopt.solve(problem, "dmmv.local", device="cpu", seed=1, max_rounds=15)
    four = dopt.solve(problem, "dmmv.local", device="cpu", seed=1, max_rounds=15, populations=4)
    assert four.objective <= one.objective
    assert four.objective == problem.objective(four.x)
    assert (one.iterations, four.iterations) == (15, 60)
    assert four.extras["populations"] == 4 and four.status == "iteration_limit"
    values = [value for _, value in four.history]
    assert values == sorted(values, reverse=True)
    assert values[-1] == pytest.approx(four.objective, rel=1e-12)


def test_populations_reach_brute_force_optimum(tiny_runs: list) -> None:
    """With three populations every tiny instance ends at least as well as with one, mostly at the optimum."""
    hits = []
    for problem, optimum, single in tiny_runs[:20]:
        res = dopt.solve(problem, "dmmv.local", device="cpu", seed=0, populations=3)
        assert res.objective <= single.objective + 1e-12 or res.status == "optimal"
        assert res.objective >= optimum - 1e-12
        hits.append(abs(res.objective - optimum) <= 1e-9 * max(1.0, optimum))
    assert np.mean(hits) >= 0.95


def _reference_pass(problem: DMMVProblem, q: np.ndarray, t_obj: float, power: int) -> tuple[np.ndarray, np.ndarray]:
    """New max and surrogate change of every (variable, level), recomputed from scratch in NumPy."""
    w, n = problem.weights, problem.shape[1]
    kmax = problem.values.shape[1]
    A = problem.A.toarray() if problem.is_sparse else problem.A

    def violations(levels: np.ndarray) -> np.ndarray:
        s = A @ problem.value_of(levels)
        return w * np.maximum(np.maximum(s - problem.upper, problem.lower - s), 0.0)

    v0 = violations(q)
    new_max, ds = np.full((n, kmax), np.nan), np.full((n, kmax), np.nan)
    for j in range(n):
        for lvl in range(problem.sizes[j]):
            moved = q.copy()
            moved[j] = lvl
            v = violations(moved)
            new_max[j, lvl] = v.max()
            ds[j, lvl] = np.sum((v / t_obj) ** power - (v0 / t_obj) ** power)
    return new_max, ds


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_full_pass_matches_numpy_reference(seed: int, sparse: bool) -> None:
    """The kernel's chosen move is the lexicographic best (max, then surrogate) of the from-scratch scores."""
    problem = random_tiny_problem(seed)
    if sparse and not problem.is_sparse:
        problem = DMMVProblem(
            sp.csc_array(problem.A), problem.values, lower=problem.lower, upper=problem.upper, weights=problem.weights
        )
    rng = np.random.default_rng(seed)
    q = (rng.random(problem.shape[1]) * problem.sizes).astype(np.int64)
    state = CpuState(problem)
    state.load(q)
    t_obj = state.objective()
    if t_obj <= 0.0:
        pytest.skip("start point already optimal")
    new_max, ds = _reference_pass(problem, q, t_obj, 8)
    level, got_max, got_ds = state.full_pass(t_obj, 3, 1e-9 * t_obj)
    for j in range(problem.shape[1]):
        if problem.sizes[j] == 1:
            assert level[j] == -1
            continue
        assert got_max[j] == pytest.approx(new_max[j, level[j]], rel=1e-9, abs=1e-12)
        assert got_ds[j] == pytest.approx(ds[j, level[j]], rel=1e-7, abs=1e-9)
        others = [lvl for lvl in range(problem.sizes[j]) if lvl != q[j]]
        assert got_max[j] <= min(new_max[j, others]) * (1 + 1e-9) + 1e-12


def _layout(problem: DMMVProblem, layout: str) -> DMMVProblem:
    """``problem`` with A dense, dense with a third of its entries zero, or sparse (and row weights)."""
    A = problem.A.copy()
    if layout != "dense":
        A[np.random.default_rng(1).random(A.shape) < 0.35] = 0.0
    weights = np.linspace(0.5, 2.0, A.shape[0])
    A = sp.csc_array(A) if layout == "sparse" else A
    return DMMVProblem(A, problem.values, lower=problem.lower, upper=problem.upper, weights=weights)


@pytest.mark.parametrize("layout", ["dense", "dense with zeros", "sparse", "sparse with stored zeros"])
def test_weighted_columns_are_diag_w_times_a_by_columns(layout: str) -> None:
    """The moves' CSC view of diag(w) A: the nonzeros of each column, rows sorted, as scipy builds it
    (a sparse A given as unsorted COO with split duplicates and entries stored as zeros included)."""
    problem = _layout(_off_grid(7, 20, seed=2), layout.removesuffix(" with stored zeros"))
    if layout == "sparse with stored zeros":
        coo = sp.coo_array(problem.A)
        zero_rows, zero_cols = np.nonzero(problem.A.toarray() == 0)
        rows = np.r_[coo.row, coo.row, zero_rows[:3]][::-1]  # each entry split in two halves, three zeros stored
        cols = np.r_[coo.col, coo.col, zero_cols[:3]][::-1]
        data = np.r_[0.5 * coo.data, 0.5 * coo.data, np.zeros(3)][::-1]
        given = sp.coo_array((data, (rows, cols)), shape=problem.shape)
        problem = DMMVProblem(given, problem.values, lower=problem.lower, upper=problem.upper, weights=problem.weights)
        assert (problem.A.data == 0).any()  # the problem keeps the stored zeros; weighted_columns must not
    before = problem.A.copy()
    indptr, indices, data = problem.weighted_columns()
    dense = problem.A.toarray() if problem.is_sparse else problem.A
    assert (problem.A != before).nnz == 0 if problem.is_sparse else np.array_equal(dense, before)  # A untouched
    expected = sp.csc_array(problem.weights[:, None] * dense)
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_array_equal(data, expected.data)
    assert (indptr.dtype, indices.dtype, data.dtype) == (np.int64, np.int64, np.float64)


def test_cpu_populations_share_one_matrix() -> None:
    """P populations on the CPU read one copy of C = diag(w) A (dense or sparse), not P copies."""
    for layout in ("dense", "sparse"):
        states, _ = local._make_states(_layout(_off_grid(6, 18), layout), "cpu", 3)
        for name in ("dense", "indptr", "indices", "coefs"):
            assert all(getattr(state, name) is getattr(states[0], name) for state in states)
        assert (states[0].dense is None) == (layout == "sparse")


@pytest.mark.parametrize("layout", ["dense", "dense with zeros", "sparse"])
def test_apply_keeps_state_equal_to_recomputation(layout: str) -> None:
    """After moves and unconditional level changes the incremental state equals a fresh load."""
    problem = _layout(_off_grid(25, 60, seed=9), layout)
    rng = np.random.default_rng(0)
    state = CpuState(problem)
    state.load((rng.random(25) * problem.sizes).astype(np.int64))
    for _ in range(5):
        t_obj = state.objective()
        level, new_max, _ = state.full_pass(t_obj, 3, 1e-9 * t_obj)
        cands = np.flatnonzero((level >= 0) & (new_max <= t_obj))
        state.apply(cands, t_obj, 3, 1e-9 * t_obj, 1e-9)
        js = rng.choice(25, size=3, replace=False)
        state.set_levels(js, (rng.random(3) * problem.sizes[js]).astype(np.int64))
    fresh = CpuState(problem)
    fresh.load(state.levels())
    np.testing.assert_allclose(state.violations(), fresh.violations(), atol=1e-10)
    assert state.objective() == pytest.approx(fresh.objective(), abs=1e-10)
    assert state.objective() == pytest.approx(problem.objective(problem.value_of(state.levels())), abs=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_large_domains_are_searched_by_convexity_to_the_scanned_best(seed: int, sparse: bool) -> None:
    """Domains over WINDOW_MIN values take the binary-search path; its move scores like the exhaustive best."""
    rng = np.random.default_rng(seed)
    m, n, size = 25, 5, WINDOW_MIN + 1 + 40 * seed
    A = rng.normal(size=(m, n))
    A[rng.random((m, n)) < 0.4] = 0.0
    values = np.sort(rng.uniform(-3, 3, size=size)) if seed % 2 else np.linspace(-2, 2, size)
    problem = DMMVProblem(
        sp.csc_array(A) if sparse else A, values, b=A @ rng.uniform(-2, 2, n), weights=rng.uniform(0.5, 2, m)
    )
    q = rng.integers(0, size, size=n)
    state = CpuState(problem)
    state.load(q)
    t_obj = state.objective()
    new_max, ds = _reference_pass(problem, q, t_obj, 2)
    for tol in (1e-9 * t_obj, -1.0):  # lexicographic (max, surrogate), then the surrogate alone (smoothing)
        level, got_max, got_ds = state.full_pass(t_obj, 1, tol)
        for j in range(n):
            others = np.array([lvl for lvl in range(size) if lvl != q[j]])
            assert got_max[j] == pytest.approx(new_max[j, level[j]], rel=1e-9, abs=1e-12)
            assert got_ds[j] == pytest.approx(ds[j, level[j]], rel=1e-7, abs=1e-9)
            if tol < 0:
                assert got_ds[j] <= ds[j, others].min() + 1e-9 * max(1.0, abs(got_ds[j]))
            else:
                best_max = new_max[j, others].min()
                assert got_max[j] <= best_max * (1 + 1e-9) + 1e-12
                ties = others[new_max[j, others] <= got_max[j] + tol]
                assert got_ds[j] <= ds[j, ties].min() + 1e-9 * max(1.0, abs(got_ds[j]))
    # the recheck-and-apply path uses the same search and keeps the state exact
    level, got_max, _ = state.full_pass(t_obj, 1, 1e-9 * t_obj)
    state.apply(np.flatnonzero(got_max <= t_obj), t_obj, 1, 1e-9 * t_obj, 1e-9)
    assert state.objective() == pytest.approx(problem.objective(problem.value_of(state.levels())), abs=1e-10)
    assert state.objective() <= t_obj


def test_sparse_scale_instance_has_distinct_rows_per_column_and_solves() -> None:
    problem = sparse_off_grid_instance(3000, 7, seed=2, levels=8)
    A = sp.csc_array(problem.A)
    assert A.shape == (1500, 3000) and A.nnz == 3000 * 7
    assert all(np.unique(A.indices[A.indptr[j] : A.indptr[j + 1]]).size == 7 for j in range(3000))
    result = dopt.solve(problem, "dmmv.local", seed=0, max_rounds=30, init="lsq")
    start = problem.objective(problem.value_of(relax.round_to_domain(problem, local._least_squares_point(problem))))
    assert result.objective < 0.5 * start
