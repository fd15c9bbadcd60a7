"""Why a query ranks what it ranks: strategies side by side, and rank paths across the weight.

Both are views of one prepared query (``service.prepare``): its per-part candidate scores are
computed once, and every strategy and every weight of the path re-weights them (``compare``,
``rankpath``); nothing is re-encoded or re-scanned when a slider moves. The answers keep
``/retrieve``'s result shape, so the faces format them the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdemo import compare, fusion, limits, rankpath, service
from mmdemo.errors import UserError
from mmdemo.request import MODES, Query

STRATEGIES = MODES  # early, late, rrf, delta, learned


def strategies_of(value: Any) -> list[str]:
    """A list of strategy names (each once); None or empty means all of them."""
    if value is None or value == [] or value == "":
        return list(STRATEGIES)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or len(value) > len(STRATEGIES):
        raise UserError(f"strategies must be a list of at most {len(STRATEGIES)} of {', '.join(STRATEGIES)}")
    out = []
    for name in value:
        if name not in STRATEGIES:
            raise UserError(f"unknown strategy {str(name)[:40]!r}: choose among {', '.join(STRATEGIES)}")
        if name not in out:
            out.append(name)
    return out


def compare_prepared(p: service.Prepared, strategies: list[str], thumb_root: Path | None = None) -> dict:
    """Every strategy's top-k from one prepared query (``delta_form``), their agreement, and the
    items only one of them finds; strategies that cannot apply are listed with the reason."""
    q = p.query
    linear = [s for s in strategies if s != "learned"]
    table = compare.run(p.cand, p.parts, p.kinds, linear, q.k, q.threshold, q.quality)
    columns = {name: (col.fused, col.parts) for name, col in table.columns.items()}
    unavailable = dict(table.unavailable)
    if "learned" in strategies:
        try:
            parts = service.learned_query(p.idx, p.encoder, p.given)
            cand = service.candidates_for(p.idx, parts)
            columns["learned"] = (fusion.fuse(cand, parts, {**p.kinds, "image": 1.0}, "early", q.k, q.threshold),
                                  parts)
        except UserError as exc:
            unavailable["learned"] = str(exc)
    order = [s for s in strategies if s in columns]
    rows = {name: service.results(p.idx, columns[name][0], columns[name][1], thumb_root) for name in order}
    tops = {name: [r["id"] for r in rows[name]] for name in order}
    only = compare.only_in(tops)
    for name in order:
        for r in rows[name]:
            r["only"] = r["id"] in only[name]
    return {"columns": rows, "agreement": compare.agreement(tops), "only": {n: sorted(only[n]) for n in order},
            "unavailable": unavailable, "formulas": {n: columns[n][0].formula for n in order},
            "weights": {k: round(v, 6) for k, v in p.kinds.items()}, "k": q.k, "source": p.source,
            "index": p.idx.manifest.name, "model": p.encoder.spec, "candidates": int(len(p.cand.rows))}


def paths_prepared(p: service.Prepared, steps: int, thumb_root: Path | None = None) -> dict:
    """Each item's rank at ``steps`` weights from 0 to 1 and its stable intervals (exact), for
    every item that is in the top-k anywhere on the path; or why this query has no path."""
    q = p.query
    out = {"weights": [], "items": [], "breakpoints": [], "fusion": q.fusion, "k": q.k,
           "index": p.idx.manifest.name, "model": p.encoder.spec}
    if q.fusion == "learned":
        return {**out, "unavailable": "learned fusion does not use the weights: its ranking has no path"}
    axis = rankpath.axis_for(p.parts, p.kinds, fusion.part_qualities(p.cand, p.parts) if q.quality else None)
    if isinstance(axis, str):
        return {**out, "unavailable": axis}
    path = rankpath.path(p.cand, p.parts, axis, p.mode, q.k, steps, q.threshold)
    items = []
    for row, ranks, stable in zip(path.rows, path.ranks, path.stable):
        view = service.item_view(p.idx.items[int(row)], thumb_root)
        items.append({**view, "row": int(row), "ranks": [int(r) if r else None for r in ranks],
                      "stable": [[round(lo, 4), round(hi, 4)] for lo, hi in stable]})
    return {**out, "weights": [round(float(w), 6) for w in path.weights], "items": items,
            "breakpoints": [round(b, 6) for b in path.breakpoints], "current": round(axis.current, 6),
            "axis": {"low": axis.low, "high": axis.high, "scale": round(axis.scale, 6)}}


def compare_query(index: Any, query: Query, strategies: Any = None, model: str | None = None,
                  thumb_root: Path | None = None) -> dict:
    """``/compare``: the query's strategies side by side (see ``compare_prepared``)."""
    chosen = strategies_of(strategies)
    p = service.prepare(index, query.with_(fusion="early"), model, delta_form="delta" in chosen)
    return compare_prepared(p, chosen, thumb_root)


def paths_query(index: Any, query: Query, steps: Any = 101, model: str | None = None,
                thumb_root: Path | None = None) -> dict:
    """``/paths``: the query's rank paths (see ``paths_prepared``)."""
    n = limits.steps(steps)
    return paths_prepared(service.prepare(index, query, model), n, thumb_root)
