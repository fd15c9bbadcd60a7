"""The house rule, checked: mmdemo's modules import in one direction (no circles, function-level
imports included), and nothing below the faces imports them or Gradio."""

from __future__ import annotations

import grimp
import pytest

FACES = ("mmdemo.ui", "mmdemo.cli", "mmdemo.__main__")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("mmdemo", include_external_packages=True)


def circles(graph) -> set[tuple[str, ...]]:
    """Every shortest circle through a direct import, as the chain of modules."""
    found = set()
    for module in sorted(m for m in graph.modules if m.startswith("mmdemo")):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module) if imported.startswith("mmdemo") else None
            if back:
                found.add((module, *back))
    return found


def test_no_import_circles(graph):
    assert circles(graph) == set()


def test_circle_finder_sees_one(graph):
    graph.add_import(importer="mmdemo.fusion", imported="mmdemo.service")
    assert any(c[0] == "mmdemo.fusion" and c[-1] == "mmdemo.fusion" for c in circles(graph))
    graph.remove_import(importer="mmdemo.fusion", imported="mmdemo.service")


def test_only_the_faces_import_the_faces_and_gradio(graph):
    def is_face(m: str) -> bool:
        return any(m == f or m.startswith(f + ".") for f in FACES)

    upward = {(m, i) for m in graph.modules if m.startswith("mmdemo") and not is_face(m)
              for i in graph.find_modules_directly_imported_by(m) if is_face(i)}
    assert upward == set()
    gradio = {m for m in graph.find_modules_that_directly_import("gradio") if not is_face(m)}
    assert gradio <= {"mmdemo.access"}  # its upload-folder rule, inside one function
