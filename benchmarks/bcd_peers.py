"""The bcd head-to-head protocol and peer wrappers live in :mod:`dopt.bcd.peers` (``dopt bench`` uses them).

Kept so the benchmark scripts' ``from bcd_peers import ...`` lines keep working.
"""

from dopt.bcd.peers import (
    GIVE_UP_S,
    MODULES,
    PEERS,
    REPEATS,
    Run,
    gap_of,
    head_to_head,
    initial_gap,
    installed,
    lambda_max,
    run_dopt,
    run_peer,
)

__all__ = [
    "GIVE_UP_S",
    "MODULES",
    "PEERS",
    "REPEATS",
    "Run",
    "gap_of",
    "head_to_head",
    "initial_gap",
    "installed",
    "lambda_max",
    "run_dopt",
    "run_peer",
]
