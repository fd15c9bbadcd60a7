"""Shared fixtures. Index and cache folders point into a per-session temp dir, so tests never
touch the repo's indexes/ and every run starts from a clean state."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmdemo")
    os.environ["MMDEMO_INDEX_DIR"] = str(root / "indexes")
    os.environ["MMDEMO_CACHE_DIR"] = str(root / "cache")
    yield root


@pytest.fixture(scope="session")
def builtin():
    from mmdemo import encoders

    return encoders.load("builtin")


@pytest.fixture(scope="session")
def bundled_index(builtin):
    """The bundled gallery indexed with the built-in model (built once per session)."""
    from mmdemo import service

    return service.ensure_index()
