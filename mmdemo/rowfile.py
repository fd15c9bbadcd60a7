"""Row files: a new ``.npy`` on disk, memory-mapped for writing, its blocks reserved up front.

Builds stage rows in one (``staging``), on-disk indexes keep their fp16 embeddings in one
(``ondisk``) and Ray builds reorder shards through one (``distributed``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from mmdemo.errors import UserError


def memmap(path: Path, dtype: np.dtype | type, shape: tuple[int, ...]) -> np.memmap:
    """A new ``.npy`` mapped for writing with its blocks reserved up front: a full disk is a
    clear error here, not a SIGBUS at the first write into a hole, which would kill the
    whole process (the server, for a build from the app)."""
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise UserError(f"not enough free disk for {size >> 20} MB of index rows: {exc.strerror}") from None
            # the file system cannot reserve blocks (EOPNOTSUPP, EINVAL): write as we go
    return rows
