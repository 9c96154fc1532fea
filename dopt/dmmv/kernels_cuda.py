"""Numba-CUDA kernels of ``dmmv.local``: the device twins of ``kernels_cpu``.

Same quantities, same arithmetic in the same row order, same tie-breaks; sums
may differ from the CPU's in the last bits only where a compiler fuses a
multiply and an add (FMA) or the CPU reassociates a reduction.

A full pass runs one thread per (variable, level) pair, level fastest
(``idx = t * kmax + level``): the threads of one variable read the same
coefficient (a broadcast) and neighbouring variables read adjacent entries of
the dense weighted matrix, stored row-major (m x n, C order), so each row step
of a warp touches one or two memory sectors while ``g_i``, ``h_i`` are
broadcast. A second kernel, one thread per variable, keeps each variable's
best level. The exact recheck of candidate moves is sequential; ``cuda_state``
drives it from the host with the small kernels at the end of this module.
"""

from __future__ import annotations

import math

from numba import cuda


@cuda.jit(device=True)
def surrogate(v, inv_t, sq):
    """(v / T)^p with p = 2^sq, by repeated squaring."""
    r = v * inv_t
    for _ in range(sq):
        r = r * r
    return r


@cuda.jit(device=True)
def better(mx_a, ds_a, mx_b, ds_b, tol):
    """True when move a beats move b (``kernels_cpu.better``; negative tol: surrogate alone)."""
    if tol < 0.0:
        return ds_a < ds_b
    if mx_a < mx_b - tol:
        return True
    if mx_a > mx_b + tol:
        return False
    return ds_a < ds_b


@cuda.jit(device=True)
def contains(indices, lo, hi, i):
    """True when row ``i`` is among the sorted rows ``indices[lo:hi]``."""
    end = hi
    while lo < hi:
        mid = (lo + hi) // 2
        if indices[mid] < i:
            lo = mid + 1
        else:
            hi = mid
    return lo < end and indices[lo] == i


@cuda.jit(cache=True)
def old_surrogate(v, inv_t, sq, old):
    """old_i = (v_i / T)^p for every row (one thread per row)."""
    i = cuda.grid(1)
    if i < v.shape[0]:
        old[i] = surrogate(v[i], inv_t, sq)


@cuda.jit(cache=True)
def score_dense(C, g, h, old, values, sizes, q, js, inv_t, sq, mx, ds):
    """New max and surrogate change of level ``idx % kmax`` of variable ``js[idx // kmax]`` (dense C)."""
    idx = cuda.grid(1)
    kmax = values.shape[1]
    if idx >= js.shape[0] * kmax:
        return
    t = idx // kmax
    lvl = idx - t * kmax
    j = js[t]
    if lvl >= sizes[j] or lvl == q[j]:
        return
    d = values[j, lvl] - values[j, q[j]]
    top = 0.0
    acc = 0.0
    for i in range(C.shape[0]):
        cd = C[i, j] * d
        nv = max(max(g[i] + cd, h[i] - cd), 0.0)
        top = max(top, nv)
        acc += surrogate(nv, inv_t, sq) - old[i]
    mx[idx] = top
    ds[idx] = acc


@cuda.jit(cache=True)
def sparse_base(indptr, indices, order, v, js, base):
    """Largest violation off each variable's column, walking rows by decreasing violation (one thread per variable)."""
    t = cuda.grid(1)
    if t >= js.shape[0]:
        return
    j = js[t]
    base[t] = 0.0
    for r in range(order.shape[0]):
        i = order[r]
        if v[i] <= 0.0:
            return
        if not contains(indices, indptr[j], indptr[j + 1], i):
            base[t] = v[i]
            return


@cuda.jit(cache=True)
def score_sparse(indptr, indices, coefs, g, h, old, base, values, sizes, q, js, inv_t, sq, mx, ds):
    """Same as ``score_dense`` for a CSC matrix; ``base[t]`` is the largest violation off the column."""
    idx = cuda.grid(1)
    kmax = values.shape[1]
    if idx >= js.shape[0] * kmax:
        return
    t = idx // kmax
    lvl = idx - t * kmax
    j = js[t]
    if lvl >= sizes[j] or lvl == q[j]:
        return
    d = values[j, lvl] - values[j, q[j]]
    top = base[t]
    acc = 0.0
    for p in range(indptr[j], indptr[j + 1]):
        i = indices[p]
        cd = coefs[p] * d
        nv = max(max(g[i] + cd, h[i] - cd), 0.0)
        top = max(top, nv)
        acc += surrogate(nv, inv_t, sq) - old[i]
    mx[idx] = top
    ds[idx] = acc


@cuda.jit(cache=True)
def pick(mx, ds, kmax, sizes, q, js, tol, out_level, out_max, out_ds):
    """Best level of each variable other than its current one, lowest index among exact ties (``best_level``)."""
    t = cuda.grid(1)
    if t >= js.shape[0]:
        return
    j = js[t]
    row = t * kmax
    best = -1
    for lvl in range(sizes[j]):
        if lvl == q[j]:
            continue
        if best < 0 or better(mx[row + lvl], ds[row + lvl], mx[row + best], ds[row + best], tol):
            best = lvl
    out_level[t] = best
    out_max[t] = mx[row + best] if best >= 0 else math.inf
    out_ds[t] = ds[row + best] if best >= 0 else 0.0


# ---- the sequential recheck: one candidate at a time, driven from the host ----
# ``scratch`` holds [largest violation off the column, largest violation, mx[0..k), ds[0..k)].


@cuda.jit(cache=True)
def mark_rows(indices, lo, hi, mask, stamp, scratch):
    """Stamp the rows ``indices[lo:hi]`` in ``mask`` and zero the two maxima of ``scratch``."""
    p = cuda.grid(1)
    if p == 0:
        scratch[0] = 0.0
        scratch[1] = 0.0
    if lo + p < hi:
        mask[indices[lo + p]] = stamp


@cuda.jit(cache=True)
def max_unmarked(v, mask, stamp, scratch):
    """scratch[0] = max(0, v off the stamped rows), scratch[1] = max(0, v): grid-stride, one atomic per thread."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    base = 0.0
    top = 0.0
    for i in range(start, v.shape[0], stride):
        top = max(top, v[i])
        if mask[i] != stamp:
            base = max(base, v[i])
    cuda.atomic.max(scratch, 0, base)
    cuda.atomic.max(scratch, 1, top)


@cuda.jit(cache=True)
def score_column(indices, coefs, lo, hi, g, h, v, values, j, size, cur, inv_t, sq, scratch):
    """Every level of variable ``j`` on the current state (one thread per level), off-column max from scratch[0]."""
    lvl = cuda.grid(1)
    if lvl >= size:
        return
    kmax = values.shape[1]
    d = values[j, lvl] - values[j, cur]
    top = scratch[0]
    acc = 0.0
    for p in range(lo, hi):
        i = indices[p]
        cd = coefs[p] * d
        nv = max(max(g[i] + cd, h[i] - cd), 0.0)
        top = max(top, nv)
        acc += surrogate(nv, inv_t, sq) - surrogate(v[i], inv_t, sq)
    scratch[2 + lvl] = top
    scratch[2 + kmax + lvl] = acc


@cuda.jit(cache=True)
def move(indices, coefs, lo, hi, delta, g, h, v):
    """Shift the rows of one column by ``coefs * delta`` (one thread per row of the column)."""
    p = lo + cuda.grid(1)
    if p < hi:
        i = indices[p]
        cd = coefs[p] * delta
        g[i] += cd
        h[i] -= cd
        v[i] = max(max(g[i], h[i]), 0.0)


@cuda.jit(cache=True)
def excesses(s, lo, up, w, g, h, v):
    """g = w (s - u), h = w (l - s), v = max(g, h, 0) for every row."""
    i = cuda.grid(1)
    if i < s.shape[0]:
        g[i] = w[i] * (s[i] - up[i])
        h[i] = w[i] * (lo[i] - s[i])
        v[i] = max(max(g[i], h[i]), 0.0)
