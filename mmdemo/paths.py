"""Where mmdemo keeps its files; environment variables override each for Spaces and tests."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def index_dir() -> Path:
    """Persisted indexes (``indexes/`` in the repo unless MMDEMO_INDEX_DIR says otherwise)."""
    return Path(os.environ.get("MMDEMO_INDEX_DIR", ROOT / "indexes"))


def cache_dir() -> Path:
    """Regenerable files: rendered bundled-gallery images, uploads, plots."""
    return Path(os.environ.get("MMDEMO_CACHE_DIR", ROOT / ".cache"))
