"""The README's commands work as written: its CLI examples run, and the install gives `mmdemo`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from mmdemo.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def block_after(marker: str) -> list[str]:
    """The lines of the fenced block that follows ``marker`` (continuations joined)."""
    body = re.search(re.escape(marker) + r"\s*```bash\n(.*?)```", README, re.S).group(1)
    return [line for line in body.replace("\\\n", " ").splitlines() if line.strip()]


def test_setup_and_test_lines_install_the_package():
    assert "pip install -r requirements.txt -e . && .venv/bin/mmdemo serve" in README
    assert "-e ." in block_after("<!-- test-command -->")[0]
    assert 'mmdemo = "mmdemo.cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_cli_examples_run_as_written(bundled_index, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the README's commands run from the checkout
    lines = block_after("<!-- cli-examples -->")
    assert len(lines) >= 4
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == ".venv/bin/mmdemo", line
        assert main(argv[1:]) == 0, line
    out = capsys.readouterr().out
    assert "red circle" in out and "blue hexagon" in out and "hexagon" in out.splitlines()[-4]


@pytest.mark.skipif(not (ROOT / ".venv/bin/mmdemo").exists() and not shutil.which("mmdemo"),
                    reason="no installed `mmdemo` command (pip install -e . makes it; .ci/run does)")
def test_the_installed_command_runs_from_another_folder(tmp_path):
    command = ROOT / ".venv/bin/mmdemo" if (ROOT / ".venv/bin/mmdemo").exists() else shutil.which("mmdemo")
    done = subprocess.run([str(command), "search", "--help"], cwd=tmp_path, capture_output=True, text=True,
                          env=os.environ, timeout=120)
    assert done.returncode == 0 and "--fusion" in done.stdout, done.stderr
