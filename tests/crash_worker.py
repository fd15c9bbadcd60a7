"""Child processes of tests/test_durability.py.

A multiprocessing forkserver imports this module once (mmdemo imported, the built-in model
loaded), so each child starts in milliseconds instead of the ~5 s a fresh interpreter needs.
Torch runs on one thread here: forking after an OpenMP pool has started is unsafe.
"""

from __future__ import annotations

import os

import torch

torch.set_num_threads(1)

from mmdemo import building, encoders  # noqa: E402
from mmdemo.index import delete_index  # noqa: E402

encoders.load("builtin")


def append(env: dict[str, str], name: str, files: list[str]) -> None:
    """``build_index(append=True)``; ``env`` points at the index folder and the fault point."""
    os.environ.update(env)
    building.build_index(name, files, append=True)


def rebuild(env: dict[str, str], name: str, files: list[str]) -> None:
    """Delete the index and build it again from other files (as a CLI beside a server would)."""
    os.environ.update(env)
    delete_index(name)
    building.build_index(name, files)
