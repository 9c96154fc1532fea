"""Numba-CUDA kernels of ``dmmv.local``: the device twins of ``kernels_cpu``.

Same quantities, same arithmetic in the same row order, same tie-breaks; sums
may differ from the CPU's in the last bits only where a compiler fuses a
multiply and an add (FMA) or the CPU reassociates a reduction.

Every kernel serves several independent populations (search states) at once:
the state arrays have one row per population, a launch names the populations
it serves in ``pops`` and runs them along the grid's y axis (the recheck: one
block per population), with per-launch-row scalars ``inv_t``, ``sq``, ``tol``.

A full pass runs one thread per (variable, level) pair, level fastest
(``idx = t * kmax + level``): the threads of one variable read the same
coefficient (a broadcast) and neighbouring variables read adjacent entries of
the dense weighted matrix, stored row-major (m x n, C order), so each row step
of a warp touches one or two memory sectors while ``g_i``, ``h_i`` are
broadcast. A second kernel, one thread per variable, keeps each variable's
best level. The exact recheck of candidate moves is sequential: ``recheck``
runs it in one thread block per population that loops over the candidates on
the device (no host round trip per candidate); the small kernels at the end of
this module act on one population's rows and serve the kicks and triple moves.
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
def old_surrogate(v, pops, inv_t, sq, old):
    """old[p, i] = (v[p, i] / T)^p for every row of each population of the launch."""
    i = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    r = cuda.blockIdx.y
    p = pops[r]
    if i < v.shape[1]:
        old[p, i] = surrogate(v[p, i], inv_t[r], sq[r])


@cuda.jit(cache=True)
def score_dense(C, g, h, old, values, sizes, q, js, pops, inv_t, sq, mx, ds):
    """New max and surrogate change of level ``idx % kmax`` of variable ``js[idx // kmax]`` (dense C)."""
    idx = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    r = cuda.blockIdx.y
    p = pops[r]
    kmax = values.shape[1]
    if idx >= js.shape[0] * kmax:
        return
    t = idx // kmax
    lvl = idx - t * kmax
    j = js[t]
    cur = q[p, j]
    if lvl >= sizes[j] or lvl == cur:
        return
    d = values[j, lvl] - values[j, cur]
    top = 0.0
    acc = 0.0
    for i in range(C.shape[0]):
        cd = C[i, j] * d
        nv = max(max(g[p, i] + cd, h[p, i] - cd), 0.0)
        top = max(top, nv)
        acc += surrogate(nv, inv_t[r], sq[r]) - old[p, i]
    mx[p, idx] = top
    ds[p, idx] = acc


@cuda.jit(cache=True)
def sparse_base(indptr, indices, order, v, js, pops, base):
    """Largest violation off each variable's column, walking the launch row's ``order`` (rows by decreasing
    violation; one thread per variable)."""
    t = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    r = cuda.blockIdx.y
    p = pops[r]
    if t >= js.shape[0]:
        return
    j = js[t]
    base[p, t] = 0.0
    for k in range(order.shape[1]):
        i = order[r, k]
        if v[p, i] <= 0.0:
            return
        if not contains(indices, indptr[j], indptr[j + 1], i):
            base[p, t] = v[p, i]
            return


@cuda.jit(cache=True)
def score_sparse(indptr, indices, coefs, g, h, old, base, values, sizes, q, js, pops, inv_t, sq, mx, ds):
    """Same as ``score_dense`` for a CSC matrix; ``base[p, t]`` is the largest violation off the column."""
    idx = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    r = cuda.blockIdx.y
    p = pops[r]
    kmax = values.shape[1]
    if idx >= js.shape[0] * kmax:
        return
    t = idx // kmax
    lvl = idx - t * kmax
    j = js[t]
    cur = q[p, j]
    if lvl >= sizes[j] or lvl == cur:
        return
    d = values[j, lvl] - values[j, cur]
    top = base[p, t]
    acc = 0.0
    for k in range(indptr[j], indptr[j + 1]):
        i = indices[k]
        cd = coefs[k] * d
        nv = max(max(g[p, i] + cd, h[p, i] - cd), 0.0)
        top = max(top, nv)
        acc += surrogate(nv, inv_t[r], sq[r]) - old[p, i]
    mx[p, idx] = top
    ds[p, idx] = acc


@cuda.jit(cache=True)
def pick(mx, ds, kmax, sizes, q, js, pops, tol, out_level, out_max, out_ds):
    """Best level of each variable other than its current one, lowest index among exact ties (``best_level``)."""
    t = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    r = cuda.blockIdx.y
    p = pops[r]
    if t >= js.shape[0]:
        return
    j = js[t]
    row = t * kmax
    best = -1
    for lvl in range(sizes[j]):
        if lvl == q[p, j]:
            continue
        if best < 0 or better(mx[p, row + lvl], ds[p, row + lvl], mx[p, row + best], ds[p, row + best], tol[r]):
            best = lvl
    out_level[p, t] = best
    out_max[p, t] = mx[p, row + best] if best >= 0 else math.inf
    out_ds[p, t] = ds[p, row + best] if best >= 0 else 0.0


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
    cands, offsets, pops, indptr, indices, coefs, g, h, v, values, sizes, q, mask, stamp0, inv_t, sq, tol, ds_tol,
    scores, out, order, touched, moved,
):  # fmt: skip
    """``kernels_cpu.apply_candidates``, one thread block per population: block r rescores the candidates
    ``cands[offsets[r]:offsets[r + 1]]`` in order on population ``pops[r]``'s current state and applies each
    best level that still improves; out[p] = moves applied.

    Per candidate the threads stamp the column's rows, reduce the largest violation on and off
    them (shared memory), score one level each (``scores[p]``: 2 kmax device scratch) and, if the
    move is taken, shift the column's rows. Launch with blocks of a power-of-two size
    <= RECHECK_THREADS.

    The largest violations come from a short list, not a scan of all m rows: ``order[r]`` holds
    the launch-time most violated rows, by decreasing violation, and ``moved[p]`` the rows the
    block has shifted since (``touched[p, i] == stamp0`` marks them). While at most
    ``moved.shape[1]`` rows have moved and ``order`` is at least that much longer than any
    column, some listed row is neither on the column nor moved, and it bounds every row outside
    both lists: the maxima over the two lists are exact. Past that (or with an empty ``order``)
    the block scans every row.
    """
    tid = cuda.threadIdx.x
    width = cuda.blockDim.x
    r = cuda.blockIdx.x
    p = pops[r]
    off_max = cuda.shared.array(RECHECK_THREADS, float64)
    all_max = cuda.shared.array(RECHECK_THREADS, float64)
    chosen = cuda.shared.array(1, int64)
    count = cuda.shared.array(1, int64)  # rows moved in this launch
    kmax = values.shape[1]
    m = v.shape[1]
    gp, hp, vp, qp, stamps, sc = g[p], h[p], v[p], q[p], mask[p], scores[p]
    marks, moved_p, cap, listed = touched[p], moved[p], moved.shape[1], order.shape[1]
    inv_tr, sqr, tolr = inv_t[r], sq[r], tol[r]
    if tid == 0:
        out[p] = 0
        count[0] = 0
    cuda.syncthreads()
    for c in range(offsets[r], offsets[r + 1]):
        j = cands[c]
        lo, hi = indptr[j], indptr[j + 1]
        stamp = stamp0 + c  # unique over all launches: the host advances stamp0 by len(cands)
        for k in range(lo + tid, hi, width):
            stamps[indices[k]] = stamp
        cuda.syncthreads()
        base = 0.0
        top = 0.0
        if listed > 0 and count[0] <= cap:
            for k in range(tid, listed + count[0], width):
                i = order[r, k] if k < listed else moved_p[k - listed]
                top = max(top, vp[i])
                if stamps[i] != stamp:
                    base = max(base, vp[i])
        else:
            for i in range(tid, m, width):
                top = max(top, vp[i])
                if stamps[i] != stamp:
                    base = max(base, vp[i])
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
        cur = qp[j]
        for lvl in range(tid, sizes[j], width):
            d = values[j, lvl] - values[j, cur]
            new_top = off_max[0]
            acc = 0.0
            for k in range(lo, hi):
                i = indices[k]
                cd = coefs[k] * d
                nv = max(max(gp[i] + cd, hp[i] - cd), 0.0)
                new_top = max(new_top, nv)
                acc += surrogate(nv, inv_tr, sqr) - surrogate(vp[i], inv_tr, sqr)
            sc[lvl] = new_top
            sc[kmax + lvl] = acc
        cuda.syncthreads()
        if tid == 0:
            chosen[0] = -1
            lvl = best_of(sc, kmax, sizes[j], cur, tolr)
            if lvl >= 0:
                new_max, change, t_now = sc[lvl], sc[kmax + lvl], all_max[0]
                if tolr < 0.0:
                    improves = change < -ds_tol[r]
                else:
                    improves = new_max < t_now - tolr or (new_max <= t_now and change < -ds_tol[r])
                if improves:
                    chosen[0] = lvl
                    qp[j] = lvl
                    out[p] += 1
        cuda.syncthreads()
        lvl = chosen[0]
        if lvl >= 0:
            delta = values[j, lvl] - values[j, cur]
            for k in range(lo + tid, hi, width):
                i = indices[k]
                cd = coefs[k] * delta
                gp[i] += cd
                hp[i] -= cd
                vp[i] = max(max(gp[i], hp[i]), 0.0)
                if listed > 0 and marks[i] != stamp0:
                    marks[i] = stamp0
                    slot = cuda.atomic.add(count, 0, 1)
                    if slot < cap:
                        moved_p[slot] = i
        cuda.syncthreads()


# ---- small kernels driven from the host on one population's rows: the objective (a max-reduction) and
# ---- unconditional moves (kicks)


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
