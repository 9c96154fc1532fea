"""dopt.core.jit: a kernel's serial and parallel variants, picked by work, each with its own disk-cache entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

KERNEL = """
from numba import prange

from dopt.core.jit import SerialOrParallel


def _row_sums(A, out):
    for i in prange(A.shape[0]):
        out[i] = A[i].sum()


ROW_SUMS = SerialOrParallel(_row_sums, 100.0)
"""

PROBE = """
import json, sys
import numpy as np
from dopt.core.jit import compile_parallel_twins
from row_sums import ROW_SUMS

out = np.empty(4)
ROW_SUMS(float(sys.argv[1]), np.arange(12.0).reshape(4, 3), out)
if sys.argv[2] == "twins":
    compile_parallel_twins()
report = {"sums": out.tolist()}
for name in ("serial", "parallel"):
    variant = getattr(ROW_SUMS, name)
    report[name] = {
        "signatures": [str(s) for s in variant.signatures],
        "hits": len(variant.stats.cache_hits),
        "misses": len(variant.stats.cache_misses),
    }
print(json.dumps(report))
"""


def _probe(folder: Path, work: float, then: str = "") -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(folder / "cache")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(folder / "probe.py"), str(work), then], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_variants_are_picked_by_work_and_cached_apart(tmp_path: Path) -> None:
    """Each process below starts with the disk cache the ones before it left.

    With one cache entry for both variants (the function compiled twice under one name), the second
    process would load the serial code for its parallel variant instead of compiling it.
    """
    (tmp_path / "row_sums.py").write_text(KERNEL)
    (tmp_path / "probe.py").write_text(PROBE)

    small = _probe(tmp_path, 10.0)  # below the threshold: serial only, compiled
    assert small["sums"] == [3.0, 12.0, 21.0, 30.0]
    assert small["serial"]["misses"] == 1 and small["parallel"]["signatures"] == []

    large = _probe(tmp_path, 1000.0)  # above it: parallel only, compiled, not taken from the serial entry
    assert large["sums"] == small["sums"]
    assert large["parallel"]["misses"] == 1 and large["parallel"]["hits"] == 0
    assert large["serial"]["signatures"] == []

    warmed = _probe(tmp_path, 10.0, "twins")  # a small run, then the twins of what it ran, both from the cache
    assert warmed["serial"]["hits"] == 1 and warmed["parallel"]["hits"] == 1
    assert warmed["parallel"]["signatures"] == warmed["serial"]["signatures"] == small["serial"]["signatures"]
