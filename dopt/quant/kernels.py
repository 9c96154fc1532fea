"""Numba CPU kernels of the quant family: the per-block inner loops of GPTQ and of coordinate descent.

Rows of Ŵ are independent problems, so every kernel runs its rows in
parallel (``prange``) and each row's work is a short sequential loop over the
columns of one block; the products with the rest of the matrix are left to
BLAS (one GEMM per block, done by the caller). ``np.rint`` rounds half to
even, as NumPy's and torch's ``round`` do.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

CACHE = True
MARGIN = 1e-9  # a coordinate moves only when it gets closer to its target by this fraction of a step


@njit(inline="always", cache=CACHE)
def _round_to_grid(x: float, s: float, z: float, maxq: int) -> float:
    c = np.rint(x / s) + z
    if c < 0.0:
        c = 0.0
    elif c > maxq:
        c = float(maxq)
    return s * (c - z)


@njit(parallel=True, cache=CACHE)
def gptq_block(Wb, U, scale, zero, maxq, keep, Qb, Eb):
    """GPTQ's sequential quantization of one block of columns, every row in parallel.

    ``Wb`` (q × B, updated in place) holds the block's weights with every
    earlier block's error already propagated; ``U`` is the block's B × B
    upper Cholesky factor of the inverse Hessian; ``scale``/``zero`` give each
    entry's grid (q × B). Column i is rounded, its scaled error
    e = (w − q(w)) / U_ii stored in ``Eb`` and subtracted from the later
    columns, w_k −= e U_ik. Where ``keep`` (q × B, or 0 × 0 for none) is set,
    the entry is kept unrounded (a full-precision outlier) and causes no error.
    """
    q, B = Wb.shape
    masked = keep.shape[0] > 0
    for r in prange(q):
        for i in range(B):
            w = Wb[r, i]
            if masked and keep[r, i]:
                qv = w
            else:
                qv = _round_to_grid(w, scale[r, i], zero[r, i], maxq)
            Qb[r, i] = qv
            e = (w - qv) / U[i, i]
            Eb[r, i] = e
            if e != 0.0:
                for k in range(i + 1, B):
                    Wb[r, k] -= e * U[i, k]


@njit(parallel=True, cache=CACHE)
def cd_block(Q, G, S, d, j1, j2, rows, scale, zero, maxq, rounded, force, D):
    """One coordinate-descent sweep over columns j1..j2-1 of the given ``rows`` of Ŵ (``Q``), rows in parallel.

    ``G`` = (W − Ŵ)Σ is kept exact on the block's columns; column j of a row
    moves to the grid point nearest Ŵ_j + G_j / Σ_jj (the exact minimiser of
    the objective in that entry; the unrounded minimiser itself when
    ``rounded`` is False), only when that strictly lowers the objective (by
    a margin of MARGIN steps, so that the drift of G never makes it rise).
    ``force`` rounds every entry whatever the objective does (the first
    pass from an unquantized start). ``scale``/``zero`` (len(rows) × B) are
    the grids of the block's entries. The moves are accumulated in ``D``
    (len(rows) × B) for the caller's GEMM refresh of G outside the block.
    Columns with Σ_jj = 0 do not change f: they keep their value (rounded by
    a forced pass).
    """
    for t in prange(rows.shape[0]):
        r = rows[t]
        for j in range(j1, j2):
            dj = d[j]
            if dj <= 0.0:  # a dead input: any value is as good; a forced pass just rounds it
                if force and rounded:
                    Q[r, j] = _round_to_grid(Q[r, j], scale[t, j - j1], zero[t, j - j1], maxq)
                continue
            old = Q[r, j]
            target = old + G[r, j] / dj
            if rounded:
                s = scale[t, j - j1]
                new = _round_to_grid(target, s, zero[t, j - j1], maxq)
                # strictly better by a margin far above the rounding drift of G
                if new == old or (not force and abs(new - target) >= abs(old - target) - MARGIN * s):
                    continue
            else:
                new = target
                if new == old:
                    continue
            delta = new - old
            Q[r, j] = new
            D[t, j - j1] += delta
            for k in range(j1, j2):
                G[r, k] -= delta * S[j, k]


@njit(inline="always", cache=CACHE)
def _shrink_error(W, r, lo, hi, f, weights, weighted, maxq, sym, best):
    """Score of shrink f of row r's range (stops early once it reaches ``best``), and its scale and zero."""
    lo1 = f * lo
    hi1 = f * hi
    s = (hi1 - lo1) / maxq
    z = float((maxq + 1) // 2) if sym else np.rint(-lo1 / s)
    err = 0.0
    for j in range(W.shape[1]):
        diff = _round_to_grid(W[r, j], s, z, maxq) - W[r, j]
        if weighted:
            err += weights[j] * diff * diff
        else:
            err += abs(diff) ** 2.4
        if err >= best:
            break
    return err, s, z


@njit(parallel=True, cache=CACHE)
def clip_search(W, lo, hi, weights, shrinks, maxq, sym, spacing, halvings, scale, zero):
    """Each row's best shrink of its range [lo, hi] (in place in ``scale``, ``zero``, which hold the unshrunk grid).

    A shrink f gives the grid of [f·lo, f·hi]; it is scored by
    Σ_j weights_j (q(w_j) − w_j)² when ``weights`` has one entry per column,
    else by GPTQ's Σ_j |q(w_j) − w_j|^2.4. The first best of ``shrinks`` is
    kept, then refined ``halvings`` times: f ± spacing/2, f ± spacing/4, ...
    """
    q, p = W.shape
    weighted = weights.shape[0] == p
    for r in prange(q):
        best = np.inf
        best_f = 1.0
        for f in shrinks:
            err, s, z = _shrink_error(W, r, lo[r], hi[r], f, weights, weighted, maxq, sym, best)
            if err < best:
                best, best_f, scale[r], zero[r] = err, f, s, z
        h = spacing
        for _ in range(halvings):
            h *= 0.5
            center = best_f
            for f in (center - h, center + h):
                if f <= 0.0 or f > 1.0:
                    continue
                err, s, z = _shrink_error(W, r, lo[r], hi[r], f, weights, weighted, maxq, sym, best)
                if err < best:
                    best, best_f, scale[r], zero[r] = err, f, s, z


@njit(parallel=True, cache=CACHE)
def grid_moments(Q, G, TS, ones_S, rows, scale, zero, out):
    """Per row (one grid per row): a = cᵀΣc, b = cᵀΣ1, u = c·G, v = Σ_j G_j for the integer codes c of Ŵ.

    ``c = rint(Ŵ/s + z)``; cᵀΣ comes from ŴΣ = TΣ − G without a GEMM. ``out`` is len(rows) × 4.
    """
    p = Q.shape[1]
    for t in prange(rows.shape[0]):
        r = rows[t]
        s = scale[t]
        z = zero[t]
        a = 0.0
        b = 0.0
        u = 0.0
        v = 0.0
        for j in range(p):
            c = np.rint(Q[r, j] / s + z)
            cs = (TS[r, j] - G[r, j]) / s + z * ones_S[j]
            a += c * cs
            b += cs
            u += c * G[r, j]
            v += G[r, j]
        out[t, 0] = a
        out[t, 1] = b
        out[t, 2] = u
        out[t, 3] = v


@njit(parallel=True, cache=CACHE)
def regrid_rows(Q, G, TS, ones_S, rows, scale, zero, new_scale, new_zero):
    """Move the given rows to new grids, codes fixed: Ŵ ← s'(c − z'), G ← TΣ − ŴΣ (one grid per row)."""
    p = Q.shape[1]
    for t in prange(rows.shape[0]):
        r = rows[t]
        s = scale[t]
        z = zero[t]
        s2 = new_scale[t]
        z2 = new_zero[t]
        for j in range(p):
            c = np.rint(Q[r, j] / s + z)
            cs = (TS[r, j] - G[r, j]) / s + z * ones_S[j]
            Q[r, j] = s2 * (c - z2)
            G[r, j] = TS[r, j] - s2 * (cs - z2 * ones_S[j])


@njit(cache=CACHE)
def shift_target(T, G, TS, S, rows, cols, deltas):
    """T[r, c] −= δ for each (r, c, δ), keeping G = (T − Ŵ)Σ and TS = TΣ exact (O(p) each)."""
    p = S.shape[0]
    has_ts = TS.shape[0] > 0
    for t in range(rows.shape[0]):
        r, c, delta = rows[t], cols[t], deltas[t]
        if delta == 0.0:
            continue
        T[r, c] -= delta
        for k in range(p):
            G[r, k] -= delta * S[c, k]
        if has_ts:
            for k in range(p):
                TS[r, k] -= delta * S[c, k]


@njit(parallel=True, cache=CACHE)
def outlier_sweep(ptr, cols, values, T, G, TS, S, d):
    """Exact coordinate steps on the full-precision entries H (CSR by row: ``ptr``, ``cols``, ``values``).

    With the target T = W − H, entry (r, c) of H moves by G_rc / Σ_cc (the
    exact minimiser of f in that entry); T, G = (T − Ŵ)Σ and TS = TΣ follow.
    """
    p = S.shape[0]
    q = ptr.shape[0] - 1
    has_ts = TS.shape[0] > 0
    for r in prange(q):
        for t in range(ptr[r], ptr[r + 1]):
            c = cols[t]
            if d[c] <= 0.0:
                continue
            delta = G[r, c] / d[c]
            if delta == 0.0:
                continue
            values[t] += delta
            T[r, c] -= delta
            for k in range(p):
                G[r, k] -= delta * S[c, k]
            if has_ts:
                for k in range(p):
                    TS[r, k] -= delta * S[c, k]
