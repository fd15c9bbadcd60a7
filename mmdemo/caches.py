"""Bounded, thread-safe caches with single flight: the memory budget of a serving process.

A long-running server sees endless distinct images, texts and queries, so every cache is an
LRU with a hard bound (``cachetools.LRUCache``): in bytes (``getsizeof`` = the arrays'
``nbytes``) where entries vary in size, in entries where they are few and alike.
``get_or_make`` computes a missing key once however many threads ask for it at the same time
(the others wait for that result), so four first clicks on one evaluation run it once.

Budgets (environment, read at import):
    MMDEMO_CACHE_MB    (default 256) query-part embeddings 1/4, candidate scores 1/4,
                       per-part scores 1/4, label embeddings 1/8, learned combiners 1/8
                       (together up to 5/4 of it)
    MMDEMO_INDEX_MB    (default 2048) loaded indexes
    MMDEMO_MAX_MODELS  (default 2) loaded encoders, besides the first one a process loads
                       (its configured default), which stays: every request needs it, and a
                       big CLIP takes seconds to reload
A single value larger than its whole budget is served but not kept.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Future
from typing import Any, Callable, Hashable

import cachetools

MB = 2**20


def budget(name: str, default: float) -> float:
    """A positive number from the environment, else ``default``."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def nbytes(value: Any) -> int:
    """Bytes held by a cached value: arrays (and objects with ``nbytes``) count their buffers,
    torch modules their parameters, containers their items."""
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if hasattr(value, "parameters"):
        return sum(p.numel() * p.element_size() for p in value.parameters())
    if isinstance(value, (tuple, list)):
        return sys.getsizeof(value) + sum(nbytes(v) for v in value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(nbytes(k) + nbytes(v) for k, v in value.items())
    return sys.getsizeof(value)


class Cache:
    """An LRU map bounded by ``maxsize`` (bytes when ``sized``, else entries), with single flight.

    ``keep_first`` pins the first value ever made: it is never evicted.
    """

    def __init__(self, maxsize: float, sized: bool = False, keep_first: bool = False):
        self.data = cachetools.LRUCache(max(1, int(maxsize)), getsizeof=nbytes if sized else None)
        self.lock = threading.Lock()
        self.pinned: dict[Hashable, Any] = {}
        self.keep_first = keep_first
        self._flights: dict[Hashable, Future] = {}

    def get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.pinned:
                return self.pinned[key]
            if key in self.data:
                return self.data[key]  # a hit moves the key to the recent end
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = Future()
        if not leader:
            return flight.result()  # made by another thread right now; its error is ours too
        try:
            value = make()
        except BaseException as exc:
            with self.lock:
                del self._flights[key]
            flight.set_exception(exc)
            raise
        with self.lock:
            if self.keep_first and not self.pinned:
                self.pinned[key] = value
            else:
                try:
                    self.data[key] = value
                except ValueError:  # larger than the whole budget: serve it, keep nothing
                    pass
            del self._flights[key]
        flight.set_result(value)
        return value

    def discard(self, keep: Callable[[Hashable], bool]) -> None:
        """Drop the (unpinned) entries whose key ``keep`` rejects."""
        with self.lock:
            for key in [k for k in self.data if not keep(k)]:
                del self.data[key]

    def clear(self) -> None:
        with self.lock:
            self.data.clear()

    @property
    def size(self) -> int:
        """Bytes (or entries) held now, pinned values not counted."""
        return int(self.data.currsize)


_CACHE_MB = budget("MMDEMO_CACHE_MB", 256)


def embeddings() -> Cache:
    return Cache(_CACHE_MB * MB / 4, sized=True)


def candidates() -> Cache:
    return Cache(_CACHE_MB * MB / 4, sized=True)


def part_scores() -> Cache:
    """One part's scores over every item of an exact index (see ``fusion.PartScores``)."""
    return Cache(_CACHE_MB * MB / 4, sized=True)


def labels() -> Cache:
    return Cache(_CACHE_MB * MB / 8, sized=True)


def combiners() -> Cache:
    return Cache(_CACHE_MB * MB / 8, sized=True)


def indexes() -> Cache:
    return Cache(budget("MMDEMO_INDEX_MB", 2048) * MB, sized=True)


def models() -> Cache:
    return Cache(budget("MMDEMO_MAX_MODELS", 2), keep_first=True)
