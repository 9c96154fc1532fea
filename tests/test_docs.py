"""Every Python example in docs/*.md runs as written (from the repository root, where the problem files are)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [
    pytest.param(block, id=f"{doc.stem}-{i}")
    for doc in sorted((ROOT / "docs").glob("*.md"))
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S))
]


@pytest.mark.parametrize("code", EXAMPLES)
def test_doc_example_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    exec(compile(code, "docs", "exec"), {})
