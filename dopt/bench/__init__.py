"""``dopt bench``: every family's methods and peers on the same instances, in one run, as data, tables and plots.

A family takes part by providing ``dopt/<family>/bench.py`` with
``cases(suite: str, device: str) -> list[Case]``; see :mod:`dopt.bench.suite`.
"""

from dopt.bench.runner import SUITES, run_suite
from dopt.bench.suite import Case, Entry, Outcome

__all__ = ["SUITES", "Case", "Entry", "Outcome", "run_suite"]
