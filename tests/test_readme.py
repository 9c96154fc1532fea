"""The README's Python example runs as written and its Quick start names real files."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_library_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README has no Python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    result, problem = namespace["result"], namespace["problem"]
    assert result.objective == problem.objective(result.x)
    assert (tmp_path / "demo" / "demo.toml").is_file() and (tmp_path / "demo" / "result.json").is_file()
    assert namespace["exact"].extras["bound"] <= result.objective + 1e-9


def test_quick_start_has_two_commands_on_bundled_files():
    section = README.split("## Quick start", 1)[1]
    commands = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1).strip().splitlines()
    assert len(commands) == 2
    for path in re.findall(r"problems/\S+\.toml", commands[0]):
        assert (ROOT / path).is_file()
