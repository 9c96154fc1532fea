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
best level. The exact recheck of candidate moves is sequential: ``recheck``
runs it in one thread block that loops over the candidates on the device (no
host round trip per candidate); the small kernels at the end of this module
serve the pair moves and kicks.
"""

from __future__ import annotations

import math

from numba import cuda, float64, int64

RECHECK_THREADS = 256  # the most threads of the one-block recheck (a power of two: its reductions halve)


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


@cuda.jit(device=True)
def best_of(scores, kmax, size, cur, tol):
    """``kernels_cpu.best_level`` on scores[0:kmax] (new maxima) and scores[kmax:2 kmax] (surrogate changes)."""
    best = -1
    for lvl in range(size):
        if lvl == cur:
            continue
        if best < 0 or better(scores[lvl], scores[kmax + lvl], scores[best], scores[kmax + best], tol):
            best = lvl
    return best


@cuda.jit(cache=True)
def recheck(
    cands, indptr, indices, coefs, g, h, v, values, sizes, q, mask, stamp0, inv_t, sq, tol, ds_tol, scores, out
):
    """``kernels_cpu.apply_candidates`` in one thread block: rescore each candidate in order on the current state
    and apply its best level if that still improves; out[0] = moves applied.

    Per candidate the threads stamp the column's rows, reduce the largest violation on and off
    them (shared memory), score one level each (``scores``: 2 kmax device scratch) and, if the
    move is taken, shift the column's rows. Launch with one block of a power-of-two size
    <= RECHECK_THREADS.
    """
    tid = cuda.threadIdx.x
    width = cuda.blockDim.x
    off_max = cuda.shared.array(RECHECK_THREADS, float64)
    all_max = cuda.shared.array(RECHECK_THREADS, float64)
    chosen = cuda.shared.array(1, int64)
    kmax = values.shape[1]
    m = v.shape[0]
    if tid == 0:
        out[0] = 0
    for c in range(cands.shape[0]):
        j = cands[c]
        lo, hi = indptr[j], indptr[j + 1]
        stamp = stamp0 + c
        for p in range(lo + tid, hi, width):
            mask[indices[p]] = stamp
        cuda.syncthreads()
        base = 0.0
        top = 0.0
        for i in range(tid, m, width):
            top = max(top, v[i])
            if mask[i] != stamp:
                base = max(base, v[i])
        off_max[tid] = base
        all_max[tid] = top
        cuda.syncthreads()
        half = width // 2
        while half > 0:
            if tid < half:
                off_max[tid] = max(off_max[tid], off_max[tid + half])
                all_max[tid] = max(all_max[tid], all_max[tid + half])
            cuda.syncthreads()
            half //= 2
        cur = q[j]
        for lvl in range(tid, sizes[j], width):
            d = values[j, lvl] - values[j, cur]
            new_top = off_max[0]
            acc = 0.0
            for p in range(lo, hi):
                i = indices[p]
                cd = coefs[p] * d
                nv = max(max(g[i] + cd, h[i] - cd), 0.0)
                new_top = max(new_top, nv)
                acc += surrogate(nv, inv_t, sq) - surrogate(v[i], inv_t, sq)
            scores[lvl] = new_top
            scores[kmax + lvl] = acc
        cuda.syncthreads()
        if tid == 0:
            chosen[0] = -1
            lvl = best_of(scores, kmax, sizes[j], cur, tol)
            if lvl >= 0:
                new_max, change, t_now = scores[lvl], scores[kmax + lvl], all_max[0]
                if tol < 0.0:
                    improves = change < -ds_tol
                else:
                    improves = new_max < t_now - tol or (new_max <= t_now and change < -ds_tol)
                if improves:
                    chosen[0] = lvl
                    q[j] = lvl
                    out[0] += 1
        cuda.syncthreads()
        lvl = chosen[0]
        if lvl >= 0:
            delta = values[j, lvl] - values[j, cur]
            for p in range(lo + tid, hi, width):
                i = indices[p]
                cd = coefs[p] * delta
                g[i] += cd
                h[i] -= cd
                v[i] = max(max(g[i], h[i]), 0.0)
        cuda.syncthreads()


# ---- small kernels driven from the host: the objective (a max-reduction) and unconditional moves (kicks) ----


@cuda.jit(cache=True)
def max_violation(v, out):
    """out[0] = max(out[0], max v): grid-stride, one atomic per thread (out[0] starts at 0)."""
    start = cuda.grid(1)
    top = 0.0
    for i in range(start, v.shape[0], cuda.gridsize(1)):
        top = max(top, v[i])
    cuda.atomic.max(out, 0, top)


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
