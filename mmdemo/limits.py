"""Caps and validators shared by every face (UI, API, CLI): what a request may ask for.

A public Space takes hostile input, so each bound here is checked before any work starts and
fails with a UserError that says the limit. The FAISS factory grammar exists because some
factory strings (``HNSW1``, ``RR0,Flat``, ``PQ1x0``) crash the process inside FAISS instead of
raising: nothing reaches ``faiss.index_factory`` unless it parses here first.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from mmdemo.errors import UserError

MAX_TEXT = 1000  # characters of one query text, label list entry excluded
MAX_LABELS = 200
MAX_LABEL = 100
MAX_TEMPLATES = 16
MAX_TERMS = 16  # terms of a multi-term expression
MAX_K = 200
MAX_WEIGHT = 10.0  # weights and term multipliers lie in [0, MAX_WEIGHT]
MAX_NLIST = 65_536
MAX_HNSW_M = 128
MAX_TERM_SCAN = 200_000  # items an @id / @name term is looked up among (a scan of the items)
MAX_EXAMPLES = 8  # "more / less like this" items in one query
MAX_REGION = 4000  # items of one map selection (the map draws at most 4,000)
MAX_STEPS = 201  # weights on a rank path


def text(value: Any, what: str = "the text") -> str:
    """Whitespace-normalised text, refused when longer than MAX_TEXT characters."""
    out = " ".join(str(value).split())
    if len(out) > MAX_TEXT:
        raise UserError(f"{what} is {len(out)} characters long; the limit is {MAX_TEXT}")
    return out


def weight(value: Any, what: str = "weight") -> float:
    """A finite number in [0, MAX_WEIGHT]."""
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(w):
        raise UserError(f"{what} must be a finite number, got {w}")
    if not 0.0 <= w <= MAX_WEIGHT:
        raise UserError(f"{what} must be ≥ 0 and ≤ {MAX_WEIGHT:g}, got {w:g}")
    return w


def signed_weight(value: Any, what: str = "weight") -> float:
    """A finite number in [-MAX_WEIGHT, MAX_WEIGHT]: an example's weight (negative = less like it)."""
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a number, got {str(value)[:40]!r}") from None
    if not (math.isfinite(w) and -MAX_WEIGHT <= w <= MAX_WEIGHT):
        raise UserError(f"{what} must be between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}, got {str(value)[:40]}")
    return w


def whole(value: Any, what: str, lo: int, hi: int) -> int:
    """A whole number in [lo, hi]."""
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{what} must be a whole number, got {str(value)[:40]!r}") from None
    if not lo <= n <= hi:
        raise UserError(f"{what} must be between {lo} and {hi}, got {n}")
    return n


def k(value: Any) -> int:
    """The number of results: a whole number in [1, MAX_K]."""
    return whole(value, "k", 1, MAX_K)


def steps(value: Any) -> int:
    """Weights on a rank path: a whole number in [2, MAX_STEPS]."""
    return whole(value, "steps", 2, MAX_STEPS)


def threshold(value: Any) -> float | None:
    """A minimum score: None (off) or a finite number in [-1, 1] (cosine scores' range)."""
    if value is None:
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise UserError(f"threshold must be a number, got {str(value)[:40]!r}") from None
    if not (math.isfinite(t) and -1.0 <= t <= 1.0):
        raise UserError(f"threshold must be between -1 and 1, got {t:g}")
    return t


def labels(items: Sequence[str]) -> list[str]:
    """At most MAX_LABELS labels of at most MAX_LABEL characters each."""
    if len(items) > MAX_LABELS:
        raise UserError(f"{len(items)} labels given; the limit is {MAX_LABELS}")
    for label in items:
        if len(label) > MAX_LABEL:
            raise UserError(f"label {label[:30]!r}… is {len(label)} characters long; the limit is {MAX_LABEL}")
    return list(items)


def templates(items: Sequence[str]) -> list[str]:
    """Prompt templates: each must contain ``{}``; at most MAX_TEMPLATES of MAX_LABEL characters."""
    out = [t for t in (str(x).strip() for x in items) if t]
    if len(out) > MAX_TEMPLATES:
        raise UserError(f"{len(out)} prompt templates given; the limit is {MAX_TEMPLATES}")
    for t in out:
        if "{}" not in t:
            raise UserError(f"prompt template {t[:40]!r} has no {{}} where the label goes")
        if len(t) > MAX_LABEL:
            raise UserError(f"prompt template {t[:30]!r}… is longer than {MAX_LABEL} characters")
    return out


def fill(template: str, label: str) -> str:
    """A template with ``{}`` replaced by the label: plain replacement, never ``str.format``
    (a user's ``{:>100000000}`` must stay text, not become a 100 MB string)."""
    return template.replace("{}", label)


# --- FAISS factory strings ---------------------------------------------------------------------
_FACTORY = re.compile(
    r"^(?:"
    r"(?P<flat>Flat)"
    r"|HNSW(?P<hnsw>\d{1,3})(?:,Flat)?"
    r"|IVF(?P<nlist>\d{1,6})(?:_HNSW(?P<quant_m>\d{1,3}))?,(?:(?P<ivfflat>Flat)|PQ(?P<pq>\d{1,4})(?:x(?P<bits>\d{1,2}))?)"
    r"|(?:OPQ(?P<opq>\d{1,4}),)?IVF(?P<nlist2>\d{1,6}),PQ(?P<pq2>\d{1,4})(?:x(?P<bits2>\d{1,2}))?"
    r")$")


def factory(value: str | None, dim: int) -> str | None:
    """A FAISS factory string from the allow-list grammar, or None for "choose by size".

    Accepted: ``Flat``; ``HNSWm`` (4 ≤ m ≤ 128); ``IVFn,Flat``; ``IVFn,PQm[xb]`` and
    ``OPQm,IVFn,PQm`` (1 ≤ n ≤ 65536, m divides the dimension, b ∈ {4, 6, 8}).
    """
    if value is None or not str(value).strip():
        return None
    s = str(value).strip()
    m = _FACTORY.match(s)
    if not m:
        raise UserError(f"FAISS factory {s[:60]!r} is not accepted: use Flat, HNSWm (4 ≤ m ≤ {MAX_HNSW_M}), "
                        "IVFn,Flat, IVFn,PQm or OPQm,IVFn,PQm")
    g = m.groupdict()
    if g["hnsw"] is not None or g["quant_m"] is not None:
        hm = int(g["hnsw"] or g["quant_m"])
        if not 4 <= hm <= MAX_HNSW_M:
            raise UserError(f"HNSW needs 4 ≤ m ≤ {MAX_HNSW_M}, got {hm}")
    nlist = g["nlist"] or g["nlist2"]
    if nlist is not None and not 1 <= int(nlist) <= MAX_NLIST:
        raise UserError(f"IVF needs 1 ≤ nlist ≤ {MAX_NLIST}, got {int(nlist)}")
    for key in ("pq", "pq2", "opq"):
        if g[key] is not None:
            pm = int(g[key])
            if pm < 1 or dim % pm:
                raise UserError(f"PQ{pm}: the number of sub-quantizers must divide the dimension {dim}")
    bits = g["bits"] or g["bits2"]
    if bits is not None and int(bits) not in (4, 6, 8):
        raise UserError(f"PQ bits must be 4, 6 or 8, got {int(bits)}")
    return s
