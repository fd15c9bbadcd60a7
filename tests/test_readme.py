"""The README and docs/ say what is true: their example commands run as written, every other
command names a real program and real flags, every link resolves, and the README stays short."""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from mmdemo.cli import main, parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEXT = {p: p.read_text() for p in PAGES}
README = TEXT[ROOT / "README.md"]
FENCE = re.compile(r"```bash\n(.*?)```", re.S)
INLINE = re.compile(r"`((?:\.venv/bin/)?(?:mmdemo|python -m mmdemo|python bench/|\.venv/bin/python bench/)[^`]*)`")


def lines_of(block: str) -> list[str]:
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def blocks_after(marker: str) -> list[str]:
    """Lines of every fenced block that follows ``marker``, in README and docs/."""
    out = []
    for text in TEXT.values():
        for body in re.findall(re.escape(marker) + r"\s*```bash\n(.*?)```", text, re.S):
            out += lines_of(body)
    return out


def commands() -> list[tuple[str, str]]:
    """(page, command) for every mmdemo or bench command shown: fenced or inline."""
    found = []
    for page, text in TEXT.items():
        for body in FENCE.findall(text):
            found += [(page.name, line.split("  #")[0].strip()) for line in lines_of(body)]
        found += [(page.name, c) for c in INLINE.findall(text)]
    return [(p, c) for p, c in found if "…" not in c.split()[1:2]
            and re.match(r"(\.venv/bin/)?(mmdemo |python (-m mmdemo|bench/))|\.venv/bin/python bench/", c)]


def test_setup_and_test_lines_install_the_package():
    assert "pip install -r requirements.txt -e . && .venv/bin/mmdemo serve" in README
    assert "-e ." in blocks_after("<!-- test-command -->")[0]
    assert 'mmdemo = "mmdemo.cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_readme_is_short_and_opens_with_the_two_commands():
    body = README.split("---", 2)[2]  # after the Space's front matter
    assert len(README.splitlines()) <= 150
    first_blocks = FENCE.findall(body)[:2]
    assert "mmdemo serve" in first_blocks[0] and "pytest" in first_blocks[1]


def test_cli_examples_run_as_written(bundled_index, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the commands run from the checkout
    lines = blocks_after("<!-- cli-examples -->")
    assert len(lines) >= 4
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == ".venv/bin/mmdemo", line
        assert main(argv[1:]) == 0, line
    out = capsys.readouterr().out
    assert "red circle" in out and "blue hexagon" in out and "hexagon" in out.splitlines()[-4]


def _mmdemo_flags() -> dict[str, set[str]]:
    sub = next(a for a in parser()._actions if a.dest == "command")
    return {name: {s for a in p._actions for s in a.option_strings} for name, p in sub.choices.items()}


def _script_flags(script: Path) -> set[str]:
    """The option strings a bench script's argparse parser declares (read from its source:
    importing each would load torch a dozen times)."""
    flags = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            flags |= {a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("-")}
    return flags | {"-h", "--help"}


def test_every_command_shown_names_a_real_program_and_real_flags():
    known = _mmdemo_flags()
    shown = commands()
    assert len(shown) > 30
    for page, command in shown:
        argv = shlex.split(re.sub(r"[|\[\]]", " ", command))
        if argv[0].endswith("python") and argv[1] == "-m":
            argv = ["mmdemo", *argv[3:]]
        if argv[0].endswith("mmdemo"):
            assert argv[1] in known, (page, command)
            flags, allowed = [a.split("=")[0] for a in argv[2:] if a.startswith("-")], known[argv[1]]
        else:
            script = ROOT / argv[1]
            assert script.is_file(), (page, command)
            flags, allowed = [a for a in argv[2:] if a.startswith("--")], _script_flags(script)
        unknown = [f for f in flags if f not in allowed and not re.fullmatch(r"-\d.*", f)]
        assert not unknown, (page, command, unknown)


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), re.M):
        out.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return out


def test_links_between_the_pages_resolve():
    checked = 0
    for page, text in TEXT.items():
        for target in re.findall(r"\]\(([^)\s]+)\)|src=\"([^\"]+)\"", text):
            target = target[0] or target[1]
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.is_file(), (page.name, target)
            if anchor:
                assert anchor in _anchors(file.read_text()), (page.name, target)
            checked += 1
    assert checked > 20
    linked = set(re.findall(r"\(docs/([\w-]+\.md)\)", README))
    assert linked == {p.name for p in PAGES[1:]}, "every docs page is linked from the README"


def test_every_docs_page_says_what_it_is_for():
    for page in PAGES[1:]:
        lines = TEXT[page].splitlines()
        assert lines[0].startswith("# ") and lines[1] == "" and not lines[2].startswith(("#", "|", "`")), page.name


@pytest.mark.skipif(not (ROOT / ".venv/bin/mmdemo").exists() and not shutil.which("mmdemo"),
                    reason="no installed `mmdemo` command (pip install -e . makes it; .ci/run does)")
def test_the_installed_command_runs_from_another_folder(tmp_path):
    command = ROOT / ".venv/bin/mmdemo" if (ROOT / ".venv/bin/mmdemo").exists() else shutil.which("mmdemo")
    done = subprocess.run([str(command), "search", "--help"], cwd=tmp_path, capture_output=True, text=True,
                          env=os.environ, timeout=120)
    assert done.returncode == 0 and "--fusion" in done.stdout, done.stderr
