"""Steering by example: results and map selections as weighted image terms (Rocchio feedback).

"More like this" on a result adds its stored embedding as a positive image term, "less like
this" as a negative one; a box drawn on the map adds the normalised centroid of the items it
holds. In the project's terms that is Rocchio's ``q = Σ wᵢ·eᵢ − Σ wⱼ·eⱼ`` over the query's parts
and the examples: an example of weight w is exactly the expression term ``w:@ID`` (both are
``fusion.EXAMPLE`` parts: the weight is theirs, no slider scales it). Vectors are the index's rows,
read by id (an on-disk index reads just those rows): nothing is re-encoded from a thumbnail,
nothing is named by path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mmdemo import fusion, limits
from mmdemo.errors import UserError

MAX_ID = 64  # characters of an item id as a caller may send it


@dataclass(frozen=True)
class Example:
    id: str
    weight: float  # in [-10, 10]; negative: less like this


@dataclass(frozen=True)
class Region:
    ids: tuple[str, ...]
    weight: float


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
        raise UserError(f"{what} must be an item id (a result's \"id\"), a string of at most {MAX_ID} characters")
    return value.strip()


def _entry(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise UserError(f"{what} must be an object like {{\"id\": ITEM_ID, \"weight\": 0.5}}")
    return value


def parse_examples(value: Any) -> tuple[Example, ...]:
    """``[{"id": ITEM_ID, "weight": w}, ...]`` (at most MAX_EXAMPLES, each id once)."""
    if value is None or value == []:
        return ()
    if not isinstance(value, (list, tuple)):
        raise UserError('examples must be a list like [{"id": ITEM_ID, "weight": 0.5}]')
    if len(value) > limits.MAX_EXAMPLES:
        raise UserError(f"{len(value)} examples given; a query takes at most {limits.MAX_EXAMPLES}")
    out, seen = [], set()
    for n, raw in enumerate(value, 1):
        entry = _entry(raw, f"example {n}")
        item = _id(entry.get("id"), f"example {n}'s id")
        if item in seen:
            raise UserError(f"example {item!r} is given twice: give it once, with its weight")
        seen.add(item)
        out.append(Example(item, limits.signed_weight(entry.get("weight", 0.5), f"example {n}'s weight")))
    return tuple(out)


def parse_region(value: Any) -> Region | None:
    """``{"ids": [...], "weight": w}``: 1 to MAX_REGION distinct ids."""
    if value is None or value == {}:
        return None
    entry = _entry(value, "region")
    ids = entry.get("ids")
    if not isinstance(ids, (list, tuple)) or not ids:
        raise UserError("a region needs \"ids\": the items selected on the map (at least one)")
    if len(ids) > limits.MAX_REGION:
        raise UserError(f"a region holds at most {limits.MAX_REGION:,} items, got {len(ids):,}")
    unique = tuple(dict.fromkeys(_id(i, "a region's id") for i in ids))
    return Region(unique, limits.signed_weight(entry.get("weight", 0.5), "the region's weight"))


def rows(idx, ids: tuple[str, ...] | list[str], what: str) -> np.ndarray:
    """The rows of ``ids`` in the index searched; one unknown id is an error naming it."""
    found = idx.rows_of(list(ids))
    missing = [i for i, r in zip(ids, found) if r < 0]
    if missing:
        raise UserError(f"{what} {missing[0][:40]!r} is no item of index {idx.manifest.name!r}: name items of "
                        "the index you search, by the id of a result"
                        + (f" ({len(missing)} unknown ids)" if len(missing) > 1 else ""))
    return found


def parts(idx, examples: tuple[Example, ...] = (), region: Region | None = None) -> list[fusion.Part]:
    """Example parts for the examples (their stored rows) and the region (its centroid)."""
    out = []
    if examples:
        found = rows(idx, [e.id for e in examples], "example")
        vectors = np.asarray(idx.read_rows(found), np.float32)
        for e, v, row in zip(examples, vectors, found):
            item = idx.items[int(row)]
            what = item.caption or item.path.rsplit("/", 1)[-1]
            out.append(fusion.Part(f"{'like' if e.weight >= 0 else 'unlike'} {what} [{e.id[:6]}]", fusion.EXAMPLE, v,
                                   multiplier=abs(e.weight), sign=1.0 if e.weight >= 0 else -1.0, role="example"))
    if region is not None:
        centroid = np.asarray(idx.read_rows(np.sort(rows(idx, region.ids, "region item"))), np.float32).mean(axis=0)
        norm = float(np.linalg.norm(centroid))
        if norm < 1e-8:
            raise UserError("the selected items cancel out (their centroid is zero): select others")
        name = f"{'region' if region.weight >= 0 else 'unlike region'} of {len(region.ids)} items"
        out.append(fusion.Part(name, fusion.EXAMPLE, (centroid / norm).astype(np.float32), multiplier=abs(region.weight),
                               sign=1.0 if region.weight >= 0 else -1.0, role="region"))
    return out
