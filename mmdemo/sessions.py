"""Private, session-scoped spaces: "try it on your own photos" on a public server.

A visitor's uploads become an in-memory index that only their session can name. Nothing is
written to the shared index folder: the thumbnails results show live in a folder with an
unguessable name beside the shared thumbnails (served, but never taken as an upload) and go
with the gallery. A session may also hold one evaluation set (their own labelled data, for
the Evaluate tab), in a folder that is not served, replaced by their next one. Both are capped
per session (images, bytes), evicted after idle time, and counted against a global cap
(least recently used first), so a crowd of uploaders cannot fill the server's memory or disk.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from mmdemo.errors import UserError
from mmdemo.index import Index

PRIVATE = "my-uploads"  # how a visitor names their own gallery; it shadows a shared index so named


@dataclass
class Limits:
    images: int = int(os.environ.get("MMDEMO_SESSION_IMAGES", 200))
    bytes: int = int(os.environ.get("MMDEMO_SESSION_MB", 50)) * 2**20
    idle_s: float = float(os.environ.get("MMDEMO_SESSION_IDLE_S", 1800))
    total_images: int = int(os.environ.get("MMDEMO_SESSIONS_TOTAL_IMAGES", 5000))


@dataclass(frozen=True)
class EvalSet:
    """A visitor's own labelled data, written out in its own layout."""
    folder: Path  # under the data root (not served)
    name: str  # what the visitor uploaded, as they named it
    images: int
    skipped: tuple[dict, ...] = ()  # files of the upload that could not be used, and why


@dataclass
class Gallery:
    """One session's space: its private gallery (made at its first upload) and evaluation set."""
    index: Index | None
    folder: Path  # thumbnails, under default_root()
    bytes: int = 0
    used: float = field(default_factory=time.monotonic)
    data: EvalSet | None = None

    @property
    def images(self) -> int:
        return (len(self.index) if self.index is not None else 0) + (self.data.images if self.data else 0)


def default_root() -> Path:
    """Inside the served thumbnail folder, outside gradio's upload folder: a private thumbnail
    can be shown to its owner but never passed back in as somebody's upload."""
    from mmdemo.data import thumbs

    return thumbs.folder() / "private"


def default_data_root() -> Path:
    """Evaluation sets: in the cache folder, outside everything the server serves."""
    from mmdemo import paths

    return paths.cache_dir() / "sessions"


class Galleries:
    """session id -> Gallery, with idle eviction and a global image cap."""

    def __init__(self, root: Path, limits: Limits | None = None, data_root: Path | None = None):
        self.root, self.limits = root, limits or Limits()
        self.data_root = data_root or default_data_root()
        self._data: OrderedDict[str, Gallery] = OrderedDict()
        self._lock = threading.Lock()
        self._sweep()

    def _sweep(self) -> None:
        """Folders a previous process left (its sessions died with it), once idle."""
        cutoff = time.time() - self.limits.idle_s
        for root in (self.root, self.data_root):
            for old in root.glob("*/") if root.is_dir() else ():
                if old.stat().st_mtime < cutoff:
                    shutil.rmtree(old, ignore_errors=True)

    def get(self, session: str | None) -> Gallery | None:
        with self._lock:
            self._evict_idle()
            g = self._data.get(session or "")
            if g:
                g.used = time.monotonic()
                self._data.move_to_end(session)
            return g

    def room(self, session: str, n_images: int, n_bytes: int) -> None:
        """Refuse an upload that would pass this session's caps."""
        g = self.get(session)
        have_i, have_b = (len(g.index), g.bytes) if g and g.index is not None else (0, 0)
        if have_i + n_images > self.limits.images:
            raise UserError(f"your private gallery holds at most {self.limits.images} images "
                            f"(it has {have_i}; this upload adds {n_images})")
        if have_b + n_bytes > self.limits.bytes:
            raise UserError(f"your private gallery holds at most {self.limits.bytes // 2**20} MB of images")

    def open(self, session: str, make_index) -> Gallery:
        """The session's gallery, made with ``make_index()`` when it has none."""
        if not session:
            raise UserError("a private gallery needs a session (use the app or gradio_client)")
        with self._lock:
            g = self._space(session)
            if g.index is None:
                g.index = make_index()
            return g

    def _space(self, session: str) -> Gallery:
        """The session's entry, made (with its thumbnail folder) when it has none; held lock."""
        g = self._data.get(session)
        if g is None:
            folder = self.root / secrets.token_hex(16)
            folder.mkdir(parents=True, exist_ok=True)
            g = self._data[session] = Gallery(None, folder)
        g.used = time.monotonic()
        self._data.move_to_end(session)
        return g

    def hold(self, session: str, write, name: str, images: int, skipped: Sequence[dict] = ()) -> EvalSet:
        """Keep an evaluation set in the session's space, replacing the one it held:
        ``write(folder)`` fills a new private folder, which goes with the session."""
        if not session:
            raise UserError("evaluating your own data needs a session (use the app or gradio_client)")
        folder = self.data_root / secrets.token_hex(16)
        folder.mkdir(parents=True)
        try:
            write(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        held = EvalSet(folder, name, images, tuple(skipped))
        with self._lock:
            g = self._space(session)
            old, g.data = g.data, held
        if old is not None:
            shutil.rmtree(old.folder, ignore_errors=True)
        self.added(g, 0)
        return held

    def held(self, session: str | None) -> EvalSet | None:
        """The session's evaluation set, if it holds one."""
        g = self.get(session)
        return g.data if g else None

    def added(self, g: Gallery, n_bytes: int) -> None:
        """Account for a finished upload; enforce the global cap (oldest sessions go first)."""
        with self._lock:
            g.bytes += n_bytes
            total = sum(x.images for x in self._data.values())
            while total > self.limits.total_images and len(self._data) > 1:
                session, old = next(iter(self._data.items()))
                if old is g:
                    break
                total -= old.images
                self._drop(session)

    def drop(self, session: str) -> None:
        with self._lock:
            self._drop(session)

    def _drop(self, session: str) -> None:
        g = self._data.pop(session, None)
        if g:
            shutil.rmtree(g.folder, ignore_errors=True)
            if g.data is not None:
                shutil.rmtree(g.data.folder, ignore_errors=True)

    def _evict_idle(self) -> None:
        cutoff = time.monotonic() - self.limits.idle_s
        for session in [s for s, g in self._data.items() if g.used < cutoff]:
            self._drop(session)

    def __len__(self) -> int:
        return len(self._data)
