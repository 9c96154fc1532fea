"""One BLAS thread for small dense algebra: threaded OpenBLAS only slows d x d products below a few hundred.

The dag methods multiply and exponentiate d x d matrices thousands of times; with idle
BLAS threads spinning, each tiny call can cost milliseconds on a busy machine.
threadpoolctl (when installed) limits BLAS to one thread for the duration of a solve.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

SMALL_D = 400  # below this many variables one BLAS thread is faster


@contextlib.contextmanager
def small_blas(d: int) -> Iterator[None]:
    """Limit BLAS to one thread while solving a problem with d < SMALL_D variables."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it BLAS keeps its own thread count
        yield
        return
    if d >= SMALL_D:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
