"""Numba CPU kernels of ``dmmv.local``: move scoring, exact rechecks and a max-tree.

The state keeps, for every row i, the weighted excesses ``g_i = w_i (a_i.x - u_i)``
and ``h_i = w_i (l_i - a_i.x)``, so the violation is ``v_i = max(g_i, h_i, 0)`` and
moving x_j by d shifts them by ``+-c_ij d`` with ``c = diag(w) A``. A move only
touches the support of column j: scoring every value of every variable costs
O(nnz(A) |D|) per pass. Moves are ranked lexicographically: first the new
maximum violation, then the change of the surrogate ``sum_i (v_i / T)^p``, which
breaks the ties of the flat max.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

CACHE = True
# Reassociation lets LLVM vectorise the max/sum reductions; no-NaN/no-inf flags
# stay off because bounds may be infinite.
FAST = {"reassoc", "contract", "nsz"}


@njit(inline="always", cache=CACHE)
def surrogate(v: float, inv_t: float, squarings: int) -> float:
    """(v / T)^p with p = 2^squarings, by repeated squaring."""
    r = v * inv_t
    for _ in range(squarings):
        r = r * r
    return r


@njit(inline="always", cache=CACHE)
def better(mx_a: float, ds_a: float, mx_b: float, ds_b: float, tol: float) -> bool:
    """True when move a beats move b: lower max (beyond tol), or equal max and lower surrogate.

    A negative ``tol`` ranks by the surrogate alone (the smoothing phase).
    """
    if tol < 0.0:
        return ds_a < ds_b
    if mx_a < mx_b - tol:
        return True
    if mx_a > mx_b + tol:
        return False
    return ds_a < ds_b


@njit(cache=CACHE)
def best_level(mx: np.ndarray, ds: np.ndarray, size: int, current: int, tol: float) -> int:
    """Index of the best level other than ``current`` (lowest index among exact ties)."""
    best = -1
    for lvl in range(size):
        if lvl == current:
            continue
        if best < 0 or better(mx[lvl], ds[lvl], mx[best], ds[best], tol):
            best = lvl
    return best


@njit(fastmath=FAST, cache=CACHE)
def _score_column(col, g, h, old, d, inv_t, sq):
    """(new max, surrogate change) of moving a variable with dense weighted column ``col`` by ``d``.

    Rows with a zero coefficient keep their violation, so they need no separate base term.
    """
    top = 0.0
    acc = 0.0
    for i in range(col.shape[0]):
        cd = col[i] * d
        nv = max(max(g[i] + cd, h[i] - cd), 0.0)
        top = max(top, nv)
        acc += surrogate(nv, inv_t, sq) - old[i]
    return top, acc


@njit(cache=CACHE)
def _score_dense(col, g, h, old, vals, size, cur, inv_t, sq, mx, ds):
    """New max and surrogate change for every level of a variable with dense weighted column ``col``."""
    for lvl in range(size):
        mx[lvl], ds[lvl] = _score_column(col, g, h, old, vals[lvl] - cur, inv_t, sq)


@njit(fastmath=FAST, cache=CACHE)
def _score_sparse(rows, coefs, g, h, v, vals, size, cur, base, inv_t, sq, mx, ds):
    """Same for a sparse column (rows, coefs); ``base`` is the largest violation off its support.

    Rows outer, levels inner: each row's state is read once and the level loop vectorises;
    every level still sums its terms in row order.
    """
    for lvl in range(size):
        mx[lvl] = base
        ds[lvl] = 0.0
    for t in range(rows.shape[0]):
        i = rows[t]
        c, gi, hi = coefs[t], g[i], h[i]
        old = surrogate(v[i], inv_t, sq)
        for lvl in range(size):
            cd = c * (vals[lvl] - cur)
            nv = max(max(gi + cd, hi - cd), 0.0)
            mx[lvl] = max(mx[lvl], nv)
            ds[lvl] += surrogate(nv, inv_t, sq) - old


# ---- large domains: the best level by convexity instead of a scan ----
# Along one variable every violation is a convex function of its value, so the new
# max and the surrogate are convex sequences over the sorted levels: binary searches
# on their forward differences find the best level in O(log |D|) evaluations.
WINDOW_MIN = 64  # domains with more values than this are searched, smaller ones scanned


@njit(fastmath=FAST, cache=CACHE)
def _score_entries(rows, coefs, g, h, v, d, base, inv_t, sq):
    """(new max, surrogate change) of moving a variable with sparse column (rows, coefs) by ``d``."""
    top = base
    acc = 0.0
    for t in range(rows.shape[0]):
        i = rows[t]
        cd = coefs[t] * d
        nv = max(max(g[i] + cd, h[i] - cd), 0.0)
        top = max(top, nv)
        acc += surrogate(nv, inv_t, sq) - surrogate(v[i], inv_t, sq)
    return top, acc


@njit(cache=CACHE)
def _score_level(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, lvl):
    """(new max, surrogate change) at level ``lvl``; an empty ``rows`` means ``coefs`` is a dense column."""
    if rows.shape[0] == 0 and coefs.shape[0] == g.shape[0]:
        return _score_column(coefs, g, h, old, vals[lvl] - cur, inv_t, sq)
    return _score_entries(rows, coefs, g, h, v, vals[lvl] - cur, base, inv_t, sq)


@njit(fastmath=FAST, cache=CACHE)
def _max_level(rows, coefs, g, h, vals, cur, base, lvl):
    """The new max alone at level ``lvl`` (no surrogate: the max-only steps of the bisections)."""
    d = vals[lvl] - cur
    top = base
    if rows.shape[0] == 0 and coefs.shape[0] == g.shape[0]:
        for i in range(coefs.shape[0]):
            cd = coefs[i] * d
            top = max(top, max(max(g[i] + cd, h[i] - cd), 0.0))
        return top
    for t in range(rows.shape[0]):
        i = rows[t]
        cd = coefs[t] * d
        top = max(top, max(max(g[i] + cd, h[i] - cd), 0.0))
    return top


@njit(cache=CACHE)
def _key(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, lvl, use_ds):
    """The new max (or, with ``use_ds``, the surrogate change) at level ``lvl``."""
    if not use_ds:
        return _max_level(rows, coefs, g, h, vals, cur, base, lvl)
    return _score_level(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, lvl)[1]


@njit(cache=CACHE)
def _leftmost_min(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, lo, hi, use_ds):
    """Leftmost minimiser over levels [lo, hi] of the convex sequence chosen by ``use_ds``."""
    while lo < hi:
        mid = (lo + hi) // 2
        a = _key(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, mid, use_ds)
        b = _key(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, mid + 1, use_ds)
        if b >= a:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=CACHE)
def _plateau_end(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, inside, outside, limit):
    """The level nearest ``outside`` whose max stays <= ``limit``, from ``inside`` (where it does) outwards."""
    while abs(outside - inside) > 1:
        mid = (inside + outside) // 2
        if _key(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, mid, False) <= limit:
            inside = mid
        else:
            outside = mid
    return inside


@njit(cache=CACHE)
def convex_best(rows, coefs, g, h, v, old, vals, size, current, base, inv_t, sq, tol):
    """(level, new max, surrogate change) of the best level other than ``current``, found by convexity.

    ``rows`` and ``coefs`` are a sparse column, or an empty ``rows`` and a dense ``coefs``
    with ``old`` holding every row's surrogate. The lexicographic best lies where the max
    is within ``tol`` of its minimum and the surrogate is least there (the surrogate alone
    when ``tol`` < 0); the best level other than ``current`` is that one or a neighbour of
    ``current``. Level -1 when there is none.
    """
    if size < 2:
        return -1, np.inf, 0.0
    cur = vals[current]
    if tol < 0.0:
        pick = _leftmost_min(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, 0, size - 1, True)
    else:
        low = _leftmost_min(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, 0, size - 1, False)
        limit = _key(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, low, False) + tol
        first = _plateau_end(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, low, -1, limit)
        last = _plateau_end(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, low, size, limit)
        pick = _leftmost_min(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, first, last, True)
    a, b, c = current - 1, pick, current + 1
    if b < a:
        a, b = b, a
    if c < b:
        b, c = c, b
    best, best_mx, best_ds = -1, np.inf, 0.0
    for k in range(3):  # in index order, as a scan would meet them
        lvl = a if k == 0 else (b if k == 1 else c)
        if lvl < 0 or lvl >= size or lvl == current or (k == 2 and lvl == b) or (k == 1 and lvl == a):
            continue
        mx, ds = _score_level(rows, coefs, g, h, v, old, vals, cur, base, inv_t, sq, lvl)
        if best < 0 or better(mx, ds, best_mx, best_ds, tol):
            best, best_mx, best_ds = lvl, mx, ds
    return best, best_mx, best_ds


@njit(cache=CACHE)
def _contains(sorted_rows, i):
    lo_, hi_ = 0, sorted_rows.shape[0]
    while lo_ < hi_:
        mid = (lo_ + hi_) // 2
        if sorted_rows[mid] < i:
            lo_ = mid + 1
        else:
            hi_ = mid
    return lo_ < sorted_rows.shape[0] and sorted_rows[lo_] == i


@njit(cache=CACHE)
def _sparse_base(rows, order, v):
    """Largest violation outside ``rows``, walking rows by decreasing violation."""
    for r in range(order.shape[0]):
        i = order[r]
        if v[i] <= 0.0:
            return 0.0
        if not _contains(rows, i):
            return v[i]
    return 0.0


@njit(parallel=True, cache=CACHE)
def pass_dense(C, g, h, v, values, sizes, q, js, t_obj, sq, tol, out_level, out_max, out_ds):
    """Score every value of the variables ``js`` (dense Fortran-ordered C = diag(w) A); keep each one's best."""
    kmax = values.shape[1]
    inv_t = 1.0 / t_obj
    old = np.empty(v.shape[0])
    for i in prange(v.shape[0]):
        old[i] = surrogate(v[i], inv_t, sq)
    dense = np.empty(0, dtype=np.int64)  # no row list: the columns are dense
    for t in prange(js.shape[0]):
        j = js[t]
        if sizes[j] > WINDOW_MIN:
            out_level[t], out_max[t], out_ds[t] = convex_best(
                dense, C[:, j], g, h, v, old, values[j], sizes[j], q[j], 0.0, inv_t, sq, tol
            )
            continue
        mx = np.empty(kmax)
        ds = np.empty(kmax)
        _score_dense(C[:, j], g, h, old, values[j], sizes[j], values[j, q[j]], inv_t, sq, mx, ds)
        lvl = best_level(mx, ds, sizes[j], q[j], tol)
        out_level[t] = lvl
        out_max[t] = mx[lvl] if lvl >= 0 else np.inf
        out_ds[t] = ds[lvl] if lvl >= 0 else 0.0


@njit(parallel=True, cache=CACHE)
def pass_sparse(
    indptr, indices, coefs, g, h, v, order, values, sizes, q, js, t_obj, sq, tol, out_level, out_max, out_ds
):
    """Score every value of the variables ``js`` (CSC C = diag(w) A); keep each one's best.

    Variables go in chunks so each chunk allocates its level scratch once (columns may be short).
    """
    kmax = values.shape[1]
    inv_t = 1.0 / t_obj
    chunks = min(js.shape[0], 256)
    for c in prange(chunks):
        mx = np.empty(kmax)
        ds = np.empty(kmax)
        for t in range(c * js.shape[0] // chunks, (c + 1) * js.shape[0] // chunks):
            j = js[t]
            rows = indices[indptr[j] : indptr[j + 1]]
            base = _sparse_base(rows, order, v)
            if sizes[j] > WINDOW_MIN:
                out_level[t], out_max[t], out_ds[t] = convex_best(
                    rows, coefs[indptr[j] : indptr[j + 1]], g, h, v, v, values[j], sizes[j], q[j], base, inv_t, sq, tol
                )
                continue
            _score_sparse(
                rows,
                coefs[indptr[j] : indptr[j + 1]],
                g,
                h,
                v,
                values[j],
                sizes[j],
                values[j, q[j]],
                base,
                inv_t,
                sq,
                mx,
                ds,
            )
            lvl = best_level(mx, ds, sizes[j], q[j], tol)
            out_level[t] = lvl
            out_max[t] = mx[lvl] if lvl >= 0 else np.inf
            out_ds[t] = ds[lvl] if lvl >= 0 else 0.0


# ---- max-tree over the violations: exact maximum under sparse updates ----


@njit(cache=CACHE)
def tree_build(v, tree):
    """Build the max-tree (size 2 * leaves, leaves a power of two) over ``v``."""
    leaves = tree.shape[0] // 2
    tree[:] = 0.0
    tree[leaves : leaves + v.shape[0]] = v
    for node in range(leaves - 1, 0, -1):
        tree[node] = max(tree[2 * node], tree[2 * node + 1])


@njit(cache=CACHE)
def tree_set(tree, i, value):
    """Set leaf ``i`` and repair its ancestors."""
    node = tree.shape[0] // 2 + i
    tree[node] = value
    node //= 2
    while node >= 1:
        top = max(tree[2 * node], tree[2 * node + 1])
        if tree[node] == top:
            break
        tree[node] = top
        node //= 2


# ---- state updates and the sequential recheck-and-apply of candidate moves ----


@njit(cache=CACHE)
def _apply(rows, coefs, delta, g, h, v, tree):
    for t in range(rows.shape[0]):
        i = rows[t]
        cd = coefs[t] * delta
        g[i] += cd
        h[i] -= cd
        v[i] = max(max(g[i], h[i]), 0.0)
        tree_set(tree, i, v[i])


@njit(cache=CACHE)
def _apply_dense(col, delta, g, h, v, tree):
    """Shift every row by ``col * delta`` and rebuild the max-tree (cheaper than repairing every leaf)."""
    for i in range(col.shape[0]):
        cd = col[i] * delta
        g[i] += cd
        h[i] -= cd
        v[i] = max(max(g[i], h[i]), 0.0)
    tree_build(v, tree)


@njit(cache=CACHE)
def _base_excluding(rows, v, tree):
    """Exact largest violation outside ``rows``: hide them in the tree, read the root, restore."""
    for t in range(rows.shape[0]):
        tree_set(tree, rows[t], 0.0)
    base = tree[1]
    for t in range(rows.shape[0]):
        tree_set(tree, rows[t], v[rows[t]])
    return base


@njit(cache=CACHE)
def _surrogates(v, inv_t, sq, out):
    for i in range(v.shape[0]):
        out[i] = surrogate(v[i], inv_t, sq)


@njit(cache=CACHE)
def apply_candidates(
    indptr, indices, coefs, dense, g, h, v, values, sizes, q, tree, cands, t_scale, sq, tol, ds_tol
):  # fmt: skip
    """Re-score each candidate variable on the current state and apply its best move if it improves.

    A move improves when it lowers the maximum beyond ``tol``, or keeps it and lowers
    the surrogate beyond ``ds_tol`` (with a negative ``tol``: when it lowers the surrogate).
    With a dense A (``dense`` is C = diag(w) A, else it has no rows) every column covers every
    row: nothing lies off the support, and the rows' surrogates are kept in an array refreshed
    after each applied move instead of recomputed in every evaluation.
    Returns the number of moves applied.
    """
    kmax = values.shape[1]
    mx = np.empty(kmax)
    ds = np.empty(kmax)
    inv_t = 1.0 / t_scale
    is_dense = dense.shape[0] == v.shape[0]
    old = np.empty(v.shape[0] if is_dense else 0)
    if is_dense:
        _surrogates(v, inv_t, sq, old)
    no_rows = np.empty(0, dtype=np.int64)
    applied = 0
    for c in range(cands.shape[0]):
        j = cands[c]
        rows = indices[indptr[j] : indptr[j + 1]]
        col = coefs[indptr[j] : indptr[j + 1]]
        cur = values[j, q[j]]
        if is_dense:  # convex_best's dense form: no row list, the full column, the kept surrogates
            rows_j, col_j, old_j, base = no_rows, dense[:, j], old, 0.0
        else:
            rows_j, col_j, old_j, base = rows, col, v, _base_excluding(rows, v, tree)
        if sizes[j] > WINDOW_MIN:
            lvl, new_max, change = convex_best(
                rows_j, col_j, g, h, v, old_j, values[j], sizes[j], q[j], base, inv_t, sq, tol
            )
        else:
            if is_dense:
                _score_dense(col_j, g, h, old, values[j], sizes[j], cur, inv_t, sq, mx, ds)
            else:
                _score_sparse(rows, col, g, h, v, values[j], sizes[j], cur, base, inv_t, sq, mx, ds)
            lvl = best_level(mx, ds, sizes[j], q[j], tol)
            new_max, change = (mx[lvl], ds[lvl]) if lvl >= 0 else (np.inf, 0.0)
        if lvl < 0:
            continue
        t_now = tree[1]
        if tol < 0.0:
            improves = change < -ds_tol
        else:
            improves = new_max < t_now - tol or (new_max <= t_now and change < -ds_tol)
        if improves:
            if is_dense:
                _apply_dense(dense[:, j], values[j, lvl] - cur, g, h, v, tree)
                _surrogates(v, inv_t, sq, old)
            else:
                _apply(rows, col, values[j, lvl] - cur, g, h, v, tree)
            q[j] = lvl
            applied += 1
    return applied


@njit(cache=CACHE)
def set_levels(indptr, indices, coefs, g, h, v, values, q, tree, js, levels):
    """Move each variable ``js[t]`` to level ``levels[t]`` unconditionally (kicks, reverts)."""
    for t in range(js.shape[0]):
        j = js[t]
        rows = indices[indptr[j] : indptr[j + 1]]
        _apply(rows, coefs[indptr[j] : indptr[j + 1]], values[j, levels[t]] - values[j, q[j]], g, h, v, tree)
        q[j] = levels[t]


@njit(cache=CACHE)
def set_levels_dense(C, g, h, v, values, q, tree, js, levels):
    """``set_levels`` for a dense Fortran-ordered C = diag(w) A: every row shifts, the max-tree is rebuilt once."""
    for t in range(js.shape[0]):
        j = js[t]
        delta = values[j, levels[t]] - values[j, q[j]]
        for i in range(C.shape[0]):
            cd = C[i, j] * delta
            g[i] += cd
            h[i] -= cd
            v[i] = max(max(g[i], h[i]), 0.0)
        q[j] = levels[t]
    tree_build(v, tree)


@njit(parallel=True, cache=CACHE)
def excesses(s, lo, up, w, g, h, v):
    """g = w (s - u), h = w (l - s), v = max(g, h, 0) for every row."""
    for i in prange(s.shape[0]):
        g[i] = w[i] * (s[i] - up[i])
        h[i] = w[i] * (lo[i] - s[i])
        v[i] = max(max(g[i], h[i]), 0.0)
