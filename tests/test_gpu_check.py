"""gpu/check.py, the script a GPU machine runs, works end to end: its --smoke run under the CUDA simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ["states", "solves", "populations", "targets", "tomography"]


def test_smoke_run_under_the_simulator_writes_every_section(tmp_path: Path) -> None:
    """Every timing section runs at tiny sizes and lands in the report, with every race reaching its target."""
    report = tmp_path / "report.md"
    command = [sys.executable, str(ROOT / "gpu" / "check.py"), "--smoke", "--sections", *SECTIONS]
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run(
        [*command, "--out", str(report)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = report.read_text()
    headings = ("dmmv.local state", "dopt.solve(", "Populations", "Equal time and time to a target", "Tomography")
    for heading in headings:
        assert f"\n## {heading}" in text, heading
    assert "Numba CUDA simulator" in text
    assert "not reached" not in text
    sparse_state = next(line for line in text.splitlines() if line.startswith("| sparse-400x200 |"))
    cpu_moves, gpu_moves, scan_moves = sparse_state.rstrip(" |").rsplit("| ", 1)[1].split(" / ")
    assert cpu_moves == gpu_moves == scan_moves  # the recheck from row lists and the full scan: same moves
    tomography = [line for line in text.splitlines() if line.startswith("| tomo-")]
    assert len(tomography) == 5  # SART, then each DMMV step on each device
    assert {line.split(" | ")[2] for line in tomography} == {"cpu", "gpu"}


def test_without_a_device_it_refuses_plainly() -> None:
    """Run where no GPU is visible and the simulator is off, it says so instead of failing deep inside."""
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "gpu" / "check.py"), "--smoke"],
        cwd=ROOT,
        env={**env, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "no CUDA device is visible" in proc.stderr
