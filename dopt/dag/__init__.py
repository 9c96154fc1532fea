"""DAG structure learning with NOTEARS scores: search over topological orders (TOPO) and the NOTEARS baseline."""

from dopt.dag import notears, topo  # noqa: F401  (register the methods)
from dopt.dag.graph import accuracy, is_dag, shd
from dopt.dag.problem import DAGProblem

__all__ = ["DAGProblem", "accuracy", "is_dag", "shd"]
