"""The cross-process writer lock of an index folder, and fault points for crash tests.

Every write to an index (build, append, remove, defaults, combiner, delete) is a
read-modify-write under an exclusive ``flock`` on ``ROOT/.locks/NAME.lock``. The lock file
lives beside the index folder, never inside it, and is never deleted: ``delete_index``
removes the whole folder while holding the lock, and a writer that was waiting then finds
no index. (A lock file inside the folder would be unlinked by the delete, and two writers
could then hold "the" lock at once on two different files.)

Readers take no lock: they pin a generation's files by opening them (see ``index.Index.load``).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

_HELD = threading.local()  # lock paths this thread holds -> depth (the lock is re-entrant per thread)


def lock_path(folder: Path) -> Path:
    return folder.parent / ".locks" / f"{folder.name}.lock"


@contextmanager
def writer(folder: Path) -> Iterator[None]:
    """Hold the writer lock of ``folder`` (an index folder, which need not exist yet).

    Re-entrant within a thread, so ``Index.save`` may run inside a larger read-modify-write.
    Other threads and processes wait: flock locks belong to open file descriptions, so two
    opens of the same file exclude each other even in one process.
    """
    path = lock_path(folder)
    held = _HELD.__dict__.setdefault("depth", {})
    if held.get(path):
        held[path] += 1
        try:
            yield
        finally:
            held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        held[path] = 1
        try:
            yield
        finally:
            held[path] = 0
            fcntl.flock(f, fcntl.LOCK_UN)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write via a temp file in the same folder, fsync, then rename over ``path``: readers see
    the old file or the new one, never a part. Fault points before and after the rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    kind = path.name.split("-")[0].split(".")[0]  # vectors, embeddings, items, manifest, combiner
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        fault_point(f"write:{kind}")
        os.replace(tmp_path, path)
        fault_point(f"replace:{kind}")
    finally:
        tmp_path.unlink(missing_ok=True)


_HITS: dict[str, int] = {}


def fault_point(label: str) -> None:
    """Stop here when the environment asks to, so a test can SIGKILL the process at this point.

    ``MMDEMO_PAUSE_AT=label`` (or ``label:N`` for its Nth hit in this process) makes the process
    write the label to ``MMDEMO_PAUSE_FILE`` and sleep; the test sees the file and kills it.
    Pausing (rather than killing itself, or killing after a delay) puts the kill exactly at a
    named point, so the crash test is deterministic on a loaded machine. Unset, it costs one
    environment lookup.
    """
    target = os.environ.get("MMDEMO_PAUSE_AT")
    if not target:
        return
    _HITS[label] = n = _HITS.get(label, 0) + 1
    if target in (label, f"{label}:{n}"):
        Path(os.environ["MMDEMO_PAUSE_FILE"]).write_text(target)
        time.sleep(float(os.environ.get("MMDEMO_PAUSE_S", "120")))
